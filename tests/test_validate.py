"""course_lib.validate: the one set of argument checks; each message names the argument and
what was expected."""

import numpy as np
import pytest

from course_lib.validate import (check_bool, check_cache, check_choice, check_int, check_number,
                                 check_seed)


@pytest.mark.parametrize("value", [True, np.bool_(False), 1.0, "3", None, 0])
def test_check_int_refuses_bools_floats_strings_none_and_out_of_range(value):
    with pytest.raises(ValueError, match=r"^bptt: expected an int >= 1, got "):
        check_int(value, "bptt")


def test_check_int_accepts_numpy_ints_and_returns_python_ints():
    got = check_int(np.int64(3), "n", 0, 5)
    assert got == 3 and type(got) is int
    assert check_int(None, "max_batches", optional=True) is None
    with pytest.raises(ValueError, match=r"^i: expected an int in \[0, 4\], got 5$"):
        check_int(5, "i", 0, 4)
    with pytest.raises(ValueError, match=r"^top_k: expected None or an int >= 1, got 0$"):
        check_int(0, "top_k", optional=True)


@pytest.mark.parametrize("value, match", [
    (0.0, r"^lr: expected a finite number > 0, got 0.0$"),
    (float("inf"), r"^lr: expected a finite number > 0, got inf$"),
    (float("nan"), r"^lr: expected a finite number > 0, got nan$"),
    (True, r"^lr: expected a finite number > 0, got True$"),
])
def test_check_number_strict_lower_bound(value, match):
    with pytest.raises(ValueError, match=match):
        check_number(value, "lr", 0, strict=True)


def test_check_number_closed_interval_and_bool_and_choice():
    assert check_number(1, "dropout", 0, 1) == 1.0
    with pytest.raises(ValueError, match=r"^dropout: expected a finite number in \[0, 1\], got 1.5$"):
        check_number(1.5, "dropout", 0, 1)
    with pytest.raises(ValueError, match=r"^bidirectional: expected a bool \(True or False\), got 1$"):
        check_bool(1, "bidirectional")
    assert check_bool(np.bool_(True), "bidirectional") is True
    with pytest.raises(ValueError, match=r"^cell: expected one of \('rnn', 'lstm'\), got 'gru'$"):
        check_choice("gru", "cell", ("rnn", "lstm"))


def test_check_seed_and_cache():
    g = np.random.default_rng(0)
    assert check_seed(g) is g
    assert check_seed(3).integers(10) == np.random.default_rng(3).integers(10)
    with pytest.raises(ValueError, match=r"^seed: expected None, an int or a numpy.random.Generator, got 1.5$"):
        check_seed(1.5)
    with pytest.raises(ValueError, match=r"^cache: expected the cache dict returned by f, but it lacks 'h'"):
        check_cache({"x": 1}, ("x", "h"), "f")
