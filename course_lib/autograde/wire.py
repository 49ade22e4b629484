"""Plain data across the checker <-> sandbox channel: encode, and decode without trusting it.

Both sides use this module: the checker imports it, and the sandbox gets a copy of its source
as ``_rnn_course_wire`` (it needs nothing but the standard library, numpy and, when loaded,
torch). A value crosses the channel as JSON built from:

=========================  ===========================================================
Python value               JSON
=========================  ===========================================================
None, bool, int, str       themselves (int within 64 bits, str within the size limit)
float                      itself, or ``{"$float": "nan" | "inf" | "-inf"}``
numpy.ndarray              ``{"$nd": [dtype, shape, base64 of the C-ordered bytes]}``
numpy scalar               ``{"$np": [dtype, base64 of its bytes]}``
torch.Tensor               ``{"$t": [dtype, shape, base64]}`` (detached, on the CPU)
tuple / list               ``{"$tuple": [...]}`` / ``[...]``
dict (any encodable keys)  ``{"$dict": [[key, value], ...]}`` (``"$counter"`` for a Counter)
anything else              ``{"$handle": [id, type name]}``: the object stays where it is
a torch module (to send)   ``{"$module": [class name, constructor kwargs, state_dict]}``
=========================  ===========================================================

Decoding builds only these types: no pickle, no eval, no import named by the data, dtypes from a
fixed list, sizes and depth bounded. A value that breaks a rule raises :class:`WireError`,
which the checker turns into a failed check with the message.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from collections import Counter

#: dtypes that may cross (the exercises use float32/64, int64 ids, bool masks)
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64")
#: torch modules the checker may send into the sandbox (the exercises pass nothing else)
MODULES = ("RNN", "LSTM", "GRU", "Linear", "Embedding")
MAX_DEPTH = 32
#: fixed-width unicode arrays (token arrays of ps1) cross as well, up to this many characters
MAX_UNICODE = 256
#: functions the checker may hand to a student's function, rebuilt by name in the sandbox
PROBE_MODULE = "course_lib.grading.probe_functions"


class WireError(ValueError):
    """A value that may not cross the channel (type, size, depth or a malformed encoding)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _torch():
    return sys.modules.get("torch")


def _np():
    # loaded only when an array must be built: a kernel that never imported numpy sends none
    import numpy

    return numpy


class Encoder:
    """Turns a value into JSON-able data; unknown objects become handles in ``self.store``.

    Parameters
    ----------
    store : dict or None
        id -> object for values that cannot travel as data; None makes them an error.
    max_bytes : int
        Budget for the array bytes of one message.
    """

    def __init__(self, store=None, max_bytes: int = 64 * 2**20, send_modules: bool = False):
        self.store = store
        self.budget = max_bytes
        self.send_modules = send_modules

    def _spend(self, n: int) -> None:
        self.budget -= n
        if self.budget < 0:
            raise WireError("value too large for the channel")

    def encode(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
        t = type(value)
        if value is None or t is bool or t is str:
            if t is str:
                self._spend(len(value))
            return value
        if t is int:
            if not -2**63 <= value < 2**64:
                raise WireError("integer outside 64 bits")
            return value
        if t is float:
            return value if math.isfinite(value) else {"$float": repr(value)}
        np = sys.modules.get("numpy")
        if np is not None and t is np.ndarray:
            return {"$nd": self._array(value)}
        if np is not None and isinstance(value, np.generic) and t.__module__ == "numpy":
            arr = np.asarray(value)
            return {"$np": [_dtype_name(arr.dtype), _b64(arr.tobytes())]}
        torch = _torch()
        if torch is not None and t is torch.Tensor or (
                torch is not None and t is getattr(torch.nn, "Parameter", None)):
            arr = value.detach().cpu().contiguous().numpy()
            return {"$t": self._array(arr)}
        if callable(value) and getattr(value, "__module__", None) == PROBE_MODULE \
                and self.send_modules:
            return {"$probe": value.__name__}
        if self.send_modules and torch is not None and isinstance(value, torch.nn.Module):
            cls, kwargs, state = module_spec(value)
            return {"$module": [cls, kwargs, {k: self.encode(v, depth + 1)
                                              for k, v in state.items()}]}
        if t is tuple:
            return {"$tuple": [self.encode(v, depth + 1) for v in value]}
        if t is list:
            return [self.encode(v, depth + 1) for v in value]
        if t is dict or t is Counter:
            items = [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                     for k, v in value.items()]
            return {"$counter" if t is Counter else "$dict": items}
        return self._handle(value)

    def _array(self, arr) -> list:
        name = _dtype_name(arr.dtype)
        self._spend(arr.nbytes)
        return [name, list(arr.shape), _b64(_np().ascontiguousarray(arr).tobytes())]

    def _handle(self, value):
        if self.store is None:
            raise WireError(f"a {type(value).__name__} cannot cross the channel")
        key = len(self.store) + 1
        self.store[key] = value
        return {"$handle": [key, type(value).__name__]}


def _dtype_name(dtype) -> str:
    if dtype.kind == "U" and dtype.itemsize // 4 <= MAX_UNICODE:
        return "<U" + str(dtype.itemsize // 4)
    if dtype.name not in DTYPES:
        raise WireError(f"an array of dtype {dtype} cannot cross (expected one of "
                        f"{', '.join(DTYPES)} or unicode)")
    return dtype.name


def module_spec(module) -> tuple:
    """How the checker sends a torch module: (class name, constructor kwargs, state_dict)."""
    import torch

    cls = type(module).__name__
    if cls not in MODULES or type(module) is not getattr(torch.nn, cls):
        raise WireError(f"torch module {cls} cannot cross (expected one of {MODULES})")
    names = {"RNN": ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias",
                     "batch_first", "bidirectional"),
             "Linear": ("in_features", "out_features"),
             "Embedding": ("num_embeddings", "embedding_dim")}
    fields = names.get(cls, names["RNN"])
    kwargs = {k: getattr(module, k) for k in fields if hasattr(module, k)}
    if cls == "Linear":
        kwargs["bias"] = module.bias is not None
    return cls, kwargs, dict(module.state_dict())


class Decoder:
    """Builds values from JSON-able data; ``{"$handle"}`` resolves through ``resolve``.

    Parameters
    ----------
    resolve : callable or None
        ``resolve(id, type_name)`` -> the object (the sandbox looks it up in its store; the
        checker wraps it as a remote proxy). None makes a handle an error.
    allow_modules : bool
        Whether ``$module`` may be built (only the sandbox side builds modules).
    """

    def __init__(self, resolve=None, allow_modules: bool = False, max_bytes: int = 64 * 2**20,
                 probes=None):
        self.resolve = resolve
        self.allow_modules = allow_modules
        self.budget = max_bytes
        self.probes = probes

    def decode(self, data, depth: int = 0):
        if depth > MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
        t = type(data)
        if data is None or t in (bool, int, float, str):
            return data
        if t is list:
            return [self.decode(v, depth + 1) for v in data]
        if t is not dict or len(data) != 1:
            raise WireError(f"malformed value of type {t.__name__}")
        (tag, body), = data.items()
        if tag == "$nd":
            return self._array(body)
        if tag == "$t":
            torch = _torch()
            if torch is None:
                import torch  # noqa: F811  (a tensor was sent: the receiver has torch)
            return torch.from_numpy(self._array(body))
        if tag == "$np":
            dtype, raw = self._check_pair(body)
            arr = _np().frombuffer(self._bytes(raw), dtype=self._dtype(dtype))
            if arr.size != 1:
                raise WireError("malformed numpy scalar")
            return arr[0]
        if tag == "$float":
            if body not in ("nan", "inf", "-inf"):
                raise WireError("malformed float")
            return float(body)
        if tag == "$tuple":
            return tuple(self.decode(v, depth + 1) for v in self._list(body))
        if tag in ("$dict", "$counter"):
            out = {} if tag == "$dict" else Counter()
            for pair in self._list(body):
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("malformed dict item")
                key = self.decode(pair[0], depth + 1)
                try:
                    out[key] = self.decode(pair[1], depth + 1)
                except TypeError as exc:
                    raise WireError(f"unhashable dict key: {exc}") from None
            return out
        if tag == "$handle":
            if self.resolve is None:
                raise WireError("an object handle was sent where data was expected")
            key, name = self._check_pair(body)
            return self.resolve(int(key), str(name))
        if tag == "$module" and self.allow_modules:
            return self._module(body, depth)
        if tag == "$probe" and self.probes is not None:
            if body not in getattr(self.probes, "__all__", ()):
                raise WireError(f"unknown probe function {str(body)[:40]!r}")
            return getattr(self.probes, body)
        raise WireError(f"unknown tag {str(tag)[:40]!r}")

    @staticmethod
    def _list(body) -> list:
        if type(body) is not list:
            raise WireError("malformed sequence")
        return body

    @staticmethod
    def _check_pair(body) -> list:
        if type(body) is not list or len(body) != 2:
            raise WireError("malformed value")
        return body

    @staticmethod
    def _dtype(name):
        if type(name) is str and name.startswith("<U") and name[2:].isdigit() \
                and 0 < int(name[2:]) <= MAX_UNICODE:
            return _np().dtype(name)
        if name not in DTYPES:
            raise WireError(f"dtype {str(name)[:40]!r} may not cross")
        return _np().dtype(name)

    def _bytes(self, raw) -> bytes:
        if type(raw) is not str:
            raise WireError("malformed array data")
        self.budget -= len(raw)
        if self.budget < 0:
            raise WireError("value too large for the channel")
        try:
            return base64.b64decode(raw.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise WireError("malformed array data") from None

    def _array(self, body):
        if type(body) is not list or len(body) != 3 or type(body[1]) is not list:
            raise WireError("malformed array")
        dtype, shape, raw = body
        dt = self._dtype(dtype)
        if len(shape) > 32 or not all(type(n) is int and 0 <= n for n in shape):
            raise WireError("malformed array shape")
        data = self._bytes(raw)
        if len(data) != dt.itemsize * math.prod(shape):
            raise WireError("array data does not match its shape")
        return _np().frombuffer(data, dtype=dt).reshape(shape).copy()

    def _module(self, body, depth):
        import torch

        cls, kwargs, state = self._list(body)
        if cls not in MODULES or type(kwargs) is not dict:
            raise WireError(f"module {str(cls)[:40]!r} may not be built")
        module = getattr(torch.nn, cls)(**kwargs)
        module.load_state_dict({k: torch.as_tensor(self.decode(v, depth + 1))
                                for k, v in state.items()})
        return module


def dumps(value, store=None, max_bytes: int = 64 * 2**20, send_modules: bool = False) -> str:
    """JSON text of ``value`` (see the module's table)."""
    return json.dumps(Encoder(store, max_bytes, send_modules).encode(value), allow_nan=False)


def loads(text, resolve=None, allow_modules: bool = False, max_bytes: int = 64 * 2**20,
          probes=None):
    """The value in JSON ``text``; raises :class:`WireError` on anything but plain data."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > max_bytes:
            raise WireError("message too large")
        text = bytes(text).decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not valid JSON: {str(exc)[:80]}") from None
    return Decoder(resolve, allow_modules, max_bytes, probes).decode(data)
