"""The ``"fused"`` back end: one hand-written :class:`torch.autograd.Function` per layer and direction.

The forward loop runs without building a graph; the backward loop is BPTT written out, with the
same local derivatives as the NumPy reference (book eq. :eq:`ch3-dh`, :eq:`ch3-da`,
:eq:`ch3-dW` for the RNN, :eq:`ch5-cell-grad` for the LSTM's cell), and the recurrent weight
gradient is one matmul over all steps, ``dWh = sum_t h[t-1].T @ da[t]``. Equal to eager up to
float rounding. No double backward; the LSTM's backward runs once per forward (it reuses the
forward's buffers in place), so ``retain_graph=True`` needs ``"eager"``.

The LSTM's two time loops are separate functions (:func:`lstm_forward_loop`,
:func:`lstm_backward_loop`), ``torch.jit.script``-ed where torch allows
(:func:`fused_lstm_loops`); measurements are in benchmarks/README.md.
"""

import functools
import warnings
from typing import List, Optional

import torch
from torch import Tensor

__all__ = ["RNNFused", "LSTMFused", "GRUFused", "lstm_forward_loop", "lstm_backward_loop",
           "fused_lstm_loops", "FUSED_LOOPS"]


def first_order_only(backward):
    """Refuse ``create_graph=True``: the hand-written backward is not itself differentiable,
    and silently returning constants would give wrong second derivatives."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        if torch.is_grad_enabled():
            raise RuntimeError("backend='fused' computes first derivatives only; for "
                               "create_graph=True (double backward) use backend='eager'")
        return backward(ctx, *grads)

    return wrapper


class RNNFused(torch.autograd.Function):
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
    @first_order_only
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


def lstm_forward_loop(gates: List[Tensor], w_t: Tensor, hs: List[Tensor], cs: Tensor,
                      tcs: Tensor) -> None:
    """The forward time loop of :class:`LSTMFused`, in place in preallocated buffers.

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


def lstm_backward_loop(dhs: List[Tensor], dh_last: Tensor, dc: Tensor, w_hh: Tensor,
                       k_c: Tensor, f: Tensor, ka: Tensor) -> Tensor:
    """The backward time loop of :class:`LSTMFused`; returns dc[-1].

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


#: The LSTM's (forward, backward) loops in use, filled on first use; tests swap them here.
FUSED_LOOPS: dict = {}


def fused_lstm_loops():
    """The LSTM's fused time loops, torch.jit.script-ed once per process where torch has it.

    The scripted loops run the very same operations (bitwise-identical results, tested) with
    less per-operation interpreter overhead (measured in benchmarks/README.md). Where
    torch.jit.script is missing or fails, the Python ones.
    """
    if not FUSED_LOOPS:
        python_loops = (lstm_forward_loop, lstm_backward_loop)
        loops = python_loops
        script = getattr(getattr(torch, "jit", None), "script", None)
        if script is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")      # jit.script's deprecation notice
                    loops = tuple(script(fn) for fn in python_loops)
            except Exception:  # a torch whose TorchScript cannot compile them: stay in Python
                loops = python_loops
        FUSED_LOOPS["lstm"] = loops
    return FUSED_LOOPS["lstm"]


class LSTMFused(torch.autograd.Function):
    """One LSTM layer and direction, input projection included, with a hand-written backward.

    Forward: ``A = x @ Wx + b`` for all T steps in one matmul, then the time loop
    :func:`lstm_forward_loop` adds ``h[t-1] @ Wh`` and applies the gates in place.
    Backward (the NumPy reference's local derivatives): every local derivative that does not
    depend on the recurrence, e.g. ``g * i (1 - i)`` for ``da_i = dc * g * i (1 - i)``, is
    computed for all T steps at once, which leaves :func:`lstm_backward_loop` with five
    small operations and one matmul per step; the weight gradients are then one matmul each
    over all steps: ``dWx = sum_t x[t].T @ da[t]``, ``dWh = sum_t h[t-1].T @ da[t]``,
    ``db = sum_t da[t]``, ``dx[t] = da[t] @ Wx.T``. Both loops are scripted where torch allows
    (:func:`fused_lstm_loops`).
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
        # A contiguous (H, 4H) copy of Wh, made once: BLAS ran the per-step product on it at
        # least as fast as on the transposed view (benchmarks/README.md).
        w_t = w_hh.t().contiguous()
        out = x.new_empty((T, N, H))         # time order; the loop writes h[t] straight in
        cs = x.new_empty((T + 1, N, H))      # processing order: cs[s] = c before step s
        tcs = x.new_empty((T, N, H))         # tanh(c), processing order, reused by backward
        cs[0] = c0
        gates, hs = list(acts.unbind(0)), list(out.unbind(0))
        if reverse:                          # processing order
            gates, hs = gates[::-1], hs[::-1]
        forward_loop, _ = fused_lstm_loops()
        forward_loop(gates, w_t, [h0] + hs, cs, tcs)
        ctx.save_for_backward(x, h0, w_ih, w_hh, out)
        ctx.has_bias = b is not None
        ctx.cs, ctx.tcs, ctx.acts, ctx.reverse = cs, tcs, acts, reverse
        return out, hs[-1].clone(), cs[T].clone()

    @staticmethod
    @first_order_only
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
        slab = acts.flip(0) if reverse else acts        # (T, N, 4H): gates i, f, g, o on entry
        i, f, g, o = slab.chunk(4, 2)                   # (T, N, H) views of its four blocks
        # Local derivatives for all steps at once, in as few passes over (T, N, H) as the
        # formulas allow, each written over the gate it no longer needs; the gate's name is
        # dropped (del) at the overwrite, so every name below holds what it says.
        # With h = o tanh(c), sigmoid' = s (1 - s), tanh' = 1 - tanh^2:
        k_c = torch.addcmul(o, h, tcs, value=-1, out=tcs)  # dh -> dc: o (1 - tanh^2 c)
        k_o = torch.addcmul(h, h, o, value=-1, out=o)   # dh -> da_o: tanh(c) o (1 - o)
        del o
        ig = i * g
        k_g = torch.addcmul(i, ig, g, value=-1, out=g)  # dc -> da_g: i (1 - g^2)
        del g
        k_i = torch.addcmul(ig, ig, i, value=-1, out=i)  # dc -> da_i: g i (1 - i)
        del i
        f_keep = ig.copy_(f)                 # the loop needs f itself; ig's buffer is free
        k_f = torch.addcmul(f, f, f, value=-1, out=f).mul_(cs[:T])  # dc -> da_f: c[t-1] f (1 - f)
        del f                                # slab now holds k_i, k_f, k_g, k_o: no gate is left
        # A private copy: the loop adds into it in place.
        dhs = dout.flip(0) if reverse else dout.clone(memory_format=torch.contiguous_format)
        _, backward_loop = fused_lstm_loops()
        # The loop turns slab's local derivatives into da = (da_i, da_f, da_g, da_o) in place.
        dc = backward_loop(list(dhs.unbind(0)), dh_last, dc_last, w_hh, k_c, f_keep, slab)
        da_all = slab                                   # (T, N, 4H), processing order
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


class GRUFused(torch.autograd.Function):
    """``gru_loop`` with a hand-written backward; local derivatives precomputed for all steps,
    as in :class:`LSTMFused`."""

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
    @first_order_only
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

