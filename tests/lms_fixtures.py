"""Downloads as Canvas and Moodle produce them, built for tests/test_collect.py and test_lms.py.

The notebooks are the tiny fixture assignment's (tests/autograder_fixtures): ``good`` (3/3),
``bad`` (``mul`` wrong: 1/3), ``release`` (no answer cell changed) and raw bytes for broken
ones. Names carry what real downloads carry: non-ASCII letters, spaces, LATE markers,
``-1``/``(1)`` resubmission suffixes.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import stat
import struct
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "autograder_fixtures"
_spec = importlib.util.spec_from_file_location("ag_submissions_lms", FIX / "submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tiny (5555)",
                 "Current Points", "Final Points"]
MOODLE_HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                 "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                 "Feedback comments"]


def make_course(dest: Path) -> Path:
    """A copy of the tiny course with its gradebook (the assignment's cells) in place."""
    from course_lib.autograde.course import Course

    shutil.copytree(FIX / "course", dest)
    Course(dest).ensure_assignment("tiny")
    return dest


def notebook(kind: str) -> bytes:
    """``good``, ``bad`` or ``release`` as notebook bytes."""
    nb = subs.student_view()
    if kind == "bad":
        nb = subs._set("mul", subs.BAD_MUL)(nb)
    elif kind == "release":
        for c in nb.cells:
            src = c.source
            if "### BEGIN SOLUTION" in src:
                head = src.split("    ### BEGIN SOLUTION")[0]
                c.source = head + "    # YOUR CODE HERE\n    raise NotImplementedError()"
    elif kind != "good":
        raise ValueError(kind)
    return json.dumps(nb, ensure_ascii=False).encode("utf-8")


def make_zip(path: Path, entries: list) -> Path:
    """``entries``: (name, bytes, date_time or None, kind) with kind file | link."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, when, kind in entries:
            info = zipfile.ZipInfo(name, when or (2026, 3, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = (stat.S_IFLNK | 0o777) if kind == "link" else (stat.S_IFREG | 0o644)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def patch_declared_size(path: Path, name: str, declared: int) -> None:
    """Rewrite the uncompressed size ``name`` declares, in its local and central headers."""
    raw = bytearray(path.read_bytes())
    enc = name.encode("utf-8")
    for sig, size_at, len_at, name_at in ((b"PK\x03\x04", 22, 26, 30),
                                          (b"PK\x01\x02", 24, 28, 46)):
        i = 0
        while (i := raw.find(sig, i)) >= 0:
            n = struct.unpack_from("<H", raw, i + len_at)[0]
            if bytes(raw[i + name_at:i + name_at + n]) == enc:
                struct.pack_into("<I", raw, i + size_at, declared)
            i += 4
    path.write_bytes(bytes(raw))


def canvas_roster(path: Path, students: list) -> Path:
    """Canvas's gradebook export: (name "Last, First", user id, login) per student."""
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(CANVAS_HEADER)
        w.writerow(["    Points Possible", "", "", "", "", "3", "", ""])
        for i, (name, uid, login) in enumerate(students):
            w.writerow([name, uid, f"sis{uid}", login, "Section A", "", "", ""])
    return path


def moodle_roster(path: Path, students: list) -> Path:
    """Moodle's grading worksheet: (full name, participant id, email) per student."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(MOODLE_HEADER)
        for name, pid, email in students:
            w.writerow([f"Participant {pid}", name, email, "Submitted for grading", "",
                        "3.00", "Yes", "Sunday, 1 March 2026, 12:00 PM", "-", ""])
    return path
