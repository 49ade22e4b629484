"""What every test cell of an exercise notebook says, in a terminal.

``nbgrader validate`` answers with one word per notebook ("Success", or "Partial credit" even at
0 points) and none of the ``[ok]`` / ``[FAIL]`` lines the tests print. This runs the notebook
the way the grader does (a fresh kernel, every cell in order, going on after an error) and prints,
for each test cell, its points and everything it printed::

    python -m course_lib.grading.report exercises/ps2-rnn-forward/ps2-rnn-forward.ipynb

The score of a cell follows nbgrader's own rule (``nbgrader.utils.determine_grade``): an error or
stderr output scores 0, a number as the cell's result is partial credit, anything else full
points. Only the visible tests run here; the hidden ones run when the instructor grades.
Exit status: 0 when every test cell earns all its points, 1 otherwise, 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CellReport:
    """One test cell after the run: its nbgrader id, score / points and what it printed."""

    grade_id: str
    score: float
    points: float
    text: str


def _output_text(cell) -> str:
    """Everything a code cell showed: printed text, its result, an error's name and message."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}\n")
        elif out.output_type == "execute_result":
            parts.append(out.get("data", {}).get("text/plain", "") + "\n")
    return "".join(parts)


def run_notebook(path: Path, timeout: int = 600):
    """Execute a copy of the notebook at ``path`` (the file is not changed) in its folder, as the
    student's kernel would run it, and return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def graded_cells(nb) -> list[CellReport]:
    """The graded, non-solution code cells of an executed notebook, scored by nbgrader's rule."""
    from nbgrader.utils import determine_grade, is_grade, is_solution

    reports = []
    for cell in nb.cells:
        if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell):
            score, points = determine_grade(cell)
            reports.append(CellReport(cell.metadata.nbgrader["grade_id"], float(score or 0.0),
                                      points, _output_text(cell)))
    return reports


def format_report(reports: list[CellReport]) -> str:
    """The lines printed: one header per test cell, its output indented, then the total."""
    lines = []
    for r in reports:
        mark = "ok" if r.score >= r.points else "FAIL"
        lines.append(f"== {r.grade_id}: {r.score:g} / {r.points:g} [{mark}]")
        lines.extend("   " + line for line in r.text.rstrip("\n").splitlines())
    total, most = sum(r.score for r in reports), sum(r.points for r in reports)
    lines.append(f"== visible tests: {total:g} / {most:g} points in {len(reports)} test cells")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path, help="an exercise notebook (.ipynb)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    args = parser.parse_args(argv)
    if args.notebook.suffix != ".ipynb" or not args.notebook.is_file():
        parser.error(f"notebook: expected an existing .ipynb file, got {str(args.notebook)!r}")
    reports = graded_cells(run_notebook(args.notebook.resolve(), args.timeout))
    if not reports:
        parser.error(f"notebook: {args.notebook} has no nbgrader test cells")
    print(format_report(reports))
    return 0 if all(r.score >= r.points for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
