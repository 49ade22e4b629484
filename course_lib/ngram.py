"""n-gram language models: count, smooth, score, sample.

An n-gram model predicts the next token from the previous ``n - 1``:

.. math::

   p(w_1, \\dots, w_M) = \\prod_{t=1}^{M} p(w_t \\mid w_{t-n+1}, \\dots, w_{t-1})

Two smoothings are taught in Chapter 1:

**Add-k (Laplace for k = 1)**, with :math:`c(h, w)` the count of the n-gram ``h + (w,)``
and :math:`c(h) = \\sum_w c(h, w)`:

.. math::

   p(w \\mid h) = \\frac{c(h, w) + k}{c(h) + k V}

**Interpolated modified Kneser-Ney** (Chen & Goodman, 1998), recursively from order n
down to a uniform distribution over the V tokens:

.. math::

   &p_{KN}(w \\mid h) =\\\\
   &\\quad \\frac{\\max(c_{KN}(h, w) - D(c_{KN}(h, w)), 0)}{\\sum_{w'} c_{KN}(h, w')}\\\\
   &\\quad + \\gamma(h)\\, p_{KN}(w \\mid h'),\\\\
   &\\gamma(h) = \\frac{D_1 N_1(h \\bullet) + D_2 N_2(h \\bullet)}{\\sum_{w'} c_{KN}(h, w')}\\\\
   &\\quad + \\frac{D_{3+} N_{3+}(h \\bullet)}{\\sum_{w'} c_{KN}(h, w')}

where :math:`h'` drops the oldest token of :math:`h`, :math:`c_{KN}` is the raw count at
the highest order and the *continuation count* :math:`N_{1+}(\\bullet h w)` (the number of
distinct tokens seen before ``h w``) at lower orders, :math:`N_r(h \\bullet)` is the number
of words with :math:`c_{KN}(h, w) = r`, and the discounts come from the count-of-counts
:math:`n_r` of each order: :math:`Y = n_1 / (n_1 + 2 n_2)`,
:math:`D_1 = 1 - 2Y n_2/n_1`, :math:`D_2 = 2 - 3Y n_3/n_2`, :math:`D_{3+} = 3 - 4Y n_4/n_3`.
The base case is :math:`p_0(w) = 1/V`. An unseen context contributes nothing and the
recursion falls through to the shorter one. Passing ``discount=D`` instead gives the
original interpolated Kneser-Ney with one absolute discount.

Both models sum to exactly 1 over :attr:`NGramLM.vocab` for every context.

Conventions. Tokens are one stream (``<eos>`` is an ordinary token, as in
pytorch/examples' word_language_model). The first tokens of a stream, with fewer than
``n - 1`` predecessors, are predicted with the shorter history (order ``t`` for the
``t``-th token) rather than padded. Tokens not seen in training map to ``<unk>``, which is
always in the vocabulary (its probability comes from smoothing alone unless the training
text contains ``<unk>``). Perplexity follows :mod:`course_lib.metrics`: natural log, per
predicted token.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .metrics import perplexity_from_nll
from .validate import check_choice, check_int, check_number, check_seed

__all__ = ["NGramLM", "unseen_ngram_fraction", "perplexity_table", "markdown_table"]

_SMOOTHINGS = ("laplace", "add-k", "kneser-ney")
Token = Hashable


def _check_order(n: Any, name: str = "n") -> int:
    return check_int(n, name)


def _as_token_list(tokens: Any, name: str) -> list:
    if hasattr(tokens, "tolist") and not isinstance(tokens, str):
        tokens = tokens.tolist()
    try:
        return list(tokens)
    except TypeError:
        raise ValueError(f"{name}: expected a sequence of tokens, got {type(tokens).__name__}") from None


def _take(table: np.ndarray, rows: np.ndarray, default: float) -> np.ndarray:
    """``table[rows]`` with ``default`` where ``rows == -1`` (unseen), safe for empty tables."""
    if len(table) == 0:
        return np.full(len(rows), default)
    return np.where(rows >= 0, table[np.maximum(rows, 0)], default)


class NGramLM:
    """An n-gram language model with add-k or interpolated Kneser-Ney smoothing.

    Parameters
    ----------
    n : int
        Order, >= 1 (1 = unigram, 3 = trigram: the context is the previous n - 1 tokens).
    smoothing : {"laplace", "add-k", "kneser-ney"}
        ``"laplace"`` is add-k with k = 1.
    k : float
        The pseudo-count of ``"add-k"`` (> 0).
    discount : float or None
        Kneser-Ney only. None (default): modified KN, discounts D1, D2, D3+ per order
        estimated from count-of-counts (Chen & Goodman, 1998). A float in (0, 1]: one
        absolute discount for every count (interpolated KN).
    unk : hashable or None
        The unknown token, added to the vocabulary. None: no ``<unk>``, and scoring a token
        not seen in training raises ``ValueError`` (a closed vocabulary).
    min_count : int
        Training tokens seen fewer than ``min_count`` times are replaced by ``unk`` so the
        model learns how often unknown words occur (1: keep every token).

    Attributes
    ----------
    vocab : list
        Every token the model can predict (training tokens and ``unk``), V = len(vocab);
        :meth:`distribution` is indexed in this order.
    discounts : dict
        Kneser-Ney: order -> (D1, D2, D3+).

    Examples
    --------
    >>> lm = NGramLM(2, "kneser-ney").fit("the cat saw the dog <eos>".split())
    >>> round(sum(lm.prob(w, ["the"]) for w in lm.vocab), 12)
    1.0
    """

    def __init__(
        self,
        n: int,
        smoothing: str = "kneser-ney",
        k: float = 1.0,
        discount: Optional[float] = None,
        unk: Optional[Token] = "<unk>",
        min_count: int = 1,
    ) -> None:
        self.n = _check_order(n)
        self.smoothing = check_choice(smoothing, "smoothing", _SMOOTHINGS)
        k = check_number(k, "k", 0, strict=True)
        self.k = 1.0 if smoothing == "laplace" else k
        self.discount = check_number(discount, "discount", 0, 1, strict=True, optional=True)
        self.unk = unk
        check_int(min_count, "min_count")
        if min_count > 1 and unk is None:
            raise ValueError("min_count: replacing rare tokens needs an unk token; got unk=None")
        self.min_count = int(min_count)
        self._fitted = False

    def __repr__(self) -> str:
        fit = f", V={len(self.vocab)}" if self._fitted else ", unfitted"
        return f"NGramLM(n={self.n}, smoothing={self.smoothing!r}{fit})"

    # ------------------------------------------------------------------------------ fit
    def fit(self, tokens: Iterable[Token]) -> "NGramLM":
        """Count every 1..n-gram of the training stream and precompute the smoothing tables.

        Parameters
        ----------
        tokens : sequence of hashable, length S >= 1
            The training stream (a str is a stream of characters).

        Returns
        -------
        self
        """
        tokens = _as_token_list(tokens, "tokens")
        if not tokens:
            raise ValueError("tokens: expected a non-empty training stream, got an empty one")
        a = self._build_vocab(tokens)                     # (S,) token ids
        V = self._V
        if len(a) * V >= 2**62:
            raise ValueError(f"tokens: corpus too large for int64 n-gram keys (S * V = {len(a) * V})")
        self._count(a, V)
        self._smoothing_tables(V)
        self._fitted = True
        return self

    def _build_vocab(self, tokens: list) -> np.ndarray:
        """Set ``vocab`` (rare tokens -> unk) and the token -> id map; return the ids (S,)."""
        if self.min_count > 1:
            freq = Counter(tokens)
            tokens = [t if freq[t] >= self.min_count else self.unk for t in tokens]
        types = set(tokens)
        if self.unk is not None:
            types.add(self.unk)
        try:
            vocab = sorted(types)
        except TypeError:  # mixed, unorderable token types: fall back to first occurrence
            vocab = list(dict.fromkeys(tokens + ([self.unk] if self.unk is not None else [])))
        self.vocab: List[Token] = vocab
        self._tok2id: Dict[Token, int] = {t: i for i, t in enumerate(vocab)}
        self._V = len(vocab)
        return np.fromiter((self._tok2id[t] for t in tokens), dtype=np.int64, count=len(tokens))

    def _count(self, a: np.ndarray, V: int) -> None:
        """Raw counts c(h, w) and continuation counts N1+(. h w) of every 1..n-gram of ``a``.

        A k-gram is stored as the key ctx_id * V + w, where ctx_id is the row of its first
        k - 1 tokens in the (k-1)-gram table (0 for unigrams). Keys are sorted, so the
        successors of one context form a contiguous slice and lookups are searchsorted:
        everything is NumPy, no Python loop over n-grams.
        """
        S = len(a)
        self._keys: Dict[int, np.ndarray] = {}  # k -> (G_k,) sorted int64 keys
        self._raw: Dict[int, np.ndarray] = {}  # k -> (G_k,) raw counts c(h, w)
        self._cont: Dict[int, np.ndarray] = {}  # k -> (G_k,) N1+(. h w), k < n
        gid_prev = np.zeros(S, dtype=np.int64)  # row of the (k-1)-gram starting at each position
        for k in range(1, self.n + 1):
            m = S - k + 1  # number of k-gram occurrences
            if m <= 0:
                self._keys[k] = np.zeros(0, dtype=np.int64)
                self._raw[k] = np.zeros(0, dtype=np.int64)
                gid = np.zeros(0, dtype=np.int64)
                first = np.zeros(0, dtype=np.int64)
            else:
                key = gid_prev[:m] * V + a[k - 1 : k - 1 + m]  # (m,)
                uniq, first, gid, cnt = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
                self._keys[k] = uniq
                self._raw[k] = cnt.astype(np.int64)
            if k >= 2:
                # Each distinct k-gram (starting at its first occurrence s) has suffix the
                # (k-1)-gram starting at s + 1: counting distinct k-grams per suffix is N1+(. g).
                G_prev = len(self._keys[k - 1])
                suffix = gid_prev[first + 1] if len(first) else np.zeros(0, dtype=np.int64)
                self._cont[k - 1] = np.bincount(suffix, minlength=G_prev).astype(np.int64)
            gid_prev = gid.reshape(-1)

    def _smoothing_tables(self, V: int) -> None:
        """Per order k: the counts the smoothing uses, their context totals and discounts."""
        self._tot: Dict[int, np.ndarray] = {}  # k -> (G_{k-1},) sum_w c(h, w) per context row
        self._gnum: Dict[int, np.ndarray] = {}  # k -> (G_{k-1},) D1 N1 + D2 N2 + D3 N3+
        self._c: Dict[int, np.ndarray] = {}  # k -> (G_k,) counts the smoothing uses
        self._dtab: Dict[int, np.ndarray] = {}  # k -> (4,) discount by min(c, 3)
        self.discounts: Dict[int, Tuple[float, float, float]] = {}
        for k in range(1, self.n + 1):
            # At least one row so fancy indexing with a masked (clipped) context id is safe.
            n_ctx = 1 if k == 1 else max(1, len(self._keys[k - 1]))
            ctx = self._keys[k] // V  # (G_k,)
            if self.smoothing == "kneser-ney":
                c = self._raw[k] if k == self.n else self._cont[k]
                D = self._estimate_discounts(c) if self.discount is None else (self.discount,) * 3
                self.discounts[k] = D
                dtab = np.array([0.0, D[0], D[1], D[2]])
                self._dtab[k] = dtab
                self._gnum[k] = np.bincount(ctx, weights=dtab[np.minimum(c, 3)], minlength=n_ctx)
            else:
                # c(h) = sum_w c(h, w), not the count of h itself: they differ at the stream's
                # end and only the sum makes the distribution normalise exactly.
                c = self._raw[k]
            self._c[k] = c
            self._tot[k] = np.bincount(ctx, weights=c, minlength=n_ctx)

    @staticmethod
    def _estimate_discounts(counts: np.ndarray) -> Tuple[float, float, float]:
        coc = np.bincount(np.minimum(counts, 5), minlength=6)
        n1, n2, n3, n4 = (int(coc[r]) for r in (1, 2, 3, 4))
        Y = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
        D1 = 1 - 2 * Y * n2 / n1 if n1 > 0 else 0.5
        D2 = 2 - 3 * Y * n3 / n2 if n2 > 0 else D1
        D3 = 3 - 4 * Y * n4 / n3 if n3 > 0 else D2
        # D(c) <= c keeps every numerator >= 0 (so the sum is exactly 1); a floor > 0 keeps
        # some mass for the lower orders on tiny corpora where the estimates degenerate.
        eps = 0.01
        return (min(max(D1, eps), 1.0), min(max(D2, eps), 2.0), min(max(D3, eps), 3.0))

    # ------------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError("NGramLM: call .fit(tokens) first")

    def _id(self, token: Token, name: str) -> int:
        i = self._tok2id.get(token)
        if i is None:
            if self.unk is None:
                raise ValueError(f"{name}: token {token!r} is not in the vocabulary and the model has no unk")
            return self._tok2id[self.unk]
        return i

    def _ids(self, tokens: Sequence[Token], name: str) -> List[int]:
        get = self._tok2id.get
        if self.unk is None:
            out = [get(t) for t in tokens]
            if None in out:
                bad = tokens[out.index(None)]
                raise ValueError(f"{name}: token {bad!r} is not in the vocabulary and the model has no unk")
            return out
        u = self._tok2id[self.unk]
        return [get(t, u) for t in tokens]

    def _gram_rows(self, b: np.ndarray) -> Dict[int, np.ndarray]:
        """For each order k, the table row of the k-gram *ending* at each position (-1: unseen).

        Parameters
        ----------
        b : (M,) int64 ids

        Returns
        -------
        dict k -> (M,) int64
        """
        M, V = len(b), self._V
        rows: Dict[int, np.ndarray] = {}
        prev = np.zeros(M, dtype=np.int64)  # row of the (k-1)-gram ending at i - 1 (0 for k = 1)
        for k in range(1, self.n + 1):
            keys = self._keys[k]
            r = np.full(M, -1, dtype=np.int64)
            if M >= k and len(keys):
                ctx = prev[k - 2 : M - 1] if k >= 2 else prev  # (M - k + 1,)
                key = ctx * V + b[k - 1 :]
                idx = np.searchsorted(keys, key)
                idx_c = np.minimum(idx, len(keys) - 1)
                ok = (ctx >= 0) & (keys[idx_c] == key)
                r[k - 1 :] = np.where(ok, idx_c, -1)
            rows[k] = r
            # The k-gram ending at i is the context of the (k+1)-gram ending at i + 1.
            prev = r
        return rows

    def _probs(self, b: np.ndarray, start: int) -> np.ndarray:
        """p(b[i] | b[i-n+1 .. i-1]) for i = start .. M-1 (shorter histories near 0).

        Returns
        -------
        (M - start,) float64
        """
        M, V = len(b), self._V
        rows = self._gram_rows(b)
        pos = np.arange(M)
        if self.smoothing == "kneser-ney":
            p = np.full(M, 1.0 / V)
            for k in range(1, self.n + 1):
                if k == 1:
                    ctx = np.zeros(M, dtype=np.int64)
                else:
                    ctx = np.full(M, -1, dtype=np.int64)
                    ctx[1:] = rows[k - 1][:-1]
                ctx_ok = (ctx >= 0) & (pos >= k - 1)
                tot = np.where(ctx_ok, _take(self._tot[k], ctx, 0.0), 0.0)
                seen = tot > 0
                # Unseen context: this order adds nothing and p stays the lower-order estimate.
                r = rows[k]
                c = _take(self._c[k], r, 0)
                d = self._dtab[k][np.minimum(c, 3)]
                gnum = np.where(seen, _take(self._gnum[k], ctx, 0.0), 0.0)
                safe = np.where(seen, tot, 1.0)
                p = np.where(seen, (np.maximum(c - d, 0.0) + gnum * p) / safe, p)
            return p[start:]
        # add-k: the order is the longest history available, min(i, n - 1) + 1.
        order = np.minimum(pos, self.n - 1) + 1
        p = np.empty(M)
        for k in range(1, self.n + 1):
            sel = order == k
            if not sel.any():
                continue
            if k == 1:
                ctx = np.zeros(M, dtype=np.int64)
            else:
                ctx = np.full(M, -1, dtype=np.int64)
                ctx[1:] = rows[k - 1][:-1]
            tot = _take(self._tot[k], ctx, 0.0)
            c = _take(self._c[k], rows[k], 0)
            p[sel] = ((c + self.k) / (tot + self.k * V))[sel]
        return p[start:]

    def _encode(self, tokens: Sequence[Token], context: Sequence[Token]) -> Tuple[np.ndarray, int]:
        toks = _as_token_list(tokens, "tokens")
        ctx = _as_token_list(context, "context")
        ctx = ctx[max(0, len(ctx) - (self.n - 1)) :] if self.n > 1 else []
        ids = self._ids(ctx, "context") + self._ids(toks, "tokens")
        return np.asarray(ids, dtype=np.int64), len(ctx)

    # ----------------------------------------------------------------------- scoring
    def prob(self, word: Token, context: Sequence[Token] = ()) -> float:
        """p(word | context), using the last ``n - 1`` tokens of ``context``.

        Parameters
        ----------
        word : token
            Unknown words are scored as ``unk``.
        context : sequence of tokens
            Shorter than ``n - 1`` (e.g. at the start of a text): the lower-order estimate.

        Returns
        -------
        float in (0, 1]
        """
        self._check_fitted()
        w = self._id(word, "word")
        ctx = _as_token_list(context, "context")
        h = self._ids(ctx[max(0, len(ctx) - (self.n - 1)) :], "context") if self.n > 1 else []
        return self._p_scalar(h, w)

    def _lookup(self, k: int, ctx_row: int, w: int) -> int:
        keys = self._keys[k]
        key = ctx_row * self._V + w
        i = int(np.searchsorted(keys, key))
        return i if i < len(keys) and keys[i] == key else -1

    def _p_scalar(self, h: List[int], w: int) -> float:
        # The same recursion as _probs, one position at a time: a few searchsorted calls
        # instead of whole-array passes, so sum(prob(w, h) for w in vocab) stays quick.
        L, V = len(h), self._V
        if self.smoothing != "kneser-ney":
            k = L + 1
            row = self._row(h)
            if row < 0:
                return 1.0 / V
            r = self._lookup(k, row, w)
            c = 0 if r < 0 else self._c[k][r]
            return float((c + self.k) / (self._tot[k][row] + self.k * V))
        p = 1.0 / V
        for k in range(1, L + 2):
            row = self._row(h[L - k + 1 :])
            if row < 0 or self._tot[k][row] == 0:
                break  # unseen here means unseen for every longer context too
            total, gnum = self._tot[k][row], self._gnum[k][row]
            r = self._lookup(k, row, w)
            c = 0 if r < 0 else int(self._c[k][r])
            d = self._dtab[k][min(c, 3)]
            p = (max(c - d, 0.0) + gnum * p) / total
        return float(p)

    def token_logprobs(self, tokens: Sequence[Token], context: Sequence[Token] = ()) -> np.ndarray:
        """``ln p(w_t | w_{t-n+1..t-1})`` for every token (the surprisal curve, negated).

        Parameters
        ----------
        tokens : sequence of tokens, length M
        context : sequence of tokens
            Tokens that precede ``tokens`` (conditioned on, not scored).

        Returns
        -------
        numpy.ndarray of float64, shape (M,)
        """
        self._check_fitted()
        b, start = self._encode(tokens, context)
        return np.log(self._probs(b, start))

    def logprob(self, tokens: Sequence[Token], context: Sequence[Token] = ()) -> float:
        """Total natural-log probability ``sum_t ln p(w_t | w_{t-n+1..t-1})`` of a stream.

        Parameters
        ----------
        tokens : sequence of tokens, length M
            Every token is predicted (the first ones from ``context``, or from shorter
            histories when ``context`` is empty).
        context : sequence of tokens
            Tokens that precede ``tokens`` (conditioned on, not scored).

        Returns
        -------
        float
            <= 0; divide ``-logprob`` by M for the mean NLL.
        """
        return float(self.token_logprobs(tokens, context).sum())

    def perplexity(self, tokens: Sequence[Token], context: Sequence[Token] = ()) -> float:
        """Perplexity ``exp(-logprob(tokens) / M)`` (course convention, :mod:`course_lib.metrics`).

        Parameters
        ----------
        tokens : sequence of tokens, length M >= 1
        context : sequence of tokens
            Conditioned on, not scored.

        Returns
        -------
        float
        """
        toks = _as_token_list(tokens, "tokens")
        if not toks:
            raise ValueError("tokens: expected a non-empty held-out stream, got an empty one")
        return perplexity_from_nll(-self.logprob(toks, context), len(toks))

    def _row(self, ids: Sequence[int]) -> int:
        """Table row of the k-gram ``ids`` (k = len(ids) >= 1), -1 if unseen; row 0 for ()."""
        r = 0
        for k, w in enumerate(ids, start=1):
            keys = self._keys[k]
            key = r * self._V + w
            i = int(np.searchsorted(keys, key))
            if i >= len(keys) or keys[i] != key:
                return -1
            r = i
        return r

    def _successor_slice(self, k: int, ctx_row: int) -> slice:
        keys = self._keys[k]
        lo = int(np.searchsorted(keys, ctx_row * self._V))
        hi = int(np.searchsorted(keys, (ctx_row + 1) * self._V))
        return slice(lo, hi)

    def distribution(self, context: Sequence[Token] = ()) -> np.ndarray:
        """The whole next-token distribution p(. | context), vectorised.

        Returns
        -------
        numpy.ndarray of float64, shape (V,)
            Indexed like :attr:`vocab`; sums to 1.
        """
        self._check_fitted()
        ctx = _as_token_list(context, "context")
        h_full = self._ids(ctx[max(0, len(ctx) - (self.n - 1)) :], "context") if self.n > 1 else []
        V, L = self._V, len(h_full)
        if self.smoothing != "kneser-ney":
            k = L + 1
            row = self._row(h_full)
            p = np.full(V, self.k)
            tot = 0.0
            if row >= 0:
                sl = self._successor_slice(k, row)
                p[self._keys[k][sl] - row * V] += self._c[k][sl]
                tot = self._tot[k][row]
            return p / (tot + self.k * V)
        p = np.full(V, 1.0 / V)
        for k in range(1, L + 2):
            row = self._row(h_full[L - k + 1 :])
            if row < 0 or self._tot[k][row] == 0:
                break  # unseen here means unseen for every longer context too
            total, gnum = self._tot[k][row], self._gnum[k][row]
            sl = self._successor_slice(k, row)
            c = self._c[k][sl]
            new = p * (gnum / total)
            new[self._keys[k][sl] - row * V] += np.maximum(c - self._dtab[k][np.minimum(c, 3)], 0.0) / total
            p = new
        return p

    def generate(
        self,
        n: int,
        prefix: Sequence[Token] = (),
        temperature: float = 1.0,
        seed: Union[None, int, np.random.Generator] = None,
    ) -> List[Token]:
        """Sample ``n`` tokens, each from ``p(. | last n-1 tokens)`` sharpened by temperature.

        ``p_T(w) proportional to p(w | h) ** (1 / T)``: T < 1 is greedier, T > 1 flatter.

        Parameters
        ----------
        n : int
            Number of tokens to generate, >= 1.
        prefix : sequence of tokens
            The text to continue (not included in the result).
        temperature : float
            > 0.
        seed : int, numpy.random.Generator or None

        Returns
        -------
        list of tokens, length n
        """
        self._check_fitted()
        n = check_int(n, "n")
        temperature = check_number(temperature, "temperature", 0, strict=True)
        rng = check_seed(seed)
        history = list(_as_token_list(prefix, "prefix"))
        out: List[Token] = []
        for _ in range(n):
            p = self.distribution(history)
            if temperature != 1.0:
                logits = np.log(np.maximum(p, 1e-300)) / temperature
                logits -= logits.max()
                p = np.exp(logits)
            p = p / p.sum()
            w = self.vocab[int(rng.choice(self._V, p=p))]
            out.append(w)
            history.append(w)
        return out

    # ------------------------------------------------------------------ count tables
    def count(self, ngram: Sequence[Token]) -> int:
        """Raw training count of an n-gram of order ``1..n`` (0 if any token is unknown)."""
        self._check_fitted()
        ngram = _as_token_list(ngram, "ngram")
        if not 1 <= len(ngram) <= self.n:
            raise ValueError(f"ngram: expected 1..{self.n} tokens, got {len(ngram)}")
        if any(t not in self._tok2id for t in ngram):
            return 0
        r = self._row([self._tok2id[t] for t in ngram])
        return 0 if r < 0 else int(self._raw[len(ngram)][r])

    def continuation_count(self, ngram: Sequence[Token]) -> int:
        """``N1+(. ngram)``: how many distinct tokens precede ``ngram`` in training.

        The lower-order count of Kneser-Ney ("Francisco" follows few words, so it is a bad
        guess after a new context even though it is frequent). Order ``1..n-1``.
        """
        self._check_fitted()
        ngram = _as_token_list(ngram, "ngram")
        if not 1 <= len(ngram) <= self.n - 1:
            raise ValueError(f"ngram: expected 1..{self.n - 1} tokens (n - 1), got {len(ngram)}")
        if any(t not in self._tok2id for t in ngram):
            return 0
        r = self._row([self._tok2id[t] for t in ngram])
        return 0 if r < 0 else int(self._cont[len(ngram)][r])

    def counts(self, context: Sequence[Token] = ()) -> Dict[Token, int]:
        """Raw counts of the words that followed ``context`` in training, most frequent first.

        Parameters
        ----------
        context : sequence of tokens, length 0..n-1
            ``()`` gives the unigram counts.

        Returns
        -------
        dict token -> int
        """
        self._check_fitted()
        context = _as_token_list(context, "context")
        if len(context) > self.n - 1:
            raise ValueError(f"context: expected at most n - 1 = {self.n - 1} tokens, got {len(context)}")
        if any(t not in self._tok2id for t in context):
            return {}
        row = self._row([self._tok2id[t] for t in context])
        if row < 0:
            return {}
        k = len(context) + 1
        sl = self._successor_slice(k, row)
        ws = (self._keys[k][sl] - row * self._V).tolist()
        cs = self._raw[k][sl].tolist()
        items = sorted(zip(ws, cs), key=lambda wc: (-wc[1], wc[0]))
        return {self.vocab[w]: int(c) for w, c in items}


# ================================================================================ helpers
def unseen_ngram_fraction(train_tokens: Sequence[Token], test_tokens: Sequence[Token], n: int) -> float:
    """Share of the held-out n-grams (occurrences) never seen in training.

    The sparsity curve of Chapter 1: it climbs towards 1 as n grows, which is why the
    maximum-likelihood estimate ``c(h, w) / c(h)`` fails and smoothing is needed.

    Parameters
    ----------
    train_tokens, test_tokens : sequences of tokens
    n : int
        >= 1; ``test_tokens`` needs at least n tokens.

    Returns
    -------
    float in [0, 1]
    """
    n = _check_order(n)
    train = _as_token_list(train_tokens, "train_tokens")
    test = _as_token_list(test_tokens, "test_tokens")
    if not train:
        raise ValueError("train_tokens: expected a non-empty stream, got an empty one")
    if len(test) < n:
        raise ValueError(f"test_tokens: expected at least n = {n} tokens, got {len(test)}")
    seen = set(zip(*(train[i:] for i in range(n))))
    grams = list(zip(*(test[i:] for i in range(n))))
    return sum(g not in seen for g in grams) / len(grams)


def perplexity_table(
    train_tokens: Sequence[Token],
    test_tokens: Sequence[Token],
    orders: Sequence[int] = (1, 2, 3, 5),
    smoothings: Sequence[str] = ("laplace", "kneser-ney"),
    **model_kwargs: Any,
) -> List[Dict[str, Any]]:
    """Held-out perplexity of every (order, smoothing) pair, with timings.

    Parameters
    ----------
    train_tokens, test_tokens : sequences of tokens
    orders : sequence of int
    smoothings : sequence of str
        Names accepted by :class:`NGramLM`.
    **model_kwargs
        Passed to :class:`NGramLM` (``k``, ``discount``, ``unk``, ``min_count``).

    Returns
    -------
    list of dict
        One row per pair, in ``orders`` x ``smoothings`` order, with keys ``order``,
        ``smoothing``, ``perplexity``, ``unseen`` (share of unseen test n-grams),
        ``V``, ``train_tokens``, ``test_tokens``, ``fit_s``, ``eval_s``.
    """
    train = _as_token_list(train_tokens, "train_tokens")
    test = _as_token_list(test_tokens, "test_tokens")
    if not train:
        raise ValueError("train_tokens: expected a non-empty stream, got an empty one")
    if not test:
        raise ValueError("test_tokens: expected a non-empty stream, got an empty one")
    orders = [_check_order(o, "orders") for o in orders]
    for s in smoothings:
        if s not in _SMOOTHINGS:
            raise ValueError(f"smoothings: expected names from {_SMOOTHINGS}, got {s!r}")
    rows = []
    for n in orders:
        unseen = unseen_ngram_fraction(train, test, n) if len(test) >= n else float("nan")
        for s in smoothings:
            t0 = time.perf_counter()
            lm = NGramLM(n, s, **model_kwargs).fit(train)
            t1 = time.perf_counter()
            ppl = lm.perplexity(test)
            t2 = time.perf_counter()
            rows.append(
                {
                    "order": n,
                    "smoothing": s,
                    "perplexity": ppl,
                    "unseen": unseen,
                    "V": len(lm.vocab),
                    "train_tokens": len(train),
                    "test_tokens": len(test),
                    "fit_s": t1 - t0,
                    "eval_s": t2 - t1,
                }
            )
    return rows


_DEFAULT_COLUMNS = ("order", "smoothing", "perplexity", "unseen", "fit_s", "eval_s")
_HEADERS = {
    "order": "n",
    "smoothing": "smoothing",
    "perplexity": "perplexity",
    "unseen": "unseen n-grams",
    "V": "V",
    "train_tokens": "train tokens",
    "test_tokens": "test tokens",
    "fit_s": "fit (s)",
    "eval_s": "eval (s)",
}


def markdown_table(rows: Sequence[Dict[str, Any]], columns: Sequence[str] = _DEFAULT_COLUMNS) -> str:
    """Format :func:`perplexity_table` rows as a Markdown table (the book's Table 1.x)."""
    if not rows:
        raise ValueError("rows: expected at least one row, got none")

    def fmt(key: str, v: Any) -> str:
        if key == "perplexity":
            return f"{v:.1f}"
        if key == "unseen":
            return f"{100 * v:.1f}%"
        if key.endswith("_s"):
            return f"{v:.2f}"
        return str(v)

    head = "| " + " | ".join(_HEADERS.get(c, c) for c in columns) + " |"
    sep = "| " + " | ".join("---:" if c != "smoothing" else "---" for c in columns) + " |"
    body = ["| " + " | ".join(fmt(c, r[c]) for c in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])
