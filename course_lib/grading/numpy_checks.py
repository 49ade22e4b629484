"""Generic checks of a student's NumPy forward/backward pair against the course's reference.

Forward: the student's outputs match the reference's on the same inputs (shape, dtype, values).
Backward: every gradient matches (a) the numerical gradient of the *student's own* forward
(float64 only; centred differences, course_lib.gradcheck) and (b) the reference backward. The
student's functions run sealed (:func:`~course_lib.grading.sealing.guard`); the reference and
the numerical gradient run outside the seal.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import numpy as np

from .checks import Score, assert_close, describe, numerical_gradient
from .sealing import guard, reference

__all__ = ["forward_part", "backward_parts", "upstream"]


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
                 n_cache: int = 1) -> None:
    """One part: ``student(*args)`` returns the reference's outputs (then ``n_cache`` caches)."""

    def check():
        expected = reference(ref_name)(*args.values())
        got = guard(student, fn_name)(*[a.copy() for a in args.values()])
        n_out = len(out_names)
        if n_cache:
            got = _outputs(fn_name, got, n_out)
        else:
            got = got if isinstance(got, tuple) else (got,)
            expected = expected if isinstance(expected, tuple) else (expected,)
        for k, name in enumerate(out_names):
            assert_close(fn_name, name, got[k], expected[k], args)

    score.part(weight, f"{fn_name}: {title} [{describe(args)}]", check)


def backward_parts(score: Score, weight: float, fwd_name: str, bwd_name: str,
                   s_fwd: Callable, s_bwd: Callable, ref_fwd: str, ref_bwd: str,
                   args: Dict[str, np.ndarray], n_out: int, grad_names: Sequence[str],
                   grad_of: Sequence[Optional[str]], seed: int, n_up: Optional[int] = None,
                   numeric: bool = True, title: str = "") -> None:
    """One part per gradient (``weight`` split evenly) of the student's backward.

    ``grad_of[k]`` names the forward argument gradient ``k`` is taken with respect to
    (None: the gradient of something else, e.g. the cache's c0, compared with the reference only).
    ``n_up`` upstream gradients (default ``n_out``) are passed before the cache.
    """
    n_up = n_out if n_up is None else n_up
    dtype = next(iter(args.values())).dtype
    shapes_holder: dict = {}

    def run():
        if "result" in shapes_holder:
            return shapes_holder["result"]
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
        shapes_holder["result"] = (ups, r_grads, s_grads, sf)
        return shapes_holder["result"]

    def make_check(k: int):
        def check():
            ups, r_grads, s_grads, sf = run()
            gname = grad_names[k]
            wrt = grad_of[k]
            inputs = dict(args)
            inputs.update({("dh", "dc")[j]: u for j, u in enumerate(ups)})
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
        return check

    for k, gname in enumerate(grad_names):
        score.part(weight / len(grad_names),
                   f"{bwd_name}: {gname}{' ' + title if title else ''} [{describe(args)}]",
                   make_check(k))
