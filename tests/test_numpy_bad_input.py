"""The NumPy reference under bad or unusual input: T = 0, wrong caches, aliasing, np.matrix,
and messages that name the real cause (issue 16, "Also in course_lib")."""

import numpy as np
import pytest

from course_lib.numpy_rnn import (gru_backward, gru_forward, lstm_backward, lstm_forward,
                                  lstm_step_forward, multilayer_backward, multilayer_forward,
                                  init_multilayer_params, rnn_backward, rnn_forward,
                                  rnn_step_forward, softmax_cross_entropy)

N, D, H = 2, 3, 4


def _weights(G, rng, with_gru_biases=False):
    Wx = rng.standard_normal((D, G * H))
    Wh = rng.standard_normal((H, G * H))
    if with_gru_biases:
        return Wx, Wh, rng.standard_normal(G * H), rng.standard_normal(G * H)
    return Wx, Wh, rng.standard_normal(G * H)


def _run(cell, T, seed=0):
    """Forward and backward of one cell on x (T, N, D); returns (outputs, grads, params)."""
    rng = np.random.default_rng(seed)
    x, h0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H))
    if cell == "rnn":
        h, cache = rnn_forward(x, h0, *_weights(1, rng))
        return (h,), rnn_backward(np.ones_like(h), cache)
    if cell == "lstm":
        c0 = rng.standard_normal((N, H))
        h, c, cache = lstm_forward(x, h0, c0, *_weights(4, rng))
        return (h, c), lstm_backward(np.ones_like(h), cache)
    h, cache = gru_forward(x, h0, *_weights(3, rng, with_gru_biases=True))
    return (h,), gru_backward(np.ones_like(h), cache)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_empty_sequence_gives_empty_outputs_and_zero_gradients(cell):
    """T = 0 is one rule everywhere: accepted; nothing depends on the parameters, so every
    gradient is zero, of the parameter's shape."""
    outs, grads = _run(cell, T=0)
    assert all(o.shape == (0, N, H) for o in outs)
    dx = grads[0]
    assert dx.shape == (0, N, D)
    shapes = {"rnn": [(N, H), (D, H), (H, H), (H,)],
              "lstm": [(N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,)],
              "gru": [(N, H), (D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)]}[cell]
    assert [g.shape for g in grads[1:]] == shapes
    assert all(not g.any() for g in grads[1:])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_multilayer_empty_sequence_passes_the_states_through(cell):
    """With T = 0 the final states are the initial ones: h_n = h0, and dh0 = dh_n."""
    rng = np.random.default_rng(1)
    params = init_multilayer_params(cell, D, H, num_layers=2, bidirectional=True, seed=2)
    x = np.zeros((0, N, D))
    h0 = rng.standard_normal((4, N, H))
    c0 = rng.standard_normal((4, N, H)) if cell == "lstm" else None
    out, h_n, c_n, cache = multilayer_forward(x, h0, params, cell=cell, c0=c0)
    assert out.shape == (0, N, 2 * H)
    np.testing.assert_array_equal(h_n, h0)
    dh_n = rng.standard_normal(h_n.shape)
    dc_n = rng.standard_normal(h_n.shape) if cell == "lstm" else None
    dx, dh0, dc0, grads = multilayer_backward(np.zeros_like(out), cache, dh_n=dh_n, dc_n=dc_n)
    assert dx.shape == (0, N, D)
    np.testing.assert_array_equal(dh0, dh_n)
    if cell == "lstm":
        np.testing.assert_array_equal(c_n, c0)
        np.testing.assert_array_equal(dc0, dc_n)
    assert all(not g.any() for g in grads.values())


@pytest.mark.parametrize("backward, producer, step_cache", [
    (rnn_backward, "rnn_forward", lambda: rnn_step_forward(
        np.zeros((N, D)), np.zeros((N, H)), np.zeros((D, H)), np.zeros((H, H)), np.zeros(H))[1]),
    (lstm_backward, "lstm_forward", lambda: lstm_step_forward(
        np.zeros((N, D)), np.zeros((N, H)), np.zeros((N, H)), np.zeros((D, 4 * H)),
        np.zeros((H, 4 * H)), np.zeros(4 * H))[2]),
    (gru_backward, "gru_forward", lambda: {"x": np.zeros((1, N, D))}),
])
def test_wrong_or_missing_cache_names_the_argument(backward, producer, step_cache):
    dh = np.zeros((1, N, H))
    with pytest.raises(ValueError, match=rf"^cache: expected the cache dict returned by {producer}, got NoneType"):
        backward(dh, None)
    # A step's cache (or a partial one) handed to the sequence backward: say what is missing.
    with pytest.raises(ValueError, match=rf"^cache: expected the cache dict returned by {producer}, but it lacks 'h0'"):
        backward(dh, step_cache())


def test_multilayer_backward_wrong_cache_names_it():
    with pytest.raises(ValueError, match="^cache: expected the cache dict returned by multilayer_forward"):
        multilayer_backward(np.zeros((1, N, H)), {"x": 1})


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_returned_states_are_the_callers_own(cell):
    """Editing the returned h (and c) in place, e.g. an in-place dropout, must not change the
    gradients: the cache keeps its own copy."""
    clean_outs, clean_grads = _run(cell, T=3, seed=5)
    rng = np.random.default_rng(5)
    x, h0 = rng.standard_normal((3, N, D)), rng.standard_normal((N, H))
    if cell == "rnn":
        h, cache = rnn_forward(x, h0, *_weights(1, rng))
        h *= 0.0
        grads = rnn_backward(np.ones_like(h), cache)
    elif cell == "lstm":
        c0 = rng.standard_normal((N, H))
        h, c, cache = lstm_forward(x, h0, c0, *_weights(4, rng))
        h *= 0.0
        c += 1.0
        grads = lstm_backward(np.ones_like(h), cache)
    else:
        h, cache = gru_forward(x, h0, *_weights(3, rng, with_gru_biases=True))
        h *= 0.0
        grads = gru_backward(np.ones_like(h), cache)
    for got, want in zip(grads, clean_grads):
        np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_np_matrix_is_rejected_not_silently_multiplied():
    """np.matrix passes isinstance(ndarray) but makes * a matrix product (N == H here)."""
    rng = np.random.default_rng(0)
    x, h, c = (rng.standard_normal((4, 4)) for _ in range(3))
    Wx, Wh, b = rng.standard_normal((4, 16)), rng.standard_normal((4, 16)), rng.standard_normal(16)
    for name, args in (("x", (np.asmatrix(x), h, c, Wx, Wh, b)),
                       ("c_prev", (x, h, np.asmatrix(c), Wx, Wh, b)),
                       ("Wh", (x, h, c, Wx, np.asmatrix(Wh), b))):
        with pytest.raises(ValueError, match=rf"^{name}: expected .*got a numpy.matrix.*np.asarray\({name}\)"):
            lstm_step_forward(*args)


def test_batch_major_x_is_named_as_the_likely_cause():
    rng = np.random.default_rng(0)
    T, Nb = 5, 2
    x_batch_major = rng.standard_normal((Nb, T, D))    # (N, T, D), a batch_first habit
    h0 = np.zeros((Nb, H))
    with pytest.raises(ValueError, match=r"^h0: expected shape \(N, H\) = \(5, 4\), got \(2, 4\); "
                                         r"or is x batch-major\? .*x.transpose\(1, 0, 2\)"):
        rnn_forward(x_batch_major, h0, *_weights(1, rng))
    with pytest.raises(ValueError, match="batch-major"):
        lstm_forward(x_batch_major, h0, h0, *_weights(4, rng))
    # A state that is simply wrong gets no batch-major hint.
    with pytest.raises(ValueError, match=r"^h0: expected shape \(N, H\) = \(2, 4\), got \(3, 4\)$"):
        gru_forward(rng.standard_normal((T, Nb, D)), np.zeros((3, H)),
                    *_weights(3, rng, with_gru_biases=True))


def test_lstm_sized_weights_to_the_gru_are_named_lstm_sized():
    rng = np.random.default_rng(0)
    x, h0 = rng.standard_normal((2, N, D)), np.zeros((N, H))
    Wx, Wh, _ = _weights(4, rng)
    b3 = np.zeros(3 * H)
    with pytest.raises(ValueError, match=r"^Wx, Wh: got widths 16 = 4H with H = 4 .* an LSTM; "
                                         r"the GRU expects 3H = 12 columns"):
        gru_forward(x, h0, Wx, Wh, b3, b3)
    Wx1, Wh1, b1 = _weights(1, rng)
    with pytest.raises(ValueError, match=r"the weights of an RNN; the LSTM expects 4H = 16"):
        lstm_forward(x, h0, h0, Wx1, Wh1, np.zeros(16))


def test_softmax_cross_entropy_messages_name_the_real_cause():
    logits, targets = np.zeros((0, 3, 5)), np.zeros((0, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"^logits: expected at least one position .* \(0, 3, 5\)"):
        softmax_cross_entropy(logits, targets)
    logits, targets = np.zeros((2, 3, 5)), np.zeros((2, 3), dtype=np.int64)
    mask = np.ones((2, 3))
    mask[0, 0] = -1.0
    with pytest.raises(ValueError, match=r"^mask: expected weights >= 0 .*got a minimum of -1.0"):
        softmax_cross_entropy(logits, targets, mask)
    with pytest.raises(ValueError, match=r"^mask: selects no position \(its sum is 0\)"):
        softmax_cross_entropy(logits, targets, np.zeros((2, 3)))
