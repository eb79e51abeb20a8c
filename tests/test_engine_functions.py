"""Math functions on plain values: the matching kind back, NumPy's semantics at domain edges."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from engine_helpers import assert_close

import bobodiff as bd

UNARY = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "log": math.log,
    "sqrt": math.sqrt, "tanh": math.tanh, "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
    "relu": lambda v: max(v, 0.0), "abs": lambda v: -v if v < 0 else v,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_on_float_is_float_and_on_array_is_array(name):
    fn = getattr(bd, name)
    x = 0.7
    out = fn(x)
    assert type(out) is float
    assert out == pytest.approx(UNARY[name](x), rel=1e-15)
    arr = np.array([0.3, 0.7, 1.1])
    out = fn(arr)
    assert type(out) is np.ndarray and out.shape == (3,) and out.dtype == np.float64
    assert_close(out, [UNARY[name](v) for v in arr], rtol=1e-15, atol=0)
    out32 = fn(arr.astype(np.float32))
    assert out32.dtype == np.float32
    assert type(fn(bd.Dual(x, 1.0))) is bd.Dual
    assert type(fn(bd.Tensor(x))) is bd.Tensor


def test_unary_on_int_gives_float():
    assert type(bd.exp(1)) is float and bd.exp(1) == pytest.approx(math.e)


def test_maximum_on_plain_values():
    assert bd.maximum(1.0, 2.0) == 2.0 and type(bd.maximum(1.0, 2.0)) is float
    assert_close(bd.maximum(np.array([1.0, 5.0]), 2.0), [2.0, 5.0], rtol=0, atol=0)


@pytest.mark.parametrize("x", [1000.0, -1000.0, 1e308, -1e308, 710.0, -745.0])
def test_sigmoid_is_stable_and_silent(x):
    expected = 1.0 if x > 0 else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bd.sigmoid(x) == pytest.approx(expected, abs=1e-300)
        assert_close(bd.sigmoid(np.array([x, -x])), [expected, 1.0 - expected], rtol=0,
                     atol=1e-300)
        t = bd.Tensor(np.array([x, -x]))
        y = bd.sigmoid(t)
        y.sum().backward()
        assert_close(y.data, [expected, 1.0 - expected], rtol=0, atol=1e-300)
        assert_close(t.grad, [0.0, 0.0], rtol=0, atol=1e-300)
        d = bd.sigmoid(bd.Dual(x, 1.0))
        assert d.value == pytest.approx(expected) and d.tangent == pytest.approx(0.0, abs=1e-300)
        assert bd.grad(bd.sigmoid)(x) == pytest.approx(0.0, abs=1e-300)


def test_sigmoid_float32_extremes_are_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = bd.sigmoid(np.array([-100.0, 0.0, 100.0], dtype=np.float32))
    assert out.dtype == np.float32
    assert_close(out, [0.0, 0.5, 1.0], rtol=0, atol=1e-30)


@pytest.mark.parametrize("fn,x", [(bd.log, -1.0), (bd.sqrt, -4.0)], ids=["log", "sqrt"])
def test_domain_error_is_nan_with_runtime_warning_like_numpy(fn, x):
    with pytest.warns(RuntimeWarning):
        assert math.isnan(fn(x))
    with pytest.warns(RuntimeWarning):
        assert np.isnan(fn(np.array([x]))).all()
    with pytest.warns(RuntimeWarning):
        assert math.isnan(fn(bd.Tensor(x)).data)
    with pytest.warns(RuntimeWarning):
        assert math.isnan(fn(bd.Dual(x, 1.0)).value)


def test_log_of_zero_is_minus_inf_with_warning():
    with pytest.warns(RuntimeWarning):
        assert bd.log(0.0) == -math.inf


@pytest.mark.parametrize("kind", ["float", "array"])
def test_zero_over_zero_on_tensors_is_nan_with_warning(kind):
    zero = 0.0 if kind == "float" else np.zeros(2)
    a, b = bd.Tensor(zero), bd.Tensor(zero)
    with pytest.warns(RuntimeWarning):
        q = a / b
    assert np.isnan(q.data).all()
    with pytest.warns(RuntimeWarning):
        r = bd.Tensor(1.0 if kind == "float" else np.ones(2)) / b
    assert np.isinf(r.data).all()


def test_zero_over_zero_on_floats_and_duals():
    with pytest.warns(RuntimeWarning):
        d = bd.Dual(0.0, 1.0) / bd.Dual(0.0, 0.0)
    assert math.isnan(d.value)


def test_exp_overflow_is_inf_with_warning():
    with pytest.warns(RuntimeWarning):
        assert bd.exp(1000.0) == math.inf
    with pytest.warns(RuntimeWarning):
        assert bd.exp(bd.Tensor(1000.0)).data == math.inf


def test_relu_and_abs_derivative_at_zero_is_zero():
    # documented convention (as PyTorch for relu; abs follows sign(0) = 0)
    assert bd.grad(bd.relu)(0.0) == 0.0
    assert bd.grad(bd.abs)(0.0) == 0.0
    assert bd.jvp(bd.relu, (0.0,), (1.0,))[1] == 0.0


def test_maximum_tie_splits_the_gradient():
    ga, gb = bd.grad(bd.maximum, argnums=(0, 1))(1.0, 1.0)
    assert (ga, gb) == (0.5, 0.5)


def test_structural_functions_on_plain_arrays():
    x = np.arange(6.0).reshape(2, 3)
    assert_close(bd.sum(x, axis=0), x.sum(axis=0), rtol=0, atol=0)
    assert_close(bd.mean(x, axis=1), x.mean(axis=1), rtol=0, atol=0)
    assert_close(bd.reshape(x, (3, 2)), x.reshape(3, 2), rtol=0, atol=0)
    assert_close(bd.transpose(x), x.T, rtol=0, atol=0)
    assert_close(bd.matmul(x, x.T), x @ x.T, rtol=0, atol=0)


def test_mean_gradient():
    x = bd.Tensor(np.arange(6.0).reshape(2, 3))
    x.mean().backward()
    assert_close(x.grad, np.full((2, 3), 1 / 6), rtol=1e-15, atol=0)
    g = bd.grad(lambda v: bd.mean(v, axis=0).sum())(np.ones((4, 2)))
    assert_close(g, np.full((4, 2), 0.25), rtol=1e-15, atol=0)
