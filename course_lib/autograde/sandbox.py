"""Execute one student's submission in a sandbox, serving the checker's calls at each test cell.

The parent writes a job folder holding ``job.json`` (a :class:`~.protocol.SandboxJob`,
root-only); the worker for it is forked by the pre-warmed :mod:`.zygote` (or started as
``python -m course_lib.autograde.sandbox JOBDIR`` under ``unshare``), when the machine allows
inside fresh network, mount, PID and IPC namespaces. The worker

1. reads its job and connects to the checker's socket in the job folder,
2. seals the machine: loopback up in the empty network namespace, then the allow-list root of
   :mod:`.isolation` (``chroot``: only the system, the interpreter and a private /tmp),
3. restores the instructor's cells from the gradebook's copy (:mod:`.sanitize`; test cells
   keep only their visible part: hidden tests never enter the sandbox),
4. runs each notebook with nbclient in a jailed kernel (:mod:`.kernel`), except the test
   cells: at each of them it tells the checker, and runs the checker's calls of the student's
   functions until the checker is done with the cell,
5. writes a :class:`~.protocol.WorkerResult` (executed notebooks, never a score).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import socket
import struct
import sys
import time

from . import isolation, kernel, sanitize  # noqa: F401  (all loaded before the chroot)
from .checker import ChannelClosed, recv_frame, send_frame
from .course import skip_slow_optional_imports
from .protocol import NotebookRun, SandboxJob, Status, WorkerResult

skip_slow_optional_imports()

NOT_RUN = "NotRun"


class KernelCalls:
    """Runs the checker's requests in the student's kernel.

    At each test cell one silent execute request starts the kernel's end of the channel
    (``serve_cell``), which connects to this worker's socket; the cell's calls are then plain
    frames on that socket, with no IPython machinery per call. A call over its limit is
    interrupted (SIGINT); a kernel that does not answer even then is marked dead.
    """

    def __init__(self, km, kc, workroot: str, max_reply: int):
        self.km, self.kc, self.max_reply = km, kc, max_reply
        self.dead = ""  # why the kernel can no longer answer
        self.timed_out = ""  # the last call that ran past its limit (then was interrupted)
        folder = os.path.join(workroot, "channel")  # root's: the student cannot swap it
        os.makedirs(folder, mode=0o755, exist_ok=True)
        self.path = os.path.join(folder, "sock")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o666)
        self.listener.listen(1)
        self.listener.setblocking(False)
        self.conn, self.msg_id = None, None

    async def begin(self) -> None:
        """Start the kernel's end of the channel for one test cell."""
        if self.dead:
            return
        loop = asyncio.get_running_loop()
        self.msg_id = self.kc.execute(
            f"__import__('_rnn_course_channel').serve_cell({self.path!r})", silent=True,
            store_history=False, allow_stdin=False, stop_on_error=False)
        try:
            self.conn, _ = await asyncio.wait_for(loop.sock_accept(self.listener), 30)
        except (asyncio.TimeoutError, OSError):
            self.dead = "the student's kernel did not open the grader's channel"

    async def call(self, request_b64: str, timeout: float) -> dict:
        """The reply frame for one request: ``{"op": "reply", "ok", "text" | "error"}``."""
        if self.dead or self.conn is None:
            return {"op": "reply", "ok": False, "error": self.dead or "no channel"}
        data = base64.b64decode(request_b64)
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(self.conn, struct.pack(">I", len(data)) + data)
            text = await asyncio.wait_for(self._frame(), max(0.5, timeout))
        except asyncio.TimeoutError:
            text = await self._interrupted(timeout)
        except (OSError, ValueError) as exc:
            self.dead = f"the grader's channel to the kernel broke ({type(exc).__name__})"
            text = None
        if text is None:
            return {"op": "reply", "ok": False, "error": self.dead or self.timed_out}
        return {"op": "reply", "ok": True, "text": text}

    async def _interrupted(self, timeout: float):
        self.timed_out = f"a call ran past {timeout:.0f} s, its time limit"
        await self.km.interrupt_kernel()
        try:  # the interrupted call answers with its KeyboardInterrupt
            await asyncio.wait_for(self._frame(), 5.0)
        except (asyncio.TimeoutError, OSError, ValueError):
            self.dead = "the student's kernel stopped answering (a call ignored its interrupt)"
        return None

    async def _frame(self) -> str:
        loop = asyncio.get_running_loop()
        head = await self._exact(loop, 4)
        (n,) = struct.unpack(">I", head)
        if n > self.max_reply:
            raise ValueError(f"an answer of {n} bytes is over the {self.max_reply}-byte limit")
        return (await self._exact(loop, n)).decode("utf-8", "replace")

    async def _exact(self, loop, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = await loop.sock_recv(self.conn, min(n - len(buf), 1 << 20))
            if not chunk:
                raise OSError("the kernel closed the channel")
            buf += chunk
        return bytes(buf)

    async def end(self) -> None:
        """Close the kernel's end for this cell and wait for its execute request to finish."""
        if self.conn is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.sock_sendall(self.conn, struct.pack(">I", 3) + b"end")
        except OSError:
            pass
        self.conn.close()
        self.conn = None
        deadline = time.monotonic() + 10
        while not self.dead and time.monotonic() < deadline:
            try:
                reply = await self.kc.get_shell_msg(timeout=deadline - time.monotonic())
            except Exception:
                break
            if reply.get("parent_header", {}).get("msg_id") == self.msg_id:
                return
        if not self.dead:
            self.dead = "the student's kernel did not finish the grader's request"


async def serve_test_cell(sock, notebook: str, grade_id: str, calls) -> None:
    """Tell the checker the notebook reached ``grade_id``; answer its calls until it is done."""
    if sock is None:
        return
    send_frame(sock, {"op": "cell", "notebook": notebook, "grade_id": grade_id})
    while True:
        msg = await asyncio.to_thread(recv_frame, sock)
        if msg.get("op") == "end_cell":
            if calls is not None:
                await calls.end()
            return
        if msg.get("op") != "call":
            raise ChannelClosed("unexpected message from the checker")
        timeout = float(msg.get("timeout", 10))
        if calls is None:
            reply = {"op": "reply", "ok": False, "error": "the student's kernel is not running"}
        else:
            if calls.conn is None:
                await calls.begin()
            reply = await calls.call(str(msg.get("request_b64", "")), timeout)
        send_frame(sock, reply)


def _error_output(ename: str, evalue: str):
    from nbformat import NotebookNode

    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _make_client(nb, km, workdir: str, limits):
    Client = kernel.make_client_class()
    t = int(limits.cell_timeout)
    client = Client(nb, km=km, timeout=t, startup_timeout=60, interrupt_on_timeout=True,
                    allow_errors=True, shutdown_kernel="immediate", record_timing=False,
                    error_on_timeout={"ename": "CellTimeoutError",
                                      "evalue": f"cell ran past {t} s",
                                      "traceback": [f"CellTimeoutError: cell ran past {t} s"]},
                    extra_arguments=list(kernel.KERNEL_ARGS),
                    resources={"metadata": {"path": workdir}})
    client.max_cell_bytes = limits.max_cell_bytes
    client.max_nb_bytes = limits.max_nb_bytes
    return client


class _Run:
    """The mutable state of one notebook's execution (what becomes its NotebookRun)."""

    def __init__(self):
        self.status, self.reason, self.stop = Status.OK, "", ""
        self.exec_s = self.startup_s = 0.0
        self.reached = []

    def halt(self, status: Status, why: str) -> None:
        if not self.stop:
            self.status, self.stop = status, why


async def _run_code_cell(client, run: _Run, cell, index: int, deadline: float, limits):
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        run.halt(Status.TIMEOUT, f"notebook time limit ({limits.notebook_timeout} s) reached "
                                 f"before cell {index}")
        return
    client.timeout = max(1, min(int(limits.cell_timeout), int(remaining)))
    try:
        await asyncio.wait_for(client.async_execute_cell(cell, index),
                               timeout=client.timeout + 15)
    except DeadKernelError:
        run.halt(Status.KERNEL_DIED, f"the kernel died in cell {index} (os._exit, crash or limit)")
        cell.outputs.append(_error_output("DeadKernelError", run.stop))
    except (CellTimeoutError, asyncio.TimeoutError):
        run.halt(Status.TIMEOUT, f"cell {index} did not stop after its time limit")
        cell.outputs.append(_error_output("CellTimeoutError", run.stop))


def _on_executed(run: _Run, limits):
    def hook(cell, cell_index, execute_reply):
        # a reply that says 'error' but left no error output (timeout, a kernel that hid its
        # traceback) still fails the cell, as in nbgrader's Execute
        content = execute_reply.get("content", {})
        if content.get("status") == "error":
            ename = content.get("ename", "Error")
            if ename == "CellTimeoutError" and run.status == Status.OK:
                run.status = Status.CELL_TIMEOUT
                run.reason = f"cell {cell_index} ran past {limits.cell_timeout} s"
            if not any(o.get("output_type") == "error" for o in cell.outputs):
                cell.outputs.append(_error_output(ename, str(content.get("evalue", ""))))
    return hook


async def run_notebook(nb, name: str, workdir: str, home: str, job: SandboxJob, started,
                       sock, jail: list, env: dict) -> _Run:
    """Execute ``nb`` in place; the test cells go to the checker over ``sock``."""
    limits, run = job.task.limits, _Run()
    try:
        km, t0 = started or await kernel.start_kernel(workdir, home, limits, jail, env, job.uid)
    except Exception as exc:
        run.halt(Status.KERNEL_FAILED, f"kernel failed to start: {str(exc)[:300]}")
        km = None
    client = _make_client(nb, km, workdir, limits) if km is not None else None
    try:
        if client is not None:
            client.on_cell_executed = _on_executed(run, limits)
            await _execute_cells(nb, name, client, run, t0, job, sock, home)
    except ChannelClosed:
        raise
    except Exception as exc:  # kernel never started, or died while starting
        run.halt(Status.KERNEL_FAILED, f"kernel failed: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        if client is not None:
            try:
                if client.kc is not None:
                    client.kc.stop_channels()
                await km.shutdown_kernel(now=True)
            except Exception:
                pass
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not _is_test(cell) and not cell.get("outputs") \
                and run.stop:
            cell.outputs = [_error_output(NOT_RUN, run.stop)]
    run.truncated = sorted(getattr(client, "_truncated", ()) or ())
    return run


async def _execute_cells(nb, name, client, run, t0, job, sock, home):
    limits = job.task.limits
    deadline = t0 + float(limits.notebook_timeout)
    async with client.async_setup_kernel():
        t_start = time.monotonic()
        run.startup_s = t_start - t0
        calls = KernelCalls(client.km, client.kc, os.path.dirname(home),
                            limits.max_reply_bytes)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if _is_test(cell):
                gid = cell.metadata["nbgrader"]["grade_id"]
                run.reached.append(gid)
                if run.stop or time.monotonic() > deadline:
                    calls.dead = calls.dead or run.stop or "the notebook ran out of time"
                calls.timed_out = ""
                await serve_test_cell(sock, name, gid, calls)
                if calls.timed_out and run.status == Status.OK:
                    run.status, run.reason = Status.CELL_TIMEOUT, f"{gid}: {calls.timed_out}"
                if calls.dead and not run.stop:
                    run.halt(Status.TIMEOUT, f"{gid}: {calls.dead}")
            elif not run.stop:
                await _run_code_cell(client, run, cell, index, deadline, limits)
                if run.stop:
                    calls.dead = run.stop
        run.exec_s = time.monotonic() - t_start


# -- the worker -------------------------------------------------------------------------------
def _connect(path: str, wait_s: float = 60.0):
    """The checker's socket (it may still be starting); None when it never appears."""
    deadline = time.monotonic() + wait_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)


def _blocked(path: str) -> bool:
    """Whether a folder on the way to ``path`` is closed to other users."""
    cur = "/"
    for part in path.strip("/").split("/"):
        cur = os.path.join(cur, part)
        try:
            if not os.stat(cur).st_mode & 0o001:
                return True
        except OSError:
            return False
    return False


def _own_namespaces(job: SandboxJob) -> bool:
    def ns(kind):
        try:
            return os.readlink(f"/proc/self/ns/{kind}")
        except OSError:
            return None
    return job.namespaces and all(ns(k) != job.host_ns.get(k) for k in ("mnt", "net", "ipc"))


def _seal(job: SandboxJob, jobdir: str, errors: dict) -> tuple:
    """Isolate this process (when in namespaces of its own); returns (protections, base)."""
    active, base = [], jobdir
    if not _own_namespaces(job):
        if job.namespaces:
            errors["namespace_error"] = "worker is not in namespaces of its own"
        return active, base
    try:
        isolation.loopback_up()
        if isolation.only_loopback():
            active.append("network-namespace")
    except OSError as exc:
        errors["network_error"] = str(exc)
    active.append("ipc-namespace")
    course_lib_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root = os.path.join(jobdir, "root")
    os.mkdir(root, 0o755)
    active += isolation.build_root(root, list(job.needed), [course_lib_dir],
                                   job.task.limits.tmp_mb, job.sandbox_lib, job.jail_source)
    return active, "/tmp"


def _lay_out(job: SandboxJob, base: str, sealed: bool) -> tuple:
    """The student's folder and home, the lib and jail paths; (workdir, home, lib, jail)."""
    uid = job.uid
    workroot = os.path.join(base, "sandbox")
    os.makedirs(workroot, mode=0o711, exist_ok=True)
    workdir, home = os.path.join(workroot, "work"), os.path.join(workroot, "home")
    for path in (workdir, home):
        os.makedirs(path, exist_ok=True)
        if uid is not None and os.geteuid() == 0:
            os.chown(path, uid, uid)
        os.chmod(path, 0o700)
    if sealed:
        lib, jail = isolation.OPT + "/lib", isolation.OPT + "/jail.py"
    else:  # no mount namespace: the lib and jail live in the job folder
        lib, jail = os.path.join(workroot, "lib"), os.path.join(workroot, "jail.py")
        for rel, text in job.sandbox_lib.items():
            os.makedirs(os.path.dirname(os.path.join(lib, rel)), exist_ok=True)
            with open(os.path.join(lib, rel), "w", encoding="utf-8") as fh:
                fh.write(text)
        with open(jail, "w", encoding="utf-8") as fh:
            fh.write(job.jail_source)
        os.chmod(workroot, 0o755)
    for f in job.task.files:
        if f.error or f.path.startswith("/") or ".." in f.path.split("/"):
            continue
        dest = os.path.join(workdir, f.path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as fh:
            fh.write(f.data)
        if uid is not None and os.geteuid() == 0:
            os.chown(dest, uid, uid)
    return workdir, home, lib, [sys.executable, jail]


async def _one_notebook(spec, job, files, paths, started, sock) -> NotebookRun:
    workdir, home, lib, jail = paths
    rel = f"{spec.name}.ipynb"
    if spec.missing or rel not in files:
        return NotebookRun(name=spec.name, status=Status.MISSING, reason=f"no {rel} submitted")
    if files[rel].error:
        return NotebookRun(name=spec.name, status=Status.UNREADABLE,
                           reason=f"{rel}: {files[rel].error}")
    try:
        text = files[rel].data.decode("utf-8")
        if not text.strip():
            raise ValueError("the file is empty")
        nb = sanitize.parse_notebook(text)
        nb, notes, claims = sanitize.sanitize(nb, spec.source_cells)
    except Exception as exc:
        return NotebookRun(name=spec.name, status=Status.UNREADABLE,
                           reason=f"{rel} is not a readable notebook: "
                                  f"{type(exc).__name__}: {str(exc)[:200]}")
    env = kernel.kernel_env(home, lib)
    run = await run_notebook(nb, spec.name, workdir, home, job, started, sock, jail, env)
    return NotebookRun(name=spec.name, status=run.status, reason=run.stop or run.reason,
                       notes=tuple(notes), nb=json.loads(json.dumps(nb)), exec_s=run.exec_s,
                       startup_s=run.startup_s, truncated_cells=tuple(run.truncated),
                       claims=claims, reached=tuple(run.reached))


async def _close(started, sock) -> None:
    """Shut down a kernel started for no notebook, and say goodbye to the checker."""
    if started is not None:
        try:
            await started[0].shutdown_kernel(now=True)
        except Exception:
            pass
    if sock is not None:
        try:
            send_frame(sock, {"op": "bye"})
            sock.close()
        except OSError:
            pass


def _timings(t_begin: float, t_ready: float) -> dict:
    """Wall and CPU seconds of this worker: set-up, the notebooks, its own and its kernels' CPU."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"setup_s": t_ready - t_begin, "run_s": time.monotonic() - t_ready,
            "worker_cpu_s": own.ru_utime + own.ru_stime,
            "kernel_cpu_s": kids.ru_utime + kids.ru_stime}


async def _worker(jobdir: str) -> int:
    t_begin = time.monotonic()
    jobdir = os.path.abspath(jobdir)
    with open(os.path.join(jobdir, "job.json"), encoding="utf-8") as fh:
        job = SandboxJob.from_json(fh.read())
    result_fh = open(os.path.join(jobdir, "result.json"), "w", encoding="utf-8")
    sock = _connect(job.channel_path)
    errors = {} if sock is not None else {"channel_error": "the checker never listened"}
    active, base = _seal(job, jobdir, errors)
    if base != "/tmp" and job.uid is not None and any(_blocked(p) for p in job.needed):
        # without a mount namespace an unprivileged uid could not even start the
        # interpreter (pyenv under /root): run as the caller rather than not at all, and say so
        job = dataclasses.replace(job, uid=None, gid=None)
        errors["uid_error"] = "interpreter not reachable by an unprivileged uid"
    if job.uid is not None and os.geteuid() == 0:
        active.append(f"uid:{job.uid}")
    paths = _lay_out(job, base, sealed=base == "/tmp")
    files = {f.path: f for f in job.task.files}
    started = None
    if any(f"{s.name}.ipynb" in files and not s.missing for s in job.task.notebooks):
        # the kernel boots (about a second) while this process restores the notebook
        try:
            env = kernel.kernel_env(paths[1], paths[2])
            started = await kernel.start_kernel(paths[0], paths[1], job.task.limits, paths[3],
                                                env, job.uid)
        except Exception as exc:
            errors["prestart_error"] = str(exc)[:300]
    t_ready = time.monotonic()
    runs = {}
    for spec in job.task.notebooks:
        try:
            runs[spec.name] = await _one_notebook(spec, job, files, paths, started, sock)
        except ChannelClosed as exc:
            errors["channel_error"] = str(exc)
            runs[spec.name] = NotebookRun(name=spec.name, status=Status.SANDBOX_FAILED,
                                          reason=f"the checker's channel failed: {exc}")
        started = None
        if sock is not None:
            try:
                send_frame(sock, {"op": "notebook_done", "notebook": spec.name,
                                  "reason": runs[spec.name].reason})
            except OSError:
                pass
    await _close(started, sock)
    result_fh.write(WorkerResult(notebooks=runs, protections=tuple(active), errors=errors,
                                 timings=_timings(t_begin, t_ready)).to_json())
    result_fh.close()
    return 0


def worker(jobdir: str) -> int:
    """Entry point of the sandbox worker (see module docstring)."""
    return asyncio.run(_worker(jobdir))


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
