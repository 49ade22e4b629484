"""``rnn-course``: the instructor's workflow, one command per step.

    rnn-course release [ASSIGNMENT...]
    rnn-course collect ASSIGNMENT PATH [--roster CSV]
    rnn-course autograde ASSIGNMENT [--jobs N] [--timeout S] [--memory-mb M] [--student ID] [--force]
                                    [--scheduler tcp://HOST:PORT|local:N]
    rnn-course feedback ASSIGNMENT
    rnn-course export --csv FILE

Every step shows a progress bar and ends with a summary table; the exit status is 0 only when
everything was done (every submission graded and recorded, the gradebook sound).
"""

from __future__ import annotations

import argparse
import os
import sys

from .course import DEFAULT_COURSE_DIR, Course


def table(rows: list, headers: list, out=None) -> str:
    """Plain-text table (what every step prints at its end)."""
    out = out or sys.stdout
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    # every column but the last (the reason, read in full) is capped
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    widths = [min(60, w) for w in widths[:-1]] + widths[-1:]

    def fmt(r):
        vals = [v if len(v) <= w else v[:w - 3] + "..." for v, w in zip(r[:-1], widths)]
        return "  ".join([v.ljust(w) for v, w in zip(vals, widths)] + [r[-1]]).rstrip()

    text = "\n".join([fmt(cells[0]), "  ".join("-" * min(w, 60) for w in widths)]
                     + [fmt(r) for r in cells[1:]])
    print(text, file=out)
    return text


def _fmt(x: float) -> str:
    return f"{x:g}"


def cmd_release(args) -> int:
    try:
        from course_lib.grading.release import generate_release
    except ImportError as exc:
        print(f"rnn-course release: course_lib.grading.release is not available ({exc})",
              file=sys.stderr)
        return 2
    from tqdm.auto import tqdm

    course = Course(args.course_dir)
    names = args.assignments or course.assignments()
    repo_root = course.source_dir("x").parent.parent  # the folder holding solutions/
    rows, ok = [], True
    bar = tqdm(total=2 * len(names), desc="release", unit="step", file=sys.stderr)
    try:
        # one nbgrader run for all of them: its start-up costs seconds
        written = generate_release(assignments=names, repo_root=str(repo_root))
    except Exception as exc:
        written, ok = [], False
        rows.append([", ".join(names), "FAILED", f"{type(exc).__name__}: {exc}"])
    bar.update(len(names))
    for path in written:
        name = path.name
        try:
            # the course's gradebook learns the (new) cells, points and hidden tests
            course.ensure_assignment(name, force=True)
            rows.append([name, "released", str(path)])
        except Exception as exc:
            ok = False
            rows.append([name, "FAILED (gradebook)", f"{type(exc).__name__}: {exc}"])
        bar.update(1)
    bar.close()
    table(rows, ["assignment", "status", "detail"])
    return 0 if ok and rows else 1


def cmd_collect(args) -> int:
    from .collect import collect

    course = Course(args.course_dir)
    rows = collect(course, args.assignment, args.path, roster=args.roster)
    table([[r.student, r.status, r.note] for r in rows], ["student", "status", "note"])
    n_ok = sum(r.status in ("ok", "renamed") for r in rows)
    print(f"{n_ok} of {len(rows)} students have a complete submission of {args.assignment}")
    return 0 if rows and all(r.status in ("ok", "renamed") for r in rows) else 1


def cmd_autograde(args) -> int:
    from .autograde import GRADER_FAILURES, Autograder, Limits, protections_held

    course = Course(args.course_dir)
    cell_timeout = args.timeout or course.cell_timeout()
    limits = Limits(cell_timeout=cell_timeout,
                    notebook_timeout=args.notebook_timeout or max(600, 5 * cell_timeout),
                    memory_mb=args.memory_mb, nproc=args.nproc)
    ag = Autograder(course, args.assignment, jobs=args.jobs, limits=limits)
    if args.scheduler:  # one dask task per submission (cluster.py)
        from .cluster import CLUSTER_FAILURES, grade_on_cluster

        GRADER_FAILURES = GRADER_FAILURES | CLUSTER_FAILURES
        out = grade_on_cluster(ag, args.scheduler, students=args.student, force=args.force,
                               progress=not args.quiet, jobs=args.jobs)
    else:
        out = ag.run(students=args.student, force=args.force, progress=not args.quiet)
    rows = [[r.student, _fmt(r.score), _fmt(r.max_score),
             ("skipped: " if r.skipped else "") + r.status,
             "; ".join([r.reason] * bool(r.reason) + [f"FLAG {f}" for f in r.flags])]
            for r in out["results"]]
    table(rows, ["student", "score", "max", "status", "reason"])
    print(f"graded {out['graded']}, skipped {out['skipped']} (already graded; --force to "
          f"regrade) in {out['wall_s']:.1f} s with {out.get('where', f'{ag.jobs} jobs')}")
    if out.get("workers") or out.get("stale"):
        table(sorted(out["workers"].items()), ["worker", "submissions"])
        for m in out["stale"]:
            print("STALE WORKER: " + m)
    print("protections: " + "; ".join(f"{k}: {'on' if v else 'OFF'}"
                                      for k, v in out["protections"].items()))
    held, errors = protections_held(out["results"])
    if out["graded"]:
        print("held in every sandbox graded now: " + (", ".join(held) or "none"))
    for err, n in errors.items():
        print(f"PROTECTION FAILED in {n} sandbox(es): {err}")
    if out["integrity"]:
        print("GRADEBOOK INTEGRITY PROBLEMS:\n  " + "\n  ".join(out["integrity"]))
    failed = [r for r in out["results"] if r.status in GRADER_FAILURES]
    return 0 if not failed and not out["integrity"] and out["results"] \
        and not out.get("stale") else 1


def cmd_feedback(args) -> int:
    from .feedback import generate_feedback

    course = Course(args.course_dir)
    from tqdm.auto import tqdm

    bar = tqdm(total=1, desc=f"feedback {args.assignment}", file=sys.stderr)
    out = generate_feedback(course, args.assignment, students=args.student)
    bar.update(1)
    bar.close()
    table([[s, len(p), p[0] if p else "NOT WRITTEN"] for s, p in out.items()],
          ["student", "html files", "first file"])
    return 0 if out and all(out.values()) else 1


def cmd_export(args) -> int:
    from .export import export_csv, problems_path

    course = Course(args.course_dir)
    grades, problems = export_csv(course, args.csv, assignments=args.assignment)
    table([[r["assignment"], r["student_id"], _fmt(r["score"]), _fmt(r["max_score"])]
           for r in grades], ["assignment", "student_id", "score", "max_score"])
    print(f"wrote {args.csv} ({len(grades)} rows) and {problems_path(args.csv)} "
          f"({len(problems)} rows)")
    return 0 if grades else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rnn-course", description=__doc__.split("\n\n")[0])
    p.add_argument("--course-dir", default=os.environ.get("RNN_COURSE_DIR",
                                                          str(DEFAULT_COURSE_DIR)),
                   help="nbgrader course directory (default: the repository's autograder/)")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    r.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    r.set_defaults(func=cmd_release)

    c = sub.add_parser("collect", help="take submissions from a folder or an LMS zip")
    c.add_argument("assignment", metavar="ASSIGNMENT")
    c.add_argument("path", metavar="PATH")
    c.add_argument("--roster", metavar="CSV", help="CSV with column id (+ names, email)")
    c.set_defaults(func=cmd_collect)

    a = sub.add_parser("autograde", help="grade submissions in parallel sandboxes")
    a.add_argument("assignment", metavar="ASSIGNMENT")
    a.add_argument("--jobs", type=int, default=None,
                   help="parallel jobs (default: cores); with --scheduler: per worker")
    a.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT|local:N",
                   help="grade on a dask.distributed cluster (see autograder/README.md)")
    a.add_argument("--timeout", type=int, default=None, help="seconds per cell")
    a.add_argument("--notebook-timeout", type=int, default=None, help="seconds per notebook")
    a.add_argument("--memory-mb", type=int, default=2048, help="memory limit per submission")
    a.add_argument("--nproc", type=int, default=64, help="process/thread limit per submission")
    a.add_argument("--student", action="append", default=None, metavar="ID")
    a.add_argument("--force", action="store_true", help="regrade already graded submissions")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_autograde)

    f = sub.add_parser("feedback", help="HTML feedback per student")
    f.add_argument("assignment", metavar="ASSIGNMENT")
    f.add_argument("--student", action="append", default=None, metavar="ID")
    f.set_defaults(func=cmd_feedback)

    e = sub.add_parser("export", help="grade CSV (+ per-problem CSV beside it)")
    e.add_argument("--csv", required=True, metavar="FILE")
    e.add_argument("--assignment", action="append", default=None)
    e.set_defaults(func=cmd_export)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"rnn-course {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
