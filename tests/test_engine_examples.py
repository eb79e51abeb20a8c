"""The report's worked examples in every mode: f(x1, x2) = x1²·x2 + cos(x2) and the E1 function.

Expected values are derived by hand (see the formulas below), never read from bobodiff.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import assert_close, fd_grad
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bobodiff as bd

ENGINE_SETTINGS = settings(max_examples=30, deadline=None)

# f(1, 2) = 1·2 + cos 2. The report prints 1.583851634528576 (a digit dropped) and the issue
# 1.5838516...; the true value is 2 + cos 2 = 1.5838531634528576.
F_VALUE = 2.0 + math.cos(2.0)
DF_DX1 = 4.0  # 2·x1·x2
# 1 - sin 2 = 0.0907026...; the report's screenshot prints 0.8907... (a typo).
DF_DX2 = 1.0 - math.sin(2.0)


def report_f(x1, x2):
    return x1 * x1 * x2 + bd.cos(x2)


def test_worked_example_constants_are_what_the_report_means():
    assert F_VALUE == pytest.approx(1.5838531634528576, abs=1e-15)
    assert DF_DX2 == pytest.approx(0.0907025731743183, abs=1e-15)


def test_worked_example_forward_mode():
    d1 = report_f(bd.variable(1.0), bd.constant(2.0))
    d2 = report_f(bd.constant(1.0), bd.variable(2.0))
    assert d1.valeur == pytest.approx(F_VALUE, abs=1e-15)
    assert d1.derive == pytest.approx(DF_DX1, abs=1e-15)
    assert d2.valeur == pytest.approx(F_VALUE, abs=1e-15)
    assert d2.derive == pytest.approx(DF_DX2, abs=1e-15)
    # The report's class name and constructor
    d = report_f(bd.AutoDiff(1.0, 1.0), bd.AutoDiff(2.0, 0.0))
    assert isinstance(d, bd.Dual)
    assert (d.value, d.tangent) == (d.valeur, d.derive)
    assert d.derive == pytest.approx(DF_DX1, abs=1e-15)
    assert type(d.valeur) is float and type(d.derive) is float


def test_worked_example_reverse_mode():
    x1, x2 = bd.Tensor(1.0), bd.Tensor(2.0)
    y = report_f(x1, x2)
    y.backward()
    assert y.data == pytest.approx(F_VALUE, abs=1e-15)
    assert x1.grad == pytest.approx(DF_DX1, abs=1e-15)
    assert x2.grad == pytest.approx(DF_DX2, abs=1e-15)
    assert type(x1.grad) is float


def test_worked_example_functional_api():
    assert bd.grad(report_f)(1.0, 2.0) == pytest.approx(DF_DX1, abs=1e-15)
    assert bd.grad(report_f, argnums=1)(1.0, 2.0) == pytest.approx(DF_DX2, abs=1e-15)
    value, (g1, g2) = bd.value_and_grad(report_f, argnums=(0, 1))(1.0, 2.0)
    assert value == pytest.approx(F_VALUE, abs=1e-15)
    assert (g1, g2) == pytest.approx((DF_DX1, DF_DX2), abs=1e-15)
    out, tangent = bd.jvp(report_f, (1.0, 2.0), (1.0, 0.0))
    assert out == pytest.approx(F_VALUE, abs=1e-15)
    assert tangent == pytest.approx(DF_DX1, abs=1e-15)
    _, tangent = bd.jvp(report_f, (1.0, 2.0), (0.0, 1.0))
    assert tangent == pytest.approx(DF_DX2, abs=1e-15)
    _, vjp_fn = bd.vjp(report_f, 1.0, 2.0)
    assert vjp_fn(1.0) == pytest.approx((DF_DX1, DF_DX2), abs=1e-15)


# --------------------------------------------------------------------------------------
# E1: f = (x1 sin x2 + log((x3²+1)²) + exp(x1 x3)) cos x2
# --------------------------------------------------------------------------------------


def e1(x1, x2, x3):
    return (x1 * bd.sin(x2) + bd.log((x3**2 + 1.0) ** 2) + bd.exp(x1 * x3)) * bd.cos(x2)


def e1_numpy(x1, x2, x3):
    return (x1 * np.sin(x2) + np.log((x3**2 + 1.0) ** 2) + np.exp(x1 * x3)) * np.cos(x2)


def e1_grad_by_hand(x1, x2, x3):
    """d/dx of E1, derived by hand; A is the bracket."""
    a = x1 * np.sin(x2) + 2.0 * np.log(x3**2 + 1.0) + np.exp(x1 * x3)
    c, s = np.cos(x2), np.sin(x2)
    d1 = (s + x3 * np.exp(x1 * x3)) * c
    d2 = x1 * c * c - a * s
    d3 = (4.0 * x3 / (x3**2 + 1.0) + x1 * np.exp(x1 * x3)) * c
    return d1, d2, d3


coord = st.floats(-2.0, 2.0, allow_nan=False)
E1_RTOL = 1e-12


def test_e1_hand_gradient_matches_finite_differences():
    # The oracle itself is checked once, independently of bobodiff.
    p = [0.7, -1.3, 0.4]
    for i, d in enumerate(e1_grad_by_hand(*p)):
        assert d == pytest.approx(fd_grad(e1_numpy, p, i), rel=1e-7, abs=1e-8)


@ENGINE_SETTINGS
@given(coord, coord, coord)
def test_e1_forward_mode_floats(x1, x2, x3):
    expected = e1_grad_by_hand(x1, x2, x3)
    for i in range(3):
        args = [bd.variable(v) if j == i else bd.constant(v) for j, v in enumerate((x1, x2, x3))]
        out = e1(*args)
        assert type(out.valeur) is float
        assert out.valeur == pytest.approx(e1_numpy(x1, x2, x3), rel=E1_RTOL, abs=1e-12)
        assert out.derive == pytest.approx(expected[i], rel=1e-10, abs=1e-10)


@ENGINE_SETTINGS
@given(coord, coord, coord)
def test_e1_reverse_mode_floats(x1, x2, x3):
    ts = [bd.Tensor(v) for v in (x1, x2, x3)]
    out = e1(*ts)
    out.backward()
    assert out.data == pytest.approx(e1_numpy(x1, x2, x3), rel=E1_RTOL, abs=1e-12)
    for t, d in zip(ts, e1_grad_by_hand(x1, x2, x3)):
        assert type(t.grad) is float
        assert t.grad == pytest.approx(d, rel=1e-10, abs=1e-10)


@ENGINE_SETTINGS
@given(coord, coord, coord)
def test_e1_functional_api_floats(x1, x2, x3):
    expected = e1_grad_by_hand(x1, x2, x3)
    value, grads = bd.value_and_grad(e1, argnums=(0, 1, 2))(x1, x2, x3)
    assert value == pytest.approx(e1_numpy(x1, x2, x3), rel=E1_RTOL, abs=1e-12)
    assert grads == pytest.approx(expected, rel=1e-10, abs=1e-10)
    for i in range(3):
        tangents = [1.0 if j == i else 0.0 for j in range(3)]
        _, t = bd.jvp(e1, (x1, x2, x3), tangents)
        assert t == pytest.approx(expected[i], rel=1e-10, abs=1e-10)
    x = np.array([x1, x2, x3])
    for jac in (bd.jacfwd, bd.jacrev, bd.grad):
        g = jac(lambda v: e1(v[0], v[1], v[2]))(x)
        assert_close(g, np.array(expected), rtol=1e-10, atol=1e-10, what=jac.__name__)


batch = hnp.arrays(np.float64, (4,), elements=coord)


@ENGINE_SETTINGS
@given(batch, batch, batch)
def test_e1_forward_mode_arrays_batched_tangent(x1, x2, x3):
    # One pass, three directions: each input's tangent has a leading axis of 3 directions,
    # direction k = d/dx_k at every point of the batch.
    n = x1.shape[0]

    def seed(k):
        t = np.zeros((3, n))
        t[k] = 1.0
        return t

    out = e1(bd.Dual(x1, seed(0)), bd.Dual(x2, seed(1)), bd.Dual(x3, seed(2)))
    assert out.tangent.shape == (3, n)
    assert_close(out.value, e1_numpy(x1, x2, x3), rtol=E1_RTOL, atol=1e-12)
    assert_close(out.tangent, np.stack(e1_grad_by_hand(x1, x2, x3)), rtol=1e-10, atol=1e-10)


@ENGINE_SETTINGS
@given(batch, batch, batch)
def test_e1_reverse_mode_arrays(x1, x2, x3):
    ts = [bd.Tensor(v) for v in (x1, x2, x3)]
    out = e1(*ts)
    out.sum().backward()
    for t, d in zip(ts, e1_grad_by_hand(x1, x2, x3)):
        assert isinstance(t.grad, np.ndarray) and t.grad.shape == (4,)
        assert_close(t.grad, d, rtol=1e-10, atol=1e-10)


@ENGINE_SETTINGS
@given(batch, batch, batch)
def test_e1_functional_api_arrays(x1, x2, x3):
    expected = e1_grad_by_hand(x1, x2, x3)
    grads = bd.grad(lambda a, b, c: e1(a, b, c).sum(), argnums=(0, 1, 2))(x1, x2, x3)
    for g, d in zip(grads, expected):
        assert_close(g, d, rtol=1e-10, atol=1e-10)
    # Elementwise function: the Jacobian is diagonal.
    for i in range(3):
        for jac in (bd.jacfwd, bd.jacrev):
            j = jac(e1, argnums=i)(x1, x2, x3)
            assert_close(j, np.diag(expected[i]), rtol=1e-10, atol=1e-10, what=jac.__name__)


def test_variable_on_an_array_seeds_the_identity_basis():
    x = np.array([0.5, -1.0, 2.0])
    v = bd.variable(x)
    assert v.tangent.shape == (3, 3)
    out = bd.sin(v) * v[0]  # f_i = sin(x_i)·x_0
    # tangent[k, i] = d f_i / d x_k
    expected = np.diag(np.cos(x) * x[0])
    expected[0, :] += np.sin(x)
    assert_close(out.tangent, expected, rtol=1e-14, atol=1e-15)
    c = bd.constant(x)
    assert_close(c.tangent, np.zeros(3), rtol=0, atol=0)
    assert bd.constant(2.0).tangent == 0.0 and bd.variable(2.0).tangent == 1.0


# -- Directions: several inputs seeded apart, one forward pass --------------------------

def _e1(x1, x2, x3, lib=bd):
    return (x1 * lib.sin(x2) + lib.log((x3**2 + 1) ** 2) + lib.exp(x1 * x3)) * lib.cos(x2)


def _e1_partials(x1, x2, x3):
    """E1's partials derived by hand (the report's eq. 1)."""
    s2, c2 = np.sin(x2), np.cos(x2)
    e13 = np.exp(x1 * x3)
    q = x3 * x3 + 1.0
    inner = x1 * s2 + 2.0 * np.log(q) + e13
    return [(s2 + x3 * e13) * c2, x1 * c2 * c2 - inner * s2, (4.0 * x3 / q + x1 * e13) * c2]


@pytest.mark.parametrize("kind", ["float", "array"])
def test_variables_give_every_partial_in_one_pass(kind):
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1, 1, 1000) for _ in range(3)]
    if kind == "float":
        xs = [float(x[0]) for x in xs]
    keep = [np.array(x, copy=True) for x in xs]
    f = _e1(*bd.variables(*xs))
    assert_close(f.value, _e1(*xs, lib=np), rtol=1e-13, atol=0)
    shape = np.shape(xs[0])
    for j, expected in enumerate(_e1_partials(*xs)):
        assert_close(f.tangent.part(j, shape), expected, rtol=1e-12, atol=1e-14)
    dense = f.tangent.dense(shape)
    assert dense.shape == (3,) + shape
    for x, k in zip(xs, keep):
        assert np.array_equal(x, k)


def test_directions_skip_inputs_a_value_does_not_depend_on():
    x, y, z = bd.variables(2.0, 3.0, 5.0)
    out = x * y
    assert out.tangent.parts == (3.0, 2.0, None)
    assert out.tangent.part(2).item() == 0.0


def test_directions_refuse_mixed_or_mismatched_seeds():
    x, y = bd.variables(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="Directions"):
        x * bd.Dual(np.ones(3), np.ones(3))
    (a,) = bd.variables(np.ones(3))
    with pytest.raises(ValueError, match="2 and 1 Directions"):
        x + a
    with pytest.raises(ValueError, match="at least one"):
        bd.Directions(())


def test_directions_through_structural_ops():
    a = np.arange(6.0).reshape(2, 3)
    x, w = bd.variables(a, np.array([1.0, -2.0, 0.5]))
    out = bd.sum((x @ w) ** 2)
    y = a @ np.array([1.0, -2.0, 0.5])
    # d/dt sum((A + t)(w) ** 2) = sum(2 y * sum(w)); d/dt along w + t: sum(2 y * rowsum(A))
    assert_close(out.tangent.part(0), np.sum(2 * y * np.sum([1.0, -2.0, 0.5])), rtol=1e-12)
    assert_close(out.tangent.part(1), np.sum(2 * y * a.sum(axis=1)), rtol=1e-12)


# -- Basis: the identity seed left symbolic ----------------------------------------------

def test_basis_gives_the_network_input_gradient():
    rng = np.random.default_rng(5)
    n = 7
    W1, b1, w2, x = rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n), \
        rng.normal(size=n)
    out = w2 @ bd.tanh(W1 @ bd.Dual(x, bd.Basis(n)) + b1) + 0.5
    h = np.tanh(W1 @ x + b1)
    assert_close(out.value, w2 @ h + 0.5, rtol=1e-13)
    assert_close(out.tangent, W1.T @ (w2 * (1.0 - h * h)), rtol=1e-12)  # by hand


@pytest.mark.parametrize("form", ["W@x", "x@W", "a@x", "x@a", "x+c", "sin"])
def test_basis_matches_the_dense_identity(form):
    rng = np.random.default_rng(6)
    n = 4
    a, c, x = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    W = rng.normal(size=(3, n)) if form == "W@x" else rng.normal(size=(n, 3))
    fns = {"W@x": lambda d: W @ d, "x@W": lambda d: d @ W, "a@x": lambda d: a @ d,
           "x@a": lambda d: d @ a, "x+c": lambda d: d + c, "sin": lambda d: bd.sin(d) * c}
    f = fns[form]
    sym, dense = f(bd.Dual(x, bd.Basis(n))), f(bd.Dual(x, np.eye(n)))
    assert_close(np.asarray(sym.tangent), dense.tangent, rtol=1e-14, atol=0)


def test_a_tangent_that_is_an_operand_is_handed_out_as_a_copy():
    W = np.arange(6.0).reshape(2, 3)
    d = W @ bd.Dual(np.ones(3), bd.Basis(3))
    assert_close(d.tangent, W.T, rtol=0, atol=0)
    d.tangent[0, 0] = 100.0
    assert W[0, 0] == 0.0
    J = bd.jacfwd(lambda x: W @ x)(np.ones(3))
    assert_close(J, W, rtol=0, atol=0)
    J[0, 0] = 100.0  # the user's Jacobian is theirs to write
    assert W[0, 0] == 0.0
    assert_close(np.asarray(bd.Basis(3)), np.eye(3), rtol=0, atol=0)
    with pytest.raises(ValueError, match="n >= 1"):
        bd.Basis(0)


def _mlp(W1, b1, W2, lib=bd):
    return lambda x: W2 @ lib.tanh(lib.sin(W1 @ x + b1) * 0.5 - 0.1)


@pytest.mark.parametrize("out_rows", [None, 3])
def test_deferred_scalings_match_the_dense_identity_and_reverse_mode(out_rows):
    """Elementwise ops after W @ x scale the Basis tangent lazily (Scaled); the result must
    equal the pass seeded with a dense identity, and jacrev."""
    rng = np.random.default_rng(8)
    n = 6
    W1, b1, x = rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n)
    W2 = rng.normal(size=n) if out_rows is None else rng.normal(size=(out_rows, n))
    f = _mlp(W1, b1, W2)
    lazy = f(bd.Dual(x, bd.Basis(n))).tangent
    dense = f(bd.Dual(x, np.eye(n))).tangent
    assert type(lazy) is np.ndarray
    assert_close(lazy, dense, rtol=1e-12, atol=1e-14)
    assert_close(bd.jacfwd(f)(x), bd.jacrev(f)(x), rtol=1e-12, atol=1e-14)
    assert_close(bd.jit(bd.jacfwd(f))(x), bd.jacrev(f)(x), rtol=1e-12, atol=1e-14)


def test_deferred_scalings_under_an_outer_derivative():
    """grad of a jacfwd: the scalings are outer Tensors; checked by finite differences."""
    rng = np.random.default_rng(9)
    n = 4
    W1, b1, W2, x = rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n), \
        rng.normal(size=n)
    f = _mlp(W1, b1, W2)

    def g(x):
        return bd.sum(bd.jacfwd(f)(x) ** 2)

    got = bd.grad(g)(x)
    expected = fd_grad(lambda v: float(np.sum(bd.jacrev(f)(v) ** 2)), [x], 0)
    assert_close(got, expected, rtol=1e-5, atol=1e-7)


# -- has_aux -------------------------------------------------------------------------------

def test_value_and_grad_with_aux_returns_the_aux_values():
    rng = np.random.default_rng(10)
    xs = [rng.uniform(-1, 1, 50) for _ in range(3)]

    def total_and_values(a, b, c):
        f = _e1(a, b, c)
        return bd.sum(f), f

    (total, values), partials = bd.value_and_grad(total_and_values, argnums=(0, 1, 2),
                                                  has_aux=True)(*xs)
    assert type(values) is np.ndarray  # the aux is a plain value, not a Tensor
    assert_close(values, _e1(*xs, lib=np), rtol=1e-13)
    assert_close(total, np.sum(_e1(*xs, lib=np)), rtol=1e-12)
    for got, expected in zip(partials, _e1_partials(*xs)):
        assert_close(got, expected, rtol=1e-12, atol=1e-14)
    grads, aux = bd.grad(total_and_values, argnums=(0, 1, 2), has_aux=True)(*xs)
    assert_close(aux, values, rtol=0, atol=0)
    (jt, jv), jp = bd.jit(bd.value_and_grad(total_and_values, argnums=(0, 1, 2),
                                            has_aux=True))(*xs)
    assert_close(jv, values, rtol=1e-14)
    for a, b in zip(jp, partials):
        assert_close(a, b, rtol=1e-13, atol=1e-15)


def test_has_aux_requires_a_pair():
    with pytest.raises(TypeError, match=r"pair \(scalar, aux\).*Tensor"):
        bd.grad(lambda x: x * 2.0, has_aux=True)(1.0)
    with pytest.raises(TypeError, match="tuple of 3"):
        bd.grad(lambda x: (x, x, x), has_aux=True)(1.0)


def test_directions_sharing_one_array_are_not_written_in_place():
    """Two directions seeded alike share their parts; accumulating into one must not
    change the other (compared with the dense batched tangent)."""
    rng = np.random.default_rng(11)
    a, b = rng.uniform(0.5, 1.5, 100), rng.uniform(0.5, 1.5, 100)

    def f(x, y):
        return bd.log(x * x + 1.0) * bd.sin(x) + bd.exp(x) * y - x / y

    sparse = f(bd.Dual(a, bd.Directions((1.0, 1.0, None))),
               bd.Dual(b, bd.Directions((None, 1.0, 2.0))))
    dense = f(bd.Dual(a, np.array([[1.0], [1.0], [0.0]])),
              bd.Dual(b, np.array([[0.0], [1.0], [2.0]])))
    assert_close(sparse.tangent.dense((100,)), np.broadcast_to(dense.tangent, (3, 100)),
                 rtol=1e-13, atol=1e-15)


def test_deferred_scalings_when_the_weights_are_traced():
    """jit with the weights as arguments: the Basis meets traced matrices."""
    rng = np.random.default_rng(15)
    n = 5
    W1, b1, w2, x = rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n), \
        rng.normal(size=n)

    def value_and_input_gradient(W1, b1, w2, x):
        def net(v):
            return w2 @ bd.tanh(W1 @ v + b1)
        return net(x), bd.jacfwd(net)(x)

    value, g = bd.jit(value_and_input_gradient)(W1, b1, w2, x)
    h = np.tanh(W1 @ x + b1)
    assert_close(value, w2 @ h, rtol=1e-13)
    assert_close(g, W1.T @ (w2 * (1.0 - h * h)), rtol=1e-12, atol=1e-14)  # by hand
