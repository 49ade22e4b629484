"""Stacked and bidirectional RNN/LSTM/GRU in NumPy: numerical gradients, torch.nn, validation."""

import zlib

import numpy as np
import pytest

from course_lib.gradcheck import numerical_gradient, rel_error
from course_lib.numpy_rnn.stacked import (init_multilayer_params, multilayer_backward,
                                          multilayer_forward, multilayer_param_names)

torch = pytest.importorskip("torch")
from course_lib.numpy_rnn.convert import from_torch, grads_from_torch  # noqa: E402


CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


def _problem(cell, T, N, D, H, L, bidir, seed, dtype=np.float64):
    """Random inputs, parameters and upstream gradients of one stacked problem."""
    rng = np.random.default_rng(seed)
    dirs = 2 if bidir else 1
    params = init_multilayer_params(cell, D, H, L, bidir, seed=rng, dtype=dtype)
    # U(-0.5, 0.5): gates away from both their linear and saturated regimes, so that no gradient
    # entry is so small that centred differences (noise ~1e-11) miss rel_error < 1e-7
    for k in params:
        params[k] = (params[k] * 0.5 * np.sqrt(H)).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((L * dirs, N, H)).astype(dtype)
    c0 = rng.standard_normal((L * dirs, N, H)).astype(dtype) if cell == "lstm" else None
    dout = rng.standard_normal((T, N, dirs * H)).astype(dtype)
    dh_n = rng.standard_normal((L * dirs, N, H)).astype(dtype)
    dc_n = rng.standard_normal((L * dirs, N, H)).astype(dtype) if cell == "lstm" else None
    return x, h0, c0, params, dout, dh_n, dc_n


# (T, N, D, H, L, bidirectional): the degenerate sizes 1 and both layouts, seeded
SHAPES = [
    (1, 1, 1, 1, 1, False),
    (1, 1, 1, 1, 2, True),
    (3, 1, 2, 1, 2, True),
    (1, 2, 3, 2, 1, True),
    (4, 2, 3, 3, 2, False),
    (3, 2, 2, 3, 2, True),
    (2, 2, 2, 2, 3, True),
]


# About 5% of random draws have some gradient entry ~1e-4 (sums that nearly cancel); there the
# rounding noise of centred differences (~3e-11 absolute at h = 1e-5) alone exceeds rel_error 1e-7.
# The seeds are therefore fixed (crc32 of the case, stable across processes), and the few cases
# whose draw had such an entry are moved to the next seed; the worst rel_error left is ~3.5e-8.
SEED_OFFSET = {("lstm", (3, 2, 2, 3, 2, True)): 1, ("gru", (3, 2, 2, 3, 2, True)): 2,
               ("gru", (2, 2, 2, 2, 3, True)): 2}


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}N{}D{}H{}L{}{}".format(*s[:5], "bi" * s[5]))
def test_backward_matches_numerical_gradient(cell, activation, shape):
    T, N, D, H, L, bidir = shape
    seed = zlib.crc32(repr((cell, activation, shape)).encode()) + SEED_OFFSET.get((cell, shape), 0)
    x, h0, c0, params, dout, dh_n, dc_n = _problem(cell, T, N, D, H, L, bidir, seed)

    def outputs():
        # every output in one vector; numerical_gradient weights it by the upstream vector below,
        # so the check covers dout, dh_n and dc_n together
        out, h_n, c_n, _ = multilayer_forward(x, h0, params, cell=cell, num_layers=L,
                                              bidirectional=bidir, c0=c0, activation=activation)
        return np.concatenate([a.ravel() for a in (out, h_n, c_n) if a is not None])

    upstream = np.concatenate([a.ravel() for a in (dout, dh_n, dc_n) if a is not None])

    out, h_n, c_n, cache = multilayer_forward(x, h0, params, cell=cell, num_layers=L,
                                              bidirectional=bidir, c0=c0, activation=activation)
    dirs = 2 if bidir else 1
    assert out.shape == (T, N, dirs * H) and h_n.shape == (L * dirs, N, H)
    dx, dh0, dc0, grads = multilayer_backward(dout, cache, dh_n=dh_n, dc_n=dc_n)
    assert list(grads) == multilayer_param_names(cell, L, bidir)

    checks = {"x": (x, dx), "h0": (h0, dh0)}
    if cell == "lstm":
        checks["c0"] = (c0, dc0)
    else:
        assert dc0 is None and c_n is None
    for k in params:
        checks[k] = (params[k], grads[k])
    for name, (arr, analytic) in checks.items():
        assert analytic.shape == arr.shape and analytic.dtype == arr.dtype, name
        numeric = numerical_gradient(lambda _: outputs(), arr, df=upstream)
        err = rel_error(analytic, numeric)
        assert err < 1e-7, f"{cell}/{activation} {shape}: d{name} rel_error {err:.2e}"


@pytest.mark.parametrize("cell,activation", CELLS)
def test_no_upstream_on_final_states_is_zero_upstream(cell, activation):
    x, h0, c0, params, dout, dh_n, dc_n = _problem(cell, 4, 2, 3, 3, 2, True, 7)
    _, _, _, cache = multilayer_forward(x, h0, params, cell=cell, c0=c0, activation=activation)
    a = multilayer_backward(dout, cache)
    b = multilayer_backward(dout, cache, dh_n=np.zeros_like(dh_n),
                            dc_n=np.zeros_like(dh_n) if cell == "lstm" else None)
    np.testing.assert_array_equal(a[0], b[0])
    for k in a[3]:
        np.testing.assert_array_equal(a[3][k], b[3][k])


def _torch_module(cell, activation, D, H, L, bidir, bias=True):
    kw = dict(num_layers=L, bidirectional=bidir, bias=bias, dtype=torch.float64)
    if cell == "rnn":
        return torch.nn.RNN(D, H, nonlinearity=activation, **kw)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](D, H, **kw)


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_backward_match_torch(cell, activation, L, bidir, bias):
    T, N, D, H = 6, 3, 4, 5
    dirs = 2 if bidir else 1
    torch.manual_seed(L * 10 + bidir)
    module = _torch_module(cell, activation, D, H, L, bidir, bias)
    if bias:
        with torch.no_grad():                      # nonzero, distinct biases on both sides
            for name, p in module.named_parameters():
                if name.startswith("bias"):
                    p.uniform_(-0.5, 0.5)
    params, config = from_torch(module)
    assert config["cell"] == cell and config["num_layers"] == L and config["bidirectional"] == bidir

    x = torch.randn(T, N, D, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(L * dirs, N, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(L * dirs, N, H, dtype=torch.float64, requires_grad=True)
    if cell == "lstm":
        out, (h_n, c_n) = module(x, (h0, c0))
    else:
        out, h_n = module(x, h0)
    dout, dh_n = torch.randn_like(out), torch.randn_like(h_n)
    loss = (out * dout).sum() + (h_n * dh_n).sum()
    if cell == "lstm":
        dc_n = torch.randn_like(c_n)
        loss = loss + (c_n * dc_n).sum()
    loss.backward()

    np_out, np_h_n, np_c_n, cache = multilayer_forward(
        x.detach().numpy(), h0.detach().numpy(), params, cell=cell, num_layers=L,
        bidirectional=bidir, c0=c0.detach().numpy() if cell == "lstm" else None,
        activation=config["activation"])
    dx, dh0, dc0, grads = multilayer_backward(
        dout.numpy(), cache, dh_n=dh_n.numpy(), dc_n=dc_n.numpy() if cell == "lstm" else None)

    def close(name, a, b):
        assert a.shape == b.shape, name
        assert np.max(np.abs(a - b)) < 1e-10, f"{name}: max |diff| {np.max(np.abs(a - b)):.2e}"

    close("out", np_out, out.detach().numpy())
    close("h_n", np_h_n, h_n.detach().numpy())
    close("dx", dx, x.grad.numpy())
    close("dh0", dh0, h0.grad.numpy())
    if cell == "lstm":
        close("c_n", np_c_n, c_n.detach().numpy())
        close("dc0", dc0, c0.grad.numpy())
    torch_grads = grads_from_torch(module)
    expected_keys = [k for k in multilayer_param_names(cell, L, bidir)
                     if bias or not k.split("_")[0] in ("b", "bx", "bh")]
    assert sorted(torch_grads) == sorted(expected_keys)
    for k, g in torch_grads.items():
        close(f"d{k}", grads[k], g)


def test_float32_stays_float32():
    x, h0, c0, params, dout, dh_n, dc_n = _problem("lstm", 3, 2, 3, 4, 2, True, 0, np.float32)
    out, h_n, c_n, cache = multilayer_forward(x, h0, params, cell="lstm", c0=c0)
    assert out.dtype == h_n.dtype == c_n.dtype == np.float32
    dx, dh0, dc0, grads = multilayer_backward(dout, cache, dh_n, dc_n)
    assert dx.dtype == dh0.dtype == dc0.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_layout_inferred_from_keys_and_zero_initial_state():
    x, h0, c0, params, *_ = _problem("gru", 3, 2, 3, 4, 3, True, 1)
    a = multilayer_forward(x, None, params, cell="gru")
    b = multilayer_forward(x, np.zeros_like(h0), params, cell="gru", num_layers=3, bidirectional=True)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (3, 2, 8) and a[1].shape == (6, 2, 4)
    # an explicit smaller stack uses only the first layers
    out1, *_ = multilayer_forward(x, None, params, cell="gru", num_layers=1, bidirectional=False)
    assert out1.shape == (3, 2, 4)


def test_reverse_direction_reads_the_sequence_backwards():
    # the reverse half at t=0 has read the whole sequence, at t=T-1 only x[T-1]
    x, h0, _, params, *_ = _problem("rnn", 5, 2, 3, 4, 1, True, 2)
    out, h_n, _, _ = multilayer_forward(x, h0, params, cell="rnn")
    x2 = x.copy()
    x2[0] += 1.0                                   # change only the first step
    out2, *_ = multilayer_forward(x2, h0, params, cell="rnn")
    assert np.array_equal(out[-1, :, 4:], out2[-1, :, 4:])     # reverse at T-1: untouched
    assert not np.allclose(out[-1, :, :4], out2[-1, :, :4])    # forward at T-1: changed
    np.testing.assert_array_equal(h_n[0], out[-1, :, :4])
    np.testing.assert_array_equal(h_n[1], out[0, :, 4:])


@pytest.mark.parametrize("kwargs,match", [
    (dict(cell="transformer"), "cell"),
    (dict(num_layers=0), "num_layers"),
    (dict(num_layers=3), "missing key 'Wx_l2'"),
    (dict(activation="sigmoid", cell="rnn"), "activation"),
])
def test_bad_arguments_raise(kwargs, match):
    cell = kwargs.pop("cell", "rnn")
    x, h0, _, params, *_ = _problem("rnn", 3, 2, 3, 4, 2, False, 3)
    with pytest.raises(ValueError, match=match):
        multilayer_forward(x, h0, params, cell=cell, **kwargs)


def test_bad_shapes_name_the_argument():
    x, h0, c0, params, dout, dh_n, dc_n = _problem("lstm", 3, 2, 3, 4, 2, True, 4)
    with pytest.raises(ValueError, match=r"h0: expected shape \(L\*dirs, N, H\) = \(4, 2, 4\)"):
        multilayer_forward(x, h0[:2], params, cell="lstm", c0=c0)
    with pytest.raises(ValueError, match="c0"):
        multilayer_forward(x, h0, params, cell="lstm", c0=c0[:, :1])
    with pytest.raises(ValueError, match=r"x: expected shape \(T, N, D\)"):
        multilayer_forward(x[0], h0, params, cell="lstm", c0=c0)
    with pytest.raises(ValueError, match=r"params\['Wx_l0'\]: expected shape \(D_l, 4H\) = \(2, 16\)"):
        multilayer_forward(x[:, :, :2], h0, params, cell="lstm", c0=c0)
    bad = dict(params, Wh_l1_reverse=params["Wh_l1_reverse"][:, :12])
    with pytest.raises(ValueError, match=r"params\['Wh_l1_reverse'\]"):
        multilayer_forward(x, h0, bad, cell="lstm", c0=c0)
    with pytest.raises(ValueError, match=r"params\['Wx_l0'\]: expected shape \(D_l, 1H\)"):
        multilayer_forward(x, h0, params, cell="rnn")   # LSTM weights given as an RNN's
    with pytest.raises(ValueError, match="c0: only an LSTM"):
        multilayer_forward(x, h0, init_multilayer_params("gru", 3, 4, 2, True), cell="gru", c0=c0)
    with pytest.raises(ValueError, match="dtype"):
        multilayer_forward(x.astype(np.float32), h0, params, cell="lstm", c0=c0)
    _, _, _, cache = multilayer_forward(x, h0, params, cell="lstm", c0=c0)
    with pytest.raises(ValueError, match=r"dout: expected shape \(T, N, dirs\*H\)"):
        multilayer_backward(dout[:, :, :4], cache)
    with pytest.raises(ValueError, match="dh_n"):
        multilayer_backward(dout, cache, dh_n=dh_n[:1])
