"""The functional transforms' contracts (issue 10, items 1, 2, 4, 6, 8, 11): no_grad does not
reach a transform's own graph, nothing returned aliases an argument, pytree outputs, JAX's
Jacobian nesting, float in float out under jit, a clear error for a non-scalar grad output.

Expected values come from hand-derived formulas, central finite differences or torch.func.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
from engine_helpers import assert_close, fd_grad, fd_jacobian

import bobodiff as bd

X = np.array([1.0, 2.0, -0.5])


def cube_sum(v):
    return (v * v * v).sum()


def cube_sum_grad(v):
    return 3.0 * v * v


# -- item 1: transforms record their own graph whatever the ambient no_grad -------------------

NO_GRAD_CASES = {
    "grad": lambda x: bd.grad(cube_sum)(x),
    "value_and_grad": lambda x: bd.value_and_grad(cube_sum)(x)[1],
    "jacrev": lambda x: bd.jacrev(cube_sum)(x),
    "vjp": lambda x: bd.vjp(cube_sum, x)[1](1.0)[0],
    "jacfwd": lambda x: bd.jacfwd(cube_sum)(x),
    "hessian_diagonal": lambda x: np.diag(bd.hessian(cube_sum)(x)) * x / 2.0,
    "grad_of_grad": lambda x: bd.grad(lambda v: bd.grad(cube_sum)(v).sum())(x) * x / 2.0,
}


@pytest.mark.parametrize("name", list(NO_GRAD_CASES))
def test_transforms_inside_no_grad_give_the_same_derivatives(name):
    with bd.no_grad():
        inside = NO_GRAD_CASES[name](X)
    assert_close(inside, cube_sum_grad(X), rtol=1e-12, what=name)
    assert_close(inside, fd_grad(cube_sum, [X], 0), rtol=1e-6, what=name)


def test_jit_first_traced_inside_no_grad_keeps_the_right_gradient():
    fast = bd.jit(bd.grad(cube_sum))
    with bd.no_grad():
        first = fast(X)
    later = fast(X)
    assert_close(first, cube_sum_grad(X), rtol=1e-12)
    assert_close(later, cube_sum_grad(X), rtol=1e-12)
    fast_float = bd.jit(bd.grad(lambda x, y: x * x * y, argnums=(0, 1)))
    with bd.no_grad():
        assert fast_float(3.0, 2.0) == pytest.approx((12.0, 9.0), rel=1e-14)
    assert fast_float(3.0, 2.0) == pytest.approx((12.0, 9.0), rel=1e-14)


def test_no_grad_still_governs_the_users_tensors_inside_a_transform():
    w = bd.Tensor(np.array([2.0, 3.0]))
    seen = {}

    def f(x):
        seen["enabled"] = bd.is_grad_enabled()
        seen["w_squared"] = w * w  # a user Tensor from outside: no_grad applies to it
        return (x * x).sum()

    with bd.no_grad():
        assert not bd.is_grad_enabled()
        g = bd.grad(f)(X)
        outside = w * w
    assert seen["enabled"], "the transform's own level records inside no_grad"
    assert_close(g, 2.0 * X, rtol=1e-14)
    for t in (seen["w_squared"], outside):
        assert not t.requires_grad, "an operation on the user's Tensor inside no_grad recorded"
    bd.grad(f)(X)
    assert seen["w_squared"].requires_grad  # outside no_grad the same operation records


def test_no_grad_inside_the_transformed_function_is_respected():
    def f(x):
        with bd.no_grad():
            stopped = x * x  # a constant of this transform, as torch.func
        return (stopped * x).sum()

    assert_close(bd.grad(f)(X), X * X, rtol=1e-14)


# -- item 2: nothing returned aliases an argument ---------------------------------------------

def _mul_sum(x, y):
    return (x * y).sum()


A = np.array([1.0, 2.0, 3.0])
B = np.array([4.0, 5.0, 6.0])

ALIAS_CASES = {
    "jit(grad) argnums=(0, 1)": lambda a, b: bd.jit(bd.grad(_mul_sum, argnums=(0, 1)))(a, b),
    "grad argnums=(0, 1)": lambda a, b: bd.grad(_mul_sum, argnums=(0, 1))(a, b),
    "jvp of a + 1": lambda a, b: bd.jvp(lambda u: u + 1.0, (a,), (b,)),
    "jvp of the identity": lambda a, b: bd.jvp(lambda u: u, (a,), (b,)),
    "jvp of a pair": lambda a, b: bd.jvp(lambda u: (u * 1.0, u), (a,), (b,)),
    "vjp of a * 1": lambda a, b: bd.vjp(lambda u: u * 1.0, a)[1](b),
    "vjp of the identity": lambda a, b: (bd.vjp(lambda u: u, a)[0],
                                         bd.vjp(lambda u: u, a)[1](b)),
    "jit of a * 1": lambda a, b: bd.jit(lambda u: u * 1.0)(a),
    "jit of the identity": lambda a, b: bd.jit(lambda u, v: (u, v))(a, b),
    "jit of a reshape": lambda a, b: bd.jit(lambda u: bd.reshape(u, (3, 1)))(a),
    "jit of a constant": lambda a, b: bd.jit(lambda u: (u * 2.0, B))(a),
    "jit of one value twice": lambda a, b: bd.jit(lambda u: (u * 2.0, u * 2.0))(a),
    "jit(jvp)": lambda a, b: bd.jit(lambda u, t: bd.jvp(lambda z: z + 1.0, (u,), (t,)))(a, b),
    "jacfwd of a matmul": lambda a, b: bd.jacfwd(lambda u, m: m @ u)(a, np.eye(3) * b),
}


def _arrays(x):
    if isinstance(x, tuple | list):
        return [leaf for v in x for leaf in _arrays(v)]
    return [x] if isinstance(x, np.ndarray) else []


@pytest.mark.parametrize("name", list(ALIAS_CASES))
def test_no_returned_array_aliases_an_argument_or_another_result(name):
    a, b = A.copy(), B.copy()
    results = _arrays(ALIAS_CASES[name](a, b))
    assert results
    for k, r in enumerate(results):
        for arg in (a, b, B):
            assert not np.shares_memory(r, arg), f"{name}: result {k} aliases an argument"
        for other in results[:k]:
            assert not np.shares_memory(r, other), f"{name}: results {k} share memory"
    for r in results:
        r *= 0.0  # the caller owns what it got
    assert_close(a, A, rtol=0, atol=0)
    assert_close(b, B, rtol=0, atol=0)


def test_jit_copies_only_what_would_alias():
    source = bd.jit(lambda u: (u * 2.0, bd.sin(u))).source(A)
    assert ".copy()" not in source, "a fresh result needs no copy"


# -- item 4: pytrees of outputs and of aux ----------------------------------------------------

def tree_f(a, b):
    return {"y": bd.sin(a) * b, "z": [a * a, (b * 3.0,)], "none": None}


def tree_f_np(a, b):
    return {"y": np.sin(a) * b, "z": [a * a, (b * 3.0,)], "none": None}


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    if isinstance(tree, tuple | list):
        return [leaf for v in tree for leaf in _leaves(v)]
    return [] if tree is None else [tree]


def _same_structure(actual, expected):
    if isinstance(expected, dict | tuple | list) or expected is None:
        assert type(actual) is type(expected), (
            f"{type(actual).__name__} != {type(expected).__name__}")
    if isinstance(expected, dict):
        assert list(actual) == list(expected)
        for k in expected:
            _same_structure(actual[k], expected[k])
    elif isinstance(expected, tuple | list):
        assert len(actual) == len(expected)
        for u, v in zip(actual, expected):
            _same_structure(u, v)


def _no_internal_objects(tree):
    for leaf in _leaves(tree):
        assert not getattr(leaf, "_is_bobodiff_wrapper", False), f"leaked {leaf!r}"


@pytest.mark.parametrize("jitted", [False, True], ids=["python", "jit"])
def test_jvp_of_a_dict_output(jitted):
    a, b, ta, tb = 0.5, 2.0, 1.0, -0.5

    def run(a, b, ta, tb):
        return bd.jvp(tree_f, (a, b), (ta, tb))

    value, tangent = (bd.jit(run) if jitted else run)(a, b, ta, tb)
    expected = tree_f_np(a, b)
    _same_structure(value, expected)
    _same_structure(tangent, expected)
    _no_internal_objects((value, tangent))
    assert_close(_leaves(value), _leaves(expected), rtol=1e-14)
    h = 1e-6
    fd = [(p - m) / (2 * h) for p, m in zip(_leaves(tree_f_np(a + h * ta, b + h * tb)),
                                            _leaves(tree_f_np(a - h * ta, b - h * tb)))]
    assert_close(_leaves(tangent), fd, rtol=1e-7)


def test_the_issues_dict_jvp():
    _, tangent = bd.jvp(lambda a: {"y": bd.sin(a)}, (0.5,), (1.0,))
    assert tangent == {"y": pytest.approx(math.cos(0.5), rel=1e-14)}


@pytest.mark.parametrize("jitted", [False, True], ids=["python", "jit"])
def test_jit_and_vjp_of_a_dict_output(jitted):
    a = np.array([0.3, -1.2])
    b = 1.5

    def run(a, b):
        value, vjp_fn = bd.vjp(tree_f, a, b)
        ct = {"y": np.ones(2), "z": [np.array([1.0, 2.0]), (np.full(1, 0.5)[0] * 1.0,)],
              "none": None}
        return value, vjp_fn(ct)

    value, (ga, gb) = (bd.jit(run) if jitted else run)(a, b)
    _same_structure(value, tree_f_np(a, b))
    _no_internal_objects(value)
    # d/da of sum(sin(a)*b) + sum([1, 2] * a*a); d/db of sum(sin(a)) + 0.5 * 3
    assert_close(ga, np.cos(a) * b + 2.0 * a * np.array([1.0, 2.0]), rtol=1e-14)
    assert gb == pytest.approx(np.sin(a).sum() + 1.5, rel=1e-14)


def test_jit_of_dict_and_namedtuple_outputs():
    Pair = collections.namedtuple("Pair", "first second")
    out = bd.jit(lambda a: {"y": a * 2.0})(1.0)
    assert out == {"y": 2.0}
    out = bd.jit(lambda a: Pair(a * 2.0, {"k": [a + 1.0]}))(np.array([1.0, 2.0]))
    assert type(out) is Pair
    assert_close(out.first, [2.0, 4.0])
    assert_close(out.second["k"][0], [2.0, 3.0])


def test_vjp_cotangent_of_the_wrong_structure_is_refused():
    _, vjp_fn = bd.vjp(lambda a: {"y": a, "z": a * 2.0}, 1.0)
    with pytest.raises(ValueError, match="structure"):
        vjp_fn((1.0, 1.0))


@pytest.mark.parametrize("jac", [bd.jacfwd, bd.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobians_of_a_dict_output(jac):
    x = np.array([0.4, -0.7, 1.1])

    def f(v):
        return {"s": bd.sin(v), "p": [v * v, v.sum()]}

    out = jac(f)(x)
    _same_structure(out, {"s": x, "p": [x, x]})
    assert_close(out["s"], fd_jacobian(lambda v: np.sin(v), [x], 0), rtol=1e-6)
    assert_close(out["p"][0], fd_jacobian(lambda v: v * v, [x], 0), rtol=1e-6)
    assert_close(out["p"][1], np.ones(3), rtol=1e-6)


@pytest.mark.parametrize("jitted", [False, True], ids=["python", "jit"])
def test_value_and_grad_with_a_dict_aux(jitted):
    x = np.array([0.5, 1.5])

    def f(v):
        y = bd.sin(v)
        return y.sum(), {"per_point": y, "both": (v * 2.0, [v.sum()])}

    vg = bd.value_and_grad(f, has_aux=True)
    (value, aux), g = (bd.jit(vg) if jitted else vg)(x)
    _no_internal_objects(aux)
    _same_structure(aux, {"per_point": x, "both": (x, [1.0])})
    assert_close(aux["per_point"], np.sin(x), rtol=1e-14)
    assert_close(aux["both"][0], 2.0 * x, rtol=1e-14)
    assert aux["both"][1][0] == pytest.approx(2.0)
    assert value == pytest.approx(np.sin(x).sum(), rel=1e-14)
    assert_close(g, np.cos(x), rtol=1e-14)


def test_a_set_output_is_refused_with_a_type_error():
    with pytest.raises(TypeError, match="set"):
        bd.jvp(lambda a: {a * 2.0}, (1.0,), (1.0,))
    with pytest.raises(TypeError, match="set"):
        bd.jit(lambda a: {a * 2.0})(1.0)


def test_an_output_leaf_that_is_not_a_value_is_refused():
    with pytest.raises(TypeError, match="str"):
        bd.jacfwd(lambda a: {"y": "text"})(1.0)


# -- item 6: result[output][argnum] for jacfwd, jacrev and hessian ----------------------------

def two_outputs(x, y):
    return (x[:, None] * bd.sin(y)[None, :]).sum() * x, bd.exp(y) * x.sum()


def two_outputs_torch(x, y):
    import torch

    return (x[:, None] * torch.sin(y)[None, :]).sum() * x, torch.exp(y) * x.sum()


def scalar_of_two(x, y):
    return (x[:, None] ** 2 * bd.sin(y)[None, :]).sum() + (x * x).sum() * y[0]


def scalar_of_two_torch(x, y):
    import torch

    return (x[:, None] ** 2 * torch.sin(y)[None, :]).sum() + (x * x).sum() * y[0]


XY = (np.array([0.3, -1.1]), np.array([0.7, 0.2, -0.4]))


@pytest.mark.parametrize("name", ["jacfwd", "jacrev"])
def test_jacobians_nest_output_then_argnum_as_torch_func(name):
    torch = pytest.importorskip("torch")
    ours = getattr(bd, name)(two_outputs, argnums=(0, 1))(*XY)
    theirs = getattr(torch.func, name)(two_outputs_torch, argnums=(0, 1))(
        *(torch.tensor(v) for v in XY))
    assert isinstance(ours, tuple) and len(ours) == 2
    for i in range(2):  # output
        assert isinstance(ours[i], tuple) and len(ours[i]) == 2
        for j in range(2):  # argnum
            assert ours[i][j].shape == two_outputs(*XY)[i].shape + XY[j].shape
            assert_close(ours[i][j], theirs[i][j].numpy(), rtol=1e-12, what=f"[{i}][{j}]")


def test_hessian_blocks_follow_the_argnums_as_torch_func():
    torch = pytest.importorskip("torch")
    ours = bd.hessian(scalar_of_two, argnums=(0, 1))(*XY)
    theirs = torch.func.hessian(scalar_of_two_torch, argnums=(0, 1))(
        *(torch.tensor(v) for v in XY))
    for i in range(2):
        for j in range(2):
            assert ours[i][j].shape == XY[i].shape + XY[j].shape, f"H[{i}][{j}]"
            assert_close(ours[i][j], theirs[i][j].numpy(), rtol=1e-12, what=f"H[{i}][{j}]")
    assert_close(ours[0][1], ours[1][0].T, rtol=1e-12)


def test_hessian_off_diagonal_block_against_finite_differences():
    def dfdx(x, y):
        return fd_grad(lambda u, v: float(scalar_of_two(u, v)), [x, y], 0)

    block = bd.hessian(scalar_of_two, argnums=(0, 1))(*XY)[0][1]
    assert_close(block, fd_jacobian(dfdx, list(XY), 1, h=1e-4), rtol=1e-5, atol=1e-6)


# -- item 8: float in, float out, also under jit ----------------------------------------------

def _weighted(x, w):
    return (x * w * w).sum()


FLOAT_CASES = {
    "grad": lambda f: bd.grad(f, argnums=(0, 1)),
    "value_and_grad": lambda f: (lambda *a: bd.value_and_grad(f, argnums=(0, 1))(*a)[1]),
    "vjp": lambda f: (lambda *a: bd.vjp(f, *a)[1](1.0)),
    "jacfwd": lambda f: bd.jacfwd(f, argnums=(0, 1)),
    "jacrev": lambda f: bd.jacrev(f, argnums=(0, 1)),
}


@pytest.mark.parametrize("jitted", [False, True], ids=["python", "jit"])
@pytest.mark.parametrize("name", list(FLOAT_CASES))
def test_a_float_argument_gets_a_float_gradient_beside_an_array(name, jitted):
    fun = FLOAT_CASES[name](_weighted)
    w = np.array([1.0, 2.0, 3.0])
    gx, gw = (bd.jit(fun) if jitted else fun)(2.0, w)
    assert type(gx) is float, f"{name}: a {type(gx).__name__} gradient for a float"
    assert gx == pytest.approx(14.0, rel=1e-14)
    assert isinstance(gw, np.ndarray)
    assert_close(gw, 4.0 * w, rtol=1e-14)


# -- item 11: grad of a non-scalar output, even a constant one ---------------------------------

NON_SCALAR_CASES = {
    "constant array": lambda x: np.ones(3),
    "array of the input": lambda x: x * 2.0,
    "constant tuple": lambda x: (1.0, 2.0),
}


@pytest.mark.parametrize("jitted", [False, True], ids=["python", "jit"])
@pytest.mark.parametrize("name", list(NON_SCALAR_CASES))
def test_grad_of_a_non_scalar_output_says_it_needs_a_scalar(name, jitted):
    g = bd.grad(NON_SCALAR_CASES[name])
    with pytest.raises(TypeError, match="scalar output"):
        (bd.jit(g) if jitted else g)(np.ones(2))


def test_grad_of_a_constant_scalar_is_zero():
    assert_close(bd.grad(lambda x: 5.0)(np.ones(2)), np.zeros(2), rtol=0, atol=0)
