r"""The vanilla (Elman) RNN in NumPy: one step, a whole sequence, and backpropagation through time.

.. math::

    a[t] = x[t]\, W_x + h[t-1]\, W_h + b, \qquad h[t] = \tanh(a[t])\ \ (\text{or } \max(0, a[t]))

Shapes (time-major, row vectors): x[t] (N, D), h[t] (N, H), Wx (D, H), Wh (H, H), b (H,);
a sequence x is (T, N, D) and its hidden states h are (T, N, H). These weights map to
``torch.nn.RNN`` by a transpose: ``Wx = weight_ih_l0.T``, ``Wh = weight_hh_l0.T``,
``b = bias_ih_l0 + bias_hh_l0``.

The step functions are the readable teaching reference. The sequence functions compute the same
thing faster (see their notes); the tests check both against each other, against numerical
gradients and against ``torch.nn.RNN``.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..validate import (check_activation, check_cache, check_float_array, check_gate_weights,
                        check_initial_state)

__all__ = ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]

_STEP_CACHE = ("x", "h_prev", "Wx", "Wh", "h", "activation")
_SEQ_CACHE = ("x", "h0", "Wx", "Wh", "h", "activation")


def _check_weights(x, Wx, Wh, b, D):
    H = check_gate_weights("rnn", x, Wx, Wh, D)
    check_float_array("b", b, "H", (H,), x.dtype)
    return H


# --------------------------------------------------------------------------------------------
# one step
# --------------------------------------------------------------------------------------------

def rnn_step_forward(x, h_prev, Wx, Wh, b, activation: str = "tanh") -> Tuple[np.ndarray, dict]:
    r"""One step of the RNN: :math:`h[t] = \tanh(x[t] W_x + h[t-1] W_h + b)`.

    Book: eq. :eq:`ch2-rnn-step`.

    Parameters
    ----------
    x : np.ndarray, (N, D)
        Input at step t, one row per sequence.
    h_prev : np.ndarray, (N, H)
        Hidden state h[t-1].
    Wx : np.ndarray, (D, H)
        Input-to-hidden weights.
    Wh : np.ndarray, (H, H)
        Hidden-to-hidden (recurrent) weights.
    b : np.ndarray, (H,)
        Bias.
    activation : {"tanh", "relu"}
        The nonlinearity f in :math:`h[t] = f(a[t])`.

    Returns
    -------
    h : np.ndarray, (N, H)
        The new hidden state h[t], same dtype as ``x``.
    cache : dict
        What :func:`rnn_step_backward` needs.
    """
    check_activation(activation)
    check_float_array("x", x, "N, D")
    N, D = x.shape
    H = _check_weights(x, Wx, Wh, b, D)
    check_float_array("h_prev", h_prev, "N, H", (N, H), x.dtype)

    a = x @ Wx + h_prev @ Wh + b                # (N, H)  pre-activation a[t]
    h = np.tanh(a) if activation == "tanh" else np.maximum(a, 0)  # (N, H)
    # The cache keeps its own h: editing the returned array must not change the gradients.
    cache = {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "h": h.copy(), "activation": activation}
    return h, cache


def rnn_step_backward(dh, cache) -> Tuple[np.ndarray, ...]:
    r"""Backward of :func:`rnn_step_forward`.

    Mirrors the forward bottom-up:

    .. math::

        da &= dh \odot f'(a),\\
        dx &= da\, W_x^T,\\
        dh[t-1] &= da\, W_h^T,\\
        dW_x &= x^T da,\\
        dW_h &= h[t-1]^T da,\\
        db &= \textstyle\sum_n da

    with :math:`f'(a) = 1 - h^2` for tanh and :math:`[a > 0]` for relu.

    Book: eq. :eq:`ch3-da` and :eq:`ch3-dW` for one step.

    Parameters
    ----------
    dh : np.ndarray, (N, H)
        Upstream gradient dL/dh[t].
    cache : dict from :func:`rnn_step_forward`
        Anything else raises ValueError naming ``cache``.

    Returns
    -------
    dx : (N, D)
    dh_prev : (N, H)
    dWx : (D, H)
    dWh : (H, H)
    db : (H,)
    """
    check_cache(cache, _STEP_CACHE, "rnn_step_forward")
    x, h_prev, Wx, Wh, h = cache["x"], cache["h_prev"], cache["Wx"], cache["Wh"], cache["h"]
    check_float_array("dh", dh, "N, H", h.shape, h.dtype)

    # h = f(a)
    if cache["activation"] == "tanh":
        da = dh * (1 - h * h)                   # d tanh(a)/da = 1 - tanh(a)^2 = 1 - h^2
    else:
        da = dh * (h > 0)                       # d relu(a)/da = 1 where a > 0 (i.e. h > 0), else 0
    # a = x @ Wx + h_prev @ Wh + b
    dx = da @ Wx.T                              # (N, D)   da/dx = Wx
    dh_prev = da @ Wh.T                         # (N, H)   da/dh_prev = Wh
    dWx = x.T @ da                              # (D, H)   da/dWx = x
    dWh = h_prev.T @ da                         # (H, H)   da/dWh = h_prev
    db = da.sum(axis=0)                         # (H,)     b is broadcast over the N rows
    return dx, dh_prev, dWx, dWh, db


# --------------------------------------------------------------------------------------------
# a whole sequence
# --------------------------------------------------------------------------------------------

def rnn_forward(x, h0, Wx, Wh, b, activation: str = "tanh") -> Tuple[np.ndarray, dict]:
    r"""Run the RNN over a whole sequence.

    .. math::

        h[t] &= f(x[t] W_x + h[t-1] W_h + b),\\
        &\qquad t = 0, \dots, T-1,\\
        h[-1] &= h_0

    Same result as calling :func:`rnn_step_forward` T times, computed faster: the input
    projections :math:`x[t] W_x` do not depend on the recurrence, so all T of them are one
    matrix product ``x.reshape(T*N, D) @ Wx`` (one big BLAS call instead of T small ones),
    written straight into the output buffer, which the loop then completes in place.

    Book: eq. :eq:`ch2-recurrence`, :eq:`ch2-rnn-step`.

    Parameters
    ----------
    x : np.ndarray, (T, N, D)
        Time-major; T = 0 gives an empty h (0, N, H), and :func:`rnn_backward` then returns
        zero gradients.
    h0 : np.ndarray, (N, H)
        Initial hidden state h[-1].
    Wx : (D, H), Wh : (H, H), b : (H,)
    activation : {"tanh", "relu"}

    Returns
    -------
    h : np.ndarray, (T, N, H)
        All hidden states h[0], ..., h[T-1]; the caller's own array (the cache holds a copy).
    cache : dict
        What :func:`rnn_backward` needs.
    """
    check_activation(activation)
    check_float_array("x", x, "T, N, D")
    T, N, D = x.shape
    H = _check_weights(x, Wx, Wh, b, D)
    check_initial_state("h0", h0, x, H)

    h = np.empty((T, N, H), dtype=x.dtype)
    np.matmul(x.reshape(T * N, D), Wx, out=h.reshape(T * N, H))   # x[t] @ Wx for every t
    h += b                                                         # (T, N, H) = a[t] - h[t-1] @ Wh
    rec = np.empty((N, H), dtype=x.dtype)                          # reused buffer for h[t-1] @ Wh
    h_prev = h0
    for t in range(T):
        np.matmul(h_prev, Wh, out=rec)
        a = h[t]
        a += rec                                                   # a[t], (N, H)
        if activation == "tanh":
            np.tanh(a, out=a)                                      # h[t] overwrites a[t]
        else:
            np.maximum(a, 0, out=a)
        h_prev = a
    cache = {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "h": h.copy(), "activation": activation}
    return h, cache


def rnn_backward(dh, cache) -> Tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`rnn_forward`.

    ``dh[t]`` is the upstream gradient on every h[t] (e.g. from the output layer), *not* the
    gradient carried between steps. Going backwards in time, the gradient on h[t] is its own
    upstream part plus what flows back from step t+1:

    .. math::

        g[t] &= dh[t] + da[t+1]\, W_h^T,\\
        da[t] &= g[t] \odot f'(a[t])

    and the weights collect the contributions of every step:

    .. math::

        dW_x &= \sum_t x[t]^T da[t],\\
        dW_h &= \sum_t h[t-1]^T da[t],\\
        db &= \sum_{t,n} da[t],\\
        dx[t] &= da[t] W_x^T,\\
        dh_0 &= da[0] W_h^T.

    Only :math:`g[t]` needs the sequential loop. The sums over t are done after it as single
    matrix products over the stacked (T*N, .) arrays: one large BLAS call is much faster than
    T small ones, and the sum over t happens inside the product.

    Book: eq. :eq:`ch3-dh`, :eq:`ch3-da`, :eq:`ch3-dW` (derived in :ref:`ch3-bptt`).

    Parameters
    ----------
    dh : np.ndarray, (T, N, H)
    cache : dict from :func:`rnn_forward`
        Anything else raises ValueError naming ``cache``.

    Returns
    -------
    dx : (T, N, D)
    dh0 : (N, H)
    dWx : (D, H)
    dWh : (H, H)
    db : (H,)
    """
    check_cache(cache, _SEQ_CACHE, "rnn_forward")
    x, h0, Wx, Wh, h = cache["x"], cache["h0"], cache["Wx"], cache["Wh"], cache["h"]
    T, N, H = h.shape
    D = x.shape[2]
    check_float_array("dh", dh, "T, N, H", (T, N, H), h.dtype)

    # local derivative of the activation for all steps at once (no recurrence involved)
    if cache["activation"] == "tanh":
        da = 1 - h * h                          # (T, N, H)  d tanh(a)/da = 1 - h^2
    else:
        da = (h > 0).astype(h.dtype)            # (T, N, H)  d relu(a)/da = [a > 0]
    WhT = np.ascontiguousarray(Wh.T)            # used T times: BLAS is faster on a contiguous copy
    g = np.zeros((N, H), dtype=h.dtype)         # gradient flowing into h[t] from step t+1
    for t in range(T - 1, -1, -1):
        g += dh[t]                              # total dL/dh[t]
        da[t] *= g                              # da[t] = dL/dh[t] * f'(a[t])
        np.matmul(da[t], WhT, out=g)           # dL/dh[t-1] through a[t] = ... + h[t-1] @ Wh
    dh0 = g

    da2 = da.reshape(T * N, H)
    dx = (da2 @ Wx.T).reshape(T, N, D)          # da/dx[t] = Wx
    dWx = x.reshape(T * N, D).T @ da2           # sum_t x[t]^T da[t]
    dWh = h0.T @ da[0] if T else np.zeros_like(Wh)  # h[t-1] for t = 0 is h0 ...
    if T > 1:                                   # ... and h[0..T-2] for the rest: no stacked copy
        dWh += h[:-1].reshape((T - 1) * N, H).T @ da[1:].reshape((T - 1) * N, H)
    db = da2.sum(axis=0)
    return dx, dh0, dWx, dWh, db
