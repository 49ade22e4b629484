"""Checks for ps3-bptt: RNN backward, the gradient check, clipping, truncated-BPTT training."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import numpy as np

from .checks import Passed, Score, assert_close, describe, seed_label
from .diagnose import agrees
from .factories import rnn_inputs
from .numpy_checks import backward_parts
from .probe_functions import probe
from .sealing import guard, reference

__all__ = ["check_rnn_step_backward", "check_rnn_backward", "check_numerical_gradient",
           "check_clip_grad_norm", "check_train_epoch", "check_training", "alphabet_source",
           "init_params", "reference_epoch"]

NP = "course_lib.numpy_rnn."


def check_rnn_step_backward(score: Score, weight: float, fwd, bwd, seed: int, N: int = 3,
                            D: int = 4, H: int = 5, dtype: str = "float64") -> None:
    """dx, dh_prev, dWx, dWh, db: numerical gradient of your forward and the reference."""
    args = rnn_inputs(seed, T=0, N=N, D=D, H=H, dtype=dtype)
    backward_parts(score, weight, "rnn_step_forward", "rnn_step_backward", fwd, bwd,
                   NP + "rnn_step_forward", NP + "rnn_step_backward", args, n_out=1,
                   grad_names=["dx", "dh_prev", "dWx", "dWh", "db"],
                   grad_of=["x", "h_prev", "Wx", "Wh", "b"], seed=seed,
                   title=f"({seed_label(seed)}, {dtype})")


def check_rnn_backward(score: Score, weight: float, fwd, bwd, seed: int, T: int = 4, N: int = 3,
                       D: int = 4, H: int = 5, dtype: str = "float64", step_bwd=None) -> None:
    """dx, dh0, dWx, dWh, db of BPTT: numerical gradient of your forward and the reference.

    ``step_bwd``: the student's rnn_step_backward, which their rnn_backward calls; a gradient
    wrong only through it keeps its credit and the message names the helper.
    """
    args = rnn_inputs(seed, T=T, N=N, D=D, H=H, dtype=dtype)
    backward_parts(score, weight, "rnn_forward", "rnn_backward", fwd, bwd,
                   NP + "rnn_forward", NP + "rnn_backward", args, n_out=1,
                   grad_names=["dx", "dh0", "dWx", "dWh", "db"],
                   grad_of=["x", "h0", "Wx", "Wh", "b"], seed=seed,
                   title=f"({seed_label(seed)}, T={T}, {dtype})",
                   helper=("rnn_step_backward", step_bwd) if step_bwd is not None else None)


def check_numerical_gradient(score: Score, weight: float, fn, seed: int, shape=(3, 4)) -> None:
    """Three parts: a scalar f (df=None), an array f with df, and x restored afterwards.

    The functions handed to the student's numerical_gradient are :mod:`.probe_functions`
    (module level, by name, so a grader in another process can rebuild them).
    """
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(shape)
    W = rng.standard_normal((shape[-1], 3))
    df = rng.standard_normal(shape[:-1] + (3,))
    ref = reference("course_lib.gradcheck.numerical_gradient")
    f_scalar, f_array = probe("sum_sin_x_times_x"), probe("tanh_x_W", W=W)
    inputs = {"x": x0}
    label = seed_label(seed)

    def check_scalar():
        got = guard(fn, "numerical_gradient")(f_scalar, x0.copy())
        assert_close("numerical_gradient", "gradient of sum(sin(x) * x)", got,
                     ref(f_scalar, x0.copy()), inputs, rtol=1e-6, atol=1e-8)

    def check_array():
        got = guard(fn, "numerical_gradient")(f_array, x0.copy(), df)
        assert_close("numerical_gradient", "gradient of sum(tanh(x @ W) * df)", got,
                     ref(f_array, x0.copy(), df), {"x": x0, "W": W, "df": df}, rtol=1e-6, atol=1e-8)

    def check_restored():
        x = x0.copy()
        got = guard(fn, "numerical_gradient")(f_array, x, df)
        assert_close("numerical_gradient", "x after the call", x, x0, inputs, rtol=0, atol=0,
                     against="x before the call (restore every entry you perturb)")
        # a constant answer that never touches x must not pass this part
        if not np.any(np.asarray(got, dtype=np.float64)):
            raise AssertionError("numerical_gradient: the gradient is zero everywhere, so x was "
                                 "left unchanged without being used: perturb each entry, then "
                                 "restore it")

    score.part(weight * 0.4, f"numerical_gradient: scalar f ({label}) [{describe(inputs)}]", check_scalar)
    score.part(weight * 0.4, f"numerical_gradient: array f with df ({label})", check_array)
    score.part(weight * 0.2, f"numerical_gradient: leaves x unchanged ({label})", check_restored)


def _grads(seed, scale, kind):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) * scale for s in ((3, 4), (4,), (2, 2))]
    if kind == "dict":
        return dict(zip(("dWx", "db", "dWh"), arrays))
    return arrays


def check_clip_grad_norm(score: Score, weight: float, fn, seed: int, dtype: str = "float64") -> None:
    """Three parts: returns the global norm, rescales large gradients in place, leaves small ones."""
    ref = reference(NP + "clip_grad_norm")

    def values(g):
        return list(g.values()) if isinstance(g, dict) else list(g)

    def run(scale, kind, max_norm):
        g_ref = _grads(seed, scale, kind)
        g_ref = {k: v.astype(dtype) for k, v in g_ref.items()} if kind == "dict" else [v.astype(dtype) for v in g_ref]
        g_stu = {k: v.copy() for k, v in g_ref.items()} if kind == "dict" else [v.copy() for v in g_ref]
        norm_ref = ref(g_ref, max_norm)
        norm = guard(fn, "clip_grad_norm")(g_stu, max_norm)
        return norm, norm_ref, values(g_stu), values(g_ref)

    def check_norm():
        norm, norm_ref, _, _ = run(3.0, "dict", 1.0)
        if norm is None or np.ndim(norm) != 0:
            raise AssertionError(f"clip_grad_norm: should return the global norm (a number), got {norm!r}")
        assert_close("clip_grad_norm", "the returned norm (before clipping)",
                     np.float64(norm), np.float64(norm_ref), None, check_dtype=False)

    def check_large():
        for kind in ("dict", "list"):
            _, _, got, exp = run(3.0, kind, 1.0)
            for k, (g, e) in enumerate(zip(got, exp)):
                assert_close("clip_grad_norm", f"grads[{k}] after clipping ({kind}, norm > max_norm)",
                             g, e, {"grads": g, "max_norm": 1.0})

    def check_small():
        norm, norm_ref, got, exp = run(0.01, "list", 10.0)
        # doing nothing leaves them alone too: the part counts only with the right norm
        if norm is None or np.ndim(norm) != 0:
            raise AssertionError(f"clip_grad_norm: should return the global norm (a number), got {norm!r}")
        assert_close("clip_grad_norm", "the returned norm (norm < max_norm)", np.float64(norm),
                     np.float64(norm_ref), None, check_dtype=False)
        for k, (g, e) in enumerate(zip(got, exp)):
            assert_close("clip_grad_norm", f"grads[{k}] (norm < max_norm: unchanged)", g, e,
                         {"grads": g, "max_norm": 10.0})

    score.part(weight * 0.3, f"clip_grad_norm: returns the norm ({seed_label(seed)}, {dtype})", check_norm)
    score.part(weight * 0.5, f"clip_grad_norm: rescales in place when too large ({seed_label(seed)}, {dtype})", check_large)
    score.part(weight * 0.2, f"clip_grad_norm: leaves small gradients alone ({seed_label(seed)}, {dtype})", check_small)


# ---------------------------------------------------------------------------------------------
# truncated BPTT on the alphabet
# ---------------------------------------------------------------------------------------------

def alphabet_source(repeats: int = 12, N: int = 4) -> np.ndarray:
    """Ids 0..25 of the alphabet repeated, batchified into (T, N) columns (course_lib.data)."""
    ids = np.tile(np.arange(26), repeats)
    return reference("course_lib.data.batchify")(ids, N)


def init_params(V: int = 26, H: int = 16, seed: int = 0) -> dict:
    """Wx (V, H), Wh (H, H), b (H,), W (H, V), c (V,): a one-hot-input RNN language model."""
    rng = np.random.default_rng(seed)
    return {"Wx": rng.standard_normal((V, H)) * 0.1, "Wh": rng.standard_normal((H, H)) * 0.1,
            "b": np.zeros(H), "W": rng.standard_normal((H, V)) * 0.1, "c": np.zeros(V)}


def reference_epoch(params: dict, source: np.ndarray, bptt: int, lr: float, max_norm: float,
                    h0: np.ndarray, helpers: Optional[Dict[str, Callable]] = None,
                    update: bool = True):
    """The reference epoch of truncated BPTT (in place on ``params``) -> (mean loss, h).

    ``helpers`` replaces reference functions by name ("rnn_backward", "clip_grad_norm"): the
    reference epoch composed with a student's helpers. ``update=False`` only evaluates the loss.
    """
    R = {name: reference(NP + name) for name in (
        "rnn_forward", "rnn_backward", "affine_forward", "affine_backward",
        "softmax_cross_entropy", "clip_grad_norm")}
    R.update(helpers or {})
    get_batch = reference("course_lib.data.get_batch")
    V = params["Wx"].shape[0]
    h = h0
    losses = []
    for i in range(0, source.shape[0] - 1, bptt):
        x_ids, y = get_batch(source, i, bptt)
        x = np.eye(V)[x_ids]                                           # (L, N, V) one-hot
        hs, cache = R["rnn_forward"](x, h, params["Wx"], params["Wh"], params["b"])
        s, acache = R["affine_forward"](hs, params["W"], params["c"])
        loss, ds = R["softmax_cross_entropy"](s, y)
        h = hs[-1]
        losses.append(float(loss))
        if not update:
            continue
        dhs, dW, dc = R["affine_backward"](ds, acache)
        _, _, dWx, dWh, db = R["rnn_backward"](dhs, cache)
        grads = {"Wx": dWx, "Wh": dWh, "b": db, "W": dW, "c": dc}
        R["clip_grad_norm"](grads, max_norm)
        for k in params:
            params[k] -= lr * grads[k]
    return float(np.mean(losses)), h


def _epoch_matches(p_got: dict, got, p_exp: dict, exp) -> bool:
    """The student's epoch (params, (loss, h)) equals another epoch's, to the check's tolerance."""
    try:
        return (all(agrees(p_got[k], p_exp[k]) for k in p_exp) and agrees(got[0], exp[0])
                and agrees(got[1], exp[1]))
    except (TypeError, ValueError, KeyError, IndexError):
        return False


def _helper_note(helpers: Optional[Dict[str, Callable]], p0: dict, run_args: tuple,
                 p_stu: dict, got, p_ref: dict, ref) -> Optional[Passed]:
    """A note when train_epoch is right and only the student's helpers are wrong, else None.

    Established from calls alone: the student's epoch (``p_stu``, ``got``) equals the reference
    epoch run from ``p0`` with the student's helpers, and each helper named makes the reference
    epoch differ from the plain one (``p_ref``, ``ref``) on its own. ``helpers["rnn_forward"]``
    (the notebook's given forward) always runs with the student's rnn_backward, which reads its
    cache, and is never blamed.
    """
    if not helpers:
        return None

    def epoch_with(names):
        p = {k: v.copy() for k, v in p0.items()}
        source, bptt, lr, max_norm, h0 = run_args
        if "rnn_backward" in names and "rnn_forward" in helpers:
            names = list(names) + ["rnn_forward"]
        chosen = {n: guard(helpers[n], n) for n in names}
        return p, reference_epoch(p, source, bptt, lr, max_norm, h0.copy(), helpers=chosen)

    try:
        if not _epoch_matches(p_stu, got, *epoch_with(list(helpers))):
            return None
        bad = [n for n in helpers if n != "rnn_forward"
               and not _epoch_matches(*epoch_with([n]), p_ref, ref)]
    except Exception:  # a helper that crashes: no credit through it
        return None
    if not bad:
        return None
    names = " and ".join(bad)
    return Passed(f"your {names} {'is' if len(bad) == 1 else 'are'} wrong, which makes train_epoch "
                  f"differ from the reference epoch; train_epoch itself is right (it equals the "
                  f"reference epoch run with your {names}), so it keeps its credit: fix {names}")


def check_train_epoch(score: Score, weight: float, fn, seed: int, bptt: int = 5,
                      max_norm: float = 0.5, lr: float = 0.5, N: int = 4,
                      helpers: Optional[Dict[str, Callable]] = None) -> None:
    """Three parts: the updated parameters, the mean loss and the carried hidden state, each
    after one epoch, equal the reference epoch's.

    ``helpers``: the notebook's functions train_epoch calls ({"rnn_forward": ...,
    "rnn_backward": ..., "clip_grad_norm": ...}). When train_epoch fails but equals the reference epoch composed with
    those helpers, a helper is at fault: the parts keep their credit and the note names it.
    """
    source = alphabet_source(repeats=3, N=N)
    p_ref = init_params(H=8, seed=seed)
    p0, p_stu = ({k: v.copy() for k, v in p_ref.items()} for _ in range(2))
    h0 = np.random.default_rng(seed + 1).standard_normal((N, 8)) * 0.1
    state: dict = {}
    inputs = {"source": source, "h0": h0, "bptt": bptt, "max_norm": max_norm, "lr": lr}

    def run():
        if not state:
            state["ref"] = reference_epoch(p_ref, source, bptt, lr, max_norm, h0.copy())
            out = guard(fn, "train_epoch")(p_stu, source, bptt, lr, max_norm, h0.copy())
            if not isinstance(out, tuple) or len(out) != 2:
                raise AssertionError(f"train_epoch: expected (mean_loss, h), got {type(out).__name__}")
            state["got"] = out
        return state["ref"], state["got"]

    def credited(check):
        def part():
            try:
                check()
            except AssertionError:
                if "got" in state and "note" not in state:
                    state["note"] = _helper_note(helpers, p0, (source, bptt, lr, max_norm, h0),
                                                 p_stu, state["got"], p_ref, state["ref"])
                if state.get("note"):
                    return state["note"]
                raise
        return part

    def check_params():
        run()
        for k in p_ref:
            assert_close("train_epoch", f"params['{k}'] after one epoch", p_stu[k], p_ref[k],
                         inputs, against="the reference epoch (forward, backward, clip, SGD)")

    def check_loss():
        (loss_ref, _), (loss, _) = run()
        assert_close("train_epoch", "mean loss of the epoch", np.float64(loss), np.float64(loss_ref),
                     inputs, check_dtype=False, against="the reference epoch")

    def check_h():
        (_, h_ref), (_, h) = run()
        assert_close("train_epoch", "the final hidden state", h, h_ref, inputs,
                     against="the reference epoch (carry h from window to window)")

    label = f"{seed_label(seed)}, bptt {bptt}"
    score.part(weight * 0.5, f"train_epoch: parameters after one epoch ({label})", credited(check_params))
    score.part(weight * 0.25, f"train_epoch: mean loss ({label})", credited(check_loss))
    score.part(weight * 0.25, f"train_epoch: hidden state carried across windows ({label})", credited(check_h))


def check_training(score: Score, weight: float, fn, seed: int, epochs: int = 25,
                   target: float = 0.2, lr: float = 1.0, max_norm: float = 1.0) -> None:
    """One part: ``epochs`` epochs of your train_epoch on the alphabet bring the loss below target.

    The loss is recomputed from the trained parameters by the reference forward (one more pass
    over the alphabet, no update): the number the student's code returns is not trusted.
    """
    source = alphabet_source(repeats=12, N=4)
    params = init_params(H=16, seed=seed)

    def check():
        h = np.zeros((4, 16))
        f = guard(fn, "train_epoch")
        for _ in range(epochs):
            out = f(params, source, 10, lr, max_norm, h)
            if not isinstance(out, tuple) or len(out) != 2:
                raise AssertionError(f"train_epoch: expected (mean_loss, h), got {type(out).__name__}")
            h = out[1]
        trained = {k: np.asarray(v, dtype=np.float64).copy() for k, v in params.items()}
        loss, _ = reference_epoch(trained, source, 10, lr, max_norm, np.zeros((4, 16)), update=False)
        if not np.isfinite(loss) or loss >= target:
            raise AssertionError(
                f"train_epoch: after {epochs} epochs on the alphabet (source {source.shape}, "
                f"bptt 10, lr {lr}, max_norm {max_norm}) the mean loss of the trained parameters "
                f"(recomputed by the reference forward) is {loss:.4f}; expected < {target}")

    score.part(weight, f"train_epoch learns the alphabet ({seed_label(seed)}, {epochs} epochs)", check)
