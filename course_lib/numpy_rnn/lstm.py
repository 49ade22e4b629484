r"""The LSTM in NumPy: one step, a whole sequence, and backpropagation through time.

.. math::

    a[t] &= x[t]\, W_x + h[t-1]\, W_h + b                      &&(N, 4H)\\
    i[t] &= \sigma(a_i[t]), \quad f[t] = \sigma(a_f[t]), \quad
    g[t] = \tanh(a_g[t]), \quad o[t] = \sigma(a_o[t])           &&(N, H) \text{ each}\\
    c[t] &= f[t] \odot c[t-1] + i[t] \odot g[t]                 &&\text{cell state}\\
    h[t] &= o[t] \odot \tanh(c[t])                              &&\text{hidden state}

The four gate blocks are stacked along the last axis in torch.nn.LSTM's order i, f, g, o:
``a[:, 0:H]`` is the input gate, ``a[:, H:2H]`` the forget gate, ``a[:, 2H:3H]`` the candidate
and ``a[:, 3H:4H]`` the output gate. Shapes: x[t] (N, D), h[t] and c[t] (N, H), Wx (D, 4H),
Wh (H, 4H), b (4H,). To torch: ``Wx = weight_ih_l0.T``, ``Wh = weight_hh_l0.T``,
``b = bias_ih_l0 + bias_hh_l0``.

The gates as switches: with f ~ 1 and i ~ 0 the cell keeps c[t-1]; f ~ 0 erases it; i ~ 1 writes
the candidate g; o ~ 0 hides the cell from h while c is kept.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..validate import check_cache, check_float_array, check_gate_weights, check_initial_state
from .layers import sigmoid

__all__ = ["lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward"]

_STEP_CACHE = ("x", "h_prev", "c_prev", "Wx", "Wh", "i", "f", "g", "o", "tc")
_SEQ_CACHE = ("x", "h0", "c0", "Wx", "Wh", "gates", "c", "tc", "h")


def _check_weights(x, Wx, Wh, b, D):
    H = check_gate_weights("lstm", x, Wx, Wh, D)
    check_float_array("b", b, "4H", (4 * H,), x.dtype)
    return H


# --------------------------------------------------------------------------------------------
# one step
# --------------------------------------------------------------------------------------------

def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b) -> Tuple[np.ndarray, np.ndarray, dict]:
    r"""One LSTM step (equations in the module docstring).

    .. math::

        a &= x[t] W_x + h[t-1] W_h + b,\\
        i, f, o &= \sigma(a_i), \sigma(a_f), \sigma(a_o),\\
        g &= \tanh(a_g),\\
        c[t] &= f \odot c[t-1] + i \odot g,\\
        h[t] &= o \odot \tanh(c[t])

    Book: eq. :eq:`ch5-preact` to :eq:`ch5-output`.

    Parameters
    ----------
    x : np.ndarray, (N, D)
    h_prev : np.ndarray, (N, H)
        h[t-1].
    c_prev : np.ndarray, (N, H)
        c[t-1].
    Wx : np.ndarray, (D, 4H)
    Wh : np.ndarray, (H, 4H)
    b : np.ndarray, (4H,)
        Gate blocks in the order i, f, g, o.

    Returns
    -------
    h : np.ndarray, (N, H)
    c : np.ndarray, (N, H)
    cache : dict
        What :func:`lstm_step_backward` needs.
    """
    check_float_array("x", x, "N, D")
    N, D = x.shape
    H = _check_weights(x, Wx, Wh, b, D)
    check_float_array("h_prev", h_prev, "N, H", (N, H), x.dtype)
    check_float_array("c_prev", c_prev, "N, H", (N, H), x.dtype)

    a = x @ Wx + h_prev @ Wh + b                # (N, 4H)
    i = sigmoid(a[:, 0 * H : 1 * H])            # (N, H) input gate: how much of g to write
    f = sigmoid(a[:, 1 * H : 2 * H])            # (N, H) forget gate: how much of c[t-1] to keep
    g = np.tanh(a[:, 2 * H : 3 * H])            # (N, H) candidate values
    o = sigmoid(a[:, 3 * H : 4 * H])            # (N, H) output gate: how much of the cell to show
    c = f * c_prev + i * g                      # (N, H)
    tc = np.tanh(c)                             # (N, H)
    h = o * tc                                  # (N, H)
    cache = {"x": x, "h_prev": h_prev, "c_prev": c_prev, "Wx": Wx, "Wh": Wh,
             "i": i, "f": f, "g": g, "o": o, "tc": tc}
    return h, c, cache


def lstm_step_backward(dh, dc, cache) -> Tuple[np.ndarray, ...]:
    r"""Backward of :func:`lstm_step_forward`.

    Mirrors the forward from the last line to the first:

    .. math::

        do &= dh \odot \tanh(c),\\
        dc_{tot} &= dc + dh \odot o \odot (1 - \tanh^2 c),\\
        df &= dc_{tot} \odot c[t-1],\\
        di &= dc_{tot} \odot g,\\
        dg &= dc_{tot} \odot i,\\
        dc[t-1] &= dc_{tot} \odot f,\\
        da_{i,f,o} &= d(i,f,o) \odot \sigma (1 - \sigma),\\
        da_g &= dg \odot (1 - g^2),

    then with :math:`da = [da_i, da_f, da_g, da_o]` (N, 4H): :math:`dx = da\,W_x^T`,
    :math:`dh[t-1] = da\,W_h^T`, :math:`dW_x = x^T da`, :math:`dW_h = h[t-1]^T da`,
    :math:`db = \sum_n da`.

    Book: the forward is eq. :eq:`ch5-preact` to :eq:`ch5-output`; the direct cell path is
    eq. :eq:`ch5-cell-grad`.

    Parameters
    ----------
    dh : np.ndarray, (N, H)
        Upstream gradient dL/dh[t].
    dc : np.ndarray, (N, H) or None
        Upstream gradient dL/dc[t] (from step t+1); None means zero.
    cache : dict from :func:`lstm_step_forward`
        Anything else raises ValueError naming ``cache``.

    Returns
    -------
    dx : (N, D)
    dh_prev : (N, H)
    dc_prev : (N, H)
    dWx : (D, 4H)
    dWh : (H, 4H)
    db : (4H,)
    """
    check_cache(cache, _STEP_CACHE, "lstm_step_forward")
    x, h_prev, c_prev, Wx, Wh = (cache[k] for k in ("x", "h_prev", "c_prev", "Wx", "Wh"))
    i, f, g, o, tc = (cache[k] for k in ("i", "f", "g", "o", "tc"))
    check_float_array("dh", dh, "N, H", tc.shape, tc.dtype)
    if dc is None:
        dc = np.zeros_like(tc)
    check_float_array("dc", dc, "N, H", tc.shape, tc.dtype)

    # h = o * tanh(c)
    do = dh * tc                                # dh/do = tanh(c)
    dc_tot = dc + dh * o * (1 - tc * tc)        # dh/dc = o * (1 - tanh(c)^2), plus the direct dc
    # c = f * c_prev + i * g
    df = dc_tot * c_prev                        # dc/df = c_prev
    di = dc_tot * g                             # dc/di = g
    dg = dc_tot * i                             # dc/dg = i
    dc_prev = dc_tot * f                        # dc/dc_prev = f
    # gate activations
    da = np.concatenate([
        di * i * (1 - i),                       # d sigma(a)/da = sigma (1 - sigma)
        df * f * (1 - f),
        dg * (1 - g * g),                       # d tanh(a)/da = 1 - tanh(a)^2
        do * o * (1 - o),
    ], axis=1)                                  # (N, 4H), blocks i, f, g, o
    # a = x @ Wx + h_prev @ Wh + b
    dx = da @ Wx.T                              # (N, D)
    dh_prev = da @ Wh.T                         # (N, H)
    dWx = x.T @ da                              # (D, 4H)
    dWh = h_prev.T @ da                         # (H, 4H)
    db = da.sum(axis=0)                         # (4H,)
    return dx, dh_prev, dc_prev, dWx, dWh, db


# --------------------------------------------------------------------------------------------
# a whole sequence
# --------------------------------------------------------------------------------------------

def _gate_scale(H: int, dtype) -> tuple:
    r"""Per-column scale and offset that turn one ``tanh`` of the slab into the four activations.

    With :math:`\sigma(z) = \tfrac12 \tanh(z/2) + \tfrac12`, every gate is
    ``scale * tanh(scale * a) + offset`` with scale 1/2, offset 1/2 for i, f, o and scale 1,
    offset 0 for g. Scaling by 1/2 is exact in floating point, so this equals the four
    separate activations to the last bit of ``tanh``.
    """
    half = np.full(H, 0.5, dtype=dtype)
    scale = np.concatenate([half, half, np.ones(H, dtype=dtype), half])     # (4H,)
    offset = np.concatenate([half, half, np.zeros(H, dtype=dtype), half])   # (4H,)
    return scale, offset


def lstm_forward(x, h0, c0, Wx, Wh, b) -> Tuple[np.ndarray, np.ndarray, dict]:
    r"""Run the LSTM over a whole sequence, t = 0, ..., T-1, from h[-1] = h0 and c[-1] = c0.

    Computes exactly what T calls of :func:`lstm_step_forward` compute. Why it is organised
    differently (each choice measured by benchmarks/bench_numpy_rnn.py):

    - The input projections :math:`x[t] W_x + b` do not depend on the recurrence: all T of them
      are one ``(T*N, D) @ (D, 4H)`` product, far faster than T small ones.
    - Inside the loop only :math:`h[t-1] W_h` remains; it is added in place to that step's slab.
    - The four gate activations are *fused*: one ``np.tanh`` over the whole (N, 4H) slab, using
      :math:`\sigma(z) = \tfrac12\tanh(z/2) + \tfrac12`. The 1/2 inside is folded once into
      the columns of Wx, Wh and b (exact: a power of two), the 1/2 outside is one multiply-add.
    - Every array is allocated once before the loop; the loop writes into it with ``out=``.
      At small sizes allocating inside the loop costs more than the arithmetic.

    Book: eq. :eq:`ch5-preact` to :eq:`ch5-output`.

    Parameters
    ----------
    x : np.ndarray, (T, N, D)
        Time-major; T = 0 gives empty h, c (0, N, H), and :func:`lstm_backward` then returns
        zero gradients.
    h0 : np.ndarray, (N, H)
    c0 : np.ndarray, (N, H)
    Wx : (D, 4H), Wh : (H, 4H), b : (4H,)
        Gate blocks in the order i, f, g, o.

    Returns
    -------
    h : np.ndarray, (T, N, H)
        Hidden states h[0..T-1]; the caller's own array (the cache holds a copy).
    c : np.ndarray, (T, N, H)
        Cell states c[0..T-1]; likewise.
    cache : dict
        What :func:`lstm_backward` needs (the activated gates (T, N, 4H), tanh(c), ...).
    """
    check_float_array("x", x, "T, N, D")
    T, N, D = x.shape
    H = _check_weights(x, Wx, Wh, b, D)
    check_initial_state("h0", h0, x, H)
    check_initial_state("c0", c0, x, H)
    dt = x.dtype

    scale, offset = _gate_scale(H, dt)
    Wh_s = Wh * scale                            # (H, 4H) columns of i, f, o halved
    gates = np.empty((T, N, 4 * H), dtype=dt)    # scaled a[t], then the activated i, f, g, o
    np.matmul(x.reshape(T * N, D), Wx * scale, out=gates.reshape(T * N, 4 * H))  # all t at once
    gates += b * scale
    h = np.empty((T, N, H), dtype=dt)
    c = np.empty((T, N, H), dtype=dt)
    tc = np.empty((T, N, H), dtype=dt)           # tanh(c[t]), kept for the backward
    rec = np.empty((N, 4 * H), dtype=dt)         # h[t-1] @ Wh
    ig = np.empty((N, H), dtype=dt)              # i * g
    h_prev, c_prev = h0, c0
    for t in range(T):
        a = gates[t]                             # (N, 4H)
        np.matmul(h_prev, Wh_s, out=rec)
        a += rec                                 # scale * a[t]
        np.tanh(a, out=a)                        # one tanh for the four gates ...
        a *= scale
        a += offset                              # ... sigma for i, f, o; tanh for g
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        np.multiply(f, c_prev, out=c[t])         # c[t] = f * c[t-1] ...
        np.multiply(i, g, out=ig)
        c[t] += ig                               # ... + i * g
        np.tanh(c[t], out=tc[t])
        np.multiply(o, tc[t], out=h[t])          # h[t] = o * tanh(c[t])
        h_prev, c_prev = h[t], c[t]
    # The cache keeps its own h and c: editing the returned arrays must not change the gradients.
    cache = {"x": x, "h0": h0, "c0": c0, "Wx": Wx, "Wh": Wh, "gates": gates, "c": c.copy(),
             "tc": tc, "h": h.copy()}
    return h, c, cache


def lstm_backward(dh, cache, dc: Optional[np.ndarray] = None) -> Tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`lstm_forward`.

    ``dh`` (T, N, H) is the upstream gradient on every h[t]; ``dc`` (T, N, H), optional, the
    upstream gradient on every c[t] (zero when None). Going backwards in time, with
    :math:`g_h, g_c` the gradients flowing into h[t], c[t] from step t+1:

    .. math::

        dh_{tot} &= dh[t] + g_h,\\
        dc_{tot} &= dc[t] + g_c\\
        &\quad {}+ dh_{tot} \odot o \odot (1 - \tanh^2 c[t]),\\
        da_i &= dc_{tot} \odot g \odot i(1-i),\\
        da_f &= dc_{tot} \odot c[t-1] \odot f(1-f),\\
        da_g &= dc_{tot} \odot i \odot (1-g^2),\\
        da_o &= dh_{tot} \odot \tanh(c[t]) \odot o(1-o),\\
        g_c &\leftarrow dc_{tot} \odot f,\\
        g_h &\leftarrow da[t]\, W_h^T .

    Then :math:`dW_x = \sum_t x[t]^T da[t]`, :math:`dW_h = \sum_t h[t-1]^T da[t]`,
    :math:`db = \sum_{t,n} da[t]`, :math:`dx[t] = da[t] W_x^T`, :math:`dh_0 = g_h`,
    :math:`dc_0 = g_c`.

    How it is organised (same numbers as T calls of :func:`lstm_step_backward`):

    - The loop holds only what the recurrence needs: da[t] and one (N, 4H) @ (4H, H) product
      per step. The local derivatives are taken on the whole (N, 4H) slab at once
      (:math:`\sigma(1-\sigma)` for all four blocks, then the g block is corrected to
      :math:`1 - g^2`), in a buffer that is still in the CPU cache when it is used.
    - The sums over t (dWx, dWh, db) and all dx[t] are single matrix products over the stacked
      (T*N, .) arrays after the loop: one large BLAS call is much faster than T small ones,
      and the sum over t happens inside the product.
    - :math:`W_h^T` is copied once to a contiguous array: BLAS is faster on it than on the
      transposed view, and it is used T times.

    Book: eq. :eq:`ch5-cell-grad` (the carried dc), :ref:`ch5-lstm`.

    Parameters
    ----------
    dh : np.ndarray, (T, N, H)
    cache : dict from :func:`lstm_forward`
        Anything else raises ValueError naming ``cache``.
    dc : np.ndarray, (T, N, H), optional

    Returns
    -------
    dx : (T, N, D)
    dh0 : (N, H)
    dc0 : (N, H)
    dWx : (D, 4H)
    dWh : (H, 4H)
    db : (4H,)
    """
    check_cache(cache, _SEQ_CACHE, "lstm_forward")
    x, h0, c0, Wx, Wh = (cache[k] for k in ("x", "h0", "c0", "Wx", "Wh"))
    gates, c, tc, h = cache["gates"], cache["c"], cache["tc"], cache["h"]
    T, N, H = h.shape
    D = x.shape[2]
    dt = h.dtype
    check_float_array("dh", dh, "T, N, H", (T, N, H), dt)
    if dc is not None:
        check_float_array("dc", dc, "T, N, H", (T, N, H), dt)

    WhT = np.ascontiguousarray(Wh.T)             # (4H, H)
    da = np.empty((T, N, 4 * H), dtype=dt)       # gradient of the pre-activations a[t]
    gh = np.zeros((N, H), dtype=dt)              # gradient into h[t] from step t+1
    gc = np.zeros((N, H), dtype=dt)              # gradient into c[t] from step t+1
    tmp = np.empty((N, H), dtype=dt)
    for t in range(T - 1, -1, -1):
        s = gates[t]                             # (N, 4H) activated i, f, g, o
        i, f, g, o = s[:, :H], s[:, H:2 * H], s[:, 2 * H:3 * H], s[:, 3 * H:]
        c_prev = c[t - 1] if t > 0 else c0
        dat = da[t]
        da_i, da_f, da_g, da_o = dat[:, :H], dat[:, H:2 * H], dat[:, 2 * H:3 * H], dat[:, 3 * H:]

        gh += dh[t]                              # dh_tot
        if dc is not None:
            gc += dc[t]
        # h = o * tanh(c):  dh/dc = o * (1 - tanh(c)^2)
        np.multiply(tc[t], tc[t], out=tmp)
        np.subtract(1, tmp, out=tmp)
        tmp *= o
        tmp *= gh
        gc += tmp                                # dc_tot
        # local derivatives of the activations, whole slab
        np.subtract(1, s, out=dat)
        dat *= s                                 # d sigma(a)/da = sigma (1 - sigma)   (i, f, o)
        np.multiply(g, g, out=da_g)
        np.subtract(1, da_g, out=da_g)           # d tanh(a)/da = 1 - g^2              (g)
        # times the other factor of each product, then the upstream gradient
        da_o *= tc[t]                            # dh/do = tanh(c)
        da_o *= gh
        da_i *= g                                # dc/di = g
        da_f *= c_prev                           # dc/df = c[t-1]
        da_g *= i                                # dc/dg = i
        dat.reshape(N, 4, H)[:, :3] *= gc[:, None, :]   # i, f, g blocks times dc_tot
        gc *= f                                  # dc[t-1] = dc_tot * f
        np.matmul(dat, WhT, out=gh)              # dh[t-1] = da[t] @ Wh^T
    dh0, dc0 = gh, gc

    da2 = da.reshape(T * N, 4 * H)
    dx = (da2 @ Wx.T).reshape(T, N, D)           # da/dx[t] = Wx
    dWx = x.reshape(T * N, D).T @ da2            # sum_t x[t]^T da[t]
    dWh = h0.T @ da[0] if T else np.zeros_like(Wh)  # sum_t h[t-1]^T da[t], no stacked copy
    if T > 1:
        dWh += h[:-1].reshape((T - 1) * N, H).T @ da[1:].reshape((T - 1) * N, 4 * H)
    db = da2.sum(axis=0)
    return dx, dh0, dc0, dWx, dWh, db
