"""Variable-length batches: validity masks, a masked loss and :class:`MaskedRNN`.

A padded batch of N sequences of lengths ``lengths[n] <= T`` is one (T, N, .) tensor; the mask
``m[t, n] = t < lengths[n]`` says which steps are real. Book: :ref:`ch4-seq2vec` and
:ref:`ch4-tagging`.
"""

from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..validate import check_bool, check_int
from .recurrent import Hidden, check_probability, module_classes, normalise_rnn_type

__all__ = ["lengths_to_mask", "masked_cross_entropy", "check_lengths", "MaskedRNN"]


def lengths_to_mask(lengths: Tensor, T: int) -> Tensor:
    """Boolean validity mask from sequence lengths: ``mask[t, n] = t < lengths[n]``.

    Parameters
    ----------
    lengths : LongTensor, shape (N,)
        Number of real (non-padded) steps of each sequence, ``1 <= lengths[n] <= T``.
    T : int
        Padded length.

    Returns
    -------
    mask : BoolTensor, shape (T, N)
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths: expected shape (N,), got {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > T):
        raise ValueError(f"lengths: expected values in 1..T = 1..{T}, got min {int(lengths.min())}, "
                         f"max {int(lengths.max())}")
    steps = torch.arange(T, device=lengths.device).unsqueeze(1)  # (T, 1)
    return steps < lengths.unsqueeze(0)  # (T, N)


def masked_cross_entropy(logits: Tensor, targets: Tensor, mask: Optional[Tensor] = None,
                         ignore_index: Optional[int] = None) -> Tensor:
    """Mean cross-entropy over the valid steps only (natural log, per token).

    ``loss = - sum_{t,n: mask[t,n]} log softmax(logits[t, n])[targets[t, n]] / sum mask``

    Parameters
    ----------
    logits : Tensor, shape (T, N, V)
    targets : LongTensor, shape (T, N)
    mask : BoolTensor, shape (T, N), optional
        True where a step counts. Combined (and) with ``targets != ignore_index``.
    ignore_index : int, optional
        A padding id whose targets never count.

    Returns
    -------
    loss : scalar Tensor
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(f"targets: expected shape (T, N) = {tuple(logits.shape[:2])} matching "
                         f"logits (T, N, V), got {tuple(targets.shape)}")
    keep = torch.ones_like(targets, dtype=torch.bool)
    if mask is not None:
        if mask.shape != targets.shape:
            raise ValueError(f"mask: expected shape {tuple(targets.shape)}, got {tuple(mask.shape)}")
        keep = keep & mask.bool()
    if ignore_index is not None:
        keep = keep & (targets != ignore_index)
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                          reduction="none").view_as(targets)  # (T, N)
    return (nll * keep).sum() / keep.sum().clamp(min=1)


def check_lengths(lengths, T: int, N: int, device) -> Optional[Tensor]:
    """``lengths`` as a tensor of shape (N,) on ``device`` (None passes through), else ValueError."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.shape != (N,):
        raise ValueError(f"lengths: expected shape (N,) = ({N},), got {tuple(lengths.shape)}")
    return lengths


class MaskedRNN(nn.Module):
    """A stacked, optionally bidirectional RNN/LSTM/GRU that ignores padded steps.

    Built from cells and unrolled step by step so that on a padded step (``t >= lengths[n]``)
    the state of sequence ``n`` is simply carried over::

        h[t] = m[t] * cell(x[t], h[t-1]) + (1 - m[t]) * h[t-1],     m[t, n] = t < lengths[n]

    The forward direction therefore stops at the last real step; the backward direction
    (``t = T-1 .. 0``) starts from ``h0`` at each sequence's last real step, exactly as if
    every sequence had been run alone. Outputs on padded steps are zero. Layer ``l > 1`` reads
    the concatenated outputs of both directions of layer ``l - 1``, as torch.nn does.

    Parameters
    ----------
    rnn_type : {'RNN_TANH', 'RNN_RELU', 'RNN', 'LSTM', 'GRU'}
    input_size : int
        D, features per step.
    hidden_size : int
        H, hidden units per layer.
    num_layers : int
        L, number of stacked layers.
    bidirectional : bool
        Adds a backward direction; outputs are then (T, N, 2H).
    dropout : float
        Dropout on the outputs of every layer but the last (torch.nn's convention).
    rnn_impl : {'course_lib', 'torch'}
        Whose cells to use.

    Notes
    -----
    Shapes::

        forward(x, hx=None, lengths=None) -> (output, h_n)

        - x : (T, N, D)
        - hx : (L * dirs, N, H), or (h0, c0) for an LSTM; zeros when None
        - lengths : (N,) ints in 1..T, or None (every sequence has length T)
        - output : (T, N, dirs * H)
        - h_n : (L * dirs, N, H), or (h_n, c_n); index l * dirs + d like torch.nn
    """

    def __init__(self, rnn_type: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, rnn_impl: str = "course_lib"):
        super().__init__()
        self.mode, nonlinearity = normalise_rnn_type(rnn_type)
        self.input_size = check_int(input_size, "input_size")
        self.hidden_size = check_int(hidden_size, "hidden_size")
        self.num_layers = check_int(num_layers, "num_layers")
        self.bidirectional = check_bool(bidirectional, "bidirectional")
        self.dropout = check_probability(dropout, "dropout")
        self.num_directions = 2 if self.bidirectional else 1
        _, (RNNCell, LSTMCell, GRUCell) = module_classes(rnn_impl)
        cells = []
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else self.hidden_size * self.num_directions
            for _ in range(self.num_directions):
                if self.mode == "RNN":
                    cells.append(RNNCell(d_in, self.hidden_size, nonlinearity=nonlinearity))
                elif self.mode == "LSTM":
                    cells.append(LSTMCell(d_in, self.hidden_size))
                else:
                    cells.append(GRUCell(d_in, self.hidden_size))
        # cells[l * dirs + d]: the same index as torch.nn's h_n rows.
        self.cells = nn.ModuleList(cells)

    def init_hidden(self, batch_size: int, device=None, dtype=None) -> Hidden:
        """Zero state: (L * dirs, N, H), or a (h, c) pair of them for an LSTM."""
        p = next(self.parameters())
        z = torch.zeros(self.num_layers * self.num_directions, batch_size, self.hidden_size,
                        device=device or p.device, dtype=dtype or p.dtype)
        return (z, z.clone()) if self.mode == "LSTM" else z

    def forward(self, x: Tensor, hx: Optional[Hidden] = None, lengths=None):
        """Run the stack: x (T, N, D), hx (L * dirs, N, H) or (h0, c0), lengths (N,) -> (output, h_n)."""
        if x.dim() != 3 or x.size(-1) != self.input_size:
            raise ValueError(f"x: expected shape (T, N, D) with D = {self.input_size}, got {tuple(x.shape)}")
        T, N, _ = x.shape
        lengths = check_lengths(lengths, T, N, x.device)
        mask = None if lengths is None else lengths_to_mask(lengths, T).unsqueeze(-1).to(x.dtype)  # (T, N, 1)
        if hx is None:
            hx = self.init_hidden(N, device=x.device, dtype=x.dtype)
        is_lstm = self.mode == "LSTM"
        h0, c0 = hx if is_lstm else (hx, None)
        expected = (self.num_layers * self.num_directions, N, self.hidden_size)
        if tuple(h0.shape) != expected:
            raise ValueError(f"hx: expected shape (L * dirs, N, H) = {expected}, got {tuple(h0.shape)}")

        h_n: List[Tensor] = []
        c_n: List[Tensor] = []
        layer_in = x  # (T, N, D)
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                cell = self.cells[k]
                h = h0[k]  # (N, H)
                c = c0[k] if is_lstm else None
                out_steps: List[Optional[Tensor]] = [None] * T
                steps = range(T - 1, -1, -1) if d == 1 else range(T)
                for t in steps:
                    if is_lstm:
                        h_new, c_new = cell(layer_in[t], (h, c))
                    else:
                        h_new = cell(layer_in[t], h)
                    if mask is not None:
                        m = mask[t]  # (N, 1)
                        # Padded steps keep the previous state: the sequence "has ended".
                        h_new = m * h_new + (1 - m) * h
                        if is_lstm:
                            c_new = m * c_new + (1 - m) * c
                        out_steps[t] = m * h_new
                    else:
                        out_steps[t] = h_new
                    h = h_new
                    c = c_new if is_lstm else None
                outs.append(torch.stack(out_steps))  # (T, N, H)
                h_n.append(h)
                if is_lstm:
                    c_n.append(c)
            layer_out = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]  # (T, N, dirs*H)
            if self.dropout > 0 and layer < self.num_layers - 1:
                layer_out = F.dropout(layer_out, self.dropout, self.training)
            layer_in = layer_out
        h_n_t = torch.stack(h_n)  # (L*dirs, N, H)
        if is_lstm:
            return layer_in, (h_n_t, torch.stack(c_n))
        return layer_in, h_n_t
