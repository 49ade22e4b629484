"""course_lib.numpy_rnn LSTM: gradients, torch.nn.LSTM agreement, the gates as switches, validation."""

import numpy as np
import pytest
import torch

from course_lib.gradcheck import check_gradients
from course_lib.numpy_rnn import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward

SHAPES = [(1, 1, 1, 1), (1, 2, 3, 1), (3, 1, 2, 4), (4, 3, 5, 2), (2, 2, 1, 3), (5, 2, 3, 3)]


def params(T, N, D, H, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    p = dict(
        x=rng.normal(size=(T, N, D)),
        h0=rng.normal(size=(N, H)),
        c0=rng.normal(size=(N, H)),
        Wx=rng.normal(scale=0.4, size=(D, 4 * H)),
        Wh=rng.normal(scale=0.4, size=(H, 4 * H)),
        b=rng.normal(scale=0.3, size=(4 * H,)),
    )
    dh = rng.normal(size=(T, N, H))
    dc = rng.normal(size=(T, N, H))
    return {k: v.astype(dtype) for k, v in p.items()}, dh.astype(dtype), dc.astype(dtype)


def assert_close(actual, expected, name):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10, err_msg=name)


def copy_weights(module_or_cell, p, suffix):
    with torch.no_grad():
        getattr(module_or_cell, "weight_ih" + suffix).copy_(torch.from_numpy(p["Wx"].T))
        getattr(module_or_cell, "weight_hh" + suffix).copy_(torch.from_numpy(p["Wh"].T))
        getattr(module_or_cell, "bias_ih" + suffix).copy_(torch.from_numpy(0.25 * p["b"]))
        getattr(module_or_cell, "bias_hh" + suffix).copy_(torch.from_numpy(0.75 * p["b"]))


# --------------------------------------------------------------------------------------------
# numerical gradients
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_lstm_step_backward_matches_numerical_gradient(shape):
    T, N, D, H = shape
    p, dh, dc = params(*shape, seed=20 + SHAPES.index(shape))
    inputs = dict(x=p["x"][0], h_prev=p["h0"], c_prev=p["c0"], Wx=p["Wx"], Wh=p["Wh"], b=p["b"])
    h, c, cache = lstm_step_forward(**inputs)
    dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dh[0], dc[0], cache)
    # L = sum(h * dh) + sum(c * dc): check through both outputs at once
    res = check_gradients(
        lambda **kw: np.concatenate([o.ravel() for o in lstm_step_forward(**kw)[:2]]), inputs,
        dict(x=dx, h_prev=dh_prev, c_prev=dc_prev, Wx=dWx, Wh=dWh, b=db),
        df=np.concatenate([dh[0].ravel(), dc[0].ravel()]))
    assert res.ok, str(res)
    assert len(res) == 6


@pytest.mark.parametrize("with_dc", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_lstm_backward_matches_numerical_gradient(shape, with_dc):
    p, dh, dc = params(*shape, seed=40 + SHAPES.index(shape))
    h, c, cache = lstm_forward(**p)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward(dh, cache, dc=dc if with_dc else None)
    if with_dc:
        f = lambda **kw: np.concatenate([o.ravel() for o in lstm_forward(**kw)[:2]])  # noqa: E731
        df = np.concatenate([dh.ravel(), dc.ravel()])
    else:
        f, df = (lambda **kw: lstm_forward(**kw)[0]), dh
    res = check_gradients(f, p, dict(x=dx, h0=dh0, c0=dc0, Wx=dWx, Wh=dWh, b=db), df=df)
    assert res.ok, str(res)
    assert max(res.errors.values()) < 1e-7


# --------------------------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (6, 3, 4, 5), (3, 4, 2, 1)])
def test_lstm_forward_backward_match_torch(shape):
    T, N, D, H = shape
    p, dh, _ = params(*shape, seed=8)
    h, c, cache = lstm_forward(**p)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward(dh, cache)

    m = torch.nn.LSTM(D, H).double()
    copy_weights(m, p, "_l0")
    xt = torch.from_numpy(p["x"].copy()).requires_grad_()
    h0t = torch.from_numpy(p["h0"][None].copy()).requires_grad_()
    c0t = torch.from_numpy(p["c0"][None].copy()).requires_grad_()
    out, (hn, cn) = m(xt, (h0t, c0t))
    out.backward(torch.from_numpy(dh))
    assert_close(h, out.detach().numpy(), "h")
    assert_close(c[-1], cn[0].detach().numpy(), "c[T-1]")
    assert_close(dx, xt.grad.numpy(), "dx")
    assert_close(dh0, h0t.grad[0].numpy(), "dh0")
    assert_close(dc0, c0t.grad[0].numpy(), "dc0")
    assert_close(dWx, m.weight_ih_l0.grad.numpy().T, "dWx")
    assert_close(dWh, m.weight_hh_l0.grad.numpy().T, "dWh")
    assert_close(db, m.bias_ih_l0.grad.numpy(), "db")


def test_lstm_with_dc_matches_torch_cell_loop():
    """Upstream gradients on every c[t] too: unroll torch.nn.LSTMCell to expose all c[t]."""
    T, N, D, H = 4, 3, 2, 5
    p, dh, dc = params(T, N, D, H, seed=12)
    h, c, cache = lstm_forward(**p)
    dx, dh0, dc0, dWx, dWh, db = lstm_backward(dh, cache, dc=dc)

    cell = torch.nn.LSTMCell(D, H).double()
    copy_weights(cell, p, "")
    xt = torch.from_numpy(p["x"].copy()).requires_grad_()
    h0t = torch.from_numpy(p["h0"].copy()).requires_grad_()
    c0t = torch.from_numpy(p["c0"].copy()).requires_grad_()
    ht, ct, hs, cs = h0t, c0t, [], []
    for t in range(T):
        ht, ct = cell(xt[t], (ht, ct))
        hs.append(ht)
        cs.append(ct)
    torch.autograd.backward(hs + cs, list(torch.from_numpy(dh)) + list(torch.from_numpy(dc)))
    assert_close(h, torch.stack(hs).detach().numpy(), "h")
    assert_close(c, torch.stack(cs).detach().numpy(), "c")
    assert_close(dx, xt.grad.numpy(), "dx")
    assert_close(dh0, h0t.grad.numpy(), "dh0")
    assert_close(dc0, c0t.grad.numpy(), "dc0")
    assert_close(dWx, cell.weight_ih.grad.numpy().T, "dWx")
    assert_close(dWh, cell.weight_hh.grad.numpy().T, "dWh")
    assert_close(db, cell.bias_hh.grad.numpy(), "db")


def test_lstm_step_matches_torch_cell():
    N, D, H = 4, 3, 2
    p, dh, dc = params(1, N, D, H, seed=4)
    h, c, cache = lstm_step_forward(p["x"][0], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    dx, dh_prev, dc_prev, dWx, dWh, db = lstm_step_backward(dh[0], dc[0], cache)

    cell = torch.nn.LSTMCell(D, H).double()
    copy_weights(cell, p, "")
    xt = torch.from_numpy(p["x"][0].copy()).requires_grad_()
    h0t = torch.from_numpy(p["h0"].copy()).requires_grad_()
    c0t = torch.from_numpy(p["c0"].copy()).requires_grad_()
    ht, ct = cell(xt, (h0t, c0t))
    torch.autograd.backward([ht, ct], [torch.from_numpy(dh[0]), torch.from_numpy(dc[0])])
    assert_close(h, ht.detach().numpy(), "h")
    assert_close(c, ct.detach().numpy(), "c")
    for got, want, name in [(dx, xt.grad, "dx"), (dh_prev, h0t.grad, "dh_prev"), (dc_prev, c0t.grad, "dc_prev"),
                            (dWx, cell.weight_ih.grad.T, "dWx"), (dWh, cell.weight_hh.grad.T, "dWh"),
                            (db, cell.bias_ih.grad, "db")]:
        assert_close(got, want.numpy(), name)


def test_sequence_equals_loop_of_steps():
    T, N, D, H = 5, 2, 3, 4
    p, dh, dc = params(T, N, D, H, seed=13)
    h, c, cache = lstm_forward(**p)
    grads = lstm_backward(dh, cache, dc=dc)
    hp, cp, caches = p["h0"], p["c0"], []
    for t in range(T):
        hp, cp, ca = lstm_step_forward(p["x"][t], hp, cp, p["Wx"], p["Wh"], p["b"])
        caches.append(ca)
        np.testing.assert_allclose(hp, h[t], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(cp, c[t], rtol=1e-12, atol=1e-13)
    gh, gc = np.zeros((N, H)), np.zeros((N, H))
    dx, sums = np.zeros_like(p["x"]), [0, 0, 0]
    for t in reversed(range(T)):
        dx[t], gh, gc, dWx, dWh, db = lstm_step_backward(dh[t] + gh, dc[t] + gc, caches[t])
        sums = [sums[0] + dWx, sums[1] + dWh, sums[2] + db]
    for got, want in zip(grads, [dx, gh, gc] + sums):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_step_backward_accepts_dc_none():
    p, dh, _ = params(1, 2, 3, 2, seed=1)
    h, c, cache = lstm_step_forward(p["x"][0], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    a = lstm_step_backward(dh[0], None, cache)
    b = lstm_step_backward(dh[0], np.zeros_like(dh[0]), cache)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_backward_leaves_cache_intact():
    p, dh, dc = params(3, 2, 2, 3, seed=5)
    h, c, cache = lstm_forward(**p)
    saved = {k: v.copy() for k, v in cache.items()}
    first = lstm_backward(dh, cache, dc=dc)
    second = lstm_backward(dh, cache, dc=dc)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    for k, v in saved.items():
        np.testing.assert_array_equal(cache[k], v)


# --------------------------------------------------------------------------------------------
# the gates as switches (chapter 5): saturate a gate with a bias of +-20
# --------------------------------------------------------------------------------------------

BIG = 20.0


def switch_params(i, f, o, g=None, seed=0, T=3, N=2, D=3, H=4):
    """Small random weights; gate biases set to +-BIG (or left small when None)."""
    p, _, _ = params(T, N, D, H, seed=seed)
    p["Wx"] *= 0.1
    p["Wh"] *= 0.1
    for k, v in enumerate((i, f, g, o)):
        if v is not None:
            p["b"][k * H:(k + 1) * H] = v
    return p


def test_forget_on_input_off_keeps_the_cell():
    p = switch_params(i=-BIG, f=BIG, o=0.0)
    h, c, _ = lstm_forward(**p)
    for t in range(c.shape[0]):
        np.testing.assert_allclose(c[t], p["c0"], atol=1e-7)
    # and one step: c = c_prev exactly up to e^-20
    _, c1, _ = lstm_step_forward(p["x"][0], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    np.testing.assert_allclose(c1, p["c0"], atol=1e-7)


def test_forget_off_resets_the_cell():
    p = switch_params(i=-BIG, f=-BIG, o=0.0)
    p["c0"] *= 100.0                                  # a large memory that must vanish
    h, c, _ = lstm_forward(**p)
    np.testing.assert_allclose(c, 0.0, atol=1e-5)
    # with the input gate open, the new cell no longer depends on c[t-1]
    q = switch_params(i=BIG, f=-BIG, o=0.0)
    _, c_a, _ = lstm_step_forward(q["x"][0], q["h0"], q["c0"], q["Wx"], q["Wh"], q["b"])
    _, c_b, _ = lstm_step_forward(q["x"][0], q["h0"], -5 * q["c0"], q["Wx"], q["Wh"], q["b"])
    np.testing.assert_allclose(c_a, c_b, atol=1e-6)


def test_input_on_writes_the_candidate():
    p = switch_params(i=BIG, f=-BIG, o=0.0)
    H = p["h0"].shape[1]
    x, h_prev = p["x"][0], p["h0"]
    a = x @ p["Wx"] + h_prev @ p["Wh"] + p["b"]
    g = np.tanh(a[:, 2 * H:3 * H])                     # the candidate
    _, c, _ = lstm_step_forward(x, h_prev, p["c0"], p["Wx"], p["Wh"], p["b"])
    np.testing.assert_allclose(c, g, atol=1e-7)
    h, cs, _ = lstm_forward(**p)
    np.testing.assert_allclose(cs[0], g, atol=1e-7)


def test_output_off_shuts_h_but_keeps_c():
    p = switch_params(i=-BIG, f=BIG, o=-BIG)
    h, c, _ = lstm_forward(**p)
    np.testing.assert_allclose(h, 0.0, atol=1e-8)
    np.testing.assert_allclose(c[-1], p["c0"], atol=1e-7)
    assert np.abs(c).max() > 0.5                      # the memory is there, just not shown
    # opening the output gate shows it: h = tanh(c)
    q = switch_params(i=-BIG, f=BIG, o=BIG)
    hq, cq, _ = lstm_forward(**q)
    np.testing.assert_allclose(hq, np.tanh(cq), atol=1e-7)


def test_saturated_gates_give_finite_values_and_gradients():
    p = switch_params(i=1000.0, f=-1000.0, o=1000.0)
    h, c, cache = lstm_forward(**p)
    grads = lstm_backward(np.ones_like(h), cache)
    assert np.all(np.isfinite(h)) and all(np.all(np.isfinite(g)) for g in grads)


# --------------------------------------------------------------------------------------------
# dtypes and validation
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    p, dh, dc = params(3, 2, 4, 5, seed=0, dtype=dtype)
    h, c, cache = lstm_forward(**p)
    assert h.dtype == dtype and c.dtype == dtype
    assert all(g.dtype == dtype for g in lstm_backward(dh, cache, dc=dc))
    hs, cs, ca = lstm_step_forward(p["x"][0], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    assert hs.dtype == dtype and cs.dtype == dtype
    assert all(g.dtype == dtype for g in lstm_step_backward(dh[0], dc[0], ca))


def test_float32_agrees_with_float64():
    p64, dh64, _ = params(4, 3, 5, 6, seed=9)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    h64, c64, cache64 = lstm_forward(**p64)
    h32, c32, cache32 = lstm_forward(**p32)
    np.testing.assert_allclose(h32, h64, atol=1e-5)
    np.testing.assert_allclose(c32, c64, atol=1e-5)
    g64 = lstm_backward(dh64, cache64)
    g32 = lstm_backward(dh64.astype(np.float32), cache32)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(x=np.zeros((2, 4))), r"x: expected shape \(T, N, D\) \(rank 3\), got \(2, 4\)"),
        (dict(h0=np.zeros((3, 5))), r"h0: expected shape \(N, H\) = \(2, 5\), got \(3, 5\)"),
        (dict(c0=np.zeros((2, 6))), r"c0: expected shape \(N, H\) = \(2, 5\), got \(2, 6\)"),
        (dict(Wx=np.zeros((4, 19))), r"Wx: expected shape \(D, 4H\) with a width divisible by 4"),
        (dict(Wx=np.zeros((3, 20))), r"Wx: expected shape \(D, 4H\) = \(4, 4H\), got \(3, 20\)"),
        (dict(Wh=np.zeros((5, 5))), r"Wh: expected shape \(H, 4H\) = \(5, 20\), got \(5, 5\)"),
        (dict(b=np.zeros(5)), r"b: expected shape \(4H\) = \(20,\), got \(5,\)"),
        (dict(b=np.zeros(20, dtype=np.float32)), r"b: expected dtype float64 \(the dtype of x\)"),
    ],
)
def test_bad_input_raises_value_error(change, match):
    p, _, _ = params(3, 2, 4, 5, seed=0)
    p.update(change)
    with pytest.raises(ValueError, match=match):
        lstm_forward(**p)


def test_bad_step_and_backward_input():
    p, dh, dc = params(3, 2, 4, 5, seed=0)
    with pytest.raises(ValueError, match=r"c_prev: expected shape \(N, H\) = \(2, 5\), got \(1, 5\)"):
        lstm_step_forward(p["x"][0], p["h0"], p["c0"][:1], p["Wx"], p["Wh"], p["b"])
    h, c, cache = lstm_forward(**p)
    with pytest.raises(ValueError, match=r"dc: expected shape \(T, N, H\) = \(3, 2, 5\), got \(3, 2, 4\)"):
        lstm_backward(dh, cache, dc=dc[..., :4])
    with pytest.raises(ValueError, match=r"dh: expected shape \(T, N, H\) = \(3, 2, 5\)"):
        lstm_backward(dh[:2], cache)
