"""Shared fixtures: the repository root and the one forced, warnings-as-errors book build."""

from __future__ import annotations

import os

# Before numpy loads: the suite's arrays are small, and on 2 shared cores OpenBLAS's thread pool
# costs more than it gives (a training test went from 4 s to 57 s). Kernels, notebooks and
# nbgrader started from the tests inherit this. (OPENBLAS_CORETYPE is left alone.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Where the test build goes: inside _build/ (git-ignored), apart from `make book`'s own output,
# so a reader can open what the tests saw, screenshots included.
TEST_BUILD = ROOT / "_build" / "test"


def tool_env() -> dict[str, str]:
    """Environment for subprocesses: the venv's bin folder first (nbgrader runs alembic from it)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the whole book once per session with every notebook executed (no cache) and
    warnings as errors; return the html folder. Fails the depending tests with the build log."""
    import yaml

    TEST_BUILD.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "force"
    # Paths in the config are relative to its own folder: anchor them to the repository.
    local = config["sphinx"].get("local_extensions") or {}
    config["sphinx"]["local_extensions"] = {k: str(ROOT / v) for k, v in local.items()}
    config["bibtex_bibfiles"] = [str(ROOT / b) for b in config.get("bibtex_bibfiles", [])]
    forced = TEST_BUILD / "_config.yml"
    forced.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [str(BIN / "jupyter-book"), "build", str(ROOT), "--config", str(forced),
           "--path-output", str(TEST_BUILD), "-W", "-n", "--keep-going", "--all"]
    proc = subprocess.run(cmd, cwd=ROOT, env=tool_env(), capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (TEST_BUILD / "build.log").write_text(log)
    if proc.returncode != 0:
        pytest.fail(f"book build failed (exit {proc.returncode}); last lines of "
                    f"{TEST_BUILD / 'build.log'}:\n{log[-6000:]}", pytrace=False)
    return TEST_BUILD / "_build" / "html"
