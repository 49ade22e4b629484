"""PyTorch reference: RNN, LSTM and GRU written out as nn.Modules that run on CPU or GPU.

Drop-ins for torch.nn (same arguments, parameter names, shapes and return values, so
``load_state_dict`` works both ways):

- cells: :class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell` (one time step);
- sequence modules: :class:`RNN`, :class:`LSTM`, :class:`GRU` (stacked, bidirectional,
  batch_first, inter-layer dropout), with an eager, a TorchScript and a fused-backward time loop
  (:func:`set_backend`);
- devices: :func:`default_device` (cuda, then mps, then cpu), :func:`synchronize`.

Conventions as everywhere in the course: time-major (T, N, D), row vectors
``h[t] = tanh(x[t] @ Wx + h[t-1] @ Wh + b)`` with ``Wx = weight_ih.T``, gates in torch.nn's
order (LSTM i, f, g, o; GRU r, z, n).
"""

from .cells import GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .device import available_devices, default_device, synchronize
from .modules import BACKENDS, GRU, LSTM, RNN, get_backend, set_backend

__all__ = [
    "RNNCell", "LSTMCell", "GRUCell", "rnn_cell", "lstm_cell", "gru_cell",
    "RNN", "LSTM", "GRU", "BACKENDS", "set_backend", "get_backend",
    "default_device", "available_devices", "synchronize",
]

# Models, training and sampling (models.py, train.py, sampling.py) are exported below.
from .models import (EncoderDecoder, MaskedRNN, RNNLM, SeqClassifier, SeqTagger, VecToSeq,
                     detach_hidden, lengths_to_mask, masked_cross_entropy, repackage_hidden)
from .sampling import sample

_TRAIN_EXPORTS = ("train_lm", "evaluate", "save_checkpoint", "load_checkpoint")


def __getattr__(name):
    # Lazy: train.py also runs as ``python -m course_lib.torch_rnn.train``, and importing it here
    # eagerly makes runpy warn that the module was imported before being executed.
    if name in _TRAIN_EXPORTS:
        from . import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    # Lists the lazy names too, so dir() and Sphinx's autodoc see them.
    return sorted(set(globals()) | set(_TRAIN_EXPORTS))


__all__ += [
    "RNNLM", "SeqClassifier", "VecToSeq", "SeqTagger", "EncoderDecoder", "MaskedRNN",
    "detach_hidden", "repackage_hidden", "lengths_to_mask", "masked_cross_entropy",
    "sample", "train_lm", "evaluate", "save_checkpoint", "load_checkpoint",
]
