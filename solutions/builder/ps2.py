"""ps2-rnn-forward: the RNN step and sequence forward, the output layer and loss, torch.nn.RNN."""

from nb import md, setup, solution, test, notebook

TITLE = "Problem set 2: the recurrent network, unrolled (forward)"

CELLS = [
    md(r"""
    # Problem set 2: the recurrent network, unrolled

    Chapter 2 of the book. You implement, in NumPy, the forward pass of a vanilla RNN language
    model: one step, the whole sequence, the output layer and the softmax cross-entropy loss,
    and check that your RNN computes exactly what `torch.nn.RNN` computes.

    Conventions (the book's): shapes are **time-major**, a batch of sequences is `(T, N, D)`
    (T steps, N sequences, D features); hidden states are `(T, N, H)`; weights act on row
    vectors, `Wx (D, H)`, `Wh (H, H)`, `b (H,)`. Every function keeps the dtype it is given
    (float32 in, float32 out). Do **not** call `course_lib`'s reference implementation: it is
    sealed while your code is graded, and a call scores 0 for that part.

    Run the cell below first. Each task is followed by a locked test cell; run it to see what
    passes. Hidden tests re-check your functions on other random inputs and edge shapes
    (T = 1, N = 1, float32).
    """),
    setup("setup", """
    import numpy as np
    import torch

    np.random.seed(0)
    torch.manual_seed(0)

    from course_lib.grading import Score
    from course_lib.grading import ps2
    """),
    md(r"""
    ## Task 1: one step (2 points)

    $$a[t] = x[t] W_x + h[t-1] W_h + b, \qquad h[t] = \tanh(a[t])$$

    with `x (N, D)`, `h_prev (N, H)`, `Wx (D, H)`, `Wh (H, H)`, `b (H,)`; returns
    `h (N, H)` and a `cache` (anything you will need for the backward pass in ps3, e.g. a
    dict of the inputs and `h`).
    """),
    solution("rnn_step_forward", '''
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        """One RNN step: h = tanh(x @ Wx + h_prev @ Wh + b).

        x (N, D), h_prev (N, H), Wx (D, H), Wh (H, H), b (H,) -> h (N, H), cache.
        """
        ### BEGIN SOLUTION
        a = x @ Wx + h_prev @ Wh + b          # (N, H)
        h = np.tanh(a)
        cache = {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "h": h}
        return h, cache
        ### END SOLUTION
    '''),
    test("test_rnn_step_forward", 2, """
    score = Score(2)
    ps2.check_rnn_step_forward(score, 1, rnn_step_forward, seed=0)
    ps2.check_rnn_step_forward(score, 0.5, rnn_step_forward, seed=1, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps2.check_rnn_step_forward(score, 0.5, rnn_step_forward, seed=201, N=1, D=2, H=3)
    ps2.check_rnn_step_forward(score, 0.5, rnn_step_forward, seed=202, N=4, D=3, H=6, dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 2: the unrolled sequence (2 points)

    Starting from $h[-1] = h_0$, apply your step for $t = 0, \dots, T-1$:
    $h[t] = \tanh(x[t] W_x + h[t-1] W_h + b)$.

    `x (T, N, D)`, `h0 (N, H)` -> `h (T, N, H)` (the states $h[0..T-1]$, *not* $h_0$) and a
    cache. Use your `rnn_step_forward`; allocate `h` with the dtype of `x`.
    """),
    solution("rnn_forward", '''
    def rnn_forward(x, h0, Wx, Wh, b):
        """All hidden states of the RNN over x (T, N, D) from h0 (N, H) -> h (T, N, H), cache."""
        ### BEGIN SOLUTION
        T, N, _ = x.shape
        H = h0.shape[1]
        h = np.empty((T, N, H), dtype=x.dtype)
        caches = []
        h_prev = h0
        for t in range(T):
            h[t], cache_t = rnn_step_forward(x[t], h_prev, Wx, Wh, b)
            caches.append(cache_t)
            h_prev = h[t]
        return h, caches
        ### END SOLUTION
    '''),
    test("test_rnn_forward", 2, """
    score = Score(2)
    ps2.check_rnn_forward(score, 1, rnn_forward, seed=0, T=4)
    ps2.check_rnn_forward(score, 0.5, rnn_forward, seed=1, T=3, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps2.check_rnn_forward(score, 0.5, rnn_forward, seed=211, T=1, N=1, D=2, H=3)
    ps2.check_rnn_forward(score, 0.5, rnn_forward, seed=212, T=6, N=2, D=3, H=4, dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 3: scores over the vocabulary (1 point)

    The output layer maps every hidden state to scores over the V words:
    $s[t] = h[t] W + b$, for `x (..., H)` (e.g. `(T, N, H)`), `W (H, V)`, `b (V,)` ->
    `out (..., V)` and a cache.
    """),
    solution("affine_forward", '''
    def affine_forward(x, W, b):
        """out = x @ W + b for x (..., H), W (H, V), b (V,) -> out (..., V), cache."""
        ### BEGIN SOLUTION
        out = x @ W + b
        return out, {"x": x, "W": W}
        ### END SOLUTION
    '''),
    test("test_affine_forward", 1, """
    score = Score(1)
    ps2.check_affine_forward(score, 0.5, affine_forward, seed=0)
    ps2.check_affine_forward(score, 0.25, affine_forward, seed=1, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps2.check_affine_forward(score, 0.25, affine_forward, seed=221, lead=(1, 1), H=2, V=3)
    ps2.check_affine_forward(score, 0.25, affine_forward, seed=222, lead=(5,), dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 4: softmax cross-entropy (3 points)

    With $p[t] = \mathrm{softmax}(s[t])$ over the last axis and a mask $m$ (1 counts a
    position, 0 ignores it, e.g. padding; `None` means all ones):

    $$L = \frac{1}{\sum m} \sum_{t,n} m[t,n]\,\bigl(-\log p[t, n, y[t,n]]\bigr), \qquad
    \frac{\partial L}{\partial s} = \frac{m\,(p - \mathrm{onehot}(y))}{\sum m}$$

    `logits (..., V)`, int `targets (...)`, optional `mask (...)` -> `(loss, dlogits)`: a scalar
    of the logits' dtype and `dlogits (..., V)`. Subtract the row maximum before `exp`: the
    tests use logits in the thousands, where `exp` overflows float64 without it.
    """),
    solution("softmax_cross_entropy", '''
    def softmax_cross_entropy(logits, targets, mask=None):
        """Mean (masked) cross-entropy of softmax(logits) and its gradient -> (loss, dlogits)."""
        ### BEGIN SOLUTION
        dtype = logits.dtype
        m = np.ones(logits.shape[:-1], dtype=dtype) if mask is None else mask.astype(dtype)
        count = m.sum()
        shifted = logits - logits.max(axis=-1, keepdims=True)
        logsumexp = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        logp = shifted - logsumexp                                  # (..., V)
        logp_y = np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
        loss = dtype.type(-(m * logp_y).sum() / count)
        dlogits = np.exp(logp)
        np.put_along_axis(dlogits, targets[..., None],
                          np.take_along_axis(dlogits, targets[..., None], axis=-1) - 1, axis=-1)
        dlogits *= (m / count)[..., None]
        return loss, dlogits.astype(dtype)
        ### END SOLUTION
    '''),
    test("test_softmax_cross_entropy", 3, """
    score = Score(3)
    ps2.check_softmax_cross_entropy(score, 1, softmax_cross_entropy, seed=0)
    # the task's requirements, each visible: the mask, float32, and logits in the thousands
    # (exp overflows float64 without the max subtracted)
    ps2.check_softmax_cross_entropy(score, 0.5, softmax_cross_entropy, seed=1, shape=(4, 2), masked=True)
    ps2.check_softmax_cross_entropy(score, 0.5, softmax_cross_entropy, seed=2, dtype="float32", masked=True)
    ps2.check_softmax_cross_entropy(score, 0.5, softmax_cross_entropy, seed=3, scale=1000.0)
    ### BEGIN HIDDEN TESTS
    ps2.check_softmax_cross_entropy(score, 0.5, softmax_cross_entropy, seed=231, shape=(1, 1), V=3)
    ps2.check_softmax_cross_entropy(score, 0.5, softmax_cross_entropy, seed=232, shape=(5, 2), masked=True)
    ps2.check_softmax_cross_entropy(score, 0.5, softmax_cross_entropy, seed=233, shape=(3, 2), dtype="float32", masked=True)
    ps2.check_softmax_cross_entropy(score, 0.5, softmax_cross_entropy, seed=234, shape=(4,), scale=300.0)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 5: your RNN is `torch.nn.RNN` (2 points)

    `torch.nn.RNN` computes $h[t] = \tanh(x[t] W_{ih}^\top + b_{ih} + h[t-1] W_{hh}^\top + b_{hh})$
    and stores `weight_ih_l0 (H, D)`, `weight_hh_l0 (H, H)`, `bias_ih_l0 (H,)`, `bias_hh_l0 (H,)`.
    Write `rnn_weights_from_torch(rnn)` returning NumPy `(Wx (D, H), Wh (H, H), b (H,))` in this
    course's layout, so that `rnn_forward(x, h0, Wx, Wh, b)[0]` equals `rnn(x, h0[None])[0]`.
    (Use `.detach().numpy()`.)
    """),
    solution("rnn_weights_from_torch", '''
    def rnn_weights_from_torch(rnn):
        """(Wx (D, H), Wh (H, H), b (H,)) of a one-layer torch.nn.RNN, in the course's layout."""
        ### BEGIN SOLUTION
        Wx = rnn.weight_ih_l0.detach().numpy().T.copy()
        Wh = rnn.weight_hh_l0.detach().numpy().T.copy()
        b = (rnn.bias_ih_l0 + rnn.bias_hh_l0).detach().numpy()
        return Wx, Wh, b
        ### END SOLUTION
    '''),
    test("test_torch_rnn", 2, """
    score = Score(2)
    ps2.check_torch_rnn(score, 1, rnn_weights_from_torch, rnn_forward, seed=0)
    ### BEGIN HIDDEN TESTS
    ps2.check_torch_rnn(score, 0.5, rnn_weights_from_torch, rnn_forward, seed=241, T=1, N=1, D=2, H=3)
    ps2.check_torch_rnn(score, 0.5, rnn_weights_from_torch, rnn_forward, seed=242, T=7, N=3, D=5, H=4)
    ### END HIDDEN TESTS
    score
    """),
]

NOTEBOOK = notebook(CELLS, TITLE)
