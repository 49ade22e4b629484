"""HTML feedback per student: every message, score and comment, no hidden test source.

nbgrader's ``GenerateFeedback`` converter renders ``autograded/`` with the gradebook's scores;
the :class:`RedactHiddenTests` preprocessor runs first so the hidden part of each test cell is
replaced by a one-line note, and a failed test cell keeps only the error's name and message
(its traceback would quote the hidden lines).
"""

from __future__ import annotations

import re
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

from .course import Course

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: their messages are shown below, their code is not)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def redact_source(source: str) -> tuple:
    """Drop the hidden-test regions of a cell's source; returns (source, had_hidden)."""
    out, inside, had = [], False, False
    for line in source.split("\n"):
        if BEGIN in line:
            inside, had = True, True
            out.append(HIDDEN_NOTE)
            continue
        if END in line:
            inside = False
            continue
        if not inside:
            out.append(line)
    return "\n".join(out), had


class RedactHiddenTests(NbGraderPreprocessor):
    """Hide the source of hidden tests, in the cell and in its tracebacks."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        source, had = redact_source(cell.source)
        if had:
            cell.source = source
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    msg = _ANSI.sub("", f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
                    out["traceback"] = [msg]
        return cell, resources


def generate_feedback(course: Course, assignment: str, students=None) -> dict:
    """Render ``feedback/<student>/<assignment>/<notebook>.html`` for graded students.

    Returns
    -------
    dict student -> list of HTML paths written (empty list when nothing could be rendered).
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    from traitlets.config import Config

    graded = []
    base = course.autograded_dir("x", assignment).parent.parent
    if base.is_dir():
        graded = sorted(p.name for p in base.iterdir()
                        if (p / assignment).is_dir() and list((p / assignment).glob("*.ipynb")))
    if students:
        graded = [s for s in graded if s in students]
    out = {}
    cfg = Config(course.config)
    cfg.GenerateFeedback.preprocessors = [RedactHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
    # one converter for the whole class (nbgrader logs a notebook that fails and goes on)
    for pattern in (students or ["*"]):
        if pattern != "*" and pattern not in graded:
            continue
        cd = CourseDirectory(config=cfg)
        cd.root = str(course.root)
        cd.assignment_id = assignment
        cd.student_id = pattern
        conv = GenerateFeedback(coursedir=cd, config=cfg)
        conv.force = True
        try:
            conv.start()
        except (Exception, SystemExit):  # reported below as a student without feedback
            pass
    for student in graded:
        out[student] = sorted(str(p) for p in Path(course.feedback_dir(student, assignment))
                              .glob("*.html"))
    return out
