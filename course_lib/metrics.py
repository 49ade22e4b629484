"""The course's one perplexity convention, used by every model (n-gram, MLP, RNN, LSTM).

Convention
----------
- Natural logarithms (nats), as ``torch.nn.functional.cross_entropy`` returns.
- Averaged per *predicted* token: a stream of S tokens evaluated with
  :func:`course_lib.data.get_batch` has S - 1 targets per column; an n-gram model scores
  every token it is asked about. ``<eos>`` is a token like any other and is counted.
- Perplexity is the exponential of that mean negative log-likelihood:

  .. math::

     \\mathrm{PPL} = \\exp\\Big(-\\frac{1}{M} \\sum_{t=1}^{M} \\ln p(w_t \\mid w_{<t})\\Big)

  so a model that is uniform over V tokens has perplexity exactly V.
- Character models report bits per character, the same mean in base 2:
  ``bpc = mean_nll / ln 2``.

Average the *summed* loss over all predicted tokens of a split (``total_nll / n_tokens``);
a mean of per-batch means is biased when the last batch is short.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["perplexity_from_nll", "perplexity", "bits_per_character", "mean_nll"]


def _as_float(value: Any, name: str) -> float:
    # Accepts Python numbers, NumPy scalars and 0-d torch tensors without importing torch.
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a real number (float, numpy or 0-d tensor), got {value!r}") from None
    if math.isnan(out):
        raise ValueError(f"{name}: expected a real number, got nan")
    return out


def mean_nll(total_nll: Any, n_tokens: int) -> float:
    """Mean negative log-likelihood per predicted token, in nats.

    Parameters
    ----------
    total_nll : float
        ``-sum_t ln p(w_t | w_<t)`` over the predicted tokens (>= 0).
    n_tokens : int
        M, the number of predicted tokens, ``<eos>`` included (>= 1).

    Returns
    -------
    float
        ``total_nll / n_tokens``.
    """
    total = _as_float(total_nll, "total_nll")
    if total < 0:
        raise ValueError(f"total_nll: expected a non-negative sum of -ln p, got {total}")
    try:
        ok = not isinstance(n_tokens, bool) and int(n_tokens) == n_tokens and n_tokens >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"n_tokens: expected a positive int count of predicted tokens, got {n_tokens!r}")
    return total / int(n_tokens)


def perplexity_from_nll(total_nll: Any, n_tokens: int) -> float:
    """Perplexity from a summed negative log-likelihood.

    ``PPL = exp(total_nll / M)`` with natural logs, M predicted tokens, ``<eos>`` counted.

    Parameters
    ----------
    total_nll : float
        ``-sum_t ln p(w_t | w_<t)`` in nats (>= 0).
    n_tokens : int
        M >= 1.

    Returns
    -------
    float
        The perplexity (``inf`` when the model gave a token probability 0).

    Examples
    --------
    >>> round(perplexity_from_nll(10 * math.log(50), 10), 6)   # uniform over 50 tokens
    50.0
    """
    return perplexity(mean_nll(total_nll, n_tokens))


def perplexity(mean_loss: Any) -> float:
    """Perplexity from a mean cross-entropy in nats per predicted token.

    ``PPL = exp(mean_loss)``; pass the mean over *all* predicted tokens of a split.

    Book: eq. :eq:`ch1-ppl`.

    Parameters
    ----------
    mean_loss : float, numpy scalar or 0-d torch tensor
        Mean negative log-likelihood in nats (>= 0).

    Returns
    -------
    float
        ``exp(mean_loss)``; ``inf`` when it overflows.
    """
    m = _as_float(mean_loss, "mean_loss")
    if m < 0:
        raise ValueError(f"mean_loss: expected a non-negative mean -ln p in nats, got {m}")
    try:
        return math.exp(m)
    except OverflowError:
        return math.inf


def bits_per_character(mean_nat_loss: Any) -> float:
    """Bits per character from a mean cross-entropy in nats per character.

    ``bpc = mean_nat_loss / ln 2``; a uniform model over V characters has ``log2 V`` bpc.

    Parameters
    ----------
    mean_nat_loss : float, numpy scalar or 0-d torch tensor
        Mean negative log-likelihood in nats per predicted character (>= 0).

    Returns
    -------
    float
    """
    m = _as_float(mean_nat_loss, "mean_nat_loss")
    if m < 0:
        raise ValueError(f"mean_nat_loss: expected a non-negative mean -ln p in nats, got {m}")
    return m / math.log(2.0)
