"""ps3-bptt: RNN backward, the gradient check, clipping, truncated BPTT on the alphabet."""

from nb import md, setup, solution, test, notebook

TITLE = "Problem set 3: backpropagation through time"

CELLS = [
    md(r"""
    # Problem set 3: backpropagation through time

    Chapter 3 of the book. You derive and implement the backward pass of the RNN (one step,
    then the whole sequence), check it numerically, clip exploding gradients, and train a tiny
    character RNN on the alphabet with truncated BPTT.

    Shapes are time-major (`x (T, N, D)`, `h (T, N, H)`), weights act on row vectors
    (`Wx (D, H)`, `Wh (H, H)`, `b (H,)`), every function keeps its input dtype. The forward
    pass, the output layer and the loss are given below (locked) so that your backward
    receives their caches. Do **not** call `course_lib`'s reference: it is sealed while your
    code is graded (a call scores 0 for that part). Hidden tests use other random inputs,
    `T = 1`, `N = 1` and float32.
    """),
    setup("setup", """
    import numpy as np

    np.random.seed(0)

    from course_lib.grading import Score
    from course_lib.grading import ps3
    """),
    md(r"""
    ## Given: the forward pass, the output layer and the loss

    `rnn_step_forward` stores `x, h_prev, Wx, Wh, h` in its cache; `rnn_forward` stores the
    list of step caches. `affine_backward` and `softmax_cross_entropy` (which returns the loss
    and $\partial L / \partial s$) are what you need for training in Task 5.
    """),
    setup("given", '''
    def rnn_step_forward(x, h_prev, Wx, Wh, b):
        """h = tanh(x @ Wx + h_prev @ Wh + b); x (N, D), h_prev (N, H) -> h (N, H), cache."""
        h = np.tanh(x @ Wx + h_prev @ Wh + b)
        return h, {"x": x, "h_prev": h_prev, "Wx": Wx, "Wh": Wh, "h": h}


    def rnn_forward(x, h0, Wx, Wh, b):
        """x (T, N, D), h0 (N, H) -> h (T, N, H), list of T step caches."""
        T, N, _ = x.shape
        h = np.empty((T, N, h0.shape[1]), dtype=x.dtype)
        caches, h_prev = [], h0
        for t in range(T):
            h[t], cache = rnn_step_forward(x[t], h_prev, Wx, Wh, b)
            caches.append(cache)
            h_prev = h[t]
        return h, caches


    def affine_forward(x, W, b):
        """out = x @ W + b; x (..., H) -> out (..., V), cache."""
        return x @ W + b, (x, W)


    def affine_backward(dout, cache):
        """dout (..., V) -> dx (..., H), dW (H, V), db (V,)."""
        x, W = cache
        H, V = W.shape
        return dout @ W.T, x.reshape(-1, H).T @ dout.reshape(-1, V), dout.reshape(-1, V).sum(axis=0)


    def softmax_cross_entropy(logits, targets):
        """Mean cross-entropy over all positions -> (loss, dlogits (..., V))."""
        shifted = logits - logits.max(axis=-1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        M = targets.size
        loss = -np.take_along_axis(logp, targets[..., None], axis=-1).sum() / M
        dlogits = np.exp(logp)
        np.put_along_axis(dlogits, targets[..., None],
                          np.take_along_axis(dlogits, targets[..., None], axis=-1) - 1, axis=-1)
        return float(loss), dlogits / M
    '''),
    md(r"""
    ## Task 1: one step backward (3 points)

    With $a = x W_x + h_{prev} W_h + b$ and $h = \tanh(a)$, given the upstream $dh = \partial L/\partial h$:

    $$da = dh \odot (1 - h^2),\quad dx = da\,W_x^\top,\quad dh_{prev} = da\,W_h^\top,\quad
    dW_x = x^\top da,\quad dW_h = h_{prev}^\top da,\quad db = \textstyle\sum_n da$$

    `dh (N, H)` -> `(dx (N, D), dh_prev (N, H), dWx (D, H), dWh (H, H), db (H,))`. Each of the
    five gradients is worth a fifth of the points.
    """),
    solution("rnn_step_backward", '''
    def rnn_step_backward(dh, cache):
        """Backward of rnn_step_forward -> dx, dh_prev, dWx, dWh, db."""
        ### BEGIN SOLUTION
        x, h_prev, Wx, Wh, h = cache["x"], cache["h_prev"], cache["Wx"], cache["Wh"], cache["h"]
        da = dh * (1 - h * h)                   # d tanh(a) / da = 1 - h^2
        dx = da @ Wx.T
        dh_prev = da @ Wh.T
        dWx = x.T @ da
        dWh = h_prev.T @ da
        db = da.sum(axis=0)
        return dx, dh_prev, dWx, dWh, db
        ### END SOLUTION
    '''),
    test("test_rnn_step_backward", 3, """
    score = Score(3)
    ps3.check_rnn_step_backward(score, 1.5, rnn_step_forward, rnn_step_backward, seed=0)
    ps3.check_rnn_step_backward(score, 0.5, rnn_step_forward, rnn_step_backward, seed=1, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps3.check_rnn_step_backward(score, 0.75, rnn_step_forward, rnn_step_backward, seed=301, N=1, D=2, H=3)
    ps3.check_rnn_step_backward(score, 0.75, rnn_step_forward, rnn_step_backward, seed=302, dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 2: backpropagation through time (3 points)

    `dh (T, N, H)` is the upstream gradient on every $h[t]$ (from the output layer). Going
    backwards in time, the gradient reaching $h[t]$ is its own part plus what flows back
    from step $t+1$:

    $$g[t] = dh[t] + dh_{prev}[t+1], \qquad (dx[t], dh_{prev}[t], dW_x^{(t)}, dW_h^{(t)}, db^{(t)})
    = \texttt{rnn\_step\_backward}(g[t], \text{cache}[t])$$

    and the weight gradients are the sums over $t$; $dh_0 = dh_{prev}[0]$.
    Returns `(dx (T, N, D), dh0 (N, H), dWx, dWh, db)`.
    """),
    solution("rnn_backward", '''
    def rnn_backward(dh, cache):
        """BPTT for rnn_forward: dh (T, N, H) -> dx (T, N, D), dh0 (N, H), dWx, dWh, db."""
        ### BEGIN SOLUTION
        T = dh.shape[0]
        Wx, Wh = cache[0]["Wx"], cache[0]["Wh"]
        dx = np.empty(dh.shape[:2] + (Wx.shape[0],), dtype=dh.dtype)
        dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
        db = np.zeros(Wh.shape[1], dtype=dh.dtype)
        dh_next = np.zeros_like(dh[0])
        for t in reversed(range(T)):
            dx[t], dh_next, dWx_t, dWh_t, db_t = rnn_step_backward(dh[t] + dh_next, cache[t])
            dWx += dWx_t
            dWh += dWh_t
            db += db_t
        return dx, dh_next, dWx, dWh, db
        ### END SOLUTION
    '''),
    test("test_rnn_backward", 3, """
    score = Score(3)
    # rnn_step_backward too: a gradient wrong only because of it keeps its credit here
    ps3.check_rnn_backward(score, 1.5, rnn_forward, rnn_backward, seed=0, T=4, step_bwd=rnn_step_backward)
    ps3.check_rnn_backward(score, 0.5, rnn_forward, rnn_backward, seed=1, T=3, dtype="float32", step_bwd=rnn_step_backward)
    ### BEGIN HIDDEN TESTS
    ps3.check_rnn_backward(score, 0.75, rnn_forward, rnn_backward, seed=311, T=1, N=1, D=2, H=3, step_bwd=rnn_step_backward)
    ps3.check_rnn_backward(score, 0.75, rnn_forward, rnn_backward, seed=312, T=6, N=2, dtype="float32", step_bwd=rnn_step_backward)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 3: the gradient check (2 points)

    Centred differences: for every entry $x_k$,

    $$\frac{\partial L}{\partial x_k} \approx \sum \frac{f(x + h e_k) - f(x - h e_k)}{2h} \odot df,
    \qquad L(x) = \textstyle\sum f(x) \odot df$$

    `numerical_gradient(f, x, df=None, h=1e-5)`: `f(x)` returns an array (or a scalar),
    `df` has `f(x)`'s shape (None means all ones); returns an array of `x`'s shape. Perturb `x`
    in place and restore every entry afterwards.
    """),
    solution("numerical_gradient", '''
    def numerical_gradient(f, x, df=None, h=1e-5):
        """Centred-difference gradient of sum(f(x) * df) with respect to x (same shape as x)."""
        ### BEGIN SOLUTION
        y0 = np.asarray(f(x), dtype=np.float64)
        w = np.ones_like(y0) if df is None else np.asarray(df, dtype=np.float64)
        grad = np.zeros(x.shape, dtype=np.float64)
        for ix in np.ndindex(*x.shape):
            old = x[ix]
            x[ix] = old + h
            fp = np.array(f(x), dtype=np.float64)
            x[ix] = old - h
            fm = np.array(f(x), dtype=np.float64)
            x[ix] = old
            grad[ix] = np.sum((fp - fm) * w) / (2 * h)
        return grad
        ### END SOLUTION
    '''),
    test("test_numerical_gradient", 2, """
    score = Score(2)
    ps3.check_numerical_gradient(score, 1, numerical_gradient, seed=0)
    ### BEGIN HIDDEN TESTS
    ps3.check_numerical_gradient(score, 1, numerical_gradient, seed=321, shape=(1, 2))
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 4: gradient clipping (2 points)

    Exploding gradients are cured by rescaling *all* gradients by one factor when their global
    norm is too large:

    $$\|g\| = \sqrt{\textstyle\sum_k \|g_k\|_2^2}, \qquad
    g_k \leftarrow g_k \cdot \min\Bigl(1, \frac{\texttt{max\_norm}}{\|g\| + 10^{-6}}\Bigr)$$

    `clip_grad_norm(grads, max_norm)`: `grads` is a dict or a list of arrays, rescaled **in
    place** (keep their dtype); returns the norm *before* clipping (a float).
    """),
    solution("clip_grad_norm", '''
    def clip_grad_norm(grads, max_norm):
        """Rescale grads (dict or list of arrays) in place to global norm <= max_norm; return the norm."""
        ### BEGIN SOLUTION
        arrays = list(grads.values()) if isinstance(grads, dict) else list(grads)
        norm = float(np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in arrays)))
        coef = max_norm / (norm + 1e-6)
        if coef < 1:
            for g in arrays:
                g *= g.dtype.type(coef)
        return norm
        ### END SOLUTION
    '''),
    test("test_clip_grad_norm", 2, """
    score = Score(2)
    ps3.check_clip_grad_norm(score, 1, clip_grad_norm, seed=0)
    ps3.check_clip_grad_norm(score, 0.5, clip_grad_norm, seed=1, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps3.check_clip_grad_norm(score, 0.5, clip_grad_norm, seed=331)
    ps3.check_clip_grad_norm(score, 0.5, clip_grad_norm, seed=332, dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 5: truncated BPTT on the alphabet (4 points)

    A character RNN language model with one-hot inputs: $x[t] = \mathrm{onehot}(w[t])$,
    $h[t] = \tanh(x[t] W_x + h[t-1] W_h + b)$, $s[t] = h[t] W + c$, loss = mean cross-entropy
    of the next character. `params` holds `Wx (V, H)`, `Wh (H, H)`, `b (H,)`, `W (H, V)`,
    `c (V,)`; `source (S, N)` is the batchified id stream (the alphabet in N columns).

    `train_epoch(params, source, bptt, lr, max_norm, h0)` runs one epoch: for
    `i = 0, bptt, 2*bptt, ...` while `i < S - 1`, take the window
    `x = source[i : i+L]`, `y = source[i+1 : i+1+L]` with `L = min(bptt, S - 1 - i)`
    (get_batch), run the forward from the carried hidden state, backpropagate through the
    window only, clip the gradients of all five parameters together to `max_norm`, take an SGD
    step `p -= lr * dp` **in place**, and carry the window's last hidden state into the next
    window (no gradient flows across windows). Returns `(mean loss over windows, last h (N, H))`.
    """),
    solution("train_epoch", '''
    def train_epoch(params, source, bptt, lr, max_norm, h0):
        """One epoch of truncated BPTT, SGD in place -> (mean loss, final hidden state (N, H))."""
        ### BEGIN SOLUTION
        V = params["Wx"].shape[0]
        h = h0
        losses = []
        for i in range(0, source.shape[0] - 1, bptt):
            L = min(bptt, source.shape[0] - 1 - i)
            x_ids, y = source[i:i + L], source[i + 1:i + 1 + L]
            x = np.eye(V)[x_ids]                                    # (L, N, V)
            hs, cache = rnn_forward(x, h, params["Wx"], params["Wh"], params["b"])
            s, acache = affine_forward(hs, params["W"], params["c"])
            loss, ds = softmax_cross_entropy(s, y)
            dhs, dW, dc = affine_backward(ds, acache)
            _, _, dWx, dWh, db = rnn_backward(dhs, cache)
            grads = {"Wx": dWx, "Wh": dWh, "b": db, "W": dW, "c": dc}
            clip_grad_norm(grads, max_norm)
            for k in params:
                params[k] -= lr * grads[k]
            h = hs[-1]
            losses.append(loss)
        return float(np.mean(losses)), h
        ### END SOLUTION
    '''),
    test("test_train_epoch", 3, """
    score = Score(3)
    # the helpers train_epoch calls: if one of them is wrong, train_epoch is graded through it
    helpers = {"rnn_forward": rnn_forward, "rnn_backward": rnn_backward, "clip_grad_norm": clip_grad_norm}
    ps3.check_train_epoch(score, 1.5, train_epoch, seed=0, helpers=helpers)
    ### BEGIN HIDDEN TESTS
    ps3.check_train_epoch(score, 1.5, train_epoch, seed=341, bptt=4, N=3, helpers=helpers)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    Now train: 25 epochs, `bptt = 10`, `lr = 1.0`, `max_norm = 1.0`. The loss should fall
    below 0.2 (the alphabet is deterministic, so it can reach 0).
    """),
    test("test_training", 1, """
    score = Score(1)
    ps3.check_training(score, 0.5, train_epoch, seed=0)
    ### BEGIN HIDDEN TESTS
    ps3.check_training(score, 0.5, train_epoch, seed=351)
    ### END HIDDEN TESTS
    score
    """),
]

NOTEBOOK = notebook(CELLS, TITLE)
