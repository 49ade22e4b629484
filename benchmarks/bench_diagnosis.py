"""How well the grader's diagnosis localizes a backward mistake, and what it costs a solved notebook.

    python benchmarks/bench_diagnosis.py            # fixtures + random mutations + timing
    python benchmarks/bench_diagnosis.py --no-time  # the two accuracy figures only

1. **Fixtures** (tests/diagnose_fixtures.py: the common mistakes of issue 16): the share whose
   diagnosis names the right gate / time step / term, calls exactly the wrong gradients wrong
   and names nothing it must not. Target >= 90%.
2. **Random single mutations** of the solutions' backward cells (ps3 rnn_step_backward and
   rnn_backward, ps5 lstm_step_backward and lstm_backward): every binary + / - flipped, every
   factor of a product dropped, every ``.T`` dropped, ``[t]`` shifted to ``[t - 1]``, and gate
   variables i/f/g/o swapped, one at a time. A mutation that still passes its check (an
   equivalent mutant) or crashes is not counted. A mutation counts as localized when the
   diagnosis calls wrong exactly the gradients whose values changed, and for the LSTM's stacked
   gradients names exactly the changed gate blocks when only some changed, and says something
   specific (a gate, a time step, a term, a sign, a factor, a transpose) rather than only
   "wrong".
3. **Grading time** of the solved notebooks: the test cells of solutions/ executed in-process,
   best of 3; run it with ``--time-only --root /path/to/an/older/checkout`` for the before figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from diagnose_fixtures import FIXTURES, named_wrong, run_check, solution_namespace  # noqa: E402

CELLS = {"rnn_step_backward": ("ps3", "rnn_step"), "rnn_backward": ("ps3", "rnn_seq"),
         "lstm_step_backward": ("ps5", "lstm_step"), "lstm_backward": ("ps5", "lstm_seq")}
GENERIC = "it is wrong, and not by"


def fixture_accuracy():
    rows = []
    for name, fx in FIXTURES.items():
        with contextlib.redirect_stdout(io.StringIO()):
            score = run_check(fx.check, solution_namespace(fx.assignment, fx.edits))
        text = "\n".join(score.diagnoses)
        ok = (bool(score.diagnoses) and all(m in text for m in fx.must)
              and not any(m in text for m in fx.must_not)
              and named_wrong(score.diagnoses) == set(fx.wrong))
        rows.append((name, ok))
    return rows


def _body(assignment: str, grade_id: str) -> str:
    sys.path.insert(0, str(ROOT / "solutions" / "builder"))
    module = __import__(assignment)
    sys.path.remove(str(ROOT / "solutions" / "builder"))
    cell = next(c for c in module.NOTEBOOK.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return cell.source


def mutations(src: str):
    """(description, old line, new line) for every single mutation of the solution's body."""
    body = src.split("### BEGIN SOLUTION\n", 1)[1].split("### END SOLUTION", 1)[0]
    for line in body.splitlines():
        code = line.split("#", 1)[0]
        if "=" not in code or code.strip().startswith(("for ", "return")):
            continue
        seen = set()

        def emit(kind, new):
            if new != line and new not in seen:
                seen.add(new)
                yield kind, line, new

        for m in re.finditer(r" ([+-]) ", code):
            flip = "-" if m.group(1) == "+" else "+"
            yield from emit("operator", line[:m.start()] + f" {flip} " + line[m.end():])
        for m in re.finditer(r" \* ([\w\.\"\[\]]+(?:\([^()]*\))?)", code):
            yield from emit("dropped term", line[:m.start()] + line[m.end():])
        for m in re.finditer(r"\.T\b", code):
            yield from emit("transpose", line[:m.start()] + line[m.end():])
        for m in re.finditer(r"\[t\]", code):
            yield from emit("index", line[:m.start()] + "[t - 1]" + line[m.end():])
        for a, b in (("i", "f"), ("g", "o"), ("f", "g"), ("i", "o")):
            for m in re.finditer(rf"(?<![\w\"]){a}(?![\w\"])", code):
                if "=" in code[:m.start()]:
                    yield from emit("swapped gate", line[:m.start()] + b + line[m.end():])


def _truth(check, ns_ref, ns_mut):
    """The gradients (and LSTM gate blocks) whose values the mutation changed."""
    from course_lib.grading.factories import lstm_inputs, rnn_inputs
    from course_lib.grading.numpy_checks import upstream

    lstm = check.startswith("lstm")
    step = check.endswith("step")
    args = (lstm_inputs if lstm else rnn_inputs)(0, T=0 if step else 4)
    prefix = "lstm" if lstm else "rnn"
    fwd = ns_ref[f"{prefix}_step_forward" if step else f"{prefix}_forward"]
    bwd_name = f"{prefix}_step_backward" if step else f"{prefix}_backward"
    out = fwd(*args.values())
    n_up = 2 if (lstm and step) else 1
    ups = upstream(0, [out[k].shape for k in range(n_up)], np.float64)
    ref = ns_ref[bwd_name](*ups, out[-1])
    got = ns_mut[bwd_name](*[u.copy() for u in ups], fwd(*args.values())[-1])
    names = (["dx", "dh_prev", "dc_prev"] if step else ["dx", "dh0", "dc0"])[:3 if lstm else 2] + ["dWx", "dWh", "db"]
    wrong, blocks = set(), set()
    for n, r, g in zip(names, ref, got):
        if np.shape(g) != np.shape(r) or not np.allclose(g, r, rtol=1e-5, atol=1e-7):
            wrong.add(n)
            if lstm and n in ("dWx", "dWh", "db") and np.shape(g) == np.shape(r):
                H = args["Wh"].shape[0]
                blocks |= {"ifgo"[k] for k in range(4)
                           if not np.allclose(g[..., k * H:(k + 1) * H], r[..., k * H:(k + 1) * H],
                                              rtol=1e-5, atol=1e-7)}
    return wrong, blocks


def mutation_accuracy(verbose=False):
    rows = []
    names = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o"}
    for grade_id, (assignment, check) in CELLS.items():
        ns_ref = solution_namespace(assignment)
        for kind, old, new in mutations(_body(assignment, grade_id)):
            try:
                ns = solution_namespace(assignment, [(grade_id, old, new)])
                with contextlib.redirect_stdout(io.StringIO()):
                    score = run_check(check, ns)
                truth, blocks = _truth(check, ns_ref, ns)
            except Exception:
                continue      # a mutant that crashes is a crash message, not a diagnosis
            if float(score) == 1.0 or not truth:
                continue      # an equivalent mutant
            text = "\n".join(score.diagnoses)
            ok = named_wrong(score.diagnoses) == truth
            if blocks and len(blocks) < 4:
                named = {g for g, n in names.items() if f"the {n} (columns" in text}
                ok = ok and named == blocks
            findings = [ln for ln in text.splitlines() if ":" in ln and not ln.startswith(("right", "See"))]
            ok = ok and any(GENERIC not in ln for ln in findings)
            rows.append((f"{grade_id}: {kind}: {new.strip()}", ok))
            if verbose and not ok:
                print(f"--- not localized: {grade_id}: {old.strip()} -> {new.strip()}\n{text}\n")
    return rows


def grading_time(root: Path, repeats: int = 3):
    """Seconds to run the test cells of each solved notebook in-process (best of ``repeats``)."""
    import nbformat

    times = {}
    for nb_path in sorted((root / "solutions").glob("ps*/ps*.ipynb")):
        nb = nbformat.read(str(nb_path), as_version=4)
        best = float("inf")
        for _ in range(repeats):
            ns: dict = {}
            spent = 0.0
            with contextlib.redirect_stdout(io.StringIO()):
                for cell in nb.cells:
                    gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
                    if cell.cell_type != "code" or gid == "install":
                        continue
                    start = time.perf_counter()
                    exec(compile(cell.source, gid or "cell", "exec"), ns)
                    if gid.startswith("test_"):
                        spent += time.perf_counter() - start
            best = min(best, spent)
        times[nb_path.stem] = best
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--no-time", action="store_true", help="skip the grading-time table")
    p.add_argument("--time-only", action="store_true", help="only the grading-time table")
    p.add_argument("--root", type=Path, default=ROOT, help="checkout whose solutions/ are timed")
    p.add_argument("-v", "--verbose", action="store_true", help="print the mutants not localized")
    a = p.parse_args(argv)
    if not a.time_only:
        fx = fixture_accuracy()
        for name, ok in fx:
            print(f"  fixture {'ok  ' if ok else 'MISS'} {name}")
        mu = mutation_accuracy(a.verbose)
        print(f"fixtures localized:         {sum(ok for _, ok in fx)}/{len(fx)} = "
              f"{100 * sum(ok for _, ok in fx) / len(fx):.0f}% (target >= 90%)")
        print(f"random mutations localized: {sum(ok for _, ok in mu)}/{len(mu)} = "
              f"{100 * sum(ok for _, ok in mu) / max(1, len(mu)):.0f}% (non-equivalent mutants)")
    if not a.no_time:
        times = grading_time(a.root)
        print(f"{'solved notebook':<24} {'test cells (s)':>14}   ({a.root})")
        for k, v in times.items():
            print(f"{k:<24} {v:>14.2f}")
        print(f"{'total':<24} {sum(times.values()):>14.2f}")


if __name__ == "__main__":
    main()
