"""Stacked (multi-layer) and bidirectional RNN, LSTM and GRU in NumPy.

Built only from the single-layer sequence functions (:func:`rnn_forward`,
:func:`lstm_forward`, :func:`gru_forward` and their backwards), wired the way
``torch.nn.RNN/LSTM/GRU`` wire them:

* layer ``l`` runs on the output of layer ``l - 1`` (layer 0 on ``x``):

  .. math::

     h^{(l)}[t] = \\mathrm{cell}\\big(h^{(l-1)}[t],\\; h^{(l)}[t-1]\\big),
     \\qquad h^{(0)}[t] = x[t]

* a bidirectional layer runs a second cell, with its own weights (suffix
  ``_reverse``), on the time-flipped sequence and flips its output back, so that
  both directions are aligned on the same ``t``:

  .. math::

     \\overrightarrow{h}[t] = \\mathrm{cell}(x[t], \\overrightarrow{h}[t-1]), \\qquad
     \\overleftarrow{h}[t] = \\mathrm{cell}(x[t], \\overleftarrow{h}[t+1]), \\qquad
     h[t] = [\\overrightarrow{h}[t];\\ \\overleftarrow{h}[t]]

  and the next layer reads the concatenation, (T, N, 2H).

Parameters live in one dict keyed like torch.nn's parameter names in this
course's row-vector layout (see :mod:`course_lib.numpy_rnn.convert`):

=====================  ==================  =========================================
key                    shape               torch.nn counterpart
=====================  ==================  =========================================
``Wx_l{l}{sfx}``       (D_l, G*H)          ``weight_ih_l{l}{sfx}.T``
``Wh_l{l}{sfx}``       (H, G*H)            ``weight_hh_l{l}{sfx}.T``
``b_l{l}{sfx}``        (G*H,)              ``bias_ih + bias_hh`` (RNN, LSTM)
``bx_l{l}{sfx}``       (3H,)               ``bias_ih_l{l}{sfx}`` (GRU)
``bh_l{l}{sfx}``       (3H,)               ``bias_hh_l{l}{sfx}`` (GRU)
=====================  ==================  =========================================

with ``sfx`` = ``""`` (forward direction) or ``"_reverse"``, G = 1 (RNN), 4 (LSTM,
gates i, f, g, o) or 3 (GRU, gates r, z, n), D_0 = D and D_l = dirs * H for l > 0.
Initial and final states are (L * dirs, N, H) with row ``l * dirs + d``, exactly
like torch's ``h_0``/``h_n``. There is no dropout between layers (torch's
``dropout`` argument is a training regulariser, not part of the function).
"""

from __future__ import annotations

import numpy as np

from ..validate import (check_activation, check_array, check_bool, check_cache, check_choice,
                        check_float, check_float_array, check_int, check_seed)
from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward

__all__ = [
    "multilayer_forward",
    "multilayer_backward",
    "init_multilayer_params",
    "multilayer_param_names",
]

#: Number of stacked gate blocks G in Wx/Wh/b per cell kind (also used by convert.py).
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}


def _check_cell(cell):
    return check_choice(cell, "cell", tuple(GATE_BLOCKS))


def multilayer_param_names(cell, num_layers=1, bidirectional=False):
    """Names of the parameters of a stacked cell, in torch.nn's order.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    num_layers : int
        L >= 1.
    bidirectional : bool

    Returns
    -------
    list of str
        ``["Wx_l0", "Wh_l0", "b_l0", "Wx_l0_reverse", ...]`` (GRU: ``bx``/``bh``
        instead of ``b``).
    """
    _check_cell(cell)
    num_layers = check_int(num_layers, "num_layers")
    biases = ("bx", "bh") if cell == "gru" else ("b",)
    names = []
    for layer in range(num_layers):
        for d in range(2 if bidirectional else 1):
            sfx = param_suffix(layer, d)
            names += [f"Wx{sfx}", f"Wh{sfx}"] + [f"{b}{sfx}" for b in biases]
    return names


def param_suffix(layer, direction):
    """The key suffix of layer ``layer``, direction ``direction`` (1 = reverse): ``_l1_reverse``."""
    return f"_l{layer}" + ("_reverse" if direction else "")


def _infer_layout(params, num_layers, bidirectional):
    """Fill in num_layers / bidirectional from the keys of ``params`` when None."""
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
    if "Wx_l0" not in params:
        raise ValueError("params: expected key 'Wx_l0' (layer-0 input weights), "
                         f"got keys {sorted(params)}")
    if num_layers is None:
        num_layers = 0
        while f"Wx_l{num_layers}" in params:
            num_layers += 1
    num_layers = check_int(num_layers, "num_layers")
    if bidirectional is None:
        bidirectional = "Wx_l0_reverse" in params
    return num_layers, check_bool(bidirectional, "bidirectional")


def check_params(params, cell, num_layers, dirs, D, H, dtype=None):
    """Raise ValueError unless every parameter is present, of the expected shape and dtype.

    ``params`` keyed as in the module docstring; ``dirs`` 1 or 2; D the input size of layer 0;
    ``dtype=None`` accepts any float dtype.
    """
    G = GATE_BLOCKS[cell]
    for layer in range(num_layers):
        D_l = D if layer == 0 else dirs * H
        for d in range(dirs):
            sfx = param_suffix(layer, d)
            expected = {f"Wx{sfx}": ((D_l, G * H), f"(D_l, {G}H) = ({D_l}, {G * H})"),
                        f"Wh{sfx}": ((H, G * H), f"(H, {G}H) = ({H}, {G * H})")}
            for b in (("bx", "bh") if cell == "gru" else ("b",)):
                expected[f"{b}{sfx}"] = ((G * H,), f"({G}H,) = ({G * H},)")
            for key, (shape, text) in expected.items():
                if key not in params:
                    raise ValueError(f"params: missing key {key!r} for cell={cell!r}, "
                                     f"num_layers={num_layers}, bidirectional={dirs == 2}")
                value = check_array(f"params[{key!r}]", params[key])
                if value.shape != shape:
                    raise ValueError(f"params[{key!r}]: expected shape {text}, got {value.shape}")
                if dtype is not None and value.dtype != dtype:
                    raise ValueError(f"params[{key!r}]: expected dtype {dtype} (the dtype of x), "
                                     f"got {value.dtype}")


def _check_state(name, state, shape, dtype):
    check_float_array(name, state, "L*dirs, N, H", shape, dtype)


def init_multilayer_params(cell, input_size, hidden_size, num_layers=1, bidirectional=False,
                           seed=None, dtype=np.float64):
    """Random parameters with torch.nn's initialisation, U(-1/sqrt(H), 1/sqrt(H)).

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    input_size : int
        D, the feature size of x.
    hidden_size : int
        H.
    num_layers : int
        L.
    bidirectional : bool
    seed : int or numpy.random.Generator or None
    dtype : numpy float dtype

    Returns
    -------
    dict
        Keys of :func:`multilayer_param_names`, shapes as in the module docstring.
    """
    _check_cell(cell)
    input_size = check_int(input_size, "input_size")
    hidden_size = check_int(hidden_size, "hidden_size")
    rng = check_seed(seed)
    dirs = 2 if check_bool(bidirectional, "bidirectional") else 1
    G, H = GATE_BLOCKS[cell], hidden_size
    k = 1.0 / np.sqrt(H)
    params = {}
    for name in multilayer_param_names(cell, num_layers, bidirectional):
        layer = int(name.split("_l")[1].split("_")[0])
        D_l = input_size if layer == 0 else dirs * H
        shape = {"Wx": (D_l, G * H), "Wh": (H, G * H)}.get(name.split("_")[0], (G * H,))
        params[name] = rng.uniform(-k, k, size=shape).astype(dtype)
    return params


def multilayer_forward(x, h0, params, cell="lstm", num_layers=None, bidirectional=None,
                       c0=None, activation="tanh"):
    """Forward pass of an L-layer, optionally bidirectional RNN/LSTM/GRU.

    Layer l, direction d (0 forward, 1 reverse), state row k = l * dirs + d:

    .. math::

        \\overrightarrow{h}^{(l)} &= \\mathrm{cell}(h^{(l-1)}, h_0[k]),\\\\
        \\overleftarrow{h}^{(l)} &= \\mathrm{flip}_t\\,\\mathrm{cell}(\\mathrm{flip}_t\\,h^{(l-1)}, h_0[k+1]),\\\\
        h^{(l)} &= [\\overrightarrow{h}^{(l)};\\ \\overleftarrow{h}^{(l)}],\\\\
        h^{(0)} &= x

    and the final state of each run is its last step *in the order it ran*:
    ``h_n[k] = h[T-1]`` for the forward direction and ``h[0]`` of the output for
    the reverse one (as in torch).

    Book: eq. :eq:`ch2-stacked` (stacking), :eq:`ch4-birnn` (bidirectional).

    Parameters
    ----------
    x : ndarray, (T, N, D)
        T = 0 is allowed (as in the single-layer forwards): ``out`` is empty and the final
        states are the initial ones.
    h0 : ndarray (L*dirs, N, H) or None
        Initial hidden states; None means zeros.
    params : dict
        See the module docstring; all arrays must have x's dtype.
    cell : {"rnn", "lstm", "gru"}
    num_layers : int or None
        L; None infers it from the keys of ``params``.
    bidirectional : bool or None
        None infers it from the presence of ``Wx_l0_reverse``.
    c0 : ndarray (L*dirs, N, H) or None
        Initial cell states (LSTM only); None means zeros.
    activation : {"tanh", "relu"}
        Nonlinearity of the plain RNN (ignored by LSTM/GRU, which fix theirs).

    Returns
    -------
    out : ndarray, (T, N, dirs*H)
        Hidden states of the last layer, both directions concatenated.
    h_n : ndarray, (L*dirs, N, H)
        Final hidden state of every layer and direction.
    c_n : ndarray (L*dirs, N, H) or None
        Final cell states (LSTM), None for RNN/GRU.
    cache : dict
        Everything :func:`multilayer_backward` needs.
    """
    _check_cell(cell)
    num_layers, bidirectional = _infer_layout(params, num_layers, bidirectional)
    check_float_array("x", x, "T, N, D")
    if cell == "rnn":
        check_activation(activation)
    T, N, D = x.shape
    Wh0 = check_float("params['Wh_l0']", params.get("Wh_l0"), x.dtype)
    if Wh0.ndim != 2:
        raise ValueError(f"params['Wh_l0']: expected shape (H, G*H), got {Wh0.shape}")
    H = Wh0.shape[0]
    dirs = 2 if bidirectional else 1
    check_params(params, cell, num_layers, dirs, D, H, x.dtype)
    state_shape = (num_layers * dirs, N, H)
    if h0 is None:
        h0 = np.zeros(state_shape, dtype=x.dtype)
    _check_state("h0", h0, state_shape, x.dtype)
    if cell == "lstm":
        if c0 is None:
            c0 = np.zeros(state_shape, dtype=x.dtype)
        _check_state("c0", c0, state_shape, x.dtype)
    elif c0 is not None:
        raise ValueError(f"c0: only an LSTM has a cell state, expected None for cell={cell!r}")

    h_n = np.empty(state_shape, dtype=x.dtype)
    c_n = np.empty(state_shape, dtype=x.dtype) if cell == "lstm" else None
    runs = []                                        # one cache per (layer, direction)
    layer_in = x                                     # (T, N, D_l)
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k, sfx = layer * dirs + d, param_suffix(layer, d)
            # the reverse direction is the same cell run on the time-flipped sequence
            inp = layer_in if d == 0 else np.ascontiguousarray(layer_in[::-1])
            if cell == "rnn":
                h, run_cache = rnn_forward(inp, h0[k], params[f"Wx{sfx}"], params[f"Wh{sfx}"],
                                           params[f"b{sfx}"], activation=activation)
            elif cell == "lstm":
                h, c, run_cache = lstm_forward(inp, h0[k], c0[k], params[f"Wx{sfx}"],
                                               params[f"Wh{sfx}"], params[f"b{sfx}"])
                c_n[k] = c[-1] if T else c0[k]
            else:
                h, run_cache = gru_forward(inp, h0[k], params[f"Wx{sfx}"], params[f"Wh{sfx}"],
                                           params[f"bx{sfx}"], params[f"bh{sfx}"])
            h_n[k] = h[-1] if T else h0[k]          # last step in the order this run went
            runs.append(run_cache)
            outs.append(h if d == 0 else h[::-1])    # (T, N, H), aligned on t
        layer_in = outs[0] if dirs == 1 else np.concatenate(outs, axis=2)  # (T, N, dirs*H)
    cache = {"cell": cell, "num_layers": num_layers, "dirs": dirs, "shape": (T, N, D, H),
             "dtype": x.dtype, "runs": runs}
    return layer_in, h_n, c_n, cache


def _add_final_state_grads(k, dh0, dc0, dh_n, dc_n):
    """For T = 0 the final states are the initial ones, so their gradients pass straight on."""
    if dh_n is not None:
        dh0[k] += dh_n[k]
    if dc_n is not None:
        dc0[k] += dc_n[k]


def multilayer_backward(dout, cache, dh_n=None, dc_n=None):
    """Backward pass of :func:`multilayer_forward` (BPTT through every layer and direction).

    Mirrors the forward from the top layer down. For layer l, direction d:

    .. math::

        &\\frac{\\partial L}{\\partial \\overrightarrow{h}^{(l)}[t]}
        = \\text{slice } d \\text{ of } \\frac{\\partial L}{\\partial h^{(l)}[t]}\\\\
        &\\quad\\;(+\\ \\partial L/\\partial h_n[k] \\text{ at the run's last step})

    the reverse direction's upstream gradient is flipped in time before its
    single-layer backward and its input gradient is flipped back; both
    directions' input gradients add up, since both read the same
    :math:`h^{(l-1)}` (the local derivative of a fan-out is the identity on
    each branch).

    Parameters
    ----------
    dout : ndarray, (T, N, dirs*H)
        Upstream gradient on every step of the top layer's output.
    cache : dict
        From :func:`multilayer_forward`.
    dh_n : ndarray (L*dirs, N, H) or None
        Upstream gradient on the final hidden states (None: zero).
    dc_n : ndarray (L*dirs, N, H) or None
        Upstream gradient on the final cell states (LSTM only; None: zero).

    Returns
    -------
    dx : ndarray, (T, N, D)
    dh0 : ndarray, (L*dirs, N, H)
    dc0 : ndarray (L*dirs, N, H) or None
        None for RNN/GRU.
    grads : dict
        Same keys and shapes as ``params``.
    """
    check_cache(cache, ("cell", "num_layers", "dirs", "shape", "dtype", "runs"),
                "multilayer_forward")
    cell, L, dirs = cache["cell"], cache["num_layers"], cache["dirs"]
    T, N, D, H = cache["shape"]
    dtype = cache["dtype"]
    check_float_array("dout", dout, "T, N, dirs*H", (T, N, dirs * H), dtype)
    state_shape = (L * dirs, N, H)
    if dh_n is not None:
        _check_state("dh_n", dh_n, state_shape, dtype)
    if dc_n is not None:
        if cell != "lstm":
            raise ValueError(f"dc_n: only an LSTM has a cell state, expected None for cell={cell!r}")
        _check_state("dc_n", dc_n, state_shape, dtype)

    dh0 = np.empty(state_shape, dtype=dtype)
    dc0 = np.empty(state_shape, dtype=dtype) if cell == "lstm" else None
    grads = {}
    d_layer_out = dout                               # (T, N, dirs*H), gradient on h^(l)
    for layer in reversed(range(L)):
        d_layer_in = None
        for d in range(dirs):
            k, sfx = layer * dirs + d, param_suffix(layer, d)
            dh = d_layer_out[:, :, d * H:(d + 1) * H]
            # a copy: we add dh_n into it, and the reverse run wants its own time order
            dh = np.array(dh if d == 0 else dh[::-1], dtype=dtype, order="C")  # (T, N, H)
            if dh_n is not None and T:
                dh[-1] += dh_n[k]                    # h_n[k] is the run's last step
            run_cache = cache["runs"][k]
            if cell == "rnn":
                dx, dh0[k], dWx, dWh, db = rnn_backward(dh, run_cache)
                grads[f"b{sfx}"] = db
            elif cell == "lstm":
                dc = None
                if dc_n is not None and T:
                    dc = np.zeros_like(dh)
                    dc[-1] = dc_n[k]                 # c_n[k] is the run's last cell state
                dx, dh0[k], dc0[k], dWx, dWh, db = lstm_backward(dh, run_cache, dc=dc)
                grads[f"b{sfx}"] = db
            else:
                dx, dh0[k], dWx, dWh, dbx, dbh = gru_backward(dh, run_cache)
                grads[f"bx{sfx}"], grads[f"bh{sfx}"] = dbx, dbh
            grads[f"Wx{sfx}"], grads[f"Wh{sfx}"] = dWx, dWh
            if not T:                                # no step: h_n[k] is h0[k], c_n[k] is c0[k]
                _add_final_state_grads(k, dh0, dc0, dh_n, dc_n)
            if d == 1:
                dx = dx[::-1]                        # back to the input's time order
            # both directions read the same input: their gradients add
            d_layer_in = dx if d_layer_in is None else d_layer_in + dx
        d_layer_out = d_layer_in                     # (T, N, D_l)
    dx = np.ascontiguousarray(d_layer_out)
    # torch's order, so that iterating grads matches iterating params
    names = multilayer_param_names(cell, L, dirs == 2)
    grads = {name: grads[name] for name in names}
    return dx, dh0, dc0, grads
