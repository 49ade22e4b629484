"""collect: Canvas, Moodle and folder downloads into ``submitted/``, and every hostile entry.

No grading here (tests/test_lms.py grades a round trip): each test collects one download
built as the LMS (or an attacker) would into a fresh copy of the tiny course, and checks which
student got which bytes, the table's line for each bad entry, and that nothing was written
outside ``submitted/<student>/tiny/``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import pytest

from course_lib.autograde import cli
from course_lib.autograde.collect import MAX_FILE_BYTES, collect
from course_lib.autograde.course import Course
from course_lib.autograde.lms import CollectRecord, detect_layout, parse_canvas_name
from course_lib.autograde.text import printable
from lms_fixtures import (canvas_roster, make_course, make_zip, moodle_roster, notebook,
                          patch_declared_size)

pytestmark = pytest.mark.nbgrader

GOOD, BAD, RELEASE = notebook("good"), notebook("bad"), notebook("release")
CANVAS_CLASS = [("Lovelace, Ada", "101", "ada"), ("Ünïcode, Zoë", "102", "zoe"),
                ("Hopper, Grace", "103", "grace"), ("Smith, John", "104", "js1"),
                ("Smith, John", "105", "js2"), ("Absent, Al", "106", "al")]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("collect") / "course")


@pytest.fixture
def course(template, tmp_path):
    shutil.copytree(template, tmp_path / "course")
    return Course(tmp_path / "course")


def run_cli(*argv) -> tuple:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue()


def row_of(rep, student):
    rows = [r for r in rep.rows if r.student == student]
    assert len(rows) == 1, [(r.student, r.status, r.note) for r in rep.rows]
    return rows[0]


def submitted(course, student) -> bytes:
    return (course.submitted_dir(student, "tiny") / "tiny.ipynb").read_bytes()


# -- the layouts ------------------------------------------------------------------------------
def canvas_zip(tmp_path) -> Path:
    return make_zip(tmp_path / "submissions.zip", [
        # Ada resubmitted twice: Canvas renamed the later uploads tiny-1, tiny-2
        ("lovelaceada_101_9001_tiny.ipynb", BAD, (2026, 3, 1, 9, 0, 0), "file"),
        ("lovelaceada_101_9001_tiny-1.ipynb", BAD, (2026, 3, 1, 10, 0, 0), "file"),
        ("lovelaceada_101_9001_tiny-2.ipynb", GOOD, (2026, 3, 1, 8, 0, 0), "file"),
        ("ünïcodezoë_LATE_102_9002_Tiny (1).ipynb", GOOD, (2026, 3, 9, 23, 59, 0), "file"),
        ("hoppergrace_103_9003_my tiny notebook.ipynb", BAD, None, "file"),
        # two students of the same name: the user id tells them apart
        ("smithjohn_104_9004_tiny.ipynb", GOOD, None, "file"),
        ("smithjohn_105_9005_tiny.ipynb", BAD, None, "file"),
    ])


def test_canvas_zip_collects_to_the_roster_students(course, tmp_path):
    roster = canvas_roster(tmp_path / "canvas.csv", CANVAS_CLASS)
    rc, out = run_cli("--course-dir", course.root, "collect", "tiny", canvas_zip(tmp_path),
                      "--roster", roster)
    assert "layout: canvas (detected" in out
    assert submitted(course, "101") == GOOD  # tiny-2: the highest resubmission number
    assert submitted(course, "102") == GOOD
    assert submitted(course, "103") == BAD  # the only notebook, under its own name
    assert (submitted(course, "104"), submitted(course, "105")) == (GOOD, BAD)
    assert not course.submitted_dir("106", "tiny").exists()
    # lateness as nbgrader's timestamp, taken from the zip entry of the chosen file
    ts = (course.submitted_dir("102", "tiny") / "timestamp.txt").read_text().strip()
    assert ts == "2026-03-09 23:59:00.000000 UTC"
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln[:3].isdigit()}
    assert "late" in lines["102"] and "canvas marks it late" in lines["102"]
    assert "renamed 'my tiny notebook.ipynb' -> 'tiny.ipynb'" in lines["103"]
    assert "no-submission" in lines["106"] and "Absent, Al" in lines["106"]
    # the resubmission table: what was chosen, over what, and why
    choice = [ln for ln in out.splitlines() if "highest resubmission" in ln]
    assert len(choice) == 1 and choice[0].split()[:3] == ["101", "tiny", "tiny-2.ipynb"]
    assert "tiny-1.ipynb, tiny.ipynb  highest resubmission number (2)" in choice[0]
    assert rc == 1  # a student submitted nothing
    with course.gradebook() as gb:
        zoe = gb.find_student("102")
        assert (zoe.first_name, zoe.last_name) == ("Zoë", "Ünïcode")
    rec = CollectRecord.load(course.root, "tiny")
    by = {s.student_id: s for s in rec.students}
    assert rec.layout == "canvas" and by["102"].late and by["101"].files == {
        "tiny": "tiny-2.ipynb"}


def moodle_zip(tmp_path) -> Path:
    d = "Zoë Ünïcode_202_assignsubmission_file_"
    return make_zip(tmp_path / "moodle.zip", [
        ("Ada Lovelace_201_assignsubmission_file_/tiny.ipynb", BAD, (2026, 3, 1, 9, 0, 0),
         "file"),
        ("Ada Lovelace_201_assignsubmission_file_/tiny (1).ipynb", GOOD, (2026, 3, 1, 11, 0, 0),
         "file"),
        (f"{d}/Tiny.ipynb", GOOD, None, "file"),
        ("Ada Lovelace_201_assignsubmission_onlinetext_/onlinetext.html", b"<p>hi</p>", None,
         "file"),
        # the flat variant, and two participants sharing a full name
        ("John Smith_203_assignsubmission_file_tiny.ipynb", GOOD, None, "file"),
        ("John Smith_204_assignsubmission_file_tiny.ipynb", BAD, None, "file"),
    ])


def test_moodle_zip_collects_by_participant_id(course, tmp_path):
    roster = moodle_roster(tmp_path / "worksheet.csv", [
        ("Ada Lovelace", "201", "ada@example.org"), ("Zoë Ünïcode", "202", "zoe@example.org"),
        ("John Smith", "203", "js1@example.org"), ("John Smith", "204", "js2@example.org"),
        ("Al Absent", "205", "al@example.org")])
    rep = collect(course, "tiny", moodle_zip(tmp_path), roster=roster, progress=False)
    assert rep.layout == "moodle"
    assert submitted(course, "201") == GOOD  # "tiny (1)": the later resubmission
    assert submitted(course, "202") == GOOD
    assert (submitted(course, "203"), submitted(course, "204")) == (GOOD, BAD)
    assert row_of(rep, "205").status == "no-submission"
    assert row_of(rep, "202").name == "Zoë Ünïcode"
    assert [(c.student, c.chosen) for c in rep.choices] == [("201", "tiny (1).ipynb")]
    with course.gradebook() as gb:
        assert gb.find_student("202").email == "zoe@example.org"
    assert not (course.submitted_dir("201", "tiny") / "onlinetext.html").exists()


def test_layout_detection_and_the_choice_printed(course, tmp_path):
    assert detect_layout(["a_1_2_x.ipynb", "b_3_4_y.ipynb"]) == "canvas"
    assert detect_layout(["A B_7_assignsubmission_file_"]) == "moodle"
    assert detect_layout(["alice", "bob"]) == "folder"
    assert parse_canvas_name("doejane_late_12_34_ps (1).ipynb").late
    folder = tmp_path / "in"
    (folder / "alice" / "tiny").mkdir(parents=True)
    (folder / "alice" / "tiny" / "tiny.ipynb").write_bytes(GOOD)
    rc, out = run_cli("--course-dir", course.root, "collect", "tiny", folder, "--lms", "folder")
    assert rc == 0 and "layout: folder (--lms)" in out
    with pytest.raises(SystemExit):  # argparse refuses it
        run_cli("--course-dir", course.root, "collect", "tiny", folder, "--lms", "blackboard")
    with pytest.raises(ValueError, match="lms: expected one of canvas, moodle, folder"):
        collect(course, "tiny", folder, lms="blackboard", progress=False)


def test_untouched_release_is_not_attempted(course, tmp_path):
    folder = tmp_path / "in"
    for student, data in (("lazy", RELEASE), ("busy", GOOD)):
        (folder / student).mkdir(parents=True)
        (folder / student / "tiny.ipynb").write_bytes(data)
    rc, out = run_cli("--course-dir", course.root, "collect", "tiny", folder)
    lazy = [ln for ln in out.splitlines() if ln.startswith("lazy")][0]
    assert "not-attempted" in lazy and "no answer cell changed" in lazy
    assert "1 of 2 students have a complete submission of tiny; 1 not attempted" in out
    assert rc == 0  # both collected as submitted


# -- folder downloads: students are the top-level folders ------------------------------------
def test_nested_assignment_folder_is_not_a_student(course, tmp_path):
    folder = tmp_path / "in"
    for student in ("victim", "attacker"):
        (folder / student / "tiny").mkdir(parents=True)
        (folder / student / "tiny" / "tiny.ipynb").write_bytes(GOOD)
    # the attacker's own submission holds "victim/tiny/tiny.ipynb" (a 0) and "absent/tiny"
    for name in ("victim", "absent"):
        (folder / "attacker" / "tiny" / name / "tiny").mkdir(parents=True)
        (folder / "attacker" / "tiny" / name / "tiny" / "tiny.ipynb").write_bytes(BAD)
    rep = collect(course, "tiny", folder, progress=False)
    assert submitted(course, "victim") == GOOD and submitted(course, "attacker") == GOOD
    assert not course.submitted_dir("absent", "tiny").exists()
    assert sorted(r.student for r in rep.rows) == ["attacker", "victim"]
    assert "ignored victim/tiny/tiny.ipynb: in a subfolder" in row_of(rep, "attacker").note


def test_zip_without_folder_entries(course, tmp_path):
    z = make_zip(tmp_path / "plain.zip", [("wrap/alice/tiny/tiny.ipynb", GOOD, None, "file"),
                                          ("wrap/bob/tiny.ipynb", BAD, None, "file")])
    rep = collect(course, "tiny", z, progress=False)
    assert {r.student: r.status for r in rep.rows} == {"alice": "ok", "bob": "ok"}
    assert submitted(course, "alice") == GOOD and submitted(course, "bob") == BAD


def test_extra_subfolder_does_not_hide_flat_submissions(course, tmp_path):
    folder = tmp_path / "in"
    (folder / "odd" / "tiny").mkdir(parents=True)
    (folder / "odd" / "tiny" / "tiny.ipynb").write_bytes(GOOD)
    for student in ("flat1", "flat2"):
        (folder / student / "scratch").mkdir(parents=True)
        (folder / student / "tiny.ipynb").write_bytes(GOOD)
    rep = collect(course, "tiny", folder, progress=False)
    assert {r.student: r.status for r in rep.rows} == {"odd": "ok", "flat1": "ok",
                                                       "flat2": "ok"}


def test_links_in_a_folder_are_never_followed(course, tmp_path):
    folder = tmp_path / "in"
    secret = tmp_path / "solutions.ipynb"
    secret.write_bytes(b'{"SECRET": 1}')
    (folder / "aaa-loop" / "tiny").mkdir(parents=True)
    os.symlink("..", folder / "aaa-loop" / "tiny" / "again")  # a loop
    os.symlink(folder / "aaa-loop", folder / "aaa-loop" / "tiny" / "again2")
    (folder / "leak").mkdir()
    os.symlink(secret, folder / "leak" / "tiny.ipynb")  # out of the submission
    (folder / "thief").mkdir()
    os.symlink(folder / "zz-honest" / "tiny.ipynb", folder / "thief" / "tiny.ipynb")
    (folder / "zz-honest").mkdir()
    (folder / "zz-honest" / "tiny.ipynb").write_bytes(GOOD)
    os.symlink(folder / "zz-honest", folder / "alias")  # a student folder that is a link
    rep = collect(course, "tiny", folder, progress=False)
    assert submitted(course, "zz-honest") == GOOD  # sorted after the loop, still collected
    for student in ("leak", "thief"):
        row = row_of(rep, student)
        assert row.status == "missing" and "skipped tiny.ipynb: a link" in row.note
        assert not (course.submitted_dir(student, "tiny") / "tiny.ipynb").exists()
    assert row_of(rep, "aaa-loop").status == "missing"
    assert not course.submitted_dir("alias", "tiny").exists()
    assert row_of(rep, "(download)").note.startswith("alias: a link")


# -- hostile zips: each bad entry costs only its own student ---------------------------------
def hostile(tmp_path, course, extra: list, patch=None):
    """A Canvas zip of two honest students plus ``extra`` entries, collected with a roster."""
    entries = [("lovelaceada_101_9001_tiny.ipynb", GOOD, None, "file"),
               ("zzhonest_105_9005_tiny.ipynb", GOOD, None, "file")] + extra
    z = make_zip(tmp_path / "hostile.zip", entries)
    if patch:
        patch_declared_size(z, *patch)
    roster = canvas_roster(tmp_path / "canvas.csv", CANVAS_CLASS)
    before = set(tmp_path.rglob("*"))
    rep = collect(course, "tiny", z, roster=roster, progress=False)
    assert submitted(course, "101") == GOOD and submitted(course, "105") == GOOD
    new = [p for p in set(tmp_path.rglob("*")) - before if p.is_file()
           and course.root not in p.parents]
    assert new == [], f"written outside the course: {new}"
    return rep


def test_path_traversal_entries_are_skipped(course, tmp_path):
    rep = hostile(tmp_path, course, [
        ("../../escape.ipynb", GOOD, None, "file"),
        ("/tmp/rnn-course-abs.ipynb", GOOD, None, "file"),
        ("../hoppergrace_103_9003_tiny.ipynb", BAD, None, "file")])
    assert not Path("/tmp/rnn-course-abs.ipynb").exists()
    assert not (tmp_path.parent / "escape.ipynb").exists()
    bad = [r for r in rep.rows if "leaves the download" in r.note]
    assert len(bad) == 2 and all(r.status == "rejected" for r in bad)
    # a traversal that still names a student is charged to that student alone
    row = row_of(rep, "103")
    assert row.status == "missing" and "a path outside the submission" in row.note


def test_symlink_entries_are_never_written(course, tmp_path):
    rep = hostile(tmp_path, course, [
        ("hoppergrace_103_9003_tiny.ipynb", str(course.source_dir("tiny") / "tiny.ipynb")
         .encode(), None, "link")])
    row = row_of(rep, "103")
    assert row.status == "missing" and "skipped tiny.ipynb: a link" in row.note
    assert not (course.submitted_dir("103", "tiny") / "tiny.ipynb").exists()


def test_entry_declaring_3_gib_costs_only_its_student(course, tmp_path):
    rep = hostile(tmp_path, course, [("hoppergrace_103_9003_tiny.ipynb", GOOD, None, "file")],
                  patch=("hoppergrace_103_9003_tiny.ipynb", 3 * 2**30))
    row = row_of(rep, "103")
    assert row.status == "missing" and f"declares {3 * 2**30} bytes" in row.note


def test_compressed_bomb_is_refused_by_its_declared_size(course, tmp_path):
    bomb = b"\0" * (MAX_FILE_BYTES + 2**20)  # deflates to ~60 KiB
    rep = hostile(tmp_path, course, [("hoppergrace_103_9003_tiny.ipynb", bomb, None, "file")])
    assert "over the 64 MiB limit" in row_of(rep, "103").note
    assert (tmp_path / "hostile.zip").stat().st_size < 2**20


def test_entry_larger_than_its_header_declares(course, tmp_path):
    rep = hostile(tmp_path, course, [("hoppergrace_103_9003_tiny.ipynb", GOOD, None, "file")],
                  patch=("hoppergrace_103_9003_tiny.ipynb", 100))
    row = row_of(rep, "103")
    assert row.status == "missing" and "could not read tiny.ipynb: BadZipFile" in row.note


def test_duplicate_students(course, tmp_path):
    # two submissions of one user (Canvas ids 9003 and 9013), and a roster row twice
    z = make_zip(tmp_path / "dup.zip", [
        ("hoppergrace_103_9013_tiny.ipynb", GOOD, None, "file"),
        ("hoppergrace_103_9003_tiny.ipynb", BAD, None, "file"),
        ("lovelaceada_101_9001_tiny.ipynb", GOOD, None, "file")])
    roster = canvas_roster(tmp_path / "canvas.csv", CANVAS_CLASS + [("Lovelace, Ada", "101",
                                                                     "ada2")])
    rep = collect(course, "tiny", z, roster=roster, progress=False)
    assert submitted(course, "103") == GOOD
    assert "two submissions (9003, 9013): kept the newer 9013" in row_of(rep, "103").note
    assert "duplicate id 101; the first row is kept" in row_of(rep, "(roster)").note
    assert submitted(course, "101") == GOOD


def test_files_matching_no_roster_entry(course, tmp_path):
    rep = hostile(tmp_path, course, [
        ("strangerdanger_999_9999_tiny.ipynb", GOOD, None, "file"),
        ("readme.txt", b"hello", None, "file")])
    row = row_of(rep, "999")
    assert row.status == "not-on-roster" and "nothing collected (tiny.ipynb)" in row.note
    assert not course.submitted_dir("999", "tiny").exists()
    assert "readme.txt: not named as Canvas names a submission" in row_of(rep, "(download)").note


def test_non_notebook_files_are_listed_not_copied(course, tmp_path):
    rep = hostile(tmp_path, course, [
        ("hoppergrace_103_9003_tiny.ipynb", GOOD, None, "file"),
        ("hoppergrace_103_9003_tiny.py", b"print('hi')", None, "file"),
        ("hoppergrace_103_9003_photo.png", b"\x89PNG", None, "file")])
    row = row_of(rep, "103")
    assert row.status == "ok"
    assert "ignored tiny.py: not a notebook" in row.note
    assert "ignored photo.png: not a notebook" in row.note
    assert [p.name for p in course.submitted_dir("103", "tiny").iterdir()] == ["tiny.ipynb"] \
        or sorted(p.name for p in course.submitted_dir("103", "tiny").iterdir()) == [
            "timestamp.txt", "tiny.ipynb"]


def test_not_a_zip_is_a_clear_error(course, tmp_path):
    bad = tmp_path / "submissions.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    rc = run_cli("--course-dir", course.root, "collect", "tiny", bad)[0]
    assert rc == 2


# -- what the instructor reads ---------------------------------------------------------------
def test_forged_names_do_not_forge_rows(course, tmp_path):
    folder = tmp_path / "in"
    forged = "evil\n\x1b[2Ka-honest  ok  \x1b[31m"
    (folder / forged).mkdir(parents=True)
    (folder / forged / "tiny\nx.ipynb").write_bytes(GOOD)
    (folder / "honest").mkdir()
    (folder / "honest" / "tiny.ipynb").write_bytes(GOOD)
    rc, out = run_cli("--course-dir", course.root, "collect", "tiny", folder)
    assert "\x1b" not in out
    assert not any(ln.startswith("a-honest") for ln in out.splitlines())
    assert "evil\\n\\x1b[2Ka-honest" in out  # one row, visibly escaped
    assert [ln for ln in out.splitlines() if ln.startswith("evil")][0].count("rejected") == 1


def test_printable_escapes_what_a_student_can_write():
    assert printable("a\nb\r\tc") == "a\\nb\\r\\tc"
    assert printable("\x1b[31mred") == "\\x1b[31mred"
    assert printable("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    assert printable("bidi \u202e flip, zero\u200bwidth") == "bidi \\u202e flip, zero\\u200bwidth"
    assert printable("Zoë Ünïcode 日本") == "Zoë Ünïcode 日本"
    assert printable("back\\nslash") == "back\\\\nslash"  # an escape cannot be faked
    assert printable("x" * 300) == "x" * 199 + "…" and len(printable("y" * 50, 10)) == 10
    printable("\ud800").encode("utf-8")  # always encodable
    assert printable(None) == ""
    with pytest.raises(ValueError, match="limit"):
        printable("x", 0)
