"""Numerical gradients of a student's function with all its evaluations made at once.

A centred-difference gradient calls the student's forward twice per input entry: hundreds of
calls. In the notebook that costs nothing; in the autograder's checker every call is a round
trip to the sandbox. :func:`numerical_gradient_via` first records the points at which
``course_lib.gradcheck.numerical_gradient`` would evaluate (running it on a stand-in), makes
every call of the student's function in one request (:func:`~.sealing.call_many`), then runs
the same ``numerical_gradient`` on the recorded answers: the same numbers, bit for bit, as
calling the function one point at a time.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .sealing import call_many, reference


def numerical_gradient_via(fn: Callable, args_of: Callable, post: Callable, x: np.ndarray,
                           df: np.ndarray, h: float = 1e-5) -> np.ndarray:
    r"""Gradient of :math:`\sum post(fn(*args\_of(v))) \odot df` with respect to v at ``x``.

    Parameters
    ----------
    fn : callable
        The student's function (local, or a proxy of the sandbox's).
    args_of : callable
        ``args_of(v)`` -> the argument tuple of ``fn`` at the point ``v`` (same shape as x).
    post : callable
        ``post(result)`` -> the array whose weighted sum is differentiated (shape of ``df``).
    x : np.ndarray, float
        The point (not modified).
    df : np.ndarray
        Upstream gradient, the shape of ``post``'s output.
    h : float
        Step size.

    Returns
    -------
    np.ndarray, shape of ``x``, float64
    """
    numerical_gradient = reference("course_lib.gradcheck.numerical_gradient")
    points = []

    def record(v):
        points.append(v.copy())
        return np.zeros(np.shape(df))

    numerical_gradient(record, x.copy(), df=df, h=h)
    answers = iter(call_many(fn, [args_of(v) for v in points]))
    return numerical_gradient(lambda v: post(next(answers)), x.copy(), df=df, h=h)
