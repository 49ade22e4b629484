"""The instructor's manual-grading path: nbgrader's formgrader, started as autograder/README.md says.

nbgrader 0.9 has no `nbgrader formgrader` command: the formgrader is a Jupyter server extension,
served by `jupyter lab` started in the course directory. This starts exactly that (headless, on a
free port, in a copy of the course directory whose gradebook lives in a temporary folder) and asks
the formgrader's own API which assignments it shows.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import BIN, ROOT, tool_env

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

TOKEN = "formgrader-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, proc: subprocess.Popen, log, timeout_s: float = 180):
    """Poll `url` until the server answers 200 (it takes ~10-30 s to start on 2 busy cores)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return json.load(answer)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    pytest.fail(f"the formgrader did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


def test_readme_names_a_formgrader_command_that_exists():
    readme = (ROOT / "autograder" / "README.md").read_text()
    assert "nbgrader formgrader" not in readme, "nbgrader 0.9 has no `nbgrader formgrader` command"
    assert "jupyter lab" in readme and "/formgrader" in readme


def test_formgrader_lists_the_assignments_and_no_builder(tmp_path):
    # A course directory laid out as the repository's: HERE/../solutions, HERE/../exercises.
    course = tmp_path / "autograder"
    course.mkdir()
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", course)
    for name in ("solutions", "exercises"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = tool_env() | {"HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    port, log = _free_port(), tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(BIN / "jupyter-lab"), "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.port_retries=0", f"--ServerApp.token={TOKEN}"],
            cwd=course, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            shown = _get_json(f"http://127.0.0.1:{port}/formgrader/api/assignments?token={TOKEN}", proc, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    names = sorted(a["name"] for a in shown)
    expected = sorted(p.name for p in (ROOT / "solutions").iterdir() if list(p.glob("*.ipynb")))
    assert "builder" not in names, f"solutions/builder is not an assignment; the formgrader shows {names}"
    assert names == expected
    assert (course / "gradebook.db").exists(), "the formgrader should use the course's gradebook"
