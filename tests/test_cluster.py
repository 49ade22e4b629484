"""Grading on a real dask.distributed cluster on 127.0.0.1 (``autograde --scheduler``).

Each test starts a ``dask scheduler`` and ``dask worker`` processes on free ports (always
killed at the end) and grades a few fixture submissions of the tiny assignment
(tests/autograder_fixtures) through the CLI, as an instructor would.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from course_lib.autograde.autograde import probe_namespaces
from course_lib.autograde.course import Course
from course_lib.autograde.scoring import integrity_check

distributed = pytest.importorskip("distributed")
pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "autograder_fixtures"
_spec = importlib.util.spec_from_file_location("ag_submissions", FIX / "submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)

LIMITS = ["--timeout", "5", "--notebook-timeout", "20", "--memory-mb", "1024", "--nproc", "32",
          "--quiet"]
SLEEPY = subs.GOOD_ADD + "\nimport time\ntime.sleep(3)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and workers as separate processes, each in its own process group."""

    def __init__(self, tmp: Path):
        self.tmp, self.procs, self.workers = tmp, [], {}
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        env = dict(os.environ, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="2")
        self._start(["scheduler", "--host", "127.0.0.1", "--port",
                     self.address.rsplit(":", 1)[1], "--no-dashboard"], env, "scheduler")

    def _start(self, argv, env, name):
        log = open(self.tmp / f"{name}.log", "wb")
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "dask", *argv], env=env, cwd=self.tmp, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True))
        return self.procs[-1]

    def add_worker(self, name: str, pythonpath: Path = REPO) -> str:
        """Start a worker (no nanny: a killed worker stays dead) importing from pythonpath."""
        env = dict(os.environ, PYTHONPATH=str(pythonpath))
        before = set(self.client_info())
        proc = self._start(["worker", self.address, "--nthreads", "1", "--no-nanny",
                            "--host", "127.0.0.1", "--no-dashboard", "--name", name], env, name)
        for _ in range(600):
            new = set(self.client_info()) - before
            if new:
                self.workers[new.pop()] = proc
                return list(self.workers)[-1]
            assert proc.poll() is None, (self.tmp / f"{name}.log").read_text()
            time.sleep(0.1)
        raise AssertionError(f"worker {name} did not join")

    def client_info(self) -> dict:
        with distributed.Client(self.address, timeout="30s") as c:
            return c.scheduler_info()["workers"]

    def close(self):
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.close()


def make_course(tmp: Path, names: dict, name: str = "course") -> Course:
    """A course folder with the chosen fixture students collected (name -> builder)."""
    course_dir = tmp / name
    shutil.copytree(FIX / "course", course_dir)
    cases = subs.cases(course_dir=str(course_dir), repo=str(REPO))
    chosen = {s: cases[b] if isinstance(b, str) else (b, 0, "") for s, b in names.items()}
    subs.write_submissions(tmp / f"{name}-incoming", chosen)
    rc, out = rnn_course(course_dir, "collect", "tiny", tmp / f"{name}-incoming")
    # collect exits 1 when a student lacks a complete submission (a corrupt notebook is
    # collected as unreadable, to be graded 0)
    assert rc == (1 if "corrupt" in names.values() else 0), out
    return Course(course_dir)


def rnn_course(course_dir, *argv, **popen) -> tuple:
    cmd = [sys.executable, "-m", "course_lib.autograde", "--course-dir", str(course_dir),
           *map(str, argv)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ,
                       PYTHONPATH=str(REPO)), timeout=600)
    return p.returncode, p.stdout + p.stderr


def gradebook_rows(course: Course) -> dict:
    """student -> {cell: score}, and the gradebook's integrity problems."""
    with course.gradebook() as gb:
        rows = {s.student.id: {g.name: g.score for nb in s.notebooks for g in nb.grades}
                for s in gb.find_assignment("tiny").submissions}
        return rows, integrity_check(gb, "tiny")


def side_cars(course: Course) -> dict:
    out = {}
    for p in sorted((course.root / "autograded").glob("*/tiny/.rnn-course.json")):
        d = json.loads(p.read_text())
        out[p.parent.parent.name] = (d["score"], d["status"])
    return out


def outputs(course: Course, student: str) -> str:
    """The cell outputs of a student's autograded notebook, as one string."""
    nb = json.loads((course.autograded_dir(student, "tiny") / "tiny.ipynb").read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)


def test_mixed_class_scores_identical_to_local_grading(cluster, tmp_path):
    names = {"good": "good", "bug": "bug", "snoop": "snoop", "corrupt": "corrupt"}
    local, remote = make_course(tmp_path, names, "local"), make_course(tmp_path, names, "remote")
    for w in ("w1", "w2"):
        cluster.add_worker(w)
    rc_l, out_l = rnn_course(local.root, "autograde", "tiny", "--jobs", "2", *LIMITS)
    rc_r, out_r = rnn_course(remote.root, "autograde", "tiny", "--scheduler", cluster.address,
                             *LIMITS)
    assert rc_l == 0 and rc_r == 0, out_l + out_r
    assert gradebook_rows(remote) == gradebook_rows(local)
    assert side_cars(remote) == side_cars(local) == {
        "bug": (1.0, "tests-failed"), "corrupt": (0.0, "unreadable"), "good": (3.0, "ok"),
        "snoop": (3.0, "ok")}
    # the summary counts what each worker graded, and both took part
    counts = [int(n) for n in re.findall(r"^tcp://127\.0\.0\.1:\d+\s+(\d+)$", out_r, re.M)]
    assert sorted(counts) and sum(counts) == 4 and len(counts) == 2, out_r
    if probe_namespaces():  # the worker's sandbox hides the course and blocks the network
        out = outputs(remote, "snoop")
        assert "LEAK" not in out and out.count("blocked") == 5, out
        assert "CONNECTED" not in out and out.count("no network") == 2, out


def test_killed_worker_and_interrupted_client_lose_nothing(cluster, tmp_path):
    names = {f"s{i}": subs._set("add", SLEEPY) for i in range(4)}
    course = make_course(tmp_path, names)
    cluster.add_worker("w1")
    cluster.add_worker("w2")
    args = ["autograde", "tiny", "--scheduler", cluster.address, *LIMITS]
    # 1. Ctrl-C once the first submission is recorded: the rest is left for the next run
    cmd = [sys.executable, "-m", "course_lib.autograde", "--course-dir", str(course.root), *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    while not side_cars(course) and p.poll() is None:
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    out1 = p.communicate(timeout=120)[0]
    first = side_cars(course)
    assert p.returncode == 130 and "run the same command again" in out1, out1
    assert 1 <= len(first) < 4 and gradebook_rows(course)[1] == []
    # 2. rerun and SIGKILL a worker while it grades: its submission is graded elsewhere
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    victim = None
    while victim is None and p.poll() is None:
        with distributed.Client(cluster.address, timeout="30s") as c:
            busy = [w for w, keys in c.processing().items() if keys]
        victim = busy[0] if busy else None
        time.sleep(0.2)
    time.sleep(1.5)  # inside the sandbox's sleep
    cluster.workers[victim].send_signal(signal.SIGKILL)
    out2 = p.communicate(timeout=300)[0]
    assert p.returncode == 0, out2
    assert f"graded {4 - len(first)}, skipped {len(first)}" in out2
    rows, problems = gradebook_rows(course)
    assert problems == [] and sorted(rows) == sorted(names)
    assert all(sum(r.values()) == 3.0 for r in rows.values()), rows
    assert side_cars(course) == {s: (3.0, "ok") for s in names}


def test_worker_from_an_old_checkout_is_refused(cluster, tmp_path):
    course = make_course(tmp_path, {"good": "good", "bug": "bug"})
    old = tmp_path / "old-checkout"
    shutil.copytree(REPO / "course_lib", old / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    checks = old / "course_lib" / "grading" / "checks.py"
    checks.write_text(checks.read_text() + "\n# one test changed since\n")
    stale = cluster.add_worker("stale", pythonpath=old)
    cluster.add_worker("fresh")
    rc, out = rnn_course(course.root, "autograde", "tiny", "--scheduler", cluster.address,
                         *LIMITS)
    # up front: the stale worker is named, gets nothing; the fresh one grades everyone
    assert rc == 1, out
    assert re.search(rf"STALE WORKER: worker {stale} .*runs another course version", out), out
    assert side_cars(course) == {"bug": (1.0, "tests-failed"), "good": (3.0, "ok")}
    # a task that reaches it all the same (a worker that joined later) is refused by the worker
    from course_lib.autograde.cluster import Autograder, StaleWorkerError, grade_remote

    task = Autograder(course, "tiny").prepare(force=True)[0][0]
    with distributed.Client(cluster.address, timeout="30s") as c:
        fut = c.submit(grade_remote, task.to_json(), workers=[stale], pure=False)
        with pytest.raises(StaleWorkerError, match=rf"worker {stale} .*another course version"):
            fut.result(timeout=120)


def test_bad_scheduler_and_jobs_are_clear_errors(tmp_path):
    course = make_course(tmp_path, {"good": "good"})
    for bad, msg in [("local:0", "scheduler: expected tcp://HOST:PORT or local:N"),
                     ("127.0.0.1:8786", "scheduler: expected tcp://HOST:PORT"),
                     (f"tcp://127.0.0.1:{_free_port()}", "scheduler: cannot use")]:
        rc, out = rnn_course(course.root, "autograde", "tiny", "--scheduler", bad, *LIMITS)
        assert rc == 2 and msg in out, out
    assert side_cars(course) == {}


def test_jobs_caps_the_submissions_a_worker_grades_at_once():
    from course_lib.autograde.cluster import _slot

    inside, peak, lock, release = [0], [0], threading.Lock(), threading.Event()

    def grade():
        with _slot(2):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            release.wait(30)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=grade) for _ in range(5)]
    for t in threads:
        t.start()
    for _ in range(300):
        if inside[0] == 2:
            break
        time.sleep(0.01)
    time.sleep(0.2)  # time for a third to get in, were the cap not there
    assert inside[0] == 2
    release.set()
    for t in threads:
        t.join(30)
    assert peak[0] == 2 and inside[0] == 0
