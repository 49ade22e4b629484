"""Multi-layer, optionally bidirectional RNN, LSTM and GRU with the cell equations written out.

:class:`RNN`, :class:`LSTM` and :class:`GRU` are drop-ins for torch.nn's: the same constructor
arguments, the same parameter names and shapes (``weight_ih_l0`` (G*H, D),
``weight_hh_l0`` (G*H, H), ``bias_ih_l0``, ``bias_hh_l0`` (G*H,), ``..._reverse`` for the
backward direction; G = 1, 4, 3), the same ``forward(input, hx=None)`` and return values, so
``load_state_dict`` works in both directions. Nothing here calls torch.nn.RNN/LSTM/GRU, torch's
fused RNN kernels or its functional RNN cells.

How a layer runs (book notation, time-major, row vectors ``Wx = weight_ih.T``):

1. one matmul projects every time step's input at once: ``XW = x @ Wx + b``, (T, N, G*H);
2. a loop over t does the only truly sequential work: ``a[t] = XW[t] + h[t-1] @ Wh`` and the
   gate nonlinearities.

The loop never reads a tensor value back to Python, so on a GPU the kernels for all T steps are
queued without a host-device synchronisation.

Three interchangeable back ends run step 2 (select with ``backend=`` or :func:`set_backend`):

``"eager"``
    The readable reference (:mod:`course_lib.torch_rnn.loops`): plain PyTorch, autograd
    records every step.
``"script"``
    The same Python loops compiled with ``torch.jit.script``: identical operations, so bitwise
    identical outputs and states; TorchScript differentiates with its own formulas, so gradients
    agree with eager to the last bit or so (about 1e-16 in float64).
``"fused"``
    A hand-written :class:`torch.autograd.Function` per layer and direction
    (:mod:`course_lib.torch_rnn.fused`): forward without a graph, BPTT written out in backward.
    Equal to eager up to float rounding; first derivatives only, and the LSTM's backward runs
    once per forward, so ``retain_graph=True`` needs ``"eager"``.

Speed and training measurements of the three (and of torch.nn) are in benchmarks/README.md.
"""

import math
import warnings
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..validate import check_int, check_number
from .fused import GRUFused, LSTMFused, RNNFused
from .loops import EAGER_LOOPS, gru_loop, lstm_loop, rnn_loop, scripted_loop

__all__ = ["RNN", "LSTM", "GRU", "BACKENDS", "set_backend", "get_backend",
           "rnn_loop", "lstm_loop", "gru_loop"]

BACKENDS = ("eager", "script", "fused")
_default_backend = "eager"


def set_backend(name: str) -> None:
    """Choose the time-loop back end of every RNN/LSTM/GRU built with ``backend=None``.

    Parameters
    ----------
    name : {"eager", "script", "fused"}
        See the module docstring. ``"eager"`` is the default.
    """
    global _default_backend
    if name not in BACKENDS:
        raise ValueError(f"name: expected one of {BACKENDS}, got {name!r}")
    if name == "script":
        scripted_loop("lstm")  # fail here, not in the middle of a training run
    _default_backend = name


def get_backend() -> str:
    """The back end used by modules built with ``backend=None`` (see :func:`set_backend`)."""
    return _default_backend


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------

class RNNBase(nn.Module):
    """Parameters, checks and the layer/direction loop shared by RNN, LSTM and GRU."""

    _gates = 1
    _kind = "rnn"

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        super().__init__()
        input_size = check_int(input_size, "input_size")
        hidden_size = check_int(hidden_size, "hidden_size")
        num_layers = check_int(num_layers, "num_layers")
        dropout = check_number(dropout, "dropout", 0, 1)
        if dropout > 0 and num_layers == 1:
            # Same warning as torch.nn: the dropout sits between layers only.
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        if backend is not None and backend not in BACKENDS:
            raise ValueError(f"backend: expected None or one of {BACKENDS}, got {backend!r}")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        self.backend = backend
        factory = {"device": device, "dtype": dtype}
        num_directions = 2 if self.bidirectional else 1
        G = self._gates
        self._flat_weights_names: List[str] = []
        # Registration order = torch.nn's (layer, direction, ih, hh, b_ih, b_hh), so
        # reset_parameters draws the same numbers as torch.nn under the same seed.
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * num_directions
            for direction in range(num_directions):
                sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (G * hidden_size, layer_input)),
                          ("weight_hh", (G * hidden_size, hidden_size))]
                if self.bias:
                    shapes += [("bias_ih", (G * hidden_size,)), ("bias_hh", (G * hidden_size,))]
                for base, shape in shapes:
                    setattr(self, base + sfx, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(base + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), as torch.nn does."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """No-op kept for drop-in compatibility (torch.nn packs weights for cuDNN here)."""

    @property
    def all_weights(self) -> List[List[nn.Parameter]]:
        """Parameters grouped per layer and direction, as torch.nn's ``all_weights``."""
        per = 4 if self.bias else 2
        flat = [getattr(self, name) for name in self._flat_weights_names]
        return [flat[k:k + per] for k in range(0, len(flat), per)]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.backend is not None:
            s += f", backend={self.backend!r}"
        return s

    # -- input handling ---------------------------------------------------------------------

    def _layer_params(self, layer: int, direction: int):
        sfx = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        w_ih = getattr(self, "weight_ih" + sfx)
        w_hh = getattr(self, "weight_hh" + sfx)
        b_ih = getattr(self, "bias_ih" + sfx) if self.bias else None
        b_hh = getattr(self, "bias_hh" + sfx) if self.bias else None
        return w_ih, w_hh, b_ih, b_hh

    def _check_input(self, input) -> bool:
        if isinstance(input, nn.utils.rnn.PackedSequence):
            raise NotImplementedError(
                f"{type(self).__name__}: PackedSequence input is not supported; pass the padded "
                "tensor from torch.nn.utils.rnn.pad_packed_sequence and pick each sequence's "
                "last valid step yourself")
        if not isinstance(input, Tensor):
            raise ValueError(f"input: expected a Tensor, got {type(input).__name__}")
        layout = "(N, T, D)" if self.batch_first else "(T, N, D)"
        if input.dim() not in (2, 3):
            raise ValueError(f"input: expected shape {layout} or unbatched (T, D) with D = "
                             f"{self.input_size}, got {tuple(input.shape)}")
        if input.size(-1) != self.input_size:
            raise ValueError(f"input: expected last dimension D = {self.input_size}, got "
                             f"shape {tuple(input.shape)}")
        T = input.size(1) if (input.dim() == 3 and self.batch_first) else input.size(0)
        if T == 0:
            raise ValueError(f"input: expected at least one time step, got shape "
                             f"{tuple(input.shape)}")
        return input.dim() == 3

    def _check_state(self, name: str, state, batched: bool, N: int) -> None:
        num_directions = 2 if self.bidirectional else 1
        expected = ((self.num_layers * num_directions, N, self.hidden_size) if batched
                    else (self.num_layers * num_directions, self.hidden_size))
        if not isinstance(state, Tensor) or tuple(state.shape) != expected:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"{name}: expected shape (num_layers * num_directions, "
                             f"{'N, ' if batched else ''}H) = {expected}, got {got}")

    def _states(self, hx, x: Tensor, batched: bool) -> List[Optional[Tensor]]:
        """Initial states as a list [h0] or [h0, c0], each (L * dirs, N, H)."""
        num_directions = 2 if self.bidirectional else 1
        N = x.size(1)
        n_states = 2 if self._kind == "lstm" else 1
        if hx is None:
            zeros = x.new_zeros((self.num_layers * num_directions, N, self.hidden_size))
            return [zeros] * n_states
        if n_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("hx: expected a tuple (h_0, c_0) for an LSTM, got "
                                 f"{type(hx).__name__}")
            names, states = ("hx[0]", "hx[1]"), list(hx)
        else:
            names, states = ("hx",), [hx]
        for name, state in zip(names, states):
            self._check_state(name, state, batched, N)
        return states if batched else [s.unsqueeze(1) for s in states]

    # -- the computation ----------------------------------------------------------------------

    def _run_direction(self, backend: str, x: Tensor, params, states: List[Tensor],
                       reverse: bool) -> Tuple[Tensor, List[Tensor]]:
        """One layer, one direction: x (T, N, D_in) -> out (T, N, H), final states."""
        w_ih, w_hh, b_ih, b_hh = params
        T, N, D_in = x.shape
        # Step 1: the input projection of all T steps in one matmul. RNN and LSTM add both
        # biases here; the GRU's b_hh must stay inside the loop (r multiplies b_hn).
        if b_ih is None:
            b = None
        elif self._kind == "gru":
            b = b_ih
        else:
            b = b_ih + b_hh
        if backend == "fused" and self._kind == "lstm":
            # Both steps in one autograd.Function, which owns the (T, N, 4H) buffer.
            out, h, c = LSTMFused.apply(x, states[0], states[1], w_ih, w_hh, b, reverse)
            return out, [h, c]
        x2 = x.reshape(T * N, D_in)
        xw = (x2 @ w_ih.t() if b is None else torch.addmm(b, x2, w_ih.t())).view(T, N, -1)
        # Step 2: the recurrence.
        if backend == "fused":
            if self._kind == "gru":
                out, h = GRUFused.apply(xw, states[0], w_hh, b_hh, reverse)
                return out, [h]
            out, h = RNNFused.apply(xw, states[0], w_hh, self.nonlinearity == "relu", reverse)
            return out, [h]
        loop = scripted_loop(self._kind) if backend == "script" else EAGER_LOOPS[self._kind]
        if self._kind == "lstm":
            out, h, c = loop(xw, states[0], states[1], w_hh, reverse)
            return out, [h, c]
        if self._kind == "gru":
            out, h = loop(xw, states[0], w_hh, b_hh, reverse)
            return out, [h]
        out, h = loop(xw, states[0], w_hh, self.nonlinearity == "relu", reverse)
        return out, [h]

    def forward(self, input: Tensor, hx=None):
        batched = self._check_input(input)
        if not batched:
            x = input.unsqueeze(1)           # (T, 1, D): unbatched ignores batch_first
        elif self.batch_first:
            x = input.transpose(0, 1)        # (N, T, D) -> (T, N, D)
        else:
            x = input
        backend = self.backend if self.backend is not None else _default_backend
        states0 = self._states(hx, x, batched)  # each (L * dirs, N, H)
        num_directions = 2 if self.bidirectional else 1
        finals: List[List[Tensor]] = [[] for _ in states0]
        for layer in range(self.num_layers):
            outs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                out, last = self._run_direction(
                    backend, x, self._layer_params(layer, direction),
                    [s[k] for s in states0], reverse=direction == 1)
                outs.append(out)
                for j, state in enumerate(last):
                    finals[j].append(state)
            x = outs[0] if num_directions == 1 else torch.cat(outs, 2)  # (T, N, dirs * H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        output = x
        h_n = [torch.stack(states, 0) for states in finals]  # each (L * dirs, N, H)
        if not batched:
            output = output.squeeze(1)
            h_n = [s.squeeze(1) for s in h_n]
        elif self.batch_first:
            output = output.transpose(0, 1)
        if self._kind == "lstm":
            return output, (h_n[0], h_n[1])
        return output, h_n[0]


class RNN(RNNBase):
    """Multi-layer Elman RNN, a drop-in for :class:`torch.nn.RNN`.

    Each layer computes ``h[t] = tanh(x[t] @ Wx + h[t-1] @ Wh + b)`` (or relu), with
    ``Wx = weight_ih_l{k}.T`` (D_k, H), ``Wh = weight_hh_l{k}.T`` (H, H),
    ``b = bias_ih_l{k} + bias_hh_l{k}`` (H,); layer k > 0 reads the outputs of layer k-1
    (D_k = H, or 2H when bidirectional), through dropout in training mode.

    Parameters
    ----------
    input_size : int                D
    hidden_size : int               H
    num_layers : int                L, stacked layers
    nonlinearity : {"tanh", "relu"}
    bias : bool                     whether the bias_* parameters exist
    batch_first : bool              input/output (N, T, .) instead of (T, N, .)
    dropout : float                 dropout on the outputs of every layer but the last
    bidirectional : bool            add a layer reading the sequence backwards (``_reverse``)
    device, dtype                   where and in which dtype to create the parameters
    backend : {None, "eager", "script", "fused"}
                                    time-loop implementation; None follows :func:`set_backend`

    Notes
    -----
    forward(input, hx=None) -> (output, h_n)
        input (T, N, D) [or (N, T, D) when batch_first, or unbatched (T, D)];
        hx (L * dirs, N, H) [or (L * dirs, H)], None = zeros;
        output (T, N, dirs * H); h_n (L * dirs, N, H), dirs = 2 if bidirectional else 1.
    """

    _gates = 1
    _kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype, backend=backend)


class LSTM(RNNBase):
    """Multi-layer LSTM, a drop-in for :class:`torch.nn.LSTM` (without ``proj_size``).

    Each layer computes, gates stacked i, f, g, o:
    ``a[t] = x[t] @ Wx + h[t-1] @ Wh + b`` (N, 4H); ``i, f, o = sigmoid(a_i, a_f, a_o)``;
    ``g = tanh(a_g)``; ``c[t] = f * c[t-1] + i * g``; ``h[t] = o * tanh(c[t])``,
    with ``Wx = weight_ih_l{k}.T`` (D_k, 4H), ``Wh = weight_hh_l{k}.T`` (H, 4H),
    ``b = bias_ih_l{k} + bias_hh_l{k}`` (4H,).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype, backend
        As for :class:`RNN`.

    Notes
    -----
    ``forward(input, hx=None) -> (output, (h_n, c_n))``: input (T, N, D) [or (N, T, D) when
    batch_first, or unbatched (T, D)]; hx = (h_0, c_0), each (L * dirs, N, H) [or
    (L * dirs, H)], None = zeros; output (T, N, dirs * H); h_n, c_n (L * dirs, N, H).
    """

    _gates = 4
    _kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        if proj_size != 0:
            raise ValueError(f"proj_size: only 0 (no projection) is supported, got {proj_size!r}")
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype, backend=backend)


class GRU(RNNBase):
    """Multi-layer GRU with torch.nn.GRU's exact equations, a drop-in for :class:`torch.nn.GRU`.

    Each layer computes, gates stacked r, z, n:
    ``ax = x[t] @ Wx + b_ih``, ``ah = h[t-1] @ Wh + b_hh`` (N, 3H);
    ``r = sigmoid(ax_r + ah_r)``, ``z = sigmoid(ax_z + ah_z)``, ``n = tanh(ax_n + r * ah_n)``
    (b_hn inside r * (.)); ``h[t] = (1 - z) * n + z * h[t-1]``,
    with ``Wx = weight_ih_l{k}.T`` (D_k, 3H), ``Wh = weight_hh_l{k}.T`` (H, 3H).

    Parameters
    ----------
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device, dtype, backend
        As for :class:`RNN`.

    Notes
    -----
    ``forward(input, hx=None) -> (output, h_n)``, shapes as for :class:`RNN`.
    """

    _gates = 3
    _kind = "gru"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None,
                 backend: Optional[str] = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype, backend=backend)
