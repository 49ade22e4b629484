"""The torch reference on every device: parity with torch.nn (float64, within 1e-9) and no
host-device synchronisation in the time loop.

Each test runs on the CPU and on CUDA; the CUDA cases carry the ``gpu`` marker and are skipped,
with the reason, when ``torch.cuda.is_available()`` is False.
"""

import pytest
import torch
from torch import nn

from course_lib.torch_rnn import (BACKENDS, GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell,
                                  default_device)

ATOL = 1e-9
DT = torch.float64
T, N, D, H = 6, 3, 4, 5

_NO_CUDA = "CUDA is not available (torch.cuda.is_available() is False)"
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu,
                                pytest.mark.skipif(not torch.cuda.is_available(), reason=_NO_CUDA)]),
]
KINDS = {
    "rnn_tanh": (RNN, nn.RNN, RNNCell, nn.RNNCell, {}),
    "rnn_relu": (RNN, nn.RNN, RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTM, nn.LSTM, LSTMCell, nn.LSTMCell, {}),
    "gru": (GRU, nn.GRU, GRUCell, nn.GRUCell, {}),
}
CONFIGS = {
    "2layers_batch_first": {"num_layers": 2, "batch_first": True},
    "3layers_bidir_nobias": {"num_layers": 3, "bidirectional": True, "bias": False},
}


def _inputs(kind, module, device, seed=1):
    g = torch.Generator().manual_seed(seed)
    dirs = 2 if module.bidirectional else 1
    shape = (N, T, D) if module.batch_first else (T, N, D)
    sshape = (module.num_layers * dirs, N, H)
    x = torch.randn(shape, generator=g, dtype=DT).to(device).requires_grad_()
    states = [torch.randn(sshape, generator=g, dtype=DT).to(device).requires_grad_()
              for _ in range(2 if kind == "lstm" else 1)]
    return x, (tuple(states) if kind == "lstm" else states[0])


def _run(module, x, hx):
    out, state = module(x, hx)
    states = list(state) if isinstance(state, tuple) else [state]
    g = torch.Generator().manual_seed(2)
    loss = sum((torch.randn(t.shape, generator=g, dtype=DT).to(t.device) * t).sum()
               for t in [out, *states])
    leaves = [x, *(hx if isinstance(hx, tuple) else (hx,))]
    grads = torch.autograd.grad(loss, leaves + list(module.parameters()))
    return [out, *states, *grads]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_module_parity_on_device(kind, config, backend, device):
    ours_cls, ref_cls, _, _, kw = KINDS[kind]
    kw = {**kw, **CONFIGS[config]}
    torch.manual_seed(0)
    ref = ref_cls(D, H, dtype=DT, **kw).to(device)
    ours = ours_cls(D, H, dtype=DT, backend=backend, **kw).to(device)
    ours.load_state_dict(ref.state_dict())
    x, hx = _inputs(kind, ours, device)
    got, want = _run(ours, x, hx), _run(ref, x, hx)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.device.type == torch.device(device).type
        err = (a - b).abs().max().item()
        assert err <= ATOL, f"item {k}: max abs difference {err:.3g}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_cell_parity_on_device(kind, device):
    _, _, ours_cls, ref_cls, kw = KINDS[kind]
    torch.manual_seed(0)
    ref = ref_cls(D, H, dtype=DT, **kw).to(device)
    ours = ours_cls(D, H, dtype=DT, **kw).to(device)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(N, D, dtype=DT, device=device, requires_grad=True)
    outs = []
    for cell in (ours, ref):
        y = cell(x)
        y = torch.cat(y, 1) if isinstance(y, tuple) else y
        outs.append([y, *torch.autograd.grad(y.square().sum(), [x, *cell.parameters()])])
    for k, (a, b) in enumerate(zip(*outs)):
        assert (a - b).abs().max().item() <= ATOL, k


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=_NO_CUDA)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_no_host_device_sync_in_forward_and_backward(kind, backend):
    """With CUDA's sync debug mode set to "error", any .item(), host copy or data-dependent
    shape inside forward or backward raises."""
    ours_cls, _, _, _, kw = KINDS[kind]
    model = ours_cls(D, H, num_layers=2, bidirectional=True, backend=backend, **kw).cuda()
    x = torch.randn(T, N, D, device="cuda", requires_grad=True)
    for _ in range(3):  # warm-up outside: cuBLAS handles and TorchScript's profiling runs
        model(x)[0].sum().backward()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out, _ = model(x)
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    torch.cuda.synchronize()
    assert torch.isfinite(x.grad).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason=_NO_CUDA)
def test_default_device_is_cuda_when_present():
    assert default_device().type == "cuda"
    out, _ = LSTM(D, H).to(default_device())(torch.randn(T, N, D, device=default_device()))
    assert out.is_cuda
