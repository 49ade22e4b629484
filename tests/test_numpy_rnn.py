"""course_lib.numpy_rnn vanilla RNN: gradients, agreement with torch.nn.RNN, validation, dtypes."""

import numpy as np
import pytest
import torch

from course_lib.gradcheck import check_gradients
from course_lib.numpy_rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

# (T, N, D, H): includes T = 1, N = 1, H = 1
SHAPES = [(1, 1, 1, 1), (1, 2, 3, 1), (3, 1, 2, 4), (4, 3, 5, 2), (2, 2, 1, 3), (5, 2, 3, 3)]
ACTIVATIONS = ["tanh", "relu"]


def params(T, N, D, H, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = dict(
        x=rng.normal(size=(T, N, D)),
        h0=rng.normal(size=(N, H)),
        Wx=rng.normal(scale=0.4, size=(D, H)),
        Wh=rng.normal(scale=0.4, size=(H, H)),
        b=rng.normal(scale=0.3, size=(H,)),
    )
    dh = rng.normal(size=(T, N, H))
    return {k: v.astype(dtype) for k, v in p.items()}, dh.astype(dtype)


def to_torch_rnn(p, activation):
    D, H = p["Wx"].shape
    m = torch.nn.RNN(D, H, nonlinearity=activation).double()
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.from_numpy(p["Wx"].T))
        m.weight_hh_l0.copy_(torch.from_numpy(p["Wh"].T))
        m.bias_ih_l0.copy_(torch.from_numpy(p["b"]))
        m.bias_hh_l0.zero_()                       # b = bias_ih + bias_hh
    return m


def assert_close(actual, expected, name):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_rnn_step_backward_matches_numerical_gradient(shape, activation):
    T, N, D, H = shape
    p, dh = params(T, N, D, H, seed=10 * SHAPES.index(shape))
    inputs = dict(x=p["x"][0], h_prev=p["h0"], Wx=p["Wx"], Wh=p["Wh"], b=p["b"])
    h, cache = rnn_step_forward(**inputs, activation=activation)
    dx, dh_prev, dWx, dWh, db = rnn_step_backward(dh[0], cache)
    res = check_gradients(lambda **kw: rnn_step_forward(**kw, activation=activation)[0], inputs,
                          dict(x=dx, h_prev=dh_prev, Wx=dWx, Wh=dWh, b=db), df=dh[0])
    assert res.ok, str(res)
    assert set(res.errors) == {"x", "h_prev", "Wx", "Wh", "b"}


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES)
def test_rnn_backward_matches_numerical_gradient(shape, activation):
    p, dh = params(*shape, seed=1 + 10 * SHAPES.index(shape))
    h, cache = rnn_forward(**p, activation=activation)
    dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
    res = check_gradients(lambda **kw: rnn_forward(**kw, activation=activation)[0], p,
                          dict(x=dx, h0=dh0, Wx=dWx, Wh=dWh, b=db), df=dh)
    assert res.ok, str(res)
    for err in res.errors.values():
        assert err < 1e-7


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (6, 3, 4, 5), (3, 4, 2, 1)])
def test_rnn_forward_backward_match_torch(shape, activation):
    p, dh = params(*shape, seed=7)
    h, cache = rnn_forward(**p, activation=activation)
    dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)

    m = to_torch_rnn(p, activation)
    xt = torch.from_numpy(p["x"].copy()).requires_grad_()
    h0t = torch.from_numpy(p["h0"][None].copy()).requires_grad_()
    out, hn = m(xt, h0t)
    out.backward(torch.from_numpy(dh))
    assert_close(h, out.detach().numpy(), "h")
    assert_close(h[-1], hn[0].detach().numpy(), "h[T-1]")
    assert_close(dx, xt.grad.numpy(), "dx")
    assert_close(dh0, h0t.grad[0].numpy(), "dh0")
    assert_close(dWx, m.weight_ih_l0.grad.numpy().T, "dWx")
    assert_close(dWh, m.weight_hh_l0.grad.numpy().T, "dWh")
    assert_close(db, m.bias_ih_l0.grad.numpy(), "db")
    assert_close(db, m.bias_hh_l0.grad.numpy(), "db (bias_hh)")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_rnn_step_matches_torch_cell(activation):
    p, dh = params(1, 4, 3, 5, seed=3)
    x = p["x"][0]
    h, cache = rnn_step_forward(x, p["h0"], p["Wx"], p["Wh"], p["b"], activation=activation)
    dx, dh_prev, dWx, dWh, db = rnn_step_backward(dh[0], cache)

    cell = torch.nn.RNNCell(3, 5, nonlinearity=activation).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(p["Wx"].T))
        cell.weight_hh.copy_(torch.from_numpy(p["Wh"].T))
        cell.bias_ih.copy_(torch.from_numpy(p["b"] / 2))
        cell.bias_hh.copy_(torch.from_numpy(p["b"] / 2))
    xt = torch.from_numpy(x.copy()).requires_grad_()
    ht = torch.from_numpy(p["h0"].copy()).requires_grad_()
    out = cell(xt, ht)
    out.backward(torch.from_numpy(dh[0]))
    assert_close(h, out.detach().numpy(), "h")
    assert_close(dx, xt.grad.numpy(), "dx")
    assert_close(dh_prev, ht.grad.numpy(), "dh_prev")
    assert_close(dWx, cell.weight_ih.grad.numpy().T, "dWx")
    assert_close(dWh, cell.weight_hh.grad.numpy().T, "dWh")
    assert_close(db, cell.bias_ih.grad.numpy(), "db")


def test_sequence_equals_loop_of_steps():
    p, dh = params(5, 3, 4, 6, seed=11)
    h, cache = rnn_forward(**p)
    grads = rnn_backward(dh, cache)
    h_prev, caches = p["h0"], []
    for t in range(5):
        h_prev, c = rnn_step_forward(p["x"][t], h_prev, p["Wx"], p["Wh"], p["b"])
        caches.append(c)
        np.testing.assert_allclose(h_prev, h[t], rtol=1e-13, atol=1e-14)
    g = np.zeros_like(p["h0"])
    sums = [0, 0, 0]
    dx = np.zeros_like(p["x"])
    for t in reversed(range(5)):
        dx[t], g, dWx, dWh, db = rnn_step_backward(dh[t] + g, caches[t])
        sums = [sums[0] + dWx, sums[1] + dWh, sums[2] + db]
    for got, want in zip(grads, [dx, g] + sums):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_backward_can_run_twice_and_leaves_cache_intact():
    p, dh = params(3, 2, 2, 3, seed=5)
    h, cache = rnn_forward(**p)
    h_copy = h.copy()
    first = rnn_backward(dh, cache)
    second = rnn_backward(dh, cache)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cache["h"], h_copy)


def test_relu_zeroes_gradient_of_inactive_units():
    p, dh = params(1, 2, 3, 4, seed=2)
    p["b"][:] = -100.0                              # every unit off
    h, cache = rnn_step_forward(p["x"][0], p["h0"], p["Wx"], p["Wh"], p["b"], activation="relu")
    assert np.all(h == 0)
    dx, dh_prev, dWx, dWh, db = rnn_step_backward(dh[0], cache)
    for g in (dx, dh_prev, dWx, dWh, db):
        assert np.all(g == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    p, dh = params(3, 2, 4, 5, seed=0, dtype=dtype)
    h, cache = rnn_forward(**p)
    assert h.dtype == dtype
    assert all(g.dtype == dtype for g in rnn_backward(dh, cache))
    hs, cs = rnn_step_forward(p["x"][0], p["h0"], p["Wx"], p["Wh"], p["b"], activation="relu")
    assert hs.dtype == dtype
    assert all(g.dtype == dtype for g in rnn_step_backward(dh[0], cs))


def test_float32_agrees_with_float64():
    p64, dh64 = params(4, 3, 5, 6, seed=9)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    h64, _ = rnn_forward(**p64)
    h32, _ = rnn_forward(**p32)
    np.testing.assert_allclose(h32, h64, atol=1e-5)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(x=np.zeros((2, 3))), r"x: expected shape \(T, N, D\) \(rank 3\), got \(2, 3\)"),
        (dict(h0=np.zeros((3, 5))), r"h0: expected shape \(N, H\) = \(2, 5\), got \(3, 5\)"),
        (dict(h0=np.zeros((2, 4))), r"h0: expected shape \(N, H\) = \(2, 5\), got \(2, 4\)"),
        (dict(h0=np.zeros((5,))), r"h0: expected shape \(N, H\)"),
        (dict(Wx=np.zeros((3, 5))), r"Wx: expected shape \(D, H\) = \(4, H\), got \(3, 5\)"),
        (dict(Wh=np.zeros((5, 4))), r"Wh: expected shape \(H, H\) = \(5, 5\), got \(5, 4\)"),
        (dict(b=np.zeros((1, 5))), r"b: expected shape \(H\) = \(5,\)"),
        (dict(b=np.zeros(4)), r"b: expected shape \(H\) = \(5,\), got \(4,\)"),
        (dict(b=np.zeros(5, dtype=np.float32)), r"b: expected dtype float64"),
        (dict(x=np.zeros((3, 2, 4), dtype=np.int64)), r"x: expected dtype float32 or float64"),
        (dict(x=[[[0.0]]]), r"x: expected a numpy array"),
    ],
)
def test_bad_input_raises_value_error(change, match):
    p, _ = params(3, 2, 4, 5, seed=0)
    p.update(change)
    with pytest.raises(ValueError, match=match):
        rnn_forward(**p)


def test_bad_step_input_and_activation_and_dh():
    p, dh = params(3, 2, 4, 5, seed=0)
    with pytest.raises(ValueError, match=r"h_prev: expected shape \(N, H\) = \(2, 5\), got \(2, 4\)"):
        rnn_step_forward(p["x"][0], np.zeros((2, 4)), p["Wx"], p["Wh"], p["b"])
    with pytest.raises(ValueError, match="activation: expected 'tanh' or 'relu'"):
        rnn_forward(**p, activation="sigmoid")
    h, cache = rnn_forward(**p)
    with pytest.raises(ValueError, match=r"dh: expected shape \(T, N, H\) = \(3, 2, 5\) \(rank 3\), got \(2, 5\)"):
        rnn_backward(dh[0], cache)
    hs, cs = rnn_step_forward(p["x"][0], p["h0"], p["Wx"], p["Wh"], p["b"])
    with pytest.raises(ValueError, match=r"dh: expected shape \(N, H\) = \(2, 5\) \(rank 2\), got \(3, 2, 5\)"):
        rnn_step_backward(dh, cs)
