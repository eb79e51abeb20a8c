"""log1p, expm1 and softplus: each one entry of the rule table, on every path (issue 13's
proof that adding a primitive is one entry). The table-driven tests in test_engine_rules and
test_jit cover value, reverse, forward and float32; these add the paths they do not."""

import math

import numpy as np
import pytest
import torch
from engine_helpers import torch_function

import bobodiff as bd
from bobodiff.jit import CHUNK_MIN

NEW = ["log1p", "expm1", "softplus"]


def composite(fn, sin):
    return lambda x, y: fn(x * y) * sin(y) + fn(y) / (1.0 + x * x)


@pytest.mark.parametrize("name", NEW)
def test_float_reverse_forward_and_hessian_against_torch(name):
    f = composite(getattr(bd, name), bd.sin)
    tf = composite(torch_function(name), torch.sin)
    x, y = 0.7, 1.3
    a, b = bd.Tensor(x), bd.Tensor(y)
    f(a, b).backward()
    tx = torch.tensor([x, y], dtype=torch.float64)
    expected_grad = torch.func.grad(lambda v: tf(v[0], v[1]))(tx).numpy()
    np.testing.assert_allclose([a.grad, b.grad], expected_grad, rtol=1e-12)
    assert type(a.grad) is float
    # forward mode on floats, one direction each
    _, tangent = bd.jvp(f, (x, y), (0.0, 1.0))
    assert tangent == pytest.approx(expected_grad[1], rel=1e-12)
    # nested: the Hessian, forward over reverse
    h = bd.hessian(lambda v: f(v[0], v[1]))(np.array([x, y]))
    expected_h = torch.func.hessian(lambda v: tf(v[0], v[1]))(tx).numpy()
    np.testing.assert_allclose(h, expected_h, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NEW)
def test_jit_float_and_chunked_array_programs(name):
    fn = getattr(bd, name)

    def loss(x):
        return (fn(x) * bd.cos(x)).sum()

    fast = bd.jit(bd.value_and_grad(loss))
    x = np.linspace(0.05, 2.0, CHUNK_MIN * 3 + 7)
    assert "def chunk" in fast.source(x)  # the cache-sized loop, not whole-array statements
    value, g = fast(x)
    tx = torch.tensor(x, requires_grad=True)
    tl = (torch_function(name)(tx) * torch.cos(tx)).sum()
    tl.backward()
    assert value == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-12, atol=1e-15)
    # the float program
    fast_float = bd.jit(bd.grad(lambda t: fn(t) * bd.cos(t)))
    t = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    (torch_function(name)(t) * torch.cos(t)).backward()
    assert fast_float(0.4) == pytest.approx(t.grad.item(), rel=1e-12)


def test_softplus_never_overflows_and_matches_torch_at_the_extremes():
    xs = np.array([-1000.0, -40.0, -1e-8, 0.0, 1e-8, 40.0, 1000.0])
    expected = torch.nn.functional.softplus(torch.tensor(xs)).numpy()
    np.testing.assert_allclose(bd.softplus(xs), expected, rtol=1e-15)
    slopes = torch.sigmoid(torch.tensor(xs)).numpy()
    for x, e, slope in zip(xs, expected, slopes):
        assert bd.softplus(float(x)) == pytest.approx(e, rel=1e-15)
        assert bd.grad(bd.softplus)(float(x)) == pytest.approx(slope, rel=1e-15)


def test_log1p_and_expm1_keep_their_accuracy_near_zero():
    tiny = 1e-12
    assert bd.log1p(tiny) == pytest.approx(math.log1p(tiny), rel=1e-15)
    assert bd.expm1(tiny) == pytest.approx(math.expm1(tiny), rel=1e-15)
    with pytest.warns(RuntimeWarning):
        assert math.isnan(bd.log1p(-2.0))  # NumPy's semantics on floats, as log
