"""Canvas and Moodle as the instructor meets them: rosters, submission names, import files.

Canvas
    "Download Submissions" gives a flat zip of
    ``<lastfirst>_[LATE_]<user_id>_<submission_id>_<original name>``; the roster is Canvas's
    gradebook export (``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per
    assignment ``<name> (<assignment id>)``, a second row ``Points Possible``). The gradebook
    import reads the same file back: those five columns, one assignment column, the
    ``Points Possible`` row. A blank cell leaves a grade ungraded (Canvas's missing policy
    decides), so a student who submitted nothing gets a blank, never a 0.
Moodle
    "Download all submissions" gives folders ``<Full Name>_<participant id>_assignsubmission_file_/``
    (or flat files ``<Full Name>_<participant id>_assignsubmission_file_<name>``); the roster is
    the assignment's "grading worksheet" (``Identifier`` = ``Participant <id>``, ``Full name``,
    ``Email address``, ... ``Grade``, ``Feedback comments``), which "Upload grading worksheet"
    reads back with ``Grade`` and ``Feedback comments`` filled. An empty ``Grade`` is left
    ungraded by the upload. Feedback files go back as a zip of the same folder names.

In the gradebook a Canvas student is their Canvas user ID and a Moodle student their
participant id, so every later step maps back to the LMS without guessing from names.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .text import printable

LAYOUTS = ("canvas", "moodle", "folder")
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas's own export writes it
MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade",
                  "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                  "Last modified (grade)", "Feedback comments"]

_CANVAS_NAME = re.compile(r"^(?P<lastfirst>[^_/]+?)_(?:(?P<late>late)_)?(?P<user_id>\d+)_"
                          r"(?P<submission_id>\d+)_(?P<original>.+)$", re.I)
_MOODLE_NAME = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
                          r"(?P<rest>.*)$")
_CANVAS_COLUMN = re.compile(r"^(?P<name>.*\S)\s*\((?P<id>\d+)\)$")
#: a gradebook student id becomes a folder name: keep it to one plain path component
SAFE_ID = re.compile(r"^[^\x00-\x1f\x7f/\\]{1,100}$")


@dataclass(frozen=True)
class LmsName:
    """What an LMS file or folder name says about its submission."""

    lms_id: str  # Canvas user ID / Moodle participant id
    display: str  # lastfirst (Canvas) or Full Name (Moodle)
    original: str  # the student's own file name ("" for a Moodle folder)
    late: bool = False
    submission_id: str = ""


def parse_canvas_name(name: str) -> LmsName | None:
    """``lovelaceada_LATE_123_456_tiny (1).ipynb`` -> LmsName, or None if not Canvas's."""
    m = _CANVAS_NAME.match(name)
    if not m:
        return None
    return LmsName(m["user_id"], m["lastfirst"], m["original"], bool(m["late"]),
                   m["submission_id"])


def parse_moodle_name(name: str) -> LmsName | None:
    """``Ada Lovelace_123_assignsubmission_file_[name]`` -> LmsName, or None."""
    m = _MOODLE_NAME.match(name)
    if not m or m["plugin"] != "file":
        return None
    return LmsName(m["pid"], m["name"], m["rest"])


def detect_layout(top_names: list) -> str:
    """``canvas``, ``moodle`` or ``folder`` from the top-level names of a download."""
    names = [n for n in top_names if not n.startswith((".", "__MACOSX"))]
    if not names:
        return "folder"
    for layout, parse in (("moodle", parse_moodle_name), ("canvas", parse_canvas_name)):
        if sum(parse(n) is not None for n in names) * 2 > len(names):
            return layout
    return "folder"


@dataclass(frozen=True)
class RosterStudent:
    """One student of a roster, as the gradebook and the LMS know them."""

    student_id: str  # the gradebook's id (and the submitted/ folder name)
    lms_id: str  # Canvas user ID, Moodle participant id, or student_id for a plain roster
    name: str = ""
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


@dataclass
class Roster:
    """A roster CSV read whole: its students, its columns and rows (kept for the export)."""

    layout: str
    columns: list
    rows: list  # the CSV's student rows as dicts, in file order
    students: list  # RosterStudent, one per usable row, same order
    problems: list = field(default_factory=list)  # printable lines for collect's table

    def by_lms_id(self) -> dict:
        return {s.lms_id: s for s in self.students}


def _read_rows(path: Path) -> tuple:
    if not path.is_file():
        raise ValueError(f"roster: expected a CSV file, got {str(path)!r}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows = [{k.strip() if k else "": (v or "").strip() for k, v in r.items()}
                for r in reader]
        return [c.strip() for c in (reader.fieldnames or [])], rows


def _column(columns: list, *names) -> str | None:
    low = {c.lower(): c for c in columns}
    return next((low[n.lower()] for n in names if n.lower() in low), None)


def roster_layout(columns: list) -> str:
    """The LMS a roster CSV came from, judged by its header."""
    if _column(columns, "Identifier") and _column(columns, "Full name"):
        return "moodle"
    if all(_column(columns, c) for c in ("Student", "ID", "SIS User ID")):
        return "canvas"
    if _column(columns, "id"):
        return "folder"
    raise ValueError("roster: expected a column 'id' (or a Canvas gradebook export: Student, ID, "
                     "SIS User ID, ...; or a Moodle grading worksheet: Identifier, Full name, "
                     f"...), got columns {[printable(c) for c in columns]}")


def _canvas_student(row: dict, cols: list) -> RosterStudent | None:
    uid = row.get(_column(cols, "ID"), "")
    name = row.get(_column(cols, "Student"), "")
    if not uid.isdigit() or name.strip() == CANVAS_POINTS_ROW.strip():
        return None  # the Points Possible / Manual Posting rows, or a malformed line
    last, _, first = name.partition(",")
    return RosterStudent(uid, uid, name, first.strip() or None, last.strip() or None, None)


def _moodle_student(row: dict, cols: list) -> RosterStudent | None:
    m = re.match(r"^\D*(\d+)$", row.get(_column(cols, "Identifier"), ""))
    if not m:
        return None
    name = row.get(_column(cols, "Full name"), "")
    first, _, last = name.rpartition(" ") if " " in name else (name, "", "")
    email = row.get(_column(cols, "Email address") or "", "") or None
    return RosterStudent(m[1], m[1], name, first or None, last or None, email)


def _plain_student(row: dict, cols: list) -> RosterStudent | None:
    def col(*names):
        c = _column(cols, *names)
        return (row.get(c) or None) if c else None

    sid = col("id")
    if not sid:
        return None
    first, last = col("first_name", "first", "firstname"), col("last_name", "last", "lastname")
    return RosterStudent(sid, sid, " ".join(n for n in (first, last) if n), first, last,
                         col("email", "e-mail"))


def read_lms_roster(path) -> Roster:
    """Read a Canvas gradebook export, a Moodle grading worksheet or a plain ``id`` CSV.

    A row whose id repeats an earlier one, or is not a usable folder name, is left out with a
    line in ``problems``; nothing else is dropped.
    """
    cols, rows = _read_rows(Path(path))
    layout = roster_layout(cols)
    make = {"canvas": _canvas_student, "moodle": _moodle_student,
            "folder": _plain_student}[layout]
    students, seen, problems, kept = [], set(), [], []
    for i, row in enumerate(rows, start=2):
        st = make(row, cols)
        if st is None:
            continue
        if not SAFE_ID.match(st.student_id) or st.student_id in (".", ".."):
            problems.append(f"roster line {i}: id {st.student_id!r} is not usable as "
                            "a folder name; left out")
        elif st.lms_id in seen:
            problems.append(f"roster line {i}: duplicate id {st.lms_id}; "
                            "the first row is kept")
        else:
            seen.add(st.lms_id)
            students.append(st)
            kept.append(row)
    return Roster(layout, cols, kept, students, problems)


# -- the record collect leaves for export and feedback ---------------------------------------
@dataclass
class CollectedStudent:
    """Where one collected submission came from in the LMS (one entry of the record)."""

    student_id: str
    lms_id: str
    display: str  # lastfirst (Canvas) or Full Name (Moodle) as the download named it
    submission_id: str = ""
    late: bool = False
    files: dict = field(default_factory=dict)  # notebook name -> the chosen original name


@dataclass
class CollectRecord:
    """What ``collect`` learned about an assignment's LMS: read by ``export`` and ``feedback``."""

    assignment: str
    layout: str
    roster_path: str | None
    students: list  # CollectedStudent

    @staticmethod
    def path(course_root, assignment: str) -> Path:
        return Path(course_root) / "lms" / f"{assignment}.json"

    def save(self, course_root) -> Path:
        p = self.path(course_root, self.assignment)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(asdict(self), indent=1, ensure_ascii=False), encoding="utf-8")
        return p

    @classmethod
    def load(cls, course_root, assignment: str) -> CollectRecord | None:
        try:
            data = json.loads(cls.path(course_root, assignment).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        data["students"] = [CollectedStudent(**s) for s in data.get("students", [])]
        return cls(**data)


# -- import files ----------------------------------------------------------------------------
def canvas_column(roster: Roster, assignment: str, column: str | None = None) -> str:
    """The Canvas gradebook column ``<name> (<id>)`` that receives ``assignment``'s points.

    ``column`` (the instructor's ``--lms-column``) wins; otherwise the roster's assignment
    column whose name matches the nbgrader assignment's (ignoring case and punctuation).
    """
    if column:
        if not _CANVAS_COLUMN.match(column):
            raise ValueError(f"lms_column: expected Canvas's '<assignment name> (<id>)', "
                             f"got {printable(column)}")
        return column
    want = re.sub(r"[^0-9a-z]", "", assignment.lower())
    found = [c for c in roster.columns if (m := _CANVAS_COLUMN.match(c))
             and re.sub(r"[^0-9a-z]", "", m["name"].lower()) == want]
    if len(found) != 1:
        others = [c for c in roster.columns if _CANVAS_COLUMN.match(c)]
        raise ValueError(f"lms_column: the Canvas roster has {len(found)} columns for "
                         f"{assignment!r} (its assignment columns: {others}); pass "
                         "--lms-column '<Canvas assignment name> (<id>)'")
    return found[0]


def _points(x: float) -> str:
    return f"{round(float(x), 4):g}"


def write_canvas_csv(path, roster: Roster, column: str, max_score: float, scores: dict) -> int:
    """Canvas's gradebook import: the five identity columns, ``column``, Points Possible row.

    ``scores`` maps student_id -> points (None or absent: blank, left ungraded). Written as
    UTF-8 with a byte-order mark, as Canvas's own export is. Returns the student rows written.
    """
    cols = [_column(roster.columns, c) or c for c in CANVAS_COLUMNS]
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(CANVAS_COLUMNS + [column])
        w.writerow([CANVAS_POINTS_ROW, "", "", "", "", _points(max_score)])
        for st, row in zip(roster.students, roster.rows):
            got = scores.get(st.student_id)
            w.writerow([row.get(c, "") for c in cols] + ["" if got is None else _points(got)])
    return len(roster.students)


def write_moodle_csv(path, roster: Roster, max_score: float, scores: dict,
                     comments: dict) -> int:
    """Moodle's grading worksheet with ``Grade`` and ``Feedback comments`` filled.

    Every column of the downloaded worksheet is kept (the upload matches rows on
    ``Identifier``); a roster that is not a worksheet gets Moodle's column set. ``Grade`` is
    blank for a student with no score, so the upload leaves them ungraded.
    """
    cols = roster.columns if roster.layout == "moodle" else MOODLE_COLUMNS
    grade = _column(cols, "Grade") or "Grade"
    feedback = _column(cols, "Feedback comments") or "Feedback comments"
    cols = cols + [c for c in (grade, feedback) if c not in cols]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for st, row in zip(roster.students, roster.rows):
            out = dict(row) if roster.layout == "moodle" else {
                "Identifier": f"Participant {st.lms_id}", "Full name": st.name,
                "Email address": st.email or "", "Maximum Grade": f"{float(max_score):.2f}"}
            got = scores.get(st.student_id)
            out[grade] = "" if got is None else f"{float(got):.2f}"
            out[feedback] = comments.get(st.student_id, "") if got is not None else ""
            w.writerow(out)
    return len(roster.students)


def canvas_folder(st: CollectedStudent) -> str:
    """The folder name Canvas gives a student in its download: ``<lastfirst>_<user id>``."""
    return f"{st.display}_{st.lms_id}"


def moodle_folder(st: CollectedStudent) -> str:
    """Moodle's feedback-files zip folder: ``<Full Name>_<participant id>_assignsubmission_file_``."""
    return f"{st.display}_{st.lms_id}_assignsubmission_file_"
