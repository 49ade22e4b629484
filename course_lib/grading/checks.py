"""Closeness asserts, gradient checks and partial credit for the exercise notebooks' tests.

Every failure raises :class:`AssertionError` with a message a student can act on: the
function, the shapes (and dtypes) of its inputs, a few expected vs got entries (around the
worst one), the largest difference with its position and the measure that decided
(:func:`close_measure`).

Partial credit: nbgrader gives a test cell the float its last expression returns (between 0 and
the cell's points). :class:`Score` collects the parts of a cell, prints one line per part to
stdout (nbgrader zeroes a cell that writes to stderr) and its value is that float.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, List, Mapping, Optional, Tuple

import numpy as np

from .sealing import reference

__all__ = [
    "describe",
    "rel_error",
    "assert_close",
    "assert_shape_dtype",
    "close_measure",
    "Diagnosed",
    "Passed",
    "seed_label",
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


def seed_label(seed) -> str:
    """'seed 3' for a visible test's seed (< 100); hidden tests' seeds (>= 100) are not shown."""
    return f"seed {seed}" if seed is None or int(seed) < 100 else "hidden input"


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


def close_measure(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float):
    """The pass rule of every check, as a number: ``max_k |got_k - exp_k| / (atol + rtol |exp_k|)``.

    The check passes when it is <= 1 (exactly ``np.allclose(got, expected, rtol, atol)``), and it
    keeps growing with the error (rel_error saturates at 1). Returns (measure, largest
    ``|got - expected|``, its index); non-finite entries of ``got`` count as infinitely wrong.
    """
    g = np.asarray(got, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    diff = np.where(np.isfinite(g), np.abs(g - e), np.inf)
    if diff.size == 0:
        return 0.0, 0.0, ()
    tol = atol + rtol * np.abs(e)
    # an exact comparison (rtol = atol = 0) passes where diff is 0 and fails anywhere else
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / tol)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.shape else ()
    return float(np.max(ratio)), float(diff[worst]), tuple(int(i) for i in worst)


def assert_close(fn: str, what: str, got: Any, expected: Any,
                 inputs: Optional[Mapping[str, Any]] = None, rtol: Optional[float] = None,
                 atol: Optional[float] = None, against: str = "the reference",
                 check_dtype: bool = True) -> None:
    """Fail unless ``got`` has ``expected``'s shape (and dtype) and is close to it.

    One rule decides and is printed (:func:`close_measure`): error / tolerance <= 1. The
    message shows the shapes of ``inputs``, up to 4 entries around the largest difference, that
    difference with its position, the measure and the error relative to the scale of expected.
    """
    expected = np.asarray(expected)
    got = assert_shape_dtype(fn, what, got, expected.shape,
                             expected.dtype if check_dtype else None, inputs)
    dt = expected.dtype if expected.dtype in RTOL else np.dtype(np.float64)
    rtol = RTOL[dt] if rtol is None else rtol
    atol = ATOL[dt] if atol is None else atol
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    measure, diff, worst = close_measure(g, e, rtol, atol)
    if measure <= 1:
        return
    if g.shape:
        lead, last = worst[:-1], worst[-1]
        lo = max(0, last - 1)
        sl = lead + (slice(lo, lo + 4),)
        idx = ", ".join([str(i) for i in lead] + [f"{lo}:{min(lo + 4, g.shape[-1])}"])
        exp_s, got_s = _fmt(e[sl]), _fmt(g[sl])
        label, at = f"{what}[{idx}]", f" at [{', '.join(map(str, worst))}]"
    else:
        exp_s, got_s, label, at = repr(float(e)), repr(float(g)), what, ""
    scale = float(np.max(np.abs(e), initial=0.0))
    where = f"\n  inputs: {describe(inputs)}" if inputs else ""
    raise AssertionError(
        f"{fn}: {what} does not match {against}{where}\n"
        f"  expected {label} = {exp_s}\n"
        f"  got      {label} = {got_s}\n"
        f"  largest |got - expected| = {diff:.3e}{at}; relative to the scale of expected "
        f"(max |expected| = {scale:.3g}): {diff / max(scale, 1e-300):.3e}\n"
        f"  error / tolerance = {measure:.3e} (passes at <= 1; tolerance = atol {atol:g} + "
        f"rtol {rtol:g} * |expected|)")


class Diagnosed(AssertionError):
    """A failed check with a diagnosis (course_lib.grading.diagnose): printed under the message."""

    def __init__(self, message: str, diagnosis: str):
        super().__init__(message)
        self.diagnosis = diagnosis


class Passed(str):
    """Returned by a check that passes with a note to print (e.g. which helper is at fault)."""


class Score:
    """Partial credit for one test cell: run parts, print a line each, end the cell with it.

    >>> score = Score(2)
    >>> score.part(1, "h matches the reference", check_h)
    >>> score.part(1, "the cache works for backward", check_cache)
    >>> score            # last expression of the cell: nbgrader reads the float
    """

    def __init__(self, points: float):
        self.points = float(points)
        self.weights = 0.0
        self._earned_w = 0.0
        # one entry per failed part that has a diagnosis, the text printed under it
        self.diagnoses: List[str] = []

    def part(self, weight: float, title: str, check: Callable[[], Any]) -> bool:
        """Run ``check()``; an exception fails the part and its message is printed.

        A :class:`Diagnosed` failure prints its diagnosis under the message and records it in
        ``diagnoses``; a check returning :class:`Passed` has its note printed under ``[ok]``.
        """
        self.weights += weight
        try:
            note = check()
        except Exception as exc:  # the student's code may raise anything
            if getattr(exc, "remote_traceback", None) is not None:
                # raised by the student's code in the autograder's sandbox: their own frames
                msg = exc.remote_traceback.rstrip() or str(exc)
            else:
                msg = str(exc) if isinstance(exc, AssertionError) else (
                    f"{type(exc).__name__}: {exc}\n"
                    + "".join(traceback.format_exception(exc)[-3:]))
            diagnosis = getattr(exc, "diagnosis", "") if isinstance(exc, Diagnosed) else ""
            if diagnosis:
                self.diagnoses.append(diagnosis)
                msg += "\ndiagnosis:\n  " + diagnosis.replace("\n", "\n  ")
            print(f"[FAIL] {title} (0/{weight:g})\n  " + msg.replace("\n", "\n  "))
            return False
        self._earned_w += weight
        print(f"[ok]   {title} ({weight:g}/{weight:g})"
              + (f"\n  {note}".replace("\n", "\n  ") if isinstance(note, Passed) else ""))
        return True

    def __float__(self) -> float:
        if self.weights == 0:
            return 0.0
        return round(self.points * self._earned_w / self.weights, 4)

    def __repr__(self) -> str:
        return repr(float(self))
