"""NumPy reference of the course: RNN, LSTM and GRU with hand-derived backpropagation through time.

Every layer is a pair ``*_forward(...) -> (out, cache)`` / ``*_backward(dout, cache) -> grads``.
Shapes are time-major: x (T, N, D), h (T, N, H); weights are row-vector style,
h[t] = tanh(x[t] @ Wx + h[t-1] @ Wh + b) with Wx (D, H), Wh (H, H), b (H,). Gates are stacked
in torch.nn's order (LSTM i, f, g, o; GRU r, z, n), so ``Wx = weight_ih_l0.T`` maps to torch.
Every function keeps its input's dtype and raises ValueError on a wrong shape.
"""

from .layers import (
    affine_backward,
    affine_forward,
    clip_grad_norm,
    embedding_backward,
    embedding_forward,
    sigmoid,
    softmax_cross_entropy,
)
from .rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from .lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward
from .gru import gru_backward, gru_forward, gru_step_backward, gru_step_forward

__all__ = [
    "sigmoid",
    "embedding_forward",
    "embedding_backward",
    "affine_forward",
    "affine_backward",
    "softmax_cross_entropy",
    "clip_grad_norm",
    "rnn_step_forward",
    "rnn_step_backward",
    "rnn_forward",
    "rnn_backward",
    "lstm_step_forward",
    "lstm_step_backward",
    "lstm_forward",
    "lstm_backward",
    "gru_step_forward",
    "gru_step_backward",
    "gru_forward",
    "gru_backward",
]

# --- stacked / bidirectional, torch conversion, language model (appended below) ---
from .stacked import (
    init_multilayer_params,
    multilayer_backward,
    multilayer_forward,
    multilayer_param_names,
)
from .convert import from_torch, grads_from_torch, to_torch
from .lm import SGD, Adam, NumpyLM

__all__ += [
    "multilayer_forward",
    "multilayer_backward",
    "init_multilayer_params",
    "multilayer_param_names",
    "from_torch",
    "to_torch",
    "grads_from_torch",
    "NumpyLM",
    "SGD",
    "Adam",
]
