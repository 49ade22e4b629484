"""Generic checks of a student's NumPy forward/backward pair against the course's reference.

Forward: the student's outputs match the reference's on the same inputs (shape, dtype, values).
Backward: every gradient matches (a) the numerical gradient of the *student's own* forward
(float64 only; centred differences, course_lib.gradcheck) and (b) the reference backward; a
failure carries a diagnosis (:mod:`.diagnose`: which gradient, gate block, time step, term). The
student's functions run sealed (:func:`~course_lib.grading.sealing.guard`); the reference and
the numerical gradient run outside the seal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .batched import numerical_gradient_via
from .checks import Diagnosed, Passed, Score, assert_close, describe
from .diagnose import BOOK, BackwardCase, agrees, diagnose_backward, forward_permutation
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
    if all(np.shape(s_out[j]) == np.shape(r_out[j]) and agrees(s_out[j], r_out[j], dt)
           for j in range(n_out)):
        return None
    line = (f"your {fwd_name} is wrong (its own test fails too), and this check runs your "
            f"{bwd_name} on the cache of your {fwd_name}: fix {fwd_name} first")
    order = lstm and forward_permutation(reference(ref_fwd), args, s_out, args["Wh"].shape[0])
    return line + (f"; {order}" if order else "")


@dataclass
class _BackwardRun:
    """One backward check's shared state: the reference's and the student's results, computed
    once for all the gradient parts, and (only after a failure) the diagnosis and the helper's
    composition. See :func:`backward_parts` for the fields."""

    fwd_name: str
    bwd_name: str
    s_fwd: Callable
    s_bwd: Callable
    ref_fwd: str
    ref_bwd: str
    args: Dict[str, np.ndarray]
    n_out: int
    n_up: int
    grad_names: Sequence[str]
    seed: int
    kind: str
    helper: Optional[Tuple[str, Callable]]
    state: dict = field(default_factory=dict)

    def run(self):
        """(ups, reference grads, student grads, sealed student forward, backward, outputs)."""
        if "result" not in self.state:
            # the reference first, outside the seal
            r_out = reference(self.ref_fwd)(*self.args.values())
            dtype = next(iter(self.args.values())).dtype
            ups = upstream(self.seed, [r_out[k].shape for k in range(self.n_up)], dtype)
            r_grads = reference(self.ref_bwd)(*ups, r_out[-1])
            sf, sb = guard(self.s_fwd, self.fwd_name), guard(self.s_bwd, self.bwd_name)
            s_out = _outputs(self.fwd_name, sf(*[a.copy() for a in self.args.values()]), self.n_out)
            s_grads = sb(*[u.copy() for u in ups], s_out[-1])
            names = self.grad_names
            if not isinstance(s_grads, tuple) or len(s_grads) != len(names):
                raise AssertionError(
                    f"{self.bwd_name}: expected a tuple of {len(names)} gradients "
                    f"({', '.join(names)}), got {type(s_grads).__name__}"
                    + (f" of length {len(s_grads)}" if isinstance(s_grads, tuple) else ""))
            self.state["result"] = (ups, r_grads, s_grads, sf, sb, r_out, s_out)
        return self.state["result"]

    def forward_verdict(self, lstm: bool) -> Optional[str]:
        _, _, _, _, _, r_out, s_out = self.run()
        return _forward_verdict(self.fwd_name, self.bwd_name, r_out, s_out, self.n_out, self.args,
                                self.ref_fwd, lstm)

    def diagnosis(self, k: int) -> str:
        """The diagnosis text under gradient k's failure (the overview under the first one)."""
        ups, _, s_grads, _, sb, _, s_out = self.run()
        if "diag" not in self.state:
            step = np.ndim(self.args["x"]) == 2
            case = BackwardCase(self.kind, step, dict(self.args), list(ups), list(self.grad_names))
            self.state["diag"] = diagnose_backward(
                case, s_grads, lambda *u: sb(*[v.copy() for v in u], s_out[-1]),
                self.forward_verdict(self.kind == "lstm"))
        first = not self.state.get("shown")
        self.state["shown"] = True
        return self.state["diag"].text(self.grad_names[k], first)

    def helper_note(self, k: int) -> Optional[str]:
        """Why gradient k keeps its credit although it differs from the reference: it equals
        BPTT through the student's (wrong) step helper, with the student's forward right."""
        if self.helper is None:
            return None
        ups, _, s_grads, _, _, _, s_out = self.run()
        if "composed" not in self.state:
            step = guard(self.helper[1], self.helper[0])
            composed = self.forward_verdict(False) is None and bptt_through(
                self.kind, step, ups[0], s_out[-1])
            # a helper that ignores its upstream gradient (a constant answer) vouches for nothing
            doubled = composed and bptt_through(self.kind, step, 2 * ups[0], s_out[-1])
            responds = doubled and any(not agrees(d, c) for d, c in zip(doubled, composed))
            self.state["composed"] = composed if responds else None
        composed = self.state["composed"]
        dtype = next(iter(self.args.values())).dtype
        g = s_grads[k]
        if not composed or not isinstance(g, np.ndarray) or g.shape != np.shape(composed[k]) \
                or g.dtype != dtype or not agrees(g, composed[k], dtype):
            return None
        h, b, name = self.helper[0], self.bwd_name, self.grad_names[k]
        return (f"your {h} is wrong, which makes {b}'s {name} differ from the reference; {b} "
                f"itself is right: it equals BPTT through your {h}, so it keeps its credit (fix {h})")

    def check(self, k: int, grad_of: Optional[str], numeric: bool):
        """Gradient k against the numerical gradient of the student's forward and the reference."""
        ups, r_grads, s_grads, sf, _, _, _ = self.run()
        args, gname = self.args, self.grad_names[k]
        inputs = dict(args)
        inputs.update({("dh", "dc")[j]: u for j, u in enumerate(ups)})
        try:
            if numeric and grad_of is not None and next(iter(args.values())).dtype == np.float64:
                def args_at(v):
                    a = dict(args)
                    a[grad_of] = v
                    return tuple(a.values())

                def flat(result):
                    out = _outputs(self.fwd_name, result, self.n_out)
                    return np.concatenate([np.asarray(out[j], dtype=np.float64).ravel()
                                           for j in range(self.n_up)])
                df = np.concatenate([u.ravel() for u in ups])
                # every evaluation of the student's forward in one go (one round trip in the
                # autograder's checker); the same numbers as calling it point by point
                num = numerical_gradient_via(sf, args_at, flat, args[grad_of], df)
                assert_close(self.bwd_name, gname, s_grads[k], num, inputs, rtol=1e-5, atol=1e-7,
                             against=f"the numerical gradient of your {self.fwd_name} (w.r.t. {grad_of})")
            assert_close(self.bwd_name, gname, s_grads[k], r_grads[k], inputs)
        except AssertionError as exc:
            note = self.helper_note(k)
            if note:
                return Passed(note)
            raise Diagnosed(str(exc), self.diagnosis(k)) from None
        return None


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
    bw = _BackwardRun(fwd_name, bwd_name, s_fwd, s_bwd, ref_fwd, ref_bwd, args, n_out,
                      n_out if n_up is None else n_up, grad_names, seed, kind, helper)
    for k, gname in enumerate(grad_names):
        score.part(weight / len(grad_names),
                   f"{bwd_name}: {gname}{' ' + title if title else ''} [{describe(args)}]",
                   lambda k=k: bw.check(k, grad_of[k], numeric))
