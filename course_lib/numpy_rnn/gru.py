r"""The GRU in NumPy, with torch.nn.GRU's exact equations: one step, a sequence, and BPTT.

.. math::

    r[t] &= \sigma(x[t] W_{x,r} + b_{x,r} + h[t-1] W_{h,r} + b_{h,r})   &&\text{reset gate}\\
    z[t] &= \sigma(x[t] W_{x,z} + b_{x,z} + h[t-1] W_{h,z} + b_{h,z})   &&\text{update gate}\\
    n[t] &= \tanh\bigl(x[t] W_{x,n} + b_{x,n} + r[t] \odot (h[t-1] W_{h,n} + b_{h,n})\bigr)
                                                                        &&\text{candidate}\\
    h[t] &= (1 - z[t]) \odot n[t] + z[t] \odot h[t-1]

Why two biases. In the LSTM and the RNN the input bias and the hidden bias are simply added, so
one b = bias_ih + bias_hh is enough. In the GRU the hidden bias of the candidate,
:math:`b_{h,n}`, sits *inside* :math:`r \odot (\cdot)`, so it is scaled by the reset gate and
cannot be merged with :math:`b_{x,n}`. We therefore keep ``bx`` (3H,) and ``bh`` (3H,) separate,
exactly as torch does (the r and z blocks of the two are interchangeable, only their sum
matters, but keeping both makes the mapping to torch a plain copy).

Gate blocks are stacked in torch.nn.GRU's order r, z, n: ``Wx`` (D, 3H), ``Wh`` (H, 3H),
``bx`` (3H,), ``bh`` (3H,). To torch: ``Wx = weight_ih_l0.T``, ``Wh = weight_hh_l0.T``,
``bx = bias_ih_l0``, ``bh = bias_hh_l0``. Note that z = 1 *keeps* the old state (torch's
convention; some texts swap z and 1 - z).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..validate import check_cache, check_float_array, check_gate_weights, check_initial_state
from .layers import sigmoid

__all__ = ["gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward"]

_STEP_CACHE = ("x", "h_prev", "Wx", "Wh", "r", "z", "n", "ah_n")
_SEQ_CACHE = ("x", "h0", "Wx", "Wh", "gates", "ah_n", "h")


def _check_weights(x, Wx, Wh, bx, bh, D):
    H = check_gate_weights("gru", x, Wx, Wh, D)
    check_float_array("bx", bx, "3H", (3 * H,), x.dtype)
    check_float_array("bh", bh, "3H", (3 * H,), x.dtype)
    return H


def _sigmoid_inplace(a: np.ndarray) -> None:
    r""":math:`\sigma(z) = (1 + \tanh(z/2))/2` in place: exact, overflow-free, no temporaries."""
    a *= 0.5
    np.tanh(a, out=a)
    a += 1
    a *= 0.5


# --------------------------------------------------------------------------------------------
# one step
# --------------------------------------------------------------------------------------------

def gru_step_forward(x, h_prev, Wx, Wh, bx, bh) -> Tuple[np.ndarray, dict]:
    r"""One GRU step with torch.nn.GRU's equations (see the module docstring).

    .. math::

        a_x &= x[t] W_x + b_x,\\
        a_h &= h[t-1] W_h + b_h,\\
        r &= \sigma(a_{x,r} + a_{h,r}),\\
        z &= \sigma(a_{x,z} + a_{h,z}),\\
        n &= \tanh(a_{x,n} + r \odot a_{h,n}),\\
        h[t] &= (1 - z) \odot n + z \odot h[t-1]

    Book: eq. :eq:`ch5-gru`.

    Parameters
    ----------
    x : np.ndarray, (N, D)
    h_prev : np.ndarray, (N, H)
    Wx : np.ndarray, (D, 3H)
    Wh : np.ndarray, (H, 3H)
    bx : np.ndarray, (3H,)
        Input biases (torch's ``bias_ih``), blocks r, z, n.
    bh : np.ndarray, (3H,)
        Hidden biases (torch's ``bias_hh``), blocks r, z, n.

    Returns
    -------
    h : np.ndarray, (N, H)
    cache : dict
    """
    check_float_array("x", x, "N, D")
    N, D = x.shape
    H = _check_weights(x, Wx, Wh, bx, bh, D)
    check_float_array("h_prev", h_prev, "N, H", (N, H), x.dtype)

    ax = x @ Wx + bx                            # (N, 3H) input part of every gate
    ah = h_prev @ Wh + bh                       # (N, 3H) hidden part of every gate
    r = sigmoid(ax[:, :H] + ah[:, :H])          # (N, H) reset gate
    z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])  # (N, H) update gate
    ah_n = ah[:, 2 * H:]                        # (N, H) h[t-1] W_hn + b_hn, gated by r
    n = np.tanh(ax[:, 2 * H:] + r * ah_n)       # (N, H) candidate
    h = (1 - z) * n + z * h_prev                # (N, H)
    cache = {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "r": r, "z": z, "n": n, "ah_n": ah_n}
    return h, cache


def gru_step_backward(dh, cache) -> Tuple[np.ndarray, ...]:
    r"""Backward of :func:`gru_step_forward`, mirroring it from the last line up.

    .. math::

        dn &= dh \odot (1 - z),\\
        dz &= dh \odot (h[t-1] - n),\\
        dh[t-1] &\mathrel{+}= dh \odot z,\\
        da_n &= dn \odot (1 - n^2),\\
        dr &= da_n \odot a_{h,n},\\
        da_{h,n} &= da_n \odot r,\\
        da_z &= dz \odot z (1 - z),\\
        da_r &= dr \odot r (1 - r),

    then :math:`da_x = [da_r, da_z, da_n]` and :math:`da_h = [da_r, da_z, da_{h,n}]`:
    :math:`dx = da_x W_x^T`, :math:`dh[t-1] \mathrel{+}= da_h W_h^T`, :math:`dW_x = x^T da_x`,
    :math:`dW_h = h[t-1]^T da_h`, :math:`db_x = \sum_n da_x`, :math:`db_h = \sum_n da_h`.

    Book: eq. :eq:`ch5-gru`.

    Parameters
    ----------
    dh : np.ndarray, (N, H)
    cache : dict from :func:`gru_step_forward`

    Returns
    -------
    dx : (N, D)
    dh_prev : (N, H)
    dWx : (D, 3H)
    dWh : (H, 3H)
    dbx : (3H,)
    dbh : (3H,)
    """
    check_cache(cache, _STEP_CACHE, "gru_step_forward")
    x, h_prev, Wx, Wh = cache["x"], cache["h_prev"], cache["Wx"], cache["Wh"]
    r, z, n, ah_n = cache["r"], cache["z"], cache["n"], cache["ah_n"]
    check_float_array("dh", dh, "N, H", n.shape, n.dtype)

    # h = (1 - z) * n + z * h_prev
    dn = dh * (1 - z)                           # dh/dn = 1 - z
    dz = dh * (h_prev - n)                      # dh/dz = h_prev - n
    dh_prev = dh * z                            # dh/dh_prev (direct path) = z
    # n = tanh(ax_n + r * ah_n)
    da_n = dn * (1 - n * n)                     # d tanh(a)/da = 1 - n^2
    dr = da_n * ah_n                            # d(r * ah_n)/dr = ah_n
    dah_n = da_n * r                            # d(r * ah_n)/d ah_n = r
    # z = sigma(.), r = sigma(.)
    da_z = dz * z * (1 - z)                     # d sigma(a)/da = sigma (1 - sigma)
    da_r = dr * r * (1 - r)
    dax = np.concatenate([da_r, da_z, da_n], axis=1)    # (N, 3H) gradient of ax
    dah = np.concatenate([da_r, da_z, dah_n], axis=1)   # (N, 3H) gradient of ah
    # ax = x @ Wx + bx;  ah = h_prev @ Wh + bh
    dx = dax @ Wx.T                             # (N, D)
    dh_prev = dh_prev + dah @ Wh.T              # (N, H) the second path to h_prev
    dWx = x.T @ dax                             # (D, 3H)
    dWh = h_prev.T @ dah                        # (H, 3H)
    dbx = dax.sum(axis=0)                       # (3H,)
    dbh = dah.sum(axis=0)                       # (3H,)
    return dx, dh_prev, dWx, dWh, dbx, dbh


# --------------------------------------------------------------------------------------------
# a whole sequence
# --------------------------------------------------------------------------------------------

def gru_forward(x, h0, Wx, Wh, bx, bh) -> Tuple[np.ndarray, dict]:
    r"""Run the GRU over a whole sequence from h[-1] = h0 (equations in the module docstring).

    Same numbers as T calls of :func:`gru_step_forward`, organised for speed like
    :func:`~course_lib.numpy_rnn.lstm_forward`: all input projections
    :math:`x[t] W_x + b_x` in one (T*N, D) @ (D, 3H) product before the loop, buffers allocated
    once, gates computed in place on the (N, 3H) slab of each step.

    Book: eq. :eq:`ch5-gru`.

    Parameters
    ----------
    x : np.ndarray, (T, N, D)
        Time-major; T = 0 gives an empty h (0, N, H), and :func:`gru_backward` then returns
        zero gradients.
    h0 : np.ndarray, (N, H)
    Wx : (D, 3H), Wh : (H, 3H), bx : (3H,), bh : (3H,)
        Gate blocks in the order r, z, n.

    Returns
    -------
    h : np.ndarray, (T, N, H)
        The caller's own array (the cache holds a copy).
    cache : dict
    """
    check_float_array("x", x, "T, N, D")
    T, N, D = x.shape
    H = _check_weights(x, Wx, Wh, bx, bh, D)
    check_initial_state("h0", h0, x, H)
    dt = x.dtype

    gates = np.empty((T, N, 3 * H), dtype=dt)    # ax[t], then r, z, n in place
    np.matmul(x.reshape(T * N, D), Wx, out=gates.reshape(T * N, 3 * H))
    gates += bx
    ah_n = np.empty((T, N, H), dtype=dt)         # h[t-1] W_hn + b_hn, kept for the backward
    h = np.empty((T, N, H), dtype=dt)
    ah = np.empty((N, 3 * H), dtype=dt)          # h[t-1] @ Wh + bh
    h_prev = h0
    for t in range(T):
        a = gates[t]                             # (N, 3H)
        np.matmul(h_prev, Wh, out=ah)
        ah += bh
        rz = a[:, :2 * H]
        rz += ah[:, :2 * H]
        _sigmoid_inplace(rz)                     # r, z
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        ah_n[t] = ah[:, 2 * H:]
        ah[:, 2 * H:] *= r                       # r * (h W_hn + b_hn), reusing the buffer
        n += ah[:, 2 * H:]
        np.tanh(n, out=n)                        # n
        ht = h[t]
        np.subtract(h_prev, n, out=ht)
        ht *= z
        ht += n                                  # h = n + z (h_prev - n) = (1 - z) n + z h_prev
        h_prev = ht
    # The cache keeps its own h: editing the returned array must not change the gradients.
    cache = {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "gates": gates, "ah_n": ah_n, "h": h.copy()}
    return h, cache


def gru_backward(dh, cache) -> Tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`gru_forward`.

    ``dh`` (T, N, H) is the upstream gradient on every h[t]. With :math:`g_h` the gradient
    flowing into h[t] from step t+1, each step applies :func:`gru_step_backward`'s equations to
    :math:`dh_{tot} = dh[t] + g_h`:

    .. math::

        da_n &= dh_{tot} \odot (1 - z)(1 - n^2),\\
        da_z &= dh_{tot} \odot (h[t-1] - n)\, z (1 - z),\\
        da_r &= da_n \odot a_{h,n}\, r (1 - r),\\
        da_{h,n} &= da_n \odot r,\\
        g_h &\leftarrow dh_{tot} \odot z + da_h[t] W_h^T,

    and the parameters sum over all steps: :math:`dW_x = \sum_t x[t]^T da_x[t]`,
    :math:`dW_h = \sum_t h[t-1]^T da_h[t]`, :math:`db_x = \sum da_x`, :math:`db_h = \sum da_h`,
    :math:`dx[t] = da_x[t] W_x^T`, :math:`dh_0 = g_h`.

    As in :func:`~course_lib.numpy_rnn.lstm_backward`, the factors known from the forward
    (e.g. :math:`(1-z)(1-n^2)`) are computed for all steps before the loop, in the output
    buffer, and the sums over t are single matrix products after it.

    Book: eq. :eq:`ch5-gru`.

    Parameters
    ----------
    dh : np.ndarray, (T, N, H)
    cache : dict from :func:`gru_forward`

    Returns
    -------
    dx : (T, N, D)
    dh0 : (N, H)
    dWx : (D, 3H)
    dWh : (H, 3H)
    dbx : (3H,)
    dbh : (3H,)
    """
    check_cache(cache, _SEQ_CACHE, "gru_forward")
    x, h0, Wx, Wh = cache["x"], cache["h0"], cache["Wx"], cache["Wh"]
    gates, ah_n, h = cache["gates"], cache["ah_n"], cache["h"]
    T, N, H = h.shape
    D = x.shape[2]
    dt = h.dtype
    check_float_array("dh", dh, "T, N, H", (T, N, H), dt)

    r, z, n = (gates[..., k * H:(k + 1) * H] for k in range(3))       # (T, N, H) views
    dax = np.empty((T, N, 3 * H), dtype=dt)      # gradient of ax = x Wx + bx
    dah = np.empty((T, N, 3 * H), dtype=dt)      # gradient of ah = h Wh + bh
    k_r, k_z, k_n = (dax[..., k * H:(k + 1) * H] for k in range(3))
    # known factors, all steps at once
    np.subtract(1, gates, out=dax)
    dax *= gates                                 # sigma (1 - sigma) for r and z
    k_r *= ah_n                                  # dr/(da_n) = ah_n, times d sigma
    np.multiply(n, n, out=k_n)
    np.subtract(1, k_n, out=k_n)                 # d tanh(a)/da = 1 - n^2
    k_n *= 1 - z                                 # dh/dn = 1 - z
    if T:
        k_z[0] *= h0 - n[0]                      # dh/dz = h[t-1] - n
    if T > 1:
        k_z[1:] *= h[:-1] - n[1:]

    WhT = np.ascontiguousarray(Wh.T)             # (3H, H) used T times: BLAS is faster on a copy
    gh = np.zeros((N, H), dtype=dt)
    rec = np.empty((N, H), dtype=dt)
    for t in range(T - 1, -1, -1):
        gh += dh[t]                              # dh_tot
        dx_t, dh_t = dax[t], dah[t]              # (N, 3H)
        dx_t.reshape(N, 3, H)[:, 1:] *= gh[:, None, :]   # da_z, da_n
        dx_t[:, :H] *= dx_t[:, 2 * H:]           # da_r = da_n * ah_n * r (1 - r)
        dh_t[:, :2 * H] = dx_t[:, :2 * H]        # r, z: same gradient for ax and ah
        np.multiply(dx_t[:, 2 * H:], r[t], out=dh_t[:, 2 * H:])   # da_hn = da_n * r
        np.matmul(dh_t, WhT, out=rec)
        gh *= z[t]                               # direct path dh/dh_prev = z
        gh += rec                                # plus the path through the gates
    dh0 = gh

    dax2 = dax.reshape(T * N, 3 * H)
    dah2 = dah.reshape(T * N, 3 * H)
    dx = (dax2 @ Wx.T).reshape(T, N, D)
    dWx = x.reshape(T * N, D).T @ dax2
    dWh = h0.T @ dah[0] if T else np.zeros_like(Wh)
    if T > 1:
        dWh += h[:-1].reshape((T - 1) * N, H).T @ dah[1:].reshape((T - 1) * N, 3 * H)
    dbx = dax2.sum(axis=0)
    dbh = dah2.sum(axis=0)
    return dx, dh0, dWx, dWh, dbx, dbh
