"""The diagnosis layer (course_lib.grading.diagnose) on the common mistakes of issue 16.

Each fixture of tests/diagnose_fixtures.py is the solution with one realistic mistake: its
diagnosis must name the right gate / time step / term, call exactly the wrong gradients wrong,
and name no other gate or term. The solutions get no diagnosis, and a diagnosis never changes
the score.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diagnose_fixtures import FIXTURES, named_wrong, run_check, solution_namespace  # noqa: E402

from course_lib import numpy_rnn  # noqa: E402
from course_lib.grading import Score, assert_close  # noqa: E402
from course_lib.grading.checks import close_measure  # noqa: E402
from course_lib.grading.diagnose import (BackwardCase, explain_gradient, gate_blocks,  # noqa: E402
                                         lstm_bptt, rnn_bptt)
from course_lib.grading.factories import lstm_inputs, rnn_inputs  # noqa: E402


def _quiet(check, ns, seed=0):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        score = run_check(check, ns, seed=seed)
    return score, out.getvalue()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_diagnosis_names_the_mistake_and_nothing_else(name):
    fx = FIXTURES[name]
    score, printed = _quiet(fx.check, solution_namespace(fx.assignment, fx.edits))
    text = "\n".join(score.diagnoses)
    assert score.diagnoses, f"no diagnosis for {name}:\n{printed}"
    for must in fx.must:
        assert must in text, f"{name}: {must!r} missing from\n{text}"
    for never in fx.must_not:
        assert never not in text, f"{name}: {never!r} should not be in\n{text}"
    assert named_wrong(score.diagnoses) == set(fx.wrong), text
    # what is recorded is what the student reads, and the pointer into the book is there
    for d in score.diagnoses:
        assert "  " + d.splitlines()[0] in printed
    assert "See book ch" in text
    # a hint, not an answer: no solution code in the diagnosis
    assert "np." not in text and "cache[" not in text


@pytest.mark.parametrize("check,assignment", [("rnn_step", "ps3"), ("rnn_seq", "ps3"),
                                              ("lstm_step", "ps5"), ("lstm_seq", "ps5"),
                                              ("softmax", "ps2")])
def test_correct_code_gets_full_marks_and_no_diagnosis(check, assignment):
    score, printed = _quiet(check, solution_namespace(assignment))
    assert float(score) == 1.0 and score.diagnoses == [] and "diagnosis" not in printed


@pytest.mark.parametrize("name", ["rnn_dWh_with_h_t", "lstm_da_f_wrong", "lstm_no_cell_carry"])
def test_partial_credit_is_what_the_failed_parts_cost(name):
    fx = FIXTURES[name]
    score, printed = _quiet(fx.check, solution_namespace(fx.assignment, fx.edits))
    n_parts = printed.count("[ok]") + printed.count("[FAIL]")
    assert float(score) == pytest.approx(round(printed.count("[ok]") / n_parts, 4))


def test_the_derivation_equals_the_reference():
    args = rnn_inputs(3, T=5)
    dh = np.random.default_rng(0).standard_normal((5, 3, 5))
    ref = numpy_rnn.rnn_backward(dh, numpy_rnn.rnn_forward(*args.values())[1])
    got = rnn_bptt(*args.values(), dh)
    for r, k in zip(ref, ["dx", "dh0", "dWx", "dWh", "db"]):
        np.testing.assert_allclose(got[k], r, rtol=1e-12, atol=1e-14)
    args = lstm_inputs(3, T=5)
    ref = numpy_rnn.lstm_backward(dh, numpy_rnn.lstm_forward(*args.values())[2])
    got = lstm_bptt(*args.values(), dh)
    for r, k in zip(ref, ["dx", "dh0", "dc0", "dWx", "dWh", "db"]):
        np.testing.assert_allclose(got[k], r, rtol=1e-12, atol=1e-14)


def test_step_case_matches_the_reference_step_backward():
    args = lstm_inputs(4)
    rng = np.random.default_rng(1)
    dh, dc = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    ref = numpy_rnn.lstm_step_backward(dh, dc, numpy_rnn.lstm_step_forward(*args.values())[2])
    case = BackwardCase("lstm", True, args, [dh, dc], ["dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"])
    got = case.derive()
    for r, k in zip(ref, case.names):
        np.testing.assert_allclose(got[k], r, rtol=1e-12, atol=1e-14)


def test_generic_findings_sign_factor_transpose_zero_dtype():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((5, 5))
    sizes = {"N": ("the N sequences", 3)}
    assert "wrong sign" in explain_gradient("dWh", -e, e, np.float64, sizes)
    assert "N = 3 times" in explain_gradient("dWh", 3 * e, e, np.float64, sizes)
    assert "factor 2" in explain_gradient("dWh", 2 * e, e, np.float64, sizes)
    assert "transposed" in explain_gradient("dWh", e.T, e, np.float64, sizes)
    assert "zero everywhere" in explain_gradient("dWh", 0 * e, e, np.float64, sizes)
    assert "dtype is float64" in explain_gradient("dWh", e, e.astype(np.float32), np.float32, sizes)
    assert explain_gradient("dWh", e.copy(), e, np.float64, sizes) is None
    assert "not by a sign" in explain_gradient("dWh", e + rng.standard_normal(e.shape), e, np.float64, sizes)


def test_gate_blocks_names_only_the_wrong_block_with_its_columns():
    e = np.random.default_rng(0).standard_normal((4, 20))
    g = e.copy()
    g[:, 5:10] *= -1
    assert gate_blocks(g, e, np.float64, 5) == (
        "blocks i, g, o are right; wrong: the forget gate f (columns 5:10)")
    swapped = np.concatenate([e[:, :10], e[:, 15:], e[:, 10:15]], axis=1)
    assert "order i, f, o, g" in gate_blocks(swapped, e, np.float64, 5)


def test_forward_with_swapped_gates_says_so_in_the_forward_check():
    fx = FIXTURES["lstm_gate_order_ifog"]
    ns = solution_namespace("ps5", fx.edits[:1])
    from course_lib.grading import ps5

    score = Score(1)
    with contextlib.redirect_stdout(io.StringIO()):
        ps5.check_lstm_step_forward(score, 1, ns["lstm_step_forward"], seed=0)
    assert float(score) == 0 and "order i, f, o, g" in score.diagnoses[0]


def test_lstm_backward_through_a_broken_step_keeps_its_credit_and_names_the_helper():
    fx = FIXTURES["lstm_dc_tot_missing_dh_term"]
    ns = solution_namespace("ps5", fx.edits)
    from course_lib.grading import ps5

    out = io.StringIO()
    score = Score(1)
    with contextlib.redirect_stdout(out):
        ps5.check_lstm_backward(score, 1, ns["lstm_forward"], ns["lstm_backward"], seed=0,
                                step_bwd=ns["lstm_step_backward"])
    assert float(score) == 1.0
    assert "your lstm_step_backward is wrong, which makes lstm_backward" in out.getvalue()
    # without the helper the same submission loses the points
    score = Score(1)
    with contextlib.redirect_stdout(io.StringIO()):
        ps5.check_lstm_backward(score, 1, ns["lstm_forward"], ns["lstm_backward"], seed=0)
    assert float(score) == 0.0
    # a wrong loop around a right step gets no such credit
    fx = FIXTURES["lstm_no_cell_carry"]
    ns = solution_namespace("ps5", fx.edits)
    score = Score(1)
    with contextlib.redirect_stdout(io.StringIO()):
        ps5.check_lstm_backward(score, 1, ns["lstm_forward"], ns["lstm_backward"], seed=0,
                                step_bwd=ns["lstm_step_backward"])
    assert float(score) == 0.0


def test_one_pass_rule_prints_the_quantity_that_decided():
    e = np.array([0.00428, 1.0, -2.0])
    g = e.copy()
    g[0] = 0.02435
    measure, diff, where = close_measure(g, e, 1e-6, 1e-8)
    assert where == (0,) and diff == pytest.approx(0.02007)
    assert measure == pytest.approx(0.02007 / (1e-8 + 1e-6 * 0.00428))
    with pytest.raises(AssertionError) as info:
        assert_close("f", "out", g, e)
    msg = str(info.value)
    assert f"error / tolerance = {measure:.3e} (passes at <= 1" in msg
    assert "largest |got - expected| = 2.007e-02 at [0]" in msg
    # the measure keeps growing where rel_error saturates at 1
    assert close_measure(-10 * e, e, 1e-6, 1e-8)[0] > close_measure(-e, e, 1e-6, 1e-8)[0]
    # at the boundary: passes exactly when np.allclose does
    for scale in (0.5e-6, 2e-6):
        g = e * (1 + scale)
        passed = close_measure(g, e, 1e-6, 1e-8)[0] <= 1
        assert passed == np.allclose(g, e, rtol=1e-6, atol=1e-8)


def test_hidden_seeds_are_not_printed():
    from course_lib.grading import ps3

    ns = solution_namespace("ps3", FIXTURES["rnn_dWh_with_h_t"].edits)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ps3.check_rnn_step_backward(Score(1), 1, ns["rnn_step_forward"], ns["rnn_step_backward"], seed=301)
        ps3.check_rnn_step_backward(Score(1), 1, ns["rnn_step_forward"], ns["rnn_step_backward"], seed=0)
    assert "301" not in out.getvalue() and "hidden input" in out.getvalue()
    assert "seed 0" in out.getvalue()
