"""Argument validation shared by the NumPy reference.

Every public function of :mod:`course_lib.numpy_rnn` checks its arrays before any arithmetic so
that a wrong shape fails loudly instead of being silently broadcast. Messages name the argument,
the expected shape in the book's symbols and in numbers, and what was received, e.g.::

    ValueError: h_prev: expected shape (N, H) = (4, 8), got (4, 7)

Conventions
-----------
- ``dims`` is the shape in symbols, written as in the docstrings: ``"T, N, D"``.
- ``sizes`` gives the numbers already known (from earlier arguments); ``None`` means "any size,
  this argument defines it".
- Float arrays must be float32 or float64 and all float arguments of one call share the dtype of
  the first one: the reference never upcasts silently (float32 stays float32).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _fmt_expected(dims: str, sizes: Optional[Sequence[Optional[int]]]) -> str:
    symbols = [s.strip() for s in dims.split(",")] if dims.strip() else []
    if sizes is None:
        return f"({dims})"
    if len(symbols) == 1:
        nums = f"({sizes[0] if sizes[0] is not None else symbols[0]},)"
    else:
        nums = "(" + ", ".join(str(n) if n is not None else sym for n, sym in zip(sizes, symbols)) + ")"
    if all(n is None for n in sizes):
        return f"({dims})"
    return f"({dims}) = {nums}"


def check_shape(name: str, a: np.ndarray, dims: str, sizes: Optional[Sequence[Optional[int]]] = None) -> None:
    """Raise ValueError unless ``a`` has rank ``len(dims)`` and the known ``sizes``.

    Parameters
    ----------
    name : str
        The argument's name as the caller wrote it (``"h_prev"``).
    a : np.ndarray
        The array to check.
    dims : str
        Expected shape in symbols, comma separated (``"N, H"``).
    sizes : sequence of int or None, optional
        Expected sizes; ``None`` entries (or ``sizes=None``) accept any size.
    """
    symbols = [s.strip() for s in dims.split(",")] if dims.strip() else []
    rank = len(symbols)
    if sizes is not None and len(sizes) != rank:
        raise AssertionError(f"internal: dims {dims!r} and sizes {sizes!r} disagree")
    expected = _fmt_expected(dims, sizes)
    if a.ndim != rank:
        raise ValueError(f"{name}: expected shape {expected} (rank {rank}), got {a.shape} (rank {a.ndim})")
    if sizes is not None:
        for got, want in zip(a.shape, sizes):
            if want is not None and got != want:
                raise ValueError(f"{name}: expected shape {expected}, got {a.shape}")


def check_float(name: str, a, dtype: Optional[np.dtype] = None, like: str = "x") -> np.ndarray:
    """Raise ValueError unless ``a`` is a float32/float64 ndarray (of ``dtype`` when given).

    ``like`` names the argument that fixed ``dtype``, for the message. Returns ``a`` unchanged
    (no copy, no conversion).
    """
    if not isinstance(a, np.ndarray):
        raise ValueError(
            f"{name}: expected a numpy array of float32 or float64, got {type(a).__name__}"
        )
    if a.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name}: expected dtype float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(
            f"{name}: expected dtype {np.dtype(dtype)} (the dtype of {like}), got {a.dtype}; "
            f"the reference never mixes precisions, convert with .astype(np.{np.dtype(dtype)})"
        )
    return a


def check_float_array(
    name: str,
    a,
    dims: str,
    sizes: Optional[Sequence[Optional[int]]] = None,
    dtype: Optional[np.dtype] = None,
    like: str = "x",
) -> np.ndarray:
    """:func:`check_float` then :func:`check_shape`; returns ``a``."""
    check_float(name, a, dtype, like)
    check_shape(name, a, dims, sizes)
    return a


def check_int_array(name: str, a, high: Optional[int] = None, high_name: str = "V") -> np.ndarray:
    """Raise ValueError unless ``a`` is an integer ndarray with values in [0, high).

    Used for token indices: an index outside the vocabulary must not wrap around (numpy's
    negative indexing) or fail later with an IndexError far from its cause.
    """
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of integer indices, got {type(a).__name__}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name}: expected an integer dtype (token indices), got {a.dtype}")
    if high is not None and a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= high:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{name}: index {bad} is out of range, expected 0 <= {name} < {high_name} = {high}"
            )
    return a


def check_activation(activation: str) -> str:
    """Raise ValueError unless ``activation`` is ``"tanh"`` or ``"relu"``."""
    if activation not in ("tanh", "relu"):
        raise ValueError(f"activation: expected 'tanh' or 'relu', got {activation!r}")
    return activation
