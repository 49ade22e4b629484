"""Generic checks of a student's NumPy forward/backward pair against the course's reference.

Forward: the student's outputs match the reference's on the same inputs (shape, dtype, values).
Backward: every gradient matches (a) the numerical gradient of the *student's own* forward
(float64 only; centred differences, course_lib.gradcheck) and (b) the reference backward; a
failure carries a diagnosis (:mod:`.diagnose`: which gradient, gate block, time step, term). The
student's functions run sealed (:func:`~course_lib.grading.sealing.guard`); the reference and
the numerical gradient run outside the seal.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .checks import Diagnosed, Passed, Score, assert_close, describe, numerical_gradient
from .diagnose import BOOK, BackwardCase, _close, diagnose_backward, forward_permutation
from .sealing import guard, reference

__all__ = ["forward_part", "backward_parts", "bptt_through", "upstream"]


def upstream(seed: int, shapes: Sequence[tuple], dtype) -> list:
    """Random upstream gradients (dout) of the given shapes, seeded."""
    rng = np.random.default_rng(seed + 7919)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _outputs(fn_name: str, result, n_out: int):
    if not isinstance(result, tuple) or len(result) != n_out + 1:
        raise AssertionError(
            f"{fn_name}: expected a tuple of {n_out} array(s) and the cache, "
            f"got {type(result).__name__}" + (f" of length {len(result)}" if isinstance(result, tuple) else ""))
    return result


def forward_part(score: Score, weight: float, fn_name: str, student: Callable, ref_name: str,
                 args: Dict[str, np.ndarray], out_names: Sequence[str], title: str,
                 n_cache: int = 1, gates: bool = False) -> None:
    """One part: ``student(*args)`` returns the reference's outputs (then ``n_cache`` caches).

    ``gates``: an LSTM forward, whose failure is checked for gate blocks in the wrong order.
    """

    def check():
        expected = reference(ref_name)(*args.values())
        got = guard(student, fn_name)(*[a.copy() for a in args.values()])
        n_out = len(out_names)
        if n_cache:
            got = _outputs(fn_name, got, n_out)
        else:
            got = got if isinstance(got, tuple) else (got,)
            expected = expected if isinstance(expected, tuple) else (expected,)
        try:
            for k, name in enumerate(out_names):
                assert_close(fn_name, name, got[k], expected[k], args)
        except AssertionError as exc:
            order = gates and forward_permutation(reference(ref_name), args, got,
                                                  args["Wh"].shape[0])
            if order:
                raise Diagnosed(str(exc), f"{order}\nSee {BOOK['lstm_order']}.") from None
            raise

    score.part(weight, f"{fn_name}: {title} [{describe(args)}]", check)


def bptt_through(kind: str, step_bwd: Callable, dh: np.ndarray, cache) -> Optional[tuple]:
    """The course's BPTT loop around the student's step backward (None if the cache is no list).

    ``kind`` "rnn": g[t] = dh[t] + dh_prev[t+1] into ``step_bwd(g[t], cache[t])``; "lstm": also
    dc_prev[t+1] into ``step_bwd(g[t], dc, cache[t])``; the weight gradients summed over t.
    Returns the sequence backward's gradients (dx (T, N, D), dh0[, dc0], dWx, dWh, db).
    """
    T = dh.shape[0]
    try:
        if len(cache) != T:
            return None
        carry = [np.zeros_like(dh[0])] * (1 if kind == "rnn" else 2)
        dxs, sums = [None] * T, None
        for t in reversed(range(T)):
            out = step_bwd(dh[t] + carry[0], *carry[1:], cache[t])
            dxs[t], carry, w = out[0], list(out[1:len(carry) + 1]), list(out[len(carry) + 1:])
            sums = w if sums is None else [a + b for a, b in zip(sums, w)]
        return (np.stack(dxs), *carry, *sums)
    except (TypeError, KeyError, IndexError, ValueError, AttributeError):
        return None


def _forward_verdict(fwd_name, bwd_name, r_out, s_out, n_out, args, ref_fwd, lstm) -> Optional[str]:
    """None when the student's forward matches the reference; else the line that says so first."""
    dt = next(iter(args.values())).dtype
    if all(np.shape(s_out[j]) == np.shape(r_out[j]) and _close(s_out[j], r_out[j], dt)
           for j in range(n_out)):
        return None
    line = (f"your {fwd_name} is wrong (its own test fails too), and this check runs your "
            f"{bwd_name} on the cache of your {fwd_name}: fix {fwd_name} first")
    order = lstm and forward_permutation(reference(ref_fwd), args, s_out, args["Wh"].shape[0])
    return line + (f"; {order}" if order else "")


def backward_parts(score: Score, weight: float, fwd_name: str, bwd_name: str,
                   s_fwd: Callable, s_bwd: Callable, ref_fwd: str, ref_bwd: str,
                   args: Dict[str, np.ndarray], n_out: int, grad_names: Sequence[str],
                   grad_of: Sequence[Optional[str]], seed: int, n_up: Optional[int] = None,
                   numeric: bool = True, title: str = "", kind: str = "rnn",
                   helper: Optional[Tuple[str, Callable]] = None) -> None:
    """One part per gradient (``weight`` split evenly) of the student's backward.

    ``grad_of[k]`` names the forward argument gradient ``k`` is taken with respect to
    (None: the gradient of something else, e.g. the cache's c0, compared with the reference only).
    ``n_up`` upstream gradients (default ``n_out``) are passed before the cache. A failed part
    carries a diagnosis (:mod:`.diagnose`; ``kind`` "rnn" or "lstm"). ``helper`` = (name, the
    student's step backward) for a sequence backward: a gradient that is wrong only because that
    helper is wrong (it equals :func:`bptt_through` the helper) keeps its credit, with a note.
    """
    n_up = n_out if n_up is None else n_up
    dtype = next(iter(args.values())).dtype
    state: dict = {}

    def run():
        if "result" in state:
            return state["result"]
        # the reference first, outside the seal
        r_out = reference(ref_fwd)(*args.values())
        ups = upstream(seed, [r_out[k].shape for k in range(n_up)], dtype)
        r_grads = reference(ref_bwd)(*ups, r_out[-1])
        sf = guard(s_fwd, fwd_name)
        sb = guard(s_bwd, bwd_name)
        s_out = _outputs(fwd_name, sf(*[a.copy() for a in args.values()]), n_out)
        s_grads = sb(*[u.copy() for u in ups], s_out[-1])
        if not isinstance(s_grads, tuple) or len(s_grads) != len(grad_names):
            raise AssertionError(
                f"{bwd_name}: expected a tuple of {len(grad_names)} gradients "
                f"({', '.join(grad_names)}), got {type(s_grads).__name__}"
                + (f" of length {len(s_grads)}" if isinstance(s_grads, tuple) else ""))
        state["result"] = (ups, r_grads, s_grads, sf, sb, r_out, s_out)
        return state["result"]

    def diagnosis(k: int) -> str:
        """The diagnosis text under gradient k's failure (the overview under the first one)."""
        ups, _, s_grads, _, sb, r_out, s_out = run()
        if "diag" not in state:
            step = np.ndim(args["x"]) == 2
            case = BackwardCase(kind, step, dict(args), list(ups), list(grad_names))
            wrong_fwd = _forward_verdict(fwd_name, bwd_name, r_out, s_out, n_out, args, ref_fwd,
                                         kind == "lstm")
            state["diag"] = diagnose_backward(
                case, s_grads, lambda *u: sb(*[v.copy() for v in u], s_out[-1]), wrong_fwd)
        first = not state.get("shown")
        state["shown"] = True
        return state["diag"].text(grad_names[k], first)

    def helper_note(k: int) -> Optional[str]:
        """Why gradient k may keep its credit although it differs from the reference."""
        if helper is None:
            return None
        ups, r_grads, s_grads, _, _, r_out, s_out = run()
        if "composed" not in state:
            ok_fwd = _forward_verdict(fwd_name, bwd_name, r_out, s_out, n_out, args, ref_fwd,
                                      False) is None
            state["composed"] = ok_fwd and bptt_through(kind, guard(helper[1], helper[0]),
                                                        ups[0], s_out[-1])
        composed = state["composed"]
        g = np.asarray(s_grads[k]) if s_grads[k] is not None else None
        if not composed or g is None or g.shape != np.shape(composed[k]) or g.dtype != dtype \
                or not _close(g, composed[k], dtype):
            return None
        return (f"your {helper[0]} is wrong, which makes {bwd_name}'s {grad_names[k]} differ "
                f"from the reference; {bwd_name} itself is right: it equals BPTT through your "
                f"{helper[0]}, so it keeps its credit (fix {helper[0]})")

    def make_check(k: int):
        def check():
            ups, r_grads, s_grads, sf, _, _, _ = run()
            gname = grad_names[k]
            wrt = grad_of[k]
            inputs = dict(args)
            inputs.update({("dh", "dc")[j]: u for j, u in enumerate(ups)})
            try:
                if numeric and wrt is not None and dtype == np.float64:
                    def f(v):
                        a = dict(args)
                        a[wrt] = v
                        out = _outputs(fwd_name, sf(*a.values()), n_out)
                        return np.concatenate([np.asarray(out[j], dtype=np.float64).ravel()
                                               for j in range(n_up)])
                    df = np.concatenate([u.ravel() for u in ups])
                    num = numerical_gradient(f, args[wrt].copy(), df=df)
                    assert_close(bwd_name, gname, s_grads[k], num, inputs, rtol=1e-5, atol=1e-7,
                                 against=f"the numerical gradient of your {fwd_name} (w.r.t. {wrt})")
                assert_close(bwd_name, gname, s_grads[k], r_grads[k], inputs)
            except AssertionError as exc:
                note = helper_note(k)
                if note:
                    return Passed(note)
                raise Diagnosed(str(exc), diagnosis(k)) from None
        return check

    for k, gname in enumerate(grad_names):
        score.part(weight / len(grad_names),
                   f"{bwd_name}: {gname}{' ' + title if title else ''} [{describe(args)}]",
                   make_check(k))
