"""Checks for ps1-language-models: n-gram counts, add-k probabilities, perplexity, batchify/get_batch.

The references are :class:`course_lib.ngram.NGramLM` (add-k, closed vocabulary),
:func:`course_lib.metrics.perplexity` and :func:`course_lib.data.batchify` / ``get_batch``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .checks import Score, assert_close, describe, seed_label
from .sealing import guard, reference

__all__ = ["WORDS", "tokens", "check_ngram_counts", "check_addk_prob", "check_perplexity",
           "check_batchify", "check_get_batch"]

WORDS = ["Doug", "Jane", "Spot", "saw", "."]


def tokens(seed: int, length: int = 60, vocab=WORDS) -> list:
    """A seeded random token stream over ``vocab``."""
    rng = np.random.default_rng(seed)
    return [vocab[k] for k in rng.integers(0, len(vocab), size=length)]


def _lm(toks, n, k):
    NGramLM = reference("course_lib.ngram.NGramLM")
    return NGramLM(n, "add-k", k=k, unk=None).fit(toks)


def check_ngram_counts(score: Score, weight: float, fn, seed: int, n: int = 2,
                       length: int = 60) -> None:
    """One part: every n-gram of the stream with its count (the reference's counts)."""
    toks = tokens(seed, length)
    lm = _lm(toks, n, 1.0)
    inputs = {"tokens": f"list of {len(toks)}", "n": n}

    def check():
        got = guard(fn, "ngram_counts")(list(toks), n)
        if not isinstance(got, dict):
            raise AssertionError(f"ngram_counts: expected a Counter/dict of n-gram tuples, got {type(got).__name__}")
        expected_total = max(len(toks) - n + 1, 0)
        total = sum(got.values())
        for g, c in got.items():
            if not isinstance(g, tuple) or len(g) != n:
                raise AssertionError(f"ngram_counts(tokens ({len(toks)} tokens), n={n}): keys should be "
                                     f"tuples of {n} tokens, got {g!r}")
            if c != lm.count(g):
                raise AssertionError(f"ngram_counts(tokens ({len(toks)} tokens), n={n}): count of {g!r}: "
                                     f"expected {lm.count(g)}, got {c}")
        if total != expected_total:
            raise AssertionError(f"ngram_counts(tokens ({len(toks)} tokens), n={n}): the counts add up to "
                                 f"{total}, expected {expected_total} = len(tokens) - n + 1 n-grams")

    score.part(weight, f"ngram_counts ({seed_label(seed)}, n={n}) [{describe(inputs)}]", check)


def check_addk_prob(score: Score, weight: float, fn, seed: int, n: int = 2, k: float = 1.0,
                    length: int = 60) -> None:
    """Three parts: a seen n-gram, an unseen word after a seen context, an unseen context."""
    toks = tokens(seed, length)
    lm = _lm(toks, n, k)
    counts = Counter(zip(*(toks[j:] for j in range(n))))
    V = len(lm.vocab)
    seen = sorted(counts)
    rng = np.random.default_rng(seed + 1)
    g_seen = seen[int(rng.integers(len(seen)))]
    ctx_seen = g_seen[:-1]
    unseen_words = [w for w in lm.vocab if counts[ctx_seen + (w,)] == 0]
    all_ctx = {g[:-1] for g in counts}
    unseen_ctx = next((tuple(c) for c in
                       (tuple(rng.choice(lm.vocab, size=n - 1)) for _ in range(200))
                       if tuple(c) not in all_ctx), None)
    cases = [("a seen n-gram", ctx_seen, g_seen[-1])]
    if unseen_words:
        cases.append(("an unseen word after a seen context", ctx_seen, unseen_words[0]))
    if unseen_ctx is not None:
        cases.append(("an unseen context", unseen_ctx, lm.vocab[0]))
    for title, ctx, word in cases:
        def check(ctx=ctx, word=word):
            exp = lm.prob(word, list(ctx))
            got = guard(fn, "addk_prob")(counts.copy(), tuple(ctx), word, V, k)
            assert_close(f"addk_prob(counts, context={ctx!r}, word={word!r}, V={V}, k={k})",
                         "p(word | context)", np.float64(got), np.float64(exp), None,
                         check_dtype=False, against="(c(context, word) + k) / (c(context) + k V)")

        score.part(weight / len(cases), f"addk_prob: {title} ({seed_label(seed)}, n={n}, k={k})", check)


def check_perplexity(score: Score, weight: float, fn, seed: int, M: int = 20, V: int = 7) -> None:
    """Two parts: random probabilities against course_lib.metrics, and a uniform model (PP = V)."""
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.05, 1.0, size=M)
    PP = reference("course_lib.metrics.perplexity")

    def check_random():
        got = guard(fn, "perplexity")(probs.copy())
        assert_close("perplexity", "perplexity", np.float64(got),
                     np.float64(PP(-np.mean(np.log(probs)))), {"probs": probs}, check_dtype=False,
                     against="exp(-mean(log p))")

    def check_uniform():
        got = guard(fn, "perplexity")(np.full(M, 1.0 / V))
        assert_close("perplexity", "perplexity of a uniform model over V words", np.float64(got),
                     np.float64(V), {"probs": np.full(M, 1.0 / V)}, check_dtype=False,
                     against=f"V = {V}")

    score.part(weight / 2, f"perplexity ({seed_label(seed)}, {M} probabilities)", check_random)
    score.part(weight / 2, f"perplexity of a uniform model is V = {V}", check_uniform)


def _same_array(fn_name, what, got, exp, inputs):
    if hasattr(got, "detach"):
        got = got.detach().cpu().numpy()
    if not isinstance(got, np.ndarray):
        raise AssertionError(f"{fn_name}: {what} should be a numpy array, got {type(got).__name__}")
    if got.shape != exp.shape:
        raise AssertionError(f"{fn_name}: {what} has shape {got.shape}, expected {exp.shape}\n"
                             f"  inputs: {describe(inputs)}")
    if not np.array_equal(got, exp):
        bad = np.argwhere(got != exp)[0]
        col = int(bad[1]) if len(bad) > 1 else 0
        raise AssertionError(
            f"{fn_name}: {what} differs from the reference\n  inputs: {describe(inputs)}\n"
            f"  first difference at {tuple(int(b) for b in bad)}\n"
            f"  expected column {col}: {exp[:, col][:8].tolist()}\n"
            f"  got      column {col}: {got[:, col][:8].tolist() if got.ndim > 1 else got[:8].tolist()}")


def check_batchify(score: Score, weight: float, fn, seed: int = None, S: int = 26, N: int = 4,
                   alphabet: bool = False) -> None:
    """One part: batchify(ids, N) equals course_lib.data.batchify (columns are sequences)."""
    if alphabet:
        ids = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    else:
        ids = np.random.default_rng(seed).integers(0, 50, size=S)
    inputs = {"ids": ids, "batch_size": N}

    def check():
        exp = reference("course_lib.data.batchify")(ids, N)
        got = guard(fn, "batchify")(ids.copy(), N)
        _same_array("batchify", "source", got, exp, inputs)

    what = "the alphabet" if alphabet else seed_label(seed)
    score.part(weight, f"batchify ({what}, N={N}) [{describe(inputs)}]", check)


def check_get_batch(score: Score, weight: float, fn, seed: int, T: int = 9, N: int = 3,
                    bptt: int = 4) -> None:
    """Two parts: the full windows (x and the shifted y), and the short last window."""
    source = np.random.default_rng(seed).integers(0, 50, size=(T, N))
    starts = list(range(0, T - 1, bptt))
    ref = reference("course_lib.data.get_batch")

    def run(i):
        exp = ref(source, i, bptt)
        got = guard(fn, "get_batch")(source.copy(), i, bptt)
        if not isinstance(got, tuple) or len(got) != 2:
            raise AssertionError(f"get_batch: expected (x, y), got {type(got).__name__}")
        inputs = {"source": source, "i": i, "bptt": bptt}
        _same_array("get_batch", "x", got[0], exp[0], inputs)
        _same_array("get_batch", "y", got[1], exp[1], inputs)

    full = [i for i in starts if i + bptt <= T - 1]
    short = [i for i in starts if i + bptt > T - 1]

    def check_full():
        for i in full:
            run(i)

    def check_short():
        for i in short:
            run(i)

    parts = ([(check_full, "full windows")] if full else []) + (
        [(check_short, "the short last window")] if short else [])
    for check, title in parts:
        score.part(weight / len(parts), f"get_batch: {title} ({seed_label(seed)}, source ({T}, {N}), bptt {bptt})", check)
