"""Grades out of the gradebook, as the file the LMS imports.

``--format nbgrader``
    nbgrader's grade table (the columns of ``nbgrader export``'s CsvExportPlugin: one row per
    student and assignment). Only assignments that were graded are written (or those named);
    a roster student with no submission of a graded assignment gets nbgrader's 0, a
    submission not graded yet a blank, and an assignment nobody was graded on no rows at all
    (a 0.0 there would publish zeros).
``--format canvas`` / ``--format moodle``
    The LMS's own import file for one assignment (see :mod:`course_lib.autograde.lms`), one row
    per roster student, blank for a student with no grade.

Every format also writes ``<name>_problems.csv`` beside it: one row per student, notebook and
test cell, for item analysis (which test the class failed); it is not for the LMS.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course
from .lms import CollectRecord, canvas_column, read_lms_roster, write_canvas_csv, \
    write_moodle_csv
from .text import printable
from .protocol import GradingRecord

FORMATS = ("nbgrader", "canvas", "moodle")
GRADE_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                 "email", "raw_score", "late_submission_penalty", "score", "max_score"]
PROBLEM_COLUMNS = ["assignment", "student_id", "notebook", "problem", "score", "max_score",
                   "auto_score", "manual_score", "needs_manual_grade", "diagnosis"]


@dataclass
class ExportResult:
    """What ``export`` wrote: for the table and the closing lines of the command."""

    format: str
    path: Path
    rows: list  # dicts: assignment, student_id, score (None: blank), max_score
    problems_path: Path
    n_problems: int
    notes: list = field(default_factory=list)


def _s(v):
    return "" if v is None else v


def problems_path(csv_path) -> Path:
    p = Path(csv_path)
    return p.with_name(p.stem + "_problems" + (p.suffix or ".csv"))


def _is_graded(sub) -> bool:
    return any(g.auto_score is not None or g.manual_score is not None
               for sn in sub.notebooks for g in sn.grades)


def graded_assignments(gb) -> list:
    """Names of the assignments with at least one graded submission, sorted."""
    return sorted(a.name for a in gb.assignments if any(_is_graded(s) for s in a.submissions))


def _problem_rows(a, st, sub) -> list:
    return [{"assignment": a.name, "student_id": st.id, "notebook": sn.name, "problem": gr.name,
             "score": float(gr.score), "max_score": float(gr.max_score),
             "auto_score": _s(gr.auto_score), "manual_score": _s(gr.manual_score),
             "needs_manual_grade": bool(gr.needs_manual_grade)}
            for sn in sorted(sub.notebooks, key=lambda n: n.name)
            for gr in sorted(sn.grades, key=lambda g: g.name)]


def collect_grades(gb, names: list) -> tuple:
    """nbgrader grade rows and problem rows of the assignments ``names``."""
    from nbgrader.api import MissingEntry

    grade_rows, problem_rows = [], []
    for name in names:
        a = gb.find_assignment(name)
        for st in sorted(gb.students, key=lambda s: s.id):
            row = {"assignment": a.name, "duedate": _s(a.duedate), "student_id": st.id,
                   "last_name": _s(st.last_name), "first_name": _s(st.first_name),
                   "email": _s(st.email), "max_score": float(a.max_score), "timestamp": "",
                   "raw_score": "", "late_submission_penalty": "", "score": ""}
            try:
                sub = gb.find_submission(a.name, st.id)
            except MissingEntry:
                if any(_is_graded(s) for s in a.submissions):
                    row.update(raw_score=0.0, late_submission_penalty=0.0, score=0.0)
                grade_rows.append(row)
                continue
            if _is_graded(sub):
                penalty = float(sub.late_submission_penalty or 0.0)
                row.update(raw_score=float(sub.score), late_submission_penalty=penalty,
                           score=max(0.0, float(sub.score) - penalty))
                problem_rows += _problem_rows(a, st, sub)
            row["timestamp"] = _s(sub.timestamp)
            grade_rows.append(row)
    return grade_rows, problem_rows


def add_diagnoses(course: Course, problem_rows: list) -> None:
    """Fill each problem row's ``diagnosis``: the checker's, as printed under the test cell.

    Read from each autograded submission's side car; different diagnoses of one test cell are
    joined by `` | `` on one line, blank where the cell earned its points or has none.
    """
    cache = {}
    for r in problem_rows:
        key = (r["assignment"], r["student_id"])
        if key not in cache:
            kept = GradingRecord.read(course.autograded_dir(r["student_id"], r["assignment"]))
            cache[key] = kept.notebooks if kept else {}
        summary = cache[key].get(r["notebook"])
        found = summary.diagnoses.get(r["problem"], ()) if summary else ()
        # one line per row: the diagnoses' own line breaks become spaces, " | " parts them
        r["diagnosis"] = " | ".join(" ".join(d.split()) for d in found)


def _write(path: Path, cols: list, rows: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows({k: printable(v, 1000) if isinstance(v, str) else v for k, v in r.items()}
                    for r in rows)


def _summary(problems: list, total: float, max_score: float, penalty: float) -> str:
    """Moodle's ``Feedback comments``: the total, then each test cell's points."""
    parts = [f"{p['problem']} {p['score']:g}/{p['max_score']:g}" for p in problems]
    late = f"; late penalty -{penalty:g}" if penalty else ""
    return printable(f"{total:g} / {max_score:g} points{late}: " + ", ".join(parts), 1000)


def _lms_roster(course: Course, assignment: str, roster):
    if roster is None:
        rec = CollectRecord.load(course.root, assignment)
        roster = rec.roster_path if rec else None
    if roster is None:
        raise ValueError(f"roster: no roster was given to collect {assignment!r}; pass --roster "
                         "(the LMS's gradebook export or grading worksheet)")
    return read_lms_roster(roster)


def export_lms(course: Course, csv_path: Path, fmt: str, names: list, roster=None,
               lms_column: str | None = None) -> ExportResult:
    """Canvas's gradebook import or Moodle's grading worksheet for one assignment."""
    if len(names) != 1:
        raise ValueError(f"assignment: the {fmt} import takes one assignment, got "
                         f"{names or 'none graded'}; pass --assignment NAME")
    name = names[0]
    ros = _lms_roster(course, name, roster)
    scores, comments, problem_rows = {}, {}, []
    with course.gradebook() as gb:
        a = gb.find_assignment(name)
        max_score = float(a.max_score)
        for sub in a.submissions:
            if not _is_graded(sub):
                continue  # collected, not graded yet: blank
            penalty = float(sub.late_submission_penalty or 0.0)
            mine = _problem_rows(a, sub.student, sub)
            scores[sub.student.id] = max(0.0, float(sub.score) - penalty)
            comments[sub.student.id] = _summary(mine, scores[sub.student.id], max_score, penalty)
            problem_rows += mine
    if fmt == "canvas":
        write_canvas_csv(csv_path, ros, canvas_column(ros, name, lms_column), max_score, scores)
    else:
        write_moodle_csv(csv_path, ros, max_score, scores, comments)
    placed = {s.student_id for s in ros.students}
    notes = [f"graded but not on the roster (not in the {fmt} file): "
             + ", ".join(printable(s, 40) for s in sorted(set(scores) - placed))] \
        if set(scores) - placed else []
    add_diagnoses(course, problem_rows)
    _write(problems_path(csv_path), PROBLEM_COLUMNS, problem_rows)
    rows = [{"assignment": name, "student_id": s.student_id, "score": scores.get(s.student_id),
             "max_score": max_score} for s in ros.students]
    return ExportResult(fmt, csv_path, rows, problems_path(csv_path), len(problem_rows), notes)


def export_csv(course: Course, csv_path, assignments=None, fmt: str = "nbgrader", roster=None,
               lms_column: str | None = None) -> ExportResult:
    """Write the grade file in ``fmt`` and the per-problem CSV beside it.

    ``assignments`` defaults to every assignment with a graded submission.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    csv_path = Path(csv_path)
    if csv_path.is_dir():
        raise ValueError(f"csv: expected a file path, got the folder {str(csv_path)!r}")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with course.gradebook() as gb:
        known = {a.name for a in gb.assignments}
        unknown = [a for a in (assignments or []) if a not in known]
        if unknown:
            raise ValueError(f"assignment: not in the gradebook: {unknown} "
                             f"(it has {sorted(known)})")
        names = sorted(set(assignments)) if assignments else graded_assignments(gb)
        if fmt == "nbgrader":
            grade_rows, problem_rows = collect_grades(gb, names)
    if fmt != "nbgrader":
        return export_lms(course, csv_path, fmt, names, roster, lms_column)
    _write(csv_path, GRADE_COLUMNS, grade_rows)
    add_diagnoses(course, problem_rows)
    _write(problems_path(csv_path), PROBLEM_COLUMNS, problem_rows)
    rows = [{"assignment": r["assignment"], "student_id": r["student_id"],
             "score": None if r["score"] == "" else r["score"], "max_score": r["max_score"]}
            for r in grade_rows]
    return ExportResult(fmt, csv_path, rows, problems_path(csv_path), len(problem_rows))
