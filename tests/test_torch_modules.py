"""course_lib.torch_rnn.RNN/LSTM/GRU are drop-ins for torch.nn's, with the same numbers.

Everything numeric is float64 and compared within 1e-9 (absolute): outputs, final states and the
gradient of a random linear function of them with respect to the input, the initial states and
every parameter. Weights go from torch.nn into ours with load_state_dict, and from ours into
torch.nn. The NumPy reference (course_lib.numpy_rnn) is checked against the same weights.
"""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.torch_rnn import (BACKENDS, GRU, LSTM, RNN, available_devices, default_device,
                                  get_backend, set_backend)
import course_lib.torch_rnn.device as device_mod

ATOL = 1e-9
DT = torch.float64
T, N, D, H = 5, 3, 4, 6

# name -> (ours, torch.nn's, extra constructor kwargs)
KINDS = {
    "rnn_tanh": (RNN, nn.RNN, {}),
    "rnn_relu": (RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, nn.LSTM, {}),
    "gru": (GRU, nn.GRU, {}),
}
CONFIGS = {
    "1layer": {},
    "2layers": {"num_layers": 2},
    "3layers_bidir": {"num_layers": 3, "bidirectional": True},
    "bidir": {"bidirectional": True},
    "batch_first": {"batch_first": True, "num_layers": 2},
    "no_bias": {"bias": False, "num_layers": 2, "bidirectional": True},
}


def make_pair(kind, config, backend="eager", seed=0, **extra):
    """torch.nn module with seeded weights and ours with those weights loaded."""
    ours_cls, ref_cls, kw = KINDS[kind]
    kw = {**kw, **CONFIGS[config], **extra}
    torch.manual_seed(seed)
    ref = ref_cls(D, H, dtype=DT, **kw)
    ours = ours_cls(D, H, dtype=DT, backend=backend, **kw)
    missing = ours.load_state_dict(ref.state_dict())
    assert not missing.missing_keys and not missing.unexpected_keys
    return ours, ref


def make_inputs(kind, module, batched=True, seed=1):
    """Random input and initial state(s) that require gradients, shaped for ``module``."""
    g = torch.Generator().manual_seed(seed)
    dirs = 2 if module.bidirectional else 1
    if batched:
        shape = (N, T, D) if module.batch_first else (T, N, D)
        sshape = (module.num_layers * dirs, N, H)
    else:
        shape, sshape = (T, D), (module.num_layers * dirs, H)
    x = torch.randn(shape, generator=g, dtype=DT).requires_grad_()
    h0 = (0.5 * torch.randn(sshape, generator=g, dtype=DT)).requires_grad_()
    if kind == "lstm":
        c0 = (0.5 * torch.randn(sshape, generator=g, dtype=DT)).requires_grad_()
        return x, (h0, c0)
    return x, h0


def leaves(x, hx):
    return [x, *(hx if isinstance(hx, tuple) else (hx,))]


def run(module, x, hx, seed=2):
    """Outputs, final states and d(loss)/d(x, hx, every parameter) for a random linear loss."""
    out, state = module(x, hx)
    states = list(state) if isinstance(state, tuple) else [state]
    g = torch.Generator().manual_seed(seed)
    loss = sum((torch.randn(t.shape, generator=g, dtype=DT) * t).sum() for t in [out, *states])
    wrt = leaves(x, hx) if hx is not None else [x]
    names = [n for n, _ in module.named_parameters()]
    grads = torch.autograd.grad(loss, wrt + [p for _, p in module.named_parameters()])
    return {"output": out, **{f"state{i}": s for i, s in enumerate(states)},
            **{f"d_input{i}": gr for i, gr in enumerate(grads[:len(wrt)])},
            **{f"d_{n}": gr for n, gr in zip(names, grads[len(wrt):])}}


def assert_same(got, want, atol=ATOL):
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].shape == want[key].shape, key
        err = (got[key] - want[key]).abs().max().item()
        assert err <= atol, f"{key}: max abs difference {err:.3g} > {atol}"


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_parity_with_torch_nn(kind, config):
    ours, ref = make_pair(kind, config)
    x, hx = make_inputs(kind, ours)
    assert_same(run(ours, x, hx), run(ref, x, hx))


@pytest.mark.parametrize("backend", ["script", "fused"])
@pytest.mark.parametrize("config", ["2layers", "3layers_bidir", "no_bias", "batch_first"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_fast_backends_match_torch_nn(kind, config, backend):
    ours, ref = make_pair(kind, config, backend=backend)
    x, hx = make_inputs(kind, ours)
    assert_same(run(ours, x, hx), run(ref, x, hx))


@pytest.mark.parametrize("kind", list(KINDS))
def test_script_backend_equals_eager(kind):
    """The scripted loop runs the very same operations: outputs and states are bitwise equal.
    TorchScript differentiates with its own formulas (e.g. for sigmoid), so gradients may
    differ in the last bit."""
    eager, _ = make_pair(kind, "3layers_bidir", backend="eager")
    script, _ = make_pair(kind, "3layers_bidir", backend="script")
    x, hx = make_inputs(kind, eager)
    got, want = run(script, x, hx), run(eager, x, hx)
    for key in want:
        if key.startswith("d_"):
            assert (got[key] - want[key]).abs().max() <= 1e-13, key
        else:
            assert torch.equal(got[key], want[key]), key


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_lstm_scripted_loops_equal_python_loops(monkeypatch, dtype):
    """The fused LSTM's time loops run scripted where torch allows; the Python functions they
    come from are the readable reference and must give bitwise-identical results."""
    import course_lib.torch_rnn.fused as fused_mod

    scripted = fused_mod.fused_lstm_loops()
    assert all(isinstance(fn, torch.jit.ScriptFunction) for fn in scripted), \
        "torch.jit.script failed on the fused LSTM loops: the fast path is silently off"
    results = {}
    for name, loops in [("scripted", scripted), ("python", (fused_mod.lstm_forward_loop,
                                                             fused_mod.lstm_backward_loop))]:
        monkeypatch.setitem(fused_mod.FUSED_LOOPS, "lstm", loops)
        torch.manual_seed(0)
        m = LSTM(D, H, num_layers=2, bidirectional=True, dtype=dtype, backend="fused")
        x, h0, c0 = (t.detach().to(dtype).requires_grad_() for t in leaves(*make_inputs("lstm", m)))
        results[name] = run(m, x, (h0, c0))
    for key, want in results["python"].items():
        assert torch.equal(results["scripted"][key], want), key


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_loads_into_torch_nn(kind):
    """The reverse direction: weights initialised by ours drive torch.nn to the same numbers."""
    ours_cls, ref_cls, kw = KINDS[kind]
    kw = {**kw, "num_layers": 2, "bidirectional": True}
    torch.manual_seed(5)
    ours = ours_cls(D, H, dtype=DT, **kw)
    ref = ref_cls(D, H, dtype=DT, **kw)
    result = ref.load_state_dict(ours.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    x, hx = make_inputs(kind, ours)
    assert_same(run(ours, x, hx), run(ref, x, hx))


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_parameter_names_shapes_and_init_match_torch_nn(kind, config):
    ours_cls, ref_cls, kw = KINDS[kind]
    kw = {**kw, **CONFIGS[config]}
    torch.manual_seed(3)
    ref = ref_cls(D, H, **kw)
    torch.manual_seed(3)
    ours = ours_cls(D, H, **kw)
    want = [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == want
    # Same registration order and U(-1/sqrt(H), 1/sqrt(H)): the same seed gives the same weights.
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        assert torch.equal(p, q), name
    assert p.abs().max() <= 1 / H ** 0.5
    assert [[tuple(w.shape) for w in ws] for ws in ours.all_weights] == \
        [[tuple(w.shape) for w in ws] for ws in ref.all_weights]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_hx_none_equals_zeros(kind, backend):
    ours, ref = make_pair(kind, "bidir", backend=backend)
    x, hx = make_inputs(kind, ours)
    zeros = tuple(torch.zeros_like(s) for s in hx) if kind == "lstm" else torch.zeros_like(hx)
    out0, st0 = ours(x)
    out1, st1 = ours(x, zeros)
    out_ref, st_ref = ref(x)
    assert torch.equal(out0, out1)
    for a, b, c in zip(*(s if isinstance(s, tuple) else (s,) for s in (st0, st1, st_ref))):
        assert torch.equal(a, b)
        assert (a - c).abs().max() <= ATOL
    assert (out0 - out_ref).abs().max() <= ATOL


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_unbatched_input_like_torch_nn(kind, backend):
    ours, ref = make_pair(kind, "bidir", backend=backend, batch_first=True)
    x, hx = make_inputs(kind, ours, batched=False)
    got, want = run(ours, x, hx), run(ref, x, hx)
    assert got["output"].shape == (T, 2 * H)
    assert_same(got, want)


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_eval_mode_equals_torch_nn(kind):
    ours, ref = make_pair(kind, "3layers_bidir", dropout=0.5)
    ours.eval()
    ref.eval()
    x, hx = make_inputs(kind, ours)
    assert_same(run(ours, x, hx), run(ref, x, hx))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_only_between_layers_in_training(kind, backend):
    """dropout=1 zeroes what layer 1 passes to layer 2 but not the last layer's output: a
    deterministic check that dropout sits where torch.nn puts it."""
    ours, ref = make_pair(kind, "2layers", backend=backend, dropout=1.0)
    ours.train()
    ref.train()
    x, hx = make_inputs(kind, ours)
    got, want = run(ours, x, hx), run(ref, x, hx)
    assert_same(got, want)
    assert got["output"].abs().max() > 0
    assert got["d_weight_ih_l1"].abs().max() == 0       # layer 2 saw only zeros
    # and dropout is active only in training mode:
    ours.eval()
    assert not torch.allclose(ours(x, hx)[0], got["output"])


def test_dropout_one_layer_warns_like_torch_nn():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        LSTM(D, H, dropout=0.3)


def test_float32_stays_float32():
    for backend in BACKENDS:
        m = LSTM(D, H, num_layers=2, backend=backend)
        out, (h, c) = m(torch.randn(T, N, D))
        assert out.dtype == h.dtype == c.dtype == torch.float32


def test_set_backend_changes_the_default():
    assert get_backend() == "eager"
    m = GRU(D, H, dtype=DT)
    x = torch.randn(T, N, D, dtype=DT)
    eager_out = m(x)[0]
    try:
        set_backend("fused")
        assert get_backend() == "fused"
        fused_out = m(x)[0]
    finally:
        set_backend("eager")
    assert (fused_out - eager_out).abs().max() <= ATOL
    with pytest.raises(ValueError, match="name"):
        set_backend("cudnn")


def test_fused_backend_rejects_double_backward():
    m = RNN(D, H, dtype=DT, backend="fused")
    x = torch.randn(T, N, D, dtype=DT, requires_grad=True)
    with pytest.raises(RuntimeError, match="create_graph"):
        torch.autograd.grad(m(x)[0].sum(), x, create_graph=True)


def test_fused_lstm_backward_runs_once_with_a_clear_error():
    """The fused LSTM's backward takes its forward buffers over in place (no page faults on
    fresh memory), so a second backward through the same graph must fail loudly, not return
    gradients computed from overwritten buffers."""
    m = LSTM(D, H, dtype=DT, backend="fused")
    x = torch.randn(T, N, D, dtype=DT, requires_grad=True)
    loss = m(x)[0].sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_lstm_short_sequences_match_torch_nn(steps, bidirectional):
    """T = 1 and 2: the edge cases of the backward loop and of dWh's split into the first
    step and the rest."""
    torch.manual_seed(4)
    ref = nn.LSTM(D, H, num_layers=2, bidirectional=bidirectional, dtype=DT)
    ours = LSTM(D, H, num_layers=2, bidirectional=bidirectional, dtype=DT, backend="fused")
    ours.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(6)
    dirs = 2 if bidirectional else 1
    x = torch.randn(steps, N, D, generator=g, dtype=DT).requires_grad_()
    hx = tuple(torch.randn(2 * dirs, N, H, generator=g, dtype=DT).requires_grad_() for _ in "hc")
    assert_same(run(ours, x, hx), run(ref, x, hx))


@pytest.mark.parametrize("make, match", [
    (lambda: LSTM(D, 0), "hidden_size"),
    (lambda: GRU(0, H), "input_size"),
    (lambda: RNN(D, H, num_layers=0), "num_layers"),
    (lambda: RNN(D, H, nonlinearity="sigmoid"), "nonlinearity"),
    (lambda: LSTM(D, H, num_layers=2, dropout=1.5), "dropout"),
    (lambda: LSTM(D, H, proj_size=2), "proj_size"),
    (lambda: GRU(D, H, backend="cudnn"), "backend"),
])
def test_bad_constructor_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_raise_clear_errors():
    lstm = LSTM(D, H, num_layers=2)
    x = torch.randn(T, N, D)
    h = torch.zeros(2, N, H)
    with pytest.raises(ValueError, match=r"input: expected shape \(T, N, D\)"):
        lstm(torch.randn(T, N, D, 1))
    with pytest.raises(ValueError, match="input: expected last dimension D = 4"):
        lstm(torch.randn(T, N, D + 1))
    with pytest.raises(ValueError, match="at least one time step"):
        lstm(torch.randn(0, N, D))
    with pytest.raises(ValueError, match="hx: expected a tuple"):
        lstm(x, h)
    with pytest.raises(ValueError, match=r"hx\[1\]: expected shape .* \(2, 3, 6\)"):
        lstm(x, (h, torch.zeros(1, N, H)))
    with pytest.raises(ValueError, match=r"hx: expected shape .* \(2, 3, 6\)"):
        GRU(D, H, num_layers=2)(x, torch.zeros(2, N + 1, H))
    with pytest.raises(ValueError, match=r"hx: expected shape .* \(2, 6\)"):
        GRU(D, H, num_layers=2)(x[:, 0], h)          # unbatched input, batched state
    packed = nn.utils.rnn.pack_padded_sequence(x, [T] * N)
    with pytest.raises(NotImplementedError, match="PackedSequence"):
        lstm(packed)


def test_default_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "_mps_available", lambda: False)
    assert default_device() == torch.device("cpu")
    monkeypatch.setattr(device_mod, "_mps_available", lambda: True)
    assert default_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")
    assert available_devices() == [torch.device(d) for d in ("cuda", "mps", "cpu")]


def test_module_follows_to_device_and_dtype():
    m = LSTM(D, H).to(default_device(), torch.float64)
    out, _ = m(torch.randn(T, N, D, dtype=torch.float64, device=default_device()))
    assert out.device.type == default_device().type and out.dtype == torch.float64


# ----------------------------------------------------------------------------------------------
# NumPy reference vs torch reference on the same weights (forward and BPTT).
# ----------------------------------------------------------------------------------------------

def _numpy_rnn():
    numpy_rnn = pytest.importorskip("course_lib.numpy_rnn")
    names = ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward",
             "gru_forward", "gru_backward")
    missing = [n for n in names if not hasattr(numpy_rnn, n)]
    if missing:
        pytest.skip(f"course_lib.numpy_rnn lacks {missing} (being written in parallel)")
    return numpy_rnn


@pytest.mark.parametrize("kind", list(KINDS))
def test_numpy_reference_matches_torch_reference(kind):
    nr = _numpy_rnn()
    ours, _ = make_pair(kind, "1layer")
    x, hx = make_inputs(kind, ours)
    out, state = ours(x, hx)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(7), dtype=DT)
    out.backward(dout)

    def a(t):
        return t.detach().numpy()

    p = {n: a(q) for n, q in ours.named_parameters()}
    Wx, Wh = p["weight_ih_l0"].T, p["weight_hh_l0"].T
    if kind == "lstm":
        h0, c0 = (a(s[0]) for s in hx)
        h, c, cache = nr.lstm_forward(a(x), h0, c0, Wx, Wh, p["bias_ih_l0"] + p["bias_hh_l0"])
        np.testing.assert_allclose(c[-1], a(state[1][0]), rtol=0, atol=ATOL)
        dx, dh0, dc0, dWx, dWh, db = nr.lstm_backward(a(dout), cache)
        np.testing.assert_allclose(dc0, a(hx[1].grad[0]), rtol=0, atol=ATOL)
        dbx = dbh = db
    elif kind == "gru":
        h, cache = nr.gru_forward(a(x), a(hx[0]), Wx, Wh, p["bias_ih_l0"], p["bias_hh_l0"])
        dx, dh0, dWx, dWh, dbx, dbh = nr.gru_backward(a(dout), cache)
    else:
        act = KINDS[kind][2].get("nonlinearity", "tanh")
        h, cache = nr.rnn_forward(a(x), a(hx[0]), Wx, Wh, p["bias_ih_l0"] + p["bias_hh_l0"],
                                  activation=act)
        dx, dh0, dWx, dWh, db = nr.rnn_backward(a(dout), cache)
        dbx = dbh = db
    h0_grad = (hx[0] if kind == "lstm" else hx).grad[0]
    checks = {"h": (h, a(out)), "dx": (dx, a(x.grad)), "dh0": (dh0, a(h0_grad)),
              "dWx": (dWx, a(ours.weight_ih_l0.grad).T), "dWh": (dWh, a(ours.weight_hh_l0.grad).T),
              "dbx": (dbx, a(ours.bias_ih_l0.grad)), "dbh": (dbh, a(ours.bias_hh_l0.grad))}
    for name, (got, want) in checks.items():
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL, err_msg=name)


def test_no_warnings_on_the_common_path():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for backend in BACKENDS:
            m = LSTM(D, H, num_layers=2, dropout=0.1, bidirectional=True, backend=backend)
            m(torch.randn(T, N, D))[0].sum().backward()
