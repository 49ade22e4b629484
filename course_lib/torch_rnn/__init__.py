"""PyTorch reference: RNN, LSTM and GRU written out as nn.Modules that run on CPU or GPU.

Drop-ins for torch.nn (same arguments, parameter names, shapes and return values, so
``load_state_dict`` works both ways):

- cells: :class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell` (one time step);
- sequence modules: :class:`RNN`, :class:`LSTM`, :class:`GRU` (stacked, bidirectional,
  batch_first, inter-layer dropout), with an eager, a TorchScript and a fused-backward time loop
  (:func:`set_backend`);
- devices: :func:`default_device` (cuda, then mps, then cpu), :func:`resolve_device`,
  :func:`synchronize`;
- models (modules ``lm``, ``patterns``, ``masked``, all re-exported by ``models``), decoding
  (``decoding``, :func:`sample`) and training (``training``: :class:`TrainConfig`,
  :func:`train_lm`, :func:`train_epoch`, :func:`resume_training`, :func:`evaluate`,
  checkpoints; ``python -m course_lib.torch_rnn.train`` is its command line).

Conventions as everywhere in the course: time-major (T, N, D), row vectors
``h[t] = tanh(x[t] @ Wx + h[t-1] @ Wh + b)`` with ``Wx = weight_ih.T``, gates in torch.nn's
order (LSTM i, f, g, o; GRU r, z, n).
"""

from .cells import GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .device import available_devices, default_device, resolve_device, synchronize
from .modules import BACKENDS, GRU, LSTM, RNN, get_backend, set_backend

__all__ = [
    "RNNCell", "LSTMCell", "GRUCell", "rnn_cell", "lstm_cell", "gru_cell",
    "RNN", "LSTM", "GRU", "BACKENDS", "set_backend", "get_backend",
    "default_device", "available_devices", "synchronize",
]

# Models, training and sampling. The command line (python -m course_lib.torch_rnn.train) is
# train.py, which the package does not import; its library is training.py.
from .models import (EncoderDecoder, MaskedRNN, RNNLM, SeqClassifier, SeqTagger, VecToSeq,
                     detach_hidden, lengths_to_mask, masked_cross_entropy, repackage_hidden)
from .sampling import sample
from .training import (TrainConfig, TrainState, evaluate, load_checkpoint, resume_training,
                       save_checkpoint, train_epoch, train_lm)

__all__ += [
    "RNNLM", "SeqClassifier", "VecToSeq", "SeqTagger", "EncoderDecoder", "MaskedRNN",
    "detach_hidden", "repackage_hidden", "lengths_to_mask", "masked_cross_entropy",
    "sample", "train_lm", "evaluate", "save_checkpoint", "load_checkpoint", "TrainConfig",
    "TrainState", "train_epoch", "resume_training", "resolve_device",
]
