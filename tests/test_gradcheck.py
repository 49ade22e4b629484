"""course_lib.gradcheck: numerical_gradient, rel_error and check_gradients."""

import numpy as np
import pytest

from course_lib.gradcheck import GradCheckResult, check_gradients, numerical_gradient, rel_error
from course_lib.numpy_rnn import rnn_step_backward, rnn_step_forward


# --------------------------------------------------------------------------------------------
# numerical_gradient
# --------------------------------------------------------------------------------------------

def test_scalar_function_gradient():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    g = numerical_gradient(lambda v: np.sum(v ** 3), x)
    np.testing.assert_allclose(g, 3 * x ** 2, rtol=1e-9)


def test_array_function_with_upstream_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2))
    W = rng.normal(size=(2, 4))
    df = rng.normal(size=(3, 4))
    g = numerical_gradient(lambda v: np.tanh(v @ W), x, df)
    exact = (df * (1 - np.tanh(x @ W) ** 2)) @ W.T
    assert rel_error(g, exact) < 1e-8
    # default df = ones: the gradient of sum(f)
    g1 = numerical_gradient(lambda v: np.tanh(v @ W), x)
    assert rel_error(g1, ((1 - np.tanh(x @ W) ** 2)) @ W.T) < 1e-8


def test_centred_differences_are_second_order():
    # for f = x^3 a forward difference is off by ~3 x h; the centred one by h^2 only
    x = np.array([2.0])
    g = numerical_gradient(lambda v: v ** 3, x, h=1e-3)
    assert abs(g[0] - 12.0) < 2e-6


def test_input_is_restored_even_when_f_raises():
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    numerical_gradient(lambda v: v * 2, x)
    np.testing.assert_array_equal(x, before)

    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return v.sum()

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, before)


def test_closure_over_buffer_that_f_overwrites():
    """f may return the same buffer each call: the numerical gradient must copy outputs."""
    x = np.array([1.0, 2.0])
    buf = np.empty(2)

    def f(v):
        np.multiply(v, v, out=buf)
        return buf

    np.testing.assert_allclose(numerical_gradient(f, x), 2 * x, rtol=1e-9)


def test_numerical_gradient_validation():
    with pytest.raises(ValueError, match=r"df: expected the shape of f\(x\), \(2,\), got \(3,\)"):
        numerical_gradient(lambda v: v * 1, np.ones(2), df=np.ones(3))
    with pytest.raises(ValueError, match="x: expected a float numpy array"):
        numerical_gradient(lambda v: v, np.arange(3))


# --------------------------------------------------------------------------------------------
# rel_error
# --------------------------------------------------------------------------------------------

def test_rel_error_definition():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error(np.array([1.0]), np.array([1.1])) == pytest.approx(0.1 / 2.1)
    # elementwise, then max: one small wrong entry is not hidden by large ones
    assert rel_error(np.array([1000.0, 1.0]), np.array([1000.0, 2.0])) == pytest.approx(1 / 3)
    # the 1e-8 floor: two tiny numbers do not explode
    assert rel_error(np.zeros(2), np.zeros(2)) == 0.0
    assert rel_error(np.array([0.0]), np.array([1e-9])) == pytest.approx(0.1)
    assert rel_error(np.array([0.0]), np.array([1.0])) == 1.0
    assert isinstance(rel_error(np.ones(2), np.ones(2)), float)
    assert np.isnan(rel_error(np.array([np.nan]), np.array([1.0])))


def test_rel_error_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"b: expected the shape of a, \(2, 3\), got \(3, 2\)"):
        rel_error(np.ones((2, 3)), np.ones((3, 2)))


# --------------------------------------------------------------------------------------------
# check_gradients
# --------------------------------------------------------------------------------------------

def _rnn_case(seed=0):
    rng = np.random.default_rng(seed)
    inputs = dict(x=rng.normal(size=(3, 4)), h_prev=rng.normal(size=(3, 5)),
                  Wx=rng.normal(scale=0.4, size=(4, 5)), Wh=rng.normal(scale=0.4, size=(5, 5)),
                  b=rng.normal(scale=0.3, size=5))
    h, cache = rnn_step_forward(**inputs)
    dh = rng.normal(size=h.shape)
    dx, dh_prev, dWx, dWh, db = rnn_step_backward(dh, cache)
    return inputs, dict(x=dx, h_prev=dh_prev, Wx=dWx, Wh=dWh, b=db), dh


def test_check_gradients_passes_a_correct_backward():
    inputs, analytic, dh = _rnn_case()
    snapshot = {k: v.copy() for k, v in inputs.items()}
    res = check_gradients(lambda **kw: rnn_step_forward(**kw)[0], inputs, analytic, df=dh)
    assert isinstance(res, GradCheckResult)
    assert res.ok and bool(res)
    assert set(res.errors) == set(analytic) and all(e < 1e-7 for e in res.errors.values())
    assert res["Wh"] == res.errors["Wh"]
    text = str(res)
    for name in analytic:
        assert name in text
    assert "All gradients match" in text and "FAIL" not in text
    for k, v in inputs.items():                      # inputs restored
        np.testing.assert_array_equal(v, snapshot[k])


def test_check_gradients_catches_a_wrong_backward():
    inputs, analytic, dh = _rnn_case(1)
    analytic["Wh"] = analytic["Wh"].T.copy()          # a classic bug: transposed gradient
    analytic["b"] = analytic["b"] * 0.5
    res = check_gradients(lambda **kw: rnn_step_forward(**kw)[0], inputs, analytic, df=dh)
    assert not res.ok
    assert res.rows["x"].ok and not res.rows["Wh"].ok and not res.rows["b"].ok
    assert res["b"] == pytest.approx(1 / 3, rel=1e-6)  # |g - g/2| / (|g| + |g/2|)
    text = str(res)
    assert "FAIL Wh" in text and "FAIL b" in text and "numerical gradient" in text
    assert "FAIL x" not in text


def test_check_gradients_subset_and_extra_arguments():
    inputs, analytic, dh = _rnn_case(2)
    res = check_gradients(lambda activation, **kw: rnn_step_forward(**kw, activation=activation)[0],
                          dict(inputs, activation="tanh"), {"Wx": analytic["Wx"]}, df=dh)
    assert list(res) == ["Wx"] and res.ok


def test_check_gradients_validation_and_float32_note():
    inputs, analytic, dh = _rnn_case(3)
    f = lambda **kw: rnn_step_forward(**kw)[0]  # noqa: E731
    with pytest.raises(ValueError, match=r"analytic\['Wx'\]: expected the shape of inputs\['Wx'\], \(4, 5\)"):
        check_gradients(f, inputs, {"Wx": analytic["Wx"].T}, df=dh)
    with pytest.raises(ValueError, match="analytic: 'dWx' is not one of the inputs"):
        check_gradients(f, inputs, {"dWx": analytic["Wx"]}, df=dh)
    q = lambda x: (x ** 2).sum()  # noqa: E731
    res = check_gradients(q, {"x": np.ones(3, dtype=np.float32)}, {"x": 2 * np.ones(3, dtype=np.float32)},
                          h=1e-2, tol=1e-2)
    assert "float32" in str(res)
