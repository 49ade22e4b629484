"""Cell constructors for the nbgrader source notebooks (metadata schema v3).

``md`` (locked text), ``setup`` (locked, ungraded code), ``solution`` (the student's cell, with
``### BEGIN SOLUTION`` / ``### END SOLUTION`` inside) and ``test`` (locked, graded, with points;
visible tests then ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[2]

def _src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def md(text: str, grade_id: str = None):
    cell = nbformat.v4.new_markdown_cell(_src(text))
    # grade_id None: notebook() numbers the text cells in order
    cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def setup(grade_id: str, text: str):
    cell = nbformat.v4.new_code_cell(_src(text))
    cell.metadata.update(_meta(grade_id, grade=False, solution=False, locked=True))
    return cell


def free(text: str):
    """An unlocked, ungraded code cell (scratch space, demos the student may change)."""
    return nbformat.v4.new_code_cell(_src(text))


def solution(grade_id: str, text: str):
    src = _src(text)
    if "### BEGIN SOLUTION" not in src or "### END SOLUTION" not in src:
        raise ValueError(f"solution {grade_id}: needs ### BEGIN SOLUTION / ### END SOLUTION")
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata.update(_meta(grade_id, grade=False, solution=True, locked=False))
    return cell


def test(grade_id: str, points: float, text: str):
    src = _src(text)
    if "### BEGIN HIDDEN TESTS" not in src:
        raise ValueError(f"test {grade_id}: needs hidden tests")
    cell = nbformat.v4.new_code_cell(src)
    cell.metadata.update(_meta(grade_id, grade=True, solution=False, locked=True, points=points))
    return cell


def repository() -> tuple:
    """(url, branch) of the course repository: `repository` in _config.yml, their one home."""
    repo = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]
    return repo["url"], repo.get("branch") or "main"


def repository_url() -> str:
    return repository()[0]


def install_cell(torch: bool = False):
    """Locked first cell: installs course_lib (with torch where the notebook needs it) if missing.

    The requirement names the branch of _config.yml, so a fork's or a term's branch is what
    students get; ``course_lib[torch]`` pulls the torch range of pyproject.toml.
    """
    url, branch = repository()
    extra = "[torch]" if torch else ""
    needs = '("course_lib", "torch")' if torch else '("course_lib",)'
    return setup("install", f"""
        # Colab or any fresh Python: install what this notebook needs (course_lib{extra}) if missing.
        import importlib.util, subprocess, sys
        if any(importlib.util.find_spec(m) is None for m in {needs}):
            subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                            "course_lib{extra} @ git+{url}@{branch}"], check=True)
        """)


def notebook(cells, title: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    # after the title cell, before any import of course_lib
    torch = any(c.cell_type == "code" and ("import torch" in c.source or "from torch" in c.source)
                for c in nb.cells)
    nb.cells.insert(1, install_cell(torch=torch))
    n_md = 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is not None and meta["grade_id"] is None:
            n_md += 1
            meta["grade_id"] = f"md-{n_md:02d}"
    # stable cell ids: nbgrader and git diffs both prefer ids that do not change per build
    for k, cell in enumerate(nb.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell-{k:02d}")
        cell["id"] = f"{gid}"[:64] if "nbgrader" in cell.metadata else f"free-{k:02d}"
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                       "name": "python3"},
        "language_info": {"name": "python"},
        "title": title,
    }
    return nb
