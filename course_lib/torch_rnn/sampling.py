"""Generating text from a trained language model, one token at a time.

The prefix is read to set the hidden state; then each new token is drawn from the model's
next-token distribution, sharpened or flattened by a temperature ``tau`` and optionally
restricted to the ``k`` most likely tokens, and fed back as the next input::

    p(w | h[t]) = softmax(z[t] / tau)                 tau -> 0: argmax; tau = 1: the model
    w[t+1] ~ p  restricted to top-k, renormalised
    z[t+1], h[t+1] = model(w[t+1], h[t])              logits z[t] (N, V)

Draws come from a private ``torch.Generator`` seeded with ``seed``: the same seed gives the
same text, and the global random state is left untouched.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch
from torch import nn

from ..validate import check_int, check_number
from .decoding import make_generator, pick_next
from .device import resolve_device

__all__ = ["sample"]


@torch.no_grad()
def sample(model: nn.Module, vocab, prefix: Union[str, Sequence[str]], n: int,
           temperature: float = 1.0, top_k: Optional[int] = None, seed: Optional[int] = None,
           device=None) -> Union[str, List[str]]:
    """Continue ``prefix`` by ``n`` tokens sampled from ``model``.

    Parameters
    ----------
    model : RNNLM
        Any module with ``init_hidden(N)`` and ``forward(x (T, N), h) -> (logits (T, N, V), h)``.
    vocab : course_lib.data.Vocabulary
        Its ``encode`` maps the prefix to ids (unknown tokens -> ``<unk>``), ``itos`` maps back.
    prefix : str or sequence of str
        A text (tokenized at the vocabulary's level: words split on whitespace, or characters)
        or a list of tokens. An empty prefix starts from ``<eos>`` (a fresh line).
    n : int
        Number of tokens to generate, ``>= 0``.
    temperature : float
        ``tau > 0`` divides the logits; ``0`` means greedy (argmax) decoding.
    top_k : int, optional
        Sample only among the ``k`` most probable tokens.
    seed : int, optional
        Seeds a private generator: the same seed gives the same continuation.
    device : str or torch.device, optional
        Move the model there first; by default it stays where it is.

    Returns
    -------
    str or list of str
        The ``n`` generated tokens only (not the prefix): a str joined at the vocabulary's
        level when ``prefix`` is a str, else the token list.
    """
    check_int(n, "n", 0)
    check_number(temperature, "temperature", 0)  # 0 = greedy
    check_int(top_k, "top_k", optional=True)
    if not hasattr(vocab, "encode") or not hasattr(vocab, "itos"):
        raise ValueError(f"vocab: expected a course_lib.data.Vocabulary, got {type(vocab).__name__}")
    as_text = isinstance(prefix, str)
    if not as_text and (not isinstance(prefix, (list, tuple)) or not all(isinstance(t, str) for t in prefix)):
        raise ValueError(f"prefix: expected a str or a list of str tokens, got {type(prefix).__name__}")
    ids = [int(i) for i in vocab.encode(prefix)]
    if not ids:
        start = getattr(vocab, "eos", None)
        if start is None:
            raise ValueError("prefix: expected at least one token (the vocabulary has no <eos> to start from)")
        ids = [vocab.stoi[start]]
    if device is not None:
        model.to(resolve_device(device))
    dev = next(model.parameters()).device
    gen = make_generator(seed)
    was_training = model.training
    model.eval()
    out: List[int] = []
    try:
        hidden = model.init_hidden(1)
        x = torch.tensor(ids, dtype=torch.long, device=dev).unsqueeze(1)  # (P, 1)
        logits, hidden = model(x, hidden)  # (P, 1, V)
        for _ in range(n):
            tok = pick_next(logits[-1], temperature == 0, float(temperature) or 1.0, top_k, gen)  # (1,)
            out.append(int(tok))
            logits, hidden = model(tok.view(1, 1), hidden)  # (1, 1, V)
    finally:
        model.train(was_training)
    tokens = [vocab.itos[i] for i in out]
    if as_text:
        return vocab.decode(out)
    return tokens
