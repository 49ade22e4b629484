"""Bring submissions into the course directory: ``submitted/<student>/<assignment>/``.

Accepted inputs: a folder or an LMS zip whose entries are laid out as
``<student>/<assignment>/*.ipynb`` (at any depth below a common top folder), or
``<student>/*.ipynb``. A notebook under another name than the assignment's (``tiny (1).ipynb``,
``Tiny.ipynb``) is renamed when the match is unambiguous, and the summary says so.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .course import Course

MAX_ZIP_BYTES = 2 * 2**30
MAX_ZIP_FILES = 50_000


@dataclass
class CollectRow:
    student: str
    status: str  # ok | renamed | missing | no-submission | not-on-roster
    note: str = ""


def read_roster(path) -> list:
    """Students of a roster CSV: column ``id`` (required), optional first/last name, email.

    Returns
    -------
    list of dict with keys ``id``, ``first_name``, ``last_name``, ``email`` (None if absent).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"roster: expected a CSV file, got {str(path)!r}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        if "id" not in cols:
            raise ValueError(f"roster: expected a column 'id', got columns {reader.fieldnames}")

        def col(row, *names):
            for n in names:
                if n in cols and (row.get(cols[n]) or "").strip():
                    return row[cols[n]].strip()
            return None

        out = []
        for row in reader:
            sid = col(row, "id")
            if sid:
                out.append({"id": sid, "first_name": col(row, "first_name", "first", "firstname"),
                            "last_name": col(row, "last_name", "last", "lastname"),
                            "email": col(row, "email", "e-mail")})
    return out


def _safe_extract(zpath: Path, dest: Path) -> None:
    with zipfile.ZipFile(zpath) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_FILES or sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise ValueError(f"path: {zpath} is too large to unpack")
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts or ".." in parts or name.startswith("/") or "__MACOSX" in parts:
                continue
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def find_submissions(root: Path, assignment: str) -> dict:
    """Map student -> folder holding that student's files for ``assignment``."""
    found = {}
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        d = Path(dirpath)
        if d.name == assignment and d != root and d.parent != root.parent:
            student = d.parent.name
            if d.parent == root:
                continue
            found.setdefault(student, d)
    if found:
        return found
    # <student>/*.ipynb: each top folder with notebooks in it is a student
    tops = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(tops) == 1 and not list(tops[0].glob("*.ipynb")):
        tops = [p for p in tops[0].iterdir() if p.is_dir()]
    return {p.name: p for p in sorted(tops) if list(p.rglob("*.ipynb")) or p.is_dir()}


def _norm(name: str) -> str:
    name = re.sub(r"\s*\(\d+\)$", "", name)
    name = re.sub(r"[-_ ]?copy\d*$", "", name, flags=re.I)
    return re.sub(r"[^0-9a-z]", "", name.lower())


def fix_names(folder: Path, expected: list) -> list:
    """Rename a notebook submitted under a wrong name when it matches unambiguously."""
    notes = []
    present = {p.stem: p for p in folder.glob("*.ipynb")}
    missing = [e for e in expected if e not in present]
    extra = [p for s, p in present.items() if s not in expected]
    for e in missing:
        cands = [p for p in extra if _norm(e) and _norm(e) in _norm(p.stem)]
        if len(cands) != 1 and len(missing) == 1 and len(extra) == 1:
            cands = extra
        if len(cands) == 1:
            p = cands[0]
            p.rename(folder / f"{e}.ipynb")
            extra.remove(p)
            notes.append(f"renamed {p.name!r} -> '{e}.ipynb'")
    return notes


def collect(course: Course, assignment: str, path, roster=None, progress: bool = True) -> list:
    """Copy submissions of ``assignment`` from ``path`` (folder or zip) into the course.

    Returns
    -------
    list of CollectRow, one per student seen (submitted or on the roster).
    """
    from tqdm.auto import tqdm
    import sys

    path = Path(path)
    if not path.exists():
        raise ValueError(f"path: expected a folder or a zip file, got {str(path)!r}")
    course.ensure_assignment(assignment)
    expected = [i.name for i in course.notebook_infos(assignment)]
    students = read_roster(roster) if roster else []
    rows = []
    with tempfile.TemporaryDirectory(prefix="rnn-course-collect-") as tmp:
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise ValueError(f"path: expected a folder or a zip file, got {str(path)!r}")
            root = Path(tmp)
            _safe_extract(path, root)
        else:
            root = path
        subs = find_submissions(root, assignment)
        with course.gradebook() as gb:
            for st in students:
                gb.update_or_create_student(st["id"], **{k: v for k, v in st.items()
                                                         if k != "id" and v is not None})
            roster_ids = {s["id"] for s in students}
            for student, folder in tqdm(sorted(subs.items()), desc=f"collect {assignment}",
                                        unit="sub", disable=not progress, file=sys.stderr):
                dest = course.submitted_dir(student, assignment)
                if dest.exists():
                    shutil.rmtree(dest)
                shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(
                    ".ipynb_checkpoints", "__MACOSX", ".*"))
                notes = fix_names(dest, expected)
                gb.update_or_create_student(student)
                miss = [e for e in expected if not (dest / f"{e}.ipynb").is_file()]
                if miss:
                    status, note = "missing", "no " + ", ".join(f"{m}.ipynb" for m in miss)
                elif notes:
                    status, note = "renamed", "; ".join(notes)
                else:
                    status, note = "ok", ""
                if students and student not in roster_ids:
                    note = (note + "; " if note else "") + "not on the roster"
                rows.append(CollectRow(student, status, note))
            for sid in sorted(roster_ids - set(subs)):
                rows.append(CollectRow(sid, "no-submission", "on the roster, nothing submitted"))
    rows.sort(key=lambda r: r.student)
    return rows
