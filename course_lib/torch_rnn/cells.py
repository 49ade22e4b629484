"""One time step of an RNN, LSTM and GRU, written out, as drop-ins for torch.nn's cells.

Notation (the book's, row vectors): a batch of inputs ``x`` is (N, D), a hidden state ``h`` is
(N, H). torch.nn stores ``weight_ih`` as (G*H, D) and ``weight_hh`` as (G*H, H), G = 1 (RNN),
4 (LSTM) or 3 (GRU), so the book's ``Wx = weight_ih.T`` (D, G*H), ``Wh = weight_hh.T`` (H, G*H)
and ``b = bias_ih + bias_hh`` (G*H,). Gates are stacked in torch.nn's order: LSTM i, f, g, o;
GRU r, z, n.

The modules here have the constructor arguments, parameter names, shapes, initialisation
(U(-1/sqrt(H), 1/sqrt(H)) in registration order) and forward signature of
:class:`torch.nn.RNNCell`, :class:`torch.nn.LSTMCell` and :class:`torch.nn.GRUCell`, so
``load_state_dict`` works in both directions and, with the same seed, they start from the same
weights.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from ..validate import check_int

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "rnn_cell", "lstm_cell", "gru_cell"]


def _linear(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """``x @ weight.T + bias``: (N, D) @ (D, G*H) -> (N, G*H)."""
    if bias is None:
        return x @ weight.t()
    return torch.addmm(bias, x, weight.t())


def rnn_cell(x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor,
             bias_ih: Optional[Tensor] = None, bias_hh: Optional[Tensor] = None,
             nonlinearity: str = "tanh") -> Tensor:
    """Vanilla RNN step: ``h_next = tanh(x @ Wx + h @ Wh + b)`` (or relu).

    Parameters
    ----------
    x : Tensor (N, D)
    h : Tensor (N, H)
    weight_ih : Tensor (H, D), i.e. ``Wx.T``
    weight_hh : Tensor (H, H), i.e. ``Wh.T``
    bias_ih, bias_hh : Tensor (H,) or None
    nonlinearity : {"tanh", "relu"}

    Returns
    -------
    h_next : Tensor (N, H)
    """
    a = _linear(x, weight_ih, bias_ih) + _linear(h, weight_hh, bias_hh)  # (N, H)
    return torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Optional[Tensor] = None,
              bias_hh: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """LSTM step, gates in torch.nn's order i, f, g, o.

    ``a = x @ Wx + h @ Wh + b`` (N, 4H) split into ``a_i, a_f, a_g, a_o`` (N, H) each;
    ``i = sigmoid(a_i)``, ``f = sigmoid(a_f)``, ``g = tanh(a_g)``, ``o = sigmoid(a_o)``;
    ``c_next = f * c + i * g``; ``h_next = o * tanh(c_next)``.

    Parameters
    ----------
    x : Tensor (N, D)
    h, c : Tensor (N, H)
    weight_ih : Tensor (4H, D);  weight_hh : Tensor (4H, H)
    bias_ih, bias_hh : Tensor (4H,) or None

    Returns
    -------
    h_next, c_next : Tensor (N, H)
    """
    a = _linear(x, weight_ih, bias_ih) + _linear(h, weight_hh, bias_hh)  # (N, 4H)
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)                               # (N, H) each
    i = torch.sigmoid(a_i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(a_f)  # forget gate: how much of the old cell to keep
    g = torch.tanh(a_g)     # candidate cell content
    o = torch.sigmoid(a_o)  # output gate: how much of the cell to show
    c_next = f * c + i * g
    h_next = o * torch.tanh(c_next)
    return h_next, c_next


def gru_cell(x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor,
             bias_ih: Optional[Tensor] = None, bias_hh: Optional[Tensor] = None) -> Tensor:
    """GRU step with torch.nn.GRU's exact equations, gates in the order r, z, n.

    ``ax = x @ Wx + b_ih`` and ``ah = h @ Wh + b_hh`` (N, 3H) split into r, z, n parts;
    ``r = sigmoid(ax_r + ah_r)``, ``z = sigmoid(ax_z + ah_z)``,
    ``n = tanh(ax_n + r * ah_n)`` -- the hidden bias ``b_hn`` sits inside ``r * (.)``, so it
    cannot be folded into one bias --, ``h_next = (1 - z) * n + z * h``.

    Parameters
    ----------
    x : Tensor (N, D)
    h : Tensor (N, H)
    weight_ih : Tensor (3H, D);  weight_hh : Tensor (3H, H)
    bias_ih, bias_hh : Tensor (3H,) or None

    Returns
    -------
    h_next : Tensor (N, H)
    """
    ax_r, ax_z, ax_n = _linear(x, weight_ih, bias_ih).chunk(3, dim=1)  # (N, H) each
    ah_r, ah_z, ah_n = _linear(h, weight_hh, bias_hh).chunk(3, dim=1)  # (N, H) each
    r = torch.sigmoid(ax_r + ah_r)  # reset gate: how much of h the candidate sees
    z = torch.sigmoid(ax_z + ah_z)  # update gate: how much of h to keep
    n = torch.tanh(ax_n + r * ah_n)
    return (1 - z) * n + z * h


class _CellBase(nn.Module):
    """Parameters, initialisation and input checks shared by the three cells."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        input_size = check_int(input_size, "input_size")
        hidden_size = check_int(hidden_size, "hidden_size")
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bool(bias)
        G = self._gates
        # Registration order = torch.nn's, so reset_parameters draws the same numbers.
        self.weight_ih = nn.Parameter(torch.empty(G * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(G * hidden_size, hidden_size, **factory))
        if self.bias:
            self.bias_ih = nn.Parameter(torch.empty(G * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(G * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), as torch.nn does."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"  # unquoted, as torch.nn prints it
        return s

    def _check_input(self, input: Tensor) -> bool:
        """Validate ``input`` (N, D) or unbatched (D,); return whether it is batched."""
        if not isinstance(input, Tensor):
            raise ValueError(f"input: expected a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(f"input: expected shape (N, D) or (D,) with D = "
                             f"{self.input_size}, got {tuple(input.shape)}")
        if input.size(-1) != self.input_size:
            raise ValueError(f"input: expected last dimension D = {self.input_size}, "
                             f"got shape {tuple(input.shape)}")
        return input.dim() == 2

    def _check_state(self, name: str, state: Tensor, input: Tensor) -> None:
        expected = (input.size(0), self.hidden_size) if input.dim() == 2 else (self.hidden_size,)
        if not isinstance(state, Tensor) or tuple(state.shape) != expected:
            got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
            raise ValueError(f"{name}: expected shape {expected}, got {got}")

    def _zeros(self, input: Tensor) -> Tensor:
        return input.new_zeros(input.size(0), self.hidden_size)


class RNNCell(_CellBase):
    """Elman RNN cell: ``h' = tanh(x @ Wx + h @ Wh + b)``, a drop-in for torch.nn.RNNCell.

    Parameters
    ----------
    input_size : int      D
    hidden_size : int     H
    bias : bool           whether ``bias_ih`` and ``bias_hh`` (H,) exist
    nonlinearity : {"tanh", "relu"}

    Attributes
    ----------
    weight_ih : (H, D);  weight_hh : (H, H);  bias_ih, bias_hh : (H,)

    Notes
    -----
    forward(input (N, D) or (D,), hx (N, H) or (H,) or None = zeros) -> h' (N, H) or (H,)
    """

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            h = self._zeros(x)
        else:
            self._check_state("hx", hx, input)
            h = hx if batched else hx.unsqueeze(0)
        h_next = rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                          self.nonlinearity)
        return h_next if batched else h_next.squeeze(0)


class LSTMCell(_CellBase):
    """LSTM cell (gates i, f, g, o), a drop-in for torch.nn.LSTMCell; see :func:`lstm_cell`.

    Parameters
    ----------
    input_size : int      D
    hidden_size : int     H
    bias : bool           whether ``bias_ih`` and ``bias_hh`` (4H,) exist

    Attributes
    ----------
    weight_ih : (4H, D);  weight_hh : (4H, H);  bias_ih, bias_hh : (4H,)

    Notes
    -----
    forward(input (N, D) or (D,), hx = (h, c) each (N, H) or (H,), or None = zeros)
    -> (h', c') each (N, H) or (H,)
    """

    _gates = 4

    def forward(self, input: Tensor,
                hx: Optional[tuple[Tensor, Tensor]] = None) -> tuple[Tensor, Tensor]:
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            h = c = self._zeros(x)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("hx: expected a tuple (h_0, c_0) for an LSTMCell, got "
                                 f"{type(hx).__name__}")
            self._check_state("hx[0]", hx[0], input)
            self._check_state("hx[1]", hx[1], input)
            h, c = (hx[0], hx[1]) if batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        h_next, c_next = lstm_cell(x, h, c, self.weight_ih, self.weight_hh,
                                   self.bias_ih, self.bias_hh)
        if not batched:
            return h_next.squeeze(0), c_next.squeeze(0)
        return h_next, c_next


class GRUCell(_CellBase):
    """GRU cell (gates r, z, n), a drop-in for torch.nn.GRUCell; see :func:`gru_cell`.

    Parameters
    ----------
    input_size : int      D
    hidden_size : int     H
    bias : bool           whether ``bias_ih`` and ``bias_hh`` (3H,) exist

    Attributes
    ----------
    weight_ih : (3H, D);  weight_hh : (3H, H);  bias_ih, bias_hh : (3H,)

    Notes
    -----
    forward(input (N, D) or (D,), hx (N, H) or (H,) or None = zeros) -> h' (N, H) or (H,)
    """

    _gates = 3

    def forward(self, input: Tensor, hx: Optional[Tensor] = None) -> Tensor:
        batched = self._check_input(input)
        x = input if batched else input.unsqueeze(0)
        if hx is None:
            h = self._zeros(x)
        else:
            self._check_state("hx", hx, input)
            h = hx if batched else hx.unsqueeze(0)
        h_next = gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h_next if batched else h_next.squeeze(0)
