"""Fixture submissions of the tiny assignment (``course/source/tiny/tiny.ipynb``).

Each case is a student id -> (builder, expected score out of 3, expected status prefix). The
builders start from the student's view of the notebook (solutions in place, hidden tests
removed, as after ``nbgrader generate_assignment``) and then misbehave. Used by
tests/test_autograder.py and benchmarks/bench_autograde.py.

Hostile code here only ever touches loopback or an unroutable address, and every bomb is
bounded by the sandbox's limits (the fork bomb's children sleep instead of forking again).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "course" / "source" / "tiny" / "tiny.ipynb"

GOOD_ADD = 'def add(a, b):\n    """Return a + b."""\n    return a + b'
GOOD_MUL = 'def mul(a, b):\n    """Return a * b."""\n    return a * b'
BAD_ADD = "def add(a, b):\n    return 0"
BAD_MUL = "def mul(a, b):\n    return a + b"


def student_view() -> nbformat.NotebookNode:
    """The release as a student gets it, with the solutions filled in."""
    nb = nbformat.read(str(SOURCE), as_version=4)
    for cell in nb.cells:
        cell.source = re.sub(r"\n?### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "",
                             cell.source, flags=re.S)
    return nb


def _cell(nb, gid):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == gid:
            return c
    raise KeyError(gid)


def _set(gid, source):
    def f(nb):
        _cell(nb, gid).source = source
        return nb
    return f


def _chain(*fs):
    def f(nb):
        for g in fs:
            nb = g(nb)
        return nb
    return f


def _delete(gid):
    def f(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != gid]
        return nb
    return f


def _duplicate(gid):
    def f(nb):
        i = nb.cells.index(_cell(nb, gid))
        nb.cells.insert(i, copy.deepcopy(nb.cells[i]))
        return nb
    return f


def _retype(gid):
    def f(nb):
        c = _cell(nb, gid)
        i = nb.cells.index(c)
        md = nbformat.v4.new_markdown_cell(source="(I turned the test into text)",
                                           metadata=c.metadata)
        nb.cells[i] = md
        return nb
    return f


def _forge(nb):
    for gid in ("test_add", "test_mul"):
        c = _cell(nb, gid)
        c.source = "100"  # an execute_result of 100 would read as partial credit
        c.metadata["nbgrader"]["points"] = 100
    _cell(nb, "test_mul").metadata["nbgrader"]["grade"] = False
    return nb


def _append(gid, code):
    def f(nb):
        c = _cell(nb, gid)
        c.source = c.source + "\n" + code
        return nb
    return f


def hostile_snoop(read: list, write: list, port: int) -> str:
    """Solution cell that tries to read and write where it must not, and to use the network.

    Prints LEAK / WROTE / CONNECTED on success, ``blocked`` / ``no network`` otherwise.
    """
    return GOOD_ADD + "\n" + "\n".join([
        "import os, socket",
        f"for p in {read!r}:",
        "    try:",
        "        if os.path.isdir(p):",
        "            names = os.listdir(p)",
        "            print(('LEAK ' if names else 'blocked (empty) ') + p)",
        "        else:",
        "            open(p, 'rb').read(10)",
        "            print('LEAK ' + p)",
        "    except OSError as e:",
        "        print('blocked ' + p + ': ' + type(e).__name__)",
        f"for p in {write!r}:",
        "    try:",
        "        with open(p, 'a') as fh:",
        "            fh.write('escaped')",
        "        print('WROTE ' + p)",
        "    except OSError as e:",
        "        print('refused ' + p + ': ' + type(e).__name__)",
        # the test's own listener on the host's loopback, then an unroutable address
        f"for host, port in [('127.0.0.1', {port}), ('10.255.255.1', 9)]:",
        "    try:",
        "        socket.create_connection((host, port), timeout=2).close()",
        "        print('CONNECTED', host)",
        "    except OSError as e:",
        "        print('no network', host, type(e).__name__)",
    ])


FORK_BOMB = GOOD_ADD + "\n" + "\n".join([
    "import os, time",
    "def _bomb():",
    "    n = 0",
    "    while True:",
    "        pid = os.fork()",
    "        if pid == 0:",
    "            while True:",
    "                time.sleep(1)",
    "        n += 1",
    "        if n > 5000:",
    "            return n",
    "_bomb()",
])

MEMORY_BOMB = "def add(a, b):\n    hog = bytearray(64 * 2**30)\n    return a + b"
HUGE_OUTPUT = GOOD_ADD + "\nprint(('x' * 99 + '\\n') * 60000)\nfor i in range(2000):\n    print('y' * 100)"


def _tag(gid, tag):
    def f(nb):
        _cell(nb, gid).metadata.setdefault("tags", []).append(tag)
        return nb
    return f


def _markdown(text):
    def f(nb):
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(source=text))
        return nb
    return f


# an exception whose name carries a newline and a terminal escape: a forged summary row
FORGE_ROW = GOOD_ADD + ("\nraise type('Oops\\nforged-row   10  10  ok\\x1b[2K', (Exception,), {})()")

# 60 processes spinning next to everyone else (bounded by RLIMIT_NPROC; they stop after 20 s)
CPU_HOG = GOOD_ADD + "\n" + "\n".join([
    "import os, time",
    "for _ in range(60):",
    "    try:",
    "        if os.fork() == 0:",
    "            end = time.time() + 20",
    "            while time.time() < end:",
    "                pass",
    "            os._exit(0)",
    "    except OSError:",
    "        break",
])


def cases(port: int = 9, course_dir: str = "/nonexistent", repo: str = "/nonexistent") -> dict:
    """student id -> (builder, expected score (None: any), expected status prefix)."""
    other = f"{course_dir}/submitted/good/tiny/tiny.ipynb"
    return {
        "good": (lambda nb: nb, 3.0, "ok"),
        "bug": (_set("mul", BAD_MUL), 1.0, "tests-failed"),
        "loop": (_set("add", "def add(a, b):\n    while True:\n        pass"), 2.0, "cell-timeout"),
        "deaf-loop": (_set("add", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                  "while True:\n    pass"), 0.0, "timeout"),
        "membomb": (_set("add", MEMORY_BOMB), 2.0, "tests-failed"),
        "forkbomb": (_set("add", FORK_BOMB), 3.0, "ok"),
        "osexit": (_append("mul", "import os\nos._exit(3)"), 1.0, "kernel-died"),
        "segfault": (_append("mul", "import ctypes\nctypes.string_at(0)"), 1.0, "kernel-died"),
        "sysexit": (_append("mul", "import sys\nsys.exit(1)"), 3.0, "ok"),
        "syntax": (_set("add", "def add(a, b) return a + b"), 2.0, "tests-failed"),
        "deleted-duplicated": (_chain(_set("add", BAD_ADD), _duplicate("test_add"),
                                      _delete("test_mul")), 2.0, "tests-failed"),
        "edited": (_chain(_set("mul", BAD_MUL), _set("test_mul", "pass")), 1.0, "tests-failed"),
        "retyped": (_chain(_set("add", BAD_ADD), _retype("test_add")), 2.0, "tests-failed"),
        "forged": (_chain(_set("add", BAD_ADD), _set("mul", BAD_MUL), _forge), 0.0,
                   "tests-failed"),
        "huge-output": (_set("add", HUGE_OUTPUT), 3.0, "ok"),
        "snoop": (_set("add", hostile_snoop(
            read=[f"{course_dir}/source/tiny/tiny.ipynb", f"{course_dir}/gradebook.db", other,
                  f"{repo}/solutions", "/root/.bashrc"],
            write=["/tmp/rnn-course-escape.txt", "../../escape.txt",
                   f"{repo}/course_lib/escape.py", f"{course_dir}/gradebook.db"],
            port=port)), 3.0, "ok"),
        "hidden-fail": (_set("mul", "def mul(a, b):\n    return 6 if (a, b) == (2, 3) else 0"),
                        1.0, "tests-failed"),
        "zoë-ünïcode": (_set("add", GOOD_ADD + "\nprint('ünïcødé ✓ 日本')"), 3.0, "ok"),
        # raw files rather than notebooks
        "corrupt": ('{"cells": [ {"cell_type": "code", ', 0.0, "unreadable"),
        "empty": ("", 0.0, "unreadable"),
        "missing": (None, 0.0, "missing"),
        "misnamed": ("Tiny (1).ipynb", 3.0, "ok"),
        # issue 21: tags on a test cell do not survive; lone surrogates are stored safely;
        # student-controlled text cannot forge a summary row; a CPU hog costs only itself
        "skip-tag": (_chain(_set("add", BAD_ADD), _tag("test_add", "skip-execution"),
                            _tag("test_mul", "skip-execution")), 2.0, "tests-failed"),
        "surrogate": (_markdown("broken \ud800 text"), 3.0, "ok"),
        "forge-row": (_set("add", FORGE_ROW), 3.0, "ok"),
        # its own tests may run out of time among its spinners (None: any score); everyone
        # graded next to it must keep theirs, which their own expected scores check
        "hog": (_set("add", CPU_HOG), None, ""),
    }


def write_submissions(dest: Path, cases_: dict, assignment: str = "tiny") -> dict:
    """Write ``dest/<student>/<assignment>/...`` for each case; returns expected scores."""
    expected = {}
    for student, (builder, score, status) in cases_.items():
        folder = Path(dest) / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "tiny.ipynb"
        if builder is None:
            (folder / "notes.txt").write_text("I forgot the notebook\n")
        elif isinstance(builder, str) and builder.endswith(".ipynb"):
            nbformat.write(student_view(), str(folder / builder))
        elif isinstance(builder, str):
            target.write_text(builder)
        else:
            nb = builder(student_view())
            # escaped JSON: a lone surrogate (the "surrogate" case) is valid JSON only so
            target.write_text(json.dumps(nb, ensure_ascii=True), encoding="utf-8")
        expected[student] = (score, status)
    return expected
