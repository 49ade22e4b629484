"""Grading on a dask cluster: ``--scheduler local:2`` vs the local pool with ``--jobs 2``.

n generated submissions of the tiny fixture assignment (tests/autograder_fixtures; correct,
buggy and broken mixed, no infinite loops so that waiting on time limits does not hide the
overhead) are collected once, graded by the local pool (``Autograder.run``, jobs=2), then
regraded (``force``) on a LocalCluster of 2 worker processes x 1 thread
(``cluster.grade_on_cluster``): both hold 2 submissions at once. The cluster's start is timed
apart from its grading. Every gradebook write is timed (one writer, SQLite), and the write's
cost is then measured in a gradebook filled with ``--rows`` more submissions (default 5,000),
since a write gets slower as the gradebook grows.

Prints submissions/min of both, their ratio, the cluster's overhead per submission (the slot
time per submission, wall x slots / n, of the cluster minus that of the pool; target
<= 0.3 s), the per-task cost of dask alone (no-op tasks with the same payload), and a paper
projection for 10,000 submissions on 8 workers x 16 cores from those figures.

    PATH=.venv/bin:$PATH .venv/bin/python benchmarks/bench_cluster.py [--n 200] [--rows 5000]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "autograder_fixtures"
SLOTS = 2


def load_fixtures():
    spec = importlib.util.spec_from_file_location("ag_submissions", FIX / "submissions.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def mix(subs, n: int) -> dict:
    """n submissions: about half correct, a quarter buggy, the rest broken or misbehaving."""
    base = subs.cases()
    kinds = (["good"] * 8 + ["bug"] * 4 + ["hidden-fail", "syntax", "sysexit", "osexit",
             "edited", "retyped", "zoë-ünïcode", "corrupt"])
    return {f"s{i:03d}-{kinds[i % len(kinds)]}": base[kinds[i % len(kinds)]] for i in range(n)}


def make_course(tmp: Path, n: int):
    from course_lib.autograde.course import Course

    subs = load_fixtures()
    shutil.copytree(FIX / "course", tmp / "course")
    subs.write_submissions(tmp / "incoming", mix(subs, n))
    got = subprocess.run([sys.executable, "-m", "course_lib.autograde", "--course-dir",
                          str(tmp / "course"), "collect", "tiny", str(tmp / "incoming")],
                         capture_output=True, text=True)
    if got.returncode not in (0, 1):  # 1: some submission was unreadable (the corrupt kind)
        raise SystemExit(f"collect failed (exit {got.returncode}): {got.stderr[-2000:]}")
    return Course(tmp / "course")


def timed_records(ag) -> list:
    """Wrap ag.record_outcome so that every gradebook write is timed, in order."""
    times, inner = [], ag.record_outcome

    def record_outcome(gb, outcome):
        t = time.perf_counter()
        try:
            return inner(gb, outcome)
        finally:
            times.append(time.perf_counter() - t)
    ag.record_outcome = record_outcome
    return times


def _echo(task_json: str) -> str:
    return task_json[:20000]  # about an outcome's size (the executed notebook)


def dask_round_trip(payload: str, n: int) -> tuple:
    """(wall seconds, CPU seconds of this process) per no-op task carrying ``payload``.

    LocalCluster runs its scheduler in this process, so the CPU time is the scheduler's and the
    client's together: an upper bound of the scheduler's own cost per task.
    """
    from distributed import Client, LocalCluster, as_completed

    with LocalCluster(n_workers=SLOTS, threads_per_worker=1, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        client.submit(_echo, "warm-up", pure=False).result()
        t, cpu = time.perf_counter(), time.process_time()
        for _ in as_completed([client.submit(_echo, payload, pure=False) for _ in range(n)]):
            pass
        return (time.perf_counter() - t) / n, (time.process_time() - cpu) / n


def run(n: int, rows: int) -> dict:
    from course_lib.autograde.autograde import Limits
    from course_lib.autograde.cluster import Autograder, grade_on_cluster

    limits = Limits(cell_timeout=5, notebook_timeout=30, memory_mb=1024, nproc=32)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        course = make_course(Path(tmp), n)
        pool = Autograder(course, "tiny", jobs=SLOTS, limits=limits).run(progress=False)
        ag = Autograder(course, "tiny", jobs=SLOTS, limits=limits)
        writes = timed_records(ag)
        t = time.perf_counter()
        dask = grade_on_cluster(ag, f"local:{SLOTS}", force=True, progress=False, jobs=1)
        start_s = time.perf_counter() - t - dask["wall_s"]
        same = [(r.student, r.score) for r in pool["results"]] == \
            [(r.student, r.score) for r in dask["results"]]
        payload = ag.prepare(force=True)[0][0].to_json()
        growth = write_growth(course, ag, rows)
    return {"n": n, "pool_s": pool["wall_s"], "dask_s": dask["wall_s"], "start_s": start_s,
            "writes": writes, "growth": growth, "same": same,
            "integrity": pool["integrity"] + dask["integrity"],
            "workers": dask["workers"], "task_bytes": len(payload),
            "dask_task": dask_round_trip(payload, n)}


def write_growth(course, ag, rows: int) -> list:
    """[(rows already in the gradebook, median seconds of one submission's grade write)].

    Fills the gradebook with ``rows`` synthetic submissions through the same ``write_grades``
    that records every real one, timing the last 50 writes before each checkpoint.
    """
    from course_lib.autograde.scoring import NotebookGrade, write_grades

    grades = [NotebookGrade(name=i.name, scores={g: 0.0 for g in i.grade_cells})
              for i in ag.infos()]
    marks = (rows // 5, rows)
    out, done, last = [], 0, []
    with course.gradebook() as gb:
        for mark in marks:
            while done < mark:
                t = time.perf_counter()
                write_grades(gb, "tiny", f"filler-{done:06d}", grades)
                last = (last + [time.perf_counter() - t])[-50:]
                done += 1
            out.append((done, statistics.median(last)))
    return out


def write_fit(growth: list) -> tuple:
    """(write seconds at the first checkpoint, seconds more per row already in the gradebook),
    the line through the first and last checkpoints."""
    (r0, w0), (r1, w1) = growth[0], growth[-1]
    return w0, max(0.0, (w1 - w0) / (r1 - r0)) if r1 > r0 else 0.0


def projection(m: dict, subs: int = 10_000, slots: int = 8 * 16) -> list:
    """Lines of the paper projection for ``subs`` submissions on ``slots`` grading slots."""
    per = m["dask_s"] * SLOTS / m["n"]  # slot-seconds per submission on the cluster
    w0, slope = write_fit(m["growth"])
    w_mean = w0 + slope * subs / 2  # the average write while the gradebook fills to `subs`
    w_end = w0 + slope * subs
    rate = slots / per  # submissions/s the cluster produces
    busy = rate * w_mean
    wall_t, cpu_t = m["dask_task"]
    grading, writing = subs * per / slots, subs * w_mean
    (r1, w1) = m["growth"][-1]
    full_at = subs_at(w0, slope, per, slots)
    return [
        f"per submission (measured on the cluster, slot-seconds): {per:.2f} s; one gradebook "
        f"write: {statistics.median(m['writes']) * 1e3:.0f} ms in this run's regrade (rows that "
        f"exist; notebook and side car included); a new submission's grades "
        f"{w0 * 1e3:.1f} ms at {m['growth'][0][0]} rows, {w1 * 1e3:.1f} ms at {r1} rows "
        f"({slope * 1e6:.2f} us more per row)",
        f"{subs} submissions on {slots} slots: {grading / 60:.1f} min of grading (if a 16-core "
        f"worker grades 16 at the speed of one slot here), {writing / 60:.1f} min of gradebook "
        f"writes (one at a time, {w_end * 1e3:.0f} ms each at the end): wall ~"
        f"{max(grading, writing) / 60:.1f} min + the workers' start",
        f"scheduler: {rate:.1f} tasks/s x {cpu_t * 1e3:.1f} ms CPU per task (client + "
        f"scheduler, measured; {wall_t * 1e3:.1f} ms wall) = {rate * cpu_t:.1%} of one core",
        f"gradebook: {rate:.1f} writes/s arrive, one writer takes {1 / w_mean:.0f}/s -> busy "
        f"{busy:.0%} of the time: " + ("one SQLite writer keeps up" if busy < 0.5 else
                                      "the single writer, not the cluster, limits the run"),
        f"one writer keeps up (busy under 50%) up to ~{0.5 * per / w_mean:.0f} slots; beyond "
        "that, recording must be spread over several writers, which SQLite's one-writer lock "
        "does not allow: nbgrader's gradebook on PostgreSQL (db_url)"
        + (f"; on {slots} slots: the write time did not grow in this run" if full_at is None
           else f"; on {slots} slots: from the start" if full_at == 0
           else f"; on {slots} slots a gradebook reaches that point at ~{full_at:,} submissions"),
    ]


def subs_at(med: float, slope: float, per: float, slots: int):
    """Gradebook rows at which one write takes half of the time between arriving results
    (0: already at the first write; None: the write time did not grow)."""
    budget = 0.5 * per / slots
    return None if slope <= 0 else max(0, int((budget - med) / slope))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="submissions (default 200)")
    ap.add_argument("--rows", type=int, default=5000,
                    help="gradebook rows the write cost is measured up to (default 5000)")
    args = ap.parse_args(argv)
    if args.n < 10:
        raise SystemExit("--n: expected at least 10 submissions")
    m = run(args.n, max(args.rows, 250))
    rp, rd = 60 * m["n"] / m["pool_s"], 60 * m["n"] / m["dask_s"]
    over = (m["dask_s"] - m["pool_s"]) * SLOTS / m["n"]
    print(f"{m['n']} submissions, {SLOTS} at once; same scores: {m['same']}; "
          f"gradebook sound: {not m['integrity']}; per worker: {m['workers']}\n")
    print("| grader | wall (s) | submissions/min |\n| --- | --- | --- |")
    print(f"| local pool, --jobs {SLOTS} | {m['pool_s']:.1f} | {rp:.1f} |")
    print(f"| dask local:{SLOTS} x 1 thread | {m['dask_s']:.1f} | {rd:.1f} |\n")
    print(f"ratio cluster/pool (submissions/min): {rd / rp:.2f}")
    print(f"cluster overhead per submission: {over:+.3f} s (target <= 0.3 s)")
    print(f"dask alone: {m['dask_task'][0] * 1e3:.1f} ms wall, {m['dask_task'][1] * 1e3:.1f} ms "
          f"client+scheduler CPU per no-op task with the "
          f"{m['task_bytes']}-byte task; LocalCluster start {m['start_s']:.1f} s (not counted)")
    print("\nprojection, 10,000 submissions on 8 workers x 16 cores:")
    print("\n".join("- " + line for line in projection(m)))
    return 0 if m["same"] and not m["integrity"] else 1


if __name__ == "__main__":
    sys.exit(main())
