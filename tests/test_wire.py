"""The checker's channel in isolation: only data crosses, and the scoring rule of a test cell."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from course_lib.autograde import wire
from course_lib.autograde.checker import _mirror, free_names, score_of, split_hidden
from course_lib.autograde.protocol import (CellVerdict, CheckerResult, GradingRecord, Limits,
                                           NotebookSpec, NotebookSummary, SourceCell, Status,
                                           SubmissionOutcome, SubmissionTask, SubmittedFile,
                                           WorkerResult)


def test_plain_data_round_trips_with_types_and_dtypes():
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), np.int64(7), np.float32(0.5),
             {"a": [1, 2.5, None, True], (1, "x"): "y"}, Counter({("a", "b"): 2}),
             float("nan"), -float("inf"), np.array(list("abc")), np.zeros((0, 4), bool))
    back = wire.loads(wire.dumps(value))
    assert isinstance(back, tuple) and len(back) == len(value)
    assert back[0].dtype == np.float32 and np.array_equal(back[0], value[0])
    assert type(back[1]) is np.int64 and type(back[2]) is np.float32
    assert back[3] == value[3] and type(back[4]) is Counter and back[4] == value[4]
    assert math.isnan(back[5]) and back[6] == -math.inf
    assert back[7].dtype == np.dtype("<U1") and back[8].shape == (0, 4)


def test_torch_tensors_cross_as_arrays_and_modules_only_into_the_sandbox():
    torch = pytest.importorskip("torch")
    t = torch.arange(4.0, requires_grad=True)
    back = wire.loads(wire.dumps(t * 2))
    assert isinstance(back, torch.Tensor) and not back.requires_grad
    rnn = torch.nn.RNN(3, 4)
    text = wire.dumps(rnn, send_modules=True)
    built = wire.loads(text, allow_modules=True)
    assert type(built) is torch.nn.RNN and torch.equal(built.weight_hh_l0, rnn.weight_hh_l0)
    with pytest.raises(wire.WireError, match="unknown tag"):
        wire.loads(text)  # the checker never builds a module from the sandbox's data


class _Sneaky(np.ndarray):
    def __eq__(self, other):
        return True


class _AlwaysEqual:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)


def test_objects_that_are_not_data_stay_behind_as_handles():
    store = {}
    data = json.loads(wire.dumps((np.zeros(2).view(_Sneaky), _AlwaysEqual(), print), store))
    tags = [next(iter(d)) for d in data["$tuple"]]
    assert tags == ["$handle", "$handle", "$handle"] and len(store) == 3
    with pytest.raises(wire.WireError, match="handle"):
        wire.loads(json.dumps(data))  # data was expected, a handle came
    with pytest.raises(wire.WireError, match="cannot cross"):
        wire.dumps(_AlwaysEqual())  # no store: not even a handle


@pytest.mark.parametrize("text, message", [
    ('{"$nd": ["object", [1], "AA=="]}', "may not cross"),
    ('{"$nd": ["float64", [2], "AA=="]}', "does not match its shape"),
    ('{"$nd": ["float64", [-1], ""]}', "shape"),
    ('{"$np": ["float64", "!!"]}', "malformed"),
    ('{"__reduce__": ["os.system", ["echo"]]}', "unknown tag"),
    ('{"a": 1, "b": 2}', "malformed value"),
    ('{"$module": ["RNN", {}, {}]}', "unknown tag"),
    ("[" * 40 + "]" * 40, "deeper"),
    ('{"$float": "1e999"}', "malformed float"),
    ("not json", "not valid JSON"),
])
def test_malformed_or_hostile_payloads_are_rejected_with_a_message(text, message):
    with pytest.raises(wire.WireError, match=message):
        wire.loads(text, resolve=None)


def test_size_limits_hold_both_ways():
    with pytest.raises(wire.WireError, match="too large"):
        wire.dumps(np.zeros(1000), max_bytes=100)
    with pytest.raises(wire.WireError, match="too large"):
        wire.loads(wire.dumps(np.zeros(1000)), max_bytes=100)


@pytest.mark.parametrize("value, points, score", [
    (None, 2, 2.0), (1.5, 2, 1.5), (0, 2, 0.0), (np.float64(2.0), 2, 2.0),
    ("2", 2, 0.0), (float("nan"), 2, 0.0), (3.0, 2, 0.0), (-1, 2, 0.0), (True, 2, 0.0),
    (float("inf"), 2, 0.0), ([2], 2, 0.0),
])
def test_a_test_scores_only_an_explicit_finite_result_inside_its_points(value, points, score):
    got, why = score_of(value, points)
    assert got == score
    assert (why == "") == (score > 0 or value == 0)


def test_free_names_are_what_the_cell_reads_and_does_not_bind():
    src = "score = Score(2)\nimport numpy as np\nps2.check(score, 1, rnn_forward, seed=0)\nscore"
    import ast

    assert free_names(ast.parse(src)) == {"Score", "ps2", "rnn_forward"}


def test_the_visible_part_is_split_from_the_hidden_one():
    src = ("score = Score(2)\nchk(score, 1, f)\n### BEGIN HIDDEN TESTS\nchk(score, 1, f, seed=9)\n"
           "### END HIDDEN TESTS\nscore")
    visible, hidden, last = split_hidden(src)
    assert len(visible) == 2 and len(hidden) == 1 and last is not None


def test_in_place_changes_come_back_into_the_callers_arrays():
    grads = {"W": np.ones((2, 2)), "b": np.ones(2)}
    arr = np.zeros(3)
    _mirror([grads, arr, 5], [{"W": np.full((2, 2), 0.5), "b": np.ones(3)}, np.arange(3.0), 6])
    assert np.all(grads["W"] == 0.5) and grads["b"].shape == (3,)
    assert np.array_equal(arr, [0, 1, 2])


def test_records_round_trip_through_json():
    cell = SourceCell(name="t", cell_type="code", source="assert f()", checksum="c",
                      locked=True, grade=True, solution=False, points=2.0)
    task = SubmissionTask(student="s", assignment="a",
                          notebooks=(NotebookSpec(name="a", source_cells=(cell,)),),
                          files=(SubmittedFile(path="a.ipynb", data_b64="e30="),),
                          limits=Limits(cell_timeout=3))
    assert SubmissionTask.from_json(task.to_json()) == task
    out = SubmissionOutcome(student="s", assignment="a", course_version="v", fingerprint="f",
                            worker=WorkerResult(), checker=CheckerResult(notebooks={"a": (
                                CellVerdict(grade_id="t", points=2.0, score=1.0),)}))
    back = SubmissionOutcome.from_json(out.to_json())
    assert back == out and isinstance(back.checker.notebooks["a"][0], CellVerdict)
    assert Status("grader-failed").is_grader_failure
    with pytest.raises(ValueError, match="cell_timeout"):
        Limits(cell_timeout=0)


def test_grading_record_round_trips_and_a_damaged_one_reads_as_none(tmp_path):
    kept = GradingRecord(fingerprint="f", score=1.0, max_score=3.0, status=Status.TESTS_FAILED,
                         notebooks={"a": NotebookSummary(scores={"t": 1.0, "essay": None},
                                                         diagnoses={"t": ("dWh at t=2",)})},
                         flags=("a: copied",), timings={"wall_s": 2.5})
    kept.write(tmp_path / "new")
    back = GradingRecord.read(tmp_path / "new")
    assert back == kept and isinstance(back.notebooks["a"], NotebookSummary)
    assert back.notebooks["a"].diagnoses["t"] == ("dWh at t=2",)
    assert GradingRecord.read(tmp_path / "absent") is None
    for damaged in ("{", "[1]", '{"status": "no-such-status"}'):
        (tmp_path / "new" / GradingRecord.FILE).write_text(damaged)
        assert GradingRecord.read(tmp_path / "new") is None, damaged
