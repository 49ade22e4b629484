"""A model for every RNN design pattern of Chapter 4, built on the course's own modules.

Every model is time-major like the rest of the course: a batch of token sequences is a
``(T, N)`` LongTensor (T steps, N sequences), embeddings are ``(T, N, E)``, hidden states
``(T, N, H)``, logits ``(T, N, V)``. Hidden states handed between calls follow torch.nn's
layout ``(L * dirs, N, H)`` (a ``(h, c)`` pair of those for an LSTM).

========================  ==================  ============================================
model                     pattern             forward
========================  ==================  ============================================
:class:`RNNLM`            seq -> seq (LM)     tokens (T, N), hidden -> logits (T, N, V), hidden
:class:`SeqClassifier`    seq -> vec          x (T, N), lengths (N,) -> logits (N, C)
:class:`VecToSeq`         vec -> seq          vec (N, F), tokens_in (T, N) -> logits (T, N, V)
:class:`SeqTagger`        seq -> seq (sync)   tokens (T, N), lengths (N,) -> logits (T, N, K)
:class:`EncoderDecoder`   seq -> seq          src (S, N), tgt_in (T, N) -> logits (T, N, V)
========================  ==================  ============================================

The recurrence is the book's, layer by layer (``l = 1..L``)::

    h[t]^(l) = f(h[t]^(l-1), h[t-1]^(l)),   h[t]^(0) = x[t]

with ``f`` an RNN, LSTM or GRU cell. The language model runs the stacked sequence modules
(:class:`~course_lib.torch_rnn.modules.LSTM` etc.); the pattern models run
:class:`MaskedRNN`, a stack of cells whose state is frozen on padded steps so that
variable-length batches give the same answer as each sequence alone.

``rnn_impl="torch"`` swaps torch.nn's fused modules in (benchmarks compare the two);
the default ``"course_lib"`` uses the course's own equations.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "RNN_TYPES",
    "detach_hidden",
    "repackage_hidden",
    "lengths_to_mask",
    "masked_cross_entropy",
    "MaskedRNN",
    "RNNLM",
    "SeqClassifier",
    "VecToSeq",
    "SeqTagger",
    "EncoderDecoder",
]

#: Recurrent layer kinds, spelled as word_language_model's ``--model``.
RNN_TYPES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")

Hidden = Union[Tensor, Tuple[Tensor, Tensor]]


# --------------------------------------------------------------------------- helpers


def _check_choice(value, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    return value


def _check_pos_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


def _check_prob(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a float in [0, 1], got {value!r}")
    return float(value)


def _normalise_rnn_type(rnn_type: str) -> Tuple[str, str]:
    """Map ``RNN_TANH | RNN_RELU | RNN | LSTM | GRU`` to (mode, nonlinearity)."""
    if rnn_type == "RNN":
        rnn_type = "RNN_TANH"
    _check_choice(rnn_type, "rnn_type", RNN_TYPES + ("RNN",))
    if rnn_type.startswith("RNN_"):
        return "RNN", rnn_type[4:].lower()
    return rnn_type, "tanh"


def _module_classes(impl: str):
    """The (RNN, LSTM, GRU) sequence classes and (RNNCell, LSTMCell, GRUCell) of ``impl``."""
    _check_choice(impl, "rnn_impl", ("course_lib", "torch"))
    if impl == "torch":
        return (nn.RNN, nn.LSTM, nn.GRU), (nn.RNNCell, nn.LSTMCell, nn.GRUCell)
    # Imported here so this file can be read (and the torch.nn path used) on its own.
    from .cells import GRUCell, LSTMCell, RNNCell
    from .modules import GRU, LSTM, RNN

    return (RNN, LSTM, GRU), (RNNCell, LSTMCell, GRUCell)


def _make_sequence_rnn(rnn_type: str, input_size: int, hidden_size: int, num_layers: int,
                       dropout: float, bidirectional: bool, impl: str) -> nn.Module:
    mode, nonlinearity = _normalise_rnn_type(rnn_type)
    (RNN, LSTM, GRU), _ = _module_classes(impl)
    kwargs = dict(num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0,
                  bidirectional=bidirectional)
    if mode == "RNN":
        return RNN(input_size, hidden_size, nonlinearity=nonlinearity, **kwargs)
    return (LSTM if mode == "LSTM" else GRU)(input_size, hidden_size, **kwargs)


def detach_hidden(h):
    """Cut the autograd graph behind a hidden state (word_language_model's repackage_hidden).

    Truncated BPTT carries the state's *value* from one window to the next but must not
    backpropagate into the previous window: ``h.detach()`` keeps the numbers, drops the
    history.

    Parameters
    ----------
    h : Tensor, or a (nested) tuple/list of Tensors, e.g. an LSTM's ``(h, c)``
        Each tensor of shape (L * dirs, N, H).

    Returns
    -------
    The same structure with every tensor detached (``requires_grad`` False, no ``grad_fn``).
    """
    if isinstance(h, Tensor):
        return h.detach()
    if isinstance(h, (tuple, list)):
        return type(h)(detach_hidden(v) for v in h)
    if h is None:
        return None
    raise ValueError(f"h: expected a Tensor or a tuple of Tensors, got {type(h).__name__}")


repackage_hidden = detach_hidden


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


def _check_tokens(x: Tensor, name: str, vocab_size: Optional[int] = None) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.dtype not in (torch.int64, torch.int32):
        desc = f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected an integer tensor of token ids of shape (T, N), got {desc}")
    return x.long()


def _check_lengths(lengths, T: int, N: int, device) -> Optional[Tensor]:
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.shape != (N,):
        raise ValueError(f"lengths: expected shape (N,) = ({N},), got {tuple(lengths.shape)}")
    return lengths


# --------------------------------------------------------------------------- MaskedRNN


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
        self.mode, nonlinearity = _normalise_rnn_type(rnn_type)
        self.input_size = _check_pos_int(input_size, "input_size")
        self.hidden_size = _check_pos_int(hidden_size, "hidden_size")
        self.num_layers = _check_pos_int(num_layers, "num_layers")
        self.bidirectional = bool(bidirectional)
        self.dropout = _check_prob(dropout, "dropout")
        self.num_directions = 2 if self.bidirectional else 1
        _, (RNNCell, LSTMCell, GRUCell) = _module_classes(rnn_impl)
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
        lengths = _check_lengths(lengths, T, N, x.device)
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


# --------------------------------------------------------------------------- RNNLM


class RNNLM(nn.Module):
    """Recurrent language model: embedding -> stacked RNN/LSTM/GRU -> dropout -> linear.

    The model of pytorch/examples' word_language_model, in the book's notation::

        e[t] = dropout(E[x[t]])                          E (V, E_dim)
        h[t]^(l) = f(h[t]^(l-1), h[t-1]^(l)),  h[t]^(0) = e[t]
        logits[t] = dropout(h[t]^(L)) @ W_out.T + b_out  W_out (V, H)
        p(x[t+1] | x[1..t]) = softmax(logits[t])

    With ``tied=True`` the decoder reuses the embedding matrix (``W_out is E``; Press & Wolf
    2017, Inan et al. 2017), which requires ``emsize == nhid``.

    Parameters
    ----------
    ntoken : int
        V, vocabulary size.
    emsize : int
        Embedding size.
    nhid : int
        H, hidden units per layer.
    nlayers : int
        L, number of stacked layers.
    rnn_type : {'LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU'}
    dropout : float
        On the embeddings, between layers and on the top layer's outputs.
    tied : bool
        Tie the decoder weight to the embedding.
    rnn_impl : {'course_lib', 'torch'}
        ``'torch'`` swaps torch.nn's fused module in (for benchmark comparisons only).

    Notes
    -----
    Shapes::

        forward(input, hidden=None) -> (logits, hidden)

        - input : (T, N) token ids
        - hidden : (L, N, H), or (h, c) for an LSTM; zeros when None
        - logits : (T, N, V) unnormalised scores of the next token
    """

    def __init__(self, ntoken: int, emsize: int = 200, nhid: int = 200, nlayers: int = 2,
                 rnn_type: str = "LSTM", dropout: float = 0.2, tied: bool = False,
                 rnn_impl: str = "course_lib"):
        super().__init__()
        _check_pos_int(ntoken, "ntoken")
        _check_pos_int(emsize, "emsize")
        _check_pos_int(nhid, "nhid")
        _check_pos_int(nlayers, "nlayers")
        _check_prob(dropout, "dropout")
        _normalise_rnn_type(rnn_type)
        if tied and emsize != nhid:
            raise ValueError(f"tied: weight tying needs emsize == nhid, got emsize={emsize}, nhid={nhid}")
        self.config = dict(ntoken=ntoken, emsize=emsize, nhid=nhid, nlayers=nlayers,
                           rnn_type=rnn_type, dropout=dropout, tied=bool(tied), rnn_impl=rnn_impl)
        self.ntoken, self.nhid, self.nlayers = ntoken, nhid, nlayers
        self.rnn_type = rnn_type
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, emsize)
        self.rnn = _make_sequence_rnn(rnn_type, emsize, nhid, nlayers, dropout, False, rnn_impl)
        self.decoder = nn.Linear(nhid, ntoken)
        if tied:
            self.decoder.weight = self.encoder.weight
        self.init_weights()

    @classmethod
    def from_config(cls, config: dict) -> "RNNLM":
        """Rebuild a model from its ``config`` dict (as stored in a checkpoint)."""
        return cls(**config)

    def init_weights(self) -> None:
        """word_language_model's initialisation: U(-0.1, 0.1) embeddings and decoder, zero bias."""
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        if self.decoder.weight is not self.encoder.weight:
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input: Tensor, hidden: Optional[Hidden] = None):
        """Next-token logits: input (T, N) ids, hidden (L, N, H) or (h, c) -> (logits (T, N, V), hidden)."""
        input = _check_tokens(input, "input")
        if hidden is None:
            hidden = self.init_hidden(input.size(1))
        emb = self.drop(self.encoder(input))  # (T, N, E)
        output, hidden = self.rnn(emb, hidden)  # (T, N, H)
        output = self.drop(output)
        logits = self.decoder(output)  # (T, N, V)
        return logits, hidden

    def init_hidden(self, batch_size: int) -> Hidden:
        """Zero state for a batch: (L, N, H), or a (h, c) pair for an LSTM."""
        _check_pos_int(batch_size, "batch_size")
        w = next(self.parameters())
        z = w.new_zeros(self.nlayers, batch_size, self.nhid)
        return (z, z.clone()) if self.rnn_type == "LSTM" else z

    detach_hidden = staticmethod(detach_hidden)


# --------------------------------------------------------------------------- seq -> vec


class _TokenOrFeatureInput(nn.Module):
    """Embeds (T, N) token ids, or passes (T, N, D) features through."""

    def __init__(self, vocab_size: Optional[int], input_size: Optional[int], emsize: int,
                 padding_idx: Optional[int]):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("vocab_size, input_size: expected exactly one of them (tokens -> vocab_size, "
                             f"float features -> input_size), got vocab_size={vocab_size}, input_size={input_size}")
        if vocab_size is not None:
            _check_pos_int(vocab_size, "vocab_size")
            self.embedding = nn.Embedding(vocab_size, emsize, padding_idx=padding_idx)
            self.out_size = emsize
        else:
            _check_pos_int(input_size, "input_size")
            self.embedding = None
            self.out_size = input_size

    def forward(self, x: Tensor) -> Tensor:
        if self.embedding is not None:
            return self.embedding(_check_tokens(x, "x"))  # (T, N, E)
        if x.dim() != 3 or x.size(-1) != self.out_size or not x.is_floating_point():
            raise ValueError(f"x: expected float features of shape (T, N, D) with D = {self.out_size}, "
                             f"got {tuple(x.shape)} {x.dtype}")
        return x


class SeqClassifier(nn.Module):
    """Sequence -> vector classifier (many-to-one), e.g. sentiment of a sentence.

    ::

        h[1..T] = RNN(x[1..T])                                (T, N, dirs*H)
        v = h[len]  (last)   |  mean_t h[t]  |  max_t h[t]    (N, dirs*H), padded steps ignored
        logits = dropout(v) @ W.T + b                         (N, C)

    With ``pooling='last'`` and ``bidirectional=True``, ``v`` is the forward direction's state
    after the last real token concatenated with the backward direction's state after the
    first token (each direction has then read the whole sequence).

    Parameters
    ----------
    num_classes : int
        C, number of classes.
    vocab_size : int, optional
        Inputs are token ids (T, N), embedded to ``emsize``. Give this or ``input_size``.
    input_size : int, optional
        Inputs are float features (T, N, D).
    emsize, hidden_size, num_layers : int
    rnn_type : {'LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU'}
    bidirectional : bool
    pooling : {'last', 'mean', 'max'}
    dropout : float
    padding_idx : int, optional
        Embedding row kept at zero for padding tokens.

    Notes
    -----
    Shapes::

        forward(x, lengths=None) -> logits (N, C); x (T, N) ids or (T, N, D) floats, lengths (N,).
    """

    def __init__(self, num_classes: int, *, vocab_size: Optional[int] = None,
                 input_size: Optional[int] = None, emsize: int = 32, hidden_size: int = 64,
                 num_layers: int = 1, rnn_type: str = "LSTM", bidirectional: bool = False,
                 pooling: str = "last", dropout: float = 0.0, padding_idx: Optional[int] = None,
                 rnn_impl: str = "course_lib"):
        super().__init__()
        _check_pos_int(num_classes, "num_classes")
        self.pooling = _check_choice(pooling, "pooling", ("last", "mean", "max"))
        self.inp = _TokenOrFeatureInput(vocab_size, input_size, emsize, padding_idx)
        self.rnn = MaskedRNN(rnn_type, self.inp.out_size, hidden_size, num_layers,
                             bidirectional, dropout, rnn_impl)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * self.rnn.num_directions, num_classes)

    def encode(self, x: Tensor, lengths=None) -> Tensor:
        """The pooled sequence vector ``v``, shape (N, dirs * H)."""
        emb = self.inp(x)  # (T, N, E)
        T, N = emb.shape[:2]
        out, h_n = self.rnn(emb, lengths=lengths)  # (T, N, dirs*H)
        if isinstance(h_n, tuple):
            h_n = h_n[0]
        dirs = self.rnn.num_directions
        if self.pooling == "last":
            top = h_n[-dirs:]  # (dirs, N, H)
            return torch.cat(list(top), dim=-1)  # (N, dirs*H)
        mask = (torch.ones(T, N, dtype=torch.bool, device=emb.device) if lengths is None
                else lengths_to_mask(torch.as_tensor(lengths, device=emb.device), T))  # (T, N)
        m = mask.unsqueeze(-1)  # (T, N, 1)
        if self.pooling == "mean":
            return (out * m).sum(0) / m.sum(0).clamp(min=1)  # (N, dirs*H)
        return out.masked_fill(~m, float("-inf")).max(dim=0).values  # (N, dirs*H)

    def forward(self, x: Tensor, lengths=None) -> Tensor:
        """Class scores: x (T, N) ids or (T, N, D) floats, lengths (N,) -> logits (N, C)."""
        return self.head(self.drop(self.encode(x, lengths)))  # (N, C)


# --------------------------------------------------------------------------- decoding core


def _pick_next(logits: Tensor, greedy: bool, temperature: float, top_k: Optional[int],
               generator: Optional[torch.Generator]) -> Tensor:
    """Next token from logits (N, V): argmax, or a sample from softmax(logits / temperature)."""
    if greedy:
        return logits.argmax(-1)  # (N,)
    if temperature <= 0:
        raise ValueError(f"temperature: expected > 0, got {temperature}")
    scores = logits.float() / temperature
    if top_k is not None:
        _check_pos_int(top_k, "top_k")
        kth = torch.topk(scores, min(top_k, scores.size(-1)), dim=-1).values[..., -1:]  # (N, 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    # Sampling on the CPU with an explicit generator keeps a seed's draws device-independent.
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(logits.device)  # (N,)


def _make_generator(seed: Optional[int]) -> Optional[torch.Generator]:
    if seed is None:
        return None
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


class _Decoder(nn.Module):
    """Embedding -> MaskedRNN -> linear, one step or a whole teacher-forced sequence."""

    def __init__(self, vocab_size, emsize, hidden_size, num_layers, rnn_type, dropout, rnn_impl,
                 padding_idx=None):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emsize, padding_idx=padding_idx)
        self.rnn = MaskedRNN(rnn_type, emsize, hidden_size, num_layers, False, dropout, rnn_impl)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: Tensor, hidden: Hidden):
        emb = self.drop(self.embedding(tokens))  # (T, N, E)
        out, hidden = self.rnn(emb, hidden)  # (T, N, H)
        return self.out(self.drop(out)), hidden  # (T, N, V)

    def decode(self, hidden: Hidden, N: int, bos_idx: int, eos_idx: Optional[int], max_len: int,
               greedy: bool, temperature: float, top_k: Optional[int], seed: Optional[int],
               pad_idx: int) -> Tensor:
        """Feed back the model's own tokens; after ``<eos>`` a sequence emits ``pad_idx``."""
        gen = _make_generator(seed)
        device = next(self.parameters()).device
        tok = torch.full((N,), bos_idx, dtype=torch.long, device=device)
        done = torch.zeros(N, dtype=torch.bool, device=device)
        out = []
        for _ in range(max_len):
            logits, hidden = self(tok.unsqueeze(0), hidden)  # (1, N, V)
            tok = _pick_next(logits[0], greedy, temperature, top_k, gen)  # (N,)
            tok = tok.masked_fill(done, pad_idx)
            out.append(tok)
            if eos_idx is not None:
                done = done | (tok == eos_idx)
                if bool(done.all()):
                    break
        return torch.stack(out)  # (T', N)


# --------------------------------------------------------------------------- vec -> seq


class VecToSeq(nn.Module):
    """Vector -> sequence generator (one-to-many), e.g. an "image" vector to a caption.

    The conditioning vector sets the initial state of every layer::

        h[0]^(l) = tanh(v @ W_h^(l) + b_h^(l)),  c[0]^(l) = v @ W_c^(l) + b_c^(l) (LSTM)
        logits[t] = decoder(y[t-1], h[t-1]),      y[0] = <bos>

    Training uses teacher forcing (the true previous token is fed); :meth:`generate` feeds
    back its own greedy or sampled tokens until ``<eos>`` or ``max_len``.

    Parameters
    ----------
    vec_size : int
        F, size of the conditioning vector.
    vocab_size : int
        V, vocabulary size.
    emsize, hidden_size, num_layers : int
    rnn_type : {'LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU'}
    bos_idx, eos_idx, pad_idx : int
        Special token ids (``pad_idx`` fills a sequence after its ``<eos>``).
    dropout : float

    Notes
    -----
    Shapes::

        forward(vec, tokens_in) -> logits (T, N, V); vec (N, F), tokens_in (T, N) (starting with <bos>).
        generate(vec, max_len, ...) -> tokens (T', N), T' <= max_len.
    """

    def __init__(self, vec_size: int, vocab_size: int, *, emsize: int = 32, hidden_size: int = 64,
                 num_layers: int = 1, rnn_type: str = "LSTM", bos_idx: int = 1, eos_idx: int = 2,
                 pad_idx: int = 0, dropout: float = 0.0, rnn_impl: str = "course_lib"):
        super().__init__()
        self.vec_size = _check_pos_int(vec_size, "vec_size")
        _check_pos_int(vocab_size, "vocab_size")
        self.bos_idx, self.eos_idx, self.pad_idx = bos_idx, eos_idx, pad_idx
        self.decoder = _Decoder(vocab_size, emsize, hidden_size, num_layers, rnn_type, dropout,
                                rnn_impl, padding_idx=pad_idx)
        self.is_lstm = self.decoder.rnn.mode == "LSTM"
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.to_h = nn.Linear(vec_size, num_layers * hidden_size)
        self.to_c = nn.Linear(vec_size, num_layers * hidden_size) if self.is_lstm else None

    def init_state(self, vec: Tensor) -> Hidden:
        """Initial decoder state from the vector: (L, N, H), or (h0, c0) for an LSTM."""
        if vec.dim() != 2 or vec.size(1) != self.vec_size:
            raise ValueError(f"vec: expected shape (N, F) with F = {self.vec_size}, got {tuple(vec.shape)}")
        N = vec.size(0)
        h0 = torch.tanh(self.to_h(vec)).view(N, self.num_layers, self.hidden_size).transpose(0, 1)
        if not self.is_lstm:
            return h0.contiguous()  # (L, N, H)
        c0 = self.to_c(vec).view(N, self.num_layers, self.hidden_size).transpose(0, 1)
        return h0.contiguous(), c0.contiguous()

    def forward(self, vec: Tensor, tokens_in: Tensor) -> Tensor:
        """Teacher-forced logits: vec (N, F), tokens_in (T, N) starting with <bos> -> (T, N, V)."""
        tokens_in = _check_tokens(tokens_in, "tokens_in")
        if tokens_in.size(1) != vec.size(0):
            raise ValueError(f"tokens_in: expected N = {vec.size(0)} columns (vec's batch), got {tokens_in.size(1)}")
        logits, _ = self.decoder(tokens_in, self.init_state(vec))
        return logits  # (T, N, V)

    def loss(self, vec: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced loss of full sequences ``<bos> y1 .. yT <eos> <pad>..``, shape (T+1, N)."""
        tokens = _check_tokens(tokens, "tokens")
        logits = self(vec, tokens[:-1])
        return masked_cross_entropy(logits, tokens[1:], ignore_index=self.pad_idx)

    @torch.no_grad()
    def generate(self, vec: Tensor, max_len: int = 20, *, greedy: bool = True,
                 temperature: float = 1.0, top_k: Optional[int] = None,
                 seed: Optional[int] = None) -> Tensor:
        """Decode from the vector alone. Returns tokens (T', N), ``<eos>`` included, then pads."""
        _check_pos_int(max_len, "max_len")
        return self.decoder.decode(self.init_state(vec), vec.size(0), self.bos_idx, self.eos_idx,
                                   max_len, greedy, temperature, top_k, seed, self.pad_idx)


# --------------------------------------------------------------------------- seq -> seq (sync)


class SeqTagger(nn.Module):
    """Synchronised sequence -> sequence (one label per input step), e.g. part-of-speech tags.

    ::

        h[1..T] = RNN(E[x[1..T]])              (T, N, dirs*H); bidirectional sees both contexts
        logits[t] = dropout(h[t]) @ W.T + b    (T, N, K)

    Parameters
    ----------
    vocab_size : int
        Or give ``input_size`` for float features (T, N, D).
    num_tags : int
        K, number of tags.
    emsize, hidden_size, num_layers : int
    rnn_type : {'LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU'}
    bidirectional : bool
    dropout : float
    padding_idx : int, optional

    Notes
    -----
    Shapes::

        forward(x, lengths=None) -> logits (T, N, K)

        - x : (T, N) token ids, or (T, N, D) floats with ``input_size``; lengths (N,)
        - logits on padded steps come from a zero state; loss() leaves them out
    """

    def __init__(self, vocab_size: Optional[int], num_tags: int, *, input_size: Optional[int] = None,
                 emsize: int = 32, hidden_size: int = 64, num_layers: int = 1,
                 rnn_type: str = "LSTM", bidirectional: bool = False, dropout: float = 0.0,
                 padding_idx: Optional[int] = None, rnn_impl: str = "course_lib"):
        super().__init__()
        _check_pos_int(num_tags, "num_tags")
        self.inp = _TokenOrFeatureInput(vocab_size, input_size, emsize, padding_idx)
        self.rnn = MaskedRNN(rnn_type, self.inp.out_size, hidden_size, num_layers,
                             bidirectional, dropout, rnn_impl)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * self.rnn.num_directions, num_tags)

    def forward(self, x: Tensor, lengths=None) -> Tensor:
        """Per-step tag scores: x (T, N) ids or (T, N, D) floats, lengths (N,) -> logits (T, N, K)."""
        out, _ = self.rnn(self.inp(x), lengths=lengths)  # (T, N, dirs*H)
        return self.head(self.drop(out))  # (T, N, K)

    def loss(self, x: Tensor, tags: Tensor, lengths=None) -> Tensor:
        """Mean cross-entropy over the real steps; tags (T, N)."""
        logits = self(x, lengths)
        mask = None if lengths is None else lengths_to_mask(
            torch.as_tensor(lengths, device=logits.device), logits.size(0))
        return masked_cross_entropy(logits, tags, mask)


# --------------------------------------------------------------------------- encoder-decoder


class EncoderDecoder(nn.Module):
    """Encoder-decoder (sequence -> sequence of another length), Sutskever et al. 2014.

    The encoder reads the source; its final state (the "thought vector") initialises the
    decoder, a conditional language model over the target::

        h_enc = Encoder(x[1..S])                   (L * dirs, N, H), padded steps ignored
        s[0]  = h_enc            (dirs = 1)   or   tanh([h_fwd; h_bwd] @ W_bridge + b)  (dirs = 2)
        logits[t] = Decoder(y_in[t], s[t-1])        y_in[0] = <bos>

    Training feeds the true previous token with probability ``teacher_forcing_ratio`` (per step
    and sequence) and the model's own argmax otherwise. Decoding is greedy, sampled or beam
    search, ending at ``<eos>``.

    Parameters
    ----------
    src_vocab_size, tgt_vocab_size : int
    emsize, hidden_size, num_layers : int
    rnn_type : {'LSTM', 'GRU', 'RNN_TANH', 'RNN_RELU'}
    bidirectional_encoder : bool
    dropout : float
    pad_idx, bos_idx, eos_idx : int
        Shared by source and target vocabularies. Targets equal to ``pad_idx`` never count
        in the loss.

    Notes
    -----
    Shapes::

        forward(src, tgt_in, src_lengths=None, teacher_forcing_ratio=1.0, seed=None) -> logits (T, N, V)

        - src : (S, N) source ids, padded with ``pad_idx``; src_lengths (N,)
        - tgt_in : (T, N) decoder inputs ``<bos> y1 .. y_{T-1}``; targets are ``y1 .. y_T``
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, *, emsize: int = 32,
                 hidden_size: int = 64, num_layers: int = 1, rnn_type: str = "LSTM",
                 bidirectional_encoder: bool = False, dropout: float = 0.0, pad_idx: int = 0,
                 bos_idx: int = 1, eos_idx: int = 2, rnn_impl: str = "course_lib"):
        super().__init__()
        _check_pos_int(src_vocab_size, "src_vocab_size")
        _check_pos_int(tgt_vocab_size, "tgt_vocab_size")
        self.pad_idx, self.bos_idx, self.eos_idx = pad_idx, bos_idx, eos_idx
        self.src_embedding = nn.Embedding(src_vocab_size, emsize, padding_idx=pad_idx)
        self.encoder = MaskedRNN(rnn_type, emsize, hidden_size, num_layers,
                                 bidirectional_encoder, dropout, rnn_impl)
        self.decoder = _Decoder(tgt_vocab_size, emsize, hidden_size, num_layers, rnn_type,
                                dropout, rnn_impl, padding_idx=pad_idx)
        self.is_lstm = self.encoder.mode == "LSTM"
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.bridge = nn.Linear(2 * hidden_size, hidden_size) if bidirectional_encoder else None
        self.drop = nn.Dropout(dropout)

    def encode(self, src: Tensor, src_lengths=None) -> Hidden:
        """Decoder's initial state from the source: (L, N, H), or (h, c) for an LSTM."""
        src = _check_tokens(src, "src")
        emb = self.drop(self.src_embedding(src))  # (S, N, E)
        _, h = self.encoder(emb, lengths=src_lengths)  # (L*dirs, N, H)
        if self.bridge is None:
            return h

        def merge(x: Tensor, squash: bool) -> Tensor:
            L, N = self.num_layers, x.size(1)
            both = x.view(L, 2, N, self.hidden_size).permute(0, 2, 1, 3).reshape(L, N, 2 * self.hidden_size)
            y = self.bridge(both)  # (L, N, H)
            return torch.tanh(y) if squash else y

        if self.is_lstm:
            return merge(h[0], True), merge(h[1], False)
        return merge(h, True)

    def forward(self, src: Tensor, tgt_in: Tensor, src_lengths=None,
                teacher_forcing_ratio: float = 1.0, seed: Optional[int] = None) -> Tensor:
        """Decoder logits (T, N, V) for src (S, N), tgt_in (T, N) = <bos> y1 .. y_{T-1}, src_lengths (N,).

        With ``teacher_forcing_ratio < 1`` each step feeds the true token with that probability
        and the model's argmax otherwise (draws from a generator seeded with ``seed``).
        """
        tgt_in = _check_tokens(tgt_in, "tgt_in")
        src = _check_tokens(src, "src")
        if src.size(1) != tgt_in.size(1):
            raise ValueError(f"tgt_in: expected N = {src.size(1)} columns like src, got {tgt_in.size(1)}")
        _check_prob(teacher_forcing_ratio, "teacher_forcing_ratio")
        hidden = self.encode(src, src_lengths)
        if teacher_forcing_ratio >= 1.0:
            # Every input is known in advance: one call over the whole sequence.
            logits, _ = self.decoder(tgt_in, hidden)
            return logits  # (T, N, V)
        gen = _make_generator(seed)
        T, N = tgt_in.shape
        tok = tgt_in[0]
        steps = []
        for t in range(T):
            logit, hidden = self.decoder(tok.unsqueeze(0), hidden)  # (1, N, V)
            steps.append(logit[0])
            if t + 1 < T:
                coin = torch.rand(N, generator=gen).to(tgt_in.device) < teacher_forcing_ratio  # (N,)
                tok = torch.where(coin, tgt_in[t + 1], logit[0].argmax(-1).detach())
        return torch.stack(steps)  # (T, N, V)

    def loss(self, src: Tensor, tgt: Tensor, src_lengths=None, teacher_forcing_ratio: float = 1.0,
             seed: Optional[int] = None) -> Tensor:
        """Mean cross-entropy of ``tgt = <bos> y1 .. yT <eos> <pad>..`` (T+1, N), pads ignored."""
        tgt = _check_tokens(tgt, "tgt")
        logits = self(src, tgt[:-1], src_lengths, teacher_forcing_ratio, seed)
        return masked_cross_entropy(logits, tgt[1:], ignore_index=self.pad_idx)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, src_lengths=None, max_len: int = 50) -> Tensor:
        """Argmax decoding. Returns (T', N): ``y1 .. <eos>``, then ``pad_idx``."""
        _check_pos_int(max_len, "max_len")
        return self.decoder.decode(self.encode(src, src_lengths), src.size(1), self.bos_idx,
                                   self.eos_idx, max_len, True, 1.0, None, None, self.pad_idx)

    @torch.no_grad()
    def sample_decode(self, src: Tensor, src_lengths=None, max_len: int = 50, *,
                      temperature: float = 1.0, top_k: Optional[int] = None,
                      seed: Optional[int] = None) -> Tensor:
        """Sampled decoding from softmax(logits / temperature); deterministic for a seed. (T', N)."""
        _check_pos_int(max_len, "max_len")
        return self.decoder.decode(self.encode(src, src_lengths), src.size(1), self.bos_idx,
                                   self.eos_idx, max_len, False, temperature, top_k, seed, self.pad_idx)

    @torch.no_grad()
    def beam_search(self, src: Tensor, src_lengths=None, beam_size: int = 4, max_len: int = 50,
                    length_penalty: float = 0.0) -> List[List[int]]:
        """Beam search per source sequence.

        Keeps the ``beam_size`` prefixes with the highest ``sum log p``; a finished hypothesis
        (ending in ``<eos>``) is scored ``sum log p / len ** length_penalty``.

        Returns
        -------
        list of N token lists ``y1 .. <eos>`` (without ``<bos>``).
        """
        _check_pos_int(beam_size, "beam_size")
        _check_pos_int(max_len, "max_len")
        src = _check_tokens(src, "src")
        N = src.size(1)
        lengths = None if src_lengths is None else torch.as_tensor(src_lengths)
        results = []
        for n in range(N):
            s = src[:, n:n + 1]
            if lengths is not None:
                s = s[: int(lengths[n])]
            results.append(self._beam_one(s, beam_size, max_len, length_penalty))
        return results

    def _beam_one(self, src: Tensor, K: int, max_len: int, alpha: float) -> List[int]:
        hidden = self.encode(src)  # batch of 1
        device = src.device
        beams = [([], 0.0)]  # (tokens, log p)
        finished = []
        # Batch the live beams along N: the hidden state is expanded to (L, B, H).
        states = hidden
        for _ in range(max_len):
            last = torch.tensor([b[0][-1] if b[0] else self.bos_idx for b in beams], device=device)
            logits, states = self.decoder(last.unsqueeze(0), states)  # (1, B, V)
            logp = torch.log_softmax(logits[0].float(), -1)  # (B, V)
            total = logp + torch.tensor([b[1] for b in beams], device=device).unsqueeze(1)
            top = torch.topk(total.view(-1), min(K, total.numel()))
            V = logp.size(1)
            new_beams, keep = [], []
            for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                b, v = divmod(flat, V)
                toks = beams[b][0] + [v]
                if v == self.eos_idx:
                    finished.append((toks, score / (len(toks) ** alpha)))
                else:
                    new_beams.append((toks, score))
                    keep.append(b)
            if not new_beams or (len(finished) >= K and
                                 max(f[1] for f in finished) >= max(nb[1] for nb in new_beams)):
                break
            beams = new_beams
            idx = torch.tensor(keep, device=device)
            states = (states[0][:, idx], states[1][:, idx]) if isinstance(states, tuple) else states[:, idx]
        if not finished:
            finished = [(toks, score / (max(1, len(toks)) ** alpha)) for toks, score in beams]
        return max(finished, key=lambda f: f[1])[0]
