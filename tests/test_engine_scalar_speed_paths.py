"""The float fast paths of reverse mode and gc_paused(): same answers as the general route.

Tensors on Python floats take shortcuts (local derivatives computed in forward, operators
that skip dispatch, a cheaper node). These tests pin down that the shortcuts agree with the
rules table, keep the semantics of constants, no_grad, levels and freed graphs, and that
gc_paused() restores the collector and leaks nothing.
"""

from __future__ import annotations

import gc
import math
import operator
import weakref

import numpy as np
import pytest

import bobodiff as bd
from bobodiff.core import apply
from bobodiff.rules import RULES

# (rule name, Python operator): the binary operators, each with a float fast path
BINARY = [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
          ("div", operator.truediv), ("pow", operator.pow)]


def _rule_route(name, a, b):
    """The same operation through apply(): the general route with the rule's derivatives."""
    return apply(RULES[name], (a, b))


@pytest.mark.parametrize("name,op", BINARY, ids=[n for n, _ in BINARY])
@pytest.mark.parametrize("form", ["tensor-tensor", "tensor-number", "number-tensor",
                                  "tensor-int", "int-tensor"])
def test_binary_fast_paths_match_the_rules(name, op, form):
    a, b = 1.7, 0.6
    if form == "tensor-int":
        b = 3
    elif form == "int-tensor":
        a = 2
    fast = [bd.Tensor(float(a)), bd.Tensor(float(b))]
    slow = [bd.Tensor(float(a)), bd.Tensor(float(b))]
    pick = {"tensor-tensor": lambda t, v: (t[0], t[1]),
            "tensor-number": lambda t, v: (t[0], v[1]),
            "tensor-int": lambda t, v: (t[0], v[1]),
            "number-tensor": lambda t, v: (v[0], t[1]),
            "int-tensor": lambda t, v: (v[0], t[1])}[form]
    y_fast = op(*pick(fast, (a, b)))
    y_slow = _rule_route(name, *pick(slow, (a, b)))
    assert type(y_fast.data) is float
    assert y_fast.data == pytest.approx(y_slow.data, rel=1e-15)
    (y_fast * 1.5).backward()
    (y_slow * 1.5).backward()
    for f, s in zip(fast, slow):
        if s.grad is None:
            assert f.grad is None
        else:
            assert type(f.grad) is float
            assert f.grad == pytest.approx(s.grad, rel=1e-14)


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sigmoid",
                                  "relu", "abs"])
def test_unary_float_path_matches_the_rule_on_arrays(name):
    x0 = 0.7
    t = bd.Tensor(x0)
    y = getattr(bd, name)(t)
    (y * y).backward()
    a = bd.Tensor(np.array([x0]))
    z = getattr(bd, name)(a)
    (z * z).sum().backward()
    assert type(t.grad) is float
    assert y.data == pytest.approx(float(z.data[0]), rel=1e-15)
    assert t.grad == pytest.approx(float(a.grad[0]), rel=1e-14)


def test_negation_and_reflected_operators_on_floats():
    x = bd.Tensor(2.0)
    y = -x + 3 - (1.0 - x) * 2 + 0.5 * x + 4 / x
    y.backward()
    assert y.data == pytest.approx(-2.0 + 3 - (1.0 - 2.0) * 2 + 1.0 + 2.0)
    assert x.grad == pytest.approx(-1 + 2 + 0.5 - 4 / 4.0)


def test_python_sum_starting_from_int_zero_and_from_a_float():
    ws = [bd.Tensor(float(i)) for i in range(1, 5)]
    s0 = sum(w * 2.0 for w in ws)  # starts from the int 0
    s1 = sum((w * w for w in ws), 0.5)
    (s0 + s1).backward()
    assert s0.data == 20.0 and s1.data == 30.5
    assert [w.grad for w in ws] == [2.0 + 2.0 * i for i in range(1, 5)]


def test_constants_get_no_gradient_and_make_no_graph():
    c = bd.Tensor(3.0, requires_grad=False)
    x = bd.Tensor(2.0)
    k = c * c + 1.0
    assert not k.requires_grad and k.is_leaf  # only constants in: a constant out
    y = x * c + c * x + c - x + x**2
    y.backward()
    assert c.grad is None
    assert x.grad == pytest.approx(3.0 + 3.0 - 1.0 + 4.0)


def test_no_grad_on_the_float_paths():
    x = bd.Tensor(2.0)
    with bd.no_grad():
        for y in (x + 1, 1 + x, x - 1, 1 - x, x * 2, 2 * x, -x, x**2, x * x, x + x,
                  bd.sin(x), x / x, x**0.5):
            assert not y.requires_grad and y.is_leaf
        y = x * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_integer_power_edge_cases_take_the_general_route():
    # 0.0 ** -1 and overflow raise in Python; the general route answers as NumPy does.
    x = bd.Tensor(0.0)
    with pytest.warns(RuntimeWarning):
        y = x**-1
    assert y.data == math.inf
    big = bd.Tensor(1e200)
    with pytest.warns(RuntimeWarning):
        z = big**2
    assert z.data == math.inf
    w = bd.Tensor(-2.0)
    (w**3).backward()
    assert w.grad == pytest.approx(12.0)


def test_intermediates_keep_no_grad_after_backward_also_when_retained():
    x = bd.Tensor(0.3)
    h = bd.exp(x) * x
    y = h * h + h
    y.backward(retain_graph=True)
    assert h.grad is None and y.grad is None
    first = x.grad
    y.backward()
    assert h.grad is None
    assert x.grad == pytest.approx(2 * first)


def test_second_backward_through_freed_float_graph_raises():
    x = bd.Tensor(0.3)
    h = x * x
    (h + 1.0).backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (h * 2.0).backward()


def test_float_tensors_of_an_outer_level_are_constants_inside():
    # grad of grad on floats: the inner Tensors hold outer Tensors (no float fast path
    # for them), while outer-level values meet inner ones at two levels.
    def f(x):
        return x * x * x + 2.0 * x

    assert bd.grad(bd.grad(f))(1.5) == pytest.approx(6 * 1.5)
    assert bd.grad(lambda x: bd.grad(lambda y: x * y * y)(2.0))(3.0) == pytest.approx(4.0)


def test_float_gradient_with_a_zero_dim_array_seed():
    x = bd.Tensor(2.0)
    y = x * x
    y.backward(grad=np.array(3.0))
    assert float(x.grad) == pytest.approx(12.0)


# --------------------------------------------------------------------------------------
# gc_paused()
# --------------------------------------------------------------------------------------


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_previous_state(restore_gc, enabled):
    (gc.enable if enabled else gc.disable)()
    with bd.gc_paused():
        assert not gc.isenabled()
        with bd.gc_paused():  # nested: still paused, and the outer state survives
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


@pytest.mark.parametrize("enabled", [True, False])
def test_gc_paused_restores_the_state_on_an_exception(restore_gc, enabled):
    (gc.enable if enabled else gc.disable)()
    with pytest.raises(KeyError), bd.gc_paused():
        raise KeyError("inside the block")
    assert gc.isenabled() is enabled


def test_a_graph_built_under_gc_paused_is_freed_by_reference_counting(restore_gc):
    gc.collect()
    gc.disable()  # nothing below may rely on the cyclic collector
    ws = [bd.Tensor(float(i)) for i in range(100)]
    with bd.gc_paused():
        h = sum(w * 0.5 for w in ws)
        ref = weakref.ref(h)
        y = bd.sigmoid(h) * h
    del h
    assert ref() is not None  # held by y's graph
    del y
    assert ref() is None, "a node outlived its graph: a reference cycle"
    with bd.gc_paused():
        y = sum(w * w for w in ws)
    y.backward()
    assert ws[3].grad == 6.0
    del y
    assert gc.collect() == 0, "the graph left garbage for the cyclic collector"


def test_scalar_mlp_forward_pauses_and_restores_the_collector(restore_gc):
    from bobodiff.nn import ScalarMLP

    seen = []

    def spy(x):
        seen.append(gc.isenabled())
        return bd.tanh(x)

    model = ScalarMLP([3, 4, 1], activation="tanh", rng=0)
    model.layers[0]._act = spy
    for state in (True, False):
        (gc.enable if state else gc.disable)()
        seen.clear()
        (out,) = model([0.1, -0.2, 0.3])
        assert seen and not any(seen)
        assert gc.isenabled() is state
        out.backward()
        assert all(type(p.grad) is float for p in model.parameters())
        model.zero_grad()


def test_harness_scalar_step_restores_the_collector_and_matches_arrays(restore_gc):
    from harness.engines import bobodiff_scalar as engine

    rng = np.random.default_rng(3)
    n = 5
    W1, b1, w2 = rng.standard_normal((n, n)), rng.standard_normal(n), rng.standard_normal(n)
    b2, X = 0.3, rng.standard_normal((2, n))
    params = engine._scalar_parameters(bd, [W1.tolist(), b1.tolist(), w2.tolist(), b2])
    for state in (True, False):
        (gc.enable if state else gc.disable)()
        total, _ = engine._scalar_step(bd, params, X.tolist())
        assert gc.isenabled() is state
    # the same network on arrays, through the vectorized engine
    W1t, b1t, w2t, b2t = (bd.Tensor(v) for v in (W1, b1, w2, np.array(b2)))
    ya = (bd.sigmoid(X @ W1t.T + b1t) @ w2t + b2t).sum()
    ya.backward()
    assert total.data == pytest.approx(float(ya.data), rel=1e-12)
    got = np.array([[t.grad for t in row] for row in params[0]])
    np.testing.assert_allclose(got, W1t.grad, rtol=1e-12)
    assert params[3].grad == pytest.approx(float(b2t.grad))
