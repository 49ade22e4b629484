"""``rnn-course``: the instructor's workflow, one command per step.

    rnn-course release [ASSIGNMENT...]
    rnn-course collect ASSIGNMENT PATH [--roster CSV] [--lms canvas|moodle|folder]
    rnn-course autograde ASSIGNMENT [--jobs N] [--timeout S] [--memory-mb M] [--student ID] [--force]
                                    [--scheduler tcp://HOST:PORT|local:N]
    rnn-course feedback ASSIGNMENT [--zip]
    rnn-course export --csv FILE [--format nbgrader|canvas|moodle] [--assignment A]

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
        from course_lib.autograde.release import generate_release
    except ImportError as exc:
        print(f"rnn-course release: course_lib.autograde.release is not available ({exc})",
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
    from .text import printable

    course = Course(args.course_dir)
    rep = collect(course, args.assignment, args.path, roster=args.roster, lms=args.lms)
    print(f"layout: {rep.layout} ({rep.how})")
    # CollectRow's fields are escaped already (course_lib.autograde.text.printable)
    table([[r.student, r.name, r.status, r.note] for r in rep.rows],
          ["student", "name", "status", "note"])
    if rep.choices:
        print("\nseveral files for one notebook: the newest was collected")
        table([[printable(c.student, 60), c.notebook, printable(c.chosen, 80),
                printable(", ".join(c.over), 200), c.why] for c in rep.choices],
              ["student", "notebook", "collected", "instead of", "why"])
    complete = ("ok", "renamed", "late")
    students = [r for r in rep.rows if not r.student.startswith("(")]
    n_ok = sum(r.status in complete for r in students)
    lazy = sum(r.status == "not-attempted" for r in students)
    print(f"{n_ok} of {len(students)} students have a complete submission of {args.assignment}"
          + (f"; {lazy} not attempted (no answer cell changed from the release)" if lazy else ""))
    # an untouched release was collected as it is: collect's own job is done
    return 0 if students and all(r.status in complete + ("not-attempted",)
                                 for r in rep.rows) else 1


def cmd_autograde(args) -> int:
    from .autograde import GRADER_FAILURES, Autograder, Limits, protections_held
    from .text import printable

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
    # student ids, exception names and grade ids are the students' text: escaped, one line
    rows = [[printable(r.student, 80), _fmt(r.score), _fmt(r.max_score),
             ("skipped: " if r.skipped else "") + r.status,
             printable("; ".join([r.reason] * bool(r.reason) + [f"FLAG {f}" for f in r.flags]),
                       2000)]
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
    from tqdm.auto import tqdm

    from .feedback import feedback_zip, generate_feedback
    from .text import printable

    course = Course(args.course_dir)
    bar = tqdm(total=1, desc=f"feedback {args.assignment}", file=sys.stderr)
    rows = generate_feedback(course, args.assignment, students=args.student)
    bar.update(1)
    bar.close()
    table([[printable(r.student, 60), "" if r.score is None else _fmt(r.score),
            _fmt(r.max_score), r.status, len(r.pages), r.pages[0] if r.pages else "NOT WRITTEN"]
           for r in rows], ["student", "score", "max", "status", "pages", "first page"])
    if args.zip:
        path = feedback_zip(course, args.assignment, rows)
        print(f"wrote {path} (the pages laid out for the LMS; see autograder/README.md)")
    return 0 if rows and all(r.pages for r in rows) else 1


def cmd_export(args) -> int:
    from .export import export_csv
    from .text import printable

    course = Course(args.course_dir)
    res = export_csv(course, args.csv, assignments=args.assignment, fmt=args.format,
                     roster=args.roster, lms_column=args.lms_column)
    table([[r["assignment"], printable(r["student_id"], 60),
            "" if r["score"] is None else _fmt(r["score"]), _fmt(r["max_score"]),
            "graded" if r["score"] is not None else "blank (not graded)"] for r in res.rows],
          ["assignment", "student_id", "score", "max_score", "in the file"])
    for note in res.notes:
        print(note)
    what = {"nbgrader": "nbgrader's grade table", "canvas": "Canvas gradebook import",
            "moodle": "Moodle grading worksheet"}[res.format]
    print(f"wrote {res.path} ({what}, {len(res.rows)} student rows: upload this one)")
    print(f"wrote {res.problems_path} ({res.n_problems} rows: points per student and test cell, "
          "for item analysis; not for the LMS)")
    return 0 if res.rows else 1


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
    c.add_argument("--roster", metavar="CSV", help="Canvas gradebook export, Moodle grading "
                   "worksheet, or a CSV with column id (+ first_name, last_name, email)")
    c.add_argument("--lms", choices=["canvas", "moodle", "folder"], default=None,
                   help="the download's layout (default: detected from its names)")
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
    f.add_argument("--zip", action="store_true",
                   help="also pack the pages as the LMS takes them back (Canvas, Moodle, folder)")
    f.set_defaults(func=cmd_feedback)

    e = sub.add_parser("export", help="grades for the LMS (+ per-problem CSV beside it)")
    e.add_argument("--csv", required=True, metavar="FILE")
    e.add_argument("--assignment", action="append", default=None,
                   help="export this assignment (repeatable; default: every graded one)")
    e.add_argument("--format", choices=["nbgrader", "canvas", "moodle"], default="nbgrader",
                   help="nbgrader's CSV, Canvas's gradebook import or Moodle's grading worksheet")
    e.add_argument("--roster", metavar="CSV", default=None,
                   help="the LMS roster (default: the one given to collect)")
    e.add_argument("--lms-column", default=None, metavar="'NAME (ID)'",
                   help="Canvas's column for the assignment (default: matched by name)")
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
