"""Numerical gradients and the relative error used to check a hand-written backward.

The book, the exercises and the autograder use these three functions:

- :func:`numerical_gradient` — centred differences of an array-valued function, contracted with
  an upstream gradient ``df`` (what a backward receives), so it checks any ``*_backward``.
- :func:`rel_error` — ``max |a - b| / max(1e-8, |a| + |b|)``, elementwise then the maximum.
- :func:`check_gradients` — all inputs and parameters of one function at once, with a report a
  student can read.

Always check in float64: with float32 the rounding error of the differences alone is ~1e-3.

Example
-------
>>> import numpy as np
>>> from course_lib.numpy_rnn import rnn_step_forward, rnn_step_backward
>>> from course_lib.gradcheck import check_gradients
>>> rng = np.random.default_rng(0)
>>> inputs = dict(x=rng.normal(size=(3, 4)), h_prev=rng.normal(size=(3, 5)),
...               Wx=rng.normal(size=(4, 5)), Wh=rng.normal(size=(5, 5)), b=rng.normal(size=5))
>>> h, cache = rnn_step_forward(**inputs)
>>> dh = rng.normal(size=h.shape)
>>> dx, dh_prev, dWx, dWh, db = rnn_step_backward(dh, cache)
>>> result = check_gradients(lambda **kw: rnn_step_forward(**kw)[0], inputs,
...                          dict(x=dx, h_prev=dh_prev, Wx=dWx, Wh=dWh, b=db), df=dh)
>>> result.ok
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Mapping, Optional, Tuple

import numpy as np

from .validate import check_array, check_number

__all__ = ["numerical_gradient", "rel_error", "check_gradients", "GradCheckResult", "GradCheckRow"]


def _as_output(y) -> np.ndarray:
    # copy: f may return a view of a buffer it overwrites on the next call
    return np.array(y, dtype=np.float64, copy=True)


def numerical_gradient(f: Callable, x: np.ndarray, df: Optional[np.ndarray] = None,
                       h: float = 1e-5) -> np.ndarray:
    r"""Centred-difference gradient of :math:`L(x) = \sum f(x) \odot df` with respect to ``x``.

    .. math::

        &\frac{\partial L}{\partial x_k} \approx\\
        &\qquad \sum \frac{f(x + h e_k) - f(x - h e_k)}{2h} \odot df

    ``x`` is perturbed **in place**, one entry at a time, and restored afterwards (also when
    ``f`` raises), so ``f`` may ignore its argument and read ``x`` through a closure.

    Book: eq. :eq:`ch3-numgrad`.

    Parameters
    ----------
    f : callable
        ``f(x)`` returns an array (any shape) or a scalar.
    x : np.ndarray, float
        The point; modified during the call, restored on return.
    df : np.ndarray, optional
        Upstream gradient with the shape of ``f(x)``; default all ones (for a scalar ``f``,
        the plain derivative).
    h : float
        Step size; 1e-5 is the course's convention for float64.

    Returns
    -------
    np.ndarray, same shape as ``x``, float64
    """
    check_array("x", x, "a float numpy array to perturb")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x: expected a float numpy array to perturb, got dtype {x.dtype}")
    check_number(h, "h", 0, strict=True)  # the step size
    y0 = _as_output(f(x))
    if df is None:
        w = np.ones_like(y0)
    else:
        w = np.asarray(df, dtype=np.float64)
        if w.shape != y0.shape:
            raise ValueError(f"df: expected the shape of f(x), {y0.shape}, got {w.shape}")
    grad = np.zeros(x.shape, dtype=np.float64)
    for ix in np.ndindex(*x.shape):
        old = x[ix]
        try:
            x[ix] = old + h
            fp = _as_output(f(x))
            x[ix] = old - h
            fm = _as_output(f(x))
        finally:
            x[ix] = old
        # difference before weighting: each entry's rounding error stays relative to that entry
        grad[ix] = np.sum((fp - fm) * w) / (2 * h)
    return grad


def rel_error(a, b) -> float:
    r"""Relative error :math:`\max_k |a_k - b_k| / \max(10^{-8}, |a_k| + |b_k|)`.

    Elementwise ratio, then the maximum, so one wrong entry among many large ones is not hidden.
    The floor 1e-8 keeps entries where both are (nearly) zero from dividing by zero.
    Rule of thumb in float64: < 1e-7 correct, > 1e-2 almost surely a bug.

    Parameters
    ----------
    a, b : array_like, same shape

    Returns
    -------
    float (0.0 for empty arrays; nan if either holds nan)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a, {a.shape}, got {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


@dataclass
class GradCheckRow:
    """One checked input: its rel_error and where the worst entry is."""

    name: str
    shape: Tuple[int, ...]
    rel_error: float
    ok: bool
    worst_index: Tuple[int, ...] = ()
    analytic_value: float = 0.0
    numerical_value: float = 0.0


@dataclass
class GradCheckResult:
    """Result of :func:`check_gradients`.

    Attributes
    ----------
    rows : dict name -> GradCheckRow
    tol : float
    ok : bool
        True when every rel_error is below ``tol``.
    notes : list of str
        Warnings worth reading (e.g. an input that is not float64).

    ``result[name]`` gives the rel_error of one input; ``str(result)`` the report table.
    """

    rows: Dict[str, GradCheckRow]
    tol: float
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows.values())

    @property
    def errors(self) -> Dict[str, float]:
        """name -> rel_error."""
        return {k: r.rel_error for k, r in self.rows.items()}

    def __getitem__(self, name: str) -> float:
        return self.rows[name].rel_error

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        w = max([len("input")] + [len(n) for n in self.rows])
        lines = [f"{'input':<{w}}  {'shape':<14} {'rel_error':>10}  result",
                 f"{'-' * w}  {'-' * 14} {'-' * 10}  ------"]
        for r in self.rows.values():
            lines.append(f"{r.name:<{w}}  {str(r.shape):<14} {r.rel_error:>10.2e}  "
                         f"{'ok' if r.ok else 'FAIL'}")
        lines.append("")
        if self.ok:
            lines.append(f"All gradients match (every rel_error < {self.tol:.0e}).")
        else:
            for r in self.rows.values():
                if not r.ok:
                    where = f" at index {r.worst_index}" if r.worst_index else ""
                    lines.append(
                        f"FAIL {r.name}: rel_error {r.rel_error:.2e} >= tol {self.tol:.0e}; worst entry"
                        f"{where}: your backward gives {r.analytic_value:.6g}, "
                        f"the numerical gradient {r.numerical_value:.6g}.")
            lines.append("Hint: check the local derivative of that input's line in the forward, "
                         "and whether a sum over N (or over t) is missing.")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:  # pragma: no cover - notebooks only
        rows = "\n".join(f"| {r.name} | {r.shape} | {r.rel_error:.2e} | {'ok' if r.ok else '**FAIL**'} |"
                         for r in self.rows.values())
        return f"| input | shape | rel_error | result |\n| --- | --- | --- | --- |\n{rows}\n"


def check_gradients(
    f: Callable[..., np.ndarray],
    inputs: Mapping[str, np.ndarray],
    analytic: Mapping[str, np.ndarray],
    df: Optional[np.ndarray] = None,
    h: float = 1e-5,
    tol: float = 1e-7,
) -> GradCheckResult:
    r"""Compare analytic gradients with numerical ones for every named input.

    For each ``name`` in ``analytic``, the numerical gradient of
    :math:`L = \sum f(\ast\ast inputs) \odot df` with respect to ``inputs[name]`` is compared
    with ``analytic[name]`` by :func:`rel_error`.

    Parameters
    ----------
    f : callable
        Called as ``f(**inputs)``; returns an array or a scalar (e.g. the ``h`` of a forward).
    inputs : dict name -> np.ndarray
        The arguments of ``f``. Arrays are perturbed in place and restored. Non-array entries
        (e.g. ``activation="tanh"``) are passed through.
    analytic : dict name -> np.ndarray
        Your gradients, keyed like ``inputs`` (``{"x": dx, "Wx": dWx, ...}``).
    df : np.ndarray, optional
        Upstream gradient on the output of ``f`` (default ones).
    h : float
        Finite-difference step.
    tol : float
        An input passes when its rel_error < tol.

    Returns
    -------
    GradCheckResult
        ``result.ok``, ``result["Wx"]`` (a rel_error), ``print(result)`` for the table.
    """
    inputs = dict(inputs)
    rows: Dict[str, GradCheckRow] = {}
    notes = []
    for name, grad in analytic.items():
        if name not in inputs:
            raise ValueError(f"analytic: {name!r} is not one of the inputs {sorted(inputs)}")
        x = inputs[name]
        check_array(f"inputs[{name!r}]", x, "a float numpy array")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"inputs[{name!r}]: expected a float numpy array, got dtype {x.dtype}")
        grad = np.asarray(grad)
        if grad.shape != x.shape:
            raise ValueError(f"analytic[{name!r}]: expected the shape of inputs[{name!r}], {x.shape}, "
                             f"got {grad.shape}")
        if x.dtype != np.float64:
            notes.append(f"{name} is {x.dtype}; gradient checks are only meaningful in float64.")
        num = numerical_gradient(lambda _x: f(**inputs), x, df=df, h=h)
        a = grad.astype(np.float64)
        ratio = np.abs(a - num) / np.maximum(1e-8, np.abs(a) + np.abs(num))
        err = rel_error(a, num)
        if ratio.size and not np.all(np.isnan(ratio)):
            worst = np.unravel_index(int(np.nanargmax(ratio)), ratio.shape)
        else:
            worst = ()
        worst = tuple(int(k) for k in worst)
        rows[name] = GradCheckRow(
            name=name, shape=tuple(x.shape), rel_error=err, ok=bool(err < tol),
            worst_index=worst if x.ndim else (),
            analytic_value=float(a[worst]) if a.size else 0.0,
            numerical_value=float(num[worst]) if a.size else 0.0,
        )
    return GradCheckResult(rows=rows, tol=tol, notes=notes)
