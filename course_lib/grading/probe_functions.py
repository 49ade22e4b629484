"""Functions the checks hand *to* a student's function (ps3's numerical_gradient).

They live at module level and are referred to by name (:func:`probe`), so a grader that runs the
student's code in another process can rebuild the very same function there: pure NumPy,
deterministic, no course_lib reference code.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

__all__ = ["sum_sin_x_times_x", "tanh_x_W", "PROBES", "probe"]


def sum_sin_x_times_x(x: np.ndarray) -> float:
    """f(x) = Σ sin(x) ⊙ x, a scalar: its gradient is sin(x) + x ⊙ cos(x)."""
    return float(np.sum(np.sin(x) * x))


def tanh_x_W(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """f(x) = tanh(x W); x (..., D), W (D, K) -> (..., K)."""
    return np.tanh(x @ W)


PROBES = {"sum_sin_x_times_x": sum_sin_x_times_x, "tanh_x_W": tanh_x_W}


def probe(name: str, **bound) -> Callable:
    """The probe function ``name`` with keyword arguments ``bound`` fixed (e.g. W=...)."""
    if name not in PROBES:
        raise ValueError(f"name: expected one of {sorted(PROBES)}, got {name!r}")
    return functools.partial(PROBES[name], **bound) if bound else PROBES[name]
