"""The recurrent language model of Chapter 1, as pytorch/examples' word_language_model.

Book: eq. :eq:`ch1-rnn-lm` (and :ref:`ch1-neural-lm`); trained by
:func:`course_lib.torch_rnn.train.train_lm`, sampled by :func:`course_lib.torch_rnn.sampling.sample`.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from ..validate import check_int
from .recurrent import (Hidden, check_probability, check_tokens, detach_hidden,
                        make_sequence_rnn, normalise_rnn_type)

__all__ = ["RNNLM"]


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
        check_int(ntoken, "ntoken")
        check_int(emsize, "emsize")
        check_int(nhid, "nhid")
        check_int(nlayers, "nlayers")
        check_probability(dropout, "dropout")
        normalise_rnn_type(rnn_type)
        if tied and emsize != nhid:
            raise ValueError(f"tied: weight tying needs emsize == nhid, got emsize={emsize}, nhid={nhid}")
        self.config = dict(ntoken=ntoken, emsize=emsize, nhid=nhid, nlayers=nlayers,
                           rnn_type=rnn_type, dropout=dropout, tied=bool(tied), rnn_impl=rnn_impl)
        self.ntoken, self.nhid, self.nlayers = ntoken, nhid, nlayers
        self.rnn_type = rnn_type
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, emsize)
        self.rnn = make_sequence_rnn(rnn_type, emsize, nhid, nlayers, dropout, False, rnn_impl)
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
        input = check_tokens(input, "input")
        if hidden is None:
            hidden = self.init_hidden(input.size(1))
        emb = self.drop(self.encoder(input))  # (T, N, E)
        output, hidden = self.rnn(emb, hidden)  # (T, N, H)
        output = self.drop(output)
        logits = self.decoder(output)  # (T, N, V)
        return logits, hidden

    def init_hidden(self, batch_size: int) -> Hidden:
        """Zero state for a batch: (L, N, H), or a (h, c) pair for an LSTM."""
        check_int(batch_size, "batch_size")
        w = next(self.parameters())
        z = w.new_zeros(self.nlayers, batch_size, self.nhid)
        return (z, z.clone()) if self.rnn_type == "LSTM" else z

    detach_hidden = staticmethod(detach_hidden)
