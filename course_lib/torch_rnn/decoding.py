"""Decoding: turning a model's next-token distribution into tokens (Chapter 4).

Greedy decoding takes the argmax; sampled decoding draws from ``softmax(z / tau)``, optionally
among the ``k`` most likely tokens only; beam search keeps the ``K`` most likely prefixes.
Book: :ref:`ch4-vec2seq` and :ref:`ch4-encoder-decoder`. Draws come from a private
``torch.Generator`` (:func:`make_generator`), so a seed gives the same tokens on every device
and the global random state is left alone.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor

from ..validate import check_int, check_number

__all__ = ["pick_next", "make_generator", "feed_back_decode", "beam_search_one"]

#: ``step(tokens (1, B), state) -> (logits (1, B, V), state)``: one decoder step.
Step = Callable[[Tensor, object], Tuple[Tensor, object]]


def pick_next(logits: Tensor, greedy: bool, temperature: float, top_k: Optional[int],
              generator: Optional[torch.Generator]) -> Tensor:
    """Next token from logits (N, V): argmax, or a sample from softmax(logits / temperature)."""
    if greedy:
        return logits.argmax(-1)  # (N,)
    check_number(temperature, "temperature", 0, strict=True)
    scores = logits.float() / temperature
    if top_k is not None:
        check_int(top_k, "top_k")
        kth = torch.topk(scores, min(top_k, scores.size(-1)), dim=-1).values[..., -1:]  # (N, 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    # Sampling on the CPU with an explicit generator keeps a seed's draws device-independent.
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(logits.device)  # (N,)


def make_generator(seed: Optional[int]) -> Optional[torch.Generator]:
    """A CPU ``torch.Generator`` seeded with ``seed``; None (torch's global generator) for None."""
    if seed is None:
        return None
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def feed_back_decode(step: Step, hidden, N: int, bos_idx: int, eos_idx: Optional[int],
                     max_len: int, device, greedy: bool, temperature: float,
                     top_k: Optional[int], seed: Optional[int], pad_idx: int) -> Tensor:
    """Feed the model its own tokens from ``<bos>``; after ``<eos>`` a sequence emits ``pad_idx``.

    Returns tokens (T', N), T' <= max_len: it stops early once every sequence has ended.
    """
    gen = make_generator(seed)
    tok = torch.full((N,), bos_idx, dtype=torch.long, device=device)
    done = torch.zeros(N, dtype=torch.bool, device=device)
    out = []
    for _ in range(max_len):
        logits, hidden = step(tok.unsqueeze(0), hidden)  # (1, N, V)
        tok = pick_next(logits[0], greedy, temperature, top_k, gen)  # (N,)
        tok = tok.masked_fill(done, pad_idx)
        out.append(tok)
        if eos_idx is not None:
            done = done | (tok == eos_idx)
            if bool(done.all()):
                break
    return torch.stack(out)  # (T', N)


def _select_beams(states, idx: Tensor):
    """The states of the beams kept, (L, B, H) or an (h, c) pair, reindexed along B."""
    return (states[0][:, idx], states[1][:, idx]) if isinstance(states, tuple) else states[:, idx]


def beam_search_one(step: Step, hidden, bos_idx: int, eos_idx: int, K: int, max_len: int,
                    alpha: float, device) -> List[int]:
    """Beam search for one sequence from the decoder state ``hidden`` (batch of 1).

    Keeps the ``K`` prefixes with the highest ``sum log p``; a finished hypothesis (ending in
    ``<eos>``) is scored ``sum log p / len ** alpha``. The live beams run as one batch along N.
    Returns the best token list ``y1 .. <eos>`` (without ``<bos>``).
    """
    beams: List[Tuple[List[int], float]] = [([], 0.0)]  # (tokens, log p)
    finished: List[Tuple[List[int], float]] = []
    states = hidden
    for _ in range(max_len):
        last = torch.tensor([b[0][-1] if b[0] else bos_idx for b in beams], device=device)
        logits, states = step(last.unsqueeze(0), states)  # (1, B, V)
        logp = torch.log_softmax(logits[0].float(), -1)  # (B, V)
        total = logp + torch.tensor([b[1] for b in beams], device=device).unsqueeze(1)
        top = torch.topk(total.view(-1), min(K, total.numel()))
        V = logp.size(1)
        new_beams, keep = [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            b, v = divmod(flat, V)
            toks = beams[b][0] + [v]
            if v == eos_idx:
                finished.append((toks, score / (len(toks) ** alpha)))
            else:
                new_beams.append((toks, score))
                keep.append(b)
        if not new_beams or (len(finished) >= K and
                             max(f[1] for f in finished) >= max(nb[1] for nb in new_beams)):
            break
        beams = new_beams
        states = _select_beams(states, torch.tensor(keep, device=device))
    if not finished:
        finished = [(toks, score / (max(1, len(toks)) ** alpha)) for toks, score in beams]
    return max(finished, key=lambda f: f[1])[0]
