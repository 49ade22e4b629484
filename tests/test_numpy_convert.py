"""from_torch / to_torch: exact round trips between torch.nn recurrent modules and the NumPy layout."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from course_lib.numpy_rnn import gru_step_forward, lstm_step_forward, rnn_step_forward  # noqa: E402
from course_lib.numpy_rnn.convert import from_torch, grads_from_torch, to_torch  # noqa: E402
from course_lib.numpy_rnn.stacked import (init_multilayer_params, multilayer_forward,  # noqa: E402
                                          multilayer_param_names)

KINDS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


def _module(cell, activation, L, bidir, bias, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    kw = dict(num_layers=L, bidirectional=bidir, bias=bias, dtype=dtype)
    if cell == "rnn":
        return torch.nn.RNN(3, 4, nonlinearity=activation, **kw)
    return {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](3, 4, **kw)


def _run(module, x, cell):
    with torch.no_grad():
        out, h_n = module(torch.from_numpy(x))
    return out.numpy(), (h_n[0] if cell == "lstm" else h_n).numpy()


@pytest.mark.parametrize("cell,activation", KINDS)
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_round_trips_are_exact(cell, activation, L, bidir, bias):
    module = _module(cell, activation, L, bidir, bias)
    params, config = from_torch(module)
    assert list(params) == multilayer_param_names(cell, L, bidir)
    assert config == {"cell": cell, "activation": activation, "input_size": 3, "hidden_size": 4,
                      "bias": bias, "module": {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[cell],
                      "num_layers": L, "bidirectional": bidir, "batch_first": False,
                      "dropout": 0.0}
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    for k, v in params.items():
        assert v.dtype == np.float64 and v.flags.c_contiguous, k
        tname = k.replace("Wx", "weight_ih").replace("Wh", "weight_hh")
        if k.startswith("W"):
            np.testing.assert_array_equal(v, getattr(module, tname).detach().numpy().T)
        elif not bias:
            np.testing.assert_array_equal(v, np.zeros(G * 4))
        elif cell == "gru":
            tname = k.replace("bx", "bias_ih").replace("bh", "bias_hh")
            np.testing.assert_array_equal(v, getattr(module, tname).detach().numpy())
        else:
            sfx = k[1:]
            np.testing.assert_array_equal(v, getattr(module, "bias_ih" + sfx).detach().numpy()
                                          + getattr(module, "bias_hh" + sfx).detach().numpy())

    # NumPy -> torch -> NumPy is the identity, bit for bit
    back = to_torch(params, config)
    assert type(back) is type(module)
    assert (back.num_layers, back.bidirectional, back.bias) == (L, bidir, bias)
    if cell == "rnn":
        assert back.nonlinearity == activation
    params2, config2 = from_torch(back)
    assert config2 == config and list(params2) == list(params)
    for k in params:
        np.testing.assert_array_equal(params2[k], params[k], err_msg=k)
    # torch -> NumPy -> torch: the same weights and the same function
    for name, p in module.named_parameters():
        q = getattr(back, name)
        if name.startswith("weight") or cell == "gru":
            assert torch.equal(p, q), name
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    for a, b in zip(_run(module, x, cell), _run(back, x, cell)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    # and the NumPy forward computes that function
    out, h_n, _, _ = multilayer_forward(x, None, params, cell=cell, activation=activation)
    ref_out, ref_h_n = _run(module, x, cell)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=1e-13)
    np.testing.assert_allclose(h_n, ref_h_n, rtol=0, atol=1e-13)


def test_to_torch_infers_the_layout_from_the_params():
    for cell in ("rnn", "lstm", "gru"):
        params = init_multilayer_params(cell, 5, 6, num_layers=2, bidirectional=True, seed=1)
        m = to_torch(params)
        assert type(m) is {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        assert (m.input_size, m.hidden_size, m.num_layers, m.bidirectional) == (5, 6, 2, True)
        assert next(m.parameters()).dtype == torch.float64
        p2, _ = from_torch(m)
        assert all(np.array_equal(p2[k], params[k]) for k in params)
    m = to_torch(init_multilayer_params("rnn", 2, 3), nonlinearity="relu", batch_first=True)
    assert m.nonlinearity == "relu" and m.batch_first


def test_dtype_is_kept_or_converted():
    m32 = torch.nn.LSTM(3, 4, num_layers=2)
    p32, _ = from_torch(m32)
    assert all(v.dtype == np.float32 for v in p32.values())
    p64, _ = from_torch(m32, dtype=np.float64)
    assert all(v.dtype == np.float64 for v in p64.values())
    np.testing.assert_array_equal(p64["Wx_l1"], p32["Wx_l1"].astype(np.float64))
    assert next(to_torch(p32).parameters()).dtype == torch.float32


def test_params_are_copies():
    m = torch.nn.GRU(3, 4, dtype=torch.float64)
    params, _ = from_torch(m)
    params["Wx_l0"][:] = 0.0
    params["bx_l0"][:] = 0.0
    assert torch.count_nonzero(m.weight_ih_l0) > 0 and torch.count_nonzero(m.bias_ih_l0) > 0
    back = to_torch(params)
    params["Wh_l0"][:] = 0.0
    assert torch.count_nonzero(back.weight_hh_l0) > 0


@pytest.mark.parametrize("cell,activation", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_single_step_cells(cell, activation, bias):
    torch.manual_seed(3)
    cls = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell]
    kw = {"nonlinearity": activation} if cell == "rnn" else {}
    module = cls(3, 4, bias=bias, dtype=torch.float64, **kw)
    params, config = from_torch(module)
    assert sorted(params) == sorted(["Wx", "Wh"] + (["bx", "bh"] if cell == "gru" else ["b"]))
    assert config["module"] == cls.__name__ and config["activation"] == activation

    rng = np.random.default_rng(0)
    x, h, c = (rng.standard_normal(s) for s in ((2, 3), (2, 4), (2, 4)))
    xt, ht, ct = (torch.from_numpy(a).requires_grad_() for a in (x, h, c))
    if cell == "lstm":
        h_t, c_t = module(xt, (ht, ct))
        h_np, c_np, _ = lstm_step_forward(x, h, c, **params)
        np.testing.assert_allclose(c_np, c_t.detach().numpy(), rtol=0, atol=1e-13)
        (h_t.sum() + c_t.sum()).backward()
    else:
        h_t = module(xt, ht)
        step = rnn_step_forward if cell == "rnn" else gru_step_forward
        h_np, _ = step(x, h, **params, **({"activation": activation} if cell == "rnn" else {}))
        h_t.sum().backward()
    np.testing.assert_allclose(h_np, h_t.detach().numpy(), rtol=0, atol=1e-13)

    grads = grads_from_torch(module)
    assert sorted(grads) == sorted(k for k in params if bias or k.startswith("W"))
    back = to_torch(params, config)
    assert type(back) is cls
    p2, c2 = from_torch(back)
    assert c2 == config
    assert all(np.array_equal(p2[k], params[k]) for k in params)
    assert type(to_torch(params)) is cls               # bare names alone mean a cell


def test_bias_grad_is_shared_by_both_torch_biases():
    # b = bias_ih + bias_hh, so dL/db is either one's gradient (and they are equal)
    m = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    out, _ = m(torch.randn(5, 2, 3, dtype=torch.float64))
    (out ** 2).sum().backward()
    grads = grads_from_torch(m)
    for name, p in m.named_parameters():
        if name.startswith("bias_ih"):
            other = getattr(m, name.replace("bias_ih", "bias_hh")).grad
            # equal up to rounding: torch accumulates the two in a different order
            torch.testing.assert_close(p.grad, other, rtol=1e-12, atol=1e-14)
            np.testing.assert_array_equal(grads["b" + name[len("bias_ih"):]], p.grad.numpy())


def test_bad_input_raises():
    with pytest.raises(ValueError, match="module: expected a torch.nn.RNN"):
        from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="proj_size"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match=r"\.grad is None"):
        grads_from_torch(torch.nn.GRU(3, 4))
    params = init_multilayer_params("lstm", 3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"params\['b_l1'\]: bias=False but the bias is nonzero"):
        to_torch(dict(params, b_l0=np.zeros(16)), bias=False)
    with pytest.raises(ValueError, match=r"params\['Wh_l1'\]: expected shape"):
        to_torch(dict(params, Wh_l1=params["Wh_l1"][:, :8]))
    with pytest.raises(ValueError, match="missing key 'Wx_l2'"):
        to_torch(params, num_layers=3)
    with pytest.raises(ValueError, match="activation"):
        to_torch(params, activation="relu")
    with pytest.raises(ValueError, match="hidden_size"):
        to_torch(params, hidden_size=5)
    with pytest.raises(ValueError, match="params: expected key 'Wx_l0'"):
        to_torch({"W": np.zeros((2, 2))})


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_from_torch_reads_course_lib_modules_like_torch_nn(kind):
    """course_lib.torch_rnn's drop-ins convert exactly as the torch.nn modules they mirror."""
    import course_lib.torch_rnn as ctr

    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True).double()
    ours = getattr(ctr, kind)(3, 4, num_layers=2, bidirectional=True).double()
    ours.load_state_dict(ref.state_dict())
    p_ref, c_ref = from_torch(ref)
    p_ours, c_ours = from_torch(ours)
    assert p_ours.keys() == p_ref.keys()
    for k in p_ref:
        np.testing.assert_array_equal(p_ours[k], p_ref[k], err_msg=k)
    assert {k: v for k, v in c_ours.items() if k != "module"} == {
        k: v for k, v in c_ref.items() if k != "module"}
    cell = getattr(ctr, f"{kind}Cell")(3, 4).double()
    cell_ref = getattr(torch.nn, f"{kind}Cell")(3, 4).double()
    cell.load_state_dict(cell_ref.state_dict())
    for k, v in from_torch(cell_ref)[0].items():
        np.testing.assert_array_equal(from_torch(cell)[0][k], v, err_msg=k)
