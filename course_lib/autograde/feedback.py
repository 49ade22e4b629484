"""HTML feedback per student: every message, score and comment, no hidden test, no grader internals.

nbgrader's ``GenerateFeedback`` converter renders ``autograded/`` with the gradebook's scores,
after :class:`RedactHiddenTests`: the hidden part of each test cell is replaced by a note, a
failed test keeps only its error's name and message (its traceback would quote the hidden
lines), and every output is cleaned of hidden-test lines (a student can print ``In[-1]``), of
the grader's paths, and of lone surrogates. HTML in outputs and markdown is sanitized (no
``<script>`` survives). The finished page loads MathJax from a copy beside it (no CDN), names
each test cell with its task and points, and wraps long lines so the points stay in view.

A student whose notebook could not be graded (broken JSON, nothing submitted under that name)
gets a page that says why. ``--zip`` packs the pages as the LMS takes them back.
"""

from __future__ import annotations

import html
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from .course import Course
from .lms import CollectRecord, canvas_folder, moodle_folder
from .protocol import GradingRecord
from .text import printable, storable

BEGIN, END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: their messages are shown below, their code is not)"
HIDDEN_LINE = "[a line of a hidden test, removed]"
MATHJAX = "tex-svg.js"  # MathJax 3, self-contained (SVG output needs no font files)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_HIDDEN_REGION = re.compile(r"[^\n]*" + BEGIN + r".*?(?:" + END + r"[^\n]*|\Z)", re.S)


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


def hidden_lines(source_cells: list) -> list:
    """The distinctive lines of every hidden-test region (what an output must not repeat)."""
    lines = set()
    for c in source_cells:
        for region in _HIDDEN_REGION.findall(c.get("source", "")):
            lines.update(ln.strip() for ln in region.split("\n")[1:-1] if len(ln.strip()) >= 8)
    return sorted(lines)


def clean_text(text: str, hidden: list, paths: list) -> str:
    """An output's text without hidden-test lines, grader paths or lone surrogates."""
    text = _HIDDEN_REGION.sub(HIDDEN_LINE, storable(text))
    if hidden and any(h in text for h in hidden):
        text = "\n".join(HIDDEN_LINE if any(h in ln for h in hidden) else ln
                         for ln in text.split("\n"))
    for p, name in paths:
        text = text.replace(p, name)
    return text


class RedactHiddenTests(NbGraderPreprocessor):
    """Hide the source of hidden tests, in the cell, its tracebacks and every output."""

    hidden = List(Unicode(), default_value=[]).tag(config=True)
    grader_paths = List(default_value=[]).tag(config=True)  # [path, shown-as] pairs

    def _clean(self, text: str) -> str:
        return clean_text(text, self.hidden, self.grader_paths)

    def _clean_output(self, out: dict, had_hidden: bool) -> None:
        if out.get("output_type") == "error":
            out["ename"] = self._clean(str(out.get("ename", "Error")))
            out["evalue"] = self._clean(str(out.get("evalue", "")))
            out["traceback"] = ([_ANSI.sub("", f"{out['ename']}: {out['evalue']}")]
                                if had_hidden else
                                [self._clean(_ANSI.sub("", t)) for t in out.get("traceback", [])])
        if "text" in out:
            out["text"] = self._clean(str(out["text"]))
        for mime, value in (out.get("data") or {}).items():
            if mime.startswith("text/") or mime.endswith(("json", "javascript")):
                out["data"][mime] = self._clean("".join(value) if isinstance(value, list)
                                                else str(value))

    def preprocess_cell(self, cell, resources, cell_index):
        source, had = redact_source(storable(cell.source))
        cell.source = _HIDDEN_REGION.sub(HIDDEN_NOTE, source)
        for out in cell.get("outputs", []):
            self._clean_output(out, had)
        return cell, resources


#: Long code and output lines wrap instead of widening the page: the points on the right of
#: every test cell stay in view at 1280 px (and on a phone).
PAGE_CSS = """
<style>
.container, div#notebook-container { width: auto; max-width: 1200px; }
div.cell, div.inner_cell, div.output_subarea { min-width: 0; max-width: 100%; }
div.input_area pre, div.output_area pre, .highlight pre {
  white-space: pre-wrap; overflow-wrap: anywhere; }
div.nbgrader_cell .panel-heading { height: auto; overflow: hidden; }
div.prompt { min-width: 11ex; }
</style>
"""
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?</script>\s*<!-- MathJax configuration -->"
                            r"\s*<script type=\"text/x-mathjax-config\">.*?</script>", re.S)
_LOCAL_MATHJAX = ("<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
                  "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true}};"
                  "</script>\n<script defer src=\"mathjax/" + MATHJAX + "\"></script>")


def mathjax_file() -> Path:
    """The MathJax the book serves (package sphinx-mathjax-offline), for offline pages."""
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline") or importlib.util.find_spec(
        "sphinx_mathjax_offline")
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    roots += [Path(p) / "sphinx-mathjax-offline" for p in sys.path if p]
    for root in roots:
        f = root / "static" / "mathjax" / MATHJAX
        if f.is_file():
            return f
    raise ValueError("mathjax: sphinx-mathjax-offline is not installed (requirements.txt)")


def task_labels(cells: list) -> dict:
    """grade_id -> "<task heading> (<grade_id>)" for each test cell, from the headings above."""
    labels, heading = {}, None
    for c in cells:
        if c.get("cell_type") == "markdown":
            m = re.search(r"^#+\s*(.+)$", c.get("source", ""), re.M)
            heading = m[1].strip() if m else heading
        gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid and c.get("metadata", {}).get("nbgrader", {}).get("grade"):
            labels[gid] = f"{heading}: {gid}" if heading else gid
    return labels


def finish_page(page: Path, labels: dict) -> None:
    """Local MathJax, readable task names, points kept in view."""
    text = page.read_text(encoding="utf-8")
    text = _MATHJAX_BLOCK.sub(lambda m: _LOCAL_MATHJAX, text, count=1)
    for gid, label in labels.items():
        anchor = f'<a href="#{html.escape(gid)}">'
        text = text.replace(anchor + "Test cell</a>", anchor + html.escape(label) + "</a>")
    text = text.replace("</head>", PAGE_CSS + "</head>", 1)
    page.write_text(text, encoding="utf-8")
    (page.parent / "mathjax").mkdir(exist_ok=True)
    shutil.copyfile(mathjax_file(), page.parent / "mathjax" / MATHJAX)


def inline_mathjax(text: str) -> str:
    """The page with its MathJax inside it, for an upload that takes single files."""
    tag = f'<script defer src="mathjax/{MATHJAX}"></script>'
    js = mathjax_file().read_text(encoding="utf-8").replace("</script", "<\\/script")
    return text.replace(tag, "<script>" + js + "</script>", 1)


def explain_page(dest: Path, notebook: str, reason: str) -> Path:
    """The page a student gets when their notebook could not be graded: why, and what to do."""
    dest.mkdir(parents=True, exist_ok=True)
    page = dest / f"{notebook}.html"
    page.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
        f"{html.escape(notebook)}</title></head><body>\n<h1>{html.escape(notebook)}: not graded"
        f"</h1>\n<p>Your submission could not be graded: {html.escape(printable(reason, 500))}."
        "</p>\n<p>Score: 0. Open the notebook in Jupyter to check that it is the assignment's "
        "notebook and that it opens, then ask your instructor how to resubmit.</p>\n"
        "</body></html>\n", encoding="utf-8")
    return page


@dataclass
class FeedbackRow:
    """One student's line of the feedback table."""

    student: str
    score: float | None
    max_score: float
    status: str  # the autograder's status, "not attempted", or "not graded"
    pages: list = field(default_factory=list)  # HTML paths written


def _config(course: Course, infos: list):
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbconvert.preprocessors.sanitize import SanitizeHTML
    from nbgrader.preprocessors import GetGrades
    from traitlets.config import Config

    cfg = Config(course.config)
    cfg.GenerateFeedback.preprocessors = [RedactHiddenTests, SanitizeHTML, GetGrades,
                                          CSSHTMLHeaderPreprocessor]
    cfg.SanitizeHTML.enabled = True  # nbconvert's preprocessors are off unless enabled
    cfg.HTMLExporter.sanitize_html = True  # and the template's own filter, where it applies
    cfg.RedactHiddenTests.hidden = hidden_lines([c for i in infos for c in i.source_cells])
    package = Path(__file__).resolve().parents[2]
    cfg.RedactHiddenTests.grader_paths = [[str(course.root), "<course>"],
                                          [str(package), "<course_lib>"],
                                          [sys.prefix, "<python>"]]
    return cfg


def _render(course: Course, assignment: str, students: list, cfg) -> None:
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    for student in students:
        cd = CourseDirectory(config=cfg)
        cd.root = str(course.root)
        cd.assignment_id = assignment
        cd.student_id = student
        conv = GenerateFeedback(coursedir=cd, config=cfg)
        conv.force = True
        try:
            conv.start()
        except (Exception, SystemExit):  # that student gets a page that says why, below
            pass


def _tidy(dest: Path) -> None:
    """Only pages and their MathJax go to students: no side car, no timestamps."""
    if not dest.is_dir():
        return
    for p in dest.iterdir():
        if p.name == "mathjax" and p.is_dir():
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.suffix != ".html":
            p.unlink()


def _finish_student(course: Course, assignment: str, student: str, infos: list) -> list:
    """Finish the rendered pages and write a why-page for every notebook without one."""
    import nbformat

    dest = course.feedback_dir(student, assignment)
    _tidy(dest)
    kept = GradingRecord.read(course.autograded_dir(student, assignment))
    side = kept.notebooks if kept else {}
    pages = []
    for info in infos:
        page = dest / f"{info.name}.html"
        graded = course.autograded_dir(student, assignment) / f"{info.name}.ipynb"
        if page.is_file() and graded.is_file():
            try:
                cells = nbformat.reads(graded.read_text(encoding="utf-8"), as_version=4).cells
            except Exception:  # the page itself rendered; only its labels stay nbgrader's
                cells = []
            finish_page(page, task_labels(cells))
        else:
            submitted = course.submitted_dir(student, assignment) / f"{info.name}.ipynb"
            summary = side.get(info.name)
            reason = ((summary.reason if summary else "")
                      or ("it was not graded" if submitted.is_file()
                          else f"no {info.name}.ipynb was submitted"))
            explain_page(dest, info.name, reason)
        pages.append(str(page))
    return pages


def _row(course: Course, gb, assignment: str, student: str, infos: list, pages: list):
    from .collect import release_sources, attempted

    try:
        sub = gb.find_submission(assignment, student)
        score = max(0.0, float(sub.score) - float(sub.late_submission_penalty or 0.0))
    except Exception:
        return FeedbackRow(student, None, sum(i.max_score for i in infos), "not graded", pages)
    answers = release_sources(infos)
    changed = []
    for info in infos:
        p = course.submitted_dir(student, assignment) / f"{info.name}.ipynb"
        if p.is_file():
            changed.append(attempted(p.read_bytes(), answers[info.name]))
    kept = GradingRecord.read(course.autograded_dir(student, assignment))
    status = kept.status.value if kept else "ok"
    if changed and not any(changed):  # False: no answer changed (None: not a notebook)
        status = "not attempted"
    return FeedbackRow(student, score, float(sub.max_score), status, pages)


def generate_feedback(course: Course, assignment: str, students=None) -> list:
    """Render ``feedback/<student>/<assignment>/<notebook>.html`` for every collected student.

    Returns
    -------
    list of FeedbackRow, one per student, sorted.
    """
    infos = course.notebook_infos(assignment)
    everyone = course.submitted_students(assignment)
    unknown = [s for s in (students or []) if s not in everyone]
    if unknown:
        raise ValueError(f"student: not collected for {assignment!r}: "
                         f"{[printable(s, 40) for s in unknown]}")
    chosen = sorted(students) if students else everyone
    graded = [s for s in chosen if list(course.autograded_dir(s, assignment).glob("*.ipynb"))]
    _render(course, assignment, graded, _config(course, infos))
    rows = []
    with course.gradebook() as gb:
        for student in chosen:
            pages = _finish_student(course, assignment, student, infos)
            rows.append(_row(course, gb, assignment, student, infos, pages))
    return rows


def _folder_name(name: str) -> str:
    return re.sub(r"[/\\]", "_", printable(name, 120)) or "_"


def feedback_zip(course: Course, assignment: str, rows: list, dest=None) -> Path:
    """The feedback pages in one zip, laid out as the assignment's LMS takes them back.

    Canvas (no bulk feedback upload): one folder per student, ``<lastfirst>_<user id>/``, named
    as its download names them; Moodle: the "feedback files" zip, one
    ``<Full Name>_<participant id>_assignsubmission_file_/`` folder each; a plain folder
    download: ``<student>/<assignment>/``.
    """
    rec = CollectRecord.load(course.root, assignment)
    layout = rec.layout if rec else "folder"
    by_id = {s.student_id: s for s in (rec.students if rec else [])}
    dest = Path(dest) if dest else course.root / "exports" / f"{assignment}-feedback-{layout}.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for row in rows:
            st = by_id.get(row.student)
            folder = (canvas_folder(st) if layout == "canvas" and st
                      else moodle_folder(st) if layout == "moodle" and st
                      else f"{row.student}/{assignment}")
            folder = "/".join(_folder_name(p) for p in folder.split("/"))
            for page in map(Path, row.pages):
                text = page.read_text(encoding="utf-8")
                if layout == "moodle":  # one file per page: Moodle keeps no folders beside it
                    text = inline_mathjax(text)
                zf.writestr(f"{folder}/{page.name}", text)
            js = Path(row.pages[0]).parent / "mathjax" / MATHJAX if row.pages else None
            if layout != "moodle" and js and js.is_file():
                zf.write(js, f"{folder}/mathjax/{MATHJAX}")
    return dest
