"""Reverse-mode semantics: deep graphs, reuse, accumulation, graph freeing, no_grad, errors.

PyTorch's semantics are the reference: gradients accumulate into leaves, the graph is freed
by backward() unless retain_graph=True, no_grad() records nothing.
"""

from __future__ import annotations

import gc
import math
import sys
import weakref

import numpy as np
import pytest
from engine_helpers import assert_close

import bobodiff as bd

# --------------------------------------------------------------------------------------
# Deep graphs: an explicit topological order, never Python recursion
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_million_node_chain_backward_at_default_recursion_limit():
    limit = sys.getrecursionlimit()
    n = 1_000_000
    x = bd.Tensor(1.5)
    y = x
    # Alternate ×2 and ×(-0.5): every product is exact in binary floating point, and a
    # single missing or doubled factor changes the result.
    factors = (2.0, -0.5)
    for i in range(n):
        y = y * factors[i & 1]
    y.backward()
    assert sys.getrecursionlimit() == limit, "backward must not raise the recursion limit"
    expected = (-1.0) ** (n // 2)  # (2 · -0.5) ** (n / 2)
    assert x.grad == expected
    assert y.data == 1.5 * expected


@pytest.mark.slow
def test_deep_array_chain_of_unary_ops():
    limit = sys.getrecursionlimit()
    x = bd.Tensor(np.array([0.3, -0.2]))
    y = x
    n = 20_000
    for _ in range(n):
        y = y + 0.0 * y  # d/dy (y + 0·y) = 1: the gradient stays exactly 1
    y.sum().backward()
    assert sys.getrecursionlimit() == limit
    assert_close(x.grad, np.ones(2), rtol=0, atol=0)


# --------------------------------------------------------------------------------------
# Diamonds and reused nodes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("x0", [-1.7, 0.4, 3.0])
def test_reused_leaf(x0):
    x = bd.Tensor(x0)
    (x * x + x).backward()
    assert x.grad == pytest.approx(2 * x0 + 1, abs=1e-15)


def test_same_tensor_as_both_operands():
    a = bd.Tensor(3.0)
    b = a
    (a * b).backward()
    assert a.grad == 6.0


def test_diamond_through_an_intermediate():
    x0 = 0.7
    x = bd.Tensor(x0)
    a = bd.sin(x)
    b = a * a
    c = a + b  # a reaches c by two paths
    c.backward()
    assert x.grad == pytest.approx(math.cos(x0) * (1 + 2 * math.sin(x0)), rel=1e-14)


def test_intermediate_reused_many_times():
    x0 = np.array([0.5, -1.0, 2.0])
    x = bd.Tensor(x0)
    h = x * x
    total = h
    for _ in range(99):
        total = total + h
    total.sum().backward()
    assert_close(x.grad, 100 * 2 * x0, rtol=1e-14, atol=0)


def test_diamond_with_broadcasting():
    xv = np.array([[1.0], [2.0]])  # (2, 1)
    yv = np.array([3.0, 4.0, 5.0])  # (3,)
    x, y = bd.Tensor(xv), bd.Tensor(yv)
    p = x * y  # (2, 3)
    q = p + x  # x used twice, broadcast differently
    (q * p).sum().backward()
    # loss = sum_ij (x_i y_j + x_i) x_i y_j = sum_ij x_i² (y_j² + y_j)
    assert_close(x.grad, 2 * xv * np.sum(yv**2 + yv), rtol=1e-14, atol=0)
    assert_close(y.grad, np.sum(xv**2) * (2 * yv + 1), rtol=1e-14, atol=0)


# --------------------------------------------------------------------------------------
# Accumulation, retain_graph, zero_grad
# --------------------------------------------------------------------------------------


def test_gradients_accumulate_across_fresh_graphs():
    x = bd.Tensor(2.0)
    (x * x).backward()
    (x * x * x).backward()
    assert x.grad == 4.0 + 12.0
    x.zero_grad()
    assert x.grad is None
    (x * 5.0).backward()
    assert x.grad == 5.0


def test_second_backward_on_freed_graph_raises_and_names_retain_graph():
    x = bd.Tensor(np.array([1.0, 2.0]))
    y = (bd.exp(x) * x).sum()
    y.backward()
    first = x.grad.copy()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    assert_close(x.grad, first, rtol=0, atol=0, what="a failed backward must not touch .grad")


def test_second_backward_on_freed_float_graph_raises():
    x = bd.Tensor(1.0)
    y = bd.sin(x) * x
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward_with_doubled_grads():
    xv = np.array([0.5, -1.5])
    x = bd.Tensor(xv)
    y = (bd.exp(x) * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    expected = np.exp(xv) * (1 + xv)
    assert_close(x.grad, 3 * expected, rtol=1e-14, atol=0)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_through_a_shared_subgraph_of_a_freed_graph_raises():
    x = bd.Tensor(1.0)
    h = x * 2.0
    (h * 3.0).backward()  # frees h's node too
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 4.0).backward()


def test_backward_with_explicit_grad_on_non_scalar():
    xv = np.array([1.0, 2.0, 3.0])
    x = bd.Tensor(xv)
    y = x * x
    y.backward(np.array([1.0, 0.0, -2.0]))
    assert_close(x.grad, 2 * xv * np.array([1.0, 0.0, -2.0]), rtol=0, atol=0)


def test_leaf_grad_has_leaf_shape_and_kind():
    x = bd.Tensor(2.0)
    m = bd.Tensor(np.ones((2, 1)))
    (x * m * np.ones((2, 3))).sum().backward()
    assert type(x.grad) is float and x.grad == 6.0
    assert m.grad.shape == (2, 1)
    assert_close(m.grad, np.full((2, 1), 6.0), rtol=0, atol=0)


def test_requires_grad_false_leaf_gets_no_grad():
    x = bd.Tensor(2.0)
    c = bd.Tensor(3.0, requires_grad=False)
    (x * c).backward()
    assert x.grad == 3.0
    assert c.grad is None


# --------------------------------------------------------------------------------------
# no_grad
# --------------------------------------------------------------------------------------


def test_no_grad_builds_no_graph():
    x = bd.Tensor(np.array([1.0, 2.0]))
    with bd.no_grad():
        assert not bd.is_grad_enabled()
        y = (bd.sin(x) * x).sum()
        assert y.requires_grad is False
        with pytest.raises(RuntimeError):
            y.backward()
    assert bd.is_grad_enabled()
    z = (x * x).sum()
    assert z.requires_grad is True
    z.backward()
    assert_close(x.grad, 2 * np.array([1.0, 2.0]), rtol=0, atol=0)


def test_no_grad_result_is_not_connected_to_the_leaf():
    x = bd.Tensor(3.0)
    with bd.no_grad():
        c = x * 2.0
    y = x * c  # c is a constant here
    y.backward()
    assert x.grad == 6.0


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError), bd.no_grad():
        raise ZeroDivisionError
    assert bd.is_grad_enabled()


# --------------------------------------------------------------------------------------
# Errors: what went wrong, named
# --------------------------------------------------------------------------------------


def test_backward_on_non_scalar_without_grad_names_the_shape():
    y = bd.Tensor(np.ones((2, 3))) * 2.0
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()


def test_backward_with_grad_of_wrong_shape_names_both_shapes():
    y = bd.Tensor(np.ones(3)) * 2.0
    with pytest.raises(ValueError) as info:
        y.backward(np.ones(4))
    assert "(3,)" in str(info.value) and "(4,)" in str(info.value)


@pytest.mark.parametrize(
    ("sa", "sb", "op"),
    [
        ((3,), (4,), lambda a, b: a + b),
        ((2, 3), (3, 2), lambda a, b: a * b),
        ((2, 3), (2, 3), lambda a, b: a @ b),
        ((3,), (4,), lambda a, b: a @ b),
        ((2, 3), (4, 5), lambda a, b: bd.maximum(a, b)),
    ],
    ids=["add", "mul", "matmul-2d", "matmul-1d", "maximum"],
)
@pytest.mark.parametrize("kind", ["Tensor", "Dual"])
def test_shape_mismatch_names_both_shapes(sa, sb, op, kind):
    wrap = bd.Tensor if kind == "Tensor" else bd.Dual
    a, b = wrap(np.ones(sa)), wrap(np.ones(sb))
    with pytest.raises((ValueError, TypeError)) as info:
        op(a, b)
    msg = str(info.value).replace(" ", "")
    assert str(sa).replace(" ", "") in msg and str(sb).replace(" ", "") in msg, (
        f"error message does not name both shapes {sa} and {sb}: {info.value}")


@pytest.mark.parametrize(
    "combine",
    [
        lambda d, t: d + t,
        lambda d, t: t * d,
        lambda d, t: d @ t,
        lambda d, t: bd.maximum(t, d),
        lambda d, t: t - d,
    ],
    ids=["dual+tensor", "tensor*dual", "dual@tensor", "maximum(tensor,dual)", "tensor-dual"],
)
def test_mixing_dual_and_tensor_raises_type_error(combine):
    d = bd.Dual(np.ones(2), np.ones(2))
    t = bd.Tensor(np.ones(2))
    with pytest.raises(TypeError) as info:
        combine(d, t)
    assert "Dual" in str(info.value) and "Tensor" in str(info.value)


@pytest.mark.parametrize("bad", ["abc", {"a": 1.0}, None, object()],
                         ids=["str", "dict", "None", "object"])
@pytest.mark.parametrize(
    "transform",
    [
        lambda v: bd.grad(lambda x: x * 2.0)(v),
        lambda v: bd.value_and_grad(lambda x: x * 2.0)(v),
        lambda v: bd.jvp(lambda x: x * 2.0, (v,), (1.0,)),
        lambda v: bd.vjp(lambda x: x * 2.0, v),
        lambda v: bd.jacfwd(lambda x: x * 2.0)(v),
        lambda v: bd.jacrev(lambda x: x * 2.0)(v),
        lambda v: bd.sin(v),
        lambda v: bd.Tensor(1.0) * v,
        lambda v: bd.Dual(1.0, 1.0) + v,
    ],
    ids=["grad", "value_and_grad", "jvp", "vjp", "jacfwd", "jacrev", "sin", "tensor*", "dual+"],
)
def test_non_differentiable_input_type_raises_type_error_naming_it(bad, transform):
    with pytest.raises(TypeError) as info:
        transform(bad)
    assert type(bad).__name__ in str(info.value), str(info.value)


@pytest.mark.parametrize("bad", ["abc", {"a": 1.0}], ids=["str", "dict"])
def test_tensor_of_non_numeric_data_raises_type_error_naming_it(bad):
    with pytest.raises(TypeError) as info:
        bd.Tensor(bad)
    assert type(bad).__name__ in str(info.value), str(info.value)


# --------------------------------------------------------------------------------------
# Memory: no reference cycles, graph freed by backward
# --------------------------------------------------------------------------------------


@pytest.fixture
def gc_disabled():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("kind", ["float", "array"])
def test_graph_has_no_reference_cycles(gc_disabled, kind):
    x = bd.Tensor(0.5 if kind == "float" else np.array([0.5, 1.5]))
    h = bd.exp(x) * x
    ref = weakref.ref(h)
    y = bd.tanh(h) + bd.sigmoid(h) * h
    y = y.sum() if kind == "array" else y
    del h
    assert ref() is not None  # kept alive by the graph of y
    del y
    assert ref() is None, "an intermediate outlived its graph: a reference cycle"


def test_backward_frees_the_graph_while_the_output_lives(gc_disabled):
    x = bd.Tensor(np.ones(1000))
    h = bd.sin(x) * 3.0
    ref = weakref.ref(h)
    y = (h * h).sum()
    del h
    y.backward()
    assert ref() is None, "backward() must release intermediates (retain_graph=False)"
    assert x.grad.shape == (1000,)


def test_retained_graph_is_released_when_output_dropped(gc_disabled):
    x = bd.Tensor(np.ones(10))
    h = bd.exp(x)
    ref = weakref.ref(h)
    y = (h * x).sum()
    del h
    y.backward(retain_graph=True)
    assert ref() is not None
    del y
    assert ref() is None


def test_functional_api_leaves_no_cycles(gc_disabled):
    refs = []

    def f(x):
        h = bd.sin(x) * x
        if isinstance(h, bd.Tensor):  # Duals have no __weakref__ slot
            refs.append(weakref.ref(h))
        return (h * h).sum()

    g = bd.grad(f)(np.array([0.1, 0.2]))
    _, t = bd.jvp(f, (np.array([0.1, 0.2]),), (np.ones(2),))
    hess = bd.hessian(f)(np.array([0.1, 0.2]))
    assert g.shape == (2,) and np.shape(t) == () and hess.shape == (2, 2)
    assert refs and all(r() is None for r in refs), "an intermediate survived a transformation"


def test_no_garbage_left_for_the_cycle_collector(gc_disabled):
    x = bd.Tensor(np.array([0.3, 0.4]))
    gc.collect()  # whatever pytest itself left behind
    for _ in range(50):
        y = (bd.tanh(x * x) + bd.log(x)).sum()
        y.backward()
    del y
    assert gc.collect() == 0, "the cyclic collector found garbage: the engine makes cycles"


def _e1_step(x1, x2, x3):
    ts = [bd.Tensor(x1), bd.Tensor(x2), bd.Tensor(x3)]
    y = (ts[0] * bd.sin(ts[1]) + bd.log((ts[2] ** 2 + 1.0) ** 2) + bd.exp(ts[0] * ts[2])) \
        * bd.cos(ts[1])
    y.backward()
    return ts[0].grad


@pytest.mark.slow
def test_many_e1_calls_keep_memory_flat():
    import tracemalloc

    for _ in range(500):  # warm caches (interned floats, dispatch tables)
        _e1_step(0.3, -1.2, 0.8)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            _e1_step(0.3 + i * 1e-6, -1.2, 0.8)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # 20,000 graphs of ~15 nodes were built; if one call in a hundred leaked, we would see it.
    assert after - before < 64 * 1024, f"memory grew by {after - before} bytes over 20,000 calls"


def test_retained_graph_memory_is_returned_when_output_dropped():
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        x = bd.Tensor(np.ones(250_000))
        y = (bd.exp(x) * bd.sin(x)).sum()  # intermediates: ~4 arrays of 2 MB
        y.backward(retain_graph=True)
        held = tracemalloc.get_traced_memory()[0] - base
        del y
        after_drop = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    x_and_grad = 2 * 250_000 * 8
    assert held > x_and_grad + 2_000_000, "the retained graph should hold its intermediates"
    assert after_drop < x_and_grad + 100_000, f"{after_drop} bytes still held after del"


def test_leaf_gradients_are_writable_arrays_of_their_own():
    # sum's vjp broadcasts a view and add passes one gradient to both sides: each leaf must
    # still get its own writable array (as torch's .grad is).
    x, y = bd.Tensor(np.ones(3)), bd.Tensor(np.ones(3))
    (x + y).sum().backward()
    assert x.grad is not y.grad
    x.grad *= 2.0
    np.testing.assert_array_equal(y.grad, np.ones(3))
    g = bd.grad(lambda v: v.sum())(np.ones(3))
    g[0] = 5.0  # writable
    assert g.flags.writeable and g.strides == (8,)


def test_backward_leaves_the_garbage_collector_as_it_found_it():
    import gc

    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            x = bd.Tensor(2.0)
            (x * x).backward()
            assert gc.isenabled() is state
            assert x.grad == 4.0
    finally:
        (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum"])
def test_a_float_tensor_against_an_array_constant(name):
    # The float path of backward must not be taken when the other operand is an array.
    from bobodiff.core import apply
    from bobodiff.rules import RULES

    c = np.array([0.5, 1.5, 3.0])
    x = bd.Tensor(1.2)
    apply(RULES[name], (x, c)).sum().backward()
    h = 1e-6
    fd = (apply(RULES[name], (1.2 + h, c)).sum() - apply(RULES[name], (1.2 - h, c)).sum()) / 2 / h
    assert type(x.grad) is float
    assert x.grad == pytest.approx(float(fd), rel=1e-6)


# -- large arrays: buffers reused in place, sin/cos values shared -----------------------

BIG = 1 << 17  # above reverse._REUSE_MIN_SIZE: the paths taken on large arrays


def _forward_partials(f, arrays):
    """Each point's partials of f by forward mode (an independent engine)."""
    out = f(*bd.variables(*arrays))
    return [out.tangent.part(j, arrays[0].shape) for j in range(len(arrays))]


@pytest.mark.parametrize("case", ["e1", "shared", "sin_only", "node_argument"])
def test_large_array_gradients_match_forward_mode(case):
    rng = np.random.default_rng(12)
    arrays = [rng.uniform(0.2, 1.0, BIG) for _ in range(3)]
    fns = {
        "e1": lambda a, b, c: (a * bd.sin(b) + bd.log((c**2 + 1) ** 2) + bd.exp(a * c))
        * bd.cos(b),
        # one array reaches a node and a leaf through add; the sum of two equal terms
        "shared": lambda a, b, c: (a + bd.sin(a)) * (b + b) + bd.cos(a) * c,
        "sin_only": lambda a, b, c: bd.sin(a * b) * c,
        "node_argument": lambda a, b, c: bd.sin(a * b) - bd.cos(a * b) * c,
    }
    f = fns[case]
    keep = [x.copy() for x in arrays]
    xs = [bd.Tensor(x) for x in arrays]
    y = f(*xs)
    y.sum().backward()
    for x, expected in zip(xs, _forward_partials(f, arrays)):
        assert_close(x.grad, expected, rtol=1e-12, atol=1e-14)
    for x, k in zip(arrays, keep):  # inputs never written into
        assert np.array_equal(x, k)


def test_in_place_buffers_spare_what_the_user_holds():
    rng = np.random.default_rng(13)
    x = bd.Tensor(rng.uniform(0.5, 1.0, BIG))
    seed = np.ones(BIG)
    y = bd.exp(x) * x
    y.backward(seed)
    assert np.all(seed == 1.0)  # the seed was not written into
    first = x.grad
    kept = first.copy()
    (bd.exp(x) * x).backward(seed)
    assert np.array_equal(first, kept)  # a gradient the user holds is not changed
    assert_close(x.grad, 2.0 * kept, rtol=1e-14, atol=0)


def test_shared_sin_cos_values_survive_retain_graph():
    rng = np.random.default_rng(14)
    x = bd.Tensor(rng.uniform(-3.0, 3.0, BIG))
    y = bd.sum(bd.sin(x) * bd.cos(x))
    y.backward(retain_graph=True)
    once = x.grad.copy()
    y.backward()
    expected = np.cos(2.0 * x.data)  # d/dx sin x cos x = cos 2x
    assert_close(once, expected, rtol=1e-12, atol=1e-14)
    assert_close(x.grad, 2.0 * expected, rtol=1e-12, atol=1e-14)
