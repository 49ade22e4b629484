"""Autograder throughput: ``rnn-course autograde --jobs 2`` vs plain sequential ``nbgrader autograde``.

40 generated submissions of the tiny fixture assignment (tests/autograder_fixtures), correct,
buggy and hostile mixed (infinite loops, sys.exit, os._exit, syntax errors, deleted and edited
test cells, huge output), are collected once; both graders then start from the same gradebook
state (a copy of gradebook.db, no autograded/ folder) and run as subprocesses, start-up included.
Memory and fork bombs are left out: plain nbgrader has no limits and would hurt the machine;
so is a duplicated test cell, which makes plain nbgrader abort the whole run (its
CheckCellMetadata rejects the de-duplicated cell: "old version of the nbgrader metadata").
Rates count the submissions each grader actually graded (an autograded notebook written).

Prints submissions per minute for both and their ratio (target >= 1.7x on 2 cores), and the
per-submission overhead of rnn-course beyond the notebook's own execution time (target
<= 1.5 s): the worker's wall time (process and kernel start, sandbox, restore, result) minus the
time its cells ran.

    .venv/bin/python benchmarks/bench_autograde.py [--n 40] [--jobs 2] [--compare DIR]

``--compare DIR`` also grades the same submissions with the rnn-course of another checkout
(e.g. a ``git worktree`` of the commit before a change), interleaved with this one, and prints
the time per submission of both and their ratio: the cost of a change measured in one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "autograder_fixtures"


def load_fixtures():
    spec = importlib.util.spec_from_file_location("ag_submissions", FIX / "submissions.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def mix(subs, n: int) -> dict:
    """n submissions: about 40 % correct, 20 % buggy, 40 % hostile or broken."""
    base = subs.cases()
    kinds = (["good"] * 8 + ["bug"] * 4 + ["hidden-fail"] * 1 + ["loop"] * 2 + ["sysexit", "osexit",
             "syntax", "edited", "retyped", "huge-output", "zoë-ünïcode"])
    out = {}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out[f"s{i:02d}-{kind}"] = base[kind]
    return out


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, cwd, env) -> tuple:
    """(wall seconds, CPU seconds of the command and every process it waited for)."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - c0
    if proc.returncode not in (0, 1):
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{cmd[0]} failed with exit {proc.returncode}")
    return wall, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=5, help="per-cell timeout for both graders")
    ap.add_argument("--compare", metavar="DIR", default=None,
                    help="another checkout whose rnn-course is timed on the same submissions")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of (this, DIR) with --compare")
    args = ap.parse_args(argv)
    subs = load_fixtures()
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
        tmp = Path(tmp)
        course = tmp / "course"
        shutil.copytree(FIX / "course", course)
        with open(course / "nbgrader_config.py", "a") as fh:
            fh.write(f"c.Execute.timeout = {args.timeout}\n")
        subs.write_submissions(tmp / "incoming", mix(subs, args.n))
        rnn = [sys.executable, "-m", "course_lib.autograde", "--course-dir", str(course)]
        run(rnn + ["collect", "tiny", str(tmp / "incoming")], REPO, env)
        shutil.copy(course / "gradebook.db", tmp / "state.db")

        # plain nbgrader, sequential
        t_nbg, cpu_nbg = run([str(Path(bindir) / "nbgrader"), "autograde", "tiny", "--force"],
                             course, env)

        n_nbg = len(list((course / "autograded").glob("*/tiny/tiny.ipynb")))

        # the same state again, then rnn-course
        shutil.copy(tmp / "state.db", course / "gradebook.db")
        shutil.rmtree(course / "autograded", ignore_errors=True)
        t_rnn, cpu_rnn = run(rnn + ["autograde", "tiny", "--jobs", str(args.jobs), "--force", "--quiet",
                           "--timeout", str(args.timeout)], REPO, env)
        n_rnn = len(list((course / "autograded").glob("*/tiny/tiny.ipynb")))
        if args.compare:
            compare(args, course, tmp, rnn, env, t_rnn)
        walls, execs, setups, starts = [], [], [], []
        for side in sorted((course / "autograded").glob("*/tiny/.rnn-course.json")):
            d = json.loads(side.read_text(encoding="utf-8"))
            t = d.get("timings", {})
            if t:
                walls.append(t["wall_s"])
                execs.append(t["exec_s"])
                setups.append(t["setup_s"])
                starts.append(t["startup_s"])
    n = args.n
    rate_nbg, rate_rnn = 60 * n_nbg / t_nbg, 60 * n_rnn / t_rnn
    over = [w - e for w, e in zip(walls, execs)]
    print(f"autograde benchmark: {n} submissions, tiny assignment, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'grader':34s} {'graded':>6s} {'wall s':>8s} {'subs/min':>9s} {'CPU s':>7s} "
          f"{'CPU s/sub':>9s}")
    print(f"{'nbgrader autograde (sequential)':34s} {n_nbg:6d} {t_nbg:8.1f} {rate_nbg:9.1f} "
          f"{cpu_nbg:7.1f} {cpu_nbg / max(1, n_nbg):9.2f}")
    print(f"{f'rnn-course autograde --jobs {args.jobs}':34s} {n_rnn:6d} {t_rnn:8.1f} "
          f"{rate_rnn:9.1f} {cpu_rnn:7.1f} {cpu_rnn / max(1, n_rnn):9.2f}")
    print(f"speed-up: {rate_rnn / rate_nbg:.2f}x (target >= 1.7x)")
    if over:
        print(f"per-submission overhead beyond cell execution: median {statistics.median(over):.2f}"
              f" s, mean {statistics.mean(over):.2f} s (target <= 1.5 s); of which worker "
              f"set-up {statistics.median(setups):.2f} s, kernel ready after "
              f"{statistics.median(starts):.2f} s (median)")
    return 0


def compare(args, course, tmp, rnn, env, first: float) -> None:
    """This checkout's rnn-course against ``args.compare``'s, alternating, same state each time."""
    other = Path(args.compare).resolve()
    old = [sys.executable, "-m", "course_lib.autograde", "--course-dir", str(course)]
    old_env = dict(env, PYTHONPATH=str(other))
    grade = ["autograde", "tiny", "--jobs", str(args.jobs), "--force", "--quiet", "--timeout",
             str(args.timeout)]
    times = {"this": [first], "other": []}
    for r in range(args.rounds):
        for who, cmd, cwd, e in (("other", old, other, old_env), ("this", rnn, REPO, env)):
            if who == "this" and r == 0:
                continue
            shutil.copy(tmp / "state.db", course / "gradebook.db")
            shutil.rmtree(course / "autograded", ignore_errors=True)
            times[who].append(run(cmd + grade, cwd, e)[0])
    shutil.copy(tmp / "state.db", course / "gradebook.db")
    shutil.rmtree(course / "autograded", ignore_errors=True)
    times["other"].append(run(old + grade, other, old_env)[0])
    shutil.copy(tmp / "state.db", course / "gradebook.db")
    shutil.rmtree(course / "autograded", ignore_errors=True)
    times["this"].append(run(rnn + grade, REPO, env)[0])
    t_this, t_other = statistics.median(times["this"]), statistics.median(times["other"])
    print(f"per submission: this checkout {t_this / args.n:.3f} s, {other} {t_other / args.n:.3f} s"
          f" (medians of {len(times['this'])} and {len(times['other'])} runs); ratio "
          f"{t_this / t_other:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
