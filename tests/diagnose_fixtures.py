"""The common backward mistakes of issue 16, as edits of the solutions, with the diagnosis each
must produce (tests/test_diagnose.py asserts them; benchmarks/bench_diagnosis.py scores them).

FIXTURES[name] = Fixture(assignment, edits, check, wrong, must, must_not): ``edits`` are
(solution grade_id, text in the solution, replacement) as in tests/exercise_bugs.py; ``check``
names the check to run; ``wrong`` the gradients the diagnosis must call wrong (and no other);
``must`` strings the diagnosis must contain (the gate, time step or term); ``must_not`` strings
it must not (another gate, another term).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

RNN_STEP = ["dx", "dh_prev", "dWx", "dWh", "db"]
RNN_SEQ = ["dx", "dh0", "dWx", "dWh", "db"]
LSTM_STEP = ["dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"]
LSTM_SEQ = ["dx", "dh0", "dc0", "dWx", "dWh", "db"]
OTHER_GATES = {"i": ("forget gate f", "candidate g", "output gate o"),
               "f": ("input gate i", "candidate g", "output gate o"),
               "g": ("input gate i", "forget gate f", "output gate o"),
               "o": ("input gate i", "forget gate f", "candidate g")}


@dataclass(frozen=True)
class Fixture:
    assignment: str                      # "ps2", "ps3" or "ps5"
    edits: Tuple[Tuple[str, str, str], ...]
    check: str                           # a key of CHECKS
    wrong: Tuple[str, ...]               # the gradients named wrong, no other
    must: Tuple[str, ...]                # in the diagnosis
    must_not: Tuple[str, ...] = ()       # never in the diagnosis


def _gate(g: str, old: str, new: str) -> Fixture:
    return Fixture("ps5", (("lstm_step_backward", old, new),), "lstm_step",
                   ("dx", "dh_prev", "dWx", "dWh", "db"),
                   (f"wrong: {dict(i='the input gate i', f='the forget gate f', g='the candidate g', o='the output gate o')[g]}",),
                   tuple(f"the {n}" for n in OTHER_GATES[g]))


FIXTURES: Dict[str, Fixture] = {
    # ------------------------------------------------------------------ RNN (ps3)
    "rnn_missing_upstream_dh_t": Fixture(
        "ps3", (("rnn_backward", "dh_next = np.zeros_like(dh[0])", "dh_next = dh[-1]"),
                ("rnn_backward", "rnn_step_backward(dh[t] + dh_next, cache[t])",
                 "rnn_step_backward(dh_next, cache[t])")),
        "rnn_seq", tuple(RNN_SEQ), ("the upstream gradient dh[t] is missing", "step t = 2 alone"),
        ("carried from step t+1",)),
    "rnn_missing_carry": Fixture(
        "ps3", (("rnn_backward", "rnn_step_backward(dh[t] + dh_next, cache[t])",
                 "rnn_step_backward(dh[t], cache[t])"),),
        "rnn_seq", ("dx", "dh0", "dWx", "dWh", "db"),
        ("da[t+1] Wh^T", "flow from t = 3 to t = 2"), ("dh[t] is missing",)),
    "rnn_tanh_prime_of_a": Fixture(
        "ps3", (("rnn_step_backward", "da = dh * (1 - h * h)", "da = dh * (1 - np.arctanh(h) ** 2)"),),
        "rnn_step", tuple(RNN_STEP), ("1 - a[t]^2",), ("missing from the sum",)),
    "rnn_dWh_with_h_t": Fixture(
        "ps3", (("rnn_step_backward", "dWh = h_prev.T @ da", "dWh = h.T @ da"),),
        "rnn_step", ("dWh",), ("h[t-1]^T da[t]", "right: dx, dh_prev, dWx, db"), ()),
    "rnn_h0_term_dropped": Fixture(
        "ps3", (("rnn_backward", "dWh += dWh_t", "if t > 0:\n                dWh += dWh_t"),),
        "rnn_seq", ("dWh",), ("h0^T da[0]", "right: dx, dh0, dWx, db"), ("time:",)),
    "rnn_db_averaged_over_N": Fixture(
        "ps3", (("rnn_step_backward", "db = da.sum(axis=0)", "db = da.mean(axis=0)"),),
        "rnn_step", ("db",), ("1/N = 1/3", "averaged over the N sequences"), ()),
    "rnn_db_not_summed_over_T": Fixture(
        "ps3", (("rnn_backward", "db += db_t", "db = db_t"),),
        "rnn_seq", ("db",), ("the sum over t is missing",), ("time:",)),
    # ------------------------------------------------------------------ LSTM (ps5)
    "lstm_da_i_wrong": _gate("i", "dc_tot * g * i * (1 - i)", "dc_tot * i * (1 - i)"),
    "lstm_da_f_wrong": _gate("f", 'dc_tot * cache["c_prev"] * f * (1 - f)', "dc_tot * f * f * (1 - f)"),
    "lstm_da_g_wrong": _gate("g", "dc_tot * i * (1 - g * g)", "dc_tot * i * (1 - g)"),
    "lstm_da_o_wrong": _gate("o", "dh * tc * o * (1 - o)", "dc_tot * tc * o * (1 - o)"),
    "lstm_dc_tot_missing_dh_term": Fixture(
        "ps5", (("lstm_step_backward", "dc_tot = dc + dh * o * (1 - tc * tc)", "dc_tot = dc"),),
        "lstm_step", ("dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"),
        ("dh ⊙ o ⊙ (1 - tanh^2 c) is missing from dc_tot",), ("factor f",)),
    "lstm_dc_prev_without_f": Fixture(
        "ps5", (("lstm_step_backward", "dc_prev = dc_tot * f", "dc_prev = dc_tot"),),
        "lstm_step", ("dc_prev",), ("the factor f is missing from dc[t-1]",), ("dc_tot = dc +",)),
    "lstm_no_cell_carry": Fixture(
        "ps5", (("lstm_backward", "dh[t] + dh_next, dc_next, cache[t])",
                 "dh[t] + dh_next, np.zeros_like(dc_next), cache[t])"),),
        "lstm_seq", ("dx", "dh0", "dc0", "dWx", "dWh", "db"),
        ("dc[t-1] = dc_tot ⊙ f carried into the previous step", "flow from t = 3 to t = 2"), ()),
    "lstm_gate_order_ifog": Fixture(
        "ps5", (("lstm_step_forward", "g = np.tanh(a[:, 2 * H:3 * H])\n    o = sigmoid(a[:, 3 * H:])",
                 "o = sigmoid(a[:, 2 * H:3 * H])\n    g = np.tanh(a[:, 3 * H:])"),
                ("lstm_step_backward", "dc_tot * i * (1 - g * g),\n                         dh * tc * o * (1 - o)]",
                 "dh * tc * o * (1 - o),\n                         dc_tot * i * (1 - g * g)]")),
        "lstm_step", (), ("your lstm_step_forward is wrong", "order i, f, o, g"), ()),
    "lstm_backward_blocks_ifog": Fixture(
        "ps5", (("lstm_step_backward", "dc_tot * i * (1 - g * g),\n                         dh * tc * o * (1 - o)]",
                 "dh * tc * o * (1 - o),\n                         dc_tot * i * (1 - g * g)]"),),
        "lstm_step", ("dWx", "dWh", "db", "dx", "dh_prev"), ("in the order i, f, o, g",), ()),
    "lstm_dWx_transposed": Fixture(
        "ps5", (("lstm_step_backward", 'dWx = cache["x"].T @ da', 'dWx = da.T @ cache["x"]'),),
        "lstm_step", ("dWx",), ("it is transposed",), ()),
    "lstm_dWh_transposed": Fixture(
        "ps5", (("lstm_step_backward", 'dWh = cache["h_prev"].T @ da', 'dWh = da.T @ cache["h_prev"]'),),
        "lstm_step", ("dWh",), ("it is transposed",), ()),
    # ------------------------------------------------------------------ the loss (ps2)
    "softmax_ce_not_divided": Fixture(
        "ps2", (("softmax_cross_entropy", "loss = dtype.type(-(m * logp_y).sum() / count)",
                 "loss = dtype.type(-(m * logp_y).sum())"),
                ("softmax_cross_entropy", "dlogits *= (m / count)[..., None]", "dlogits *= m[..., None]")),
        "softmax", ("loss", "dlogits"), ("M = 12 times the right value", "(ch3-dz)"), ()),
}


# ------------------------------------------------------------------ running a fixture

def solution_namespace(assignment: str, edits: Sequence[Tuple[str, str, str]] = ()) -> dict:
    """The solution's given and solution cells of ``assignment`` run with ``edits`` applied."""
    sys.path.insert(0, str(ROOT / "solutions" / "builder"))
    try:
        module = __import__(assignment)
    finally:
        sys.path.remove(str(ROOT / "solutions" / "builder"))
    cells = {c.metadata["nbgrader"]["grade_id"]: c.source for c in module.NOTEBOOK.cells
             if c.cell_type == "code" and "nbgrader" in c.metadata}
    for grade_id, old, new in edits:
        if old not in cells[grade_id]:
            raise ValueError(f"edits: {old!r} is not in solution cell {grade_id}")
        cells[grade_id] = cells[grade_id].replace(old, new, 1)
    ns: dict = {}
    for grade_id, src in cells.items():
        if grade_id != "install" and not grade_id.startswith("test_"):
            exec(compile(src, f"<{assignment}:{grade_id}>", "exec"), ns)
    return ns


def run_check(check: str, ns: dict, seed: int = 0):
    """Run one check on the namespace's functions -> the Score (its diagnoses, its float)."""
    from course_lib.grading import Score, ps2, ps3, ps5

    score = Score(1)
    if check == "rnn_step":
        ps3.check_rnn_step_backward(score, 1, ns["rnn_step_forward"], ns["rnn_step_backward"], seed=seed)
    elif check == "rnn_seq":
        ps3.check_rnn_backward(score, 1, ns["rnn_forward"], ns["rnn_backward"], seed=seed)
    elif check == "lstm_step":
        ps5.check_lstm_step_backward(score, 1, ns["lstm_step_forward"], ns["lstm_step_backward"], seed=seed)
    elif check == "lstm_seq":
        ps5.check_lstm_backward(score, 1, ns["lstm_forward"], ns["lstm_backward"], seed=seed)
    elif check == "softmax":
        ps2.check_softmax_cross_entropy(score, 1, ns["softmax_cross_entropy"], seed=seed)
    else:
        raise ValueError(f"check: expected one of rnn_step, rnn_seq, lstm_step, lstm_seq, softmax, got {check!r}")
    return score


def named_wrong(diagnoses: List[str]) -> set:
    """The gradients a diagnosis calls wrong: the names starting its per-gradient lines."""
    names = set()
    for text in diagnoses:
        for line in text.splitlines():
            heads = [h.strip() for h in line.split(":", 1)[0].split(",")]
            if ":" in line and all(h.isidentifier() for h in heads) and heads[0] not in ("right", "time"):
                names.update(heads)
    return names
