"""course_lib.ngram: normalisation, the smoothing formulas, perplexity, sampling, tables."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from course_lib.data import childrens_book, python_docs_text, sentence_report, word_tokens
from course_lib.ngram import NGramLM, markdown_table, perplexity_table, unseen_ngram_fraction


@pytest.fixture(scope="module")
def docs_split():
    """Word-level Python documentation prose, 90/10 split (the benchmark's split)."""
    tokens = word_tokens(python_docs_text(), skip_blank=True)
    cut = int(0.9 * len(tokens))
    return tokens[:cut], tokens[cut:]


@pytest.fixture(scope="module")
def small_text():
    # Enough repetition for counts of 1, 2, 3 and 4+, enough variety for unseen contexts.
    return word_tokens(python_docs_text()[:6000], skip_blank=True)


CONTEXTS = [(), ("the",), ("of", "the"), ("in", "the", "same"), ("zebra",), ("the", "zebra"), ("<eos>",)]


# ================================================================= reference Kneser-Ney
def reference_kn_prob(train, n, vocab, w, h, fixed_discount=None):
    """Interpolated modified Kneser-Ney straight from Chen & Goodman (1998), by scanning."""
    raw = {k: Counter(tuple(train[i : i + k]) for i in range(len(train) - k + 1)) for k in range(1, n + 1)}
    ckn = {n: raw[n]}
    for k in range(n - 1, 0, -1):
        ckn[k] = Counter(g[1:] for g in raw[k + 1])

    def discounts(k):
        if fixed_discount is not None:
            return (fixed_discount,) * 3
        nr = Counter(ckn[k].values())
        Y = nr[1] / (nr[1] + 2 * nr[2])
        return (1 - 2 * Y * nr[2] / nr[1], 2 - 3 * Y * nr[3] / nr[2], 3 - 4 * Y * nr[4] / nr[3])

    def p(k, ctx):
        if k == 0:
            return 1 / len(vocab)
        lower = p(k - 1, ctx[1:])
        follow = {g[-1]: c for g, c in ckn[k].items() if g[:-1] == ctx and c > 0}
        total = sum(follow.values())
        if total == 0:
            return lower
        D = discounts(k)
        d = lambda c: 0 if c == 0 else D[min(c, 3) - 1]  # noqa: E731
        gamma = sum(d(c) for c in follow.values()) / total
        return max(follow.get(w, 0) - d(follow.get(w, 0)), 0) / total + gamma * lower

    ctx = tuple(t if t in vocab else "<unk>" for t in h)[len(h) - (n - 1) :] if n > 1 else ()
    return p(len(ctx) + 1, ctx)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_kneser_ney_matches_chen_goodman_reference(small_text, n):
    lm = NGramLM(n, "kneser-ney").fit(small_text)
    vocab = set(lm.vocab)
    for h in [(), ("the",), ("of", "the"), ("zebra", "the")]:
        ours = lm.distribution(h)
        for w in ("the", "of", "a", "is", "<eos>", "<unk>", lm.vocab[7]):
            ref = reference_kn_prob(small_text, n, vocab, w, h)
            assert lm.prob(w, h) == pytest.approx(ref, rel=1e-12, abs=1e-15), (w, h)
            assert ours[lm.vocab.index(w)] == pytest.approx(ref, rel=1e-12, abs=1e-15)


def test_kneser_ney_fixed_discount_matches_reference(small_text):
    lm = NGramLM(3, "kneser-ney", discount=0.75).fit(small_text)
    assert lm.discounts == {1: (0.75,) * 3, 2: (0.75,) * 3, 3: (0.75,) * 3}
    for w in ("the", "is", "<unk>"):
        ref = reference_kn_prob(small_text, 3, set(lm.vocab), w, ("of", "the"), fixed_discount=0.75)
        assert lm.prob(w, ("of", "the")) == pytest.approx(ref, rel=1e-12)


def test_modified_discounts_from_count_of_counts():
    # Counts 1, 1, 1, 1, 2, 2, 3, 4 -> n1=4, n2=2, n3=1, n4=1.
    counts = np.array([1, 1, 1, 1, 2, 2, 3, 4])
    D = NGramLM._estimate_discounts(counts)
    Y = 4 / (4 + 2 * 2)
    assert D == pytest.approx((1 - 2 * Y * 2 / 4, 2 - 3 * Y * 1 / 2, 3 - 4 * Y * 1 / 1))


# ====================================================================== normalisation
@pytest.mark.parametrize(
    "n,smoothing,kw",
    [
        (1, "laplace", {}),
        (2, "laplace", {}),
        (3, "laplace", {}),
        (3, "add-k", {"k": 0.01}),
        (1, "kneser-ney", {}),
        (2, "kneser-ney", {}),
        (3, "kneser-ney", {}),
        (4, "kneser-ney", {}),
        (3, "kneser-ney", {"discount": 0.5}),
        (3, "kneser-ney", {"min_count": 2}),
    ],
)
def test_probabilities_sum_to_one_seen_and_unseen_contexts(small_text, n, smoothing, kw):
    lm = NGramLM(n, smoothing, **kw).fit(small_text)
    assert "<unk>" in lm.vocab and "<eos>" in lm.vocab
    for h in CONTEXTS:
        probs = np.array([lm.prob(w, h) for w in lm.vocab])
        assert (probs > 0).all()
        assert probs.sum() == pytest.approx(1.0, abs=1e-12), h
        np.testing.assert_allclose(lm.distribution(h), probs, rtol=1e-12, atol=1e-15)


def test_laplace_formula_by_hand():
    tokens = "a b a c a b".split()
    lm = NGramLM(2, "laplace").fit(tokens)
    assert lm.vocab == ["<unk>", "a", "b", "c"]
    V = 4
    # c(a, b) = 2, c(a) as a context = 3 (a b, a c, a b).
    assert lm.prob("b", ["a"]) == pytest.approx((2 + 1) / (3 + V))
    assert lm.prob("a", ["a"]) == pytest.approx((0 + 1) / (3 + V))
    # The unseen context "<unk>" gives the uniform distribution.
    assert lm.prob("a", ["zzz"]) == pytest.approx(1 / V)
    # The first token has no history: the unigram estimate (c(b) + 1) / (6 + V).
    assert lm.prob("b") == pytest.approx((2 + 1) / (6 + V))
    addk = NGramLM(2, "add-k", k=0.5).fit(tokens)
    assert addk.prob("b", ["a"]) == pytest.approx((2 + 0.5) / (3 + 0.5 * V))


# ========================================================================= perplexity
def test_uniform_model_perplexity_equals_V():
    vocab = [f"w{i}" for i in range(37)]
    lm = NGramLM(1, "laplace", unk=None).fit(vocab)  # each token once: (1 + 1) / (37 + 37)
    rng = np.random.default_rng(0)
    held_out = [vocab[i] for i in rng.integers(0, 37, size=500)]
    assert lm.perplexity(held_out) == pytest.approx(37.0, rel=1e-12)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        lm.perplexity(["w1", "unknown"])


def test_perplexity_is_exp_of_mean_nll(small_text):
    lm = NGramLM(3, "kneser-ney").fit(small_text[:500])
    test = small_text[500:900]
    lp = lm.token_logprobs(test)
    assert lp.shape == (400,)
    by_hand = [math.log(lm.prob(w, test[max(0, i - 2) : i])) for i, w in enumerate(test)]
    np.testing.assert_allclose(lp, by_hand, rtol=1e-12)
    assert lm.logprob(test) == pytest.approx(sum(by_hand))
    assert lm.perplexity(test) == pytest.approx(math.exp(-sum(by_hand) / 400))
    # A context conditions the first tokens without being scored.
    with_ctx = lm.token_logprobs(test[2:], context=test[:2])
    np.testing.assert_allclose(with_ctx, lp[2:], rtol=1e-12)


@pytest.mark.parametrize("smoothing", ["laplace", "kneser-ney"])
def test_stream_start_uses_the_shorter_history(small_text, smoothing):
    # Token t of a stream (t < n - 1) sees only t predecessors; the vectorised scorer and
    # prob() with an explicit short context must agree, for every context length.
    lm = NGramLM(5, smoothing).fit(small_text[:800])
    test = small_text[800:830]
    lp = lm.token_logprobs(test)
    by_hand = [math.log(lm.prob(w, test[max(0, i - 4) : i])) for i, w in enumerate(test)]
    np.testing.assert_allclose(lp, by_hand, rtol=1e-12)
    # Only the last n - 1 = 4 context tokens matter.
    assert lm.prob("the", ["x", "y"] + test[:4]) == lm.prob("the", test[:4])
    # A 3-token context (seen in training) gives the 4-gram estimate, not a shorter one.
    i = next(i for i in range(800) if lm.counts(small_text[i : i + 3]) != lm.counts(small_text[i + 1 : i + 3]))
    ctx, w = small_text[i : i + 3], small_text[i + 3]
    if smoothing == "laplace":
        expected = (lm.count(ctx + [w]) + 1) / (sum(lm.counts(ctx).values()) + len(lm.vocab))
        assert lm.prob(w, ctx) == pytest.approx(expected, rel=1e-12)
    assert lm.prob(w, ctx) != lm.prob(w, ctx[1:])


@pytest.mark.parametrize("tokens", [["a"], ["a", "b"], list("abcab")])
@pytest.mark.parametrize("smoothing", ["laplace", "kneser-ney"])
def test_corpus_shorter_than_the_order(tokens, smoothing):
    lm = NGramLM(5, smoothing).fit(tokens)
    for h in [(), ("a",), ("b", "a", "b"), ("q", "q", "q", "q")]:
        assert lm.distribution(h).sum() == pytest.approx(1.0, abs=1e-12)
        assert sum(lm.prob(w, h) for w in lm.vocab) == pytest.approx(1.0, abs=1e-12)
    assert np.isfinite(lm.perplexity(["a", "b", "zzz", "a"]))


def test_kneser_ney_beats_laplace_on_python_docs(docs_split):
    train, test = docs_split
    ppl = {(n, s): NGramLM(n, s).fit(train).perplexity(test) for n in (1, 2, 3) for s in ("laplace", "kneser-ney")}
    for n in (2, 3):
        assert ppl[(n, "kneser-ney")] < ppl[(n, "laplace")], ppl
    # Context helps a well-smoothed model and hurts Laplace (too much mass on unseen words).
    assert ppl[(3, "kneser-ney")] < ppl[(2, "kneser-ney")] < ppl[(1, "kneser-ney")]
    assert ppl[(3, "laplace")] > ppl[(2, "laplace")]


def test_childrens_book_bigram_mistakes_and_trigram_fix():
    book = childrens_book(500, seed=0).split()
    bigram = NGramLM(2, "kneser-ney").fit(book)
    trigram = NGramLM(3, "kneser-ney").fit(book)
    assert bigram.vocab == [".", "<unk>", "Doug", "Jane", "Spot", "saw"]
    # After "Doug" a bigram cannot tell subject from object: "saw" and "." are both likely.
    assert 0.3 < bigram.prob("saw", ["Doug"]) < 0.7
    assert bigram.prob("saw", ["Doug"]) + bigram.prob(".", ["Doug"]) > 0.99
    # Two words of context settle it, and rule out "Doug saw Doug".
    assert trigram.prob(".", ["saw", "Doug"]) > 0.95 and trigram.prob("saw", [".", "Doug"]) > 0.95
    assert trigram.prob("Doug", ["Doug", "saw"]) < 0.01 < bigram.prob("Doug", ["saw"])
    bi = sentence_report(bigram.generate(600, prefix=["."], seed=0))
    tri = sentence_report(trigram.generate(600, prefix=["."], seed=0))
    assert bi["reflexive"] + bi["run-on"] + bi["fragment"] > 10
    assert tri["ok"] > 0.9 * sum(tri.values())


# =========================================================================== sampling
def test_generate_is_seeded_and_follows_the_data():
    tokens = "a b c " * 50
    lm = NGramLM(2, "kneser-ney").fit(tokens.split())
    out = lm.generate(12, prefix=["a"], seed=0)
    assert len(out) == 12 and set(out) <= set(lm.vocab)
    assert out == lm.generate(12, prefix=["a"], seed=0)
    # Low temperature is (almost) greedy: the only continuation ever seen.
    assert lm.generate(9, prefix=["a"], temperature=0.01, seed=1) == "b c a b c a b c a".split()
    diverse = NGramLM(1, "laplace").fit(python_docs_text()[:2000].split())
    a = diverse.generate(50, seed=1)
    assert a != diverse.generate(50, seed=2)
    hot = set(diverse.generate(300, temperature=5.0, seed=3))
    cold = set(diverse.generate(300, temperature=0.2, seed=3))
    assert len(hot) > len(cold)


# ========================================================================= count tables
def test_count_tables():
    tokens = "the cat sat on the mat the cat ran".split()
    lm = NGramLM(3, "kneser-ney").fit(tokens)
    assert lm.count(["the"]) == 3 and lm.count(["the", "cat"]) == 2 and lm.count(["the", "cat", "sat"]) == 1
    assert lm.count(["zebra"]) == 0 and lm.count(["cat", "the"]) == 0
    assert lm.counts(["the"]) == {"cat": 2, "mat": 1}
    assert lm.counts() == {"the": 3, "cat": 2, "mat": 1, "on": 1, "ran": 1, "sat": 1}
    assert lm.counts(["the", "cat"]) == {"ran": 1, "sat": 1}
    assert lm.counts(["dog"]) == {}
    # "cat" follows only "the"; "the" follows "on" and "mat" (its first use has no left context).
    assert lm.continuation_count(["cat"]) == 1 and lm.continuation_count(["the"]) == 2
    assert lm.continuation_count(["the", "cat"]) == 1  # "mat the cat"
    with pytest.raises(ValueError, match="ngram"):
        lm.count(["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="context"):
        lm.counts(["a", "b", "c"])


def test_unseen_ngram_fraction_grows_with_n(docs_split):
    train, test = docs_split
    fractions = [unseen_ngram_fraction(train, test, n) for n in (1, 2, 3, 4, 5)]
    assert all(0 <= f <= 1 for f in fractions)
    assert fractions == sorted(fractions) and fractions[-1] > 0.5 > fractions[0]
    assert unseen_ngram_fraction(train[:1000], train[:1000], 3) == 0.0
    assert unseen_ngram_fraction(list("ab"), list("abc"), 1) == pytest.approx(1 / 3)


def test_perplexity_table_and_markdown(small_text):
    rows = perplexity_table(small_text[:700], small_text[700:], orders=(1, 2), smoothings=("laplace", "kneser-ney"))
    assert [(r["order"], r["smoothing"]) for r in rows] == [
        (1, "laplace"), (1, "kneser-ney"), (2, "laplace"), (2, "kneser-ney")
    ]
    for r in rows:
        direct = NGramLM(r["order"], r["smoothing"]).fit(small_text[:700]).perplexity(small_text[700:])
        assert r["perplexity"] == pytest.approx(direct)
        assert r["fit_s"] >= 0 and r["eval_s"] >= 0 and r["test_tokens"] == len(small_text) - 700
    md = markdown_table(rows)
    lines = md.splitlines()
    assert len(lines) == 6 and lines[0].startswith("| n | smoothing | perplexity")
    assert f"{rows[3]['perplexity']:.1f}" in lines[5]


# ============================================================================== errors
@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: NGramLM(0), "n"),
        (lambda: NGramLM(-2), "n"),
        (lambda: NGramLM(2.5), "n"),
        (lambda: NGramLM(2, "good-turing"), "smoothing"),
        (lambda: NGramLM(2, "add-k", k=0), "k"),
        (lambda: NGramLM(2, discount=1.5), "discount"),
        (lambda: NGramLM(2, min_count=0), "min_count"),
        (lambda: NGramLM(2).fit([]), "tokens"),
        (lambda: NGramLM(2).fit(["a", "b"]).perplexity([]), "tokens"),
        (lambda: NGramLM(2).fit(["a", "b"]).generate(0), "n"),
        (lambda: NGramLM(2).fit(["a", "b"]).generate(3, temperature=0), "temperature"),
        (lambda: unseen_ngram_fraction(["a"], ["a"], 0), "n"),
        (lambda: perplexity_table([], ["a"]), "train_tokens"),
    ],
)
def test_bad_arguments_raise_value_error(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="fit"):
        NGramLM(2).prob("a")
