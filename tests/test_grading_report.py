"""The command students are told to run to see every test cell's [ok] / [FAIL] lines.

`nbgrader validate` prints neither the lines nor the points; exercises/README.md and README.md
tell students to run `python -m course_lib.grading.report NOTEBOOK` instead. Checked on the
release notebook (nothing implemented: every cell fails, and says why) and on the solution.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT, tool_env

pytestmark = [pytest.mark.slow]

NB = "ps2-rnn-forward"


def _report(notebook):
    return subprocess.run([sys.executable, "-m", "course_lib.grading.report", str(notebook)],
                          cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=900)


def _cells(stdout: str) -> dict[str, tuple[float, float]]:
    return {m["id"]: (float(m["score"]), float(m["points"]))
            for m in re.finditer(r"^== (?P<id>\S+): (?P<score>[\d.]+) / (?P<points>[\d.]+) \[", stdout, re.M)}


def test_release_notebook_shows_every_fail_line():
    done = _report(ROOT / "exercises" / NB / f"{NB}.ipynb")
    assert done.returncode == 1, done.stdout + done.stderr
    cells = _cells(done.stdout)
    assert cells and all(score == 0 for score, _ in cells.values()), done.stdout
    # Each failing cell names the function it tested and why it failed.
    for block in done.stdout.split("\n== ")[1:-1]:
        assert "[FAIL]" in block and "NotImplementedError" in block, block
    total = sum(points for _, points in cells.values())
    assert f"== visible tests: 0 / {total:g} points in {len(cells)} test cells" in done.stdout


def test_solution_notebook_earns_every_point():
    done = _report(ROOT / "solutions" / NB / f"{NB}.ipynb")
    assert done.returncode == 0, done.stdout + done.stderr
    cells = _cells(done.stdout)
    assert cells and all(score == points for score, points in cells.values()), done.stdout
    assert "[FAIL]" not in done.stdout


def test_bad_argument_is_a_clear_error(tmp_path):
    done = _report(tmp_path / "missing.ipynb")
    assert done.returncode == 2
    assert "notebook: expected an existing .ipynb file" in done.stderr


def test_students_are_told_this_command():
    for readme in ("README.md", "exercises/README.md"):
        assert "python -m course_lib.grading.report exercises/" in (ROOT / readme).read_text(), readme
