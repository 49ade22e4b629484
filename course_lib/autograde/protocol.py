"""The autograder's data contract: every record that crosses a process boundary, defined once.

Three processes grade one submission, and a cluster may add a fourth machine:

- the **parent** (``rnn-course autograde``) builds a :class:`SubmissionTask` from the course
  folder and, at the end, alone writes the gradebook from a :class:`SubmissionOutcome`;
- the **sandbox worker** (:mod:`.sandbox`) gets a :class:`SandboxJob`, runs the student's
  notebook in a jailed kernel and returns a :class:`WorkerResult` (executed notebooks, no
  score);
- the **checker** (:mod:`.checker`) gets a :class:`CheckerJob` (the gradebook's test cells),
  runs every test cell in its own interpreter, calling the student's functions in the sandbox
  through the channel, and returns a :class:`CheckerResult`: the only source of scores.

The parent keeps a :class:`GradingRecord` beside each autograded submission: what a rerun,
the feedback and the export read back.

Records are frozen dataclasses of plain values; ``to_json``/``from_json`` round-trip them, and
``from_json`` rebuilds nested records by their type hints, so both sides agree by construction.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import typing
from dataclasses import dataclass, field


class Status(str, enum.Enum):
    """What happened to a notebook (or a submission: its first non-OK notebook)."""

    OK = "ok"
    TESTS_FAILED = "tests-failed"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    KERNEL_FAILED = "kernel-failed"
    KERNEL_DIED = "kernel-died"
    CELL_TIMEOUT = "cell-timeout"
    TIMEOUT = "timeout"
    #: the grader's own failures: never kept, regraded by the next run
    SANDBOX_FAILED = "sandbox-failed"
    GRADER_FAILED = "grader-failed"

    @property
    def is_grader_failure(self) -> bool:
        return self in (Status.SANDBOX_FAILED, Status.GRADER_FAILED)


class _Record:
    """JSON round trip for the dataclasses below (nested records rebuilt from type hints)."""

    def to_json(self) -> str:
        # ASCII-escaped: a lone surrogate a student wrote is valid JSON only so
        return json.dumps(_to_data(self), ensure_ascii=True)

    @classmethod
    def from_json(cls, text):
        return _from_data(cls, json.loads(text))


def _to_data(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (list, tuple)):
        return [_to_data(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_data(v) for k, v in obj.items()}
    return obj


def _from_data(tp, data):
    origin = typing.get_origin(tp)
    if origin is typing.Union:  # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if data is None else _from_data(args[0], data)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (typing.Any,)
        return origin(_from_data(inner, v) for v in data)
    if origin is dict:
        _, inner = typing.get_args(tp)
        return {k: _from_data(inner, v) for k, v in data.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: _from_data(hints[k], v) for k, v in data.items() if k in names})
    return data


@dataclass(frozen=True)
class Limits(_Record):
    """Resource limits of one submission: the only place these numbers live.

    Parameters
    ----------
    cell_timeout : int
        Wall-clock seconds for one cell (a test cell: all its checks together).
    notebook_timeout : int
        Wall-clock seconds for a whole notebook, kernel start included.
    memory_mb : int
        Address-space limit of the kernel and every process it starts (RLIMIT_AS).
    nproc : int
        Tasks (threads and processes) the sandbox uid may hold (RLIMIT_NPROC).
    fsize_mb, tmp_mb : int
        Largest file the kernel may write; size of its private /tmp.
    max_notebook_bytes : int
        Largest submitted file that is read at all.
    max_cell_bytes, max_nb_bytes : int
        Output kept per cell and per notebook (the rest is cut, with a note).
    call_timeout : int
        Wall-clock seconds for one call of a student's function by the checker.
    max_reply_bytes : int
        Largest answer of one such call.
    """

    cell_timeout: int = 120
    notebook_timeout: int = 600
    memory_mb: int = 2048
    nproc: int = 64
    fsize_mb: int = 64
    tmp_mb: int = 256
    max_notebook_bytes: int = 16 * 2**20
    max_cell_bytes: int = 256 * 1024
    max_nb_bytes: int = 2 * 2**20
    call_timeout: int = 60
    max_reply_bytes: int = 32 * 2**20

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{f.name}: expected a positive integer, got {v!r}")


@dataclass(frozen=True)
class SourceCell(_Record):
    """One nbgrader cell of the instructor's notebook, as the gradebook holds it."""

    name: str
    cell_type: str
    source: str
    checksum: str
    locked: bool
    grade: bool
    solution: bool
    task: bool = False
    points: float = 0.0

    @property
    def is_test(self) -> bool:
        """An autograded test cell (graded, not an answer the instructor grades by hand)."""
        return self.grade and not self.solution and self.cell_type == "code"


@dataclass(frozen=True)
class NotebookSpec(_Record):
    """A notebook of the assignment: its nbgrader cells in source order."""

    name: str
    source_cells: tuple[SourceCell, ...] = ()
    missing: bool = False

    @property
    def test_cells(self) -> tuple:
        return tuple(c for c in self.source_cells if c.is_test)


@dataclass(frozen=True)
class SubmittedFile(_Record):
    """A file of the submission (or an instructor's data file), carried by value."""

    path: str  # relative to the submission folder
    data_b64: str = ""
    error: str = ""  # why it was not read (too large, unreadable)

    @property
    def data(self) -> bytes:
        return base64.b64decode(self.data_b64)


@dataclass(frozen=True)
class SubmissionTask(_Record):
    """Everything needed to grade one submission anywhere: no path into the course folder."""

    student: str
    assignment: str
    notebooks: tuple[NotebookSpec, ...]
    files: tuple[SubmittedFile, ...]
    limits: Limits
    #: hash of course_lib's source and the test cells (see :func:`.autograde.course_fingerprint`)
    course_version: str = ""
    seq: int = 0  # position in the run: picks the sandbox uid
    fingerprint: str = ""  # of the submission's files (what a rerun compares)


@dataclass(frozen=True)
class SandboxJob(_Record):
    """What the sandbox worker reads from its job folder."""

    task: SubmissionTask
    channel_path: str  # the checker's Unix socket, connected before the sandbox is sealed
    uid: typing.Optional[int] = None
    gid: typing.Optional[int] = None
    namespaces: bool = False
    host_ns: dict[str, typing.Optional[str]] = field(default_factory=dict)
    #: folders the kernel needs read-only: the interpreter and its environment
    needed: tuple[str, ...] = ()
    #: the sandbox's own small course_lib (file name -> source): data helpers, no reference
    sandbox_lib: dict[str, str] = field(default_factory=dict)
    jail_source: str = ""


@dataclass(frozen=True)
class CheckerJob(_Record):
    """What the checker reads: the gradebook's test cells, never anything from the sandbox."""

    notebooks: tuple[NotebookSpec, ...]
    limits: Limits
    channel_path: str


@dataclass(frozen=True)
class CellVerdict(_Record):
    """The checker's result for one test cell."""

    grade_id: str
    points: float
    score: float
    #: the result of the visible part alone: what the student's own notebook shows
    visible_score: float = 0.0
    output: str = ""  # what the checks printed: the student's feedback under the cell
    error: str = ""  # the exception that ended the cell, if any
    diagnoses: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.score >= self.points


@dataclass(frozen=True)
class CheckerResult(_Record):
    """Verdicts per notebook name; ``error`` set when the checker itself failed."""

    notebooks: dict[str, tuple[CellVerdict, ...]] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class NotebookRun(_Record):
    """The sandbox's record of one notebook: what ran, never a score."""

    name: str
    status: Status = Status.OK
    reason: str = ""
    notes: tuple[str, ...] = ()  # what the sanitizer repaired
    nb: typing.Optional[dict] = None  # the executed notebook (test cells without their outputs)
    exec_s: float = 0.0
    startup_s: float = 0.0
    truncated_cells: tuple[int, ...] = ()
    #: the scores the submitted file's own test-cell outputs show (grade id -> points)
    claims: dict[str, float] = field(default_factory=dict)
    #: test cells the notebook reached (in order): a cell not reached was not checked
    reached: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerResult(_Record):
    notebooks: dict[str, NotebookRun] = field(default_factory=dict)
    protections: tuple[str, ...] = ()  # what is in force, as measured inside the sandbox
    errors: dict[str, str] = field(default_factory=dict)  # protections that failed, and why
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmissionOutcome(_Record):
    """Everything the parent needs to record one submission (what a cluster task returns)."""

    student: str
    assignment: str
    course_version: str
    fingerprint: str
    worker: WorkerResult
    checker: CheckerResult
    wall_s: float = 0.0
    host: str = ""
    error: str = ""  # the grader's own failure (then nothing is recorded as a grade)


@dataclass(frozen=True)
class NotebookSummary(_Record):
    """One notebook's line in a :class:`GradingRecord`: the checker's points and what happened."""

    scores: dict[str, typing.Optional[float]] = field(default_factory=dict)  # None: by hand
    status: Status = Status.OK
    reason: str = ""
    notes: tuple[str, ...] = ()  # what the sanitizer repaired
    #: the checker's diagnoses per test cell, as printed under it (the export's CSV column)
    diagnoses: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class GradingRecord(_Record):
    """What the parent keeps beside an autograded submission, read back by rerun, feedback, export.

    Lives at ``autograded/<student>/<assignment>/.rnn-course.json``: written only by the parent
    (the student's code never runs where it can reach it), never copied to the feedback.
    """

    FILE: typing.ClassVar[str] = ".rnn-course.json"

    fingerprint: str = ""  # of the submission's files: a rerun skips what is unchanged
    course_version: str = ""
    score: float = 0.0
    max_score: float = 0.0
    status: Status = Status.OK
    reason: str = ""
    notebooks: dict[str, NotebookSummary] = field(default_factory=dict)
    flags: tuple[str, ...] = ()  # disagreements with the notebook's own outputs
    protections: tuple[str, ...] = ()
    host: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def write(self, folder) -> None:
        """Write ``folder/.rnn-course.json`` (the folder is created)."""
        from pathlib import Path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self.FILE).write_text(json.dumps(_to_data(self), indent=1, ensure_ascii=True),
                                        encoding="utf-8")

    @classmethod
    def read(cls, folder) -> typing.Optional["GradingRecord"]:
        """The record in ``folder``, or None where there is none or it does not parse."""
        from pathlib import Path

        try:
            return cls.from_json((Path(folder) / cls.FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError, AttributeError):
            return None
