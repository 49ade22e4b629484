"""The student's kernel: started behind the jail, its output bounded.

:class:`LimitedClient` is nbclient keeping a bounded amount of output; the kernel manager
starts the kernel through the jail (own uid, memory, process and file-size limits, see
:mod:`.jail`); :func:`kernel_env` is the whole environment the kernel gets.
"""

from __future__ import annotations

import json
import os
import sys
import time

TRUNCATED_NOTE = "\n... [output truncated by the autograder] ...\n"


def make_client_class():
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


def make_km_class():
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


#: no history file (nothing of the grader's requests is kept), no cwd on sys.path (the
#: student's folder must not shadow the sandbox's packages; sitecustomize appends it last)
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.ignore_cwd=True"]


async def start_kernel(workdir: str, home: str, limits, jail: list, env: dict, uid=None):
    """Launch a jailed kernel now (it boots while the worker goes on); returns (km, t0).

    ``jail`` is the command that runs the jail (``[python, jail.py]``) and ``limits`` the
    submission's :class:`~.protocol.Limits`.
    """
    KM = make_km_class()
    km = KM(kernel_name="python3")
    km.connection_file = os.path.join(home, "kernel.json")
    prefix = list(jail) + ["--memory-mb", str(limits.memory_mb), "--nproc", str(limits.nproc),
                           "--fsize-mb", str(limits.fsize_mb), "--cwd", workdir,
                           "--chown", km.connection_file]
    if uid is not None:
        prefix += ["--uid", str(uid), "--gid", str(uid)]
    km.jail_prefix = prefix + ["--"]
    t0 = time.monotonic()
    await km.start_kernel(extra_arguments=list(KERNEL_ARGS), env=env, cwd=workdir)
    return km, t0


def kernel_env(home: str, lib: str) -> dict:
    """The kernel's whole environment: nothing of the grader's, the sandbox's lib on the path."""
    env = {
        "PATH": os.pathsep.join([str(os.path.dirname(sys.executable)), "/usr/local/bin",
                                 "/usr/bin", "/bin"]),
        "HOME": home, "IPYTHONDIR": os.path.join(home, ".ipython"),
        "MPLCONFIGDIR": os.path.join(home, ".mpl"), "MPLBACKEND": "Agg",
        "JUPYTER_RUNTIME_DIR": os.path.join(home, ".runtime"),
        "JUPYTER_DATA_DIR": os.path.join(home, ".jupyter"), "TMPDIR": home,
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONNOUSERSITE": "1", "PYTHONSAFEPATH": "1",
        "PYTHONPATH": lib, "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "TORCH_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "VIRTUAL_ENV"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env
