"""Non-recurrent layers of a NumPy language model: embedding, affine, softmax loss, clipping.

A language model in the book is ``embedding -> RNN/LSTM/GRU -> affine -> softmax``. Shapes are
time-major: token indices ``idx`` (T, N), embeddings (T, N, D), hidden states (T, N, H), scores
(T, N, V). Every function keeps the float dtype it is given and raises ``ValueError`` on a wrong
shape instead of broadcasting.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from ..validate import check_array, check_float, check_number, check_float_array, check_int_array, check_shape

__all__ = [
    "sigmoid",
    "embedding_forward",
    "embedding_backward",
    "affine_forward",
    "affine_backward",
    "softmax_cross_entropy",
    "clip_grad_norm",
]


def sigmoid(a: np.ndarray) -> np.ndarray:
    r"""Numerically stable logistic function :math:`\sigma(a) = 1 / (1 + e^{-a})`.

    The naive formula overflows ``exp(-a)`` for large negative ``a`` (a RuntimeWarning and, in
    float32, ``inf``). Writing it with :math:`z = e^{-|a|} \in (0, 1]` never overflows:
    :math:`\sigma(a) = 1/(1+z)` for :math:`a \ge 0` and :math:`z/(1+z)` for :math:`a < 0`.

    Parameters
    ----------
    a : np.ndarray, float32 or float64, any shape

    Returns
    -------
    np.ndarray, same shape and dtype as ``a``
    """
    check_float("a", a)
    z = np.exp(-np.abs(a))                      # in (0, 1]: cannot overflow
    num = np.where(a >= 0, np.ones_like(a), z)
    return num / (1 + z)


# --------------------------------------------------------------------------------------------
# embedding
# --------------------------------------------------------------------------------------------

def embedding_forward(idx: np.ndarray, W: np.ndarray) -> Tuple[np.ndarray, dict]:
    r"""Look up the embedding of every token: ``out[...] = W[idx[...]]``.

    Equivalent to multiplying a one-hot row vector by ``W``: :math:`x[t] = \mathrm{onehot}(w_t) W`,
    without building the one-hot matrix.

    Book: eq. :eq:`ch1-embedding`.

    Parameters
    ----------
    idx : np.ndarray of int, any shape (...), typically (T, N)
        Token indices, each in ``[0, V)``.
    W : np.ndarray, (V, D)
        The embedding matrix, one row per vocabulary entry.

    Returns
    -------
    out : np.ndarray, (..., D), dtype of ``W``
    cache : dict
        What :func:`embedding_backward` needs.
    """
    check_float_array("W", W, "V, D")
    V, D = W.shape
    check_int_array("idx", idx, V)
    out = W[idx]                                # (..., D)
    return out, {"idx": idx, "V": V, "D": D, "dtype": W.dtype}


def embedding_backward(dout: np.ndarray, cache: dict) -> np.ndarray:
    r"""Gradient of :func:`embedding_forward` with respect to ``W``.

    Row ``v`` of ``dW`` sums the upstream gradients of every position where token ``v`` occurs:
    :math:`dW[v] = \sum_{t,n: idx[t,n]=v} dout[t, n]` (the transpose of the one-hot product).
    There is no gradient for the integer indices.

    Parameters
    ----------
    dout : np.ndarray, (..., D)
    cache : dict from :func:`embedding_forward`

    Returns
    -------
    dW : np.ndarray, (V, D)
    """
    idx, V, D, dtype = cache["idx"], cache["V"], cache["D"], cache["dtype"]
    check_float_array("dout", dout, ", ".join(["..."] * idx.ndim + ["D"]), idx.shape + (D,), dtype, "W")
    dW = np.zeros((V, D), dtype=dtype)
    # np.add.at accumulates repeated indices; plain dW[idx] += dout would keep only the last one
    np.add.at(dW, idx.reshape(-1), dout.reshape(-1, D))
    return dW


# --------------------------------------------------------------------------------------------
# affine
# --------------------------------------------------------------------------------------------

def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> Tuple[np.ndarray, dict]:
    r"""Affine map of every position: ``out = x @ W + b``.

    In a language model :math:`s[t] = h[t] W + b` gives the scores over the vocabulary.

    Book: eq. :eq:`ch2-rnn-out` (the read-out z[t] = h[t] W_hy + b_y).

    Parameters
    ----------
    x : np.ndarray, (T, N, H) or (N, H)
    W : np.ndarray, (H, V)
    b : np.ndarray, (V,)

    Returns
    -------
    out : np.ndarray, (T, N, V) or (N, V)
    cache : dict
    """
    check_float("x", x)
    if x.ndim not in (2, 3):
        raise ValueError(f"x: expected shape (T, N, H) or (N, H), got {x.shape} (rank {x.ndim})")
    H = x.shape[-1]
    check_float_array("W", W, "H, V", (H, None), x.dtype)
    V = W.shape[1]
    check_float_array("b", b, "V", (V,), x.dtype)
    out = x @ W + b                             # (..., V)
    return out, {"x": x, "W": W}


def affine_backward(dout: np.ndarray, cache: dict) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward of :func:`affine_forward`.

    With :math:`out = x W + b`: :math:`dx = dout\, W^T`, :math:`dW = \sum x^T dout`,
    :math:`db = \sum dout` (sums over every position (t, n)).

    Parameters
    ----------
    dout : np.ndarray, same shape as the forward's ``out``
    cache : dict from :func:`affine_forward`

    Returns
    -------
    dx : (T, N, H) or (N, H)
    dW : (H, V)
    db : (V,)
    """
    x, W = cache["x"], cache["W"]
    H, V = W.shape
    dims = "T, N, V" if x.ndim == 3 else "N, V"
    check_float_array("dout", dout, dims, x.shape[:-1] + (V,), x.dtype)
    x2 = x.reshape(-1, H)                       # (T*N, H): every position is one row
    dout2 = dout.reshape(-1, V)                 # (T*N, V)
    dx = dout @ W.T                             # d(xW)/dx = W
    dW = x2.T @ dout2                           # d(xW)/dW = x
    db = dout2.sum(axis=0)                      # d(b)/db = 1
    return dx, dW, db


# --------------------------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------------------------

def softmax_cross_entropy(
    logits: np.ndarray, targets: np.ndarray, mask: Optional[np.ndarray] = None
) -> Tuple[np.floating, np.ndarray]:
    r"""Mean cross-entropy of the softmax over the last axis, and its gradient.

    .. math::

        p[t] &= \mathrm{softmax}(s[t]),\\
        L &= \frac{1}{\sum m} \sum_{t, n} m[t, n]\\
        &\qquad \cdot \bigl(-\log p[t, n, y[t, n]]\bigr)

    and :math:`\partial L / \partial s = m\,(p - \mathrm{onehot}(y)) / \sum m`.
    Numerically stable: the row maximum is subtracted before ``exp`` and the log-probability is
    computed as :math:`s_y - \max s - \log \sum e^{s - \max s}`, so no ``log(0)``.

    Book: eq. :eq:`ch3-loss` and :eq:`ch3-dz`.

    Parameters
    ----------
    logits : np.ndarray, (..., V)
        Unnormalised scores, e.g. (T, N, V).
    targets : np.ndarray of int, (...)
        The correct class of every position, in ``[0, V)``.
    mask : np.ndarray of bool or float, (...), optional
        Weight of every position (1 counts, 0 ignores, e.g. padding). Default: all ones, so
        the loss is the mean over all positions.

    Returns
    -------
    loss : scalar of the dtype of ``logits``
    dlogits : np.ndarray, (..., V), dtype of ``logits``
    """
    check_float("logits", logits)
    if logits.ndim < 1:
        raise ValueError(f"logits: expected shape (..., V), got {logits.shape}")
    V = logits.shape[-1]
    lead = logits.shape[:-1]
    lead_dims = ", ".join(["..."] * len(lead)) if lead else ""
    check_int_array("targets", targets, V)
    check_shape("targets", targets, lead_dims, lead)
    dtype = logits.dtype
    if mask is None:
        if logits.size == 0:
            raise ValueError(f"logits: expected at least one position to average over, got "
                             f"shape {logits.shape}")
        m = np.ones(lead, dtype=dtype)
    else:
        check_array("mask", mask, f"a numpy array of shape {lead}")
        check_shape("mask", mask, lead_dims, lead)
        m = mask.astype(dtype, copy=False)
        if m.size and not m.min() >= 0:   # also catches NaN
            raise ValueError(f"mask: expected weights >= 0 (1 counts a position, 0 ignores "
                             f"it), got a minimum of {m.min()}")
    count = m.sum()
    if not count > 0:
        raise ValueError("mask: selects no position (its sum is 0), the mean loss is undefined")

    shifted = logits - logits.max(axis=-1, keepdims=True)      # (..., V), max is 0
    exp = np.exp(shifted)
    sumexp = exp.sum(axis=-1, keepdims=True)                   # (..., 1), >= 1
    t = targets[..., None]
    logp_y = np.take_along_axis(shifted, t, axis=-1)[..., 0] - np.log(sumexp[..., 0])  # (...)
    loss = dtype.type(-(m * logp_y).sum() / count)

    dlogits = exp / sumexp                                      # p, (..., V)
    np.put_along_axis(dlogits, t, np.take_along_axis(dlogits, t, axis=-1) - 1, axis=-1)  # p - onehot
    dlogits *= (m / count)[..., None]
    return loss, dlogits


# --------------------------------------------------------------------------------------------
# gradient clipping
# --------------------------------------------------------------------------------------------

GradCollection = Union[Dict[str, np.ndarray], List[np.ndarray], Tuple[np.ndarray, ...]]


def clip_grad_norm(grads: GradCollection, max_norm: float) -> float:
    r"""Rescale all gradients together when their global norm exceeds ``max_norm`` (in place).

    .. math::

        \|g\| &= \sqrt{\textstyle\sum_k \|g_k\|_2^2},\\
        g_k &\leftarrow g_k \cdot \min\Bigl(1, \frac{\mathrm{max\_norm}}{\|g\| + 10^{-6}}\Bigr)

    Same rule as ``torch.nn.utils.clip_grad_norm_``: one factor for all arrays, so the update
    keeps its direction and only its length is capped (the cure for exploding gradients).

    Book: eq. :eq:`ch3v-clip-norm`.

    Parameters
    ----------
    grads : dict of name -> np.ndarray, or list/tuple of np.ndarray
        Gradient arrays, modified in place (their dtype is kept).
    max_norm : float
        Largest allowed global norm, > 0.

    Returns
    -------
    float
        The global norm *before* clipping (useful to log exploding gradients).
    """
    if isinstance(grads, dict):
        items: Iterable = grads.items()
    elif isinstance(grads, (list, tuple)):
        items = ((f"grads[{k}]", g) for k, g in enumerate(grads))
    else:
        raise ValueError(f"grads: expected a dict or a list of numpy arrays, got {type(grads).__name__}")
    arrays = []
    for name, g in items:
        check_float(str(name), g)
        arrays.append(g)
    max_norm = check_number(max_norm, "max_norm", 0, strict=True)
    # accumulate in float64: a float32 sum of squares of many large gradients could overflow
    total = float(np.sqrt(sum(float(np.dot(g.ravel().astype(np.float64, copy=False),
                                             g.ravel().astype(np.float64, copy=False))) for g in arrays)))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in arrays:
            g *= g.dtype.type(coef)
    return total
