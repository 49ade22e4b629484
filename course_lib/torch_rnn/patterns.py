"""A model for every RNN design pattern of Chapter 4, built on :class:`MaskedRNN`.

Every model is time-major like the rest of the course: a batch of token sequences is a
``(T, N)`` LongTensor (T steps, N sequences), embeddings are ``(T, N, E)``, hidden states
``(T, N, H)``, logits ``(T, N, V)``.

========================  ==================  ============================================
model                     pattern             forward
========================  ==================  ============================================
:class:`SeqClassifier`    seq -> vec          x (T, N), lengths (N,) -> logits (N, C)
:class:`VecToSeq`         vec -> seq          vec (N, F), tokens_in (T, N) -> logits (T, N, V)
:class:`SeqTagger`        seq -> seq (sync)   tokens (T, N), lengths (N,) -> logits (T, N, K)
:class:`EncoderDecoder`   seq -> seq          src (S, N), tgt_in (T, N) -> logits (T, N, V)
========================  ==================  ============================================

The recurrence is the book's, layer by layer, eq. :eq:`ch2-stacked`; the patterns are
eq. :eq:`ch4-seq2vec`, :eq:`ch4-vec2seq`, :eq:`ch4-tagger` and :eq:`ch4-encdec`. The models run
:class:`~course_lib.torch_rnn.masked.MaskedRNN`, a stack of cells whose state is frozen on
padded steps, so that variable-length batches give the same answer as each sequence alone.
Decoding (greedy, sampled, beam) is in :mod:`course_lib.torch_rnn.decoding`.
"""

from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor, nn

from ..validate import check_choice, check_int
from .decoding import beam_search_one, feed_back_decode, make_generator
from .masked import MaskedRNN, lengths_to_mask, masked_cross_entropy
from .recurrent import Hidden, check_probability, check_tokens

__all__ = ["SeqClassifier", "VecToSeq", "SeqTagger", "EncoderDecoder", "TokenOrFeatureInput",
           "Decoder"]


class TokenOrFeatureInput(nn.Module):
    """Embeds (T, N) token ids, or passes (T, N, D) features through: x -> (T, N, E or D)."""

    def __init__(self, vocab_size: Optional[int], input_size: Optional[int], emsize: int,
                 padding_idx: Optional[int]):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("vocab_size, input_size: expected exactly one of them (tokens -> vocab_size, "
                             f"float features -> input_size), got vocab_size={vocab_size}, input_size={input_size}")
        if vocab_size is not None:
            check_int(vocab_size, "vocab_size")
            self.embedding = nn.Embedding(vocab_size, emsize, padding_idx=padding_idx)
            self.out_size = emsize
        else:
            check_int(input_size, "input_size")
            self.embedding = None
            self.out_size = input_size

    def forward(self, x: Tensor) -> Tensor:
        if self.embedding is not None:
            return self.embedding(check_tokens(x, "x"))  # (T, N, E)
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
        check_int(num_classes, "num_classes")
        self.pooling = check_choice(pooling, "pooling", ("last", "mean", "max"))
        self.inp = TokenOrFeatureInput(vocab_size, input_size, emsize, padding_idx)
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


class Decoder(nn.Module):
    """Embedding -> MaskedRNN -> linear, one step or a whole teacher-forced sequence.

    ``forward(tokens (T, N), hidden) -> (logits (T, N, V), hidden)``: a conditional language
    model, the decoder of :class:`VecToSeq` and :class:`EncoderDecoder`.
    """

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
        """Feed back the model's own tokens (:func:`~.decoding.feed_back_decode`), (T', N)."""
        device = next(self.parameters()).device
        return feed_back_decode(self, hidden, N, bos_idx, eos_idx, max_len, device, greedy,
                                temperature, top_k, seed, pad_idx)


class VecToSeq(nn.Module):
    """Vector -> sequence generator (one-to-many), e.g. an "image" vector to a caption.

    The conditioning vector sets the initial state of every layer::

        h[-1]^(l) = tanh(v @ W_h^(l) + b_h^(l)),  c[-1]^(l) = v @ W_c^(l) + b_c^(l) (LSTM)
        z[t] = decoder(y_in[t], h[t-1]),          y_in[0] = <bos>, logits z[t] (N, V)

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
        self.vec_size = check_int(vec_size, "vec_size")
        check_int(vocab_size, "vocab_size")
        self.bos_idx, self.eos_idx, self.pad_idx = bos_idx, eos_idx, pad_idx
        self.decoder = Decoder(vocab_size, emsize, hidden_size, num_layers, rnn_type, dropout,
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
        tokens_in = check_tokens(tokens_in, "tokens_in")
        if tokens_in.size(1) != vec.size(0):
            raise ValueError(f"tokens_in: expected N = {vec.size(0)} columns (vec's batch), got {tokens_in.size(1)}")
        logits, _ = self.decoder(tokens_in, self.init_state(vec))
        return logits  # (T, N, V)

    def loss(self, vec: Tensor, tokens: Tensor) -> Tensor:
        """Teacher-forced loss of full sequences ``<bos> y1 .. yT <eos> <pad>..``, shape (T+1, N)."""
        tokens = check_tokens(tokens, "tokens")
        logits = self(vec, tokens[:-1])
        return masked_cross_entropy(logits, tokens[1:], ignore_index=self.pad_idx)

    @torch.no_grad()
    def generate(self, vec: Tensor, max_len: int = 20, *, greedy: bool = True,
                 temperature: float = 1.0, top_k: Optional[int] = None,
                 seed: Optional[int] = None) -> Tensor:
        """Decode from the vector alone. Returns tokens (T', N), ``<eos>`` included, then pads."""
        check_int(max_len, "max_len")
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
        check_int(num_tags, "num_tags")
        self.inp = TokenOrFeatureInput(vocab_size, input_size, emsize, padding_idx)
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

    The encoder reads the source; its final state, the context ``ctx`` (the "thought vector"),
    initialises the decoder state ``d``, a conditional language model over the target (book
    eq. :eq:`ch4-encdec`, encoder steps u, decoder steps t)::

        ctx   = Encoder(x[0..S-1])                 (L * dirs, N, H), padded steps ignored
        d[-1] = ctx              (dirs = 1)   or   tanh([h_fwd; h_bwd] @ W_bridge + b)  (dirs = 2)
        z[t], d[t] = Decoder(y_in[t], d[t-1])      y_in[0] = <bos>, logits z[t] (N, V)

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
        check_int(src_vocab_size, "src_vocab_size")
        check_int(tgt_vocab_size, "tgt_vocab_size")
        self.pad_idx, self.bos_idx, self.eos_idx = pad_idx, bos_idx, eos_idx
        self.src_embedding = nn.Embedding(src_vocab_size, emsize, padding_idx=pad_idx)
        self.encoder = MaskedRNN(rnn_type, emsize, hidden_size, num_layers,
                                 bidirectional_encoder, dropout, rnn_impl)
        self.decoder = Decoder(tgt_vocab_size, emsize, hidden_size, num_layers, rnn_type,
                                dropout, rnn_impl, padding_idx=pad_idx)
        self.is_lstm = self.encoder.mode == "LSTM"
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.bridge = nn.Linear(2 * hidden_size, hidden_size) if bidirectional_encoder else None
        self.drop = nn.Dropout(dropout)

    def encode(self, src: Tensor, src_lengths=None) -> Hidden:
        """Decoder's initial state from the source: (L, N, H), or (h, c) for an LSTM."""
        src = check_tokens(src, "src")
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
        tgt_in = check_tokens(tgt_in, "tgt_in")
        src = check_tokens(src, "src")
        if src.size(1) != tgt_in.size(1):
            raise ValueError(f"tgt_in: expected N = {src.size(1)} columns like src, got {tgt_in.size(1)}")
        check_probability(teacher_forcing_ratio, "teacher_forcing_ratio")
        hidden = self.encode(src, src_lengths)
        if teacher_forcing_ratio >= 1.0:
            # Every input is known in advance: one call over the whole sequence.
            logits, _ = self.decoder(tgt_in, hidden)
            return logits  # (T, N, V)
        gen = make_generator(seed)
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
        tgt = check_tokens(tgt, "tgt")
        logits = self(src, tgt[:-1], src_lengths, teacher_forcing_ratio, seed)
        return masked_cross_entropy(logits, tgt[1:], ignore_index=self.pad_idx)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, src_lengths=None, max_len: int = 50) -> Tensor:
        """Argmax decoding. Returns (T', N): ``y1 .. <eos>``, then ``pad_idx``."""
        check_int(max_len, "max_len")
        return self.decoder.decode(self.encode(src, src_lengths), src.size(1), self.bos_idx,
                                   self.eos_idx, max_len, True, 1.0, None, None, self.pad_idx)

    @torch.no_grad()
    def sample_decode(self, src: Tensor, src_lengths=None, max_len: int = 50, *,
                      temperature: float = 1.0, top_k: Optional[int] = None,
                      seed: Optional[int] = None) -> Tensor:
        """Sampled decoding from softmax(logits / temperature); deterministic for a seed. (T', N)."""
        check_int(max_len, "max_len")
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
        check_int(beam_size, "beam_size")
        check_int(max_len, "max_len")
        src = check_tokens(src, "src")
        N = src.size(1)
        lengths = None if src_lengths is None else torch.as_tensor(src_lengths)
        results = []
        for n in range(N):
            s = src[:, n:n + 1]
            if lengths is not None:
                s = s[: int(lengths[n])]
            results.append(beam_search_one(self.decoder, self.encode(s), self.bos_idx,
                                           self.eos_idx, beam_size, max_len, length_penalty,
                                           s.device))
        return results
