"""Grade every submission of an assignment in parallel, into the one gradebook.

Each submission is graded by two processes that only data passes between (:mod:`.protocol`):
the sandbox worker (:mod:`.sandbox`), which runs the student's notebook in a jailed kernel,
and the checker (:mod:`.checker`), which runs the test cells outside the sandbox and calls the
student's functions through a channel. A pool of ``jobs`` threads only waits on those
processes. The outcomes come back to the main thread, which alone scores them from the
checker's verdicts and writes the gradebook, one submission per transaction, so a crash, a
timeout or a hostile notebook can cost only its own submission's points.

The same three steps run a cluster (:mod:`.cluster`): :meth:`Autograder.prepare` builds
self-contained :class:`~.protocol.SubmissionTask` records, :func:`grade_task` grades one
anywhere, :meth:`Autograder.record_outcome` writes it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from .course import Course
from .release import ASSIGNMENTS
from .protocol import (CheckerJob, CheckerResult, GradingRecord, Limits, NotebookRun,
                       NotebookSpec, NotebookSummary, SandboxJob, SourceCell, Status,
                       SubmissionOutcome, SubmissionTask, SubmittedFile, WorkerResult)
from .sanitize import public_source
from .text import storable
from .scoring import feedback_outputs, grade_notebook, integrity_check, write_grades

__all__ = ["Autograder", "Limits", "SubmissionResult", "grade_task", "course_fingerprint",
           "GRADER_FAILURES", "probe_namespaces", "protections_available", "protections_held"]

#: statuses that mean the grader, not the student, failed: never skipped on a rerun
GRADER_FAILURES = {Status.SANDBOX_FAILED.value, Status.GRADER_FAILED.value}


@dataclass
class SubmissionResult:
    """What happened to one submission (one row of the summary; never crosses a process)."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "ok"
    reason: str = ""
    notebooks: dict[str, NotebookSummary] = field(default_factory=dict)
    skipped: bool = False
    wall_s: float = 0.0
    exec_s: float = 0.0  # the cells' own execution time
    startup_s: float = 0.0  # kernel start
    setup_s: float = 0.0  # worker start, namespaces, reading the submission
    protections: list = field(default_factory=list)
    host: str = ""
    flags: list = field(default_factory=list)  # disagreements, copies of the solutions
    protection_errors: dict = field(default_factory=dict)  # what failed to apply, and why


_PROBE = {}


def probe_namespaces() -> bool:
    """Whether ``unshare`` can give a worker fresh network, mount and PID namespaces."""
    if "ns" not in _PROBE:
        ok = False
        exe = shutil.which("unshare")
        if exe and os.geteuid() == 0:
            try:
                ok = subprocess.run([exe, "--net", "--mount", "--pid", "--ipc", "--fork",
                                     "--mount-proc", "true"], capture_output=True,
                                    timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _PROBE["ns"] = ok
    return _PROBE["ns"]


def protections_available() -> dict:
    """Which isolation features this machine gives the sandbox (reported in the summary)."""
    root = os.geteuid() == 0
    ns = probe_namespaces()
    return {
        "scores computed by a checker process outside the sandbox": True,
        "course reference absent from the sandbox (allow-list root)": ns,
        "network namespace (no network, loopback only)": ns,
        "PID and IPC namespaces (every process and segment dies with the worker)": ns,
        "own unprivileged uid per submission": root,
        "process limit RLIMIT_NPROC": root,
        "memory limit RLIMIT_AS": True,
        "per-cell, per-call and per-notebook wall-clock limits": True,
    }


def _fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "timestamp.txt":
            h.update(str(p.relative_to(folder)).encode("utf-8", "surrogateescape"))
            try:
                h.update(p.read_bytes())
            except OSError:
                h.update(b"<unreadable>")
    return h.hexdigest()


def _host_ns() -> dict:
    out = {}
    for kind in ("mnt", "net", "pid", "ipc"):
        try:
            out[kind] = os.readlink(f"/proc/self/ns/{kind}")
        except OSError:
            out[kind] = None
    return out


def _needed_paths() -> list:
    """Folders the kernel must be able to read: the interpreter and its environment only."""
    out = []
    for p in (sys.base_prefix, sys.prefix):
        p = os.path.realpath(p)
        if p not in out:
            out.append(p)
    return out


#: what a sandbox reports, in words (the summary says which held in every graded sandbox)
HELD = {"allow-list root (chroot)": "allow-list root (reference, checkout, course hidden)",
        "read-only root": "read-only root", "network-namespace": "no network (loopback only)",
        "ipc-namespace": "own IPC namespace", "uid": "own unprivileged uid"}


def protections_held(results: list) -> tuple:
    """(protections in force in every sandbox graded now, {protection error: count})."""
    graded = [r for r in results if not r.skipped and r.protections is not None
              and r.status not in GRADER_FAILURES]
    if not graded:
        return [], {}
    sets = [{p.split(":")[0] if p.startswith("uid:") else p for p in r.protections}
            for r in graded]
    common = set.intersection(*sets)
    errors = {}
    for r in graded:
        for k, v in r.protection_errors.items():
            errors[f"{k}: {v}"] = errors.get(f"{k}: {v}", 0) + 1
    return [label for key, label in HELD.items() if key in common], errors


def _kill_uid(uid: int) -> None:
    """SIGKILL every process of a job's private uid (left-overs of a fork bomb)."""
    if uid is None or os.geteuid() != 0:
        return
    for _ in range(5):
        found = False
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/status") as fh:
                    for line in fh:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                os.kill(int(d), signal.SIGKILL)
                                found = True
                            break
            except (OSError, ValueError):
                continue
        if not found:
            return
        time.sleep(0.05)




# -- what the sandbox gets instead of course_lib ------------------------------------------------
#: names of course_lib.grading's assignment modules a notebook may use outside its tests (data
#: helpers: no reference code); everything else of course_lib is absent from the sandbox
SANDBOX_EXPORTS = {"ps1": ("WORDS", "tokens"), "ps4": ("PAD", "classification_data",
                                                      "train_classifier")}
#: course_lib.grading's module of each assignment (ps2-rnn-forward -> ps2)
ASSIGNMENT_MODULES = tuple(a.split("-")[0] for a in ASSIGNMENTS)

_STUB_GRADING = '''"""The sandbox's stand-in for course_lib.grading: the tests run in the grader's checker."""


class Score:
    """While grading, test cells run outside this notebook; this class only keeps it importable."""

    def __init__(self, points):
        self.points = float(points)

    def part(self, weight, title, check):
        return False

    def __float__(self):
        return 0.0
'''

_SITECUSTOMIZE = '''import os, sys
# the student's folder comes last: it can add modules, never shadow an installed one
sys.path.append(os.getcwd())
'''


def _module_source(name: str, exports: tuple) -> str:
    import importlib

    mod = importlib.import_module(f"course_lib.grading.{name}")
    lines = [f'"""The sandbox\'s course_lib.grading.{name}: its data helpers only."""',
             "import numpy as np", ""]
    if "torch" in exports or name == "ps4":
        lines.insert(1, "import torch")
    for attr in exports:
        obj = getattr(mod, attr)
        lines.append(inspect.getsource(obj) if callable(obj) else f"{attr} = {obj!r}")
    return "\n".join(lines) + "\n"


def sandbox_lib_files() -> dict:
    """relative path -> source of everything the sandbox's kernel gets from the course."""
    here = Path(__file__).resolve().parent
    files = {
        "_rnn_course_wire.py": (here / "wire.py").read_text(encoding="utf-8"),
        "_rnn_course_channel.py": (here / "kernel_side.py").read_text(encoding="utf-8"),
        "sitecustomize.py": _SITECUSTOMIZE,
        "course_lib/__init__.py": '"""The sandbox\'s course_lib: no reference code here."""\n',
        "course_lib/grading/__init__.py": _STUB_GRADING,
    }
    probes = here.parent / "grading" / "probe_functions.py"
    if probes.is_file():
        files["_rnn_course_probes.py"] = probes.read_text(encoding="utf-8")
    for name in ASSIGNMENT_MODULES:
        exports = SANDBOX_EXPORTS.get(name, ())
        files[f"course_lib/grading/{name}.py"] = _module_source(name, exports) if exports else \
            f'"""The sandbox\'s course_lib.grading.{name}: its tests run in the checker."""\n'
    return files


def grading_modules(notebooks) -> tuple:
    """The course_lib.grading modules an assignment's locked cells import (the checker
    preloads them); ``notebooks`` are NotebookSpec records or course.NotebookInfo."""
    found = set()
    for nb in notebooks:
        for c in nb.source_cells:
            c = c if isinstance(c, dict) else dataclasses.asdict(c)
            if c["cell_type"] == "code" and c["locked"]:
                found.update(re.findall(r"from course_lib\.grading import (ps\d)", c["source"]))
    return tuple(f"course_lib.grading.{m}" for m in sorted(found))


_LIB_HASH = {}


def course_fingerprint(notebooks) -> str:
    """A hash of course_lib's source and the assignment's test cells: what a worker compares.

    ``notebooks`` is a task's tuple of NotebookSpec, or the SubmissionTask itself.
    """
    if isinstance(notebooks, SubmissionTask):
        notebooks = notebooks.notebooks
    if "lib" not in _LIB_HASH:
        h = hashlib.sha256()
        root = Path(__file__).resolve().parents[1]
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
        _LIB_HASH["lib"] = h.hexdigest()
    h = hashlib.sha256(_LIB_HASH["lib"].encode())
    for nb in notebooks:
        for c in nb.source_cells:
            h.update(json.dumps([nb.name, c.name, c.source, c.points]).encode())
    return h.hexdigest()[:16]


def _public_notebooks(notebooks: tuple) -> tuple:
    """The notebooks as the sandbox may know them: test cells without their hidden part."""
    return tuple(replace(nb, source_cells=tuple(
        replace(c, source=public_source(c.source)) if c.is_test else c
        for c in nb.source_cells)) for nb in notebooks)


# -- grading one submission on this machine ----------------------------------------------------
class Runner:
    """Runs sandbox workers and checkers on this machine (pre-warmed zygotes when possible)."""

    def __init__(self, use_zygote: bool = True, preload: tuple = (), namespaces=None):
        self.namespaces = probe_namespaces() if namespaces is None else bool(namespaces)
        self.preload = tuple(preload)
        self.env = self._worker_env()
        self._zygotes = {}
        self._lock = threading.Lock()
        self.use_zygote = use_zygote
        self._uid_base = 200000 + (os.getpid() % 1000) * 1000
        self._lib = sandbox_lib_files()
        self._jail = (Path(__file__).resolve().parent / "jail.py").read_text(encoding="utf-8")

    @staticmethod
    def _worker_env() -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2])]
            + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        return env

    def _zygote(self, role: str):
        if not self.use_zygote:
            return None
        with self._lock:
            z = self._zygotes.get(role)
            if z is None or not z.alive:
                from .zygote import Zygote

                try:
                    z = self._zygotes[role] = Zygote(
                        self.env, role=role, preload=self.preload if role == "checker" else ())
                except Exception:
                    z = self._zygotes[role] = None
            return z

    def close(self) -> None:
        for z in self._zygotes.values():
            if z is not None:
                z.close()
        self._zygotes.clear()

    def _run(self, role: str, jobdir: str, budget: float):
        zyg = self._zygote(role)
        ns = self.namespaces and role == "sandbox"
        if zyg is not None and zyg.alive and not any(c in jobdir for c in " \n"):
            return zyg.run(jobdir, ns, budget)
        module = "course_lib.autograde." + ("checker" if role == "checker" else "sandbox")
        cmd = [sys.executable, "-m", module, jobdir]
        if ns:
            cmd = [shutil.which("unshare"), "--net", "--mount", "--pid", "--ipc", "--fork",
                   "--mount-proc", "--kill-child"] + cmd
        with open(os.path.join(jobdir, f"{role}.log"), "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env,
                                    start_new_session=True)
            try:
                return proc.wait(timeout=budget)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return "timeout"

    def _jobs(self, task: SubmissionTask, jobdir: str) -> tuple:
        sock = os.path.join(jobdir, "checker.sock")
        uid = self._uid_base + (task.seq % 1000) if os.geteuid() == 0 else None
        checker_job = CheckerJob(notebooks=task.notebooks, limits=task.limits, channel_path=sock)
        sandbox_job = SandboxJob(
            task=replace(task, notebooks=_public_notebooks(task.notebooks)), channel_path=sock,
            uid=uid, gid=uid, namespaces=self.namespaces, host_ns=_host_ns(),
            needed=tuple(_needed_paths()), sandbox_lib=self._lib, jail_source=self._jail)
        return checker_job, sandbox_job

    def grade(self, task: SubmissionTask) -> SubmissionOutcome:
        """Grade one submission; never raises (a grader failure is in ``outcome.error``)."""
        t0 = time.monotonic()
        jobdir = tempfile.mkdtemp(prefix="rnn-course-job-")
        outcome = dict(student=task.student, assignment=task.assignment,
                       course_version=task.course_version, fingerprint=task.fingerprint,
                       host=socket.gethostname())
        try:
            os.chmod(jobdir, 0o711)
            checker_job, sandbox_job = self._jobs(task, jobdir)
            for name, rec in (("checker_job.json", checker_job), ("job.json", sandbox_job)):
                fd = os.open(os.path.join(jobdir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                             0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(rec.to_json())
            budget = (task.limits.notebook_timeout + 30) * max(1, len(task.notebooks)) + 30
            checker = threading.Thread(target=self._run, args=("checker", jobdir, budget + 30))
            checker.start()
            rc = self._run("sandbox", jobdir, budget)
            _kill_uid(sandbox_job.uid)
            checker.join(budget + 60)
            worker = _read_record(WorkerResult, jobdir, "result.json", "sandbox.log", rc)
            verdicts = _read_record(CheckerResult, jobdir, "checker_result.json", "checker.log",
                                    None)
            error = verdicts.error if isinstance(verdicts, CheckerResult) else verdicts
            if isinstance(worker, str):
                worker = WorkerResult(notebooks={nb.name: NotebookRun(
                    name=nb.name, status=Status.SANDBOX_FAILED, reason=worker)
                    for nb in task.notebooks})
            if not isinstance(verdicts, CheckerResult):
                verdicts = CheckerResult(error=verdicts)
            return SubmissionOutcome(worker=worker, checker=verdicts, error=error or "",
                                     wall_s=time.monotonic() - t0, **outcome)
        except Exception as exc:  # the grader's own failure: record it, never lose the run
            return SubmissionOutcome(worker=WorkerResult(), checker=CheckerResult(),
                                     error=f"{type(exc).__name__}: {exc}",
                                     wall_s=time.monotonic() - t0, **outcome)
        finally:
            shutil.rmtree(jobdir, ignore_errors=True)


def _storable(value):
    """``value`` with every string writable as UTF-8 (a lone surrogate becomes U+FFFD)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


def _read_record(cls, jobdir: str, name: str, log: str, rc):
    """The record a process left, or a one-line reason why there is none."""
    try:
        with open(os.path.join(jobdir, name), encoding="utf-8") as fh:
            return cls.from_json(fh.read())
    except (OSError, ValueError, TypeError, KeyError):
        tail = ""
        try:
            with open(os.path.join(jobdir, log), "rb") as fh:
                fh.seek(max(0, os.path.getsize(fh.name) - 1500))
                tail = " | ".join(fh.read().decode("utf-8", "replace").strip().splitlines()[-3:])
        except OSError:
            pass
        return f"{log.split('.')[0]} failed (exit {rc}): {tail}"


_RUNNER = {}


def grade_task(task: SubmissionTask) -> SubmissionOutcome:
    """Grade one submission on this machine (the function a cluster worker runs)."""
    if "runner" not in _RUNNER:
        _RUNNER["runner"] = Runner(preload=grading_modules(task.notebooks))
    mine = course_fingerprint(task.notebooks)
    if task.course_version and task.course_version != mine:
        return SubmissionOutcome(
            student=task.student, assignment=task.assignment, course_version=mine,
            fingerprint=task.fingerprint, worker=WorkerResult(), checker=CheckerResult(),
            host=socket.gethostname(),
            error=f"stale worker {socket.gethostname()}: its course version {mine} is not the "
                  f"instructor's {task.course_version}; update the worker's checkout")
    return _RUNNER["runner"].grade(task)


def _spec_of(info, missing: bool) -> NotebookSpec:
    return NotebookSpec(name=info.name, missing=missing, source_cells=tuple(
        SourceCell(name=c["name"], cell_type=c["cell_type"], source=c["source"],
                   checksum=c["checksum"], locked=c["locked"], grade=c["grade"],
                   solution=c["solution"], task=c.get("task", False),
                   points=float(c["points"])) for c in info.source_cells))


def _read_files(sub: Path, src: Path, limits: Limits) -> tuple:
    """The submission's files by value; the instructor's data files overwrite the student's
    copies, as in nbgrader autograde."""
    chosen = {}
    for p in sorted(sub.rglob("*")):
        if p.is_file() and not p.is_symlink() and len(chosen) < 500:
            chosen[str(p.relative_to(sub))] = p
    for p in sorted(src.rglob("*")):
        rel = str(p.relative_to(src))
        if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in rel:
            chosen[rel] = p
    files = []
    for rel, p in chosen.items():
        try:
            size = p.stat().st_size
            if size > limits.max_notebook_bytes:
                files.append(SubmittedFile(path=rel, error=f"file is {size} bytes, over the "
                                                           f"{limits.max_notebook_bytes}-byte limit"))
                continue
            data = base64.b64encode(p.read_bytes()).decode("ascii")
            files.append(SubmittedFile(path=rel, data_b64=data))
        except OSError as exc:
            files.append(SubmittedFile(path=rel, error=f"cannot read: {exc.strerror}"))
    return tuple(files)


class Autograder:
    """Grade submissions of one assignment.

    Parameters
    ----------
    course : Course
    assignment : str
    jobs : int, optional
        Submissions graded at once (default: one per core).
    limits : Limits, optional
    """

    def __init__(self, course: Course, assignment: str, jobs: int | None = None,
                 limits: Limits | None = None):
        if not assignment or "/" in assignment:
            raise ValueError(f"assignment: expected an assignment name, got {assignment!r}")
        if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
            raise ValueError(f"jobs: expected a positive integer, got {jobs!r}")
        self.course = course
        self.assignment = assignment
        self.jobs = jobs or (os.cpu_count() or 1)
        self.limits = limits or Limits(cell_timeout=course.cell_timeout())
        self.namespaces = probe_namespaces()
        #: fork workers and checkers from pre-warmed processes (saves a Python start each)
        self.use_zygote = True
        self._infos = None

    def infos(self) -> list:
        if self._infos is None:
            self.course.ensure_assignment(self.assignment)
            self._infos = self.course.notebook_infos(self.assignment)
        return self._infos

    # -- the three steps ----------------------------------------------------------------------
    def prepare(self, students=None, force: bool = False) -> tuple:
        """(tasks to grade, results of submissions already graded and unchanged)."""
        c, a = self.course, self.assignment
        infos = self.infos()
        submitted = c.submitted_students(a)
        if students:
            unknown = [s for s in students if s not in submitted]
            if unknown:
                raise ValueError(f"student: no submission of {a!r} from {unknown}")
            submitted = [s for s in submitted if s in students]
        tasks, skipped = [], []
        with c.gradebook() as gb:
            for seq, s in enumerate(submitted):
                fp = _fingerprint(c.submitted_dir(s, a))
                prior = None if force else self._already_graded(gb, s, fp)
                if prior is not None:
                    skipped.append(prior)
                    continue
                sub = c.submitted_dir(s, a)
                notebooks = tuple(_spec_of(i, not (sub / f"{i.name}.ipynb").is_file())
                                  for i in infos)
                tasks.append(SubmissionTask(
                    student=s, assignment=a, notebooks=notebooks, seq=seq, fingerprint=fp,
                    files=_read_files(sub, c.source_dir(a), self.limits), limits=self.limits,
                    course_version=course_fingerprint(notebooks)))
        return tasks, skipped

    def record_outcome(self, gb, outcome: SubmissionOutcome) -> SubmissionResult:
        """Score ``outcome`` from the checker's verdicts and write it (main thread only)."""
        if outcome.error:
            return self._record_failure(gb, outcome)
        grades, res = [], SubmissionResult(student=outcome.student, wall_s=outcome.wall_s,
                                           protections=list(outcome.worker.protections),
                                           protection_errors=dict(outcome.worker.errors),
                                           setup_s=outcome.worker.timings.get("setup_s", 0.0),
                                           host=outcome.host)
        statuses, reasons = [], []
        for info in self.infos():
            run = outcome.worker.notebooks.get(info.name) or NotebookRun(
                name=info.name, status=Status.SANDBOX_FAILED, reason="no result")
            ng = grade_notebook(info, run, outcome.checker.notebooks.get(info.name, ()))
            grades.append(ng)
            res.exec_s += run.exec_s
            res.startup_s += run.startup_s
            res.flags += ng.disagreements
            verdicts = outcome.checker.notebooks.get(info.name, ())
            res.notebooks[info.name] = NotebookSummary(
                scores=ng.scores, status=ng.status, reason=ng.reason, notes=tuple(run.notes),
                # what the export's per-problem CSV shows, as printed under the test cell
                # (a cell whose checks fail alike on several inputs prints one diagnosis each)
                diagnoses={v.grade_id: tuple(dict.fromkeys(v.diagnoses)) for v in verdicts
                           if v.diagnoses})
            if ng.status != Status.OK:
                statuses.append(ng.status.value)
            if ng.reason:
                reasons.append(f"{info.name}: {ng.reason}" if len(self.infos()) > 1 else ng.reason)
            if run.notes:
                reasons.append("repaired: " + ", ".join(run.notes[:4]))
            self._write_autograded(outcome.student, info, run,
                                  outcome.checker.notebooks.get(info.name, ()))
        write_grades(gb, self.assignment, outcome.student, grades, timestamp=self._timestamp(
            outcome.student))
        res.score = sum(g.score for g in grades)
        res.max_score = sum(g.max_score for g in grades)
        res.status = statuses[0] if statuses else "ok"
        res.reason = "; ".join(r for r in reasons if r)
        self._write_side_car(outcome, res)
        return res

    def _record_failure(self, gb, outcome: SubmissionOutcome) -> SubmissionResult:
        """The grader failed: zeros marked grader-failed (regraded by the next run)."""
        status = Status.GRADER_FAILED
        grades = []
        for info in self.infos():
            run = NotebookRun(name=info.name, status=status, reason=outcome.error)
            grades.append(grade_notebook(info, run, ()))
        write_grades(gb, self.assignment, outcome.student, grades)
        res = SubmissionResult(student=outcome.student, status=status.value,
                               reason=outcome.error[:500], wall_s=outcome.wall_s,
                               host=outcome.host, max_score=sum(g.max_score for g in grades))
        self._write_side_car(outcome, res)
        return res

    def _write_autograded(self, student: str, info, run: NotebookRun, verdicts: tuple) -> None:
        """The executed notebook with the checker's output under each test cell."""
        import nbformat
        from nbformat.v4.rwbase import rejoin_lines

        dest = self.course.autograded_dir(student, self.assignment)
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / f"{info.name}.ipynb"
        if run.nb is None:
            if path.exists():
                path.unlink()
            return
        nb = rejoin_lines(nbformat.from_dict(_storable(run.nb)))
        by_id = {v.grade_id: v for v in verdicts}
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in by_id and cell.cell_type == "code":
                cell.outputs = feedback_outputs(by_id[gid])
                if "BEGIN HIDDEN TESTS" in info.grade_cells[gid].source:
                    # an empty region: says that hidden tests ran, shows none of them
                    cell.source += "\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"
        nbformat.write(nb, str(path))

    def _timestamp(self, student: str):
        tsfile = self.course.submitted_dir(student, self.assignment) / "timestamp.txt"
        if not tsfile.is_file():
            return None
        try:
            from nbgrader.utils import parse_utc

            return parse_utc(tsfile.read_text().strip())
        except Exception:
            return None

    def _write_side_car(self, outcome: SubmissionOutcome, res: SubmissionResult) -> None:
        GradingRecord(
            fingerprint=outcome.fingerprint, course_version=outcome.course_version,
            score=res.score, max_score=res.max_score, status=Status(res.status),
            reason=res.reason, notebooks=res.notebooks, flags=tuple(res.flags),
            protections=tuple(res.protections), host=res.host,
            timings=dict(outcome.worker.timings, wall_s=res.wall_s, exec_s=res.exec_s,
                         setup_s=res.setup_s, startup_s=res.startup_s),
        ).write(self.course.autograded_dir(outcome.student, self.assignment))

    def _already_graded(self, gb, student: str, fingerprint: str):
        kept = GradingRecord.read(self.course.autograded_dir(student, self.assignment))
        if kept is None or kept.fingerprint != fingerprint or kept.status.is_grader_failure:
            return None
        try:
            sub = gb.find_submission(self.assignment, student)
        except Exception:
            return None
        manual = {c.name for nb in sub.assignment.notebooks for c in nb.solution_cells}
        for sn in sub.notebooks:
            for gr in sn.grades:
                if gr.auto_score is None and gr.manual_score is None \
                        and gr.cell.name not in manual:
                    return None
        return SubmissionResult(student=student, score=float(sub.score),
                                max_score=float(sub.max_score), status=kept.status.value,
                                reason=kept.reason, skipped=True, notebooks=kept.notebooks,
                                flags=list(kept.flags))

    # -- the whole run on this machine -------------------------------------------------------
    def run(self, students=None, force: bool = False, progress: bool = True) -> dict:
        """Grade ``students`` (default: every submitted one).

        Returns
        -------
        dict with ``results`` (list of SubmissionResult, sorted by student), ``integrity``
        (list of problems, empty when sound), ``protections`` and ``graded``/``skipped``.
        """
        from tqdm.auto import tqdm

        tasks, results = self.prepare(students, force)
        runner = Runner(use_zygote=self.use_zygote, preload=grading_modules(self.infos()),
                        namespaces=self.namespaces and probe_namespaces()) if tasks else None
        bar = tqdm(total=len(tasks), desc=f"autograde {self.assignment}", unit="sub",
                   disable=not progress, file=sys.stderr)
        t0, record_s = time.monotonic(), 0.0
        with self.course.gradebook() as gb:
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                futs = {pool.submit(runner.grade, t): t for t in tasks}
                for fut in as_completed(futs):
                    t_rec = time.monotonic()
                    results.append(self._record_safely(gb, futs[fut], fut.result()))
                    record_s += time.monotonic() - t_rec
                    bar.update(1)
            bar.close()
            if runner is not None:
                runner.close()
            wall = time.monotonic() - t0
            results.sort(key=lambda r: r.student)
            problems = self.finish(gb, results)
        return {"results": results, "integrity": problems, "wall_s": wall,
                "record_s": record_s if tasks else 0.0, "graded": len(tasks),
                "skipped": len(results) - len(tasks), "protections": protections_available()}

    def finish(self, gb, results: list) -> list:
        """After the last record: flag copied answers (in ``results``), return the gradebook's
        integrity problems (empty when sound)."""
        flag_copies(self, results)
        return integrity_check(gb, self.assignment)

    def _record_safely(self, gb, task: SubmissionTask, outcome) -> SubmissionResult:
        try:
            return self.record_outcome(gb, outcome)
        except Exception as exc:  # never lose the run: this submission is regraded next time
            gb.db.rollback()
            return SubmissionResult(student=task.student, status=Status.GRADER_FAILED.value,
                                    reason=f"recording failed: {type(exc).__name__}: {exc}")


def _answers(path: Path, ids: list) -> tuple | None:
    """The answer cells of a notebook file, whitespace-normalized, in ``ids`` order."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    by_id = {}
    for c in cells if isinstance(cells, list) else []:
        meta = c.get("metadata", {}).get("nbgrader", {}) if isinstance(c, dict) else {}
        if isinstance(meta, dict) and meta.get("grade_id") in ids:
            src = c.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            by_id[meta["grade_id"]] = "\n".join(
                ln.strip() for ln in src.split("\n")
                if ln.strip() and "BEGIN SOLUTION" not in ln and "END SOLUTION" not in ln)
    return tuple(by_id.get(i, "") for i in ids)


def flag_copies(ag: Autograder, results: list) -> None:
    """Flag (never rescore) submissions whose answers equal the solutions' or another's."""
    c, a = ag.course, ag.assignment
    for info in ag.infos():
        ids = list(info.solution_cells) or [s["name"] for s in info.source_cells
                                            if s["solution"]]
        if not ids:
            continue
        solution = _answers(c.source_dir(a) / f"{info.name}.ipynb", ids)
        release = tuple("" for _ in ids)
        seen = {}
        for r in results:
            got = _answers(c.submitted_dir(r.student, a) / f"{info.name}.ipynb", ids)
            if got is None or got == release:
                continue
            if got == solution:
                r.flags.append(f"{info.name}: answer cells identical to the instructor's "
                               f"solutions")
            elif got in seen:
                r.flags.append(f"{info.name}: answer cells identical to {seen[got]}'s")
            else:
                seen[got] = r.student
