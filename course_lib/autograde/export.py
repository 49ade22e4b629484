"""Grades out of the gradebook, as CSV for the LMS.

``export_csv`` writes nbgrader's grade table (the columns of ``nbgrader export``'s
CsvExportPlugin: one row per student and assignment) with proper CSV quoting, and a per-problem
table beside it (``<name>_problems.csv``: one row per student, assignment, notebook and graded
cell).
"""

from __future__ import annotations

import csv
from pathlib import Path

from .course import Course

GRADE_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                 "email", "raw_score", "late_submission_penalty", "score", "max_score"]
PROBLEM_COLUMNS = ["assignment", "student_id", "notebook", "problem", "score", "max_score",
                   "auto_score", "manual_score", "needs_manual_grade"]


def _s(v):
    return "" if v is None else v


def problems_path(csv_path) -> Path:
    p = Path(csv_path)
    return p.with_name(p.stem + "_problems" + (p.suffix or ".csv"))


def export_csv(course: Course, csv_path, assignments=None) -> tuple:
    """Write the grade CSV and the per-problem CSV.

    Returns
    -------
    (grade_rows, problem_rows) : the rows written (lists of dict).
    """
    from nbgrader.api import MissingEntry

    csv_path = Path(csv_path)
    if csv_path.is_dir():
        raise ValueError(f"csv: expected a file path, got the folder {str(csv_path)!r}")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    grade_rows, problem_rows = [], []
    with course.gradebook() as gb:
        for a in sorted(gb.assignments, key=lambda x: x.name):
            if assignments and a.name not in assignments:
                continue
            for st in sorted(gb.students, key=lambda s: s.id):
                row = {"assignment": a.name, "duedate": _s(a.duedate), "student_id": st.id,
                       "last_name": _s(st.last_name), "first_name": _s(st.first_name),
                       "email": _s(st.email), "max_score": float(a.max_score)}
                try:
                    sub = gb.find_submission(a.name, st.id)
                except MissingEntry:
                    row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0,
                               score=0.0)
                    grade_rows.append(row)
                    continue
                penalty = float(sub.late_submission_penalty or 0.0)
                row.update(timestamp=_s(sub.timestamp), raw_score=float(sub.score),
                           late_submission_penalty=penalty,
                           score=max(0.0, float(sub.score) - penalty))
                grade_rows.append(row)
                for sn in sorted(sub.notebooks, key=lambda n: n.name):
                    for gr in sorted(sn.grades, key=lambda g: g.name):
                        problem_rows.append({
                            "assignment": a.name, "student_id": st.id, "notebook": sn.name,
                            "problem": gr.name, "score": float(gr.score),
                            "max_score": float(gr.max_score),
                            "auto_score": _s(gr.auto_score), "manual_score": _s(gr.manual_score),
                            "needs_manual_grade": bool(gr.needs_manual_grade)})
    for path, cols, rows in ((csv_path, GRADE_COLUMNS, grade_rows),
                             (problems_path(csv_path), PROBLEM_COLUMNS, problem_rows)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    return grade_rows, problem_rows
