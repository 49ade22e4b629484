"""Grades a student cannot forge: the five real assignments through ``rnn-course autograde``.

One module fixture builds a course folder from solutions/, and for every assignment submits
the solution, the untouched release, the planted bugs and reference cheats of
tests/exercise_bugs.py, and every attack of tests/attacks.py (each on top of the untouched
release: whatever it earns is forged). The tests then read the gradebook: the solution scores
full marks, the release and every attack 0, each planted bug loses exactly its cells, and the
checker's messages are the ones the same checks print inside the notebook.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import attacks as attacks_mod  # noqa: E402
import tamper_harness as H  # noqa: E402
from exercise_bugs import BUGS, CHEATS  # noqa: E402

from course_lib.autograde.autograde import probe_namespaces  # noqa: E402
from course_lib.autograde.scoring import integrity_check  # noqa: E402

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

#: what the tests call in each assignment (the names the attacks replace)
ANSWERS = {}


def _answer_names(assignment: str) -> list:
    import ast

    names = []
    for cell in H.release(assignment).cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            names += [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return names


def _attacked(assignment: str, code: str):
    nb = H.release(assignment)
    cell = H.first_answer_cell(nb)
    cell.source = code + "\n" + cell.source
    return nb


def _students(assignment: str) -> dict:
    """student id -> notebook (and extra files) for one assignment."""
    out = {"solution": (H.solved(assignment), {}), "release": (H.release(assignment), {})}
    for bug, (edits, _) in BUGS.get(assignment, {}).items():
        out[f"bug-{bug}"] = (H.solved(assignment, edits), {})
    if assignment in CHEATS:
        out["cheat"] = (H.solved(assignment, CHEATS[assignment][0]), {})
    names = _answer_names(assignment)
    for name, code in attacks_mod.attacks(names, str(H.ROOT)).items():
        out[f"attack-{name}"] = (_attacked(assignment, code), {})
    out["attack-shadow-package"] = (H.release(assignment),
                                    {attacks_mod.SHADOW_PACKAGE: attacks_mod.SHADOW_SOURCE})
    # the instructor's own solution notebook, hidden tests and all: full marks, flagged
    sol = nbformat.read(str(H.ROOT / "solutions" / assignment / f"{assignment}.ipynb"), 4)
    out["copied-solution"] = (sol, {})
    return out


@pytest.fixture(scope="module")
def tampered(tmp_path_factory):
    if os.geteuid() == 0 and not probe_namespaces():
        pytest.skip("root without namespaces: the sandbox cannot hide the reference here")
    course = H.make_course(tmp_path_factory.mktemp("tamper"))
    students = {}
    for a in H.ASSIGNMENTS:
        students[a] = _students(a)
        for student, (nb, extra) in students[a].items():
            H.submit(course, a, student, nb)
            for rel, text in extra.items():
                dest = course / "submitted" / student / a / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(text)
    outs, rcs = {}, {}
    for a in H.ASSIGNMENTS:
        # attacks that hang their own kernel cost at most these limits
        rcs[a], outs[a] = H.run_cli("--course-dir", course, "autograde", a, "--jobs", "2",
                                    "--timeout", "60", "--notebook-timeout", "240", "--quiet")
    scores = {a: H.scores(course, a) for a in H.ASSIGNMENTS}
    return dict(course=course, students=students, outs=outs, rcs=rcs, scores=scores)


def _total(cells: dict) -> float:
    return float(sum(cells.values()))


def _max(tampered, assignment) -> float:
    return _total(tampered["scores"][assignment]["solution"])


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_solution_full_marks_release_zero_and_a_sound_gradebook(tampered, assignment):
    s, out = tampered["scores"][assignment], tampered["outs"][assignment]
    assert tampered["rcs"][assignment] == 0, out
    from course_lib.autograde.course import Course

    with Course(tampered["course"]).gradebook() as gb:
        max_score = float(gb.find_assignment(assignment).max_score)
        assert integrity_check(gb, assignment) == []
    assert _total(s["solution"]) == max_score, out
    assert _total(s["release"]) == 0.0, out


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_every_attack_scores_nothing(tampered, assignment):
    s, out = tampered["scores"][assignment], tampered["outs"][assignment]
    forged = {st: _total(c) for st, c in s.items() if st.startswith("attack-") and _total(c) > 0}
    assert forged == {}, out
    n = sum(st.startswith("attack-") for st in s)
    assert n == len(attacks_mod.attacks([], "")) + 1


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_planted_bugs_lose_exactly_their_cells(tampered, assignment):
    s = tampered["scores"][assignment]
    solution = s["solution"]
    for bug, (_, lose) in BUGS.get(assignment, {}).items():
        got = s[f"bug-{bug}"]
        lost = {c for c, v in got.items() if v < solution[c] - 1e-9}
        assert lost == set(lose), f"{bug}: lost {sorted(lost)}, expected {sorted(lose)}"


@pytest.mark.parametrize("assignment", sorted(CHEATS))
def test_calling_the_reference_scores_zero_where_it_is_called(tampered, assignment):
    if assignment not in H.ASSIGNMENTS:
        pytest.skip(f"{assignment} not in solutions/")
    _, zero = CHEATS[assignment]
    got = tampered["scores"][assignment]["cheat"]
    assert {c: got[c] for c in zero} == {c: 0.0 for c in zero}


def _hidden_code(source: str) -> list:
    lines, inside = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line)
    return lines


def _test_cells(nb) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_the_notebook_shows_the_checkers_messages_and_no_hidden_code(tampered, assignment):
    tests = _test_cells(H.autograded(tampered["course"], assignment, "release"))
    assert tests
    for gid, cell in tests.items():
        assert _hidden_code(cell.source) == [], gid
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert "[FAIL]" in text or any(o.get("output_type") == "error" for o in cell.outputs), gid


def _direct_outputs(assignment: str, edits) -> dict:
    """The same checks run inside the notebook (nbclient, hidden tests included)."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(H.ROOT / "solutions" / assignment / f"{assignment}.ipynb"), 4)
    cells = H.cells(nb)
    for grade_id, old, new in edits:
        cells[grade_id].source = (new if old is None
                                  else cells[grade_id].source.replace(old, new, 1))
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(H.ROOT)}}).execute()
    return {gid: "".join(o.get("text", "") for o in c.outputs if o.get("name") == "stdout")
            for gid, c in _test_cells(nb).items()}


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_checker_and_notebook_print_the_same_messages_and_points(tampered, assignment):
    """One set of checks, two modes: a buggy submission reads the same lines either way."""
    bug, (edits, _) = next(iter(BUGS[assignment].items()))
    direct = _direct_outputs(assignment, edits)
    checked = _test_cells(H.autograded(tampered["course"], assignment, f"bug-{bug}"))
    for gid, text in direct.items():
        got = "".join(o.get("text", "") for o in checked[gid].outputs if o.get("name") == "stdout")
        assert got == text, f"{assignment}/{gid}: checker\n{got}\nnotebook\n{text}"


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_hidden_tests_never_reach_the_sandbox(tampered, assignment):
    nb = H.autograded(tampered["course"], assignment, "attack-read-hidden")
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "no hidden tests visible" in text and "HIDDEN FOUND" not in text


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_no_ipc_or_host_file_survives(tampered, assignment):
    nb = H.autograded(tampered["course"], assignment, "attack-shm-and-locks")
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "WROTE /run/lock" not in text and "WROTE /var/lock" not in text
    assert not Path("/run/lock/rnn-course-leak").exists()
    keys = Path("/proc/sysvipc/shm").read_text().split("\n")[1:]
    assert not [k for k in keys if k.split() and int(k.split()[0]) == 0x52434F55]


@pytest.mark.parametrize("assignment", H.ASSIGNMENTS)
def test_copying_the_instructors_solution_is_flagged_not_rescored(tampered, assignment):
    row = [ln for ln in tampered["outs"][assignment].splitlines()
           if ln.startswith("copied-solution ")]
    assert row and "identical to the instructor's solutions" in row[0]
    assert _total(tampered["scores"][assignment]["copied-solution"]) == _max(tampered, assignment)


def test_export_gives_each_lost_problem_the_checkers_diagnosis(tampered, tmp_path):
    """grades_problems.csv carries the diagnosis printed under the test cell, for item analysis."""
    import csv

    dest = tmp_path / "grades.csv"
    rc, out = H.run_cli("--course-dir", tampered["course"], "export", "--csv", dest)
    assert rc == 0, out
    rows = list(csv.DictReader(open(dest.with_name("grades_problems.csv"), encoding="utf-8")))
    assert rows and all("diagnosis" in r for r in rows)
    assert not [r for r in rows if r["student_id"] == "solution" and r["diagnosis"]]
    diagnosed = [r for r in rows if r["diagnosis"]]
    assert diagnosed, "no planted bug got a diagnosis in the export"
    for r in diagnosed:
        assert float(r["score"]) < float(r["max_score"]), r
        nb = H.autograded(tampered["course"], r["assignment"], r["student_id"])
        printed = "".join(o.get("text", "") for o in _test_cells(nb)[r["problem"]].outputs)
        flat = " ".join(printed.split())
        parts = r["diagnosis"].split(" | ")
        if r["diagnosis"].endswith("…"):  # cut to the CSV's field length
            parts = parts[:-1]
        for part in parts:
            assert part in flat, (r, printed)
