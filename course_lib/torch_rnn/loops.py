"""The readable time loops of :class:`~course_lib.torch_rnn.modules.RNN`, ``LSTM`` and ``GRU``.

Each function runs step 2 of a layer (see :mod:`course_lib.torch_rnn.modules`): the input
projection ``XW = x @ Wx + b`` of every step is given, and the loop adds ``h[t-1] @ Wh`` and the
cell's nonlinearities step by step, book eq. :eq:`ch2-rnn-step` (RNN), :eq:`ch5-preact` to
:eq:`ch5-output` (LSTM), :eq:`ch5-gru` (GRU). Autograd records every step (the ``"eager"`` back
end).

They are written in the subset of Python that ``torch.jit.script`` accepts, so the ``"script"``
back end compiles these very functions (:func:`scripted_loop`): one source for both, bitwise
identical outputs.
"""

import warnings
from typing import List, Optional, Tuple

import torch
from torch import Tensor

__all__ = ["rnn_loop", "lstm_loop", "gru_loop", "EAGER_LOOPS", "scripted_loop"]


def rnn_loop(xw: Tensor, h: Tensor, w_hh: Tensor, relu: bool,
             reverse: bool) -> Tuple[Tensor, Tensor]:
    """Run ``h[t] = act(XW[t] + h[t-1] @ Wh)`` over all steps.

    Parameters
    ----------
    xw : Tensor (T, N, H)     input projection ``x @ Wx + b`` of every step, both biases in it
    h : Tensor (N, H)         initial state h[-1]
    w_hh : Tensor (H, H)      ``weight_hh``, i.e. ``Wh.T``
    relu : bool               relu instead of tanh
    reverse : bool            run from t = T-1 down to 0 (the backward direction)

    Returns
    -------
    out : Tensor (T, N, H)    h[t] for every t, in input order
    h_last : Tensor (N, H)    the state after the last processed step
    """
    T = xw.size(0)
    w_t = w_hh.t()                           # (H, H) = Wh
    # unbind once: indexing xw[t] inside the loop would make autograd build a zero (T, N, H)
    # gradient per step, O(T^2) work in backward.
    xws = xw.unbind(0)                       # T x (N, H)
    outputs: List[Tensor] = []
    for s in range(T):
        t = T - 1 - s if reverse else s
        a = torch.addmm(xws[t], h, w_t)      # (N, H)
        h = torch.relu(a) if relu else torch.tanh(a)
        outputs.append(h)
    out = torch.stack(outputs, 0)            # (T, N, H), processing order
    if reverse:
        out = out.flip(0)
    return out, h


def lstm_loop(xw: Tensor, h: Tensor, c: Tensor, w_hh: Tensor,
              reverse: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """Run the LSTM recurrence over all steps, gates i, f, g, o.

    ``a[t] = XW[t] + h[t-1] @ Wh`` (N, 4H); ``i, f, o = sigmoid(a_i, a_f, a_o)``,
    ``g = tanh(a_g)``; ``c[t] = f * c[t-1] + i * g``; ``h[t] = o * tanh(c[t])``.

    Parameters
    ----------
    xw : Tensor (T, N, 4H)    ``x @ Wx + b_ih + b_hh`` for every step
    h, c : Tensor (N, H)      initial hidden and cell state
    w_hh : Tensor (4H, H)     ``weight_hh``
    reverse : bool            run from t = T-1 down to 0

    Returns
    -------
    out : Tensor (T, N, H);  h_last, c_last : Tensor (N, H)
    """
    T = xw.size(0)
    w_t = w_hh.t()                           # (H, 4H) = Wh
    xws = xw.unbind(0)                       # T x (N, 4H), see rnn_loop
    outputs: List[Tensor] = []
    for s in range(T):
        t = T - 1 - s if reverse else s
        a = torch.addmm(xws[t], h, w_t)      # (N, 4H)
        a_i, a_f, a_g, a_o = a.chunk(4, 1)   # (N, H) each
        i = torch.sigmoid(a_i)
        f = torch.sigmoid(a_f)
        g = torch.tanh(a_g)
        o = torch.sigmoid(a_o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        outputs.append(h)
    out = torch.stack(outputs, 0)            # (T, N, H)
    if reverse:
        out = out.flip(0)
    return out, h, c


def gru_loop(xw: Tensor, h: Tensor, w_hh: Tensor, b_hh: Optional[Tensor],
             reverse: bool) -> Tuple[Tensor, Tensor]:
    """Run the GRU recurrence with torch.nn.GRU's equations, gates r, z, n.

    ``ah[t] = h[t-1] @ Wh + b_hh`` (N, 3H); ``r = sigmoid(XW_r + ah_r)``,
    ``z = sigmoid(XW_z + ah_z)``, ``n = tanh(XW_n + r * ah_n)``,
    ``h[t] = (1 - z) * n + z * h[t-1]``. ``b_hh`` stays in the loop because ``b_hn`` is
    multiplied by r.

    Parameters
    ----------
    xw : Tensor (T, N, 3H)    ``x @ Wx + b_ih`` for every step
    h : Tensor (N, H)         initial state
    w_hh : Tensor (3H, H)     ``weight_hh``
    b_hh : Tensor (3H,) or None
    reverse : bool            run from t = T-1 down to 0

    Returns
    -------
    out : Tensor (T, N, H);  h_last : Tensor (N, H)
    """
    T = xw.size(0)
    w_t = w_hh.t()                           # (H, 3H) = Wh
    xws = xw.unbind(0)                       # T x (N, 3H), see rnn_loop
    outputs: List[Tensor] = []
    for s in range(T):
        t = T - 1 - s if reverse else s
        if b_hh is None:
            ah = torch.mm(h, w_t)            # (N, 3H)
        else:
            ah = torch.addmm(b_hh, h, w_t)
        ax_r, ax_z, ax_n = xws[t].chunk(3, 1)  # (N, H) each
        ah_r, ah_z, ah_n = ah.chunk(3, 1)
        r = torch.sigmoid(ax_r + ah_r)
        z = torch.sigmoid(ax_z + ah_z)
        n = torch.tanh(ax_n + r * ah_n)
        h = (1 - z) * n + z * h
        outputs.append(h)
    out = torch.stack(outputs, 0)            # (T, N, H)
    if reverse:
        out = out.flip(0)
    return out, h


#: The eager loop of each cell kind.
EAGER_LOOPS = {"rnn": rnn_loop, "lstm": lstm_loop, "gru": gru_loop}
_SCRIPTED: dict = {}


def scripted_loop(kind: str):
    """The torch.jit.script-ed twin of ``EAGER_LOOPS[kind]``, compiled once per process on first use."""
    if kind not in _SCRIPTED:
        script = getattr(getattr(torch, "jit", None), "script", None)
        if script is None:
            raise RuntimeError("backend 'script' needs torch.jit.script, which this torch "
                               f"{torch.__version__} lacks; use backend='fused' or 'eager'")
        with warnings.catch_warnings():
            # torch >= 2.9 deprecates jit.script in favour of torch.compile; the scripted loop
            # still compiles in milliseconds and offline, which torch.compile does not.
            warnings.simplefilter("ignore")
            _SCRIPTED[kind] = script(EAGER_LOOPS[kind])
    return _SCRIPTED[kind]

