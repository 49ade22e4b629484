"""The sandbox end of the checker's channel: call one student function, write back the answer.

The sandbox gets this file as ``_rnn_course_channel`` (beside ``_rnn_course_wire``). At each
test cell the sandbox worker sends the kernel one silent execute request::

    __import__("_rnn_course_channel").serve_cell("/tmp/sandbox/channel/sock")

which connects to the worker's socket and answers requests until the worker says ``end``: each
looks the target up in the notebook's namespace (or among the objects that stayed here as
handles), runs it on the decoded arguments and sends the encoded answer back. A call that runs
past its limit is interrupted (SIGINT) and answered as such.
Everything here runs in the student's process and may be rewritten by the student: that buys
nothing, since only data comes back and the checker decides what the data is worth.

Request (JSON): ``{"target": {...}, "args": [...], "kwargs": {...}, "rng": {...}}`` where the
target is ``{"name": N}`` (the notebook's global N), ``{"handle": K}``, ``{"handle": K,
"attr": A}`` (a method of a handle) or ``{"helper": "ps4.train_classifier"}`` (a data helper of
the sandbox's course_lib). Reply: ``{"ok": true, "value", "args_after", "rng"}`` or ``{"ok":
false, "error": {"type", "message", "traceback"}}``.
"""

from __future__ import annotations

import importlib
import json
import socket
import struct
import sys
import traceback

import _rnn_course_wire as wire

#: objects that stayed in the sandbox (id -> object); freed by the checker after each cell
STORE: dict = {}
_PROBES = None


def _probes():
    global _PROBES
    if _PROBES is None:
        try:
            _PROBES = importlib.import_module("_rnn_course_probes")
        except ImportError:
            _PROBES = False
    return _PROBES or None


def _namespace() -> dict:
    ip = sys.modules.get("IPython")
    shell = ip.get_ipython() if ip is not None else None
    return shell.user_ns if shell is not None else vars(sys.modules["__main__"])


def _target(spec: dict):
    if "name" in spec:
        ns = _namespace()
        if spec["name"] not in ns:
            raise NameError(f"name {spec['name']!r} is not defined in your notebook")
        return ns[spec["name"]]
    if "helper" in spec:
        module, _, attr = str(spec["helper"]).partition(".")
        return getattr(importlib.import_module(f"course_lib.grading.{module}"), attr)
    obj = STORE[int(spec["handle"])]
    attr = spec.get("attr")
    if attr is None:
        return obj
    if not str(attr).isidentifier() or str(attr).startswith("__"):
        raise AttributeError(f"attribute {attr!r} may not be called by the grader")
    return getattr(obj, attr)


def _set_rng(rng: dict) -> None:
    np = sys.modules.get("numpy")
    if np is not None and rng.get("np") is not None:
        np.random.set_state(tuple(rng["np"]))
    torch = sys.modules.get("torch")
    if torch is not None and rng.get("torch") is not None:
        torch.set_rng_state(torch.from_numpy(rng["torch"]))


def _get_rng() -> dict:
    np = sys.modules.get("numpy")
    out = {"np": None}
    if np is not None:
        state = np.random.get_state()
        out["np"] = [state[0], state[1], int(state[2]), int(state[3]), float(state[4])]
    torch = sys.modules.get("torch")
    out["torch"] = torch.get_rng_state().numpy() if torch is not None else None
    return out


def _student_traceback(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.endswith(("_rnn_course_channel.py", "_rnn_course_wire.py"))]
    lines = traceback.format_list(frames[-6:])
    return "".join(lines) + "".join(traceback.format_exception_only(type(exc), exc))


def _call(request: dict) -> dict:
    decoder = wire.Decoder(resolve=lambda k, name: STORE[k], allow_modules=True,
                           probes=_probes())
    args = decoder.decode(request.get("args", []))
    kwargs = decoder.decode(request.get("kwargs", {"$dict": []}))
    if request.get("reset"):
        STORE.clear()
        return {"ok": True, "value": None}
    if request.get("rng"):
        _set_rng(decoder.decode(request["rng"]))
    fn = _target(request["target"])
    if request.get("map"):  # one request, many calls: args is a list of argument lists
        value = [fn(*a, **kwargs) for a in args]
    else:
        value = fn(*args, **kwargs)
    enc = wire.Encoder(store=STORE)
    return {"ok": True, "value": enc.encode(value), "args_after": enc.encode(args),
            "kwargs_after": enc.encode(kwargs), "rng": enc.encode(_get_rng())}


def _reply_text(request_bytes: bytes) -> bytes:
    """The encoded answer to one request; never raises."""
    try:
        reply = _call(json.loads(request_bytes))
    except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted: the call ran past its time limit"
        else:
            message = str(exc)[:4000]
        reply = {"ok": False, "error": {"type": type(exc).__name__, "message": message,
                                        "traceback": _student_traceback(exc)[-6000:]}}
    try:
        return json.dumps(reply, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return json.dumps({"ok": False, "error": {"type": "WireError", "message": str(exc),
                                                  "traceback": ""}}).encode("utf-8")


def _recv(sock) -> bytes:
    head = _exact(sock, 4)
    return _exact(sock, struct.unpack(">I", head)[0])


def _exact(sock, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("the worker closed the channel")
        buf += chunk
    return bytes(buf)


def serve_cell(path: str) -> None:
    """Answer the checker's requests for one test cell, over the worker's socket at ``path``,
    until the worker says ``end`` (one silent execute request per test cell, not per call)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    try:
        while True:
            try:
                request = _recv(sock)
            except KeyboardInterrupt:  # an interrupt that came just after a call returned
                continue
            except ConnectionError:
                return
            if request == b"end":
                return
            answer = _reply_text(request)
            sock.sendall(struct.pack(">I", len(answer)) + answer)
    finally:
        sock.close()
