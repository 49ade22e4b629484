"""Bring submissions into the course directory: ``submitted/<student>/<assignment>/``.

Accepted downloads (a folder or a zip), detected from their top-level names unless ``--lms``
says which:

``folder``
    ``<student>/<assignment>/*.ipynb`` or ``<student>/*.ipynb`` (one wrapping top folder is
    fine). The students are the top-level folders, never anything below them.
``canvas`` / ``moodle``
    The LMS's bulk download (see :mod:`course_lib.autograde.lms`); students are matched by
    their LMS id through the roster.

Every entry is judged on its own: a path that climbs out (``../``), a link, a device, an entry
over the size limits or one whose data does not match its header costs only its own student,
with a line in the table. Nothing is ever written outside ``submitted/<student>/<assignment>/``
and only regular files' bytes are copied. Of several notebooks for one expected name (``tiny
(1).ipynb``, Canvas's ``tiny-2.ipynb``) the newest wins, and the report says which and why.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .course import Course
from .lms import (LAYOUTS, SAFE_ID, CollectedStudent, CollectRecord, Roster, detect_layout,
                  parse_canvas_name, parse_moodle_name, read_lms_roster)
from .text import printable

MAX_FILE_BYTES = 64 * 2**20  # one notebook: far above any honest one, far below a bomb
MAX_TOTAL_BYTES = 2 * 2**30  # everything read from one download
MAX_ENTRIES = 50_000
_BAD_ENTRY = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError,
              NotImplementedError, ValueError)


@dataclass
class CollectRow:
    """One line of collect's table: a student, or a download entry that names none."""

    student: str
    status: str  # ok renamed late not-attempted unreadable missing no-submission not-on-roster rejected
    note: str = ""
    name: str = ""

    def __post_init__(self):
        # every field may hold what a student wrote: escaped once, here, for every reader
        self.student = printable(self.student, 100)
        self.note = printable(self.note, 1000)
        self.name = printable(self.name, 60)


@dataclass
class Choice:
    """Which file became ``notebook`` for ``student``, and why (the resubmission table)."""

    student: str
    notebook: str
    chosen: str
    over: list
    why: str


@dataclass
class CollectReport:
    layout: str
    how: str  # "--lms" or "detected from ..."
    rows: list
    choices: list


@dataclass
class Entry:
    """One entry of a download, as far as its header or ``lstat`` tells."""

    parts: tuple  # path components below the download's root
    kind: str  # file | dir | link | other | unsafe
    size: int = 0
    mtime: float | None = None
    source: object = None  # (ZipFile, ZipInfo) or a Path

    def read(self, limit: int) -> bytes:
        """The entry's bytes; raises ValueError past ``limit`` or when they fail their header."""
        if isinstance(self.source, Path):
            with open(self.source, "rb", opener=_no_follow) as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    raise ValueError("not a regular file")
                data = fh.read(limit + 1)
        else:
            zf, info = self.source
            with zf.open(info) as fh:  # checks the CRC, stops at the header's size
                data = fh.read(limit + 1)
                if len(data) <= limit and fh.read(1):
                    raise ValueError("more data than its header declares")
        if len(data) > limit:
            raise ValueError(f"larger than the limit of {limit // 2**20} MiB")
        return data


def _short(value, limit: int) -> str:
    """``value`` cut to ``limit`` characters (escaping happens once, in CollectRow)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _no_follow(path, flags):
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def _clean_parts(name: str) -> tuple:
    """Path components of an entry name; kind ``unsafe`` when it could leave the folder."""
    name = name.replace("\\", "/")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        return tuple(p for p in parts if p != ".."), True
    return parts, False


def zip_entries(zpath: Path) -> list:
    """Entries of a zip from its central directory; nothing is unpacked."""
    zf = zipfile.ZipFile(zpath)
    out = []
    for info in zf.infolist()[:MAX_ENTRIES]:
        parts, unsafe = _clean_parts(info.filename)
        mode = info.external_attr >> 16
        kind = ("unsafe" if unsafe else "dir" if info.is_dir()
                else "link" if stat.S_ISLNK(mode)
                else "other" if stat.S_IFMT(mode) and not stat.S_ISREG(mode) else "file")
        try:
            mtime = datetime(*info.date_time, tzinfo=timezone.utc).timestamp()
        except ValueError:
            mtime = None
        out.append(Entry(parts, kind, info.file_size, mtime, (zf, info)))
    return out


def folder_entries(root: Path) -> list:
    """Entries below ``root``; links are listed, never followed (a loop costs nothing)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            p = base / name
            st = p.lstat()
            kind = ("link" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode)
                    else "file" if stat.S_ISREG(st.st_mode) else "other")
            out.append(Entry(p.relative_to(root).parts, kind, st.st_size, st.st_mtime, p))
        if len(out) > MAX_ENTRIES:
            break
    return out


def _skip(parts: tuple) -> bool:
    # the LMS's and the desktop's own litter: not the student's work
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def unwrap(entries: list, assignment: str) -> list:
    """Drop one folder that wraps the whole download (``export-from-lms/<student>/...``).

    Only when it is no student's folder itself: it holds no notebook and no
    ``<assignment>/`` folder directly.
    """
    tops = {e.parts[0] for e in entries if e.parts and not _skip(e.parts)}
    if len(tops) != 1:
        return entries
    top = tops.pop()
    inner = [e for e in entries if len(e.parts) >= 2 and e.parts[0] == top]
    if not inner or any(len(e.parts) == 2 and (e.parts[1] == assignment
                                               or e.parts[1].endswith(".ipynb"))
                        for e in inner):
        return entries
    if detect_layout([top]) != "folder":
        return entries
    return [Entry(e.parts[1:], e.kind, e.size, e.mtime, e.source) for e in inner]


@dataclass
class Submission:
    """What one student's entries of a download hold, before anything is written."""

    key: str  # the LMS id, or the folder name
    display: str
    files: list = field(default_factory=list)  # (original name, Entry)
    notes: list = field(default_factory=list)
    late: bool = False
    submission_id: str = ""


def _add(subs: dict, key: str, display: str, original: str, e: Entry) -> Submission:
    sub = subs.setdefault(key, Submission(key, display))
    if display != sub.display:
        sub.notes.append(f"also named {_short(display, 60)} in the download")
    if e.kind != "file":
        why = {"link": "a link", "unsafe": "a path outside the submission",
               "other": "not a regular file"}.get(e.kind)
        if why:
            sub.notes.append(f"skipped {_short(original, 80)}: {why}")
    elif original:
        sub.files.append((original, e))
    return sub


def _stray(rows: list, e: Entry, why: str) -> None:
    if e.kind == "unsafe":
        why = "a path that leaves the download (../ or absolute): skipped"
    elif e.kind in ("link", "other"):
        why = "a link or special file (never followed): skipped"
    rows.append(CollectRow("(download)", "rejected",
                           f"{_short('/'.join(e.parts), 100)}: {why}"))


def group_folder(entries: list, assignment: str) -> tuple:
    """``<student>/<assignment>/*`` or ``<student>/*``: students are the top-level folders."""
    subs, stray = {}, []
    # zips often list no folder entries: <student>/<assignment>/ is known by what is inside
    nested = {e.parts[0] for e in entries if len(e.parts) >= 2 and e.parts[1] == assignment
              and (e.kind == "dir" or len(e.parts) >= 3)}
    for e in entries:
        if not e.parts or _skip(e.parts):
            continue
        student, rel = e.parts[0], e.parts[1:]
        if not rel:
            if e.kind != "dir":
                _stray(stray, e, "not inside a student's folder")
            continue
        sub = subs.setdefault(student, Submission(student, student))
        if student in nested:
            if rel[0] != assignment:
                continue  # beside <student>/<assignment>/: not part of this submission
            rel = rel[1:]
        if not rel or e.kind == "dir":
            continue
        if len(rel) > 1 and e.kind == "file":
            sub.notes.append(f"ignored {_short('/'.join(rel), 80)}: in a subfolder")
            continue
        _add(subs, student, student, "/".join(rel), e)
    return subs, stray


def group_canvas(entries: list) -> tuple:
    """Canvas's flat ``<lastfirst>_[LATE_]<user_id>_<submission_id>_<name>`` files."""
    subs, stray = {}, []
    for e in entries:
        if not e.parts or _skip(e.parts) or e.kind == "dir":
            continue
        name = parse_canvas_name(e.parts[0]) if len(e.parts) == 1 else None
        if name is None:
            _stray(stray, e, "not named as Canvas names a submission")
            continue
        sub = subs.get(name.lms_id)
        if sub and sub.submission_id and name.submission_id != sub.submission_id:
            older, newer = sorted([sub.submission_id, name.submission_id], key=int)
            sub.notes.append(f"two submissions ({older}, {newer}): kept the newer {newer}")
            if name.submission_id == older:
                continue
            sub.files = []
        sub = _add(subs, name.lms_id, name.display, name.original, e)
        sub.submission_id, sub.late = name.submission_id, sub.late or name.late
    return subs, stray


def group_moodle(entries: list) -> tuple:
    """Moodle's ``<Full Name>_<id>_assignsubmission_file_/<name>`` (or flat) entries."""
    subs, stray = {}, []
    for e in entries:
        if not e.parts or _skip(e.parts):
            continue
        name = parse_moodle_name(e.parts[0])
        if name is None:
            if not (e.kind == "dir" or "_assignsubmission_" in e.parts[0]):
                _stray(stray, e, "not named as Moodle names a submission")
            continue  # other plugins (online text, comments) are not notebooks
        if name.original and len(e.parts) == 1:
            _add(subs, name.lms_id, name.display, name.original, e)
        elif not name.original and len(e.parts) == 2:
            _add(subs, name.lms_id, name.display, e.parts[1], e)
        elif not name.original and len(e.parts) > 2:
            _add(subs, name.lms_id, name.display, "", e).notes.append(
                f"ignored {_short('/'.join(e.parts[1:]), 80)}: in a subfolder")
        else:
            subs.setdefault(name.lms_id, Submission(name.lms_id, name.display))
    return subs, stray


def _norm(name: str) -> str:
    name = re.sub(r"\s*\(\d+\)$", "", name)
    name = re.sub(r"[-_ ]?copy\d*$", "", name, flags=re.I)
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _resubmission(original: str) -> tuple:
    """(base name, resubmission number): Canvas's ``tiny-2.ipynb``, a browser's ``tiny (1)``."""
    stem = original[:-len(".ipynb")] if original.lower().endswith(".ipynb") else original
    m = re.match(r"^(.*?)(?:-(\d{1,3}))?(?:\s*\((\d{1,3})\))?$", stem)
    return m[1], int(m[2] or 0) + int(m[3] or 0)


def _candidates(expected: str, notebooks: list, n_expected: int) -> list:
    want = _norm(expected)
    for same in (lambda b: _norm(b) == want, lambda b: bool(want) and want in _norm(b)):
        found = [(o, e) for o, e in notebooks if same(_resubmission(o)[0])]
        if found:
            return found
    # one notebook expected, one submitted under some other name: that is the one
    return notebooks if n_expected == 1 and len(notebooks) == 1 else []


def _newest(cands: list) -> tuple:
    """The newest of several files for one notebook, and the reason it is the newest."""
    def key(c):
        return (_resubmission(c[0])[1], c[1].mtime or 0.0, c[0])

    cands = sorted(cands, key=key, reverse=True)
    best, runner = cands[0], cands[1]
    if key(best)[0] != key(runner)[0]:
        why = f"highest resubmission number ({key(best)[0]})"
    elif key(best)[1] != key(runner)[1]:
        when = datetime.fromtimestamp(key(best)[1], timezone.utc).strftime("%Y-%m-%d %H:%M")
        why = f"newest file time ({when} UTC)"
    else:
        why = "same number and time: the last name in order"
    return best, [c[0] for c in cands[1:]], why


def choose_notebooks(sub: Submission, expected: list) -> tuple:
    """Pick each expected notebook among a student's files.

    Returns
    -------
    chosen : dict notebook name -> (original name, Entry)
    choices : list of Choice (only where there was more than one candidate)
    notes : list of str
    """
    notes, choices, chosen = [], [], {}
    notebooks = []
    for original, e in sub.files:
        if not original.lower().endswith(".ipynb"):
            if original != "timestamp.txt":
                notes.append(f"ignored {_short(original, 80)}: not a notebook")
        elif e.size > MAX_FILE_BYTES:
            notes.append(f"refused {_short(original, 80)}: declares {e.size} bytes, over "
                         f"the {MAX_FILE_BYTES // 2**20} MiB limit")
        else:
            notebooks.append((original, e))
    for name in expected:
        cands = _candidates(name, notebooks, len(expected))
        if not cands:
            continue
        best, over, why = _newest(cands) if len(cands) > 1 else (cands[0], [], "")
        if over:
            choices.append(Choice(sub.key, name, best[0], over, why))
        chosen[name] = best
    used = {o for o, _ in chosen.values()} | {o for c in choices for o in c.over}
    notes += [f"ignored {_short(o, 80)}: not one of the assignment's notebooks"
              for o, _ in notebooks if o not in used]
    return chosen, choices, notes


def release_sources(infos: list) -> dict:
    """notebook -> {grade_id: the release's source of each answer cell}."""
    return {i.name: {c["name"]: c["source"].strip() for c in i.source_cells if c["solution"]}
            for i in infos}


def attempted(data: bytes, answers: dict) -> bool | None:
    """Whether any answer cell differs from the release; None when ``data`` is no notebook."""
    import json

    try:
        nb = json.loads(data.decode("utf-8"))
        cells = nb["cells"]
        for c in cells:
            gid = (c.get("metadata") or {}).get("nbgrader", {}).get("grade_id")
            src = c.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            if gid in answers and src.strip() != answers[gid]:
                return True
        return False
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return None


def _timestamp(sub: Submission, chosen: dict, layout: str) -> str | None:
    """nbgrader's ``timestamp.txt``: the download's own file, else the LMS's file time."""
    from nbgrader.utils import parse_utc

    for original, e in sub.files:
        if original == "timestamp.txt":
            try:
                return parse_utc(e.read(4096).decode("utf-8").strip()).strftime(
                    "%Y-%m-%d %H:%M:%S.%f UTC")
            except Exception:
                sub.notes.append("ignored timestamp.txt: not a timestamp")
    times = [e.mtime for _, e in chosen.values() if e.mtime]
    if layout == "folder" or not times:
        return None  # a copied folder's file times say when it was copied, not submitted
    return datetime.fromtimestamp(max(times), timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _fresh_dest(course: Course, student: str, assignment: str) -> Path:
    dest = course.submitted_dir(student, assignment)
    base = course.submitted_dir("x", assignment).parent.parent.resolve()
    if dest.parent.parent.resolve() != base or dest.parent.name != student:
        raise ValueError(f"student: {printable(student)} does not name one folder")
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    return dest


def _status(expected: list, written: dict, notes: list, late: bool) -> tuple:
    missing = [e for e in expected if e not in written]
    if missing:
        return "missing", ["no " + ", ".join(f"{m}.ipynb" for m in missing)] + notes
    if any(v is None for v in written.values()):
        bad = [f"{k}.ipynb" for k, v in written.items() if v is None]
        return "unreadable", [f"not a readable notebook: {', '.join(bad)}"] + notes
    if not any(written.values()):
        return "not-attempted", ["no answer cell changed from the release"] + notes
    renamed = any(n.startswith("renamed ") for n in notes)
    return ("late" if late else "renamed" if renamed else "ok"), notes


def collect_one(course: Course, assignment: str, student: str, sub: Submission,
                infos: list, layout: str, budget: list) -> tuple:
    """Write one student's chosen notebooks into ``submitted/``; a bad entry costs only them.

    Returns (CollectRow, list of Choice, CollectedStudent).
    """
    expected = [i.name for i in infos]
    answers = release_sources(infos)
    chosen, choices, notes = choose_notebooks(sub, expected)
    notes = sub.notes + notes
    dest = _fresh_dest(course, student, assignment)
    written = {}
    for name, (original, e) in chosen.items():
        try:
            data = e.read(min(MAX_FILE_BYTES, budget[0]))
        except _BAD_ENTRY as exc:
            notes.append(f"could not read {_short(original, 80)}: {type(exc).__name__}: "
                         f"{_short(exc, 100)}")
            continue
        budget[0] -= len(data)
        (dest / f"{name}.ipynb").write_bytes(data)
        written[name] = attempted(data, answers[name])
        if original != f"{name}.ipynb":
            notes.append(f"renamed '{_short(original, 80)}' -> '{name}.ipynb'")
    ts = _timestamp(sub, chosen, layout)
    if ts:
        (dest / "timestamp.txt").write_text(ts + "\n", encoding="utf-8")
    if sub.late:
        notes.append(f"{layout} marks it late" + (f" (submitted {ts[:16]} UTC)" if ts else ""))
    status, notes = _status(expected, written, list(dict.fromkeys(notes)), sub.late)
    record = CollectedStudent(student, sub.key, sub.display, sub.submission_id, sub.late,
                              {n: o for n, (o, _) in chosen.items() if n in written})
    for c in choices:
        c.student = student
    return CollectRow(student, status, "; ".join(notes), sub.display), choices, record


def read_download(path: Path, assignment: str) -> list:
    """Entries of a folder or zip download, with one wrapping top folder removed."""
    if path.is_dir():
        entries = folder_entries(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            entries = zip_entries(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ValueError(f"path: {str(path)!r} is not a readable zip ({exc})") from None
    else:
        raise ValueError(f"path: expected a folder or a zip file, got {str(path)!r}")
    return unwrap(entries, assignment)


def group(entries: list, assignment: str, lms: str | None) -> tuple:
    """(layout, how it was chosen, {key: Submission}, stray rows)."""
    if lms is not None and lms not in LAYOUTS:
        raise ValueError(f"lms: expected one of {', '.join(LAYOUTS)}, got {lms!r}")
    tops = sorted({e.parts[0] for e in entries if e.parts})
    layout = lms or detect_layout(tops)
    how = "--lms" if lms else f"detected from {len(tops)} top-level names"
    if layout == "canvas":
        subs, stray = group_canvas(entries)
    elif layout == "moodle":
        subs, stray = group_moodle(entries)
    else:
        subs, stray = group_folder(entries, assignment)
    return layout, how, subs, stray


def _match(subs: dict, roster: Roster | None, layout: str) -> tuple:
    """Pair each submission with its gradebook student: {student_id: Submission}, rows."""
    by_lms = roster.by_lms_id() if roster else {}
    matched, rows = {}, []
    for key, sub in sorted(subs.items()):
        st = by_lms.get(key)
        if st is None and roster and layout != "folder":
            files = ", ".join(_short(o, 60) for o, _ in sub.files) or "no files"
            rows.append(CollectRow(key, "not-on-roster",
                                   f"{layout} id {_short(key, 30)} matches no roster row; "
                                   f"nothing collected ({files})", sub.display))
            continue
        sid = st.student_id if st else key
        if not SAFE_ID.match(sid) or sid in (".", "..") or printable(sid, 100) != sid:
            rows.append(CollectRow(sid, "rejected",
                                   "not usable as a student id (a folder name)"))
            continue
        if roster and st is None:
            sub.notes.append("not on the roster")
        matched[sid] = sub
    return matched, rows


def collect(course: Course, assignment: str, path, roster=None, lms: str | None = None,
            progress: bool = True) -> CollectReport:
    """Copy the submissions of ``assignment`` in ``path`` (folder or zip) into the course.

    Parameters
    ----------
    roster : path of a Canvas gradebook export, a Moodle grading worksheet or an ``id`` CSV
    lms : ``canvas``, ``moodle`` or ``folder``; detected from the names when None

    Returns
    -------
    CollectReport: one row per student (submitted or on the roster) and per rejected entry,
    and the table of resubmission choices.
    """
    import sys

    from tqdm.auto import tqdm

    path = Path(path)
    entries = read_download(path, assignment)
    course.ensure_assignment(assignment)
    infos = course.notebook_infos(assignment)
    ros = read_lms_roster(roster) if roster else None
    layout, how, subs, rows = group(entries, assignment, lms)
    rows += [CollectRow("(roster)", "rejected", p) for p in (ros.problems if ros else [])]
    matched, unmatched = _match(subs, ros, layout)
    rows += unmatched
    choices, record, budget = [], [], [MAX_TOTAL_BYTES]
    names = {st.student_id: st.name for st in (ros.students if ros else [])}
    for sid, sub in tqdm(sorted(matched.items()), desc=f"collect {assignment}", unit="sub",
                         disable=not progress, file=sys.stderr):
        row, ch, rec = collect_one(course, assignment, sid, sub, infos, layout, budget)
        row.name = printable(names[sid], 60) if names.get(sid) else row.name
        rows.append(row)
        choices += ch
        record.append(rec)
    for st in (ros.students if ros else []):
        if st.student_id not in matched:
            rows.append(CollectRow(st.student_id, "no-submission",
                                   "on the roster, nothing submitted", st.name))
    _update_gradebook(course, ros, matched)
    saved = _save_roster(course, assignment, roster)
    CollectRecord(assignment, layout, saved, record).save(course.root)
    rows.sort(key=lambda r: (r.student.startswith("("), r.student))
    return CollectReport(layout, how, rows, choices)


def _update_gradebook(course: Course, ros: Roster | None, matched: dict) -> None:
    with course.gradebook() as gb:
        for st in (ros.students if ros else []):
            names = {k: v for k, v in (("first_name", st.first_name),
                                       ("last_name", st.last_name), ("email", st.email)) if v}
            gb.update_or_create_student(st.student_id, **names)
        for sid in matched:
            gb.update_or_create_student(sid)


def _save_roster(course: Course, assignment: str, roster) -> str | None:
    """Keep a copy of the roster beside the record, so ``export`` finds it later."""
    if not roster:
        return None
    dest = course.root / "lms" / f"{assignment}-roster.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if Path(roster).resolve() != dest.resolve():
        shutil.copyfile(roster, dest)
    return str(dest)


def read_roster(path) -> list:
    """Students of a roster CSV (Canvas, Moodle or a plain CSV with column ``id``).

    Returns
    -------
    list of dict with keys ``id``, ``first_name``, ``last_name``, ``email`` (None if absent).
    """
    return [{"id": s.student_id, "first_name": s.first_name, "last_name": s.last_name,
             "email": s.email} for s in read_lms_roster(path).students]


def fix_names(folder: Path, expected: list) -> list:
    """Rename a notebook in ``folder`` submitted under a wrong name when it matches unambiguously."""
    files = [(p.name, Entry((p.name,), "file", 0, p.stat().st_mtime, p))
             for p in sorted(Path(folder).glob("*.ipynb"))]
    chosen, _, _ = choose_notebooks(Submission("", "", files), expected)
    notes = []
    for name, (original, _) in sorted(chosen.items()):
        if original != f"{name}.ipynb" and not (Path(folder) / f"{name}.ipynb").exists():
            (Path(folder) / original).rename(Path(folder) / f"{name}.ipynb")
            notes.append(f"renamed {original!r} -> '{name}.ipynb'")
    return notes
