"""Convert torch.nn recurrent modules to and from this course's NumPy layout.

torch.nn stores column-vector weights, ``weight_ih_l0`` of shape (G*H, D), and two
bias vectors; the course uses row vectors (``x[t] @ Wx``), so a transpose maps one
to the other:

.. math::

    W_x = W_{ih}^\\top \\;(D, GH), \\qquad W_h = W_{hh}^\\top \\;(H, GH), \\qquad
    b = b_{ih} + b_{hh} \\;(GH,) \\quad\\text{(RNN, LSTM)}

The two biases of an RNN/LSTM only ever appear as their sum, so the NumPy cell
keeps one; :func:`to_torch` writes it into ``bias_ih`` and zeros into
``bias_hh``. The GRU keeps both (``bx = bias_ih``, ``bh = bias_hh``) because
torch.nn.GRU multiplies the hidden bias of n by the reset gate:
:math:`n = \\tanh(x W_{xn} + b_{xn} + r \\odot (h W_{hn} + b_{hn}))`.

Gate blocks are stacked in torch's order (LSTM i, f, g, o; GRU r, z, n), so no
reordering is needed. Key names follow :mod:`course_lib.numpy_rnn.stacked`
(``Wx_l0``, ``Wh_l0_reverse``, ...); the single-step cells (``RNNCell``,
``LSTMCell``, ``GRUCell``) use the bare names ``Wx``, ``Wh``, ``b`` (or ``bx``,
``bh``) of the step functions.

torch is imported lazily: the rest of :mod:`course_lib.numpy_rnn` works without it.
"""

from __future__ import annotations

import numpy as np

from .stacked import GATE_BLOCKS, check_params, param_suffix

__all__ = ["from_torch", "to_torch", "grads_from_torch"]

_MODES = {"RNN_TANH": ("rnn", "tanh"), "RNN_RELU": ("rnn", "relu"),
          "LSTM": ("lstm", "tanh"), "GRU": ("gru", "tanh")}
_CELL_CLASSES = {"rnn": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}
_SEQ_CLASSES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def _describe(module):
    """(cell, activation, is_single_step_cell) of a torch recurrent module, else ValueError.

    course_lib.torch_rnn's modules are drop-ins with the same names and shapes, so they are
    read exactly like torch.nn's.
    """
    import torch.nn as nn

    from course_lib.torch_rnn import cells as course_cells
    from course_lib.torch_rnn import modules as course_modules

    if isinstance(module, (nn.RNNBase, course_modules.RNNBase)):
        if module.mode not in _MODES:
            raise ValueError(f"module: unsupported recurrent mode {module.mode!r}")
        if getattr(module, "proj_size", 0):
            raise ValueError("module: LSTM with proj_size > 0 has no counterpart in this "
                             f"course's layout, got proj_size={module.proj_size}")
        cell, act = _MODES[module.mode]
        return cell, act, False
    if isinstance(module, (nn.LSTMCell, course_cells.LSTMCell)):
        return "lstm", "tanh", True
    if isinstance(module, (nn.GRUCell, course_cells.GRUCell)):
        return "gru", "tanh", True
    if isinstance(module, (nn.RNNCell, course_cells.RNNCell)):
        return "rnn", module.nonlinearity, True
    raise ValueError("module: expected a torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell, "
                     f"got {type(module).__name__}")


def _to_numpy(tensor, dtype):
    """A fresh numpy copy (never sharing memory with torch), in ``dtype`` or the tensor's own."""
    import torch

    t = tensor.detach().cpu()
    if t.dtype not in (torch.float16, torch.float32, torch.float64):
        t = t.float()                                # e.g. bfloat16, which numpy lacks
    a = t.numpy()
    return np.array(a, dtype=dtype if dtype is not None else a.dtype, copy=True)


def _convert(module, dtype, grad):
    cell, act, single = _describe(module)

    def get(name):
        p = getattr(module, name)
        if grad:
            if p.grad is None:
                raise ValueError(f"module: {name}.grad is None; run backward() first")
            return p.grad
        return p

    out = {}
    L, dirs = (1, 1) if single else (module.num_layers, 2 if module.bidirectional else 1)
    for sfx, tsfx in _walk_cfg(single, L, dirs):
        out[f"Wx{sfx}"] = np.ascontiguousarray(_to_numpy(get(f"weight_ih{tsfx}"), dtype).T)
        out[f"Wh{sfx}"] = np.ascontiguousarray(_to_numpy(get(f"weight_hh{tsfx}"), dtype).T)
        G_H = out[f"Wh{sfx}"].shape[1]
        if cell == "gru":
            if module.bias:
                out[f"bx{sfx}"] = _to_numpy(get(f"bias_ih{tsfx}"), dtype)
                out[f"bh{sfx}"] = _to_numpy(get(f"bias_hh{tsfx}"), dtype)
            elif not grad:
                out[f"bx{sfx}"] = np.zeros(G_H, dtype=out[f"Wx{sfx}"].dtype)
                out[f"bh{sfx}"] = np.zeros(G_H, dtype=out[f"Wx{sfx}"].dtype)
        elif module.bias:
            if grad:
                # b = bias_ih + bias_hh, so dL/db = dL/dbias_ih (= dL/dbias_hh)
                out[f"b{sfx}"] = _to_numpy(get(f"bias_ih{tsfx}"), dtype)
            else:
                out[f"b{sfx}"] = (_to_numpy(get(f"bias_ih{tsfx}"), dtype)
                                  + _to_numpy(get(f"bias_hh{tsfx}"), dtype))
        elif not grad:
            out[f"b{sfx}"] = np.zeros(G_H, dtype=out[f"Wx{sfx}"].dtype)
    return out, cell, act, single


def from_torch(module, dtype=None):
    """Weights of a torch.nn recurrent module in this course's NumPy layout.

    .. math::

        W_x &= W_{ih}^\\top,\\\\
        W_h &= W_{hh}^\\top,\\\\
        b &= b_{ih} + b_{hh} \\ (\\text{RNN, LSTM}),\\\\
        b_x &= b_{ih},\\ b_h = b_{hh} \\ (\\text{GRU})

    Parameters
    ----------
    module : torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell (or course_lib.torch_rnn's)
        Any number of layers, bidirectional or not, with or without bias
        (``bias=False`` gives zero biases), either nonlinearity. LSTM
        ``proj_size > 0`` is not supported.
    dtype : numpy dtype or None
        Dtype of the arrays; None keeps the module's (float32 stays float32).

    Returns
    -------
    params : dict of ndarray
        Sequence modules: ``Wx_l{l}{sfx}`` (D_l, G*H), ``Wh_l{l}{sfx}`` (H, G*H),
        ``b_l{l}{sfx}`` (G*H,) or GRU ``bx_l{l}{sfx}``, ``bh_l{l}{sfx}`` (3H,),
        ``sfx`` in {"", "_reverse"}. Cells: ``Wx``, ``Wh``, ``b`` / ``bx``, ``bh``.
        Fresh copies: changing them never changes the module.
    config : dict
        ``cell`` ("rnn"/"lstm"/"gru"), ``activation`` ("tanh"/"relu"),
        ``input_size``, ``hidden_size``, ``num_layers``, ``bidirectional``, ``bias``,
        ``batch_first``, ``dropout`` and ``module`` (the torch class name); pass
        ``cell``, ``num_layers``, ``bidirectional``, ``activation`` to
        :func:`~course_lib.numpy_rnn.multilayer_forward`, or the whole
        dict back to :func:`to_torch`.
    """
    params, cell, act, single = _convert(module, dtype, grad=False)
    config = {"cell": cell, "activation": act, "input_size": module.input_size,
              "hidden_size": module.hidden_size, "bias": bool(module.bias)}
    if single:
        config.update(module=_CELL_CLASSES[cell], num_layers=1, bidirectional=False)
    else:
        config.update(module=_SEQ_CLASSES[cell], num_layers=module.num_layers,
                      bidirectional=bool(module.bidirectional),
                      batch_first=bool(module.batch_first), dropout=float(module.dropout))
    return params, config


def grads_from_torch(module, dtype=None):
    """Gradients (``.grad``) of a torch.nn recurrent module, mapped like :func:`from_torch`.

    Since :math:`b = b_{ih} + b_{hh}`, :math:`\\partial L/\\partial b =
    \\partial L/\\partial b_{ih}` (which equals :math:`\\partial L/\\partial b_{hh}`).
    With ``bias=False`` the bias keys are left out (torch has no such gradient).

    Parameters
    ----------
    module : torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell
        After ``backward()``.
    dtype : numpy dtype or None

    Returns
    -------
    dict of ndarray
        Same keys and shapes as ``from_torch(module)[0]``.
    """
    grads, _, _, _ = _convert(module, dtype, grad=True)
    return grads


def _infer_config(params, config, kwargs):
    """Merge config and kwargs, inferring whatever is missing from the keys and shapes."""
    cfg = dict(config or {})
    cfg.update(kwargs)
    if "nonlinearity" in cfg:                        # torch's name for it
        cfg.setdefault("activation", cfg.pop("nonlinearity"))
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
    module_name = cfg.get("module")
    single = module_name in _CELL_CLASSES.values() if module_name else "Wx" in params
    sfx0 = "" if single else "_l0"
    for key in (f"Wx{sfx0}", f"Wh{sfx0}"):
        if key not in params:
            raise ValueError(f"params: expected key {key!r}, got keys {sorted(params)}")
        if not isinstance(params[key], np.ndarray) or params[key].ndim != 2:
            raise ValueError(f"params[{key!r}]: expected a 2-D numpy array, got "
                             f"{getattr(params[key], 'shape', type(params[key]).__name__)}")
    D, GH = params[f"Wx{sfx0}"].shape
    H = params[f"Wh{sfx0}"].shape[0]
    cell = cfg.get("cell")
    if cell is None:
        if f"bx{sfx0}" in params:
            cell = "gru"
        elif GH == 4 * H:
            cell = "lstm"
        elif GH == H:
            cell = "rnn"
        else:
            raise ValueError(f"params['Wh{sfx0}']: cannot infer the cell from shape "
                             f"{params[f'Wh{sfx0}'].shape}; pass cell=")
    if cell not in GATE_BLOCKS:
        raise ValueError(f"cell: expected one of 'rnn', 'lstm', 'gru', got {cell!r}")
    if single:
        L, bidir = 1, False
    else:
        L = cfg.get("num_layers")
        if L is None:
            L = 0
            while f"Wx_l{L}" in params:
                L += 1
        bidir = cfg.get("bidirectional")
        if bidir is None:
            bidir = "Wx_l0_reverse" in params
    act = cfg.get("activation", "tanh")
    if act not in ("tanh", "relu") or (cell != "rnn" and act != "tanh"):
        raise ValueError(f"activation: expected 'tanh' or 'relu' (RNN only), got {act!r} "
                         f"for cell={cell!r}")
    for key, expected in (("input_size", D), ("hidden_size", H)):
        if key in cfg and cfg[key] != expected:
            raise ValueError(f"{key}: config says {cfg[key]} but params have {expected}")
    return cfg, cell, act, single, D, H, int(L), bool(bidir)


def to_torch(params, config=None, **kwargs):
    """The torch.nn module computing the same function as ``params`` (inverse of :func:`from_torch`).

    .. math::

        W_{ih} &= W_x^\\top,\\\\
        W_{hh} &= W_h^\\top,\\\\
        b_{ih} &= b,\\ b_{hh} = 0 \\ (\\text{RNN, LSTM}),\\\\
        b_{ih} &= b_x,\\ b_{hh} = b_h \\ (\\text{GRU})

    Parameters
    ----------
    params : dict of ndarray
        In the layout of :func:`from_torch`; the module gets their dtype.
    config : dict or None
        As returned by :func:`from_torch`. Anything missing is inferred: the cell
        from the gate width (``Wh`` (H, 4H) is an LSTM, (H, H) an RNN, a ``bx`` key
        a GRU), ``num_layers`` and ``bidirectional`` from the keys, sizes from the
        shapes, ``activation`` defaults to "tanh", ``bias`` to True.
    **kwargs
        Override entries of ``config`` (``nonlinearity`` is accepted for
        ``activation``; ``batch_first`` and ``dropout`` go to the module).

    Returns
    -------
    torch.nn.Module
        ``RNN``/``LSTM``/``GRU``, or ``RNNCell``/``LSTMCell``/``GRUCell`` when the
        params use bare names (or ``config["module"]`` names a cell); on the CPU.

    Raises
    ------
    ValueError
        Missing keys or wrong shapes, or ``bias=False`` with a nonzero bias.
    """
    import torch
    import torch.nn as nn

    cfg, cell, act, single, D, H, L, bidir = _infer_config(params, config, kwargs)
    dtype = params["Wx" if single else "Wx_l0"].dtype
    tdtype = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32,
              np.dtype(np.float64): torch.float64}.get(np.dtype(dtype))
    if tdtype is None:
        raise ValueError(f"params: expected float16/32/64 arrays, got {dtype}")
    dirs = 2 if bidir else 1
    if single:
        # the step functions use bare names; check them through the stacked checker
        renamed = {f"{k}_l0": v for k, v in params.items()}
        try:
            check_params(renamed, cell, 1, 1, D, H, dtype)
        except ValueError as err:
            raise ValueError(str(err).replace("_l0'", "'")) from None
    else:
        check_params(params, cell, L, dirs, D, H, dtype)
    bias = bool(cfg.get("bias", True))
    bias_names = ("bx", "bh") if cell == "gru" else ("b",)
    if not bias:
        for sfx, _ in _walk_cfg(single, L, dirs):
            for b in bias_names:
                if np.any(params[f"{b}{sfx}"] != 0):
                    raise ValueError(f"params['{b}{sfx}']: bias=False but the bias is nonzero")

    factory = dict(dtype=tdtype)
    if single:
        cls = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[cell]
        extra = {"nonlinearity": act} if cell == "rnn" else {}
        module = cls(D, H, bias=bias, **extra, **factory)
    else:
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        extra = {"nonlinearity": act} if cell == "rnn" else {}
        module = cls(D, H, num_layers=L, bias=bias, batch_first=bool(cfg.get("batch_first", False)),
                     dropout=float(cfg.get("dropout", 0.0)), bidirectional=bidir,
                     **extra, **factory)
    with torch.no_grad():
        for sfx, tsfx in _walk_cfg(single, L, dirs):
            getattr(module, f"weight_ih{tsfx}").copy_(torch.from_numpy(params[f"Wx{sfx}"].T.copy()))
            getattr(module, f"weight_hh{tsfx}").copy_(torch.from_numpy(params[f"Wh{sfx}"].T.copy()))
            if not bias:
                continue
            if cell == "gru":
                getattr(module, f"bias_ih{tsfx}").copy_(torch.from_numpy(params[f"bx{sfx}"].copy()))
                getattr(module, f"bias_hh{tsfx}").copy_(torch.from_numpy(params[f"bh{sfx}"].copy()))
            else:
                getattr(module, f"bias_ih{tsfx}").copy_(torch.from_numpy(params[f"b{sfx}"].copy()))
                getattr(module, f"bias_hh{tsfx}").zero_()
    return module


def _walk_cfg(single, L, dirs):
    """Yield (numpy suffix, torch suffix) for every layer and direction (both '' for a cell)."""
    if single:
        yield "", ""
        return
    for layer in range(L):
        for d in range(dirs):
            sfx = param_suffix(layer, d)
            yield sfx, sfx
