"""A pre-warmed process that forks sandbox workers.

Starting a fresh Python for every submission and importing nbformat, nbclient and
jupyter_client costs most of a second of CPU, as much as the kernel's own start. The zygote
imports them once; for each submission it forks a child that enters new mount, network and PID
namespaces (``unshare(2)``), forks again so the worker is PID 1 of its namespace (IPC too: no SysV segment survives), and runs
:func:`course_lib.autograde.sandbox.worker`. When the worker's parent dies the worker gets
SIGKILL (``PR_SET_PDEATHSIG``), and with it every process of its namespace.

Protocol on stdin/stdout, one line each: ``RUN <id> <jobdir> <ns:0|1>`` and ``KILL <id>`` in,
``DONE <id> <status>`` out. The zygote stays single-threaded so that forking is safe.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWIPC = 0x08000000
PR_SET_PDEATHSIG = 1


def _child(jobdir: str, ns: bool, role: str) -> int:
    """The forked child: returns the worker's (or checker's) exit status."""
    os.setsid()
    log = os.open(os.path.join(jobdir, "worker.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                  0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    if role == "checker":
        from . import checker

        return checker.main(jobdir)
    from . import isolation, sandbox

    if not ns:
        return sandbox.worker(jobdir)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC) != 0:
        print(f"unshare failed: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 70
    pid = os.fork()
    if pid == 0:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        try:
            isolation.mount("none", "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)
            # a /proc of this PID namespace: the student sees only its own processes
            isolation.mount("proc", "/proc", "proc", isolation.MS_NOSUID | isolation.MS_NODEV,
                            None)
            rc = sandbox.worker(jobdir)
        except BaseException as exc:  # noqa: BLE001 - report, never escape into the zygote
            print(f"worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            rc = 71
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if status else 0


def _reap(children: dict, out) -> None:
    """Report ``DONE job rc`` for every child that has exited (after a SIGCHLD)."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job = children.pop(pid, None)
        if job is not None:
            out.write(f"DONE {job} {os.waitstatus_to_exitcode(status)}\n")
            out.flush()


def _kill(children: dict, job=None) -> None:
    """SIGKILL the process group of ``job``'s child (every child when ``job`` is None)."""
    for pid, name in list(children.items()):
        if job is None or name == job:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def _command(parts: list, children: dict, pipe: tuple, role: str) -> None:
    """One line from the parent: ``RUN job jobdir ns`` forks a child, ``KILL job`` kills it."""
    if parts[0] == "RUN" and len(parts) == 4:
        job, jobdir, ns = parts[1], parts[2], parts[3] == "1"
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in pipe:
                os.close(fd)
            try:
                rc = _child(jobdir, ns, role)
            except BaseException:  # noqa: BLE001
                rc = 72
            os._exit(rc if isinstance(rc, int) else 0)
        children[pid] = job
    elif parts[0] == "KILL" and len(parts) == 2:
        _kill(children, parts[1])


def serve(role: str = "sandbox", preload: str = "") -> int:
    """The zygote's loop (runs in its own process); ``role`` is what its children run."""
    if role == "checker":
        from . import checker  # the point: import everything before forking

        checker.preload([m for m in preload.split(",") if m])
    else:
        from . import sandbox  # noqa: F401
        import jupyter_client.manager  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401

    children = {}  # pid -> job id
    rfd, wfd = os.pipe()  # SIGCHLD writes a byte here, so select wakes for exits too
    os.set_blocking(wfd, False)
    signal.signal(signal.SIGCHLD, lambda *a: os.write(wfd, b"x"))
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    buf = b""
    stdin = sys.stdin.buffer.raw
    while True:
        try:
            ready, _, _ = select.select([stdin, rfd], [], [])
        except InterruptedError:
            continue
        if rfd in ready:
            os.read(rfd, 4096)
            _reap(children, out)
        if stdin in ready:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:  # the parent is gone: so are its jobs
                _kill(children)
                return 0
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                _command(line.decode("utf-8", "surrogateescape").split(" "), children,
                         (rfd, wfd), role)


class Zygote:
    """Parent-side handle: ``run(jobdir, ns, timeout)`` from any thread."""

    def __init__(self, env: dict, role: str = "sandbox", preload: tuple = ()):
        self.proc = subprocess.Popen([sys.executable, "-m", "course_lib.autograde.zygote", role,
                                      ",".join(preload)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        if self.proc.stdout.readline().strip() != b"READY":
            self.proc.kill()
            raise RuntimeError("zygote did not start")
        self._lock = threading.Lock()
        self._waiting = {}  # job -> [Event, status]
        self._seq = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.decode().split()
            if len(parts) == 3 and parts[0] == "DONE":
                slot = self._waiting.get(parts[1])
                if slot is not None:
                    slot[1] = int(parts[2])
                    slot[0].set()
        for slot in list(self._waiting.values()):  # zygote gone: release every waiter
            slot[0].set()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _send(self, text: str):
        with self._lock:
            self.proc.stdin.write(text.encode("utf-8", "surrogateescape") + b"\n")
            self.proc.stdin.flush()

    def run(self, jobdir: str, ns: bool, timeout: float):
        """Run the worker for ``jobdir``; returns its exit status or ``"timeout"``."""
        with self._lock:
            self._seq += 1
            job = str(self._seq)
        if " " in jobdir or "\n" in jobdir:
            raise ValueError(f"jobdir: expected a path without spaces, got {jobdir!r}")
        ev = threading.Event()
        self._waiting[job] = [ev, None]
        try:
            self._send(f"RUN {job} {jobdir} {int(bool(ns))}")
            if not ev.wait(timeout):
                self._send(f"KILL {job}")
                ev.wait(30)
                return "timeout"
            status = self._waiting[job][1]
            return "zygote died" if status is None else status
        finally:
            self._waiting.pop(job, None)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(serve(*sys.argv[1:3]))
