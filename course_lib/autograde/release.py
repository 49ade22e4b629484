"""Regenerate the student release exercises/<assignment>/ from solutions/<assignment>/.

Runs the real ``nbgrader generate_assignment`` in a throw-away course directory (solutions/<a>/
copied to source/<a>/), then replaces exercises/<a>/ with release/<a>/. The autograder's
``rnn-course release`` calls :func:`generate_release`; ``python -m course_lib.autograde.release
[ASSIGNMENT ...]`` does the same from a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, List, Optional

__all__ = ["ASSIGNMENTS", "generate_release", "nbgrader_env", "nbgrader_command", "find_repo_root"]

ASSIGNMENTS = ("ps1-language-models", "ps2-rnn-forward", "ps3-bptt", "ps4-design-patterns",
               "ps5-lstm")

_CONFIG = """\
c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "rnn-course"
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
"""


def find_repo_root(start: Optional[Path] = None) -> Path:
    """The folder holding solutions/ and exercises/ (searched upwards from ``start``)."""
    here = Path(start or Path(__file__).resolve()).resolve()
    for p in [here] + list(here.parents):
        if (p / "solutions").is_dir() and (p / "course_lib").is_dir():
            return p
    raise ValueError(f"repo_root: no folder with solutions/ and course_lib/ above {here}")


def nbgrader_env() -> dict:
    """os.environ with the running interpreter's bin folder first on PATH.

    nbgrader shells out to ``alembic`` (and the kernel to ``python``) by name; both live beside
    the interpreter of the virtual environment.
    """
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def nbgrader_command() -> List[str]:
    """``nbgrader`` beside the interpreter, else ``python -m nbgrader``."""
    exe = Path(sys.executable).parent / "nbgrader"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


def generate_release(assignments: Optional[Iterable[str]] = None,
                     repo_root: Optional[os.PathLike] = None) -> List[Path]:
    """Run ``nbgrader generate_assignment`` and copy release/<a>/ to exercises/<a>/.

    Parameters
    ----------
    assignments : iterable of str, optional
        Names among :data:`ASSIGNMENTS` (default: all five).
    repo_root : path, optional
        The repository (default: found above this file).

    Returns
    -------
    list of Path
        The exercises/<a>/ folders written.

    Raises
    ------
    ValueError
        An unknown assignment, or one without solutions/<a>/<a>.ipynb.
    RuntimeError
        nbgrader failed (its output is in the message).
    """
    root = Path(repo_root) if repo_root is not None else find_repo_root()
    names = list(ASSIGNMENTS if assignments is None else assignments)
    for a in names:
        if a not in ASSIGNMENTS:
            raise ValueError(f"assignments: expected names among {ASSIGNMENTS}, got {a!r}")
        if not (root / "solutions" / a / f"{a}.ipynb").is_file():
            raise ValueError(f"assignments: {a!r} has no solutions/{a}/{a}.ipynb under {root}")
    written = []
    with tempfile.TemporaryDirectory(prefix="rnn-release-") as tmp:
        course = Path(tmp)
        (course / "nbgrader_config.py").write_text(_CONFIG.format(root=str(course)))
        for a in names:
            shutil.copytree(root / "solutions" / a, course / "source" / a,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        # One nbgrader process for all of them (its start-up costs seconds): the assignment
        # id is a glob over source/, which holds exactly the requested assignments.
        proc = subprocess.run(
            nbgrader_command() + ["generate_assignment", "*", "--force", "--no-db"],
            cwd=course, env=nbgrader_env(), capture_output=True, text=True)
        for a in names:
            release = course / "release" / a
            if proc.returncode != 0 or not (release / f"{a}.ipynb").is_file():
                raise RuntimeError(f"nbgrader generate_assignment {a} failed "
                                   f"(exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        for a in names:
            release = course / "release" / a
            dest = root / "exercises" / a
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(release, dest)
            written.append(dest)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    for path in generate_release(args or None):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
