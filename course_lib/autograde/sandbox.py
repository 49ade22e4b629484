"""Execute one student's submission in a sandbox.

The parent (``rnn-course autograde``) writes a job folder holding ``task.json`` (root-only);
the worker for it is forked by the pre-warmed :mod:`.zygote` (or started as
``python -m course_lib.autograde.sandbox JOBDIR`` under ``unshare``), when the machine allows
inside fresh network, mount and PID namespaces. The worker

1. reads its task and the submitted files into memory,
2. seals the machine: loopback up in the empty network namespace (so the kernel's ZMQ over
   127.0.0.1 works but no other host is reachable), tmpfs over the course directory, the
   solutions and the gradebook, and a private /tmp, /var/tmp and /dev/shm,
3. restores the locked and test cells from the gradebook's copy (``sanitize``),
4. runs each notebook with nbclient in a kernel started through :mod:`.jail` (own uid, memory,
   process and file-size limits) under per-cell and per-notebook wall-clock limits, keeping
   at most a bounded amount of output,
5. writes the executed notebooks to ``result.json``.

It computes no score: the parent grades the executed notebooks from the test cells' outputs
and writes the gradebook, so nothing the student's code does inside the kernel can reach
either. When the worker (PID 1 of its namespace) exits, the kernel and anything it forked die
with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path

from .course import _skip_slow_optional_imports

_skip_slow_optional_imports()

MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOSUID = 2
MS_NODEV = 4

NOT_RUN = "NotRun"
TRUNCATED_NOTE = "\n... [output truncated by the autograder] ...\n"


# -- machine features ----------------------------------------------------------------------
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    rc = _libc().mount(source.encode(), target.encode(),
                       fstype.encode() if fstype else None, flags,
                       data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or source} on {target}: {os.strerror(err)}")


def loopback_up() -> None:
    """Bring ``lo`` up (a fresh network namespace starts with it down)."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def only_loopback() -> bool:
    """True when the only network interface is the loopback one."""
    try:
        names = [n for _, n in socket.if_nameindex()]
    except OSError:
        return False
    return names == ["lo"]


def blocked_ancestor(path: str) -> str | None:
    """The first folder on the way to ``path`` that other users cannot traverse, or None."""
    cur = "/"
    for part in Path(path).parts[1:]:
        cur = os.path.join(cur, part)
        try:
            if not os.stat(cur).st_mode & 0o001:
                return cur
        except OSError:
            return None
    return None


def expose(needed: list) -> list:
    """Let the sandbox uid reach ``needed`` folders that sit under private ones.

    The interpreter may live under a home folder only root can enter (pyenv in /root): the
    blocking folder is covered with an empty tmpfs that anyone may traverse, and just the
    needed folders are bind-mounted back into it, so the rest of that home stays invisible.
    """
    done = []
    fds = {}
    for path in needed:
        b = blocked_ancestor(path)
        if b is not None and os.path.isdir(path):
            fds.setdefault(b, []).append((path, os.open(path, os.O_RDONLY | os.O_DIRECTORY)))
    for b, items in fds.items():
        _mount("tmpfs", b, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for path, fd in items:
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
            os.close(fd)
            done.append(f"exposed:{path}")
    return done


def seal_filesystem(hide: list, tmp_mb: int, needed: list = ()) -> list:
    """Make our mount namespace private, fresh /tmp & co., then hide ``hide`` under empty tmpfs.

    ``needed`` folders (the interpreter, the venv, course_lib) stay reachable even when they
    live under a folder made private here: a clone in /tmp is bind-mounted back into the fresh
    /tmp before ``hide`` is covered, so solutions/ inside it are hidden all the same.
    Returns the list of what was done; raises OSError when the first mount fails (no mount
    namespace: nothing here is possible).
    """
    done = []
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    done += expose(list(needed))
    for path, size in (("/tmp", tmp_mb), ("/var/tmp", 16), ("/dev/shm", 64)):
        if not os.path.isdir(path):
            continue
        inside = [n for n in needed if os.path.isdir(n)
                  and os.path.commonpath([path, os.path.realpath(n)]) == path]
        fds = [(n, os.open(n, os.O_RDONLY | os.O_DIRECTORY)) for n in inside]
        try:
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size}m,mode=1777")
            done.append(f"private:{path}")
            for n, fd in fds:
                os.makedirs(n, exist_ok=True)
                _mount(f"/proc/self/fd/{fd}", n, None, MS_BIND | MS_REC, None)
                done.append(f"exposed:{n}")
        except OSError:
            pass
        finally:
            for _, fd in fds:
                os.close(fd)
    for path in hide:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700")
            done.append(f"hidden:{path}")
    return done


# -- sanitizing (nbgrader's ClearOutput, DeduplicateIds, OverwriteCells, add_missing_cells) --
def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _restore_cell(sc: dict, notice: str = ""):
    from nbformat.v4 import new_code_cell, new_markdown_cell

    meta = {"nbgrader": {"grade": sc["grade"], "grade_id": sc["name"], "locked": sc["locked"],
                         "solution": sc["solution"], "checksum": sc["checksum"],
                         "schema_version": 3, "cell_type": sc["cell_type"]}}
    if sc["grade"]:
        meta["nbgrader"]["points"] = sc["points"]
    if sc.get("task"):
        meta["nbgrader"]["task"] = True
    if sc["cell_type"] == "code":
        return new_code_cell(source=sc["source"], metadata=meta)
    return new_markdown_cell(source=sc["source"], metadata=meta)


def _public(source: str) -> str:
    """A test cell's source as released: hidden-test regions removed, whitespace ignored."""
    out, inside = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside and line.strip():
            out.append(line.rstrip())
    return "\n".join(out)


def sanitize(nb, source_cells: list) -> tuple:
    """Restore the instructor's cells in a submitted notebook.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The submission (modified in place and returned).
    source_cells : list of dict
        The gradebook's nbgrader cells in source order (name, cell_type, source, checksum,
        locked, grade, solution, task, points).

    Returns
    -------
    nb, notes : the sanitized notebook and a list of what was repaired.
    """
    from nbformat.v4 import new_code_cell, new_markdown_cell

    notes = []
    by_name = {c["name"]: c for c in source_cells}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cells = []
    for cell in nb.cells:
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    # duplicates: keep the last copy (nbgrader's DeduplicateIds), demote the others
    seen = set()
    for cell in reversed(cells):
        gid = _nbg(cell).get("grade_id")
        if gid is None:
            continue
        if gid in seen or gid not in by_name:
            cell.metadata.pop("nbgrader", None)
            notes.append(f"duplicate cell {gid}" if gid in seen else f"unknown cell id {gid}")
        else:
            seen.add(gid)
    out = []
    for cell in cells:
        gid = _nbg(cell).get("grade_id")
        if gid is None:
            out.append(cell)
            continue
        sc = by_name[gid]
        if sc["locked"] or sc["grade"] and not sc["solution"]:
            # locked/test cells: the gradebook's copy wins outright (source, type, metadata)
            if cell.cell_type != sc["cell_type"] or (
                    _public(cell.source) != _public(sc["source"])):
                notes.append(f"restored cell {gid}")
            restored = _restore_cell(sc)
            restored.metadata.update({k: v for k, v in cell.metadata.items()
                                      if k not in ("nbgrader", "editable", "deletable")})
            out.append(restored)
        else:
            if cell.cell_type != sc["cell_type"]:
                notes.append(f"cell type of {gid} restored")
                src = cell.source
                cell = (new_code_cell if sc["cell_type"] == "code" else new_markdown_cell)(src)
            md = _restore_cell(sc).metadata["nbgrader"]
            cell.metadata["nbgrader"] = md
            out.append(cell)
    # re-insert deleted instructor cells after their predecessor in source order
    present = {_nbg(c).get("grade_id") for c in out}
    for i, sc in enumerate(source_cells):
        if sc["name"] in present:
            continue
        if not (sc["grade"] or sc["locked"] or sc.get("task")):
            continue
        notes.append(f"restored deleted cell {sc['name']}")
        pos = 0
        for prev in reversed(source_cells[:i]):
            idx = [k for k, c in enumerate(out) if _nbg(c).get("grade_id") == prev["name"]]
            if idx:
                pos = idx[0] + 1
                break
        out.insert(pos, _restore_cell(sc))
        present.add(sc["name"])
    nb.cells = out
    return nb, notes


# -- execution ---------------------------------------------------------------------------
def _make_client_class():
    from nbclient import NotebookClient
    from nbformat import NotebookNode

    class LimitedClient(NotebookClient):
        """nbclient that keeps a bounded amount of each cell's output.

        A cell printing gigabytes must not exhaust the worker; what is dropped is replaced by
        one note, and a dropped stderr stream still leaves a short stderr output so the cell is
        graded as failed, exactly as it would be with the full output.
        """

        max_cell_bytes = 256 * 1024
        max_nb_bytes = 2 * 2**20

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._cell_bytes = {}
            self._nb_bytes = 0
            self._truncated = set()

        @staticmethod
        def _size(content: dict) -> int:
            n = len(content.get("text", "") or "")
            for v in (content.get("data") or {}).values():
                n += len(v) if isinstance(v, str) else len(json.dumps(v))
            n += sum(len(t) for t in content.get("traceback", []) or [])
            return n

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            size = self._size(content)
            used = self._cell_bytes.get(cell_index, 0)
            if used + size > self.max_cell_bytes or self._nb_bytes + size > self.max_nb_bytes:
                msg_type = msg.get("msg_type")
                keep = None
                if msg_type == "error":
                    tb = content.get("traceback", [])[-20:]
                    keep = NotebookNode(output_type="error", ename=content.get("ename", "Error"),
                                        evalue=str(content.get("evalue", ""))[:2000],
                                        traceback=[t[:2000] for t in tb])
                elif msg_type == "stream" and content.get("name") == "stderr":
                    if not any(o.get("output_type") == "stream" and o.get("name") == "stderr"
                               for o in outs):
                        keep = NotebookNode(output_type="stream", name="stderr",
                                            text=str(content.get("text", ""))[:2000])
                if cell_index not in self._truncated:
                    self._truncated.add(cell_index)
                    outs.append(NotebookNode(output_type="stream", name="stdout",
                                             text=TRUNCATED_NOTE))
                if keep is not None:
                    outs.append(keep)
                return keep
            self._cell_bytes[cell_index] = used + size
            self._nb_bytes += size
            return super().output(outs, msg, display_id, cell_index)

    return LimitedClient


def _make_km_class():
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class ReadyClient(AsyncKernelClient):
        """jupyter_client's readiness handshake without its closing 0.2 s IOPub flush.

        nbclient ignores IOPub messages whose parent is not the cell it runs, so the
        kernel_info's leftover status messages need no draining; a fifth of a second saved
        on every submission.
        """

        async def wait_for_ready(self, timeout=None):
            deadline = time.monotonic() + (60.0 if timeout is None else float(timeout))
            while True:
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=0.5)
                except Empty:
                    msg = None
                if msg is not None and msg["msg_type"] == "kernel_info_reply":
                    try:
                        # IOPub connected? (a SUB socket joining late misses messages)
                        await self.iopub_channel.get_msg(timeout=0.2)
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout} s")

    class JailedKernelManager(AsyncKernelManager):
        """Starts the kernel behind the :mod:`.jail` prefix."""

        jail_prefix: list = []

        def format_kernel_cmd(self, extra_arguments=None):
            return list(self.jail_prefix) + super().format_kernel_cmd(extra_arguments)

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.client_factory = ReadyClient

    return JailedKernelManager


def _error_output(ename: str, evalue: str):
    from nbformat import NotebookNode

    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]


async def start_kernel(workdir: str, home: str, task: dict, env: dict):
    """Launch a jailed kernel now (it boots while the worker goes on); returns (km, t0)."""
    KM = _make_km_class()
    km = KM(kernel_name="python3")
    km.connection_file = os.path.join(home, "kernel.json")
    jail = [sys.executable, "-m", "course_lib.autograde.jail",
            "--memory-mb", str(task["memory_mb"]), "--nproc", str(task["nproc"]),
            "--fsize-mb", str(task["fsize_mb"]), "--cwd", workdir,
            "--chown", km.connection_file]
    if task.get("uid") is not None:
        jail += ["--uid", str(task["uid"]), "--gid", str(task["gid"])]
    km.jail_prefix = jail + ["--"]
    t0 = time.monotonic()
    await km.start_kernel(extra_arguments=list(KERNEL_ARGS), env=env, cwd=workdir)
    return km, t0


async def run_notebook(nb, workdir: str, home: str, task: dict, env: dict,
                       started=None) -> dict:
    """Execute ``nb`` in place; return a record of what happened (never raises for the
    student's doings). ``started`` is a kernel from :func:`start_kernel`, else one is started.
    """
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    Client = _make_client_class()
    record = {"status": "ok", "reason": None, "exec_s": 0.0, "startup_s": 0.0}
    try:
        km, t0 = started if started is not None else await start_kernel(workdir, home, task, env)
    except Exception as exc:
        record.update(status="kernel-failed", reason=f"kernel failed to start: {exc}")
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [_error_output(NOT_RUN, record["reason"])]
        return record
    cell_timeout = int(task["cell_timeout"])
    record = {"status": "ok", "reason": None, "exec_s": 0.0, "startup_s": 0.0}
    client = Client(nb, km=km, timeout=cell_timeout, startup_timeout=60,
                    interrupt_on_timeout=True, allow_errors=True,
                    error_on_timeout={"ename": "CellTimeoutError",
                                      "evalue": f"cell ran past {cell_timeout} s",
                                      "traceback": [f"CellTimeoutError: cell ran past "
                                                    f"{cell_timeout} s"]},
                    extra_arguments=list(KERNEL_ARGS), shutdown_kernel="immediate", record_timing=False,
                    resources={"metadata": {"path": workdir}})
    client.max_cell_bytes = task["max_cell_bytes"]
    client.max_nb_bytes = task["max_nb_bytes"]

    def on_executed(cell, cell_index, execute_reply):
        # a reply that says 'error' but left no error output (timeout, a kernel that hid its
        # traceback) still fails the cell, as in nbgrader's Execute
        if execute_reply.get("content", {}).get("status") == "error":
            ename = execute_reply["content"].get("ename", "Error")
            if ename == "CellTimeoutError" and record["status"] == "ok":
                record["status"] = "cell-timeout"
                record["reason"] = f"cell {cell_index} ran past {cell_timeout} s"
            if not any(o.get("output_type") == "error" for o in cell.outputs):
                cell.outputs.append(_error_output(ename, str(
                    execute_reply["content"].get("evalue", ""))))

    client.on_cell_executed = on_executed
    deadline = t0 + float(task["notebook_timeout"])
    stop_reason = None
    try:
        async with client.async_setup_kernel(env=env):
            t_start = time.monotonic()
            record["startup_s"] = t_start - t0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                if stop_reason is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        stop_reason = (f"notebook time limit ({task['notebook_timeout']} s) "
                                       f"reached before cell {index}")
                        record["status"] = "timeout"
                if stop_reason is not None:
                    cell.outputs = [_error_output(NOT_RUN, stop_reason)]
                    continue
                client.timeout = max(1, min(cell_timeout, int(remaining)))
                try:
                    await asyncio.wait_for(client.async_execute_cell(cell, index),
                                           timeout=client.timeout + 15)
                except DeadKernelError:
                    stop_reason = f"the kernel died in cell {index} (os._exit, crash or limit)"
                    record["status"] = "kernel-died"
                    cell.outputs.append(_error_output("DeadKernelError", stop_reason))
                except (CellTimeoutError, asyncio.TimeoutError):
                    stop_reason = f"cell {index} did not stop after its time limit"
                    record["status"] = "timeout"
                    cell.outputs.append(_error_output("CellTimeoutError", stop_reason))
            record["exec_s"] = time.monotonic() - t_start
    except Exception as exc:  # kernel never started, or died while starting
        record["status"] = "kernel-failed"
        stop_reason = f"kernel failed: {type(exc).__name__}: {str(exc)[:300]}"
        for cell in nb.cells:
            if cell.cell_type == "code" and not cell.get("outputs"):
                cell.outputs = [_error_output(NOT_RUN, stop_reason)]
    finally:
        # we own the kernel manager, so nbclient leaves the kernel to us
        try:
            if client.kc is not None:
                client.kc.stop_channels()
            await km.shutdown_kernel(now=True)
        except Exception:
            pass
    if stop_reason is not None:
        record["reason"] = stop_reason
    if client._truncated:
        record["truncated_cells"] = sorted(client._truncated)
    return record


def _parse_notebook(text: str):
    """A submitted notebook as nbformat v4, without a JSON-schema validation pass.

    The sanitizer rebuilds every cell that matters from the gradebook and the parent checks
    the executed result, so schema validation (a large share of the worker's CPU time) adds
    nothing; structure that nbclient needs is checked here.
    """
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines

    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("no list of cells")
    nb = nbformat.from_dict(data)
    if nb.get("nbformat") != 4:
        nb = nbformat.reads(text, as_version=4)
    nb = rejoin_lines(nb)
    if not isinstance(nb.get("metadata"), dict):
        nb.metadata = nbformat.NotebookNode()
    cells = []
    for cell in nb.cells:
        # a malformed cell is dropped, not the whole notebook: the instructor's cells come
        # back from the gradebook anyway
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        if not isinstance(cell.get("source", ""), str):
            continue
        cell.setdefault("source", "")
        if not isinstance(cell.get("metadata"), dict):
            cell.metadata = nbformat.NotebookNode()
        meta = cell.metadata.get("nbgrader")
        if meta is not None and not (isinstance(meta, dict)
                                     and isinstance(meta.get("grade_id", ""), str)):
            del cell.metadata["nbgrader"]
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    nb.cells = cells
    return nb


def _kernel_env(task: dict, home: str) -> dict:
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                 "/usr/bin", "/bin"]),
        "HOME": home, "IPYTHONDIR": os.path.join(home, ".ipython"),
        "MPLCONFIGDIR": os.path.join(home, ".mpl"), "MPLBACKEND": "Agg",
        "JUPYTER_RUNTIME_DIR": os.path.join(home, ".runtime"),
        "JUPYTER_DATA_DIR": os.path.join(home, ".jupyter"), "TMPDIR": home,
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "NBGRADER_EXECUTION": "autograde",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "TORCH_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "VIRTUAL_ENV"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _read_capped(path: str, cap: int):
    try:
        size = os.path.getsize(path)
        if size > cap:
            return None, f"file is {size} bytes, over the {cap}-byte limit"
        with open(path, "rb") as fh:
            return fh.read(), None
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"


def _prepare_dir(path: str, uid, gid, mode: int) -> None:
    os.makedirs(path, exist_ok=True)
    if uid is not None and os.geteuid() == 0:
        os.chown(path, uid, gid)
    os.chmod(path, mode)


def worker(jobdir: str) -> int:
    """Entry point of the sandbox worker (see module docstring)."""
    return asyncio.run(_worker(jobdir))


async def _worker(jobdir: str) -> int:
    t_begin = time.monotonic()
    jobdir = os.path.abspath(jobdir)
    with open(os.path.join(jobdir, "task.json"), encoding="utf-8") as fh:
        task = json.load(fh)
    result_fh = open(os.path.join(jobdir, "result.json"), "w", encoding="utf-8")
    cap = int(task["max_notebook_bytes"])
    files = {}  # relpath -> bytes
    read_errors = {}
    for rel, src in task["files"]:
        data, err = _read_capped(src, cap)
        if err:
            read_errors[rel] = err
        else:
            files[rel] = data
    protections = {}
    active = []
    base = jobdir
    def _ns(kind):
        try:
            return os.readlink(f"/proc/self/ns/{kind}")
        except OSError:
            return None

    # never touch the host's mounts or network: seal only inside namespaces of our own
    own_ns = (task.get("namespaces") and _ns("mnt") != task.get("host_ns", {}).get("mnt")
              and _ns("net") != task.get("host_ns", {}).get("net"))
    if task.get("namespaces") and not own_ns:
        protections["namespace_error"] = "worker is not in namespaces of its own"
    if own_ns:
        try:
            loopback_up()
            if only_loopback():
                active.append("network-namespace")
        except OSError as exc:
            protections["network_error"] = str(exc)
        try:
            active += seal_filesystem(task["hide"], int(task["tmp_mb"]), task.get("needed", []))
            base = "/tmp"
        except OSError as exc:
            protections["mount_error"] = str(exc)
    uid, gid = task.get("uid"), task.get("gid")
    if base == jobdir and any(blocked_ancestor(p) for p in task.get("needed", [])):
        # without a mount namespace an unprivileged uid could not even start the
        # interpreter: run as the caller rather than not at all, and say so
        uid = gid = task["uid"] = task["gid"] = None
        protections["uid_error"] = "interpreter not reachable by an unprivileged uid"
    if uid is not None and os.geteuid() == 0:
        active.append(f"uid:{uid}")
    workroot = os.path.join(base, "sandbox")
    _prepare_dir(workroot, None, None, 0o711)
    workdir = os.path.join(workroot, "work")
    home = os.path.join(workroot, "home")
    _prepare_dir(workdir, uid, gid, 0o700)
    _prepare_dir(home, uid, gid, 0o700)
    env = _kernel_env(task, home)
    runnable = [s for s in task["notebooks"]
                if not s.get("missing") and f"{s['name']}.ipynb" in files]
    started = None
    if runnable:
        # the kernel boots (about a second) while this process imports nbformat/nbclient
        # and restores the notebook; it runs nothing until the first cell is sent
        try:
            started = await start_kernel(workdir, home, task, env)
        except Exception as exc:
            protections["prestart_error"] = str(exc)[:300]
    import nbformat  # noqa: F401  (loaded here, while the kernel boots, not on the first cell)

    for rel, data in files.items():
        dest = os.path.join(workdir, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as fh:
            fh.write(data)
        if uid is not None and os.geteuid() == 0:
            os.chown(dest, uid, gid)
    t_ready = time.monotonic()
    results = {}
    for spec in task["notebooks"]:
        name = spec["name"]
        rel = f"{name}.ipynb"
        rec = {"status": "ok", "reason": None, "notes": [], "nb": None}
        if spec.get("missing"):
            rec.update(status="missing", reason=f"no {rel} submitted")
        elif rel in read_errors:
            rec.update(status="unreadable", reason=f"{rel}: {read_errors[rel]}")
        else:
            try:
                text = files[rel].decode("utf-8")
                if not text.strip():
                    raise ValueError("the file is empty")
                nb = _parse_notebook(text)
            except Exception as exc:
                rec.update(status="unreadable",
                           reason=f"{rel} is not a readable notebook: "
                                  f"{type(exc).__name__}: {str(exc)[:200]}")
                nb = None
            if nb is not None:
                try:
                    nb, notes = sanitize(nb, spec["source_cells"])
                    rec["notes"] = notes
                    run = await run_notebook(nb, workdir, home, task, env, started=started)
                    started = None
                    rec.update(run)
                    rec["nb"] = nb
                except Exception as exc:
                    rec.update(status="unreadable",
                               reason=f"{rel} could not be run: {type(exc).__name__}: "
                                      f"{str(exc)[:200]}")
        results[name] = rec
    if started is not None:
        try:
            await started[0].shutdown_kernel(now=True)
        except Exception:
            pass
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    timings = {"setup_s": t_ready - t_begin, "run_s": time.monotonic() - t_ready,
               "worker_cpu_s": own.ru_utime + own.ru_stime,
               "kernel_cpu_s": kids.ru_utime + kids.ru_stime}
    json.dump({"notebooks": results, "protections": active, "errors": protections,
               "timings": timings}, result_fh)
    result_fh.close()
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
