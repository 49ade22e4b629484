"""Diagnoses of a wrong backward: which gradient, which gate block, which time step, which term.

A gradient check says *that* a gradient is wrong; a diagnosis says *where*. Given the
student's gradients and the course's derivation on the same inputs, it reports

- **which quantity**: the returned gradients that are right, and for each wrong one whether it
  is a sign, a factor (2x, 1/N, summed instead of averaged), a transpose, zero, a dtype change,
  or exactly the derivation with one known term missing (the term named in the book's notation);
- **blocks**: for stacked-gate parameters (4H columns i, f, g, o) the gate blocks that are wrong,
  with their columns, or that the blocks are in the wrong order;
- **time**: for a sequence backward, the first step (counting back from T-1) where the student's
  gradient leaves the derivation, found with upstream gradients that are non-zero at one step;
- **the forward first**: when the student's forward is wrong, the backward check says so.

Every diagnosis ends with a pointer to the book's equation (label and page) and never shows code.
The derivation below (:func:`rnn_bptt`, :func:`lstm_bptt`) is the book's, in float64, with
*knobs*: each knob removes or alters one term, so "your gradient equals the derivation without
term X" is a direct comparison. It runs only when a check has already failed.

Notation (book/notation.md): h[-1] = h0, c[-1] = c0; a[t] the pre-activation; da[t] its gradient;
g[t] = dh[t] + da[t+1] Wh^T the total gradient on h[t]; dc_tot the total gradient on c[t].
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from itertools import permutations
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Diagnosis", "BackwardCase", "GATES", "agrees", "explain_gradient", "gate_blocks", "rnn_bptt", "lstm_bptt",
           "RNN_KNOBS", "LSTM_KNOBS", "time_probe", "diagnose_backward", "forward_permutation",
           "BOOK", "report"]

GATES = "ifgo"
_GATE_NAME = {"i": "the input gate i", "f": "the forget gate f", "g": "the candidate g",
              "o": "the output gate o"}

# Where each part of the derivation is in the book (page, equation label or section).
BOOK = {
    "rnn_local": "book ch3_bptt.md, eqs. (ch3-da) and (ch3-dW)",
    "rnn_carry": "book ch3_bptt.md, eq. (ch3-dh) (the two paths into h[t])",
    "rnn_sum": "book ch3_bptt.md, eq. (ch3-dW) (each weight gradient is a sum over t and n)",
    "lstm_local": "book ch5_lstm.md, eqs. (ch5-preact) to (ch5-output), differentiated line by "
                  "line (ps5 Task 3 lists the result)",
    "lstm_cell": "book ch5_lstm.md, eq. (ch5-cell-grad) (the path through the cell)",
    "lstm_order": "book ch5_lstm.md, eq. (ch5-preact) (gate blocks i, f, g, o)",
    "softmax": "book ch3_bptt.md, eq. (ch3-dz) (the 1/M of the mean over positions)",
}


@dataclass
class Diagnosis:
    """What went wrong in one backward check: one line per wrong gradient, and an overview.

    ``per_grad[name]`` is the finding for gradient ``name`` (absent: right); ``overview`` the
    lines shown once (forward first, which gradients are right, the time step); ``pointer``
    the book equation to reread. ``text(name)`` is what is printed under that gradient's part.
    """

    per_grad: Dict[str, str] = field(default_factory=dict)
    overview: List[str] = field(default_factory=list)
    pointer: str = ""

    def text(self, name: str, first: bool = True) -> str:
        """Under the first failed part: the overview and every finding (gradients that share
        one are named together); under a later one: that gradient's finding alone."""
        lines = list(self.overview) if first else []
        if first:
            grouped: Dict[str, List[str]] = {}
            for grad, found in self.per_grad.items():
                grouped.setdefault(found, []).append(grad)
            lines += [f"{', '.join(grads)}: {found}" for found, grads in grouped.items()]
        elif name in self.per_grad:
            lines.append(f"{name}: {self.per_grad[name]}")
        if self.pointer:
            lines.append(f"See {self.pointer}.")
        return "\n".join(lines)


# --------------------------------------------------------------------------- comparisons

def _tol(dtype) -> Tuple[float, float]:
    """(rtol, atol) for comparing a student's result of ``dtype`` with the float64 derivation."""
    return (1e-3, 1e-4) if np.dtype(dtype) == np.float32 else (1e-5, 1e-7)


def agrees(a, b, dtype=np.float64) -> bool:
    """``a`` equals ``b`` (the float64 derivation) to the diagnosis' tolerance for ``dtype``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    rtol, atol = _tol(dtype)
    # scale-aware: an entry is compared with the scale of the whole array, not its own size
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-12)
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(
        np.max(np.abs(a - b), initial=0.0) <= atol + rtol * scale)


_FACTORS = [(2.0, "twice the right value (a factor 2)"), (0.5, "half the right value (a factor 1/2)")]


def _factor(got, exp, dtype, sizes: Mapping[str, Tuple[str, int]]) -> Optional[str]:
    """'1/N = 1/3 of the right value (averaged over ... instead of summed)' or None.

    ``sizes[symbol] = (what it counts, its value)``, e.g. {"N": ("the N sequences", 3)}.
    """
    e = exp.ravel()
    denom = float(e @ e)
    if denom == 0:
        return None
    k = float(got.ravel() @ e) / denom
    if not agrees(got, k * exp, dtype) or abs(k - 1) < 1e-6:
        return None
    named = []
    for sym, (what, n) in sizes.items():
        named.append((float(n), f"{sym} = {n} times the right value (summed over {what} "
                                f"instead of averaged)"))
        named.append((1.0 / n, f"1/{sym} = 1/{n} of the right value (averaged over {what} "
                               f"instead of summed)"))
    for value, text in named + _FACTORS:
        if abs(k - value) <= 1e-3 * abs(value):
            return text
    return f"the right value times {k:.4g} (a constant factor)"


def gate_blocks(got, exp, dtype, H: int) -> Optional[str]:
    """For (..., 4H) gradients: which gate blocks are wrong, or the order they are in."""
    blk = [slice(k * H, (k + 1) * H) for k in range(len(GATES))]
    wrong = [k for k in range(len(GATES)) if not agrees(got[..., blk[k]], exp[..., blk[k]], dtype)]
    if not wrong:
        return None
    # a permutation of the blocks: the student's block k holds the reference's block perm[k]
    for perm in permutations(range(len(GATES))):
        if perm != tuple(range(len(GATES))) and all(
                agrees(got[..., blk[k]], exp[..., blk[perm[k]]], dtype) for k in range(len(GATES))):
            order = ", ".join(GATES[p] for p in perm)
            return (f"the gate blocks are in the order {order}; they must be i, f, g, o "
                    f"(columns 0:{H}, {H}:{2 * H}, {2 * H}:{3 * H}, {3 * H}:{4 * H})")
    if len(wrong) == len(GATES):
        return None
    right = ", ".join(GATES[k] for k in range(len(GATES)) if k not in wrong)
    bad = "; ".join(f"{_GATE_NAME[GATES[k]]} (columns {k * H}:{(k + 1) * H})" for k in wrong)
    return f"blocks {right} are right; wrong: {bad}"


def explain_gradient(name: str, got, exp, dtype, sizes: Mapping[str, Tuple[str, int]],
                     variants: Mapping[str, Tuple[str, Mapping[str, np.ndarray]]] = (),
                     H_gates: Optional[int] = None) -> Optional[str]:
    """What is wrong with gradient ``name`` (None when it is right).

    ``exp`` is the derivation's value, ``variants[key] = (what is missing, gradients)`` the
    derivation with one term altered, ``sizes`` the named sizes a factor may be ("N sequences":
    3), ``H_gates`` the block width of stacked-gate columns.
    """
    got = np.asarray(got)
    exp = np.asarray(exp, dtype=np.float64)
    if got.shape != exp.shape:
        if got.shape == exp.shape[::-1] and agrees(got.T, exp, dtype):
            return (f"it is transposed: shape {got.shape}, expected {exp.shape} (the gradient of "
                    f"a weight has the weight's shape: (its input)^T times da)")
        return None  # the shape message says it all
    if agrees(got, exp, dtype):
        if got.dtype != np.dtype(dtype):
            return (f"the values are right but the dtype is {got.dtype}, not {np.dtype(dtype)}: an "
                    f"array allocated without dtype= (np.zeros, np.empty) or a float64 constant")
        return None
    for text, grads in dict(variants).values():
        if name in grads and not agrees(grads[name], exp, dtype) and agrees(got, grads[name], dtype):
            return text
    g = got.astype(np.float64)
    if not np.all(np.isfinite(g)):
        return "it holds nan or inf"
    if not np.any(g):
        return "it is zero everywhere: nothing reaches it"
    if agrees(g, -exp, dtype):
        return "it has the wrong sign (yours = -right): check the sign of each factor"
    factor = _factor(g, exp, dtype, sizes)
    if factor:
        return f"it is {factor}"
    if g.ndim == 2 and g.shape[0] == g.shape[1] and agrees(g.T, exp, dtype):
        return "it is transposed: (its input)^T times da, not da^T times its input"
    if H_gates and g.shape[-1] == len(GATES) * H_gates:
        blocks = gate_blocks(g, exp, dtype, H_gates)
        if blocks:
            return blocks
    return "it is wrong, and not by a sign, a factor, a transpose or one missing term"


# --------------------------------------------------------------------------- the derivation

def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


# knob -> (what the student's gradient then lacks, in the book's notation; book pointer key)
RNN_KNOBS = {
    "upstream": ("the upstream gradient dh[t] is missing from g[t] = dh[t] + da[t+1] Wh^T at the "
                 "steps t < T-1 (only dh[T-1] enters)", "rnn_carry"),
    "carry": ("the term da[t+1] Wh^T (the gradient carried from step t+1 into h[t]) is missing "
              "from g[t] = dh[t] + da[t+1] Wh^T", "rnn_carry"),
    "tanh_a": ("tanh'(a[t]) is computed as 1 - a[t]^2; it is 1 - h[t]^2 (h[t] = tanh(a[t]))",
               "rnn_local"),
    "tanh_missing": ("the factor tanh'(a[t]) = 1 - h[t]^2 is missing from da[t] = g[t] ⊙ "
                     "(1 - h[t]^2)", "rnn_local"),
    "dWh_h_t": ("dWh sums h[t]^T da[t]; the input of Wh at step t is h[t-1], so the term is "
                "h[t-1]^T da[t]", "rnn_local"),
    "h0_term": ("the term h[-1]^T da[0] = h0^T da[0] (step t = 0) is missing from the sum "
                "dWh = Σ_t h[t-1]^T da[t]", "rnn_sum"),
    "db_last": ("db holds one step's Σ_n da[t] only: the sum over t is missing (db = Σ_t Σ_n da[t])",
                "rnn_sum"),
}


def rnn_bptt(x, h0, Wx, Wh, b, dh, knobs: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """The book's BPTT for h[t] = tanh(x[t] Wx + h[t-1] Wh + b), in float64, with knobs.

    x (T, N, D), h0 (N, H), dh (T, N, H) -> {"dx" (T, N, D), "dh0" (N, H), "dWx" (D, H),
    "dWh" (H, H), "db" (H,)}; ``knobs`` (keys of :data:`RNN_KNOBS`) each alter one term.
    """
    x, h0, Wx, Wh, b, dh = (np.asarray(v, dtype=np.float64) for v in (x, h0, Wx, Wh, b, dh))
    T = x.shape[0]
    hs, pre = [h0], []
    for t in range(T):
        pre.append(x[t] @ Wx + hs[-1] @ Wh + b)
        hs.append(np.tanh(pre[-1]))                      # hs[t + 1] = h[t]
    out = {"dx": np.zeros_like(x), "dWx": np.zeros_like(Wx), "dWh": np.zeros_like(Wh),
           "db": np.zeros_like(b)}
    carried = np.zeros_like(h0)
    for t in reversed(range(T)):
        up = dh[t] if ("upstream" not in knobs or t == T - 1) else 0.0
        g = up + (0.0 if "carry" in knobs else carried)  # g[t], (N, H)
        slope = {"tanh_a": 1 - pre[t] ** 2, "tanh_missing": 1.0}
        da = g * next((slope[k] for k in knobs if k in slope), 1 - hs[t + 1] ** 2)
        out["dx"][t] = da @ Wx.T
        carried = da @ Wh.T
        out["dWx"] += x[t].T @ da
        if not ("h0_term" in knobs and t == 0):
            out["dWh"] += (hs[t + 1] if "dWh_h_t" in knobs else hs[t]).T @ da
        out["db"] = da.sum(0) + (0.0 if "db_last" in knobs else out["db"])
    out["dh0"] = carried
    return out


LSTM_KNOBS = {
    "dc_tot_dh": ("the term dh ⊙ o ⊙ (1 - tanh^2 c) is missing from dc_tot = dc + dh ⊙ o ⊙ "
                  "(1 - tanh^2 c)", "lstm_local"),
    "dc_prev_f": ("the factor f is missing from dc[t-1] = dc_tot ⊙ f (the cell's path back "
                  "through c[t] = f ⊙ c[t-1] + i ⊙ g)", "lstm_cell"),
    "c_carry": ("the gradient dc[t-1] = dc_tot ⊙ f carried into the previous step's cell is "
                "missing: only dh is carried across steps", "lstm_cell"),
    "h_carry": ("the gradient da[t] Wh^T carried into h[t-1] is missing: only dc is carried "
                "across steps", "lstm_local"),
    "upstream": ("the upstream gradient dh[t] is missing at the steps t < T-1 (only dh[T-1] "
                 "enters)", "lstm_local"),
}


def lstm_bptt(x, h0, c0, Wx, Wh, b, dh, dc=None, knobs: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """The book's BPTT for the LSTM (gates i, f, g, o), in float64, with knobs.

    x (T, N, D), h0, c0 (N, H), dh and dc (T, N, H) upstream on h[t] and c[t] (dc None: zero)
    -> {"dx", "dh0", "dc0", "dWx" (D, 4H), "dWh" (H, 4H), "db" (4H,)}; ``knobs`` are keys of
    :data:`LSTM_KNOBS`.
    """
    x, h0, c0, Wx, Wh, b, dh = (np.asarray(v, dtype=np.float64) for v in (x, h0, c0, Wx, Wh, b, dh))
    dc = np.zeros_like(dh) if dc is None else np.asarray(dc, dtype=np.float64)
    T, H = x.shape[0], h0.shape[1]
    steps, h_prev, c_prev = [], h0, c0
    for t in range(T):
        a = x[t] @ Wx + h_prev @ Wh + b                              # (N, 4H)
        i, f, o = (_sigmoid(a[:, k * H:(k + 1) * H]) for k in (0, 1, 3))
        g = np.tanh(a[:, 2 * H:3 * H])
        c = f * c_prev + i * g
        steps.append((h_prev, c_prev, i, f, g, o, np.tanh(c)))
        h_prev, c_prev = o * np.tanh(c), c
    out = {"dx": np.zeros_like(x), "dWx": np.zeros_like(Wx), "dWh": np.zeros_like(Wh),
           "db": np.zeros_like(b)}
    gh, gc = np.zeros_like(h0), np.zeros_like(c0)
    out["dh0"], out["dc0"] = gh, gc
    for t in reversed(range(T)):
        hp, cp, i, f, g, o, tc = steps[t]
        dht = (dh[t] if ("upstream" not in knobs or t == T - 1) else 0.0) + gh
        dc_tot = dc[t] + gc + (0.0 if "dc_tot_dh" in knobs else dht * o * (1 - tc * tc))
        da = np.concatenate([dc_tot * g * i * (1 - i), dc_tot * cp * f * (1 - f),
                             dc_tot * i * (1 - g * g), dht * tc * o * (1 - o)], axis=1)
        out["dx"][t] = da @ Wx.T
        gh = 0.0 * gh if "h_carry" in knobs else da @ Wh.T
        gc = 0.0 * gc if "c_carry" in knobs else dc_tot * (1.0 if "dc_prev_f" in knobs else f)
        out["dWx"] += x[t].T @ da
        out["dWh"] += hp.T @ da
        out["db"] += da.sum(0)
        # what step t passes back, also when a knob cuts the carry: dh0, dc0 after step 0
        out["dh0"], out["dc0"] = da @ Wh.T, dc_tot * (1.0 if "dc_prev_f" in knobs else f)
    return out


# --------------------------------------------------------------------------- time and forward

def time_probe(student: Callable[[np.ndarray], Mapping[str, np.ndarray]],
               derive: Callable[[np.ndarray], Mapping[str, np.ndarray]], dh: np.ndarray,
               dtype, carried: str = "dh[t-1]") -> Optional[str]:
    """The first step, counting back from T-1, where the student's BPTT leaves the derivation.

    ``student(up)`` and ``derive(up)`` return the gradients for an upstream ``up`` (T, N, H);
    each probe keeps ``dh`` at one step t0 and zeroes the rest, and compares the per-step dx[t].
    None when every probe agrees, or when only the weight sums are wrong.
    """
    T = dh.shape[0]
    if T < 2:
        return None
    for t0 in reversed(range(T)):
        up = np.zeros_like(dh)
        up[t0] = dh[t0]
        got, exp = student(up), derive(up)
        wrong = [k for k in exp if not agrees(np.asarray(got[k]), exp[k], dtype)]
        if not wrong:
            continue
        bad = [t for t in reversed(range(t0 + 1))
               if not agrees(np.asarray(got["dx"])[t], exp["dx"][t], dtype)]
        if t0 < T - 1:
            how = "is ignored" if not np.any(np.asarray(got["dx"])[t0]) else "is not used as at T-1"
            return (f"time: correct for an upstream gradient at the last step alone; wrong for an "
                    f"upstream gradient at step t = {t0} alone: dh[{t0}] {how}")
        if not bad:
            return None   # every dx[t] right: the error is in a sum, not in the flow over time
        if bad[0] == T - 1:
            return (f"time: wrong already at the last step t = {T - 1} for an upstream gradient "
                    f"there alone: the step's own local derivatives")
        return (f"time: correct for an upstream gradient at the last step alone down to "
                f"t = {bad[0] + 1}; wrong as soon as a gradient must flow from t = {bad[0] + 1} to "
                f"t = {bad[0]}: the gradient carried into the previous step ({carried}) is "
                f"missing or wrong")
    return None


def _block_cols(perm, H):
    return np.concatenate([np.arange(p * H, (p + 1) * H) for p in perm])


def forward_permutation(ref_forward: Callable, args: Mapping[str, np.ndarray], got: Sequence,
                        H: int) -> Optional[str]:
    """'h and c are the reference's with the gate blocks in the order i, f, o, g' or None.

    ``ref_forward(*args)`` returns (h, c, cache); ``got`` the student's (h, c). Tries the 23
    other orders of the blocks of Wx, Wh, b (only after a forward check failed).
    """
    for perm in permutations(range(len(GATES))):
        if perm == tuple(range(len(GATES))):
            continue
        cols = _block_cols(perm, H)
        a = dict(args)
        for k in ("Wx", "Wh", "b"):
            a[k] = np.asarray(args[k])[..., cols]
        out = ref_forward(*a.values())
        dt = np.asarray(args["x"]).dtype
        if all(agrees(np.asarray(got[j]), out[j], dt) for j in range(2)):
            inv = np.argsort(perm)
            order = ", ".join(GATES[inv[j]] for j in range(len(GATES)))
            return (f"your h and c are what the gates give in the order {order}: the blocks of "
                    f"a = x Wx + h_prev Wh + b are i, f, g, o (columns 0:{H}, {H}:{2 * H}, "
                    f"{2 * H}:{3 * H}, {3 * H}:{4 * H})")
    return None


# --------------------------------------------------------------------------- one backward check

@dataclass
class BackwardCase:
    """One backward check's inputs: the model, the forward arguments and the upstream gradients.

    ``kind`` "rnn" or "lstm"; ``step`` True for one step (x (N, D)), False for a sequence
    (x (T, N, D)); ``args`` the forward's arguments in call order; ``ups`` the upstream
    gradients passed to the backward (dh, and dc for an LSTM step); ``names`` the returned
    gradients in order (e.g. dx, dh_prev, dWx, dWh, db).
    """

    kind: str
    step: bool
    args: Dict[str, np.ndarray]
    ups: List[np.ndarray]
    names: List[str]

    def derive(self, ups=None, knobs=()) -> Dict[str, np.ndarray]:
        """The derivation's gradients, under this check's names (dh_prev for a step's dh0)."""
        ups = self.ups if ups is None else ups
        v = list(self.args.values())
        if self.step:  # one step is a sequence of length 1
            v = [v[0][None]] + v[1:]
            ups = [u[None] for u in ups]
        fn = rnn_bptt if self.kind == "rnn" else lstm_bptt
        grads = fn(*v, *ups, knobs=knobs)
        if self.step:
            grads["dx"] = grads["dx"][0]
        rename = dict(zip(("dx", "dh0", "dc0") if self.kind == "lstm" else ("dx", "dh0"), self.names))
        return {rename.get(k, k): g for k, g in grads.items() if rename.get(k, k) in self.names}

    @property
    def sizes(self) -> Dict[str, Tuple[str, int]]:
        """The sizes a wrong factor may be: N, and T and T*N for a sequence."""
        x = self.args["x"]
        s = {"N": ("the N sequences of the batch", x.shape[-2])}
        if not self.step:
            s["T"] = ("the T steps", x.shape[0])
            s["T*N"] = ("the T*N positions", x.shape[0] * x.shape[-2])
        return s


def diagnose_backward(case: BackwardCase, got: Sequence, student_bwd: Optional[Callable] = None,
                      forward_wrong: Optional[str] = None) -> Diagnosis:
    """The diagnosis of a failed backward check (see the module docstring).

    ``got`` the student's gradients in ``case.names`` order; ``student_bwd(*ups)`` runs the
    student's backward on the student's cache with other upstream gradients (time probes);
    ``forward_wrong`` a line saying the student's forward is wrong (then it is the diagnosis).
    """
    diag = Diagnosis()
    fam = "rnn" if case.kind == "rnn" else "lstm"
    if forward_wrong:
        diag.overview.append(forward_wrong)
        diag.pointer = BOOK["lstm_order" if "order" in forward_wrong else f"{fam}_local"]
        return diag
    dtype = np.asarray(case.args["x"]).dtype
    exp = case.derive()
    knobs = RNN_KNOBS if case.kind == "rnn" else LSTM_KNOBS
    variants = {k: (text, case.derive(knobs=(k,))) for k, (text, _) in knobs.items()}
    H = case.args["h0" if "h0" in case.args else "h_prev"].shape[-1]
    pointer = None
    for name, g in zip(case.names, got):
        found = explain_gradient(name, g, exp[name], dtype, case.sizes, variants,
                                 H_gates=H if case.kind == "lstm" else None)
        if found:
            diag.per_grad[name] = found
            key = next((knobs[k][1] for k, (t, _) in variants.items() if t == found), None)
            pointer = pointer or key or ("lstm_order" if "order" in found else None)
    blocks = [n for n, f in diag.per_grad.items() if f.startswith(("blocks ", "the gate blocks"))]
    for n, f in diag.per_grad.items():
        if blocks and f.startswith("it is wrong, and not"):
            diag.per_grad[n] = (f"wrong through da = [da_i, da_f, da_g, da_o], whose gate "
                                f"blocks are named under {', '.join(blocks)}")
    right = [n for n in case.names if n not in diag.per_grad]
    wrong = [n for n in case.names if n in diag.per_grad]
    if not right and all(f.startswith("it is wrong, and not") for f in diag.per_grad.values()):
        # every returned gradient is computed from da: the error is upstream of all of them
        shared = ("da[t] = g[t] ⊙ (1 - h[t]^2), the local derivative of the step" if fam == "rnn"
                  else "da = [da_i, da_f, da_g, da_o] or dc_tot, the local derivatives of the step")
        diag.per_grad = {n: f"wrong, and every gradient is computed from {shared}: the error is "
                            f"there (not a sign, a factor, a transpose or one missing term)"
                         for n in wrong}
    if right and wrong:
        diag.overview.append(f"right: {', '.join(right)}; wrong: {', '.join(wrong)}")
    if not case.step and student_bwd is not None and wrong:
        def student(up):
            return dict(zip(case.names, student_bwd(up, *case.ups[1:])))

        carried = "dh[t-1]" if case.kind == "rnn" else "dh[t-1] or dc[t-1]"
        when = time_probe(student, lambda up: case.derive([up] + case.ups[1:]), case.ups[0],
                          dtype, carried)
        if when:
            diag.overview.append(when)
            pointer = pointer or (f"{fam}_carry" if fam == "rnn" else "lstm_cell") \
                if "flow" in when else pointer
    diag.pointer = BOOK[pointer or f"{fam}_local"]
    return diag


def report(check: Callable, *args, **kwargs) -> str:
    """Run a grading check quietly and return its diagnosis, as the grader prints it.

    ``report(ps3.check_rnn_backward, my_forward, my_backward, seed=0)`` is what the book calls:
    the first failed part's diagnosis holds the overview and every finding.
    """
    from .checks import Score

    score = Score(1)
    with contextlib.redirect_stdout(io.StringIO()):
        check(score, 1, *args, **kwargs)
    return score.diagnoses[0] if score.diagnoses else "no diagnosis: every part passed"
