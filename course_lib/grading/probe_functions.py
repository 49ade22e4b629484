"""Functions the checks hand *to* a student's function (ps3's numerical_gradient).

They live at module level and are referred to by name (:func:`probe`), so a grader that runs the
student's code in another process can rebuild the very same function there: pure NumPy,
deterministic, no course_lib reference code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

__all__ = ["sum_sin_x_times_x", "tanh_x_W", "PROBES", "Probe", "probe"]


def sum_sin_x_times_x(x: np.ndarray) -> float:
    """f(x) = Σ sin(x) ⊙ x, a scalar: its gradient is sin(x) + x ⊙ cos(x)."""
    return float(np.sum(np.sin(x) * x))


def tanh_x_W(x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """f(x) = tanh(x W); x (..., D), W (D, K) -> (..., K)."""
    return np.tanh(x @ W)


PROBES = {"sum_sin_x_times_x": sum_sin_x_times_x, "tanh_x_W": tanh_x_W}


@dataclass(frozen=True)
class Probe:
    """A probe function by name with its fixed keyword arguments: ``Probe(name, bound)(x)`` is
    ``PROBES[name](x, **dict(bound))``. Plain data (a str and (str, array) pairs), so a grader can
    send it to the student's process and rebuild the same callable there."""

    name: str
    bound: Tuple[Tuple[str, np.ndarray], ...] = ()

    def __call__(self, x):
        return PROBES[self.name](x, **dict(self.bound))


def probe(name: str, **bound) -> Probe:
    """The probe function ``name`` with keyword arguments ``bound`` fixed (e.g. W=...)."""
    if name not in PROBES:
        raise ValueError(f"name: expected one of {sorted(PROBES)}, got {name!r}")
    return Probe(name, tuple(sorted(bound.items())))
