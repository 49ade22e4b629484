"""The sandbox end of the checker's channel: call one student function, write back the answer.

The sandbox gets this file as ``_rnn_course_channel`` (beside ``_rnn_course_wire``). For each
call of the checker, the sandbox worker sends the kernel one silent execute request::

    __import__("_rnn_course_channel").serve("<base64 request>", "<reply file name>")

which looks the target up in the notebook's namespace (or among the objects that stayed here
as handles), runs it on the decoded arguments, and writes the encoded answer to the reply file.
Everything here runs in the student's process and may be rewritten by the student: that buys
nothing, since only data comes back and the checker decides what the data is worth.

Request (JSON): ``{"target": {...}, "args": [...], "kwargs": {...}, "rng": {...}}`` where the
target is ``{"name": N}`` (the notebook's global N), ``{"handle": K}``, ``{"handle": K,
"attr": A}`` (a method of a handle) or ``{"helper": "ps4.train_classifier"}`` (a data helper of
the sandbox's course_lib). Reply: ``{"ok": true, "value", "args_after", "rng"}`` or ``{"ok":
false, "error": {"type", "message", "traceback"}}``.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
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


def serve(request_b64: str, reply_name: str) -> None:
    """Answer one request of the checker (see the module docstring); never raises."""
    try:
        request = json.loads(base64.b64decode(request_b64))
        reply = _call(request)
    except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted: the call ran past its time limit"
        else:
            message = str(exc)[:4000]
        reply = {"ok": False, "error": {"type": type(exc).__name__, "message": message,
                                        "traceback": _student_traceback(exc)[-6000:]}}
    try:
        text = json.dumps(reply, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"ok": False, "error": {"type": "WireError", "message": str(exc),
                                                  "traceback": ""}})
    tmp = reply_name + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, reply_name)
