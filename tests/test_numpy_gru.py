"""course_lib.numpy_rnn GRU: torch.nn.GRU's exact equations, gradients, validation, dtypes."""

import numpy as np
import pytest
import torch

from course_lib.gradcheck import check_gradients
from course_lib.numpy_rnn import gru_backward, gru_forward, gru_step_backward, gru_step_forward, sigmoid

SHAPES = [(1, 1, 1, 1), (1, 2, 3, 1), (3, 1, 2, 4), (4, 3, 5, 2), (2, 2, 1, 3), (5, 2, 3, 3)]


def params(T, N, D, H, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = dict(
        x=rng.normal(size=(T, N, D)),
        h0=rng.normal(size=(N, H)),
        Wx=rng.normal(scale=0.4, size=(D, 3 * H)),
        Wh=rng.normal(scale=0.4, size=(H, 3 * H)),
        bx=rng.normal(scale=0.3, size=(3 * H,)),
        bh=rng.normal(scale=0.3, size=(3 * H,)),
    )
    dh = rng.normal(size=(T, N, H))
    return {k: v.astype(dtype) for k, v in p.items()}, dh.astype(dtype)


def assert_close(actual, expected, name):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10, err_msg=name)


def copy_weights(m, p, suffix):
    with torch.no_grad():
        getattr(m, "weight_ih" + suffix).copy_(torch.from_numpy(p["Wx"].T))
        getattr(m, "weight_hh" + suffix).copy_(torch.from_numpy(p["Wh"].T))
        getattr(m, "bias_ih" + suffix).copy_(torch.from_numpy(p["bx"]))
        getattr(m, "bias_hh" + suffix).copy_(torch.from_numpy(p["bh"]))


@pytest.mark.parametrize("shape", SHAPES)
def test_gru_step_backward_matches_numerical_gradient(shape):
    p, dh = params(*shape, seed=60 + SHAPES.index(shape))
    inputs = dict(x=p["x"][0], h_prev=p["h0"], Wx=p["Wx"], Wh=p["Wh"], bx=p["bx"], bh=p["bh"])
    h, cache = gru_step_forward(**inputs)
    grads = gru_step_backward(dh[0], cache)
    res = check_gradients(lambda **kw: gru_step_forward(**kw)[0], inputs, dict(zip(inputs, grads)), df=dh[0])
    assert res.ok, str(res)
    assert len(res) == 6


@pytest.mark.parametrize("shape", SHAPES)
def test_gru_backward_matches_numerical_gradient(shape):
    p, dh = params(*shape, seed=80 + SHAPES.index(shape))
    h, cache = gru_forward(**p)
    grads = gru_backward(dh, cache)
    res = check_gradients(lambda **kw: gru_forward(**kw)[0], p, dict(zip(p, grads)), df=dh)
    assert res.ok, str(res)
    assert set(res.errors) == {"x", "h0", "Wx", "Wh", "bx", "bh"}


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (6, 3, 4, 5), (3, 4, 2, 1)])
def test_gru_forward_backward_match_torch(shape):
    T, N, D, H = shape
    p, dh = params(*shape, seed=9)
    h, cache = gru_forward(**p)
    dx, dh0, dWx, dWh, dbx, dbh = gru_backward(dh, cache)

    m = torch.nn.GRU(D, H).double()
    copy_weights(m, p, "_l0")
    xt = torch.from_numpy(p["x"].copy()).requires_grad_()
    h0t = torch.from_numpy(p["h0"][None].copy()).requires_grad_()
    out, hn = m(xt, h0t)
    out.backward(torch.from_numpy(dh))
    assert_close(h, out.detach().numpy(), "h")
    assert_close(dx, xt.grad.numpy(), "dx")
    assert_close(dh0, h0t.grad[0].numpy(), "dh0")
    assert_close(dWx, m.weight_ih_l0.grad.numpy().T, "dWx")
    assert_close(dWh, m.weight_hh_l0.grad.numpy().T, "dWh")
    assert_close(dbx, m.bias_ih_l0.grad.numpy(), "dbx")
    assert_close(dbh, m.bias_hh_l0.grad.numpy(), "dbh")


def test_gru_step_matches_torch_cell():
    N, D, H = 3, 4, 2
    p, dh = params(1, N, D, H, seed=5)
    h, cache = gru_step_forward(p["x"][0], p["h0"], p["Wx"], p["Wh"], p["bx"], p["bh"])
    dx, dh_prev, dWx, dWh, dbx, dbh = gru_step_backward(dh[0], cache)
    cell = torch.nn.GRUCell(D, H).double()
    copy_weights(cell, p, "")
    xt = torch.from_numpy(p["x"][0].copy()).requires_grad_()
    ht = torch.from_numpy(p["h0"].copy()).requires_grad_()
    out = cell(xt, ht)
    out.backward(torch.from_numpy(dh[0]))
    assert_close(h, out.detach().numpy(), "h")
    for got, want, name in [(dx, xt.grad, "dx"), (dh_prev, ht.grad, "dh_prev"), (dWx, cell.weight_ih.grad.T, "dWx"),
                            (dWh, cell.weight_hh.grad.T, "dWh"), (dbx, cell.bias_ih.grad, "dbx"),
                            (dbh, cell.bias_hh.grad, "dbh")]:
        assert_close(got, want.numpy(), name)


def test_hidden_bias_of_n_is_inside_the_reset_gate():
    """bh_n is scaled by r, so moving it into bx_n changes the output (unlike r and z biases)."""
    p, _ = params(1, 2, 3, 4, seed=1)
    H = 4
    args = (p["x"][0], p["h0"], p["Wx"], p["Wh"])
    h_ref, _ = gru_step_forward(*args, p["bx"], p["bh"])
    for block, same in ((0, True), (1, True), (2, False)):
        bx, bh = p["bx"].copy(), p["bh"].copy()
        s = slice(block * H, (block + 1) * H)
        bx[s] += bh[s]
        bh[s] = 0
        h, _ = gru_step_forward(*args, bx, bh)
        assert np.allclose(h, h_ref, rtol=0, atol=1e-14) == same, f"block {'rzn'[block]}"
    # and the textbook equation for n, written out
    x, hp = args[0], args[1]
    ax, ah = x @ p["Wx"] + p["bx"], hp @ p["Wh"] + p["bh"]
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    np.testing.assert_allclose(h_ref, (1 - z) * n + z * hp, rtol=1e-14, atol=1e-14)


def test_update_gate_one_keeps_the_state():
    p, _ = params(4, 2, 3, 3, seed=2)
    H = 3
    p["bx"][H:2 * H] = 20.0                        # z ~ 1: h[t] = h[t-1]
    h, _ = gru_forward(**p)
    np.testing.assert_allclose(h, np.broadcast_to(p["h0"], h.shape), atol=1e-7)


def test_sequence_equals_loop_of_steps():
    T, N, D, H = 5, 2, 3, 4
    p, dh = params(T, N, D, H, seed=13)
    h, cache = gru_forward(**p)
    grads = gru_backward(dh, cache)
    hp, caches = p["h0"], []
    for t in range(T):
        hp, ca = gru_step_forward(p["x"][t], hp, p["Wx"], p["Wh"], p["bx"], p["bh"])
        caches.append(ca)
        np.testing.assert_allclose(hp, h[t], rtol=1e-12, atol=1e-13)
    g, dx, sums = np.zeros((N, H)), np.zeros_like(p["x"]), [0, 0, 0, 0]
    for t in reversed(range(T)):
        dx[t], g, *ps = gru_step_backward(dh[t] + g, caches[t])
        sums = [s + q for s, q in zip(sums, ps)]
    for got, want in zip(grads, [dx, g] + sums):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_backward_leaves_cache_intact():
    p, dh = params(3, 2, 2, 3, seed=5)
    h, cache = gru_forward(**p)
    saved = {k: v.copy() for k, v in cache.items()}
    first, second = gru_backward(dh, cache), gru_backward(dh, cache)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    for k, v in saved.items():
        np.testing.assert_array_equal(cache[k], v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    p, dh = params(3, 2, 4, 5, seed=0, dtype=dtype)
    h, cache = gru_forward(**p)
    assert h.dtype == dtype
    assert all(g.dtype == dtype for g in gru_backward(dh, cache))
    hs, ca = gru_step_forward(p["x"][0], p["h0"], p["Wx"], p["Wh"], p["bx"], p["bh"])
    assert hs.dtype == dtype
    assert all(g.dtype == dtype for g in gru_step_backward(dh[0], ca))


def test_float32_agrees_with_float64():
    p64, dh = params(4, 3, 5, 6, seed=9)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    np.testing.assert_allclose(gru_forward(**p32)[0], gru_forward(**p64)[0], atol=1e-5)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(x=np.zeros((3, 2, 4, 1))), r"x: expected shape \(T, N, D\) \(rank 3\), got \(3, 2, 4, 1\)"),
        (dict(h0=np.zeros((1, 5))), r"h0: expected shape \(N, H\) = \(2, 5\), got \(1, 5\)"),
        (dict(Wx=np.zeros((4, 16))), r"Wx: expected shape \(D, 3H\) with a width divisible by 3"),
        (dict(Wh=np.zeros((5, 20))), r"Wh: expected shape \(H, 3H\) = \(5, 15\), got \(5, 20\)"),
        (dict(bx=np.zeros(20)), r"bx: expected shape \(3H\) = \(15,\), got \(20,\)"),
        (dict(bh=np.zeros((15, 1))), r"bh: expected shape \(3H\) = \(15,\)"),
        (dict(bh=np.zeros(15, dtype=np.float32)), r"bh: expected dtype float64"),
    ],
)
def test_bad_input_raises_value_error(change, match):
    p, _ = params(3, 2, 4, 5, seed=0)
    p.update(change)
    with pytest.raises(ValueError, match=match):
        gru_forward(**p)


def test_bad_step_and_backward_input():
    p, dh = params(3, 2, 4, 5, seed=0)
    with pytest.raises(ValueError, match=r"h_prev: expected shape \(N, H\) = \(2, 5\), got \(2, 3\)"):
        gru_step_forward(p["x"][0], p["h0"][:, :3], p["Wx"], p["Wh"], p["bx"], p["bh"])
    h, cache = gru_forward(**p)
    with pytest.raises(ValueError, match=r"dh: expected dtype float64"):
        gru_backward(dh.astype(np.float32), cache)
