"""Grades from executed notebooks, written to the gradebook by the parent process only.

The sandbox hands back executed notebooks; scores are computed here with nbgrader's own rule
(``nbgrader.utils.determine_grade``: an error or stderr output scores 0, a numeric result is
partial credit, otherwise full marks) but with the points and test-cell sources taken from the
gradebook, never from the submission.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class NotebookGrade:
    """Scores of one notebook of one submission."""

    name: str
    scores: dict = field(default_factory=dict)  # grade cell -> score
    max_scores: dict = field(default_factory=dict)
    status: str = "ok"
    reason: str | None = None

    @property
    def score(self) -> float:
        return float(sum(self.scores.values()))

    @property
    def max_score(self) -> float:
        return float(sum(self.max_scores.values()))


def grade_notebook(info, record: dict) -> NotebookGrade:
    """Score one executed notebook.

    Parameters
    ----------
    info : course.NotebookInfo
        The gradebook's view of the notebook (grade cells with points and sources).
    record : dict
        The worker's record: ``status``, ``reason`` and ``nb`` (executed notebook as JSON, or
        None when it could not be run).
    """
    import nbformat
    from nbgrader.utils import determine_grade

    g = NotebookGrade(name=info.name, status=record.get("status", "ok"),
                      reason=record.get("reason"))
    g.max_scores = {k: c.max_score for k, c in info.grade_cells.items()}
    nb = record.get("nb")
    if nb is None:
        g.scores = {k: 0.0 for k in info.grade_cells}
        return g
    # the worker sends the notebook as written on disk (multi-line sources split into lists);
    # reads() joins them back
    from nbformat.v4.rwbase import rejoin_lines

    nb = rejoin_lines(nbformat.from_dict(nb))
    found = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in info.grade_cells and gid not in found:
            found[gid] = cell
    failed = []
    for gid, gc in info.grade_cells.items():
        cell = found.get(gid)
        if gc.solution:
            # a manually graded answer: nothing to score automatically
            g.scores[gid] = None
            continue
        if cell is None or cell.cell_type != gc.cell_type or (
                gc.locked and cell.source != gc.source):
            # cannot happen after the worker's restore; if it does, the cell is not trusted
            g.scores[gid] = 0.0
            failed.append(f"{gid} (tampered)")
            continue
        probe = nbformat.from_dict(json.loads(json.dumps(cell)))
        probe.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                      "grade_id": gid, "points": gc.max_score}
        try:
            score, _ = determine_grade(probe)
        except (ValueError, KeyError, TypeError):
            score = 0.0
        score = 0.0 if score is None else min(max(float(score), 0.0), gc.max_score)
        g.scores[gid] = score
        if score < gc.max_score:
            failed.append(gid)
    # errors outside the test cells (sys.exit, a crash in a helper cell) cost no points by
    # themselves but belong in the summary
    errors = []
    for index, cell in enumerate(nb.cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or gid in info.grade_cells:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") != "NotRun":
                errors.append(f"{out.get('ename')} in cell {gid or index}")
                break
    reasons = [g.reason] if g.reason else []
    if failed:
        if g.status == "ok":
            g.status = "tests-failed"
        reasons.append("lost points in " + ", ".join(failed))
    if errors:
        reasons.append("errors outside tests: " + ", ".join(errors[:3]))
    g.reason = "; ".join(reasons) or None
    return g


def write_grades(gb, assignment: str, student: str, grades: list, timestamp=None) -> None:
    """Record ``grades`` (list of NotebookGrade) for one submission in one transaction."""
    import warnings

    gb.update_or_create_student(student)
    kwargs = {"timestamp": timestamp} if timestamp else {}
    with warnings.catch_warnings():
        # nbgrader's own autoflush chatter (SAWarning) while it creates the submission rows
        warnings.simplefilter("ignore")
        gb.update_or_create_submission(assignment, student, **kwargs)
    for ng in grades:
        for gid, score in ng.scores.items():
            grade = gb.find_grade(gid, ng.name, assignment, student)
            if score is None:
                grade.auto_score = None
                grade.needs_manual_grade = True
                continue
            grade.auto_score = float(score)
            grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()


def integrity_check(gb, assignment: str | None = None) -> list:
    """Problems in the gradebook; an empty list means it is sound.

    Every submission x notebook x graded cell has exactly one grade row, every autograded
    score lies in [0, max_score], and every autograded cell has a score.
    """
    problems = []
    assignments = [gb.find_assignment(assignment)] if assignment else gb.assignments
    for a in assignments:
        for sub in a.submissions:
            by_nb = {sn.notebook.name: sn for sn in sub.notebooks}
            for nb in a.notebooks:
                sn = by_nb.get(nb.name)
                who = f"{sub.student.id}/{a.name}/{nb.name}"
                if sn is None:
                    problems.append(f"{who}: no submitted notebook row")
                    continue
                manual = {c.name for c in nb.solution_cells}
                rows = {}
                for gr in sn.grades:
                    rows.setdefault(gr.cell.name, []).append(gr)
                for gc in nb.grade_cells:
                    got = rows.get(gc.name, [])
                    if len(got) != 1:
                        problems.append(f"{who}/{gc.name}: {len(got)} grade rows")
                        continue
                    gr = got[0]
                    s = gr.score
                    if s is None or not (0.0 <= float(s) <= float(gc.max_score) + 1e-9):
                        problems.append(f"{who}/{gc.name}: score {s} outside [0, {gc.max_score}]")
                    if (gr.auto_score is None and gr.manual_score is None
                            and gc.name not in manual):
                        problems.append(f"{who}/{gc.name}: not graded")
    return problems
