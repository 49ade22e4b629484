"""Multi-layer, optionally bidirectional RNN, LSTM and GRU with the cell equations written out.

:class:`RNN`, :class:`LSTM` and :class:`GRU` are drop-ins for torch.nn's: the same constructor
arguments, the same parameter names and shapes (``weight_ih_l0`` (G*H, D),
``weight_hh_l0`` (G*H, H), ``bias_ih_l0``, ``bias_hh_l0`` (G*H,), ``..._reverse`` for the
backward direction; G = 1, 4, 3), the same ``forward(input, hx=None)`` and return values, so
``load_state_dict`` works in both directions. Nothing here calls torch.nn.RNN/LSTM/GRU, torch's
fused RNN kernels or its functional RNN cells.

How a layer runs (book notation, time-major, row vectors ``Wx = weight_ih.T``):

1. one matmul projects every time step's input at once: ``XW = x @ Wx + b``, (T, N, G*H);
2. a loop over t does the only truly sequential work: ``a[t] = XW[t] + h[t-1] @ Wh`` and the
   gate nonlinearities.

The loop never reads a tensor value back to Python, so on a GPU the kernels for all T steps are
queued without a host-device synchronisation.

Three interchangeable back ends run step 2 (select with ``backend=`` or :func:`set_backend`):

``"eager"``
    The readable reference: plain PyTorch, autograd records every step.
``"script"``
    The same Python loop compiled with ``torch.jit.script``: identical operations, so bitwise
    identical outputs and states; TorchScript differentiates with its own formulas, so gradients
    agree with eager to the last bit or so (about 1e-16 in float64).
``"fused"``
    A hand-written :class:`torch.autograd.Function` per layer and direction: the forward loop
    runs without building a graph, the backward loop is BPTT written out (the same local
    derivatives as the NumPy reference), and the recurrent weight gradient is one matmul over
    all steps, ``dWh = sum_t h[t-1].T @ da[t]``. Equal to eager up to float rounding. It does not
    support double backward, and the LSTM's backward runs once per forward (it reuses the
    forward's buffers in place), so ``retain_graph=True`` needs ``"eager"``.

    Training note: float32 training of the WikiText-2 language model
    (benchmarks/bench_wikitext_lm.py: lr 20, 3 epochs) is chaotic. Moving every initial weight
    by one ulp moves one run's test perplexity by 1-9%, so compare back ends over several
    seeds. Over 8 seeds on a 2-core Intel Xeon the fused LSTM ended 1.7% *below*
    torch.nn.LSTM (mean 375.1 against 381.6). On an AMD EPYC an earlier version of it ended
    3.2% above, over 12 seeds. Along a whole 930-step fused run, its gradients stayed within
    6.1e-7 (relative) of eager's, recomputed on the same weights and batch at every step. So
    the spread is float32 round-off amplified by training, and its sign depends on the CPU.
"""

import functools
import math
import warnings
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RNN", "LSTM", "GRU", "BACKENDS", "set_backend", "get_backend",
           "rnn_loop", "lstm_loop", "gru_loop"]

BACKENDS = ("eager", "script", "fused")
_default_backend = "eager"


def set_backend(name: str) -> None:
    """Choose the time-loop back end of every RNN/LSTM/GRU built with ``backend=None``.

    Parameters
    ----------
    name : {"eager", "script", "fused"}
        See the module docstring. ``"eager"`` is the default.
    """
    global _default_backend
    if name not in BACKENDS:
        raise ValueError(f"name: expected one of {BACKENDS}, got {name!r}")
    if name == "script":
        _scripted("lstm")  # fail here, not in the middle of a training run
    _default_backend = name


def get_backend() -> str:
    """The back end used by modules built with ``backend=None`` (see :func:`set_backend`)."""
    return _default_backend


# ---------------------------------------------------------------------------------------------
# Eager time loops. Written in the subset of Python that torch.jit.script accepts, so the
# "script" back end compiles these very functions: one source for both.
# ---------------------------------------------------------------------------------------------

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


_EAGER = {"rnn": rnn_loop, "lstm": lstm_loop, "gru": gru_loop}
_SCRIPTED: dict = {}


def _scripted(kind: str):
    """The torch.jit.script-ed twin of an eager loop, compiled once per process on first use."""
    if kind not in _SCRIPTED:
        script = getattr(getattr(torch, "jit", None), "script", None)
        if script is None:
            raise RuntimeError("backend 'script' needs torch.jit.script, which this torch "
                               f"{torch.__version__} lacks; use backend='fused' or 'eager'")
        with warnings.catch_warnings():
            # torch >= 2.9 deprecates jit.script in favour of torch.compile; the scripted loop
            # still compiles in milliseconds and offline, which torch.compile does not.
            warnings.simplefilter("ignore")
            _SCRIPTED[kind] = script(_EAGER[kind])
    return _SCRIPTED[kind]


# ---------------------------------------------------------------------------------------------
# Fused back end: forward without a graph, BPTT written out in backward.
# ---------------------------------------------------------------------------------------------

def _first_order_only(backward):
    """Refuse ``create_graph=True``: the hand-written backward is not itself differentiable,
    and silently returning constants would give wrong second derivatives."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        if torch.is_grad_enabled():
            raise RuntimeError("backend='fused' computes first derivatives only; for "
                               "create_graph=True (double backward) use backend='eager'")
        return backward(ctx, *grads)

    return wrapper


class _RNNFused(torch.autograd.Function):
    """``rnn_loop`` with a hand-written backward: ``da[t] = dh[t] * act'(a[t])``,
    ``dh[t-1] = da[t] @ weight_hh``, ``dWh.T = sum_t da[t].T @ h[t-1]``."""

    @staticmethod
    def forward(ctx, xw: Tensor, h0: Tensor, w_hh: Tensor, relu: bool, reverse: bool):
        T, N, H = xw.shape
        w_t = w_hh.t()
        hs = xw.new_empty((T + 1, N, H))     # hs[s] = state before processing step s
        hs[0] = h0
        for s in range(T):
            t = T - 1 - s if reverse else s
            a = torch.addmm(xw[t], hs[s], w_t)
            if relu:
                torch.clamp(a, min=0, out=hs[s + 1])
            else:
                torch.tanh(a, out=hs[s + 1])
        ctx.save_for_backward(w_hh)
        ctx.hs, ctx.relu, ctx.reverse = hs, relu, reverse
        out = hs[1:].flip(0) if reverse else hs[1:].clone()
        return out, hs[T].clone()

    @staticmethod
    @_first_order_only
    def backward(ctx, dout: Tensor, dh_last: Tensor):
        (w_hh,) = ctx.saved_tensors
        hs, relu, reverse = ctx.hs, ctx.relu, ctx.reverse
        T, N, H = dout.shape
        # act'(a[t]) for all steps at once, from the stored outputs: relu' = [h > 0],
        # tanh' = 1 - h^2.
        k = (hs[1:] > 0).to(dout.dtype) if relu else 1 - hs[1:] * hs[1:]  # (T, N, H)
        da_all = dout.new_empty((T, N, H))   # processing order
        dh = dh_last
        for s in range(T - 1, -1, -1):
            t = T - 1 - s if reverse else s
            dh = dh + dout[t]                # from the output at t and from step t+1
            da = torch.mul(dh, k[s], out=da_all[s])
            dh = torch.mm(da, w_hh)          # (N, H)
        dw_hh = None
        if ctx.needs_input_grad[2]:
            dw_hh = da_all.reshape(T * N, H).t() @ hs[:T].reshape(T * N, H)
        dxw = da_all.flip(0) if reverse else da_all
        ctx.hs = None
        return dxw, dh, dw_hh, None, None


def _lstm_fused_forward_loop(gates: List[Tensor], w_t: Tensor, hs: List[Tensor], cs: Tensor,
                             tcs: Tensor) -> None:
    """The forward time loop of :class:`_LSTMFused`, in place in preallocated buffers.

    gates : T x (N, 4H) in processing order, each holding ``x[t] @ Wx + b`` on entry and the
    gate values i, f, g, o (after their nonlinearities) on exit; w_t : (H, 4H) = Wh,
    contiguous; hs : T+1 x (N, H), hs[0] the initial state, hs[s+1] receives the state after
    processing step s; cs : (T+1, N, H) likewise, cs[0] set; tcs : (T, N, H) receives
    tanh(c[t]). Eight small operations per step, on views made once by unbind: indexing inside
    the loop costs about as much as the small arithmetic it feeds.
    """
    T = len(gates)
    H = cs.size(2)
    c_l, tc_l = cs.unbind(0), tcs.unbind(0)
    for s in range(T):
        a = gates[s]
        # In place: the matmul accumulates into the step's input projection (beta = 1) and
        # the nonlinearities overwrite their own pre-activations, so no step copies (N, 4H).
        a.addmm_(hs[s], w_t)
        g = a[:, 2 * H:3 * H]
        torch.tanh(g, out=g)
        torch.sigmoid(a[:, :2 * H], out=a[:, :2 * H])
        torch.sigmoid(a[:, 3 * H:], out=a[:, 3 * H:])
        c = c_l[s + 1]
        torch.mul(a[:, H:2 * H], c_l[s], out=c)
        c.addcmul_(a[:, :H], g)
        torch.tanh(c, out=tc_l[s])
        torch.mul(a[:, 3 * H:], tc_l[s], out=hs[s + 1])


def _lstm_fused_backward_loop(dhs: List[Tensor], dh_last: Tensor, dc: Tensor, w_hh: Tensor,
                              k_c: Tensor, f: Tensor, ka: Tensor) -> Tensor:
    """The backward time loop of :class:`_LSTMFused`; returns dc[-1].

    dhs : T x (N, H) in processing order, each holding ``dout[t]`` on entry and the total
    ``dh[t]`` on exit; k_c, f : (T, N, H); ka : (T, N, 4H), holding the local derivatives
    k_i, k_f, k_g, k_o on entry and da = (da_i, da_f, da_g, da_o) on exit (in place).
    Per step: ``dh = dout[t] + da[t+1] @ Wh.T`` (one matmul, in place),
    ``dc = dc * f[t+1] + dh * k_c``, ``da_{i,f,g} = dc * k_{i,f,g}``, ``da_o = dh * k_o``.
    """
    T = ka.size(0)
    N = dc.size(0)
    H = dc.size(1)
    ka4 = ka.view(T, N, 4, H)
    da_l, k3_l, ko_l = ka.unbind(0), ka4[:, :, :3].unbind(0), ka4[:, :, 3].unbind(0)
    kc_l, f_l = k_c.unbind(0), f.unbind(0)
    # In-place addmm_, never a plain addmm: TorchScript splits the latter into mm + add, which
    # rounds differently from the Python loop (and costs one more kernel).
    for s in range(T - 1, -1, -1):
        dh = dhs[s]
        if s == T - 1:
            dh.add_(dh_last)
        else:
            dh.addmm_(da_l[s + 1], w_hh)     # (N, 4H) @ (4H, H)
        dc = torch.addcmul(dc, dh, kc_l[s])
        torch.mul(dc.unsqueeze(1), k3_l[s], out=k3_l[s])
        torch.mul(dh, ko_l[s], out=ko_l[s])
        dc = dc * f_l[s]
    return dc


_FUSED_LOOPS: dict = {}


def _fused_loops():
    """The LSTM's fused time loops, torch.jit.script-ed once per process where torch has it.

    The scripted loops run the very same operations (bitwise-identical results, tested) with
    less per-operation interpreter overhead: 1-4% off a forward + backward at T=64, N=32, H=256
    on a 2-core CPU (benchmarks/bench_torch_rnn.py --backends fused,fused-python). Where
    torch.jit.script is missing or fails, the Python ones.
    """
    if not _FUSED_LOOPS:
        python_loops = (_lstm_fused_forward_loop, _lstm_fused_backward_loop)
        loops = python_loops
        script = getattr(getattr(torch, "jit", None), "script", None)
        if script is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")      # jit.script's deprecation notice
                    loops = tuple(script(fn) for fn in python_loops)
            except Exception:  # a torch whose TorchScript cannot compile them: stay in Python
                loops = python_loops
        _FUSED_LOOPS["lstm"] = loops
    return _FUSED_LOOPS["lstm"]


class _LSTMFused(torch.autograd.Function):
    """One LSTM layer and direction, input projection included, with a hand-written backward.

    Forward: ``A = x @ Wx + b`` for all T steps in one matmul, then the time loop
    :func:`_lstm_fused_forward_loop` adds ``h[t-1] @ Wh`` and applies the gates in place.
    Backward (the NumPy reference's local derivatives): every local derivative that does not
    depend on the recurrence, e.g. ``g * i (1 - i)`` for ``da_i = dc * g * i (1 - i)``, is
    computed for all T steps at once, which leaves :func:`_lstm_fused_backward_loop` with five
    small operations and one matmul per step; the weight gradients are then one matmul each
    over all steps: ``dWx = sum_t x[t].T @ da[t]``, ``dWh = sum_t h[t-1].T @ da[t]``,
    ``db = sum_t da[t]``, ``dx[t] = da[t] @ Wx.T``. Both loops are scripted where torch allows
    (:func:`_fused_loops`).
    """

    @staticmethod
    def forward(ctx, x: Tensor, h0: Tensor, c0: Tensor, w_ih: Tensor, w_hh: Tensor,
                b: Optional[Tensor], reverse: bool):
        T, N, D = x.shape
        H = w_hh.size(1)
        x2 = x.reshape(T * N, D)
        # The gate buffer, owned here: the loop overwrites it step by step with the gate
        # values i, f, g, o, which backward reuses.
        acts = (x2 @ w_ih.t() if b is None else torch.addmm(b, x2, w_ih.t())).view(T, N, 4 * H)
        # A contiguous (H, 4H) copy of Wh, made once: on an Intel CPU BLAS ran the per-step
        # product on it faster than on the transposed view (on an AMD EPYC: the same, in noise).
        w_t = w_hh.t().contiguous()
        out = x.new_empty((T, N, H))         # time order; the loop writes h[t] straight in
        cs = x.new_empty((T + 1, N, H))      # processing order: cs[s] = c before step s
        tcs = x.new_empty((T, N, H))         # tanh(c), processing order, reused by backward
        cs[0] = c0
        gates, hs = list(acts.unbind(0)), list(out.unbind(0))
        if reverse:                          # processing order
            gates, hs = gates[::-1], hs[::-1]
        forward_loop, _ = _fused_loops()
        forward_loop(gates, w_t, [h0] + hs, cs, tcs)
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        ctx.has_bias = b is not None
        ctx.cs, ctx.tcs, ctx.acts, ctx.reverse = cs, tcs, acts, reverse
        return out, hs[-1].clone(), cs[T].clone()

    @staticmethod
    @_first_order_only
    def backward(ctx, dout: Tensor, dh_last: Tensor, dc_last: Tensor):
        if ctx.acts is None:
            raise RuntimeError("backend='fused': the LSTM's backward reuses its forward buffers "
                               "and runs once per forward; for retain_graph=True use "
                               "backend='eager'")
        x, h0, w_ih, w_hh, out = ctx.saved_tensors
        cs, tcs, acts, reverse = ctx.cs, ctx.tcs, ctx.acts, ctx.reverse
        ctx.cs = ctx.tcs = ctx.acts = None
        T, N, H = dout.shape
        D = x.size(2)
        # Everything up to the loop in processing order. The forward's buffers are dead after
        # this backward, so they take the local derivatives and then da in place: fresh
        # memory of this size costs a page fault per 4 KiB, more than the arithmetic.
        h = out.flip(0) if reverse else out
        ka = acts.flip(0) if reverse else acts          # (T, N, 4H): i, f, g, o
        i, f, g, o = ka.chunk(4, 2)                     # (T, N, H) each
        # Local derivatives for all steps at once, in as few passes over (T, N, H) as the
        # formulas allow. With h = o tanh(c), sigmoid' = s (1 - s), tanh' = 1 - tanh^2:
        k_c = torch.addcmul(o, h, tcs, value=-1, out=tcs)  # dh -> dc: o (1 - tanh^2 c)
        torch.addcmul(h, h, o, value=-1, out=o)         # k_o, dh -> da_o: tanh(c) o (1 - o)
        ig = i * g
        torch.addcmul(i, ig, g, value=-1, out=g)        # k_g, dc -> da_g: i (1 - g^2)
        torch.addcmul(ig, ig, i, value=-1, out=i)       # k_i, dc -> da_i: g i (1 - i)
        f_keep = ig.copy_(f)                 # the loop needs f; its slot takes k_f
        torch.addcmul(f, f, f, value=-1, out=f).mul_(cs[:T])  # k_f, dc -> da_f: c[t-1] f (1 - f)
        # A private copy: the loop adds into it in place.
        dhs = dout.flip(0) if reverse else dout.clone(memory_format=torch.contiguous_format)
        _, backward_loop = _fused_loops()
        dc = backward_loop(list(dhs.unbind(0)), dh_last, dc_last, w_hh, k_c, f_keep, ka)
        da_all = ka                                     # (T, N, 4H), processing order
        need = ctx.needs_input_grad
        dh0 = torch.mm(da_all[0], w_hh) if need[1] else None  # (N, 4H) @ (4H, H)
        dw_hh = None
        if need[4]:
            # dWh = sum_s da[s].T @ h_prev[s], with h_prev = (h0, h[0], ..., h[T-2]) in
            # processing order: the first term on its own, the rest one matmul.
            dw_hh = torch.addmm(da_all[0].t() @ h0, da_all[1:].reshape(-1, 4 * H).t(),
                                h[:-1].reshape(-1, H))  # (4H, H)
        if reverse:
            da_all = da_all.flip(0)          # back to time order, to pair with x
        da2 = da_all.reshape(T * N, 4 * H)
        dx = (da2 @ w_ih).view(T, N, D) if need[0] else None          # (TN, 4H) @ (4H, D)
        dw_ih = da2.t() @ x.reshape(T * N, D) if need[3] else None   # (4H, D)
        db = da2.sum(0) if ctx.has_bias and need[5] else None
        return dx, dh0, dc if need[2] else None, dw_ih, dw_hh, db, None


class _GRUFused(torch.autograd.Function):
    """``gru_loop`` with a hand-written backward; local derivatives precomputed for all steps,
    as in :class:`_LSTMFused`."""

    @staticmethod
    def forward(ctx, xw: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Optional[Tensor],
                reverse: bool):
        T, N, G = xw.shape
        H = G // 3
        w_t = w_hh.t()
        hs = xw.new_empty((T + 1, N, H))
        rzn = xw.new_empty((T, N, G))        # r, z, n after their nonlinearities
        ahs = xw.new_empty((T, N, G))        # h @ Wh + b_hh; its n part is multiplied by r
        hs[0] = h0
        for s in range(T):
            t = T - 1 - s if reverse else s
            ah = ahs[s]
            if b_hh is None:
                torch.mm(hs[s], w_t, out=ah)
            else:
                torch.addmm(b_hh, hs[s], w_t, out=ah)
            ax = xw[t]
            v = rzn[s]
            torch.add(ax[:, :2 * H], ah[:, :2 * H], out=v[:, :2 * H])
            torch.sigmoid(v[:, :2 * H], out=v[:, :2 * H])
            r, z, n = v.chunk(3, 1)
            # tanh on a contiguous temporary, then copied into the strided n block (see LSTM).
            n.copy_(torch.tanh(torch.addcmul(ax[:, 2 * H:], r, ah[:, 2 * H:])))
            torch.lerp(n, hs[s], z, out=hs[s + 1])       # (1 - z) * n + z * h
        ctx.save_for_backward(w_hh)
        ctx.has_bias = b_hh is not None
        ctx.hs, ctx.rzn, ctx.ahs, ctx.reverse = hs, rzn, ahs, reverse
        out = hs[1:].flip(0) if reverse else hs[1:].clone()
        return out, hs[T].clone()

    @staticmethod
    @_first_order_only
    def backward(ctx, dout: Tensor, dh_last: Tensor):
        (w_hh,) = ctx.saved_tensors
        hs, rzn, ahs, reverse = ctx.hs, ctx.rzn, ctx.ahs, ctx.reverse
        T, N, H = dout.shape
        G = 3 * H
        r, z, n = rzn.chunk(3, 2)                        # (T, N, H) each
        k_n = (1 - z) * (1 - n * n)                      # dh -> da_n, through n = tanh(.)
        k_r = ahs[..., 2 * H:] * r * (1 - r)             # da_n -> da_r, through r * ah_n
        k_z = (hs[:T] - n) * z * (1 - z)                 # dh -> da_z
        dah_all = dout.new_empty((T, N, G))              # d(h @ Wh + b_hh), processing order
        dah3 = dah_all.view(T, N, 3, H)
        dan_all = dout.new_empty((T, N, H))              # d(pre-activation of n)
        dh = dh_last
        for s in range(T - 1, -1, -1):
            t = T - 1 - s if reverse else s
            dh = dh + dout[t]
            dan = torch.mul(dh, k_n[s], out=dan_all[s])
            torch.mul(dan, k_r[s], out=dah3[s, :, 0])    # da_r (same for x and h parts)
            torch.mul(dh, k_z[s], out=dah3[s, :, 1])     # da_z
            torch.mul(dan, r[s], out=dah3[s, :, 2])      # d ah_n = da_n * r
            dh = torch.addmm(dh * z[s], dah_all[s], w_hh)  # (N, H)
        dw_hh = db_hh = None
        if ctx.needs_input_grad[2]:
            dw_hh = dah_all.reshape(T * N, G).t() @ hs[:T].reshape(T * N, H)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            db_hh = dah_all.sum((0, 1))
        dax_all = torch.cat((dah_all[..., :2 * H], dan_all), 2)  # d(x @ Wx + b_ih)
        dxw = dax_all.flip(0) if reverse else dax_all
        ctx.hs = ctx.rzn = ctx.ahs = None
        return dxw, dh, dw_hh, db_hh, None


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------

class RNNBase(nn.Module):
    """Parameters, checks and the layer/direction loop shared by RNN, LSTM and GRU."""

    _gates = 1
    _kind = "rnn"

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"dropout: expected a number in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            # Same warning as torch.nn: the dropout sits between layers only.
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"backend: expected None or one of {BACKENDS}, got {backend!r}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        self.backend = backend
        factory = {"device": device, "dtype": dtype}
        num_directions = 2 if self.bidirectional else 1
        G = self._gates
        self._flat_weights_names: List[str] = []
        # Registration order = torch.nn's (layer, direction, ih, hh, b_ih, b_hh), so
        # reset_parameters draws the same numbers as torch.nn under the same seed.
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (G * hidden_size, layer_input)),
                          ("weight_hh", (G * hidden_size, hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (G * hidden_size,)), ("bias_hh", (G * hidden_size,))]
                for base, shape in shapes:
                    setattr(self, base + sfx, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(base + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), as torch.nn does."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """No-op kept for drop-in compatibility (torch.nn packs weights for cuDNN here)."""

    @property
    def all_weights(self) -> List[List[nn.Parameter]]:
        """Parameters grouped per layer and direction, as torch.nn's ``all_weights``."""
        per = 4 if self.bias else 2
        flat = [getattr(self, name) for name in self._flat_weights_names]
        return [flat[k:k + per] for k in range(0, len(flat), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        return s

    # -- input handling ---------------------------------------------------------------------

    def _layer_params(self, layer: int, direction: int):
        sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        w_ih = getattr(self, "weight_ih" + sfx)
        w_hh = getattr(self, "weight_hh" + sfx)
        b_ih = getattr(self, "bias_ih" + sfx) if self.bias else None
        b_hh = getattr(self, "bias_hh" + sfx) if self.bias else None
        return w_ih, w_hh, b_ih, b_hh

    def _check_input(self, input) -> bool:
        if isinstance(input, nn.utils.rnn.PackedSequence):
            raise NotImplementedError(
                f"{type(self).__name__}: PackedSequence input is not supported; pass the padded "
                "tensor from torch.nn.utils.rnn.pad_packed_sequence and pick each sequence's "
                "last valid step yourself")
        if not isinstance(input, Tensor):
            raise ValueError(f"input: expected a Tensor, got {type(input).__name__}")
        layout = "(N, T, D)" if self.batch_first else "(T, N, D)"
        if input.dim() not in (2, 3):
            raise ValueError(f"input: expected shape {layout} or unbatched (T, D) with D = "
                             f"{self.input_size}, got {tuple(input.shape)}")
        if input.size(-1) != self.input_size:
            raise ValueError(f"input: expected last dimension D = {self.input_size}, got "
                             f"shape {tuple(input.shape)}")
        T = input.size(1) if (input.dim() == 3 and self.batch_first) else input.size(0)
        if T == 0:
            raise ValueError(f"input: expected at least one time step, got shape "
                             f"{tuple(input.shape)}")
        return input.dim() == 3

    def _check_state(self, name: str, state, batched: bool, N: int) -> None:
        num_directions = 2 if self.bidirectional else 1
        expected = ((self.num_layers * num_directions, N, self.hidden_size) if batched
                    else (self.num_layers * num_directions, self.hidden_size))
        if not isinstance(state, Tensor) or tuple(state.shape) != expected:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"{name}: expected shape (num_layers * num_directions, "
                             f"{'N, ' if batched else ''}H) = {expected}, got {got}")

    def _states(self, hx, x: Tensor, batched: bool) -> List[Optional[Tensor]]:
        """Initial states as a list [h0] or [h0, c0], each (L * dirs, N, H)."""
        num_directions = 2 if self.bidirectional else 1
        N = x.size(1)
        n_states = 2 if self._kind == "lstm" else 1
        if hx is None:
            zeros = x.new_zeros((self.num_layers * num_directions, N, self.hidden_size))
            return [zeros] * n_states
        if n_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("hx: expected a tuple (h_0, c_0) for an LSTM, got "
                                 f"{type(hx).__name__}")
            names, states = ("hx[0]", "hx[1]"), list(hx)
        else:
            names, states = ("hx",), [hx]
        for name, state in zip(names, states):
            self._check_state(name, state, batched, N)
        return states if batched else [s.unsqueeze(1) for s in states]

    # -- the computation ----------------------------------------------------------------------

    def _run_direction(self, backend: str, x: Tensor, params, states: List[Tensor],
                       reverse: bool) -> Tuple[Tensor, List[Tensor]]:
        """One layer, one direction: x (T, N, D_in) -> out (T, N, H), final states."""
        w_ih, w_hh, b_ih, b_hh = params
        T, N, D_in = x.shape
        # Step 1: the input projection of all T steps in one matmul. RNN and LSTM add both
        # biases here; the GRU's b_hh must stay inside the loop (r multiplies b_hn).
        if b_ih is None:
            b = None
        elif self._kind == "gru":
            b = b_ih
        else:
            b = b_ih + b_hh
        if backend == "fused" and self._kind == "lstm":
            # Both steps in one autograd.Function, which owns the (T, N, 4H) buffer.
            out, h, c = _LSTMFused.apply(x, states[0], states[1], w_ih, w_hh, b, reverse)
            return out, [h, c]
        x2 = x.reshape(T * N, D_in)
        xw = (x2 @ w_ih.t() if b is None else torch.addmm(b, x2, w_ih.t())).view(T, N, -1)
        # Step 2: the recurrence.
        if backend == "fused":
            if self._kind == "gru":
                out, h = _GRUFused.apply(xw, states[0], w_hh, b_hh, reverse)
                return out, [h]
            out, h = _RNNFused.apply(xw, states[0], w_hh, self.nonlinearity == "relu", reverse)
            return out, [h]
        loop = _scripted(self._kind) if backend == "script" else _EAGER[self._kind]
        if self._kind == "lstm":
            out, h, c = loop(xw, states[0], states[1], w_hh, reverse)
            return out, [h, c]
        if self._kind == "gru":
            out, h = loop(xw, states[0], w_hh, b_hh, reverse)
            return out, [h]
        out, h = loop(xw, states[0], w_hh, self.nonlinearity == "relu", reverse)
        return out, [h]

    def forward(self, input: Tensor, hx=None):
        batched = self._check_input(input)
        if not batched:
            x = input.unsqueeze(1)           # (T, 1, D): unbatched ignores batch_first
        elif self.batch_first:
            x = input.transpose(0, 1)        # (N, T, D) -> (T, N, D)
        else:
            x = input
        backend = self.backend if self.backend is not None else _default_backend
        states0 = self._states(hx, x, batched)  # each (L * dirs, N, H)
        num_directions = 2 if self.bidirectional else 1
        finals: List[List[Tensor]] = [[] for _ in states0]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                out, last = self._run_direction(
                    backend, x, self._layer_params(layer, direction),
                    [s[k] for s in states0], reverse=direction == 1)
                outs.append(out)
                for j, state in enumerate(last):
                    finals[j].append(state)
            x = outs[0] if num_directions == 1 else torch.cat(outs, 2)  # (T, N, dirs * H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        output = x
        h_n = [torch.stack(states, 0) for states in finals]  # each (L * dirs, N, H)
        if not batched:
            output = output.squeeze(1)
            h_n = [s.squeeze(1) for s in h_n]
        elif self.batch_first:
            output = output.transpose(0, 1)
        if self._kind == "lstm":
            return output, (h_n[0], h_n[1])
        return output, h_n[0]


class RNN(RNNBase):
    """Multi-layer Elman RNN, a drop-in for :class:`torch.nn.RNN`.

    Each layer computes ``h[t] = tanh(x[t] @ Wx + h[t-1] @ Wh + b)`` (or relu), with
    ``Wx = weight_ih_l{k}.T`` (D_k, H), ``Wh = weight_hh_l{k}.T`` (H, H),
    ``b = bias_ih_l{k} + bias_hh_l{k}`` (H,); layer k > 0 reads the outputs of layer k-1
    (D_k = H, or 2H when bidirectional), through dropout in training mode.

    Parameters
    ----------
    input_size : int                D
    hidden_size : int               H
    num_layers : int                L, stacked layers
    nonlinearity : {"tanh", "relu"}
    bias : bool                     whether the bias_* parameters exist
    batch_first : bool              input/output (N, T, .) instead of (T, N, .)
    dropout : float                 dropout on the outputs of every layer but the last
    bidirectional : bool            add a layer reading the sequence backwards (``_reverse``)
    device, dtype                   where and in which dtype to create the parameters
    backend : {None, "eager", "script", "fused"}
                                    time-loop implementation; None follows :func:`set_backend`

    Notes
    -----
    forward(input, hx=None) -> (output, h_n)
        input (T, N, D) [or (N, T, D) when batch_first, or unbatched (T, D)];
        hx (L * dirs, N, H) [or (L * dirs, H)], None = zeros;
        output (T, N, dirs * H); h_n (L * dirs, N, H), dirs = 2 if bidirectional else 1.
    """

    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype, backend=backend)


class LSTM(RNNBase):
    """Multi-layer LSTM, a drop-in for :class:`torch.nn.LSTM` (without ``proj_size``).

    Each layer computes, gates stacked i, f, g, o:
    ``a[t] = x[t] @ Wx + h[t-1] @ Wh + b`` (N, 4H); ``i, f, o = sigmoid(a_i, a_f, a_o)``;
    ``g = tanh(a_g)``; ``c[t] = f * c[t-1] + i * g``; ``h[t] = o * tanh(c[t])``,
    with ``Wx = weight_ih_l{k}.T`` (D_k, 4H), ``Wh = weight_hh_l{k}.T`` (H, 4H),
    ``b = bias_ih_l{k} + bias_hh_l{k}`` (4H,).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype, backend
        As for :class:`RNN`.

    Notes
    -----
    ``forward(input, hx=None) -> (output, (h_n, c_n))``: input (T, N, D) [or (N, T, D) when
    batch_first, or unbatched (T, D)]; hx = (h_0, c_0), each (L * dirs, N, H) [or
    (L * dirs, H)], None = zeros; output (T, N, dirs * H); h_n, c_n (L * dirs, N, H).
    """

    _gates = 4
    _kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        if proj_size != 0:
            raise ValueError(f"proj_size: only 0 (no projection) is supported, got {proj_size!r}")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype, backend=backend)


class GRU(RNNBase):
    """Multi-layer GRU with torch.nn.GRU's exact equations, a drop-in for :class:`torch.nn.GRU`.

    Each layer computes, gates stacked r, z, n:
    ``ax = x[t] @ Wx + b_ih``, ``ah = h[t-1] @ Wh + b_hh`` (N, 3H);
    ``r = sigmoid(ax_r + ah_r)``, ``z = sigmoid(ax_z + ah_z)``, ``n = tanh(ax_n + r * ah_n)``
    (b_hn inside r * (.)); ``h[t] = (1 - z) * n + z * h[t-1]``,
    with ``Wx = weight_ih_l{k}.T`` (D_k, 3H), ``Wh = weight_hh_l{k}.T`` (H, 3H).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype, backend
        As for :class:`RNN`.

    Notes
    -----
    ``forward(input, hx=None) -> (output, h_n)``, shapes as for :class:`RNN`.
    """

    _gates = 3
    _kind = "gru"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype, backend=backend)
