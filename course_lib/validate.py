"""Argument validation for course_lib: one place for every check of the package's inputs.

Every public function checks its arguments before any arithmetic, so that a wrong argument
fails loudly where it was passed instead of being silently broadcast or failing later with an
IndexError far from its cause. Every message names the argument, what was expected (in the
book's symbols and in numbers where they are known) and what was received, e.g.::

    ValueError: h_prev: expected shape (N, H) = (4, 8), got (4, 7)
    ValueError: bptt: expected an int >= 1, got 0

Scalars: :func:`check_int`, :func:`check_number`, :func:`check_bool`, :func:`check_choice`,
:func:`check_seed`. NumPy arrays: :func:`check_array`, :func:`check_shape`,
:func:`check_float`, :func:`check_float_array`, :func:`check_int_array`; the recurrent layers'
weights and states: :func:`check_gate_weights`, :func:`check_initial_state`; caches handed from
a forward to its backward: :func:`check_cache`.

Conventions of the array checks
-------------------------------
- ``dims`` is the shape in symbols, written as in the docstrings: ``"T, N, D"``.
- ``sizes`` gives the numbers already known (from earlier arguments); ``None`` means "any size,
  this argument defines it".
- Float arrays must be float32 or float64 and all float arguments of one call share the dtype of
  the first one: the reference never upcasts silently (float32 stays float32).
- ``np.matrix`` is refused: it passes ``isinstance(a, np.ndarray)`` but its ``*`` is a matrix
  product, so the elementwise gate products would silently compute something else.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

__all__ = [
    "FLOAT_DTYPES", "check_int", "check_number", "check_bool", "check_choice", "check_seed",
    "check_array", "check_shape", "check_float", "check_float_array", "check_int_array",
    "check_activation", "check_gate_weights", "check_initial_state", "check_cache",
]

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# Gate blocks stacked along the weights' last axis, per cell (torch.nn's order).
GATES = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
_WIDTH = {"rnn": 1, "lstm": 4, "gru": 3}


# ------------------------------------------------------------------------------------ scalars

def _is_int(value: Any) -> bool:
    # bool is an int subclass, but True as a batch size is always a slip.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _wanted(kind: str, minimum, maximum, strict: bool = False) -> str:
    """What a bounded scalar check expects, in words: ``an int >= 1``, ``a finite number in [0, 1]``."""
    if minimum is not None and maximum is not None:
        return f"{kind} in {'(' if strict else '['}{minimum}, {maximum}]"
    if minimum is not None:
        return f"{kind} {'>' if strict else '>='} {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum}"
    return kind


def check_int(value: Any, name: str, minimum: Optional[int] = 1, maximum: Optional[int] = None,
              *, optional: bool = False) -> Optional[int]:
    """``value`` as a Python int in ``[minimum, maximum]`` (None = no bound), else ValueError.

    ``optional=True`` lets ``None`` through (returned as None). bool is refused.
    """
    if optional and value is None:
        return None
    ok = _is_int(value) and (minimum is None or value >= minimum) and \
        (maximum is None or value <= maximum)
    if not ok:
        want = _wanted("an int", minimum, maximum)
        raise ValueError(f"{name}: expected {'None or ' if optional else ''}{want}, got {value!r}")
    return int(value)


def check_number(value: Any, name: str, minimum: Optional[float] = None,
                 maximum: Optional[float] = None, *, strict: bool = False,
                 optional: bool = False) -> Optional[float]:
    """``value`` as a finite float in ``[minimum, maximum]``, else ValueError.

    ``strict=True`` excludes ``minimum`` itself (``> minimum``). bool is refused.
    """
    if optional and value is None:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        want = _wanted("a finite number", minimum, maximum, strict)
        raise ValueError(f"{name}: expected {'None or ' if optional else ''}{want}, got {value!r}")
    return float(value)


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a bool (True/False or numpy's bool), else ValueError: 0 and 1 are refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected a bool (True or False), got {value!r}")
    return bool(value)


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` unchanged if it is one of ``choices``, else ValueError listing them."""
    choices = tuple(choices)
    if isinstance(value, (bool, np.bool_)) or value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
    return value


def check_seed(seed: Any, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from ``None``, an int seed or a Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not _is_int(seed):
        raise ValueError(f"{name}: expected None, an int or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------- arrays

def check_array(name: str, a: Any, what: str = "a numpy array") -> np.ndarray:
    """Raise ValueError unless ``a`` is a plain ndarray; ``what`` describes it in the message."""
    if isinstance(a, np.matrix):
        raise ValueError(f"{name}: expected {what}, got a numpy.matrix, whose * is a matrix "
                         f"product; convert it with np.asarray({name})")
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name}: expected {what}, got {type(a).__name__}")
    return a


def _fmt_expected(dims: str, sizes: Optional[Sequence[Optional[int]]]) -> str:
    symbols = [s.strip() for s in dims.split(",")] if dims.strip() else []
    if sizes is None or all(n is None for n in sizes):
        return f"({dims})"
    if len(symbols) == 1:
        nums = f"({sizes[0]},)"
    else:
        nums = "(" + ", ".join(str(n) if n is not None else sym for n, sym in zip(sizes, symbols)) + ")"
    return f"({dims}) = {nums}"


def check_shape(name: str, a: np.ndarray, dims: str,
                sizes: Optional[Sequence[Optional[int]]] = None) -> None:
    """Raise ValueError unless ``a`` has rank ``len(dims)`` and the known ``sizes``.

    Parameters
    ----------
    name : str
        The argument's name as the caller wrote it (``"h_prev"``).
    a : np.ndarray
        The array to check.
    dims : str
        Expected shape in symbols, comma separated (``"N, H"``).
    sizes : sequence of int or None, optional
        Expected sizes; ``None`` entries (or ``sizes=None``) accept any size.
    """
    symbols = [s.strip() for s in dims.split(",")] if dims.strip() else []
    rank = len(symbols)
    if sizes is not None and len(sizes) != rank:
        raise AssertionError(f"internal: dims {dims!r} and sizes {sizes!r} disagree")
    expected = _fmt_expected(dims, sizes)
    if a.ndim != rank:
        raise ValueError(f"{name}: expected shape {expected} (rank {rank}), got {a.shape} (rank {a.ndim})")
    if sizes is not None:
        for got, want in zip(a.shape, sizes):
            if want is not None and got != want:
                raise ValueError(f"{name}: expected shape {expected}, got {a.shape}")


def check_float(name: str, a: Any, dtype: Optional[np.dtype] = None, like: str = "x") -> np.ndarray:
    """Raise ValueError unless ``a`` is a float32/float64 ndarray (of ``dtype`` when given).

    ``like`` names the argument that fixed ``dtype``, for the message. Returns ``a`` unchanged
    (no copy, no conversion).
    """
    check_array(name, a, "a numpy array of float32 or float64")
    if a.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name}: expected dtype float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(
            f"{name}: expected dtype {np.dtype(dtype)} (the dtype of {like}), got {a.dtype}; "
            f"the reference never mixes precisions, convert with .astype(np.{np.dtype(dtype)})"
        )
    return a


def check_float_array(name: str, a: Any, dims: str,
                      sizes: Optional[Sequence[Optional[int]]] = None,
                      dtype: Optional[np.dtype] = None, like: str = "x") -> np.ndarray:
    """:func:`check_float` then :func:`check_shape`; returns ``a``."""
    check_float(name, a, dtype, like)
    check_shape(name, a, dims, sizes)
    return a


def check_int_array(name: str, a: Any, high: Optional[int] = None, high_name: str = "V") -> np.ndarray:
    """Raise ValueError unless ``a`` is an integer ndarray with values in [0, high).

    Used for token indices: an index outside the vocabulary must not wrap around (numpy's
    negative indexing) or fail later with an IndexError far from its cause.
    """
    check_array(name, a, "a numpy array of integer indices")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name}: expected an integer dtype (token indices), got {a.dtype}")
    if high is not None and a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= high:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{name}: index {bad} is out of range, expected 0 <= {name} < {high_name} = {high}"
            )
    return a


def check_activation(activation: Any) -> str:
    """Raise ValueError unless ``activation`` is ``"tanh"`` or ``"relu"``."""
    if activation not in ("tanh", "relu"):
        raise ValueError(f"activation: expected 'tanh' or 'relu', got {activation!r}")
    return activation


# ------------------------------------------------------------------ recurrent layers' arguments

def _other_cell_hint(Wx: np.ndarray, Wh: np.ndarray, cell: str) -> Optional[str]:
    """The message for weights that are consistent with each other but sized for another cell."""
    if Wh.ndim != 2 or Wx.ndim != 2 or Wh.shape[0] == 0 or Wx.shape[1] != Wh.shape[1]:
        return None
    H, width = Wh.shape
    for other, k in _WIDTH.items():
        if other != cell and width == k * H:
            G = _WIDTH[cell]
            blocks = f"the {G} gate blocks {', '.join(GATES[cell])}" if G > 1 else "one block"
            return (f"Wx, Wh: got widths {width} = {k}H with H = {H} (the rows of Wh), the "
                    f"weights of {'an' if other != 'gru' else 'a'} {other.upper()}; the "
                    f"{cell.upper()} expects {G}H = {G * H} columns ({blocks}): shapes Wx "
                    f"(D, {G}H), Wh (H, {G}H), got Wx {Wx.shape}, Wh {Wh.shape}")
    return None


def check_gate_weights(cell: str, x: np.ndarray, Wx: Any, Wh: Any, D: int) -> int:
    """Check ``Wx (D, G*H)`` and ``Wh (H, G*H)`` of an RNN (G = 1), GRU (3) or LSTM (4); return H.

    H is read from Wx's width, as the docstrings' shapes do; weights sized for another cell
    (e.g. an LSTM's 4H columns passed to the GRU) are named as such instead of blaming one of
    them for the other's size.
    """
    G = _WIDTH[cell]
    g = "" if G == 1 else str(G)
    check_float("Wx", Wx, x.dtype)
    check_float("Wh", Wh, x.dtype)
    hint = _other_cell_hint(Wx, Wh, cell)
    if hint is not None:
        raise ValueError(hint)
    check_shape("Wx", Wx, f"D, {g}H", (D, None))
    if G > 1 and (Wx.shape[1] % G or Wx.shape[1] == 0):
        raise ValueError(f"Wx: expected shape (D, {G}H) with a width divisible by {G}, got {Wx.shape}")
    H = Wx.shape[1] // G
    check_shape("Wh", Wh, f"H, {g}H", (H, G * H))
    return H


def check_initial_state(name: str, state: Any, x: np.ndarray, H: int) -> np.ndarray:
    """Check an initial state (N, H) against a sequence x (T, N, D), hinting at batch-major x.

    A batch-major x (N, T, D) makes every state look wrong; when the state's first size is x's
    first size (not its second), the message says x may be batch-major.
    """
    N = x.shape[1]
    check_float(name, state, x.dtype)
    try:
        check_shape(name, state, "N, H", (N, H))
    except ValueError as err:
        if state.ndim == 2 and state.shape[0] == x.shape[0] != N:
            raise ValueError(f"{err}; or is x batch-major? x has shape {x.shape}, read as "
                             f"(T, N, D) = (T={x.shape[0]}, N={N}, D={x.shape[2]}): the course "
                             "is time-major, pass x.transpose(1, 0, 2) for an (N, T, D) "
                             "batch") from None
        raise
    return state


def check_cache(cache: Any, keys: Sequence[str], producer: str, name: str = "cache") -> Mapping:
    """Raise ValueError unless ``cache`` is the dict ``producer`` returns (holds all ``keys``)."""
    if not isinstance(cache, Mapping):
        raise ValueError(f"{name}: expected the cache dict returned by {producer}, got "
                         f"{type(cache).__name__}")
    missing = [k for k in keys if k not in cache]
    if missing:
        raise ValueError(f"{name}: expected the cache dict returned by {producer}, but it lacks "
                         f"{', '.join(repr(k) for k in missing)} (got keys {sorted(cache)})")
    return cache
