"""A real course folder for the five assignments, graded by ``rnn-course`` (the checker design).

Used by tests/test_tamper.py and benchmarks/bench_autograde.py: a copy of solutions/ and the
repository's nbgrader config in a temporary folder, the release generated from it, and
submissions built from the solution or the untouched release with edits or attacks.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from course_lib.autograde import cli  # noqa: E402
from course_lib.autograde.course import Course  # noqa: E402

ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").glob("ps*")
                     if (p / f"{p.name}.ipynb").is_file())


def run_cli(*argv) -> tuple:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue()


def make_course(dest: Path, assignments=ASSIGNMENTS) -> Path:
    """``dest/solutions``, ``dest/autograder`` and the release in ``dest/exercises``."""
    for a in assignments:
        shutil.copytree(ROOT / "solutions" / a, dest / "solutions" / a,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (dest / "autograder").mkdir(parents=True)
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", dest / "autograder")
    rc, out = run_cli("--course-dir", dest / "autograder", "release", *assignments)
    assert rc == 0, out
    return dest / "autograder"


def cells(nb) -> dict:
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def solved(assignment: str, edits=()) -> nbformat.NotebookNode:
    """The release with the solution's answer cells, after ``edits`` (exercise_bugs format)."""
    sol = nbformat.read(str(ROOT / "solutions" / assignment / f"{assignment}.ipynb"), 4)
    sol_cells = cells(sol)
    for grade_id, old, new in edits:
        cell = sol_cells[grade_id]
        if old is None:
            cell.source = new
        else:
            assert old in cell.source, f"fixture out of date: {old!r} not in {grade_id}"
            cell.source = cell.source.replace(old, new, 1)
    nb = release(assignment)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = sol_cells[meta["grade_id"]].source
    return nb


def release(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(str(ROOT / "exercises" / assignment / f"{assignment}.ipynb"), 4)


def first_answer_cell(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
                and c.cell_type == "code")


def submit(course_dir: Path, assignment: str, student: str, nb) -> None:
    dest = course_dir / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dest / f"{assignment}.ipynb"))


def scores(course_dir: Path, assignment: str) -> dict:
    """{student: {test cell: score}} from the gradebook."""
    with Course(course_dir).gradebook() as gb:
        return {s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades
                               if g.cell.name.startswith("test")}
                for s in gb.find_assignment(assignment).submissions}


def autograded(course_dir: Path, assignment: str, student: str):
    path = course_dir / "autograded" / student / assignment / f"{assignment}.ipynb"
    return nbformat.read(str(path), 4) if path.exists() else None
