"""Seeded inputs for the tests: every random draw comes from ``numpy.random.default_rng(seed)``.

Visible tests use small seeds (0, 1, ...); hidden tests use others (>= 100), so a function that
memorised the visible answers fails the hidden ones. Scales keep tanh and the sigmoids in
their sensitive range, so a wrong formula shows up as a large relative error.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

__all__ = ["rnn_inputs", "lstm_inputs", "logits_inputs"]


def _dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def rnn_inputs(seed: int, T: int = 0, N: int = 3, D: int = 4, H: int = 5, dtype="float64",
               gates: int = 1) -> Dict[str, np.ndarray]:
    """Arguments of an RNN (gates=1) or LSTM (gates=4) step (T=0) or sequence (T>=1).

    Returns ``x`` (N, D) or (T, N, D), ``h_prev``/``h0`` (N, H), ``Wx`` (D, G*H),
    ``Wh`` (H, G*H), ``b`` (G*H,), and ``c_prev``/``c0`` (N, H) for the LSTM, in call order.
    """
    dt = _dtype(dtype)
    rng = np.random.default_rng(seed)
    G = gates
    x = rng.standard_normal((T, N, D) if T else (N, D))
    h = rng.standard_normal((N, H)) * 0.5
    out = {"x": x, ("h0" if T else "h_prev"): h}
    if G == 4:
        out["c0" if T else "c_prev"] = rng.standard_normal((N, H))
    out["Wx"] = rng.standard_normal((D, G * H)) / np.sqrt(D)
    out["Wh"] = rng.standard_normal((H, G * H)) / np.sqrt(H)
    out["b"] = rng.standard_normal(G * H) * 0.3
    return {k: v.astype(dt) for k, v in out.items()}


def lstm_inputs(seed: int, T: int = 0, N: int = 3, D: int = 4, H: int = 5, dtype="float64"):
    """:func:`rnn_inputs` with the four stacked gate blocks i, f, g, o of the LSTM."""
    return rnn_inputs(seed, T=T, N=N, D=D, H=H, dtype=dtype, gates=4)


def logits_inputs(seed: int, shape=(4, 3), V: int = 6, dtype="float64", scale: float = 2.0,
                  masked: bool = False) -> Dict[str, np.ndarray]:
    """``logits`` (*shape, V), int ``targets`` (*shape) in [0, V), optional float ``mask``."""
    dt = _dtype(dtype)
    rng = np.random.default_rng(seed)
    out = {"logits": (rng.standard_normal(tuple(shape) + (V,)) * scale).astype(dt),
           "targets": rng.integers(0, V, size=tuple(shape))}
    if masked:
        mask = (rng.random(tuple(shape)) < 0.6).astype(dt)
        mask.reshape(-1)[0] = 1  # at least one position counts
        out["mask"] = mask
    return out
