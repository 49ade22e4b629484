"""course_lib.torch_rnn's cells are drop-ins for torch.nn.RNNCell/LSTMCell/GRUCell.

float64; outputs and every gradient (input, state, parameters) within 1e-9 of torch.nn's, with
weights moved by load_state_dict in both directions.
"""

import pytest
import torch
from torch import nn

from course_lib.torch_rnn import GRUCell, LSTMCell, RNNCell, lstm_cell

ATOL = 1e-9
DT = torch.float64
N, D, H = 3, 4, 5

CELLS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, {}),
    "rnn_relu": (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, nn.LSTMCell, {}),
    "gru": (GRUCell, nn.GRUCell, {}),
}


def _states(kind, shape, g):
    h = torch.randn(shape, generator=g, dtype=DT).requires_grad_()
    if kind == "lstm":
        return (h, torch.randn(shape, generator=g, dtype=DT).requires_grad_())
    return h


def _run(cell, x, hx):
    out = cell(x, hx)
    outs = list(out) if isinstance(out, tuple) else [out]
    g = torch.Generator().manual_seed(9)
    loss = sum((torch.randn(o.shape, generator=g, dtype=DT) * o).sum() for o in outs)
    leaves = [x] + ([] if hx is None else list(hx) if isinstance(hx, tuple) else [hx])
    grads = torch.autograd.grad(loss, leaves + list(cell.parameters()))
    return outs + list(grads)


def _assert_close(got, want):
    assert len(got) == len(want)
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, k
        err = (a - b).abs().max().item()
        assert err <= ATOL, f"item {k}: max abs difference {err:.3g}"


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_matches_torch_nn(kind, bias, batched):
    ours_cls, ref_cls, kw = CELLS[kind]
    torch.manual_seed(0)
    ref = ref_cls(D, H, bias=bias, dtype=DT, **kw)
    ours = ours_cls(D, H, bias=bias, dtype=DT, **kw)
    ours.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(1)
    shape = (N, D) if batched else (D,)
    x = torch.randn(shape, generator=g, dtype=DT).requires_grad_()
    hx = _states(kind, (N, H) if batched else (H,), g)
    _assert_close(_run(ours, x, hx), _run(ref, x, hx))


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_hx_none_and_reverse_state_dict(kind):
    """hx=None means zeros, and weights initialised by ours load into torch.nn."""
    ours_cls, ref_cls, kw = CELLS[kind]
    torch.manual_seed(4)
    ours = ours_cls(D, H, dtype=DT, **kw)
    ref = ref_cls(D, H, dtype=DT, **kw)
    result = ref.load_state_dict(ours.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(N, D, dtype=DT, requires_grad=True)
    _assert_close(_run(ours, x, None), _run(ref, x, None))


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_parameters_and_init_match_torch_nn(kind):
    ours_cls, ref_cls, kw = CELLS[kind]
    torch.manual_seed(7)
    ref = ref_cls(D, H, **kw)
    torch.manual_seed(7)
    ours = ours_cls(D, H, **kw)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, p.shape) for n, p in ref.named_parameters()]
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        assert torch.equal(p, q), name
    assert repr(ours).split("(", 1)[1] == repr(ref).split("(", 1)[1]


def test_lstm_cell_function_is_the_book_equations():
    """c' = f c + i g, h' = o tanh(c') with the gate blocks in the order i, f, g, o."""
    g = torch.Generator().manual_seed(3)
    x, h, c = (torch.randn(N, k, generator=g, dtype=DT) for k in (D, H, H))
    W_ih, W_hh = torch.randn(4 * H, D, generator=g, dtype=DT), torch.randn(4 * H, H, generator=g, dtype=DT)
    a = x @ W_ih.T + h @ W_hh.T
    i, f, gg, o = (a[:, k * H:(k + 1) * H] for k in range(4))
    c_want = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    h_want = torch.sigmoid(o) * torch.tanh(c_want)
    h_got, c_got = lstm_cell(x, h, c, W_ih, W_hh)
    assert (h_got - h_want).abs().max() <= 1e-12 and (c_got - c_want).abs().max() <= 1e-12


def test_cell_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="hidden_size"):
        LSTMCell(D, 0)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(D, H, nonlinearity="gelu")
    cell = GRUCell(D, H)
    with pytest.raises(ValueError, match=r"input: expected last dimension D = 4"):
        cell(torch.randn(N, D + 1))
    with pytest.raises(ValueError, match=r"input: expected shape \(N, D\)"):
        cell(torch.randn(2, N, D))
    with pytest.raises(ValueError, match=r"hx: expected shape \(3, 5\)"):
        cell(torch.randn(N, D), torch.randn(N, H + 1))
    with pytest.raises(ValueError, match=r"hx: expected a tuple"):
        LSTMCell(D, H)(torch.randn(N, D), torch.randn(N, H))
    with pytest.raises(ValueError, match=r"hx\[1\]: expected shape \(5,\)"):
        LSTMCell(D, H)(torch.randn(D), (torch.randn(H), torch.randn(N, H)))
