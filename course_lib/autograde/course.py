"""The nbgrader course directory as the autograder sees it.

A course directory holds ``nbgrader_config.py``; everything else (source, release,
submitted, autograded and feedback folders, the gradebook) is located through nbgrader's own
``CourseDirectory`` so that plain ``nbgrader`` commands and ``rnn-course`` agree on every path.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def skip_slow_optional_imports() -> None:
    # jsonschema's optional IRI format checker compiles a large grammar at import time
    # (~2.5 s); nbformat never validates IRI formats, so the course never needs it. Every
    # sandbox worker imports nbformat, so this is most of a submission's start-up cost.
    sys.modules.setdefault("rfc3987_syntax", None)


skip_slow_optional_imports()

#: The course directory of this repository (``autograder/`` beside ``course_lib/``).
DEFAULT_COURSE_DIR = Path(__file__).resolve().parents[2] / "autograder"


def ensure_venv_on_path() -> None:
    """Put the running interpreter's ``bin/`` first on PATH.

    nbgrader shells out to ``alembic`` (the gradebook's migrations) by bare name, so the
    venv's bin folder must be on PATH even when ``rnn-course`` was started by full path.
    """
    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in parts if p])


@dataclass
class GradeCellInfo:
    """One test cell of a notebook as recorded in the gradebook."""

    name: str
    max_score: float
    cell_type: str
    source: str
    checksum: str
    locked: bool
    solution: bool = False


@dataclass
class NotebookInfo:
    """A notebook of an assignment: its cells in source order, as the gradebook holds them."""

    name: str
    # every nbgrader cell (grade, solution, locked, task) in source order
    source_cells: list = field(default_factory=list)
    grade_cells: dict = field(default_factory=dict)  # name -> GradeCellInfo
    solution_cells: list = field(default_factory=list)  # names

    @property
    def max_score(self) -> float:
        return float(sum(c.max_score for c in self.grade_cells.values()))


class Course:
    """An nbgrader course directory.

    Parameters
    ----------
    course_dir : str or Path, optional
        Folder holding ``nbgrader_config.py``; defaults to the repository's ``autograder/``.
    """

    def __init__(self, course_dir=None):
        ensure_venv_on_path()
        course_dir = Path(course_dir) if course_dir is not None else DEFAULT_COURSE_DIR
        if not course_dir.is_dir():
            raise ValueError(f"course_dir: expected an existing folder, got {str(course_dir)!r}")
        self.root = course_dir.resolve()
        self.config = self._load_config()
        from nbgrader.coursedir import CourseDirectory

        self.coursedir = CourseDirectory(config=self.config)
        self.coursedir.root = str(self.root)

    def _load_config(self):
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        cfg_file = self.root / "nbgrader_config.py"
        if not cfg_file.exists():
            return Config()
        return PyFileConfigLoader(cfg_file.name, path=str(self.root)).load_config()

    # -- paths -------------------------------------------------------------------------------
    def step_dir(self, step: str, student: str, assignment: str) -> Path:
        """Folder of one nbgrader step, e.g. ``submitted/<student>/<assignment>``."""
        return Path(os.path.normpath(self.coursedir.format_path(step, student, assignment)))

    def source_dir(self, assignment: str) -> Path:
        return self.step_dir(self.coursedir.source_directory, ".", assignment)

    def release_dir(self, assignment: str) -> Path:
        return self.step_dir(self.coursedir.release_directory, ".", assignment)

    def submitted_dir(self, student: str, assignment: str) -> Path:
        return self.step_dir(self.coursedir.submitted_directory, student, assignment)

    def autograded_dir(self, student: str, assignment: str) -> Path:
        return self.step_dir(self.coursedir.autograded_directory, student, assignment)

    def feedback_dir(self, student: str, assignment: str) -> Path:
        return self.step_dir(self.coursedir.feedback_directory, student, assignment)

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    @property
    def db_path(self) -> Path | None:
        url = self.db_url
        return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None

    def gradebook(self):
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url, self.coursedir.course_id)

    def cell_timeout(self, default: int = 120) -> int:
        """Per-cell timeout from the course's config (``Execute.timeout``)."""
        try:
            value = self.config.Execute.timeout
            return int(value) if isinstance(value, (int, float)) else default
        except Exception:
            return default

    def assignments(self) -> list:
        """Assignment names that have a source folder."""
        parent = self.source_dir("x").parent
        if not parent.is_dir():
            return []
        return sorted(p.name for p in parent.iterdir() if p.is_dir() and list(p.glob("*.ipynb")))

    def submitted_students(self, assignment: str) -> list:
        """Students with a ``submitted/<student>/<assignment>`` folder, sorted."""
        base = self.step_dir(self.coursedir.submitted_directory, "x", assignment).parent.parent
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())

    # -- gradebook content -------------------------------------------------------------------
    def ensure_assignment(self, assignment: str, force: bool = False) -> None:
        """Record the assignment's notebooks and cells in the gradebook.

        Runs nbgrader's own ``GenerateAssignment`` (the converter behind
        ``nbgrader generate_assignment``) so the gradebook's source cells, checksums and points
        are exactly nbgrader's; its release output goes to a scratch folder, leaving the
        committed release (``exercises/``) to ``rnn-course release``.
        """
        if not force:
            with self.gradebook() as gb:
                try:
                    if gb.find_assignment(assignment).notebooks:
                        return
                except Exception:
                    pass
        src = self.source_dir(assignment)
        if not src.is_dir() or not list(src.glob("*.ipynb")):
            raise ValueError(f"assignment: expected notebooks in {src}, found none")
        from nbgrader.converters import GenerateAssignment
        from nbgrader.coursedir import CourseDirectory

        with tempfile.TemporaryDirectory(prefix="rnn-course-release-") as tmp:
            cd = CourseDirectory(config=self.config)
            cd.root = str(self.root)
            cd.release_directory = tmp
            cd.assignment_id = assignment
            conv = GenerateAssignment(coursedir=cd, config=self.config)
            conv.force = True
            conv.create_assignment = True
            conv.start()

    def notebook_infos(self, assignment: str) -> list:
        """Notebooks of ``assignment`` with their gradebook cells, in name order."""
        out = []
        with self.gradebook() as gb:
            a = gb.find_assignment(assignment)
            for nb in sorted(a.notebooks, key=lambda n: n.name):
                info = NotebookInfo(name=nb.name)
                grade_names = {g.name: float(g.max_score) for g in nb.grade_cells}
                for sc in nb.source_cells:
                    info.source_cells.append(
                        dict(name=sc.name, cell_type=sc.cell_type, source=sc.source,
                             checksum=sc.checksum, locked=bool(sc.locked),
                             grade=sc.name in grade_names,
                             solution=sc.name in {s.name for s in nb.solution_cells},
                             task=sc.name in {t.name for t in nb.task_cells},
                             points=grade_names.get(sc.name, 0.0))
                    )
                info.source_cells = self._in_source_order(assignment, nb.name, info.source_cells)
                for sc in info.source_cells:
                    if sc["grade"]:
                        info.grade_cells[sc["name"]] = GradeCellInfo(
                            name=sc["name"], max_score=sc["points"], cell_type=sc["cell_type"],
                            source=sc["source"], checksum=sc["checksum"], locked=sc["locked"],
                            solution=sc["solution"])
                info.solution_cells = [c["name"] for c in info.source_cells if c["solution"]]
                out.append(info)
        return out

    def _in_source_order(self, assignment: str, notebook: str, cells: list) -> list:
        # The gradebook does not keep cell order; the source notebook does (missing cells are
        # re-inserted after their predecessor, so the order matters).
        path = self.source_dir(assignment) / f"{notebook}.ipynb"
        order = {}
        try:
            import nbformat

            nb = nbformat.read(str(path), as_version=4)
            for i, c in enumerate(nb.cells):
                gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid is not None:
                    order.setdefault(gid, i)
        except Exception:
            pass
        return sorted(cells, key=lambda c: (order.get(c["name"], 10**9), c["name"]))
