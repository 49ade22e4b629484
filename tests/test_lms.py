"""The LMS round trip: a Canvas and a Moodle class collected, graded, exported and fed back.

One module fixture per LMS grades a small class built as the LMS downloads it (resubmissions,
a LATE marker, non-ASCII names, a student who submitted nothing, an untouched release, broken
JSON, a student whose outputs attack the feedback page); the tests read the files the
instructor uploads back as the LMS's importer would, and the feedback pages as a student would.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_lib.autograde import cli
from course_lib.autograde.course import Course
from course_lib.autograde.feedback import (HIDDEN_LINE, RedactHiddenTests, hidden_lines,
                                           task_labels)
from lms_fixtures import (CANVAS_HEADER, MOODLE_HEADER, canvas_roster, make_course, make_zip,
                          moodle_roster, notebook, subs)

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

GRADE_ARGS = ["--jobs", "2", "--timeout", "5", "--notebook-timeout", "20", "--quiet"]
GOOD, BAD, RELEASE = notebook("good"), notebook("bad"), notebook("release")
HOSTILE_OUTPUT = "\n".join([
    subs.GOOD_ADD,
    "from IPython.display import HTML, display",
    "display(HTML(\"<script>document.title = 'pwned'</script><b id='mine'>bold</b>\"))",
    # what In[-1] would show of a test cell: its hidden region
    "print('### BEGIN HIDDEN TESTS\\nassert mul(-2, 5) == -10\\n### END HIDDEN TESTS')",
    "print('assert mul(-2, 5) == -10, \"mul(-2, 5): expected -10\"')",
    "print('x' * 400)",
    "import os; print('course at', os.environ.get('RNN_COURSE_PROBE', '?'))",
])


def hostile_notebook(course_root: Path) -> bytes:
    nb = subs._set("add", HOSTILE_OUTPUT.replace("?", str(course_root)))(subs.student_view())
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(
        "## My notes\nThe update is $h_t = \\tanh(x_t W_x + h_{t-1} W_h + b)$.\n"
        "<script>document.title = 'pwned by markdown'</script>"))
    return json.dumps(nb, ensure_ascii=False).encode("utf-8")


def run_cli(*argv) -> tuple:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue()


def grade_class(tmp, layout: str, download: Path, roster: Path) -> dict:
    course_dir = tmp / "course"
    rc_c, out_c = run_cli("--course-dir", course_dir, "collect", "tiny", download,
                          "--roster", roster)
    rc_a, out_a = run_cli("--course-dir", course_dir, "autograde", "tiny", *GRADE_ARGS)
    assert rc_a == 0, out_a
    rc_f, out_f = run_cli("--course-dir", course_dir, "feedback", "tiny", "--zip")
    export = tmp / "out" / f"{layout}.csv"
    rc_e, out_e = run_cli("--course-dir", course_dir, "export", "--format", layout, "--csv",
                          export)
    return dict(course=Course(course_dir), tmp=tmp, out_collect=out_c, out_grade=out_a,
                rc_feedback=rc_f, out_feedback=out_f, rc_export=rc_e, out_export=out_e,
                export=export)


@pytest.fixture(scope="module")
def canvas(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("canvas")
    course_dir = make_course(tmp / "course")
    z = make_zip(tmp / "submissions.zip", [
        ("lovelaceada_101_9001_tiny.ipynb", BAD, (2026, 3, 1, 9, 0, 0), "file"),
        ("lovelaceada_101_9001_tiny-1.ipynb", GOOD, (2026, 3, 1, 10, 0, 0), "file"),
        ("ünïcodezoë_LATE_102_9002_Tiny (1).ipynb", GOOD, (2026, 3, 9, 23, 59, 0), "file"),
        ("hoppergrace_103_9003_tiny.ipynb", BAD, None, "file"),
        ("lazylarry_105_9005_tiny.ipynb", RELEASE, None, "file"),
        ("brokenbob_106_9006_tiny.ipynb", b'{"cells": [ {"cell_type": "code", ', None, "file"),
        ("hackerhal_107_9007_tiny.ipynb", hostile_notebook(course_dir), None, "file"),
    ])
    roster = canvas_roster(tmp / "canvas.csv", [
        ("Lovelace, Ada", "101", "ada"), ("Ünïcode, Zoë", "102", "zoe"),
        ("Hopper, Grace", "103", "grace"), ("Absent, Al", "104", "al"),
        ("Lazy, Larry", "105", "larry"), ("Broken, Bob", "106", "bob"),
        ("Hacker, Hal", "107", "hal")])
    return grade_class(tmp, "canvas", z, roster)


@pytest.fixture(scope="module")
def moodle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("moodle")
    make_course(tmp / "course")
    z = make_zip(tmp / "moodle.zip", [
        ("Ada Lovelace_201_assignsubmission_file_/tiny.ipynb", BAD, (2026, 3, 1, 9, 0, 0),
         "file"),
        ("Ada Lovelace_201_assignsubmission_file_/tiny (1).ipynb", GOOD, (2026, 3, 1, 11, 0, 0),
         "file"),
        ("Zoë Ünïcode_202_assignsubmission_file_tiny.ipynb", GOOD, None, "file"),
        ("John Smith_203_assignsubmission_file_/tiny.ipynb", BAD, None, "file"),
    ])
    roster = moodle_roster(tmp / "worksheet.csv", [
        ("Ada Lovelace", "201", "ada@example.org"), ("Zoë Ünïcode", "202", "zoe@example.org"),
        ("John Smith", "203", "js@example.org"), ("Al Absent", "204", "al@example.org")])
    return grade_class(tmp, "moodle", z, roster)


# -- what goes back to the LMS ---------------------------------------------------------------
def read_canvas_import(path: Path) -> tuple:
    """Read a file as Canvas's gradebook import does: identity columns, assignment columns
    ``<name> (<id>)``, an optional ``Points Possible`` row, then one row per student."""
    raw = path.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"], header
    columns = {i: c for i, c in enumerate(header) if re.fullmatch(r".+ \(\d+\)", c)}
    points = {}
    if body and body[0][0].strip() == "Points Possible":
        points = {columns[i]: body[0][i] for i in columns}
        body = body[1:]
    grades = {r[1]: {columns[i]: r[i] for i in columns} for r in body}
    assert len(grades) == len(body), "one row per student"
    return raw, header, points, grades


def test_canvas_export_is_canvas_gradebook_import(canvas):
    assert canvas["rc_export"] == 0, canvas["out_export"]
    raw, header, points, grades = read_canvas_import(canvas["export"])
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, as Canvas exports it
    assert header == CANVAS_HEADER[:5] + ["Tiny (5555)"]
    assert points == {"Tiny (5555)": "3"}
    got = {uid: g["Tiny (5555)"] for uid, g in grades.items()}
    # every roster student once; a student who submitted nothing is blank, never 0
    assert got == {"101": "3", "102": "3", "103": "1", "104": "", "105": "0", "106": "0",
                   "107": "3"}
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[3][0] == "Ünïcode, Zoë"
    assert "grades_problems" not in canvas["out_export"]
    assert "for item analysis; not for the LMS" in canvas["out_export"]


def test_moodle_export_is_moodle_grading_worksheet(moodle):
    assert moodle["rc_export"] == 0, moodle["out_export"]
    text = moodle["export"].read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == MOODLE_HEADER
    by = {r["Identifier"]: r for r in rows}
    assert list(by) == [f"Participant {i}" for i in (201, 202, 203, 204)]
    assert {k: r["Grade"] for k, r in by.items()} == {
        "Participant 201": "3.00", "Participant 202": "3.00", "Participant 203": "1.00",
        "Participant 204": ""}
    assert by["Participant 203"]["Feedback comments"].startswith("1 / 3 points")
    assert "test_mul 0/2" in by["Participant 203"]["Feedback comments"]
    assert by["Participant 204"]["Feedback comments"] == ""
    assert by["Participant 202"]["Full name"] == "Zoë Ünïcode"


def test_nbgrader_export_writes_only_what_was_graded(canvas, tmp_path):
    course_dir = tmp_path / "course"
    shutil.copytree(canvas["course"].root, course_dir)
    other = course_dir / "source" / "never-graded"
    other.mkdir(parents=True)
    shutil.copy(course_dir / "source" / "tiny" / "tiny.ipynb", other / "never-graded.ipynb")
    Course(course_dir).ensure_assignment("never-graded")
    rc, out = run_cli("--course-dir", course_dir, "export", "--csv", tmp_path / "g.csv")
    rows = list(csv.DictReader(open(tmp_path / "g.csv", encoding="utf-8")))
    assert rc == 0 and {r["assignment"] for r in rows} == {"tiny"}
    assert {r["student_id"]: r["score"] for r in rows}["104"] == "0.0"  # nbgrader's own rule
    rc, out = run_cli("--course-dir", course_dir, "export", "--csv", tmp_path / "n.csv",
                      "--assignment", "never-graded")
    rows = list(csv.DictReader(open(tmp_path / "n.csv", encoding="utf-8")))
    assert rows and all(r["score"] == "" and r["raw_score"] == "" for r in rows)
    rc, out = run_cli("--course-dir", course_dir, "export", "--csv", tmp_path / "x.csv",
                      "--assignment", "no-such")
    assert rc == 2


def test_forged_student_id_does_not_forge_a_csv_row(canvas, tmp_path):
    course_dir = tmp_path / "course"
    shutil.copytree(canvas["course"].root, course_dir)
    forged = "evil\n\x1b[2K101,Lovelace,Ada,3.0\r\n"
    with Course(course_dir).gradebook() as gb:
        gb.add_student(forged, first_name="\x1b[31mred")
    rc, out = run_cli("--course-dir", course_dir, "export", "--csv", tmp_path / "g.csv")
    raw = (tmp_path / "g.csv").read_text(encoding="utf-8")
    assert "\x1b" not in raw and "\x1b" not in out
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert len(raw.splitlines()) == len(rows) + 1  # one physical line per row
    assert [r["student_id"] for r in rows].count("101") == 1
    assert "evil\\n\\x1b[2K101,Lovelace,Ada,3.0\\r\\n" in [r["student_id"] for r in rows]


def test_export_needs_a_roster_and_the_canvas_column(canvas, tmp_path):
    course_dir = tmp_path / "course"
    shutil.copytree(canvas["course"].root, course_dir)
    bare = tmp_path / "bare.csv"
    bare.write_text("Student,ID,SIS User ID,SIS Login ID,Section,Other (77)\n"
                    "\"Lovelace, Ada\",101,s,ada,A,\n", encoding="utf-8")
    rc, out = run_cli("--course-dir", course_dir, "export", "--format", "canvas", "--csv",
                      tmp_path / "c.csv", "--roster", bare)
    assert rc == 2  # no column for tiny: the message says to pass --lms-column
    rc, out = run_cli("--course-dir", course_dir, "export", "--format", "canvas", "--csv",
                      tmp_path / "c.csv", "--roster", bare, "--lms-column", "Tiny (5555)")
    _, header, _, grades = read_canvas_import(tmp_path / "c.csv")
    assert rc == 0 and header[-1] == "Tiny (5555)" and grades == {"101": {"Tiny (5555)": "3"}}


# -- what goes back to the students ----------------------------------------------------------
def test_feedback_table_has_scores_and_not_attempted(canvas):
    assert canvas["rc_feedback"] == 0, canvas["out_feedback"]
    lines = {ln.split()[0]: ln.split() for ln in canvas["out_feedback"].splitlines()
             if ln[:3].isdigit()}
    assert lines["101"][1:3] == ["3", "3"] and lines["103"][1:4] == ["1", "3", "tests-failed"]
    assert lines["105"][1:5] == ["0", "3", "not", "attempted"]
    assert "not-attempted" in [ln for ln in canvas["out_collect"].splitlines()
                               if ln.startswith("105")][0]


def test_canvas_feedback_zip_has_one_folder_per_student(canvas):
    z = canvas["course"].root / "exports" / "tiny-feedback-canvas.zip"
    names = zipfile.ZipFile(z).namelist()
    assert "lovelaceada_101/tiny.html" in names and "ünïcodezoë_102/tiny.html" in names
    assert "lovelaceada_101/mathjax/tex-svg.js" in names
    assert not [n for n in names if ".rnn-course" in n or n.endswith(".ipynb")]


def test_moodle_feedback_zip_is_moodles_feedback_files_layout(moodle):
    z = zipfile.ZipFile(moodle["course"].root / "exports" / "tiny-feedback-moodle.zip")
    names = sorted(z.namelist())
    assert names == ["Ada Lovelace_201_assignsubmission_file_/tiny.html",
                     "John Smith_203_assignsubmission_file_/tiny.html",
                     "Zoë Ünïcode_202_assignsubmission_file_/tiny.html"]
    page = z.read(names[0]).decode("utf-8")
    assert "mathjax/tex-svg.js" not in page and "MathJax" in page  # one self-contained file


def page_of(data, student) -> str:
    return (data["course"].feedback_dir(student, "tiny") / "tiny.html").read_text(
        encoding="utf-8")


def test_feedback_page_is_safe_from_the_students_own_outputs(canvas):
    page = page_of(canvas, "107")
    assert "bold</b>" in page  # harmless HTML stays
    # their source shows (escaped), but no script of theirs runs: from outputs or markdown
    assert "<script>document.title" not in page
    assert page.count("<script") == page_of(canvas, "101").count("<script")
    assert "assert mul(-2, 5)" not in page  # neither the printed region nor the printed line
    assert "BEGIN HIDDEN TESTS" not in page
    assert HIDDEN_LINE in page
    assert str(canvas["course"].root) not in page
    folder = canvas["course"].feedback_dir("107", "tiny")
    assert sorted(p.name for p in folder.iterdir()) == ["mathjax", "tiny.html"]


def test_feedback_page_works_offline_and_names_the_tasks(canvas):
    page = page_of(canvas, "101")
    assert "cdnjs" not in page and "https://cdn" not in page
    assert '<script defer src="mathjax/tex-svg.js"></script>' in page
    assert (canvas["course"].feedback_dir("101", "tiny") / "mathjax" / "tex-svg.js").is_file()
    assert ">Test cell<" not in page
    assert '<a href="#test_mul">Tiny assignment: test_mul</a> (Score: 2.0 / 2.0)' in page


def test_broken_notebook_gets_a_page_that_says_why(canvas):
    page = page_of(canvas, "106")
    assert "not graded" in page and "not a readable notebook" in page


def test_redaction_of_outputs_unit():
    """The preprocessor alone: every output kind, a lone surrogate, a grader path."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS\nassert f(7) == 8  # secret\n"
                                     "### END HIDDEN TESTS")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout",
                               text="assert f(7) == 8  # secret\nok \ud800\n"),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="/srv/course/x",
                               traceback=["\x1b[31mTraceback", "assert f(7) == 8  # secret"]),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Task 1\nlone \ud800"), cell]
    pre = RedactHiddenTests(hidden=hidden_lines([{"source": cell.source}]),
                            grader_paths=[["/srv/course", "<course>"]])
    nb, _ = pre.preprocess(nb, {})
    text = json.dumps(nb, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate is left
    assert "secret" not in text and "<course>/x" in text and "\x1b" not in text
    assert task_labels(nb.cells) == {}  # no grade cell here


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
READ_FEEDBACK = """() => ({
  scroll_width: document.documentElement.scrollWidth,
  points: Array.from(document.querySelectorAll('.panel-heading .pull-right'))
      .filter(e => e.textContent.includes('Score:'))
      .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.width]; }),
  math: document.querySelectorAll('mjx-container').length,
  title: document.title,
})"""


@pytest.mark.browser
def test_feedback_page_in_a_browser_at_1280px(canvas):
    """Points in view without a horizontal scrollbar, MathJax rendered offline, no script run."""
    if CHROMIUM is None:
        pytest.skip("Chromium not found (Debian package `chromium`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    page_path = canvas["course"].feedback_dir("107", "tiny") / "tiny.html"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        remote = []
        page.route(re.compile(r"^(?!file:).*"), lambda r: (remote.append(r.request.url),
                                                          r.abort()))
        page.goto(page_path.as_uri())
        page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0",
                               timeout=20000)
        seen = page.evaluate(READ_FEEDBACK)
        browser.close()
    assert remote == []
    assert seen["scroll_width"] <= 1280, seen
    assert len(seen["points"]) >= 2 and all(0 <= left and right <= 1280 and width > 0
                                            for left, right, width in seen["points"]), seen
    assert seen["math"] >= 1 and "pwned" not in seen["title"]
