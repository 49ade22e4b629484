"""The five nbgrader assignments, driven through the real nbgrader.

In a temporary course directory (two of them, graded in parallel): ``nbgrader
generate_assignment`` from solutions/, then one ``nbgrader autograde`` per group over many
"students" per assignment: the solution, the untouched release, every planted bug of
tests/exercise_bugs.py and a submission that calls the course_lib reference. Then
``nbgrader validate`` on the solutions, and a fresh ``generate_release`` compared with the
committed exercises/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_lib.autograde.release import ASSIGNMENTS, generate_release, nbgrader_command, nbgrader_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
from exercise_bugs import BUGS, CHEATS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def nbgrader_test(fn):
    """Marks a test that drives the real nbgrader (minutes, shared by the module fixture)."""
    return pytest.mark.nbgrader(pytest.mark.slow(fn))

# Two groups of about equal cost, graded in parallel (ps4 trains a model, ps2 and ps5 import
# torch, ps1 and ps3 are light).
GROUPS = [("ps4-design-patterns", "ps3-bptt"),
          ("ps1-language-models", "ps2-rnn-forward", "ps5-lstm")]

CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "rnn-course-tests"
c.Autograde.create_student = True
# generous: a solved notebook needs 5-30 s, but CI machines may be loaded (kernel start included)
c.Execute.timeout = 300
c.Execute.startup_timeout = 300
c.Execute.execute_retries = 1
"""


def _cells(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


def _edit(source_nb, edits):
    """The solved notebook in release form (locked cells from the release), with edits."""
    nb = nbformat.read(str(source_nb), as_version=4)
    cells = _cells(nb)
    for grade_id, old, new in edits:
        cell = cells[grade_id]
        if old is None:
            cell.source = new
        else:
            assert old in cell.source, f"fixture out of date: {old!r} not in cell {grade_id}"
            cell.source = cell.source.replace(old, new, 1)
    return nb


def _submission(release_nb, solved, edits=()):
    """The release notebook whose solution cells hold the (edited) solution's code."""
    rel = nbformat.read(str(release_nb), as_version=4)
    sol = _cells(_edit(solved, edits))
    for cell in rel.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = sol[meta["grade_id"]].source
    return rel


def _students(assignment):
    out = {"solution": [], "cheat": CHEATS[assignment][0]}
    for bug, (edits, _) in BUGS[assignment].items():
        out[f"bug-{bug}"] = edits
    return out


def _run(cmd, cwd):
    return subprocess.Popen(cmd, cwd=cwd, env=nbgrader_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade everything once: {assignment: {student: {cell: (score, max)}}}, validate output."""
    start = time.time()
    courses = []
    for k, group in enumerate(GROUPS):
        course = tmp_path_factory.mktemp(f"course{k}")
        (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course)))
        for a in group:
            shutil.copytree(ROOT / "solutions" / a, course / "source" / a)
        courses.append((course, group))

    # generate (with the gradebook: autograde restores the hidden tests from it)
    procs = [_run(nbgrader_command() + ["generate_assignment", "*", "--force"], c) for c, _ in courses]
    for p, (course, _) in zip(procs, courses):
        out = p.communicate()[0]
        assert p.returncode == 0, f"generate_assignment failed in {course}:\n{out}"

    for course, group in courses:
        for a in group:
            release = course / "release" / a / f"{a}.ipynb"
            solved = ROOT / "solutions" / a / f"{a}.ipynb"
            students = {"release": None, **_students(a)}
            for student, edits in students.items():
                dest = course / "submitted" / student / a
                dest.mkdir(parents=True)
                nb = (nbformat.read(str(release), as_version=4) if edits is None
                      else _submission(release, solved, edits))
                nbformat.write(nb, str(dest / f"{a}.ipynb"))

    # autograde every student of every assignment of a group with one nbgrader call, the two
    # groups in parallel; then validate the solutions, again one call per group
    procs = [_run(nbgrader_command() + ["autograde", "*", "--force"], c) for c, _ in courses]
    logs = [p.communicate()[0] for p in procs]
    procs = [_run(nbgrader_command() + ["validate"]
                  + [str(ROOT / "solutions" / a / f"{a}.ipynb") for a in group], c)
             for c, group in courses]
    validate = {}
    for p, (_, group) in zip(procs, courses):
        out = p.communicate()[0]
        validate.update({a: out for a in group})

    from nbgrader.api import Gradebook

    scores, outputs = {}, {}
    for (course, group), log in zip(courses, logs):
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            for a in group:
                scores[a] = {}
                for student in ["release", *_students(a)]:
                    try:
                        nb = gb.find_submission_notebook(a, a, student)
                    except Exception as exc:  # pragma: no cover - reported below
                        raise AssertionError(f"{a}/{student} was not graded: {exc}\n{log}")
                    scores[a][student] = {g.name: (g.score, g.max_score) for g in nb.grades
                                          if g.cell.name.startswith("test_")}
        for a in group:
            outputs[a] = {}
            for student in ["release", *_students(a)]:
                path = course / "autograded" / student / a / f"{a}.ipynb"
                outputs[a][student] = nbformat.read(str(path), as_version=4) if path.exists() else None
    elapsed = time.time() - start
    print(json.dumps({a: {s: sum(v[0] for v in c.values()) for s, c in st.items()}
                      for a, st in scores.items()}, indent=1))
    print(f"graded {sum(len(s) for s in scores.values())} submissions in {elapsed:.0f} s")
    return {"scores": scores, "outputs": outputs, "validate": validate, "logs": logs}


def _lost(cells):
    return {name for name, (score, mx) in cells.items() if score < mx - 1e-9}


def _autograded(graded, assignment, student):
    nb = graded["outputs"][assignment][student]
    if nb is None:
        log = "\n".join(line for log in graded["logs"] for line in log.splitlines()
                        if "ERROR" in line or student in line)
        raise AssertionError(f"nbgrader wrote no autograded notebook for {student}/{assignment}:\n{log}")
    return nb


def _cell_text(nb, grade_id):
    cell = _cells(nb)[grade_id]
    return "".join(o.get("text", "") + "".join(o.get("traceback", [])) + str(o.get("data", ""))
                   for o in cell.outputs)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@nbgrader_test
def test_solution_scores_full_marks(graded, assignment):
    cells = graded["scores"][assignment]["solution"]
    assert len(cells) >= 5
    assert not _lost(cells), {c: cells[c] for c in _lost(cells)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@nbgrader_test
def test_untouched_release_scores_zero(graded, assignment):
    _autograded(graded, assignment, "release")  # graded, not skipped by an nbgrader error
    cells = graded["scores"][assignment]["release"]
    assert cells and all(score == 0 for score, _ in cells.values()), cells


@pytest.mark.parametrize("assignment,bug", [(a, b) for a in BUGS for b in BUGS[a]])
@nbgrader_test
def test_planted_bug_loses_points_exactly_where_covered(graded, assignment, bug):
    _autograded(graded, assignment, f"bug-{bug}")
    cells = graded["scores"][assignment][f"bug-{bug}"]
    expected = BUGS[assignment][bug][1]
    assert _lost(cells) == expected, {c: cells[c] for c in sorted(_lost(cells) | expected)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@nbgrader_test
def test_calling_the_reference_scores_zero_there(graded, assignment):
    cells = graded["scores"][assignment]["cheat"]
    zero = CHEATS[assignment][1]
    assert all(cells[c][0] == 0 for c in zero), {c: cells[c] for c in zero}
    nb = _autograded(graded, assignment, "cheat")
    for c in zero:
        assert "sealed while your code is graded" in _cell_text(nb, c)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_at_least_five_planted_bugs(assignment):
    assert len(BUGS[assignment]) >= 5


@nbgrader_test
def test_failure_messages_name_function_shapes_and_the_deciding_measure(graded):
    nb = _autograded(graded, "ps2-rnn-forward", "bug-relu_instead_of_tanh")
    text = _cell_text(nb, "test_rnn_step_forward")
    assert "rnn_step_forward" in text and "x (3, 4) float64" in text
    assert "expected h[" in text and "got      h[" in text and "error / tolerance = " in text
    nb = _autograded(graded, "ps3-bptt", "bug-step_backward_wrong_sign_dWh")
    text = _cell_text(nb, "test_rnn_step_backward")
    assert "dWh does not match the numerical gradient of your rnn_step_forward" in text
    assert "[ok]   rnn_step_backward: dx" in text  # the other gradients keep their credit


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@nbgrader_test
def test_validate_passes_the_solutions(graded, assignment):
    out = graded["validate"][assignment]
    name = f"{assignment}.ipynb"
    assert out.count("Success! Your notebook passes all the tests.") == len(
        next(g for g in GROUPS if assignment in g)), out
    assert name in out or "Success!" in out


@nbgrader_test
def test_exercises_match_a_fresh_release(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "solutions", repo / "solutions",
                    ignore=shutil.ignore_patterns("builder", "__pycache__"))
    generate_release(repo_root=repo)
    for a in ASSIGNMENTS:
        fresh = nbformat.read(str(repo / "exercises" / a / f"{a}.ipynb"), as_version=4)
        committed = nbformat.read(str(ROOT / "exercises" / a / f"{a}.ipynb"), as_version=4)
        strip = lambda nb: [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]  # noqa: E731
        assert strip(committed) == strip(fresh), (
            f"exercises/{a} drifted from solutions/{a}: run `rnn-course release` "
            f"(or python -m course_lib.autograde.release)")
        assert sorted(p.name for p in (ROOT / "exercises" / a).iterdir()) == sorted(
            p.name for p in (repo / "exercises" / a).iterdir())


def test_solution_sources_are_built_from_the_builder(tmp_path):
    """solutions/<a>/<a>.ipynb are what solutions/builder writes (edit the builder, not the json)."""
    sys.path.insert(0, str(ROOT / "solutions" / "builder"))
    try:
        import build  # noqa: F401

        for short, full in build.ASSIGNMENTS.items():
            module = __import__(short)
            committed = nbformat.read(str(ROOT / "solutions" / full / f"{full}.ipynb"), as_version=4)
            assert [(c.cell_type, c.source, c.metadata) for c in committed.cells] == [
                (c.cell_type, c.source, c.metadata) for c in module.NOTEBOOK.cells], full
    finally:
        sys.path.remove(str(ROOT / "solutions" / "builder"))


# ------------------------------------------------------------------ the grading helpers (fast)

import numpy as np  # noqa: E402

from course_lib import grading  # noqa: E402
from course_lib.grading import sealing  # noqa: E402
from course_lib.numpy_rnn import rnn_step_forward as imported_early  # noqa: E402


def _rnn_args(seed=0, dtype="float64"):
    from course_lib.grading.factories import rnn_inputs
    return rnn_inputs(seed, N=2, D=3, H=4, dtype=dtype)


def test_seal_catches_a_reference_imported_before_the_test():
    args = _rnn_args()
    expected = imported_early(*args.values())[0]
    student = grading.guard(lambda *a: imported_early(*a), "rnn_step_forward")
    with pytest.raises(AssertionError, match="rnn_step_forward called course_lib.numpy_rnn.rnn.rnn_step_forward"):
        student(*args.values())
    # unsealed again afterwards, same numbers
    np.testing.assert_array_equal(imported_early(*args.values())[0], expected)


def test_seal_catches_a_swallowed_call_and_restores_after_an_exception():
    def sneaky(*a):
        try:
            return imported_early(*a)
        except Exception:
            return None

    with pytest.raises(AssertionError, match="sealed while your code is graded"):
        grading.guard(sneaky, "rnn_step_forward")(*_rnn_args().values())

    def broken(*a):
        raise ZeroDivisionError("student bug")

    with pytest.raises(ZeroDivisionError):
        grading.guard(broken, "rnn_step_forward")(*_rnn_args().values())
    assert imported_early(*_rnn_args().values())[0].shape == (2, 4)
    assert not sealing._saved


def test_seal_covers_an_import_inside_the_students_function():
    def late(*a):
        from course_lib.gradcheck import rel_error
        return rel_error(a[0], a[0])

    with pytest.raises(AssertionError, match="course_lib.gradcheck.rel_error"):
        grading.guard(late, "f")(np.ones(3))


def test_assert_close_message_names_function_shapes_values_and_the_deciding_measure():
    args = _rnn_args()
    good = imported_early(*args.values())[0]
    bad = good.copy()
    bad[1, 2] += 0.5
    with pytest.raises(AssertionError) as info:
        grading.assert_close("rnn_step_forward", "h", bad, good, args)
    msg = str(info.value)
    assert "rnn_step_forward: h does not match the reference" in msg
    assert "x (2, 3) float64, h_prev (2, 4) float64" in msg
    assert "expected h[1, 1:4]" in msg and "got      h[1, 1:4]" in msg
    assert "largest |got - expected| = 5.000e-01 at [1, 2]" in msg
    assert "error / tolerance = " in msg and "(passes at <= 1" in msg
    grading.assert_close("rnn_step_forward", "h", good.copy(), good, args)  # passes


def test_assert_close_keeps_the_dtype():
    good = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(AssertionError, match="dtype float64, expected float32"):
        grading.assert_close("f", "out", good.astype(np.float64), good)
    with pytest.raises(AssertionError, match=r"shape \(3, 2\), expected \(2, 3\)"):
        grading.assert_close("f", "out", good.T, good)


def test_score_gives_partial_credit_and_prints_to_stdout(capsys):
    score = grading.Score(2)
    score.part(1, "passes", lambda: None)
    score.part(1, "fails", lambda: grading.assert_close("f", "out", np.zeros(2), np.ones(2)))
    assert float(score) == 1.0 and repr(score) == "1.0"
    out = capsys.readouterr()
    assert "[ok]   passes" in out.out and "[FAIL] fails (0/1)" in out.out and out.err == ""


def test_backward_check_compares_with_the_numerical_gradient_of_the_students_forward(capsys):
    from course_lib.grading import ps3

    def my_fwd(x, h_prev, Wx, Wh, b):
        h = np.tanh(x @ Wx + h_prev @ Wh + b)
        return h, (x, h_prev, Wx, Wh, h)

    def my_bwd(dh, cache):
        x, h_prev, Wx, Wh, h = cache
        da = dh * (1 - h * h)
        return da @ Wx.T, da @ Wh.T, x.T @ da, -(h_prev.T @ da), da.sum(0)   # wrong sign on dWh

    score = grading.Score(5)
    ps3.check_rnn_step_backward(score, 5, my_fwd, my_bwd, seed=3)
    assert float(score) == 4.0
    assert "dWh does not match the numerical gradient of your rnn_step_forward" in capsys.readouterr().out


def test_training_does_not_trust_the_loss_the_students_code_returns(capsys):
    from course_lib.grading import ps3

    def liar(params, source, bptt, lr, max_norm, h0):
        return 0.0, h0                      # claims a perfect loss, trains nothing

    score = grading.Score(1)
    ps3.check_training(score, 1, liar, seed=0, epochs=2)
    assert float(score) == 0.0
    assert "recomputed by the reference forward" in capsys.readouterr().out


def test_install_cell_installs_what_the_notebook_needs_from_the_configured_branch():
    import yaml

    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    for a in ASSIGNMENTS:
        nb = nbformat.read(str(ROOT / "exercises" / a / f"{a}.ipynb"), as_version=4)
        install = nb.cells[1]
        assert install.metadata["nbgrader"]["grade_id"] == "install"
        uses_torch = any("import torch" in c.source for c in nb.cells[2:] if c.cell_type == "code")
        extra = "[torch]" if uses_torch else ""
        assert f'"course_lib{extra} @ git+{repo["url"]}@{repo["branch"]}"' in install.source, (
            a, install.source)
        assert ('"torch"' in install.source) == uses_torch


def test_generate_release_rejects_an_unknown_assignment(tmp_path):
    with pytest.raises(ValueError, match="assignments"):
        generate_release(["ps9-nothing"], repo_root=ROOT)
    with pytest.raises(ValueError, match="has no solutions"):
        generate_release(["ps1-language-models"], repo_root=tmp_path)
