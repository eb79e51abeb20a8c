"""Nested differentiation: Hessians, grad of grad, closures (no perturbation confusion), argnums."""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import assert_close, fd_jacobian, to_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bobodiff as bd

ENGINE_SETTINGS = settings(max_examples=30, deadline=None)

coord = st.floats(-1.5, 1.5, allow_nan=False)
vec3 = hnp.arrays(np.float64, (3,), elements=coord)


# f(x) = sum(x³) + x0·x1 + sin(x2)·x0, its gradient and Hessian by hand
def cubic(x):
    return (x**3).sum() + x[0] * x[1] + bd.sin(x[2]) * x[0]


def cubic_torch(x):
    import torch

    return (x**3).sum() + x[0] * x[1] + torch.sin(x[2]) * x[0]


def cubic_hessian(x):
    h = np.diag(6.0 * x)
    h[0, 1] = h[1, 0] = 1.0
    h[0, 2] = h[2, 0] = math.cos(x[2])
    h[2, 2] += -math.sin(x[2]) * x[0]
    return h


@ENGINE_SETTINGS
@given(vec3)
def test_hessian_vs_analytic(x):
    assert_close(bd.hessian(cubic)(x), cubic_hessian(x), rtol=1e-12, atol=1e-12)


@ENGINE_SETTINGS
@given(vec3)
def test_hessian_vs_torch_func_hessian(x):
    torch = pytest.importorskip("torch")
    expected = torch.func.hessian(cubic_torch)(to_torch(x, False)).numpy()
    assert_close(bd.hessian(cubic)(x), expected, rtol=1e-12, atol=1e-12)


@ENGINE_SETTINGS
@given(vec3)
def test_all_second_order_compositions_agree(x):
    expected = cubic_hessian(x)
    for name, h in [
        ("jacfwd(jacrev)", bd.jacfwd(bd.jacrev(cubic))),
        ("jacfwd(grad)", bd.jacfwd(bd.grad(cubic))),
        ("jacfwd(jacfwd)", bd.jacfwd(bd.jacfwd(cubic))),
        ("jacrev(grad)", bd.jacrev(bd.grad(cubic))),
        ("jacrev(jacrev)", bd.jacrev(bd.jacrev(cubic))),
    ]:
        assert_close(h(x), expected, rtol=1e-12, atol=1e-12, what=name)


def test_hessian_on_floats_with_tuple_argnums():
    # f(x, y) = x²y + sin y: H = [[2y, 2x], [2x, -sin y]]
    def f(x, y):
        return x * x * y + bd.sin(y)

    h = bd.hessian(f, argnums=(0, 1))(1.5, -0.5)
    expected = ((2 * -0.5, 2 * 1.5), (2 * 1.5, -math.sin(-0.5)))
    assert len(h) == 2 and all(len(row) == 2 for row in h)
    for i in range(2):
        for j in range(2):
            assert float(h[i][j]) == pytest.approx(expected[i][j], rel=1e-14, abs=1e-15)
    assert float(bd.hessian(f, argnums=1)(1.5, -0.5)) == pytest.approx(-math.sin(-0.5))


@ENGINE_SETTINGS
@given(st.floats(-3.0, 3.0, allow_nan=False))
def test_grad_of_grad_scalar(x):
    assert bd.grad(bd.grad(lambda v: v**3))(x) == pytest.approx(6 * x, rel=1e-14, abs=1e-14)
    assert bd.grad(bd.grad(bd.sin))(x) == pytest.approx(-math.sin(x), rel=1e-14, abs=1e-15)
    third = bd.grad(bd.grad(bd.grad(lambda v: v**3 * bd.exp(v))))(x)
    # d³/dx³ x³eˣ = eˣ (x³ + 9x² + 18x + 6)
    assert third == pytest.approx(math.exp(x) * (x**3 + 9 * x**2 + 18 * x + 6), rel=1e-12)


@ENGINE_SETTINGS
@given(st.floats(0.1, 3.0))
def test_grad_of_grad_in_forward_mode(x):
    # jvp of jvp: second derivative of log by forward-over-forward
    def dlog(v):
        return bd.jvp(bd.log, (v,), (1.0,))[1]

    _, d2 = bd.jvp(dlog, (x,), (1.0,))
    assert d2 == pytest.approx(-1.0 / x**2, rel=1e-14)


@pytest.mark.parametrize("outer", ["grad", "jvp"])
@pytest.mark.parametrize("inner", ["grad", "jvp"])
@ENGINE_SETTINGS
@given(x=st.floats(-3.0, 3.0, allow_nan=False), y=st.floats(-3.0, 3.0, allow_nan=False))
def test_closure_over_outer_variable_no_perturbation_confusion(outer, inner, x, y):
    # d/dx [ x · d/dy (x·y) ] = d/dx [x · x] = 2x; confusing the perturbations gives x + ...
    def inner_derivative(xv):
        if inner == "grad":
            return bd.grad(lambda yv: xv * yv)(y)
        return bd.jvp(lambda yv: xv * yv, (y,), (1.0,))[1]

    def f(xv):
        return xv * inner_derivative(xv)

    d = bd.grad(f)(x) if outer == "grad" else bd.jvp(f, (x,), (1.0,))[1]
    assert d == pytest.approx(2 * x, rel=1e-14, abs=1e-14)


def test_perturbation_confusion_siskind_pearlmutter():
    # d/dx [ x · (d/dy (x + y))|_{y=1} ] at x = 1 is 1 (a confused engine says 2)
    def f(x):
        return x * bd.grad(lambda y: x + y)(1.0)

    assert bd.grad(f)(1.0) == 1.0
    assert bd.jvp(f, (1.0,), (1.0,))[1] == 1.0


@ENGINE_SETTINGS
@given(hnp.arrays(np.float64, (3,), elements=coord))
def test_jacrev_vs_jacfwd_vs_fd_on_vector_functions(x):
    def f(v):  # R³ -> R⁴
        return bd.sin(v[0] * v) * 2.0 + bd.exp(v[1]) * v[2:].sum()

    def f_np(v):
        return np.sin(v[0] * v) * 2.0 + np.exp(v[1]) * v[2:].sum()

    # f has shape (3,): the sum broadcasts. Compare all three Jacobians.
    expected = fd_jacobian(f_np, [x], 0)
    assert_close(bd.jacfwd(f)(x), expected, rtol=1e-6, atol=1e-7, what="jacfwd")
    assert_close(bd.jacrev(f)(x), expected, rtol=1e-6, atol=1e-7, what="jacrev")
    assert_close(bd.jacfwd(f)(x), bd.jacrev(f)(x), rtol=1e-13, atol=1e-14)


def test_jacobian_shapes_follow_out_then_in():
    x = np.ones((2, 3))
    w = np.arange(12.0).reshape(3, 4)
    for jac in (bd.jacfwd, bd.jacrev):
        j = jac(lambda a: a @ w)(x)
        assert j.shape == (2, 4, 2, 3)
        # d(a@w)[i,k]/da[j,l] = δij w[l,k]
        expected = np.einsum("ij,lk->ikjl", np.eye(2), w)
        assert_close(j, expected, rtol=0, atol=0, what=jac.__name__)


@pytest.mark.parametrize("transform", [bd.grad, bd.jacfwd, bd.jacrev])
def test_argnums_int_and_tuple(transform):
    def f(a, b, c):
        return a * a * b + bd.sin(c) * a

    a, b, c = 0.5, -1.25, 2.0
    da = 2 * a * b + math.sin(c)
    db = a * a
    dc = math.cos(c) * a
    assert float(transform(f)(a, b, c)) == pytest.approx(da)
    assert float(transform(f, argnums=2)(a, b, c)) == pytest.approx(dc)
    assert float(transform(f, argnums=-1)(a, b, c)) == pytest.approx(dc)
    got = transform(f, argnums=(2, 0))(a, b, c)
    assert isinstance(got, tuple) and len(got) == 2
    assert tuple(map(float, got)) == pytest.approx((dc, da))
    one = transform(f, argnums=(1,))(a, b, c)
    assert isinstance(one, tuple) and float(one[0]) == pytest.approx(db)
    with pytest.raises(ValueError, match="argnums"):
        transform(f, argnums=3)(a, b, c)


def test_value_and_grad_argnums_tuple_with_arrays():
    x = np.array([1.0, 2.0])
    y = np.array([[0.5], [-1.0]])

    def f(x, y):
        return ((x * y) ** 2).sum()

    value, (gx, gy) = bd.value_and_grad(f, argnums=(0, 1))(x, y)
    assert value == pytest.approx(np.sum((x * y) ** 2))
    assert_close(gx, 2 * x * np.sum(y**2), rtol=1e-14, atol=0)
    assert_close(gy, 2 * y * np.sum(x**2), rtol=1e-14, atol=0)


def test_gradient_of_function_independent_of_input_is_zero():
    assert bd.grad(lambda x: 3.0)(1.0) == 0.0
    g = bd.grad(lambda x, y: (y * y).sum())(np.ones(3), np.ones(2))
    assert_close(g, np.zeros(3), rtol=0, atol=0)
    h = bd.hessian(lambda x: x.sum())(np.ones(3))
    assert_close(h, np.zeros((3, 3)), rtol=0, atol=0)


# --------------------------------------------------------------------------------------
# Tuple outputs and dtypes through nested transformations
# --------------------------------------------------------------------------------------


def test_jacobians_of_tuple_outputs_agree():
    # JAX: jacfwd / jacrev of a function returning a tuple give a tuple of Jacobians.
    def f(v):
        return v * v, bd.sin(v)

    x = 3.0
    expected = (2 * x, math.cos(x))
    assert tuple(map(float, bd.jacfwd(f)(x))) == pytest.approx(expected)
    out, tangents = bd.jvp(f, (x,), (1.0,))
    assert tuple(map(float, tangents)) == pytest.approx(expected)
    # jacrev: the same tuple, or a TypeError saying tuples are unsupported (never zeros)
    try:
        got = bd.jacrev(f)(x)
    except TypeError as e:
        assert "tuple" in str(e)
    else:
        assert isinstance(got, tuple), f"jacrev of a tuple-valued f returned {got!r}"
        assert tuple(map(float, got)) == pytest.approx(expected)


def test_vjp_of_tuple_output_is_never_silently_zero():
    # Either the cotangent tuple is pulled back (JAX), or a TypeError says tuples are not
    # supported: a zero gradient would be a wrong number.
    def f(v):
        return v * v, bd.sin(v)

    try:
        _, vjp_fn = bd.vjp(f, 3.0)
        (g,) = vjp_fn((1.0, 1.0))
    except TypeError as e:
        assert "tuple" in str(e)
    else:
        assert float(g) == pytest.approx(6.0 + math.cos(3.0))


@pytest.mark.parametrize("container", [tuple, list], ids=["tuple", "list"])
def test_grad_of_non_scalar_container_output_raises_type_error(container):
    with pytest.raises(TypeError):
        bd.grad(lambda v: container([v * v, 1.0]))(3.0)


@pytest.mark.parametrize(
    "second_order",
    [
        lambda f: bd.hessian(f),
        lambda f: bd.jacfwd(bd.jacfwd(f)),
        lambda f: bd.jacfwd(bd.grad(f)),
        lambda f: bd.jacrev(bd.grad(f)),
        lambda f: bd.jacrev(bd.jacrev(f)),
    ],
    ids=["hessian", "jacfwd(jacfwd)", "jacfwd(grad)", "jacrev(grad)", "jacrev(jacrev)"],
)
def test_second_order_of_float32_stays_float32(second_order):
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    h = second_order(cubic)(x)
    assert h.dtype == np.float32, f"float32 input gave a {h.dtype} Hessian"
    assert_close(h, cubic_hessian(x.astype(np.float64)), rtol=1e-5, atol=1e-5)


def test_grad_of_grad_of_float32_scalar_stays_float32():
    g2 = bd.grad(bd.grad(lambda v: v**3))(np.float32(2.0))
    assert np.asarray(g2).dtype == np.float32
    assert float(g2) == pytest.approx(12.0)


@pytest.mark.parametrize("transform", [bd.grad, bd.jacfwd, bd.jacrev, bd.hessian])
def test_integer_and_list_inputs_differentiate_in_float64(transform):
    for x in (np.array([1, 2, 3]), [1.0, 2.0, 3.0]):
        g = transform(lambda v: (v * v * v).sum())(x)
        assert np.asarray(g).dtype == np.float64
    assert type(bd.grad(lambda v: v * v)(3)) is float
    assert bd.grad(lambda v: v * v)(3) == 6.0


def test_a_dual_made_inside_a_transformed_function_nests_inside_it():
    # d/dx of (Dual(x, 1) * x).value = d/dx x**2 = 2x; of its tangent (1 * x) = 1.
    assert bd.grad(lambda x: (bd.Dual(x, 1.0) * x).value)(3.0) == pytest.approx(6.0)
    assert bd.grad(lambda x: (bd.Dual(x, 1.0) * x).tangent)(3.0) == pytest.approx(1.0)


def test_a_dual_made_inside_a_jitted_function_is_traced():
    W = np.arange(9.0).reshape(3, 3) / 10

    def full_gradient(x):
        return (W @ bd.tanh(bd.Dual(x, np.eye(3)))).sum(axis=-1).tangent.sum(axis=-1)

    x = np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(bd.jit(full_gradient)(x), full_gradient(x), rtol=1e-13)
