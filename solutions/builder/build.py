"""Write the nbgrader source notebooks solutions/<assignment>/<assignment>.ipynb.

The notebooks are the source of truth nbgrader uses; this script is how they are edited:
change solutions/builder/psN.py, run ``python solutions/builder/build.py [psN ...]``, then
regenerate the student release with ``rnn-course release`` (or
``python -m course_lib.autograde.release``) and commit both.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ASSIGNMENTS = {
    "ps1": "ps1-language-models",
    "ps2": "ps2-rnn-forward",
    "ps3": "ps3-bptt",
    "ps4": "ps4-design-patterns",
    "ps5": "ps5-lstm",
}


def build(names=None) -> list:
    sys.path.insert(0, str(HERE))
    written = []
    for short in names or ASSIGNMENTS:
        full = ASSIGNMENTS[short]
        module = importlib.import_module(short)
        out = HERE.parent / full / f"{full}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.validate(module.NOTEBOOK)
        nbformat.write(module.NOTEBOOK, str(out))
        written.append(out)
    return written


if __name__ == "__main__":
    for path in build(sys.argv[1:] or None):
        print(path)
