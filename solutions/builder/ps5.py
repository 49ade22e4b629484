"""ps5-lstm: LSTM step and sequence, forward and backward; the gates as switches; torch.nn.LSTM."""

from nb import md, setup, solution, test, notebook

TITLE = "Problem set 5: the LSTM"

CELLS = [
    md(r"""
    # Problem set 5: the LSTM

    Chapter 5 of the book. You implement the LSTM cell and its backward pass in NumPy, watch
    the gates act as switches, and check your LSTM against `torch.nn.LSTM`.

    Gates are stacked in torch's order **i, f, g, o**: `Wx (D, 4H)`, `Wh (H, 4H)`, `b (4H,)`,
    and block $k$ of the pre-activation `a (N, 4H)` is `a[:, k*H:(k+1)*H]`:

    $$a = x W_x + h_{prev} W_h + b,\quad i = \sigma(a_i),\ f = \sigma(a_f),\ g = \tanh(a_g),\ o = \sigma(a_o)$$
    $$c = f \odot c_{prev} + i \odot g, \qquad h = o \odot \tanh(c)$$

    Shapes are time-major (`x (T, N, D)`, `h, c (T, N, H)`); keep the input dtype. Do **not**
    call `course_lib`'s reference: it is sealed while your code is graded (a call scores 0 for
    that part). Hidden tests use other random inputs, `T = 1`, `N = 1` and float32.
    """),
    setup("setup", """
    import numpy as np
    import torch

    np.random.seed(0)
    torch.manual_seed(0)

    from course_lib.grading import Score
    from course_lib.grading import ps5


    def sigmoid(a):
        # 0.5 * (1 + tanh(a / 2)) never overflows, unlike 1 / (1 + exp(-a)) for a << 0
        return 0.5 * (1 + np.tanh(0.5 * a))
    """),
    md(r"""
    ## Task 1: one LSTM step (2 points)

    `x (N, D)`, `h_prev (N, H)`, `c_prev (N, H)` -> `(h (N, H), c (N, H), cache)`. Use the
    `sigmoid` defined above.
    """),
    solution("lstm_step_forward", '''
    def lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
        """One LSTM step with gates i, f, g, o -> h (N, H), c (N, H), cache."""
        ### BEGIN SOLUTION
        H = h_prev.shape[1]
        a = x @ Wx + h_prev @ Wh + b                # (N, 4H)
        i = sigmoid(a[:, :H])
        f = sigmoid(a[:, H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:])
        c = f * c_prev + i * g
        tc = np.tanh(c)
        h = o * tc
        cache = {"x": x, "h_prev": h_prev, "c_prev": c_prev, "Wx": Wx, "Wh": Wh,
                 "i": i, "f": f, "g": g, "o": o, "tc": tc}
        return h, c, cache
        ### END SOLUTION
    '''),
    test("test_lstm_step_forward", 2, """
    score = Score(2)
    ps5.check_lstm_step_forward(score, 1, lstm_step_forward, seed=0)
    ps5.check_lstm_step_forward(score, 0.5, lstm_step_forward, seed=1, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps5.check_lstm_step_forward(score, 0.5, lstm_step_forward, seed=501, N=1, D=2, H=3)
    ps5.check_lstm_step_forward(score, 0.5, lstm_step_forward, seed=502, dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 2: the gates as switches (2 points)

    With $W_x = W_h = 0$ and biases of $\pm 30$ every gate is fully open (1) or closed (0):
    **reset** ($i = f = 0$: $c = 0$), **keep** ($f = 1, i = 0$: $c = c_{prev}$),
    **write** ($f = 0, i = 1$: $c = g$), **output off** ($o = 0$: $h = 0$). The test runs your
    `lstm_step_forward` in each setting; a swapped gate block shows up here. Nothing to write,
    but try it yourself in a scratch cell.
    """),
    test("test_gate_switches", 2, """
    score = Score(2)
    ps5.check_gate_switches(score, 1, lstm_step_forward, seed=0)
    ### BEGIN HIDDEN TESTS
    ps5.check_gate_switches(score, 1, lstm_step_forward, seed=511, N=1, H=4, D=3)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 3: one step backward (3 points)

    Given the upstream $dh$ and $dc$ (gradients on this step's $h$ and $c$):

    $$dc_{tot} = dc + dh \odot o \odot (1 - \tanh^2 c)$$
    $$da_i = dc_{tot} \odot g \odot i(1-i),\ da_f = dc_{tot} \odot c_{prev} \odot f(1-f),\
    da_g = dc_{tot} \odot i \odot (1 - g^2),\ da_o = dh \odot \tanh c \odot o(1-o)$$
    $$dc_{prev} = dc_{tot} \odot f,\quad dx = da\,W_x^\top,\quad dh_{prev} = da\,W_h^\top,\quad
    dW_x = x^\top da,\quad dW_h = h_{prev}^\top da,\quad db = \textstyle\sum_n da$$

    with `da (N, 4H)` the four blocks side by side. Returns
    `(dx, dh_prev, dc_prev, dWx, dWh, db)`; each is a sixth of the points.
    """),
    solution("lstm_step_backward", '''
    def lstm_step_backward(dh, dc, cache):
        """Backward of lstm_step_forward -> dx, dh_prev, dc_prev, dWx, dWh, db."""
        ### BEGIN SOLUTION
        i, f, g, o, tc = (cache[k] for k in ("i", "f", "g", "o", "tc"))
        dc_tot = dc + dh * o * (1 - tc * tc)
        da = np.concatenate([dc_tot * g * i * (1 - i),
                             dc_tot * cache["c_prev"] * f * (1 - f),
                             dc_tot * i * (1 - g * g),
                             dh * tc * o * (1 - o)], axis=1)    # (N, 4H)
        dc_prev = dc_tot * f
        dx = da @ cache["Wx"].T
        dh_prev = da @ cache["Wh"].T
        dWx = cache["x"].T @ da
        dWh = cache["h_prev"].T @ da
        db = da.sum(axis=0)
        return dx, dh_prev, dc_prev, dWx, dWh, db
        ### END SOLUTION
    '''),
    test("test_lstm_step_backward", 3, """
    score = Score(3)
    ps5.check_lstm_step_backward(score, 1.5, lstm_step_forward, lstm_step_backward, seed=0)
    ps5.check_lstm_step_backward(score, 0.5, lstm_step_forward, lstm_step_backward, seed=1, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps5.check_lstm_step_backward(score, 0.75, lstm_step_forward, lstm_step_backward, seed=521, N=1, D=2, H=3)
    ps5.check_lstm_step_backward(score, 0.75, lstm_step_forward, lstm_step_backward, seed=522, dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 4: the whole sequence (2 points)

    From $h[-1] = h_0$, $c[-1] = c_0$, apply your step for $t = 0, \dots, T-1$.
    `x (T, N, D)`, `h0, c0 (N, H)` -> `(h (T, N, H), c (T, N, H), cache)`.
    """),
    solution("lstm_forward", '''
    def lstm_forward(x, h0, c0, Wx, Wh, b):
        """The LSTM over x (T, N, D) -> h (T, N, H), c (T, N, H), cache."""
        ### BEGIN SOLUTION
        T, N, _ = x.shape
        H = h0.shape[1]
        h = np.empty((T, N, H), dtype=x.dtype)
        c = np.empty((T, N, H), dtype=x.dtype)
        caches = []
        h_prev, c_prev = h0, c0
        for t in range(T):
            h[t], c[t], cache_t = lstm_step_forward(x[t], h_prev, c_prev, Wx, Wh, b)
            caches.append(cache_t)
            h_prev, c_prev = h[t], c[t]
        return h, c, caches
        ### END SOLUTION
    '''),
    test("test_lstm_forward", 2, """
    score = Score(2)
    ps5.check_lstm_forward(score, 1, lstm_forward, seed=0)
    ps5.check_lstm_forward(score, 0.5, lstm_forward, seed=1, T=3, dtype="float32")
    ### BEGIN HIDDEN TESTS
    ps5.check_lstm_forward(score, 0.5, lstm_forward, seed=531, T=1, N=1, D=2, H=3)
    ps5.check_lstm_forward(score, 0.5, lstm_forward, seed=532, T=6, dtype="float32")
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 5: backpropagation through time (3 points)

    `lstm_backward(dh, cache)` with `dh (T, N, H)` the upstream gradient on every $h[t]$ (none on
    $c[t]$ from outside). Going backwards, carry both the gradient on $h[t-1]$ and the one on
    $c[t-1]$ into the previous step: this second path, through $f$ only, is why LSTM
    gradients survive long sequences. Returns `(dx (T, N, D), dh0, dc0, dWx, dWh, db)`.
    """),
    solution("lstm_backward", '''
    def lstm_backward(dh, cache):
        """BPTT through lstm_forward -> dx, dh0, dc0, dWx, dWh, db."""
        ### BEGIN SOLUTION
        T = dh.shape[0]
        Wx, Wh = cache[0]["Wx"], cache[0]["Wh"]
        dx = np.empty(dh.shape[:2] + (Wx.shape[0],), dtype=dh.dtype)
        dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
        db = np.zeros(Wh.shape[1], dtype=dh.dtype)
        dh_next = np.zeros_like(dh[0])
        dc_next = np.zeros_like(dh[0])
        for t in reversed(range(T)):
            dx[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(
                dh[t] + dh_next, dc_next, cache[t])
            dWx += dWx_t
            dWh += dWh_t
            db += db_t
        return dx, dh_next, dc_next, dWx, dWh, db
        ### END SOLUTION
    '''),
    test("test_lstm_backward", 3, """
    score = Score(3)
    # lstm_step_backward too: a gradient wrong only because of it keeps its credit here
    ps5.check_lstm_backward(score, 1.5, lstm_forward, lstm_backward, seed=0, step_bwd=lstm_step_backward)
    ps5.check_lstm_backward(score, 0.5, lstm_forward, lstm_backward, seed=1, T=3, dtype="float32", step_bwd=lstm_step_backward)
    ### BEGIN HIDDEN TESTS
    ps5.check_lstm_backward(score, 0.75, lstm_forward, lstm_backward, seed=541, T=1, N=1, D=2, H=3, step_bwd=lstm_step_backward)
    ps5.check_lstm_backward(score, 0.75, lstm_forward, lstm_backward, seed=542, T=5, dtype="float32", step_bwd=lstm_step_backward)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 6: your LSTM is `torch.nn.LSTM` (2 points)

    `torch.nn.LSTM` stores `weight_ih_l0 (4H, D)`, `weight_hh_l0 (4H, H)`, `bias_ih_l0`,
    `bias_hh_l0 (4H,)` with the same gate order i, f, g, o. Return NumPy
    `(Wx (D, 4H), Wh (H, 4H), b (4H,))` so that `lstm_forward` reproduces `lstm(x, (h0, c0))`.
    """),
    solution("lstm_weights_from_torch", '''
    def lstm_weights_from_torch(lstm):
        """(Wx (D, 4H), Wh (H, 4H), b (4H,)) of a one-layer torch.nn.LSTM."""
        ### BEGIN SOLUTION
        Wx = lstm.weight_ih_l0.detach().numpy().T.copy()
        Wh = lstm.weight_hh_l0.detach().numpy().T.copy()
        b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
        return Wx, Wh, b
        ### END SOLUTION
    '''),
    test("test_torch_lstm", 2, """
    score = Score(2)
    ps5.check_torch_lstm(score, 1, lstm_weights_from_torch, lstm_forward, seed=0)
    ### BEGIN HIDDEN TESTS
    ps5.check_torch_lstm(score, 0.5, lstm_weights_from_torch, lstm_forward, seed=551, T=1, N=1, D=2, H=3)
    ps5.check_torch_lstm(score, 0.5, lstm_weights_from_torch, lstm_forward, seed=552, T=6, N=3, D=4, H=5)
    ### END HIDDEN TESTS
    score
    """),
]

NOTEBOOK = notebook(CELLS, TITLE)
