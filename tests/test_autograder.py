"""The autograder: a class of hostile and broken submissions graded safely and reproducibly.

One module fixture grades the tiny fixture assignment (tests/autograder_fixtures) for ~25
students, each misbehaving in one way, twice (the second time with --force); the tests then
check every student's score and reason, the sandbox's isolation, the gradebook's integrity,
feedback, export and the CLI's contracts.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import os
import shutil
import socket
import sqlite3
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_lib.autograde import cli
from course_lib.autograde.autograde import Autograder, Limits, probe_namespaces
from course_lib.autograde.collect import read_roster
from course_lib.autograde.course import Course
from course_lib.autograde.scoring import integrity_check

pytestmark = pytest.mark.nbgrader

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "autograder_fixtures"
_spec = importlib.util.spec_from_file_location("ag_submissions", FIX / "submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)

GRADE_ARGS = ["--jobs", "2", "--timeout", "3", "--notebook-timeout", "20", "--memory-mb",
              "1024", "--nproc", "32", "--quiet"]


def run_cli(*argv) -> tuple:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue()


def scores_of(course: Course, assignment: str = "tiny") -> dict:
    with course.gradebook() as gb:
        return {s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades}
                for s in gb.find_assignment(assignment).submissions}


def total(scores: dict) -> float:
    return float(sum(scores.values()))


def sandbox_uids_alive() -> list:
    """Processes of this test run's private sandbox uids still running."""
    base = 200000 + (os.getpid() % 1000) * 1000  # as Autograder picks them
    left = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                for line in open(f"/proc/{d}/status"):
                    if line.startswith("Uid:"):
                        if base <= int(line.split()[1]) < base + 1000:
                            left.append(int(d))
                        break
            except OSError:
                pass
    return left


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("autograder")
    course_dir = tmp / "course"
    shutil.copytree(FIX / "course", course_dir)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    cases = subs.cases(port=port, course_dir=str(course_dir), repo=str(REPO))
    if os.geteuid() == 0 and not probe_namespaces():
        # root without a private uid is not bound by RLIMIT_NPROC: never fork-bomb the host
        cases.pop("forkbomb")
    incoming = tmp / "incoming" / "export-from-lms"
    expected = subs.write_submissions(incoming, cases)
    # an LMS zip: one top folder, <student>/<assignment>/...
    zpath = tmp / "submissions.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(incoming.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(incoming.parent))
    roster = tmp / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "first_name", "last_name", "email"])
        w.writerow(["good", "Ada", "Lovelace", "ada@example.org"])
        w.writerow(["zoë-ünïcode", "Zoë", "Ünïcode", ""])
        w.writerow(["absent", "Ab", "Sent", ""])
    rc_collect, out_collect = run_cli("--course-dir", course_dir, "collect", "tiny", zpath,
                                      "--roster", roster)
    escapes = [Path("/tmp/rnn-course-escape.txt"), Path("/tmp/escape.txt"),
               REPO / "course_lib" / "escape.py"]
    for p in escapes:
        assert not p.exists(), f"left over from an earlier run: {p}"
    rc1, out1 = run_cli("--course-dir", course_dir, "autograde", "tiny", *GRADE_ARGS)
    course = Course(course_dir)
    scores1 = scores_of(course)
    try:
        conn, _ = listener.accept()
        conn.close()
        accepted = True
    except BlockingIOError:
        accepted = False
    escaped = [str(p) for p in escapes if p.exists()]
    alive = sandbox_uids_alive()
    rc2, out2 = run_cli("--course-dir", course_dir, "autograde", "tiny", "--force", *GRADE_ARGS)
    scores2 = scores_of(course)
    listener.close()
    return dict(course=course, course_dir=course_dir, expected=expected, tmp=tmp,
                rc_collect=rc_collect, out_collect=out_collect, rc1=rc1, out1=out1,
                rc2=rc2, out2=out2, scores1=scores1, scores2=scores2, accepted=accepted,
                escaped=escaped, alive=alive, roster=roster)


def stable(graded: dict, scores: dict) -> dict:
    """Scores of the students whose score is fixed (not the CPU hog's)."""
    return {s: v for s, v in scores.items() if graded["expected"].get(s, (0,))[0] is not None}


def summary_row(out: str, student: str) -> str:
    rows = [ln for ln in out.splitlines() if ln.split("  ")[0].strip() == student]
    assert len(rows) == 1, f"{student} not once in the summary:\n{out}"
    return rows[0]


@pytest.mark.slow
def test_collect_from_lms_zip_with_roster(graded):
    course, out = graded["course"], graded["out_collect"]
    # a missing notebook and a student with no submission make collect say "not complete"
    assert graded["rc_collect"] == 1
    assert "renamed 'Tiny (1).ipynb' -> 'tiny.ipynb'" in summary_row(out, "misnamed")
    assert "no-submission" in summary_row(out, "absent")
    assert "missing" in summary_row(out, "missing")
    with course.gradebook() as gb:
        ada = gb.find_student("good")
        assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.org")
        assert gb.find_student("zoë-ünïcode").first_name == "Zoë"
        assert gb.find_student("absent").last_name == "Sent"
    assert (course.submitted_dir("misnamed", "tiny") / "tiny.ipynb").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("student", list(subs.cases().keys()))
def test_each_submission_gets_its_score_and_a_reason(graded, student):
    if student not in graded["expected"]:
        pytest.skip(f"{student}: not safe to run on this machine")
    score, status = graded["expected"][student]
    got = graded["scores1"][student]
    if score is None:  # the CPU hog: only its neighbours' scores are guaranteed
        return
    assert total(got) == score, f"{student}: {got}"
    row = summary_row(graded["out1"], student)
    assert status in row, row
    if score < 3.0:
        # a lost point is always explained in the summary
        assert "lost points" in row or "no tiny.ipynb" in row or "not a readable" in row, row


@pytest.mark.slow
def test_reasons_name_the_failure(graded):
    out = graded["out1"]
    assert "kernel died" in summary_row(out, "osexit")
    assert "kernel died" in summary_row(out, "segfault")
    assert "SystemExit" in summary_row(out, "sysexit")
    assert "ran past 3 s" in summary_row(out, "loop")
    assert "not a readable notebook" in summary_row(out, "corrupt")
    assert "not a readable notebook" in summary_row(out, "empty")
    assert "no tiny.ipynb submitted" in summary_row(out, "missing")
    assert "restored" in summary_row(out, "edited")
    assert "restored deleted cell test_mul" in summary_row(out, "deleted-duplicated")


@pytest.mark.slow
def test_grading_again_gives_identical_scores_and_a_sound_gradebook(graded):
    assert graded["rc1"] == 0, graded["out1"]
    assert graded["rc2"] == 0, graded["out2"]
    assert stable(graded, graded["scores1"]) == stable(graded, graded["scores2"])
    assert set(graded["scores1"]) == set(graded["expected"])
    with graded["course"].gradebook() as gb:
        assert integrity_check(gb, "tiny") == []
    assert "INTEGRITY" not in graded["out1"]


@pytest.mark.slow
@pytest.mark.slow
def test_student_text_cannot_forge_a_summary_row(graded):
    for out in (graded["out1"], graded["out2"]):
        assert not [ln for ln in out.splitlines() if ln.startswith("forged-row")], out
        assert "\x1b" not in out
        assert "Oops\\nforged-row" in summary_row(out, "forge-row")


@pytest.mark.slow
def test_tags_on_test_cells_and_lone_surrogates_change_nothing(graded):
    nb = nbformat.read(str(graded["course"].autograded_dir("skip-tag", "tiny") / "tiny.ipynb"), 4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert "tags" not in cell.metadata and cell.outputs
    text = (graded["course"].autograded_dir("surrogate", "tiny") / "tiny.ipynb").read_text(
        encoding="utf-8")
    assert "broken \ufffd text" in text
    assert graded["rc1"] == 0 and graded["rc2"] == 0


def test_rerun_without_force_skips_graded(graded):
    rc, out = run_cli("--course-dir", graded["course_dir"], "autograde", "tiny", *GRADE_ARGS)
    assert rc == 0
    assert f"graded 0, skipped {len(graded['expected'])}" in out
    assert "skipped: ok" in summary_row(out, "good")
    assert stable(graded, scores_of(graded["course"])) == stable(graded, graded["scores1"])


def _outputs(course: Course, student: str) -> str:
    nb = json.loads((course.autograded_dir(student, "tiny") / "tiny.ipynb")
                    .read_text(encoding="utf-8"))
    return json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)


@pytest.mark.slow
@pytest.mark.skipif(not probe_namespaces(), reason="no namespaces on this machine")
@pytest.mark.slow
def test_sandbox_hides_solutions_gradebook_and_other_students(graded):
    out = _outputs(graded["course"], "snoop")
    assert "LEAK" not in out
    assert out.count("blocked") == 5


@pytest.mark.slow
@pytest.mark.skipif(not probe_namespaces(), reason="no namespaces on this machine")
@pytest.mark.slow
def test_sandbox_has_no_network(graded):
    out = _outputs(graded["course"], "snoop")
    assert "CONNECTED" not in out
    assert out.count("no network") == 2
    assert not graded["accepted"], "the student's code reached the host's loopback"


@pytest.mark.slow
def test_writes_outside_the_submission_do_not_land(graded):
    assert graded["escaped"] == []
    out = _outputs(graded["course"], "snoop")
    assert "WROTE " + str(REPO) not in out
    assert "WROTE " + str(graded["course_dir"]) not in out
    with graded["course"].gradebook() as gb:
        assert integrity_check(gb) == []


@pytest.mark.slow
def test_fork_bomb_is_bounded_and_cleaned_up(graded):
    assert graded["alive"] == [], "sandbox processes survived their submission"
    assert os.geteuid() != 0 or "process limit RLIMIT_NPROC: on" in graded["out1"]


@pytest.mark.slow
def test_huge_output_is_truncated(graded):
    path = graded["course"].autograded_dir("huge-output", "tiny") / "tiny.ipynb"
    assert path.stat().st_size < 3 * 2**20
    assert "output truncated by the autograder" in path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_feedback_shows_messages_not_hidden_tests(graded):
    rc, out = run_cli("--course-dir", graded["course_dir"], "feedback", "tiny")
    assert rc == 0, out
    html = (graded["course"].feedback_dir("hidden-fail", "tiny") / "tiny.html").read_text(
        encoding="utf-8")
    assert "mul(-2, 5): expected -10" in html  # the hidden test's message
    assert "assert mul(-2, 5)" not in html  # but not its code
    assert "hidden tests: their messages are shown" in html
    assert (graded["course"].feedback_dir("zoë-ünïcode", "tiny") / "tiny.html").is_file()


@pytest.mark.slow
def test_export_grade_csv_and_problem_csv(graded):
    dest = graded["tmp"] / "out" / "grades.csv"
    rc, out = run_cli("--course-dir", graded["course_dir"], "export", "--csv", dest)
    assert rc == 0
    rows = list(csv.DictReader(open(dest, encoding="utf-8")))
    by = {r["student_id"]: r for r in rows}
    assert set(by) == set(graded["expected"]) | {"absent"}
    assert float(by["good"]["score"]) == 3.0 and float(by["good"]["max_score"]) == 3.0
    assert float(by["bug"]["score"]) == 1.0 and by["absent"]["score"] == "0.0"
    assert by["zoë-ünïcode"]["first_name"] == "Zoë"
    probs = list(csv.DictReader(open(dest.with_name("grades_problems.csv"), encoding="utf-8")))
    assert len(probs) == 2 * len(graded["expected"])
    bug = {r["problem"]: float(r["score"]) for r in probs if r["student_id"] == "bug"}
    assert bug == {"test_add": 1.0, "test_mul": 0.0}


@pytest.mark.slow
def test_integrity_check_catches_a_corrupt_gradebook(graded, tmp_path):
    db = graded["course"].db_path
    copy = tmp_path / "gradebook.db"
    shutil.copy(db, copy)
    con = sqlite3.connect(copy)
    con.execute("UPDATE grade SET auto_score = 7 WHERE id = (SELECT id FROM grade LIMIT 1)")
    con.execute("DELETE FROM grade WHERE id = (SELECT id FROM grade "
                "ORDER BY id DESC LIMIT 1)")
    con.commit()
    con.close()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{copy}") as gb:
        problems = integrity_check(gb, "tiny")
    assert any("outside [0, " in p for p in problems), problems
    assert any("0 grade rows" in p for p in problems), problems


@pytest.mark.slow
def test_single_student_regrade_and_bad_arguments(graded):
    rc, out = run_cli("--course-dir", graded["course_dir"], "autograde", "tiny", "--student",
                      "nobody-here", *GRADE_ARGS)
    assert rc == 2
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=0)
    with pytest.raises(ValueError, match="jobs"):
        Autograder(graded["course"], "tiny", jobs=0)
    with pytest.raises(ValueError, match="course_dir"):
        Course(graded["tmp"] / "no-such-course")
    bad = graded["tmp"] / "bad-roster.csv"
    bad.write_text("name,email\nx,y\n")
    with pytest.raises(ValueError, match="roster: expected a column 'id'"):
        read_roster(bad)


def test_repo_course_dir_points_at_solutions_and_exercises():
    course = Course(REPO / "autograder")
    assert course.source_dir("ps2-rnn-forward") == REPO / "solutions" / "ps2-rnn-forward"
    assert course.release_dir("ps2-rnn-forward") == REPO / "exercises" / "ps2-rnn-forward"
    assert course.root == (REPO / "autograder").resolve()
    assert course.db_path == REPO / "autograder" / "gradebook.db"


REAL = sorted(p.name for p in (REPO / "solutions").glob("ps*")
              if (p / f"{p.name}.ipynb").is_file())


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="no real assignment in solutions/ yet")
def test_release_collect_and_grade_a_real_assignment(tmp_path):
    """The repository's layout (autograder/ beside solutions/ and exercises/) end to end."""
    name = "ps2-rnn-forward" if "ps2-rnn-forward" in REAL else REAL[0]
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "solutions" / name, repo / "solutions" / name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (repo / "autograder").mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", repo / "autograder")
    course_dir = repo / "autograder"
    rc, out = run_cli("--course-dir", course_dir, "release", name)
    assert rc == 0, out
    release = repo / "exercises" / name / f"{name}.ipynb"
    assert release.is_file()
    incoming = tmp_path / "incoming"
    for student, src in (("reference", repo / "solutions" / name / f"{name}.ipynb"),
                         ("blank", release)):
        (incoming / student / name).mkdir(parents=True)
        shutil.copy(src, incoming / student / name / f"{name}.ipynb")
    rc, out = run_cli("--course-dir", course_dir, "collect", name, incoming)
    assert rc == 0, out
    rc, out = run_cli("--course-dir", course_dir, "autograde", name, "--jobs", "2", "--quiet")
    assert rc == 0, out
    course = Course(course_dir)
    scores = {s: total(v) for s, v in scores_of(course, name).items()}
    with course.gradebook() as gb:
        max_score = float(gb.find_assignment(name).max_score)
        assert integrity_check(gb, name) == []
    assert max_score > 0
    assert scores["reference"] == max_score, out
    assert scores["blank"] < max_score, out


@pytest.mark.slow
def test_degrades_gracefully_without_namespaces(graded):
    """Where unshare is unavailable the same grading runs with the protections that remain."""
    ag = Autograder(graded["course"], "tiny", jobs=1, limits=Limits(cell_timeout=5))
    ag.namespaces = False
    res = ag.run(students=["good", "bug"], force=True, progress=False)
    by = {r.student: r for r in res["results"]}
    assert (by["good"].score, by["bug"].score) == (3.0, 1.0)
    assert not any(p.startswith(("network-namespace", "hidden:", "private:"))
                   for p in by["good"].protections)
    assert res["integrity"] == []
    assert stable(graded, scores_of(graded["course"])) == stable(graded, graded["scores1"])


def _source_cells():
    from nbformat.v4 import new_code_cell

    from course_lib.autograde.protocol import SourceCell

    nb = subs.student_view()
    cells = []
    for c in nbformat.read(str(subs.SOURCE), as_version=4).cells:
        m = c.metadata["nbgrader"]
        cells.append(SourceCell(name=m["grade_id"], cell_type=c.cell_type, source=c.source,
                                checksum="x", locked=bool(m.get("locked")),
                                grade=bool(m.get("grade")), solution=bool(m.get("solution")),
                                points=float(m.get("points", 0))))
    return nb, tuple(cells), new_code_cell


def test_sanitize_restores_deleted_edited_duplicated_and_retyped_cells():
    from course_lib.autograde.sanitize import public_source, sanitize

    nb, cells, new_code_cell = _source_cells()
    nb = subs._chain(subs._set("test_mul", "pass"), subs._duplicate("test_add"),
                     subs._retype("test_add"), subs._delete("intro"))(nb)
    nb.cells[1].metadata["nbgrader"]["points"] = 100
    nb.cells.append(new_code_cell("print('mine')", metadata={"nbgrader": {"grade_id": "fake",
                                                                          "grade": True}}))
    # a student's tags on a test cell (skip-execution made nbclient skip it) do not survive
    subs._cell(nb, "test_mul").metadata["tags"] = ["skip-execution"]
    out, notes, claims = sanitize(nb, cells)
    by = {}
    for c in out.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid:
            assert gid not in by, f"{gid} twice"
            by[gid] = c
    src = {c.name: c for c in cells}
    assert set(by) == set(src)  # 'fake' lost its metadata, 'intro' came back
    for gid in ("test_add", "test_mul"):
        assert by[gid].cell_type == "code"
        assert by[gid].source == public_source(src[gid].source)  # hidden tests never sent
        assert by[gid].metadata["nbgrader"]["points"] == src[gid].points
        assert "tags" not in by[gid].metadata
    assert "BEGIN HIDDEN TESTS" not in by["test_mul"].source
    assert any("restored deleted cell intro" in n for n in notes)
    assert any("duplicate cell test_add" in n for n in notes)
    assert [c.source for c in out.cells if c.source == "print('mine')"]


def test_sanitize_reads_the_scores_the_submission_claims():
    from nbformat.v4 import new_output

    from course_lib.autograde.sanitize import sanitize

    nb, cells, _ = _source_cells()
    subs._cell(nb, "test_mul").outputs = [new_output("execute_result", {"text/plain": "2.0"})]
    subs._cell(nb, "test_add").outputs = [new_output("execute_result", {"text/plain": "'x'"})]
    _, _, claims = sanitize(nb, cells)
    assert claims == {"test_mul": 2.0}


def test_redact_source_keeps_visible_tests_only():
    from course_lib.autograde.feedback import HIDDEN_NOTE, redact_source

    src = "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(7) == 8\n### END HIDDEN TESTS\nx = 1"
    out, had = redact_source(src)
    assert had and out == f"assert f(1) == 2\n{HIDDEN_NOTE}\nx = 1"
    assert redact_source("assert True") == ("assert True", False)


def test_collect_renames_only_unambiguous_matches(tmp_path):
    from course_lib.autograde.collect import fix_names

    (tmp_path / "ps2 (1).ipynb").write_text("{}")
    (tmp_path / "notes.ipynb").write_text("{}")
    notes = fix_names(tmp_path, ["ps2", "ps3"])
    assert (tmp_path / "ps2.ipynb").is_file() and (tmp_path / "notes.ipynb").is_file()
    assert notes == ["renamed 'ps2 (1).ipynb' -> 'ps2.ipynb'"]
