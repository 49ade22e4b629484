"""ps1-language-models: n-gram counts, add-k smoothing, perplexity, batchify/get_batch."""

from nb import md, setup, solution, test, notebook

TITLE = "Problem set 1: language models"

CELLS = [
    md(r"""
    # Problem set 1: language models

    Chapter 1 of the book. A language model gives the probability of the next token given
    the previous ones. You count n-grams, smooth them, measure a model with perplexity, and
    cut a token stream into the batches an RNN language model trains on.

    Do **not** call `course_lib`'s reference (`course_lib.ngram`, `course_lib.metrics`,
    `course_lib.data`): it is sealed while your code is graded, and a call scores 0 for that
    part. Hidden tests use other random streams.
    """),
    setup("setup", """
    from collections import Counter

    import numpy as np

    np.random.seed(0)

    from course_lib.grading import Score
    from course_lib.grading import ps1

    # the children's book: a stream over {Doug, Jane, Spot, saw, .}
    book = ps1.tokens(seed=0, length=40)
    print(" ".join(book))
    """),
    md(r"""
    ## Task 1: n-gram counts (1 point)

    An n-gram is a tuple of $n$ consecutive tokens. `ngram_counts(tokens, n)` returns a
    `Counter` mapping every n-gram of the stream, `tuple(tokens[t:t+n])` for
    $t = 0, \dots, M - n$, to how often it occurs ($M - n + 1$ n-grams in all).
    """),
    solution("ngram_counts", '''
    def ngram_counts(tokens, n):
        """Counter of the n-gram tuples of the stream (len(tokens) - n + 1 of them)."""
        ### BEGIN SOLUTION
        return Counter(tuple(tokens[t:t + n]) for t in range(len(tokens) - n + 1))
        ### END SOLUTION
    '''),
    test("test_ngram_counts", 1, """
    score = Score(1)
    ps1.check_ngram_counts(score, 0.5, ngram_counts, seed=0, n=2)
    ### BEGIN HIDDEN TESTS
    ps1.check_ngram_counts(score, 0.25, ngram_counts, seed=101, n=3, length=50)
    ps1.check_ngram_counts(score, 0.25, ngram_counts, seed=102, n=1, length=7)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 2: add-k smoothing (2 points)

    Unseen n-grams would get probability 0 (and the test set infinite perplexity). Add-k
    smoothing adds a pseudo-count $k$ to every n-gram; $k = 1$ is Laplace smoothing:

    $$p(w \mid h) = \frac{c(h, w) + k}{c(h) + k V}, \qquad c(h) = \sum_{w'} c(h, w')$$

    where $h$ is the context (the previous $n-1$ tokens), $c(h, w)$ the count of the n-gram
    $h + (w,)$ in `counts` (from `ngram_counts`) and $V$ the vocabulary size.
    `addk_prob(counts, context, word, V, k)` with `context` a tuple of $n-1$ tokens.
    """),
    solution("addk_prob", '''
    def addk_prob(counts, context, word, V, k=1.0):
        """p(word | context) with add-k smoothing from n-gram counts."""
        ### BEGIN SOLUTION
        context = tuple(context)
        c_h = sum(c for g, c in counts.items() if g[:-1] == context)
        return (counts.get(context + (word,), 0) + k) / (c_h + k * V)
        ### END SOLUTION
    '''),
    test("test_addk_prob", 2, """
    score = Score(2)
    ps1.check_addk_prob(score, 1, addk_prob, seed=0, n=2, k=1.0)
    ### BEGIN HIDDEN TESTS
    ps1.check_addk_prob(score, 0.5, addk_prob, seed=111, n=3, k=0.5)
    ps1.check_addk_prob(score, 0.5, addk_prob, seed=112, n=2, k=0.1, length=30)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 3: perplexity (1 point)

    Given the probability $p_t$ the model gave each of the $M$ tokens of a held-out text,

    $$\mathrm{PP} = \exp\Bigl(-\frac{1}{M} \sum_{t=1}^{M} \log p_t\Bigr)$$

    (natural log, per predicted token): the effective number of choices the model hesitates
    between. A uniform model over $V$ words has perplexity $V$. `probs` is a 1-D array.
    """),
    solution("perplexity", '''
    def perplexity(probs):
        """exp(-mean(log p)) of the probabilities a model gave each token."""
        ### BEGIN SOLUTION
        return float(np.exp(-np.mean(np.log(probs))))
        ### END SOLUTION
    '''),
    test("test_perplexity", 1, """
    score = Score(1)
    ps1.check_perplexity(score, 0.5, perplexity, seed=0)
    ### BEGIN HIDDEN TESTS
    ps1.check_perplexity(score, 0.5, perplexity, seed=121, M=3, V=11)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 4: batchify (2 points)

    A stream of $S$ ids is cut into $N$ contiguous pieces of length $T = \lfloor S/N \rfloor$
    (the remainder is dropped), laid side by side as the **columns** of a `(T, N)` array:
    `source[t, n] = ids[n*T + t]`. The alphabet in 4 columns:

        a g m s
        b h n t
        c i o u
        d j p v
        e k q w
        f l r x      (y and z are dropped)

    `batchify(ids, batch_size)` takes a 1-D NumPy array and returns the `(T, N)` array.
    """),
    solution("batchify", '''
    def batchify(ids, batch_size):
        """ids (S,) -> source (T, N) with source[t, n] = ids[n * T + t], T = S // N."""
        ### BEGIN SOLUTION
        T = len(ids) // batch_size
        return np.ascontiguousarray(np.asarray(ids)[: T * batch_size].reshape(batch_size, T).T)
        ### END SOLUTION
    '''),
    test("test_batchify", 2, """
    score = Score(2)
    ps1.check_batchify(score, 1, batchify, alphabet=True, N=4)
    ### BEGIN HIDDEN TESTS
    ps1.check_batchify(score, 0.5, batchify, seed=131, S=23, N=5)
    ps1.check_batchify(score, 0.5, batchify, seed=132, S=7, N=1)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 5: get_batch (2 points)

    Truncated BPTT walks down the rows in windows of `bptt`: the input is
    `x = source[i : i+L]` and the target is the same window shifted by one step,
    `y = source[i+1 : i+1+L]`, with `L = min(bptt, T - 1 - i)` (the last window may be shorter).
    On the alphabet, `get_batch(source, 0, 2)` gives `x = [[a g m s], [b h n t]]` and
    `y = [[b h n t], [c i o u]]`.
    """),
    solution("get_batch", '''
    def get_batch(source, i, bptt):
        """The window x = source[i:i+L] and its targets y = source[i+1:i+1+L]."""
        ### BEGIN SOLUTION
        L = min(bptt, source.shape[0] - 1 - i)
        return source[i:i + L], source[i + 1:i + 1 + L]
        ### END SOLUTION
    '''),
    test("test_get_batch", 2, """
    score = Score(2)
    ps1.check_get_batch(score, 1, get_batch, seed=0, T=9, N=3, bptt=4)
    ### BEGIN HIDDEN TESTS
    ps1.check_get_batch(score, 0.5, get_batch, seed=141, T=12, N=2, bptt=5)
    ps1.check_get_batch(score, 0.5, get_batch, seed=142, T=2, N=1, bptt=3)
    ### END HIDDEN TESTS
    score
    """),
]

NOTEBOOK = notebook(CELLS, TITLE)
