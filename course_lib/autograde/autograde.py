"""Grade every submission of an assignment in parallel sandboxes, into the one gradebook.

Each submission runs in its own worker process (:mod:`.sandbox`); a pool of ``jobs`` threads
only waits on those processes. The results come back to the main thread, which alone grades
them and writes the gradebook, one submission per transaction, so a crash, a timeout or a
hostile notebook can cost only its own submission's points and never another row.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from .course import Course
from .grading import grade_notebook, integrity_check, write_grades

SIDE_CAR = ".rnn-course.json"
#: statuses that mean the grader, not the student, failed: never skipped on a rerun
GRADER_FAILURES = {"sandbox-failed"}


@dataclass
class Limits:
    """Resource limits of one submission's sandbox.

    Parameters
    ----------
    cell_timeout : int
        Wall-clock seconds for one cell.
    notebook_timeout : int
        Wall-clock seconds for a whole notebook (its kernel start included).
    memory_mb : int
        Address-space limit of the kernel and every process it starts (RLIMIT_AS).
    nproc : int
        Tasks (threads and processes) the sandbox uid may hold (RLIMIT_NPROC).
    """

    cell_timeout: int = 120
    notebook_timeout: int = 600
    memory_mb: int = 2048
    nproc: int = 64
    fsize_mb: int = 64
    tmp_mb: int = 256
    max_notebook_bytes: int = 16 * 2**20
    max_cell_bytes: int = 256 * 1024
    max_nb_bytes: int = 2 * 2**20

    def __post_init__(self):
        for name in ("cell_timeout", "notebook_timeout", "memory_mb", "nproc"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")


@dataclass
class SubmissionResult:
    """What happened to one submission (one row of the summary)."""

    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "ok"
    reason: str = ""
    notebooks: dict = field(default_factory=dict)  # name -> {"scores", "status", "reason"}
    skipped: bool = False
    wall_s: float = 0.0
    exec_s: float = 0.0  # the cells' own execution time
    startup_s: float = 0.0  # kernel start
    setup_s: float = 0.0  # worker start, namespaces, reading the submission
    protections: list = field(default_factory=list)


_PROBE = {}


def probe_namespaces() -> bool:
    """Whether ``unshare`` can give a worker fresh network, mount and PID namespaces."""
    if "ns" not in _PROBE:
        ok = False
        exe = shutil.which("unshare")
        if exe and os.geteuid() == 0:
            try:
                ok = subprocess.run([exe, "--net", "--mount", "--pid", "--fork", "--mount-proc",
                                     "true"], capture_output=True, timeout=20).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _PROBE["ns"] = ok
    return _PROBE["ns"]


def protections_available() -> dict:
    """Which isolation features this machine gives the sandbox (reported in the summary)."""
    root = os.geteuid() == 0
    ns = probe_namespaces()
    return {
        "network namespace (no network, loopback only)": ns,
        "mount namespace (solutions, gradebook, other students hidden; private /tmp)": ns,
        "PID namespace (every process killed with the worker)": ns,
        "own unprivileged uid per submission": root,
        "process limit RLIMIT_NPROC": root,
        "memory limit RLIMIT_AS": True,
        "per-cell and per-notebook wall-clock limits": True,
        "scores computed outside the student's kernel": True,
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
    for kind in ("mnt", "net", "pid"):
        try:
            out[kind] = os.readlink(f"/proc/self/ns/{kind}")
        except OSError:
            out[kind] = None
    return out


def _needed_paths() -> list:
    """Folders the kernel must be able to read: the interpreter, the venv, course_lib."""
    out = []
    for p in (sys.base_prefix, sys.prefix, Path(__file__).resolve().parents[2]):
        p = os.path.realpath(p)
        if p not in out:
            out.append(p)
    return out


def _hidden_paths(course: Course, assignment: str) -> list:
    """Folders the student's code must not see, minus any that hold code the kernel needs."""
    needed = [Path(p) for p in _needed_paths()]
    cands = [course.root, course.source_dir(assignment).parent]
    if course.db_path is not None:
        cands.append(course.db_path.resolve().parent)
    repo_solutions = Path(__file__).resolve().parents[2] / "solutions"
    cands.append(repo_solutions)
    out = []
    for c in cands:
        c = Path(os.path.realpath(c))
        if not c.is_dir() or str(c) in ("/", "/tmp"):
            continue
        if any(n == c or c in n.parents for n in needed):
            continue
        if str(c) not in out:
            out.append(str(c))
    return out


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
        self._uid_base = 200000 + (os.getpid() % 1000) * 1000
        self._zygote = None
        #: fork workers from a pre-warmed process (saves a Python start-up per submission)
        self.use_zygote = True

    # -- one submission --------------------------------------------------------------------
    def _task(self, student: str, seq: int, infos: list) -> dict:
        c, a = self.course, self.assignment
        sub = c.submitted_dir(student, a)
        files = []
        for p in sorted(sub.rglob("*")):
            if p.is_file() and len(files) < 500:
                files.append([str(p.relative_to(sub)), str(p)])
        # instructor's data files overwrite the student's copies, as in nbgrader autograde
        src = c.source_dir(a)
        have = {f[0]: i for i, f in enumerate(files)}
        for p in sorted(src.rglob("*")):
            rel = str(p.relative_to(src))
            if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in rel:
                if rel in have:
                    files[have[rel]][1] = str(p)
                else:
                    files.append([rel, str(p)])
        root = os.geteuid() == 0
        uid = self._uid_base + (seq % 1000) if root else None
        L = self.limits
        return {
            "student": student, "assignment": a, "uid": uid, "gid": uid,
            "namespaces": self.namespaces, "hide": _hidden_paths(c, a), "files": files,
            "needed": _needed_paths(), "host_ns": _host_ns(),
            "notebooks": [{"name": i.name, "source_cells": i.source_cells,
                           "missing": not (sub / f"{i.name}.ipynb").is_file()} for i in infos],
            "cell_timeout": L.cell_timeout, "notebook_timeout": L.notebook_timeout,
            "memory_mb": L.memory_mb, "nproc": L.nproc, "fsize_mb": L.fsize_mb,
            "tmp_mb": L.tmp_mb, "max_notebook_bytes": L.max_notebook_bytes,
            "max_cell_bytes": L.max_cell_bytes, "max_nb_bytes": L.max_nb_bytes,
        }

    def run_worker(self, task: dict) -> dict:
        """Run one sandbox worker; always returns a result dict (never raises)."""
        jobdir = tempfile.mkdtemp(prefix="rnn-course-job-")
        t0 = time.monotonic()
        try:
            os.chmod(jobdir, 0o711)
            tp = os.path.join(jobdir, "task.json")
            fd = os.open(tp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(task, fh)
            cmd = [sys.executable, "-m", "course_lib.autograde.sandbox", jobdir]
            if task["namespaces"]:
                cmd = [shutil.which("unshare"), "--net", "--mount", "--pid", "--fork",
                       "--mount-proc", "--kill-child"] + cmd
            env = self._worker_env()
            budget = (task["notebook_timeout"] + 30) * max(1, len(task["notebooks"])) + 30
            zyg = self._zygote
            if zyg is not None and zyg.alive and not any(c in jobdir for c in " \n"):
                rc = zyg.run(jobdir, task["namespaces"], budget)
            else:
                rc = self._spawn(cmd, env, jobdir, budget)
            _kill_uid(task.get("uid"))
            try:
                with open(os.path.join(jobdir, "result.json"), encoding="utf-8") as fh:
                    result = json.load(fh)
            except (OSError, ValueError):
                with open(os.path.join(jobdir, "worker.log"), "rb") as fh:
                    fh.seek(max(0, os.path.getsize(fh.name) - 1500))
                    tail = fh.read().decode("utf-8", "replace").strip().splitlines()[-3:]
                reason = f"sandbox worker failed (exit {rc}): " + " | ".join(tail)
                result = {"notebooks": {nb["name"]: {"status": "sandbox-failed",
                                                     "reason": reason, "nb": None}
                                        for nb in task["notebooks"]},
                          "protections": []}
            result["wall_s"] = time.monotonic() - t0
            return result
        except Exception as exc:  # the grader's own failure: record it, never lose the run
            return {"notebooks": {nb["name"]: {"status": "sandbox-failed",
                                               "reason": f"{type(exc).__name__}: {exc}",
                                               "nb": None} for nb in task["notebooks"]},
                    "protections": [], "wall_s": time.monotonic() - t0}
        finally:
            shutil.rmtree(jobdir, ignore_errors=True)

    @staticmethod
    def _spawn(cmd, env, jobdir, budget):
        """A fresh worker process (when no zygote could be started)."""
        with open(os.path.join(jobdir, "worker.log"), "wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            try:
                return proc.wait(timeout=budget)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return "timeout"

    def _worker_env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2])]
            + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        return env

    # -- the gradebook side (main thread only) -----------------------------------------------
    def record(self, gb, student: str, infos: list, result: dict, fingerprint: str):
        import nbformat

        grades = []
        res = SubmissionResult(student=student, wall_s=result.get("wall_s", 0.0),
                               protections=result.get("protections", []),
                               setup_s=result.get("timings", {}).get("setup_s", 0.0))
        reasons, statuses = [], []
        for info in infos:
            rec = result["notebooks"].get(info.name, {"status": "sandbox-failed",
                                                      "reason": "no result", "nb": None})
            ng = grade_notebook(info, rec)
            grades.append(ng)
            res.exec_s += float(rec.get("exec_s", 0.0) or 0.0)
            res.startup_s += float(rec.get("startup_s", 0.0) or 0.0)
            res.notebooks[info.name] = {"scores": ng.scores, "status": ng.status,
                                        "reason": ng.reason, "notes": rec.get("notes", [])}
            if ng.status != "ok":
                statuses.append(ng.status)
            if ng.reason:
                reasons.append(f"{info.name}: {ng.reason}" if len(infos) > 1 else ng.reason)
            notes = rec.get("notes") or []
            if notes:
                reasons.append("repaired: " + ", ".join(notes[:4]))
            dest = self.course.autograded_dir(student, self.assignment)
            dest.mkdir(parents=True, exist_ok=True)
            if rec.get("nb") is not None:
                nbformat.write(nbformat.from_dict(rec["nb"]), str(dest / f"{info.name}.ipynb"))
            elif (dest / f"{info.name}.ipynb").exists():
                (dest / f"{info.name}.ipynb").unlink()
        ts = None
        tsfile = self.course.submitted_dir(student, self.assignment) / "timestamp.txt"
        if tsfile.is_file():
            try:
                from nbgrader.utils import parse_utc

                ts = parse_utc(tsfile.read_text().strip())
            except Exception:
                ts = None
        write_grades(gb, self.assignment, student, grades, timestamp=ts)
        res.score = sum(g.score for g in grades)
        res.max_score = sum(g.max_score for g in grades)
        res.status = statuses[0] if statuses else "ok"
        res.reason = "; ".join(r for r in reasons if r)
        side = {"fingerprint": fingerprint, "score": res.score, "max_score": res.max_score,
                "status": res.status, "reason": res.reason, "notebooks": res.notebooks,
                "protections": res.protections,
                "timings": dict(result.get("timings", {}), wall_s=res.wall_s,
                                exec_s=res.exec_s, setup_s=res.setup_s,
                                startup_s=res.startup_s)}
        dest = self.course.autograded_dir(student, self.assignment)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / SIDE_CAR).write_text(json.dumps(side, indent=1, ensure_ascii=False),
                                     encoding="utf-8")
        return res

    def _already_graded(self, gb, student: str, fingerprint: str):
        side = self.course.autograded_dir(student, self.assignment) / SIDE_CAR
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("fingerprint") != fingerprint or data.get("status") in GRADER_FAILURES:
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
                                max_score=float(sub.max_score), status=data.get("status", "ok"),
                                reason=data.get("reason", ""), skipped=True,
                                notebooks=data.get("notebooks", {}))

    # -- the whole run ---------------------------------------------------------------------
    def run(self, students=None, force: bool = False, progress: bool = True) -> dict:
        """Grade ``students`` (default: every submitted one).

        Returns
        -------
        dict with ``results`` (list of SubmissionResult, sorted by student), ``integrity``
        (list of problems, empty when sound), ``protections`` and ``graded``/``skipped``.
        """
        from tqdm.auto import tqdm

        c, a = self.course, self.assignment
        c.ensure_assignment(a)
        infos = c.notebook_infos(a)
        submitted = c.submitted_students(a)
        if students:
            unknown = [s for s in students if s not in submitted]
            if unknown:
                raise ValueError(f"student: no submission of {a!r} from {unknown}")
            submitted = [s for s in submitted if s in students]
        results, todo = [], []
        with c.gradebook() as gb:
            for s in submitted:
                fp = _fingerprint(c.submitted_dir(s, a))
                prior = None if force else self._already_graded(gb, s, fp)
                if prior is not None:
                    results.append(prior)
                else:
                    todo.append((s, fp))
            bar = tqdm(total=len(todo), desc=f"autograde {a}", unit="sub", disable=not progress,
                       file=sys.stderr)
            t0 = time.monotonic()
            if todo and self.use_zygote:
                from .zygote import Zygote

                try:
                    self._zygote = Zygote(self._worker_env())
                except Exception:
                    self._zygote = None  # plain worker processes instead
            record_s = 0.0
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                futs = {pool.submit(self.run_worker, self._task(s, i, infos)): (s, fp)
                        for i, (s, fp) in enumerate(todo)}
                for fut in as_completed(futs):
                    s, fp = futs[fut]
                    try:
                        t_rec = time.monotonic()
                        results.append(self.record(gb, s, infos, fut.result(), fp))
                        record_s += time.monotonic() - t_rec
                    except Exception as exc:
                        gb.db.rollback()
                        results.append(SubmissionResult(
                            student=s, status="sandbox-failed",
                            reason=f"recording failed: {type(exc).__name__}: {exc}"))
                    bar.update(1)
            bar.close()
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None
            wall = time.monotonic() - t0
            problems = integrity_check(gb, a)
        results.sort(key=lambda r: r.student)
        return {"results": results, "integrity": problems, "wall_s": wall,
                "record_s": record_s if todo else 0.0,
                "graded": len(todo), "skipped": len(results) - len(todo),
                "protections": protections_available()}
