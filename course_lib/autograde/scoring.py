"""Grades from the checker's verdicts, written to the gradebook by the parent process only.

The checker (:mod:`.checker`) is the only source of scores: one :class:`~.protocol.CellVerdict`
per test cell, computed outside the sandbox from the gradebook's test cells. The sandbox's
executed notebook contributes only the student's own cells' outputs (for feedback) and its
status (a timeout, a dead kernel). A test cell with no verdict scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import CellVerdict, NotebookRun, Status


@dataclass
class NotebookGrade:
    """Scores of one notebook of one submission."""

    name: str
    scores: dict = field(default_factory=dict)  # grade cell -> score (None: graded by hand)
    max_scores: dict = field(default_factory=dict)
    status: Status = Status.OK
    reason: str = ""
    #: the notebook's own test-cell outputs that claim more than the checker measured
    disagreements: list = field(default_factory=list)

    @property
    def score(self) -> float:
        return float(sum(v for v in self.scores.values() if v is not None))

    @property
    def max_score(self) -> float:
        return float(sum(self.max_scores.values()))


def _errors_outside_tests(nb: dict, grade_ids: set) -> list:
    # errors outside the test cells (sys.exit, a crash in a helper cell) cost no points by
    # themselves but belong in the summary
    errors = []
    for index, cell in enumerate((nb or {}).get("cells", [])):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") != "code" or gid in grade_ids:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") != "NotRun":
                # the student names their exceptions: never let that text into a table raw
                ename = str(out.get("ename"))[:60].encode("unicode_escape").decode("ascii")
                errors.append(f"{ename} in cell {gid or index}")
                break
    return errors


def grade_notebook(info, run: NotebookRun, verdicts: tuple) -> NotebookGrade:
    """Score one notebook from the checker's verdicts.

    Parameters
    ----------
    info : course.NotebookInfo
        The gradebook's view of the notebook (grade cells with points).
    run : NotebookRun
        What the sandbox did with it (status, executed notebook, claimed scores).
    verdicts : tuple of CellVerdict
        The checker's results for this notebook's test cells.
    """
    by_id = {v.grade_id: v for v in verdicts}
    g = NotebookGrade(name=info.name, status=run.status, reason=run.reason or "")
    g.max_scores = {k: c.max_score for k, c in info.grade_cells.items()}
    failed = []
    for gid, gc in info.grade_cells.items():
        if gc.solution:
            g.scores[gid] = None  # a manually graded answer
            continue
        v = by_id.get(gid)
        score = 0.0 if v is None else min(max(float(v.score), 0.0), gc.max_score)
        g.scores[gid] = score
        if score < gc.max_score:
            failed.append(gid)
        claim = run.claims.get(gid)
        if v is not None and claim is not None and claim > v.visible_score + 1e-6:
            g.disagreements.append(f"{gid} (the notebook shows {claim:g}, the checker's "
                                   f"visible tests give {v.visible_score:g})")
    reasons = [g.reason] if g.reason else []
    if failed:
        if g.status == Status.OK:
            g.status = Status.TESTS_FAILED
        reasons.append("lost points in " + ", ".join(failed))
    errors = _errors_outside_tests(run.nb, set(info.grade_cells))
    if errors:
        reasons.append("errors outside tests: " + ", ".join(errors[:3]))
    if g.disagreements:
        reasons.append("own output disagrees with the checker (stale output or tampering): "
                       + ", ".join(g.disagreements[:3]))
    g.reason = "; ".join(reasons)
    return g


def feedback_outputs(verdict: CellVerdict) -> list:
    """The checker's result as a test cell's outputs (what the student reads under it)."""
    from nbformat import NotebookNode

    outs = []
    if verdict.output:
        outs.append(NotebookNode(output_type="stream", name="stdout", text=verdict.output))
    if verdict.error:
        ename = verdict.error.split(":", 1)[0].strip().split("\n")[-1][:80] or "Error"
        outs.append(NotebookNode(output_type="error", ename=ename, evalue=verdict.error[-2000:],
                                 traceback=verdict.error.splitlines()[-30:]))
    outs.append(NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                             data={"text/plain": f"{verdict.score:g}"}))
    return outs


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
        for gid, score in ng.scores.items():  # scores from the checker only
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
