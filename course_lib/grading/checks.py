"""Closeness asserts, gradient checks and partial credit for the exercise notebooks' tests.

Every failure raises :class:`AssertionError` with a message a student can act on: the
function, the shapes (and dtypes) of its inputs, a few expected vs got entries (around the
worst one) and the relative error of the course's convention,
``rel_error(a, b) = max |a - b| / max(1e-8, |a| + |b|)``.

Partial credit: nbgrader gives a test cell the float its last expression returns (between 0 and
the cell's points). :class:`Score` collects the parts of a cell, prints one line per part to
stdout (nbgrader zeroes a cell that writes to stderr) and its value is that float.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Mapping, Optional, Tuple

import numpy as np

from .sealing import reference

__all__ = [
    "describe",
    "rel_error",
    "assert_close",
    "assert_shape_dtype",
    "numerical_gradient",
    "Score",
    "ATOL",
    "RTOL",
]

# Tolerances for comparing two implementations of the same formula: float32 keeps ~7 digits.
RTOL = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 2e-4}
ATOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-5}


def rel_error(a, b) -> float:
    """The course's relative error (course_lib.gradcheck.rel_error), as a float."""
    return float(reference("course_lib.gradcheck.rel_error")(np.asarray(a, dtype=np.float64),
                                                              np.asarray(b, dtype=np.float64)))


def numerical_gradient(f: Callable, x: np.ndarray, df=None, h: float = 1e-5) -> np.ndarray:
    """Centred-difference gradient of ``sum(f(x) * df)`` (course_lib.gradcheck.numerical_gradient)."""
    return reference("course_lib.gradcheck.numerical_gradient")(f, x, df=df, h=h)


def describe(inputs: Mapping[str, Any]) -> str:
    """``x (3, 4) float64, h_prev (3, 5) float64, ...`` for a failure message."""
    parts = []
    for name, v in inputs.items():
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            dt = str(v.dtype).replace("torch.", "")
            parts.append(f"{name} {tuple(v.shape)} {dt}")
        elif isinstance(v, (int, float, str, bool)) or v is None:
            parts.append(f"{name}={v!r}")
        else:
            parts.append(f"{name} {type(v).__name__}")
    return ", ".join(parts)


def _fmt(values: np.ndarray) -> str:
    return np.array2string(values, precision=5, separator=", ", max_line_width=200)


def assert_shape_dtype(fn: str, what: str, got: Any, shape: Tuple[int, ...], dtype=None,
                       inputs: Optional[Mapping[str, Any]] = None) -> np.ndarray:
    """Fail unless ``got`` is an array of ``shape`` (and ``dtype``); returns it as an array."""
    where = f"\n  inputs: {describe(inputs)}" if inputs else ""
    if got is None:
        raise AssertionError(f"{fn}: {what} is None (did you forget to return it?){where}")
    if hasattr(got, "detach"):  # a torch tensor
        got = got.detach().cpu().numpy()
    if not isinstance(got, np.ndarray) and not np.isscalar(got):
        raise AssertionError(f"{fn}: {what} should be a numpy array, got {type(got).__name__}{where}")
    got_arr = np.asarray(got)
    if tuple(got_arr.shape) != tuple(shape):
        raise AssertionError(
            f"{fn}: {what} has shape {tuple(got_arr.shape)}, expected {tuple(shape)}{where}")
    if dtype is not None and got_arr.dtype != np.dtype(dtype):
        raise AssertionError(
            f"{fn}: {what} has dtype {got_arr.dtype}, expected {np.dtype(dtype)} "
            f"(keep the dtype of the inputs: float32 in, float32 out){where}")
    return got_arr


def assert_close(fn: str, what: str, got: Any, expected: Any,
                 inputs: Optional[Mapping[str, Any]] = None, rtol: Optional[float] = None,
                 atol: Optional[float] = None, against: str = "the reference",
                 check_dtype: bool = True) -> None:
    """Fail unless ``got`` has ``expected``'s shape (and dtype) and is close to it.

    The message shows the shapes of ``inputs``, up to 4 entries around the worst one and the
    rel_error.
    """
    expected = np.asarray(expected)
    got = assert_shape_dtype(fn, what, got, expected.shape,
                             expected.dtype if check_dtype else None, inputs)
    dt = expected.dtype if expected.dtype in RTOL else np.dtype(np.float64)
    rtol = RTOL[dt] if rtol is None else rtol
    atol = ATOL[dt] if atol is None else atol
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    if g.shape == () or (np.all(np.isfinite(g)) and np.allclose(g, e, rtol=rtol, atol=atol)):
        if g.shape != () or np.isclose(g, e, rtol=rtol, atol=atol):
            return
    err = np.abs(g - e) / np.maximum(1e-8, np.abs(g) + np.abs(e))
    err = np.where(np.isfinite(g), err, np.inf)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.shape else ()
    if err.shape:
        lead, last = worst[:-1], worst[-1]
        lo = max(0, last - 1)
        sl = lead + (slice(lo, lo + 4),)
        idx = ", ".join([str(i) for i in lead] + [f"{lo}:{min(lo + 4, g.shape[-1])}"])
        exp_s, got_s = _fmt(e[sl]), _fmt(g[sl])
        label = f"{what}[{idx}]"
    else:
        exp_s, got_s, label = repr(float(e)), repr(float(g)), what
    where = f"\n  inputs: {describe(inputs)}" if inputs else ""
    raise AssertionError(
        f"{fn}: {what} does not match {against}{where}\n"
        f"  expected {label} = {exp_s}\n"
        f"  got      {label} = {got_s}\n"
        f"  rel_error = {rel_error(g, e):.3e} (allowed: rtol {rtol:g}, atol {atol:g})")


class Score:
    """Partial credit for one test cell: run parts, print a line each, end the cell with it.

    >>> score = Score(2)
    >>> score.part(1, "h matches the reference", check_h)
    >>> score.part(1, "the cache works for backward", check_cache)
    >>> score            # last expression of the cell: nbgrader reads the float
    """

    def __init__(self, points: float):
        self.points = float(points)
        self.earned = 0.0
        self.weights = 0.0
        self._earned_w = 0.0

    def part(self, weight: float, title: str, check: Callable[[], Any]) -> bool:
        """Run ``check()``; an exception fails the part and its message is printed."""
        self.weights += weight
        try:
            check()
        except Exception as exc:  # the student's code may raise anything
            msg = str(exc) if isinstance(exc, AssertionError) else (
                f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc)[-3:]))
            print(f"[FAIL] {title} (0/{weight:g})\n  " + msg.replace("\n", "\n  "))
            return False
        self._earned_w += weight
        print(f"[ok]   {title} ({weight:g}/{weight:g})")
        return True

    def __float__(self) -> float:
        if self.weights == 0:
            return 0.0
        return round(self.points * self._earned_w / self.weights, 4)

    def __repr__(self) -> str:
        return repr(float(self))
