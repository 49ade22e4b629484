"""Adapter: issue 15's per-submission interface, built on today's :mod:`.autograde`.

:mod:`.cluster` imports only these names. When the lead's rework lands (``prepare``,
``grade_task``, ``record_outcome``, ``finish`` and ``course_fingerprint`` in autograde.py and
protocol.py), this module is deleted and cluster.py imports the real ones.

The one thing added over today's code: a task carries the submission's file *contents*
(base64), not paths, so a worker on another machine needs nothing of the course directory.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import autograde as _ag
from .autograde import SubmissionResult, protections_available  # noqa: F401  (re-exported)
from .grading import integrity_check

_PACKAGE = Path(__file__).resolve().parents[1]  # course_lib/


@dataclass
class SubmissionTask:
    """One submission and everything grading it needs; crosses to the worker as JSON.

    ``files`` rows are ``[relpath, base64 contents or None, size]``: contents are None for a
    file over ``limits["max_notebook_bytes"]`` (the worker reports it as too large) or one
    the client could not read (size -1).
    """

    student: str
    assignment: str
    fingerprint: str  # of the submitted files (the side-car's)
    notebooks: list  # [{"name", "source_cells", "missing"}]
    files: list
    limits: dict
    course_fingerprint: str = ""
    #: the client's folders the student must not see (the course directory, solutions/):
    #: hidden on a worker too where they exist there, e.g. a worker on the client's machine
    hide: list = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "SubmissionTask":
        return cls(**json.loads(text))


@dataclass
class SubmissionOutcome:
    """What the sandbox returned for one task (today's ``run_worker`` result dict)."""

    student: str
    assignment: str
    fingerprint: str
    result: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "SubmissionOutcome":
        return cls(**json.loads(text))


def _package_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(_PACKAGE.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(_PACKAGE)).encode("utf-8", "surrogateescape"))
            h.update(p.read_bytes())
    return h.hexdigest()


def course_fingerprint(task: SubmissionTask) -> str:
    """sha256 of this machine's course_lib source and of the task's test cells."""
    h = hashlib.sha256(_package_digest().encode())
    h.update(json.dumps([nb["source_cells"] for nb in task.notebooks], sort_keys=True,
                        ensure_ascii=False).encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _file_row(rel: str, path: str, cap: int) -> list:
    try:
        size = os.path.getsize(path)
        if size > cap:
            return [rel, None, size]
        with open(path, "rb") as fh:
            return [rel, base64.b64encode(fh.read()).decode("ascii"), size]
    except OSError:
        return [rel, None, -1]


class Autograder(_ag.Autograder):
    """Today's Autograder plus ``prepare``, ``record_outcome`` and ``finish``."""

    def prepare(self, students=None, force: bool = False) -> tuple:
        """(tasks to grade, results of the submissions already graded and skipped)."""
        c, a = self.course, self.assignment
        c.ensure_assignment(a)
        self._infos = c.notebook_infos(a)
        submitted = c.submitted_students(a)
        if students:
            unknown = [s for s in students if s not in submitted]
            if unknown:
                raise ValueError(f"student: no submission of {a!r} from {unknown}")
            submitted = [s for s in submitted if s in students]
        tasks, skipped = [], []
        with c.gradebook() as gb:
            for i, s in enumerate(submitted):
                fp = _ag._fingerprint(c.submitted_dir(s, a))
                prior = None if force else self._already_graded(gb, s, fp)
                if prior is not None:
                    skipped.append(prior)
                    continue
                d = self._task(s, i, self._infos)
                cap = self.limits.max_notebook_bytes
                task = SubmissionTask(
                    student=s, assignment=a, fingerprint=fp, notebooks=d["notebooks"],
                    files=[_file_row(rel, p, cap) for rel, p in d["files"]],
                    limits=asdict(self.limits), hide=d["hide"])
                task.course_fingerprint = course_fingerprint(task)
                tasks.append(task)
        return tasks, skipped

    def record_outcome(self, gb, outcome: SubmissionOutcome) -> SubmissionResult:
        return self.record(gb, outcome.student, self._infos, outcome.result,
                           outcome.fingerprint)

    def finish(self, gb) -> list:
        return integrity_check(gb, self.assignment)


class _Runner(_ag.Autograder):
    """Only what ``run_worker`` needs of an Autograder: no course, one zygote per process."""

    def __init__(self):  # noqa: D107 - deliberately not the parent's
        self._zygote = None
        self._lock = threading.Lock()
        self._uids = itertools.count()
        self._uid_base = 200000 + (os.getpid() % 1000) * 1000

    def zygote(self):
        from .zygote import Zygote

        with self._lock:
            if self._zygote is None or not self._zygote.alive:
                try:
                    self._zygote = Zygote(self._worker_env())
                except Exception:
                    self._zygote = None
            return self._zygote


_RUNNER = None
_RUNNER_LOCK = threading.Lock()


def _runner() -> _Runner:
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None or _RUNNER._uid_base != 200000 + (os.getpid() % 1000) * 1000:
            _RUNNER = _Runner()
        return _RUNNER


def _unpack(files: list, inbox: str) -> list:
    """Write the task's files into ``inbox``; [relpath, local path] rows for the sandbox."""
    rows = []
    for i, (rel, data, size) in enumerate(files):
        path = os.path.join(inbox, str(i))
        if data is not None:
            with open(path, "wb") as fh:
                fh.write(base64.b64decode(data))
        elif size >= 0:
            with open(path, "wb") as fh:
                fh.truncate(size)  # sparse: the sandbox sees the size and refuses it, as today
        rows.append([rel, path])
    return rows


def grade_task(task: SubmissionTask) -> SubmissionOutcome:
    """Grade one submission on this machine (sandbox + scoring inputs); never raises."""
    r = _runner()
    inbox = tempfile.mkdtemp(prefix="rnn-course-inbox-")
    try:
        uid = r._uid_base + next(r._uids) % 1000 if os.geteuid() == 0 else None
        needed = _ag._needed_paths()
        hide = [inbox, str(_PACKAGE.parent / "solutions")] + [
            h for h in task.hide if not any(n == h or n.startswith(h.rstrip("/") + "/")
                                            for n in needed)]
        d = dict(task.limits, student=task.student, assignment=task.assignment, uid=uid,
                 gid=uid, namespaces=_ag.probe_namespaces(), files=_unpack(task.files, inbox),
                 hide=[h for h in hide if os.path.isdir(h)], needed=needed,
                 host_ns=_ag._host_ns(), notebooks=task.notebooks)
        r._zygote = r.zygote()
        result = r.run_worker(d)
    except Exception as exc:  # the grader's own failure: a result, never an exception
        result = {"notebooks": {nb["name"]: {"status": "sandbox-failed", "nb": None,
                                             "reason": f"{type(exc).__name__}: {exc}"}
                                for nb in task.notebooks}, "protections": []}
    finally:
        shutil.rmtree(inbox, ignore_errors=True)
    return SubmissionOutcome(student=task.student, assignment=task.assignment,
                             fingerprint=task.fingerprint, result=result)
