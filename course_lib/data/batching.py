"""Batch-ification of a token stream for truncated-BPTT language-model training.

The picture the book draws: a stream of ``S`` token ids is cut into ``N`` contiguous
pieces of length ``T = S // N`` (the remainder is dropped) and the pieces are laid side
by side as the *columns* of a ``(T, N)`` matrix, so rows are time and columns are
independent sequences (time-major, like ``torch.nn.RNN``'s default). The alphabet in
4 columns::

    batchify("abcdefghijklmnopqrstuvwxyz", 4)      get_batch(source, 0, 2)
    a g m s                                        x = a g m s     y = b h n t
    b h n t                                            b h n t         c i o u
    c i o u
    d j p v
    e k q w
    f l r x          (y and z are dropped)

``get_batch(source, i, bptt)`` then slices a window of ``L = min(bptt, T - 1 - i)`` rows:
the input ``x = source[i : i + L]`` and the target ``y = source[i + 1 : i + 1 + L]``, the
same window shifted by one step, so ``y[t, n]`` is the token that follows ``x[t, n]``.
This is the scheme of pytorch/examples' ``word_language_model``.

The functions accept Python lists, NumPy arrays and torch tensors; torch is imported
lazily so the NumPy half of the course runs without it.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence, Tuple

import numpy as np

from ..validate import check_int

__all__ = ["batchify", "get_batch", "iter_batches", "num_batches"]


def _is_torch_tensor(obj: Any) -> bool:
    # Checking the class's module avoids importing torch when the caller never used it.
    return type(obj).__module__.startswith("torch") and hasattr(obj, "device")


def batchify(ids: Sequence[Any] | np.ndarray | Any, batch_size: int):
    """Cut a 1-D stream into ``batch_size`` contiguous columns, time-major.

    ``source[t, n] = ids[n * T + t]`` with ``T = len(ids) // batch_size``; the last
    ``len(ids) % batch_size`` items are dropped.

    Parameters
    ----------
    ids : list, str, numpy.ndarray or torch.Tensor, shape (S,)
        The token stream (ids, or any items for a list / string: the alphabet picture
        batchifies characters).
    batch_size : int
        N, the number of columns (independent sequences), ``1 <= N <= S``.

    Returns
    -------
    source : same kind as ``ids``, shape (T, N)
        A NumPy array for a list, string or array; a torch tensor on the same device
        (and with the same dtype) for a tensor. For lists the array's dtype is what
        ``numpy.asarray`` infers (integers -> int64, characters -> ``<U1``).

    Raises
    ------
    ValueError
        ``ids`` is not 1-D or empty, or ``batch_size`` is not in ``1..len(ids)``.
    """
    batch_size = check_int(batch_size, "batch_size")
    if _is_torch_tensor(ids):
        if ids.dim() != 1:
            raise ValueError(f"ids: expected a 1-D stream of shape (S,), got shape {tuple(ids.shape)}")
        S = ids.shape[0]
    else:
        if isinstance(ids, str):
            ids = list(ids)
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"ids: expected a 1-D stream of shape (S,), got shape {ids.shape}")
        S = ids.shape[0]
    if S == 0:
        raise ValueError("ids: expected a non-empty stream, got length 0")
    if batch_size > S:
        raise ValueError(
            f"batch_size: expected at most len(ids) = {S} columns, got {batch_size}"
        )
    T = S // batch_size
    # Row-major reshape to (N, T) puts contiguous pieces in rows; the transpose makes them
    # columns. contiguous()/ascontiguousarray so row slices in get_batch are cheap views.
    if _is_torch_tensor(ids):
        return ids[: T * batch_size].reshape(batch_size, T).t().contiguous()  # (T, N)
    return np.ascontiguousarray(ids[: T * batch_size].reshape(batch_size, T).T)  # (T, N)


def _num_rows(source: Any, name: str = "source") -> int:
    shape = tuple(source.shape) if hasattr(source, "shape") else None
    if shape is None:
        raise ValueError(f"{name}: expected a (T, N) array or tensor from batchify, got {type(source).__name__}")
    if len(shape) < 1:
        raise ValueError(f"{name}: expected shape (T, N), got a scalar")
    return int(shape[0])


def get_batch(source, i: int, bptt: int) -> Tuple[Any, Any]:
    """Slice one truncated-BPTT window and its one-step-shifted targets.

    ``x = source[i : i + L]``, ``y = source[i + 1 : i + 1 + L]`` with
    ``L = min(bptt, T - 1 - i)``, so the last window of an epoch may be shorter.

    Parameters
    ----------
    source : numpy.ndarray or torch.Tensor, shape (T, N, ...)
        The output of :func:`batchify` (extra trailing feature dimensions are allowed).
    i : int
        Start row, ``0 <= i <= T - 2`` (a window needs at least one target).
    bptt : int
        Maximum window length, ``bptt >= 1``.

    Returns
    -------
    x : shape (L, N, ...)
        Inputs (views into ``source``).
    y : shape (L, N, ...)
        Targets: ``y[t] = source[i + t + 1]``.

    Raises
    ------
    ValueError
        ``bptt <= 0``, or ``i`` outside ``0..T-2``.
    """
    bptt = check_int(bptt, "bptt")
    T = _num_rows(source)
    check_int(i, "i", None)
    if not 0 <= i <= T - 2:
        raise ValueError(
            f"i: expected 0 <= i <= T - 2 = {T - 2} (source has T = {T} rows), got {i}"
        )
    L = min(bptt, T - 1 - int(i))
    return source[i : i + L], source[i + 1 : i + 1 + L]  # (L, N), (L, N)


def num_batches(source, bptt: int) -> int:
    """Number of windows in one epoch: ``ceil((T - 1) / bptt)``.

    Parameters
    ----------
    source : numpy.ndarray or torch.Tensor, shape (T, N, ...)
    bptt : int
        Window length, ``>= 1``.
    """
    bptt = check_int(bptt, "bptt")
    T = _num_rows(source)
    return max(0, -(-(T - 1) // bptt))


def iter_batches(source, bptt: int) -> Iterator[Tuple[int, Any, Any]]:
    """Iterate over one epoch of :func:`get_batch` windows.

    Yields ``(i, x, y)`` for ``i = 0, bptt, 2 * bptt, ...`` while ``i < T - 1``; every
    target row ``source[1:]`` is predicted exactly once, and the last window may be
    shorter than ``bptt``.

    Parameters
    ----------
    source : numpy.ndarray or torch.Tensor, shape (T, N, ...)
    bptt : int
        Window length, ``>= 1``.

    Yields
    ------
    i : int
        Start row of the window.
    x, y : shape (L, N, ...)
        As returned by ``get_batch(source, i, bptt)``.
    """
    # Validate now, not at the first next(): a bad bptt should fail where it is passed.
    bptt = check_int(bptt, "bptt")
    T = _num_rows(source)
    return ((i, *get_batch(source, i, bptt)) for i in range(0, T - 1, bptt))
