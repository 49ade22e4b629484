"""What every model of :mod:`course_lib.torch_rnn` shares: the recurrent layer it is built on.

``rnn_type`` names the layer as word_language_model's ``--model`` does (:data:`RNN_TYPES`);
``rnn_impl="course_lib"`` builds the course's own modules and cells
(:mod:`~course_lib.torch_rnn.modules`, :mod:`~course_lib.torch_rnn.cells`), ``"torch"`` swaps
torch.nn's fused ones in (benchmarks compare the two). Hidden states handed between calls
follow torch.nn's layout ``(L * dirs, N, H)`` (a ``(h, c)`` pair of those for an LSTM).
"""

from __future__ import annotations

from typing import Tuple, Union

import torch
from torch import Tensor, nn

from ..validate import check_choice, check_number
from .cells import GRUCell, LSTMCell, RNNCell
from .modules import GRU, LSTM, RNN

__all__ = ["RNN_TYPES", "Hidden", "normalise_rnn_type", "module_classes", "make_sequence_rnn",
           "detach_hidden", "repackage_hidden", "check_tokens", "check_probability"]

#: Recurrent layer kinds, spelled as word_language_model's ``--model``.
RNN_TYPES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")

Hidden = Union[Tensor, Tuple[Tensor, Tensor]]


def check_probability(value, name: str) -> float:
    """``value`` as a float in [0, 1] (a dropout or teacher-forcing rate), else ValueError."""
    return check_number(value, name, 0, 1)


def normalise_rnn_type(rnn_type: str) -> Tuple[str, str]:
    """Map ``RNN_TANH | RNN_RELU | RNN | LSTM | GRU`` to (mode, nonlinearity)."""
    if rnn_type == "RNN":
        rnn_type = "RNN_TANH"
    check_choice(rnn_type, "rnn_type", RNN_TYPES + ("RNN",))
    if rnn_type.startswith("RNN_"):
        return "RNN", rnn_type[4:].lower()
    return rnn_type, "tanh"


def module_classes(impl: str):
    """The (RNN, LSTM, GRU) sequence classes and (RNNCell, LSTMCell, GRUCell) of ``impl``."""
    check_choice(impl, "rnn_impl", ("course_lib", "torch"))
    if impl == "torch":
        return (nn.RNN, nn.LSTM, nn.GRU), (nn.RNNCell, nn.LSTMCell, nn.GRUCell)
    return (RNN, LSTM, GRU), (RNNCell, LSTMCell, GRUCell)


def make_sequence_rnn(rnn_type: str, input_size: int, hidden_size: int, num_layers: int,
                      dropout: float, bidirectional: bool, impl: str) -> nn.Module:
    """A stacked sequence module of ``rnn_type`` from ``impl``; dropout only between layers."""
    mode, nonlinearity = normalise_rnn_type(rnn_type)
    (RNN, LSTM, GRU), _ = module_classes(impl)
    kwargs = dict(num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0,
                  bidirectional=bidirectional)
    if mode == "RNN":
        return RNN(input_size, hidden_size, nonlinearity=nonlinearity, **kwargs)
    return (LSTM if mode == "LSTM" else GRU)(input_size, hidden_size, **kwargs)


def detach_hidden(h):
    """Cut the autograd graph behind a hidden state (word_language_model's repackage_hidden).

    Truncated BPTT carries the state's *value* from one window to the next but must not
    backpropagate into the previous window: ``h.detach()`` keeps the numbers, drops the
    history.

    Parameters
    ----------
    h : Tensor, or a (nested) tuple/list of Tensors, e.g. an LSTM's ``(h, c)``
        Each tensor of shape (L * dirs, N, H).

    Returns
    -------
    The same structure with every tensor detached (``requires_grad`` False, no ``grad_fn``).
    """
    if isinstance(h, Tensor):
        return h.detach()
    if isinstance(h, (tuple, list)):
        return type(h)(detach_hidden(v) for v in h)
    if h is None:
        return None
    raise ValueError(f"h: expected a Tensor or a tuple of Tensors, got {type(h).__name__}")


repackage_hidden = detach_hidden


def check_tokens(x: Tensor, name: str) -> Tensor:
    """``x`` as a LongTensor of token ids (T, N), else ValueError naming ``name``."""
    if not isinstance(x, Tensor) or x.dim() != 2 or x.dtype not in (torch.int64, torch.int32):
        desc = f"shape {tuple(x.shape)}, dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected an integer tensor of token ids of shape (T, N), got {desc}")
    return x.long()
