"""The checker: runs the test cells outside the sandbox, calling the student's code through a channel.

One checker process grades one submission. It reads its :class:`~.protocol.CheckerJob` (the
gradebook's test cells, never anything the student wrote), listens on a Unix socket in the job
folder, and waits for the sandbox worker to connect. Each time the student's notebook reaches
a test cell, the worker says so; the checker then executes that cell's source (hidden tests
included) in its own interpreter, where

- the cell's imports of the course's grading code (``Score``, ``psN``, numpy, torch) are real,
  loaded here from the instructor's course_lib, and
- every other name the cell reads (``rnn_forward``, ``SeqClassifier``, ...) is a
  :class:`Remote`: calling it sends the arguments to the sandbox, which calls the student's
  object of that name and sends back the result as data (:mod:`.wire`).

The score is the value of the cell's last expression, computed here: nothing the student's code
does can reach ``Score``, the checks, the reference or the verdict. The student's notebook may
print anything it likes in its own copy of a test cell; the checker's output replaces it.
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import importlib
import io
import json
import math
import os
import socket
import struct
import sys
import time
import traceback

import numpy as np

from . import wire
from .protocol import CellVerdict, CheckerJob, CheckerResult, NotebookSpec

#: modules a test cell's (or the setup cell's) imports may load in the checker
PRELUDE_MODULES = ("numpy", "torch", "torch.nn", "collections", "math", "course_lib.grading")
MAX_FRAME = 64 * 2**20


class ChannelClosed(RuntimeError):
    """The sandbox is gone (it crashed, was killed or ran out of time)."""


class StudentCodeError(Exception):
    """The student's function raised; the message carries the student's own traceback."""

    def __init__(self, kind: str, message: str, student_traceback: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.remote_traceback = student_traceback


# -- the socket: length-prefixed JSON frames --------------------------------------------------
def send_frame(sock: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv_frame(sock: socket.socket, limit: int = MAX_FRAME) -> dict:
    head = _recv_exact(sock, 4)
    (n,) = struct.unpack(">I", head)
    if n > limit:
        raise ChannelClosed(f"a message of {n} bytes is over the {limit}-byte limit")
    return json.loads(_recv_exact(sock, n))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ChannelClosed("the sandbox closed the channel")
        buf += chunk
    return bytes(buf)


# -- calling into the sandbox -----------------------------------------------------------------
class Channel:
    """The checker's end: one request at a time, each answered or failed within its limits."""

    def __init__(self, sock: socket.socket, call_timeout: float, max_reply_bytes: int):
        self.sock = sock
        self.call_timeout = call_timeout
        self.max_reply_bytes = max_reply_bytes
        self.deadline = math.inf  # of the test cell being run
        self.closed = ""
        self.calls = 0
        self.handles = 0  # objects the sandbox keeps for us since the last reset

    def request(self, payload: dict, timeout: float) -> dict:
        if self.closed:
            raise ChannelClosed(self.closed)
        body = base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")
        try:
            self.sock.settimeout(timeout + 20)  # the worker enforces `timeout` itself
            send_frame(self.sock, {"op": "call", "request_b64": body, "timeout": timeout})
            answer = recv_frame(self.sock, self.max_reply_bytes + 4096)
        except (OSError, ChannelClosed, ValueError) as exc:
            self.closed = f"the sandbox stopped answering ({type(exc).__name__}: {exc})"
            raise ChannelClosed(self.closed) from None
        if answer.get("op") != "reply":
            self.closed = "the sandbox broke the channel's protocol"
            raise ChannelClosed(self.closed)
        if not answer.get("ok"):
            raise ChannelClosed(str(answer.get("error", "the call failed"))[:2000])
        self.calls += 1
        try:
            reply = json.loads(str(answer.get("text", "")))
        except (ValueError, RecursionError):
            reply = None
        if not isinstance(reply, dict):
            raise StudentCodeError("WireError", "the sandbox's answer is not readable", "")
        return reply

    def _remote(self, key: int, type_name: str) -> "Remote":
        self.handles += 1
        return Remote(self, {"handle": key}, type_name)

    def call(self, target: dict, label: str, args: tuple, kwargs: dict, many: bool = False):
        """Call the student's ``target`` on ``args``; with ``many``, ``args`` is a list of
        argument tuples, called in order in one request, and the list of results comes back."""
        timeout = min(self.call_timeout * (len(args) if many else 1),
                      self.deadline - time.monotonic())
        if timeout <= 0:
            raise ChannelClosed("the test cell ran past its time limit")
        encoder = _CheckerEncoder(max_bytes=self.max_reply_bytes)
        payload = {"target": target, "args": encoder.encode([list(a) for a in args] if many
                                                            else list(args)),
                   "kwargs": encoder.encode(dict(kwargs)), "map": many}
        # every call starts from the checker's RNG state (a manual_seed before building a
        # model must give the same weights twice, as in the notebook); the sandbox's state
        # never comes back: the student cannot steer the checker's own draws
        payload["rng"] = encoder.encode(_rng_state())
        reply = self.request(payload, timeout)
        if not reply.get("ok"):
            err = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            raise StudentCodeError(str(err.get("type", "Error"))[:100],
                                   str(err.get("message", ""))[:4000],
                                   str(err.get("traceback", ""))[-6000:])
        decoder = wire.Decoder(resolve=self._remote, max_bytes=self.max_reply_bytes)
        try:
            value = decoder.decode(reply.get("value"))
            after = [decoder.decode(reply.get(k)) for k in ("args_after", "kwargs_after")]
        except wire.WireError as exc:
            raise StudentCodeError("WireError", f"{label} returned something the grader "
                                                f"cannot read: {exc}", "") from None
        if not many:
            for orig, new in zip((list(args), kwargs), after):
                _mirror(orig, new)
        return value

    def reset(self) -> None:
        """Free the objects the last cell left in the sandbox."""
        if not self.handles:
            return
        self.handles = 0
        with contextlib.suppress(ChannelClosed, StudentCodeError):
            self.request({"reset": True, "target": {}}, min(self.call_timeout, 10))


class _CheckerEncoder(wire.Encoder):
    """Arguments going into the sandbox: data, probe functions, torch modules, handles."""

    def __init__(self, max_bytes: int):
        super().__init__(store=None, max_bytes=max_bytes, send_modules=True)

    def _handle(self, value):
        if isinstance(value, Remote) and "handle" in value._target and len(value._target) == 1:
            return {"$handle": [value._target["handle"], value._label]}
        raise wire.WireError(f"a {type(value).__name__} cannot be sent to the student's code")


class Remote:
    """A student's object in the sandbox: call it, or call its methods; nothing else crosses."""

    __rnn_course_remote__ = True

    def __init__(self, channel: Channel, target: dict, label: str):
        self._channel, self._target, self._label = channel, target, label

    def __call__(self, *args, **kwargs):
        return self._channel.call(self._target, self._label, args, kwargs)

    def map(self, argsets: list) -> list:
        """``[self(*a) for a in argsets]`` in one round trip (numerical gradients need
        hundreds of forward calls)."""
        return self._channel.call(self._target, self._label, list(argsets), {}, many=True)

    def __getattr__(self, attr: str) -> "Remote":
        if attr.startswith("_") or "handle" not in self._target:
            raise AttributeError(f"{self._label}.{attr}: only the methods of an object the "
                                 f"student's code returned can be called")
        return Remote(self._channel, dict(self._target, attr=attr), f"{self._label}.{attr}")

    def __repr__(self) -> str:
        return f"<student's {self._label}>"


def _mirror(orig, new) -> None:
    """Copy what the student's function did to its arguments back into the checker's objects."""
    if isinstance(orig, np.ndarray) and isinstance(new, np.ndarray):
        if orig.shape == new.shape and orig.flags.writeable:
            np.copyto(orig, new, casting="unsafe")
    elif isinstance(orig, dict) and isinstance(new, dict):
        for k, v in new.items():
            if k in orig and isinstance(orig[k], (np.ndarray, dict, list)):
                _mirror(orig[k], v)
                if not isinstance(orig[k], np.ndarray) or getattr(orig[k], "shape", None) == \
                        getattr(v, "shape", None):
                    continue
            orig[k] = v
    elif isinstance(orig, (list, tuple)) and isinstance(new, (list, tuple)) \
            and len(orig) == len(new):
        for i, (o, v) in enumerate(zip(orig, new)):
            if isinstance(o, (np.ndarray, dict, list)):
                _mirror(o, v)
            elif isinstance(orig, list):
                orig[i] = v


def _rng_state() -> dict:
    state = np.random.get_state()
    out = {"np": [state[0], state[1], int(state[2]), int(state[3]), float(state[4])],
           "torch": None}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.get_rng_state().numpy()
    return out


# -- running one test cell ----------------------------------------------------------------
def prelude(setup_sources: list) -> dict:
    """A namespace with the imports of the instructor's locked cells, for allowed modules only.

    The setup cell of every exercise imports ``Score``, ``psN``, numpy and torch; the checker
    runs those import statements (and nothing else of the cell) so that a test cell's course
    names mean the instructor's code, here.
    """
    ns = {"__builtins__": builtins, "__name__": "__rnn_course_checker__"}
    for source in setup_sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) and _allowed_import(node):
                exec(compile(ast.Module([node], []), "<setup>", "exec"), ns)
    return ns


def _allowed_import(node) -> bool:
    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
        [a.name for a in node.names]
    return all(any(n == m or n.startswith(m + ".") for m in PRELUDE_MODULES) for n in names)


def free_names(tree: ast.Module) -> set:
    """Names a cell reads but does not bind (the student's functions, classes and values)."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return loaded - bound - set(dir(builtins))


def score_of(value, points: float) -> tuple:
    """(score, problem): a test earns only an explicit, finite result inside [0, points].

    A cell that ends without a value and raised nothing earns its points, as in nbgrader;
    anything else (a string, NaN, a number outside the range) earns 0 and says why.
    """
    if value is None:
        return float(points), ""
    if hasattr(value, "points") and hasattr(value, "part"):  # a Score: its float
        value = float(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return 0.0, f"the test's result is a {type(value).__name__}, not a number"
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= points + 1e-9:
        return 0.0, f"the test's result {value!r} is outside [0, {points:g}]"
    return value, ""


def split_hidden(source: str) -> tuple:
    """(visible statements, hidden statements, last expression) of a test cell.

    The visible part is what the student's own notebook runs; its result is what the
    submitted file's output may claim, so the checker reports it too.
    """
    tree = ast.parse(source)
    body = list(tree.body)
    last = body.pop() if body and isinstance(body[-1], ast.Expr) else None
    marker = next((i + 1 for i, line in enumerate(source.split("\n"))
                   if "BEGIN HIDDEN TESTS" in line), None)
    visible = [n for n in body if marker is None or n.lineno < marker]
    hidden = [n for n in body if marker is not None and n.lineno >= marker]
    return visible, hidden, last


def run_test_cell(source: str, points: float, ns: dict, channel: Channel, grade_id: str,
                  timeout: float) -> CellVerdict:
    """Execute one test cell here, its student names bound to the sandbox (see module doc)."""
    visible, hidden, last = split_hidden(source)
    cell_ns = dict(ns)
    for name in free_names(ast.parse(source)) - set(ns):
        cell_ns[name] = Remote(channel, {"name": name}, name)
    where = f"<test {grade_id}>"

    def run(stmts):
        exec(compile(ast.Module(stmts, []), where, "exec"), cell_ns)
        if last is None:
            return None
        return eval(compile(ast.Expression(last.value), where, "eval"), cell_ns)

    out, value, error, visible_score = io.StringIO(), None, "", 0.0
    channel.deadline = time.monotonic() + timeout
    try:
        with contextlib.redirect_stdout(out):
            value = run(visible)
            visible_score = score_of(value, points)[0]
            if hidden:
                value = run(hidden)
        score, problem = score_of(value, points)
    except StudentCodeError as exc:
        score, problem = 0.0, ""
        error = f"{exc.remote_traceback or exc}".rstrip()
    except ChannelClosed as exc:
        score, problem, error = 0.0, "", f"not checked: {exc}"
    except Exception as exc:  # a failed assert of the cell itself, or a check's error
        score, problem = 0.0, ""
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        channel.deadline = math.inf
    channel.reset()
    diagnoses = tuple(getattr(value, "diagnoses", ()) or ()) if value is not None else ()
    return CellVerdict(grade_id=grade_id, points=float(points), score=score,
                       visible_score=visible_score, output=out.getvalue()[-200_000:],
                       error=error or problem, diagnoses=tuple(str(d) for d in diagnoses))


# -- the process ----------------------------------------------------------------------------
def serve(job: CheckerJob, listener: socket.socket) -> CheckerResult:
    """Accept the worker, run each test cell it reaches, then zero the ones it never reached."""
    specs = {nb.name: nb for nb in job.notebooks}
    verdicts: dict = {name: {} for name in specs}
    namespaces = {name: prelude([c.source for c in nb.source_cells
                                 if c.locked and c.cell_type == "code" and not c.grade])
                  for name, nb in specs.items()}
    stopped = {}
    listener.settimeout(120)
    try:
        sock, _ = listener.accept()
    except OSError as exc:
        return _unreached(specs, verdicts, {}, f"the sandbox never connected ({exc})")
    channel = Channel(sock, job.limits.call_timeout, job.limits.max_reply_bytes)
    while True:
        try:
            sock.settimeout(job.limits.notebook_timeout * max(1, len(specs)) + 60)
            msg = recv_frame(sock)
        except (OSError, ChannelClosed, ValueError) as exc:
            closed = f"the sandbox ended before this test ({type(exc).__name__})"
            return _unreached(specs, verdicts, stopped, closed)
        op = msg.get("op")
        if op == "cell" and msg.get("notebook") in specs:
            nb, gid = specs[msg["notebook"]], msg.get("grade_id")
            cell = next((c for c in nb.test_cells if c.name == gid), None)
            if cell is not None and gid not in verdicts[nb.name]:
                verdicts[nb.name][gid] = run_test_cell(
                    cell.source, cell.points, namespaces[nb.name], channel, gid,
                    job.limits.cell_timeout)
            with contextlib.suppress(OSError):
                send_frame(sock, {"op": "end_cell"})
        elif op == "notebook_done":
            stopped[str(msg.get("notebook"))] = str(msg.get("reason", ""))[:500]
        elif op == "bye":
            return _unreached(specs, verdicts, stopped, "the notebook stopped before this test")


def _unreached(specs: dict, verdicts: dict, stopped: dict, default: str) -> CheckerResult:
    out = {}
    for name, nb in specs.items():
        why = stopped.get(name) or default
        out[name] = tuple(verdicts[name].get(c.name) or CellVerdict(
            grade_id=c.name, points=float(c.points), score=0.0, error=f"not checked: {why}")
            for c in nb.test_cells)
    return CheckerResult(notebooks=out)


def main(jobdir: str) -> int:
    """``python -m course_lib.autograde.checker JOBDIR``: reads checker_job.json, writes
    checker_result.json (both root-only, outside the sandbox)."""
    with open(os.path.join(jobdir, "checker_job.json"), encoding="utf-8") as fh:
        job = CheckerJob.from_json(fh.read())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(job.channel_path)
    # the worker connects as root before it drops anything; nobody else may
    os.chmod(job.channel_path, 0o600)
    listener.listen(1)
    try:
        result = serve(job, listener)
    except Exception as exc:  # the grader's own failure: recorded as such, never as a score
        result = CheckerResult(error=f"{type(exc).__name__}: {exc}")
    finally:
        listener.close()
    tmp = os.path.join(jobdir, "checker_result.json.part")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(result.to_json())
    os.replace(tmp, os.path.join(jobdir, "checker_result.json"))
    return 0


def preload(modules=()) -> None:
    """Import what the checks need once (the checker zygote forks from a warm process).

    ``modules`` are the assignment's grading modules (``course_lib.grading.ps2``, ...): only
    those, since torch alone costs a second or two of start-up.
    """
    importlib.import_module("course_lib.grading.checks")
    for name in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)  # the checks' arrays are tiny; and forking is then safe


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
