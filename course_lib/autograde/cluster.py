"""Grade an assignment on a dask.distributed cluster: one dask task per submission.

    rnn-course autograde ASSIGNMENT --scheduler tcp://HOST:PORT   # a running cluster
    rnn-course autograde ASSIGNMENT --scheduler local:N           # a LocalCluster of N workers

The client (the process running ``rnn-course``) prepares one :class:`SubmissionTask` per
submission (its file contents, the gradebook's test cells and points, the limits), sends each as
JSON to a worker, and records each :class:`SubmissionOutcome` into the gradebook as it arrives,
one submission per transaction. Workers run the same sandbox as local grading and never see
the gradebook or any other submission.

Versions: every task carries ``course_version = course_fingerprint(task)`` (course_lib's source
and the test cells). A worker computes its own and refuses a task that differs
(:class:`StaleWorkerError`, naming the worker: nothing is recorded); the client also asks every
worker up front (``client.run``) and sends no task to a stale one. Faults: a task whose worker
dies is rescheduled by dask up to ``ALLOWED_FAILURES`` times, an exception is retried
``RETRIES`` times; then the submission is recorded ``grader-failed`` (as the local pool records
its own failures) and the next run grades it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass

from .autograde import (Autograder, SubmissionResult, course_fingerprint, grade_task,
                        protections_available)
from .protocol import CheckerResult, Status, SubmissionOutcome, SubmissionTask, WorkerResult

#: statuses of a submission the cluster could not grade (the next run grades it again)
CLUSTER_FAILURES = {Status.GRADER_FAILED.value, "stale-worker"}
RETRIES = 2
#: worker deaths a task survives before it is given up (dask's ``allowed-failures``)
ALLOWED_FAILURES = 2


class StaleWorkerError(RuntimeError):
    """A worker whose course version differs from the task's (it must not grade)."""


@dataclass
class WorkerReply:
    """What a worker sends back for one task: who graded it, and the outcome as JSON."""

    worker: str
    outcome: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "WorkerReply":
        return cls(**json.loads(text))


@dataclass
class WorkerCheck:
    """A worker's answer to the up-front check: who, its course fingerprint, its sandbox."""

    name: str
    fingerprint: str
    protections: dict

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "WorkerCheck":
        return cls(**json.loads(text))


def parse_scheduler(spec: str) -> tuple:
    """``"local:N"`` -> ("local", N); ``"tcp://HOST:PORT"`` (or tls://) -> ("remote", spec)."""
    if isinstance(spec, str) and spec.startswith("local:"):
        n = spec[len("local:"):]
        if n.isdigit() and int(n) > 0:
            return "local", int(n)
    elif isinstance(spec, str) and spec.split("://")[0] in ("tcp", "tls") and ":" in \
            spec.split("://", 1)[-1]:
        return "remote", spec
    raise ValueError(f"scheduler: expected tcp://HOST:PORT or local:N (N >= 1), got {spec!r}")


def _worker_name(w=None) -> str:
    from distributed import get_worker

    w = w or get_worker()
    return f"{w.address} (host {socket.gethostname()}, pid {os.getpid()})"


_SLOTS: dict = {}
_SLOTS_LOCK = threading.Lock()


def _slot(jobs):
    """At most ``jobs`` submissions at once in this worker process (None: no cap)."""
    if jobs is None:
        return contextlib.nullcontext()
    with _SLOTS_LOCK:
        return _SLOTS.setdefault(jobs, threading.BoundedSemaphore(jobs))


def grade_remote(task_json: str, jobs=None) -> str:
    """The dask task: check the course version, grade one submission, return a WorkerReply.

    Raises StaleWorkerError when this worker's ``course_fingerprint`` differs from the task's.
    """
    task = SubmissionTask.from_json(task_json)
    mine = course_fingerprint(task)
    if mine != task.course_version:
        raise StaleWorkerError(
            f"worker {_worker_name()} runs another course version: its course_lib and test "
            f"cells hash to {mine[:12]}, the instructor's to {task.course_version[:12]}; "
            "restart it from the instructor's checkout")
    with _slot(jobs):
        outcome = grade_task(task)
    return WorkerReply(worker=_worker_name(), outcome=outcome.to_json()).to_json()


def check_worker(task_json: str, dask_worker=None) -> str:
    """Run on every worker up front (``client.run`` passes ``dask_worker``): a WorkerCheck."""
    task = SubmissionTask.from_json(task_json)
    return WorkerCheck(name=_worker_name(dask_worker), fingerprint=course_fingerprint(task),
                       protections=protections_available()).to_json()


def _connect(scheduler: str, jobs):
    """(client, cluster or None); ValueError when the scheduler cannot be reached."""
    import dask
    from distributed import Client, LocalCluster

    kind, arg = parse_scheduler(scheduler)
    cluster = client = None
    try:
        if kind == "local":
            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
                threads = jobs or max(1, (os.cpu_count() or 1) // arg)
                cluster = LocalCluster(n_workers=arg, threads_per_worker=threads,
                                       processes=True, dashboard_address=None,
                                       host="127.0.0.1")
            client = Client(cluster)
        else:
            client = Client(arg, timeout="10s")
        client.wait_for_workers(1, timeout=60)
    except (OSError, TimeoutError) as exc:
        for c in (client, cluster):
            if c is not None:
                c.close()
        raise ValueError(f"scheduler: cannot use {scheduler!r}: {type(exc).__name__}: {exc}")
    return client, cluster


def _check_workers(client, sample: SubmissionTask) -> tuple:
    """(addresses of workers at the client's version, messages naming the stale ones,
    the protections every good worker has)."""
    replies = client.run(check_worker, sample.to_json(), on_error="return")
    good, stale, prot = [], [], None
    for addr, rep in sorted(replies.items()):
        try:  # a worker too old to answer in kind is as stale as one that answers wrong
            rep = rep if isinstance(rep, BaseException) else WorkerCheck.from_json(rep)
        except (TypeError, ValueError) as exc:
            rep = exc
        if isinstance(rep, BaseException):
            stale.append(f"worker {addr} could not be checked: {type(rep).__name__}: {rep}")
        elif rep.fingerprint != sample.course_version:
            stale.append(f"worker {rep.name} runs another course version "
                         f"({rep.fingerprint[:12]}, the instructor's is "
                         f"{sample.course_version[:12]}): no task sent to it; restart it "
                         "from the instructor's checkout")
        else:
            good.append(addr)
            p = rep.protections
            prot = p if prot is None else {k: v and p.get(k, False) for k, v in prot.items()}
    return good, stale, prot or {}


def _failure(task: SubmissionTask, exc: BaseException):
    """A submission the cluster gave up on: a stale-worker row (nothing recorded), or the
    SubmissionOutcome of a grader failure (recorded grader-failed, regraded next run)."""
    if isinstance(exc, StaleWorkerError):
        return SubmissionResult(student=task.student, status="stale-worker", reason=str(exc))
    name = type(exc).__name__
    why = (f"its worker died {ALLOWED_FAILURES + 1} times" if name == "KilledWorker"
           else f"failed {RETRIES + 1} times")
    return SubmissionOutcome(
        student=task.student, assignment=task.assignment, course_version=task.course_version,
        fingerprint=task.fingerprint, worker=WorkerResult(), checker=CheckerResult(),
        error=f"{why} on the cluster ({name}: {str(exc)[:300]}); the next run grades it")


@contextlib.contextmanager
def _sigint_deferred():
    """Hold Ctrl-C while one submission is recorded, so a record is never half-written."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = signal.signal(signal.SIGINT, lambda *a: got.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if got:
            raise KeyboardInterrupt


def _record(ag, gb, task, fut, counts: Counter) -> SubmissionResult:
    """One arrived future into the gradebook (one transaction), or a stale-worker row."""
    if fut.status == "finished":
        reply = WorkerReply.from_json(fut.result())
        counts[reply.worker.split(" ")[0]] += 1
        outcome = SubmissionOutcome.from_json(reply.outcome)
    else:
        outcome = _failure(task, fut.exception() if fut.status == "error"
                           else RuntimeError(fut.status))
        if isinstance(outcome, SubmissionResult):
            return outcome
    try:
        with _sigint_deferred():
            return ag.record_outcome(gb, outcome)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # never lose the run: this submission is regraded next time
        gb.db.rollback()
        return SubmissionResult(student=task.student, status=Status.GRADER_FAILED.value,
                                reason=f"recording failed: {type(exc).__name__}: {exc}")


def grade_on_cluster(ag, scheduler: str, students=None, force: bool = False,
                     progress: bool = True, jobs=None) -> dict:
    """Grade ``ag``'s assignment on the cluster at ``scheduler`` (see the module docstring).

    ``jobs``: submissions at once per worker (local:N: its threads; a remote worker grades at
    most min(jobs, its --nthreads)). Returns Autograder.run's dict plus ``workers`` (address
    -> submissions graded), ``stale`` (messages naming refused workers) and ``where``.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs: expected a positive integer, got {jobs!r}")
    parse_scheduler(scheduler)
    tasks, results = ag.prepare(students=students, force=force)
    n_skipped = len(results)
    client, cluster = _connect(scheduler, jobs)
    counts, t0, stale, prot = Counter(), time.monotonic(), [], {}
    try:
        good = list(client.scheduler_info()["workers"])
        if tasks:
            good, stale, prot = _check_workers(client, tasks[0])
        where = f"{len(good)} workers of {scheduler}"
        if tasks and not good:
            results += [_failure(t, StaleWorkerError("no worker at the instructor's course "
                                                     "version: " + "; ".join(stale)))
                        for t in tasks]
            tasks = []
        restrict = {"workers": good, "allow_other_workers": False} if stale else {}
        futs = {client.submit(grade_remote, t.to_json(), None if cluster else jobs,
                              retries=RETRIES, pure=False, **restrict): t for t in tasks}
        bar = tqdm(total=len(futs), desc=f"autograde {ag.assignment} on {scheduler}",
                   unit="sub", disable=not progress, file=sys.stderr)
        with ag.course.gradebook() as gb:
            try:
                for fut in as_completed(list(futs)):
                    results.append(_record(ag, gb, futs[fut], fut, counts))
                    bar.update(1)
            except KeyboardInterrupt:
                client.cancel(list(futs))
                bar.close()
                print(f"interrupted: {len(results) - n_skipped} of {len(futs)} submissions "
                      "recorded; run the same command again to grade the rest", file=sys.stderr)
                raise SystemExit(130)
            bar.close()
            results.sort(key=lambda r: r.student)
            problems = ag.finish(gb, results)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return {"results": results, "integrity": problems, "wall_s": time.monotonic() - t0,
            "graded": len(futs), "skipped": n_skipped, "protections": prot or
            protections_available(), "workers": dict(counts), "stale": stale, "where": where}
