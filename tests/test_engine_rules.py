"""Every entry of ``bobodiff.rules.RULES``: gradients vs finite differences and torch, both modes.

The tests iterate the table, so a new rule is picked up automatically: an elementwise rule
gets inputs from its ``domain``; a structural rule must have cases in ``STRUCTURAL_CASES``
below (the suite fails if one is missing).
"""

from __future__ import annotations

import itertools
import operator

import numpy as np
import pytest
from engine_helpers import (
    SHAPE_PAIRS,
    UNARY_SHAPES,
    assert_close,
    fd_grad,
    fd_jacobian,
    from_torch,
    min_gap,
    to_torch,
    torch_function,
    torch_grads,
    value_strategy,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bobodiff as bd
from bobodiff.core import apply
from bobodiff.rules import NUMPY, RULES, Elementwise, Structural

ELEMENTWISE_NAMES = sorted(n for n, r in RULES.items() if isinstance(r, Elementwise))
STRUCTURAL_NAMES = sorted(n for n, r in RULES.items() if isinstance(r, Structural))

FD_RTOL, FD_ATOL = 1e-6, 1e-7
TORCH_RTOL, TORCH_ATOL = 1e-10, 1e-12

# The public spelling of each elementwise primitive (operator or bobodiff function).
OPERATORS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "div": operator.truediv, "pow": operator.pow, "neg": operator.neg,
}


def public_fn(name):
    if name in OPERATORS:
        return OPERATORS[name]
    assert hasattr(bd, name), f"rule {name!r} has no public function bobodiff.{name}"
    return getattr(bd, name)


def torch_fn(name):
    pytest.importorskip("torch")
    return torch_function(name)


def test_rule_table_is_partitioned_and_known():
    assert ELEMENTWISE_NAMES and STRUCTURAL_NAMES
    assert set(ELEMENTWISE_NAMES) | set(STRUCTURAL_NAMES) == set(RULES)
    for name, rule in RULES.items():
        assert rule.name == name
        if isinstance(rule, Elementwise):
            assert rule.arity in (1, 2)
            assert rule.domain in {"real", "positive", "nonzero", "away_from_kinks", "tan"}


# --------------------------------------------------------------------------------------
# Elementwise rules
# --------------------------------------------------------------------------------------


@st.composite
def elementwise_case(draw, name):
    """(args, weights): inputs in the rule's domain and a cotangent of the output's shape."""
    rule = RULES[name]
    shapes = draw(st.sampled_from(SHAPE_PAIRS if rule.arity == 2 else
                                  [(s,) for s in UNARY_SHAPES]))
    args = [draw(value_strategy(s, rule.domain)) for s in shapes]
    if rule.domain == "away_from_kinks" and rule.arity == 2:
        assume(min_gap(*args) > 0.1)  # maximum: keep x != y everywhere
    out_shape = np.broadcast_shapes(*shapes)
    weights = draw(value_strategy(out_shape, "real"))
    return args, weights


def numpy_value(name):
    def f(*args):
        return getattr(NUMPY, name)(*[np.asarray(a, dtype=np.float64) for a in args])
    return f


def weighted(name, weights):
    """Scalar sum(weights * rule(*args)) on NumPy values (for finite differences)."""
    f = numpy_value(name)
    return lambda *args: float(np.sum(np.asarray(weights) * f(*args)))


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_reverse_vs_finite_differences(name, data):
    args, weights = data.draw(elementwise_case(name))
    ts = [bd.Tensor(a) for a in args]
    out = apply(RULES[name], tuple(ts))
    (out * weights).sum().backward()
    for i, (t, a) in enumerate(zip(ts, args)):
        assert np.shape(t.grad) == np.shape(a), f"grad of arg {i} has the wrong shape"
        if isinstance(a, float):
            assert type(t.grad) is float, f"float input, gradient of type {type(t.grad)}"
        expected = fd_grad(weighted(name, weights), args, i)
        assert_close(t.grad, expected, rtol=FD_RTOL, atol=FD_ATOL, what=f"{name} arg {i}")


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_reverse_and_value_vs_torch(name, data):
    fn = torch_fn(name)
    args, weights = data.draw(elementwise_case(name))
    ts = [bd.Tensor(a) for a in args]
    out = apply(RULES[name], tuple(ts))
    (out * weights).sum().backward()
    expected_value = from_torch(fn(*[to_torch(a, False) for a in args]))
    assert_close(out.data, expected_value, rtol=TORCH_RTOL, atol=TORCH_ATOL, what="value")
    for i, (t, g) in enumerate(zip(ts, torch_grads(fn, args, weights))):
        assert_close(t.grad, g, rtol=TORCH_RTOL, atol=TORCH_ATOL, what=f"{name} arg {i}")


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_forward_vs_torch_jvp(name, data):
    torch = pytest.importorskip("torch")
    fn = torch_fn(name)
    args, _ = data.draw(elementwise_case(name))
    tangents = [data.draw(value_strategy(np.shape(a), "real")) for a in args]
    out = apply(RULES[name], tuple(bd.Dual(a, t) for a, t in zip(args, tangents)))
    value, expected = torch.func.jvp(
        fn, tuple(to_torch(a, False) for a in args), tuple(to_torch(t, False) for t in tangents))
    assert_close(out.value, from_torch(value), rtol=TORCH_RTOL, atol=TORCH_ATOL)
    assert_close(out.tangent, from_torch(expected), rtol=TORCH_RTOL, atol=TORCH_ATOL,
                 what=f"{name} tangent")
    if all(isinstance(a, float) for a in args):
        assert type(out.value) is float and type(out.tangent) is float, "float fast path"


BINARY_NAMES = [n for n in ELEMENTWISE_NAMES if RULES[n].arity == 2]


@pytest.mark.parametrize("name", BINARY_NAMES)
@pytest.mark.parametrize("i", [0, 1])
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_forward_with_one_constant_argument_then_reduce(name, i, data):
    # Only args[i] carries a tangent, the other argument is a constant that may broadcast
    # it; a reduction right after must see the broadcast tangent (d/dt sum(c + t) = c.size).
    args, _ = data.draw(elementwise_case(name))
    tangent = data.draw(value_strategy(np.shape(args[i]), "real"))
    rule = RULES[name]
    ones = np.ones(np.broadcast_shapes(*map(np.shape, args)))

    def f(a):
        full = list(args)
        full[i] = a
        return bd.sum(apply(rule, tuple(full)))

    grad = fd_grad(weighted(name, ones), args, i)
    expected = float(np.sum(grad * tangent))
    _, jvp_out = bd.jvp(f, (args[i],), (tangent,))
    assert jvp_out == pytest.approx(expected, rel=FD_RTOL, abs=FD_ATOL), "jvp"
    full = list(args)
    full[i] = bd.Dual(args[i], tangent)
    dual = bd.sum(apply(rule, tuple(full)))
    assert dual.tangent == pytest.approx(expected, rel=FD_RTOL, abs=FD_ATOL), "Dual"
    assert_close(bd.jacfwd(f)(args[i]), grad, rtol=FD_RTOL, atol=FD_ATOL, what="jacfwd")


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_jacfwd_jacrev_jvp_vjp_agree_with_fd(name, data):
    args, weights = data.draw(elementwise_case(name))
    rule = RULES[name]

    def f(*a):
        return apply(rule, a)

    nums = tuple(range(rule.arity))
    jf = bd.jacfwd(f, argnums=nums)(*args)
    jr = bd.jacrev(f, argnums=nums)(*args)
    value, vjp_fn = bd.vjp(f, *args)
    cot = vjp_fn(weights)
    tangents = [data.draw(value_strategy(np.shape(a), "real")) for a in args]
    _, jvp_out = bd.jvp(f, args, tangents)
    expected_jvp = 0.0
    for i in nums:
        expected = fd_jacobian(numpy_value(name), args, i)
        assert_close(jf[i], expected, rtol=FD_RTOL, atol=FD_ATOL, what=f"jacfwd arg {i}")
        assert_close(jr[i], expected, rtol=FD_RTOL, atol=FD_ATOL, what=f"jacrev arg {i}")
        assert_close(jf[i], jr[i], rtol=1e-12, atol=1e-14, what=f"jacfwd vs jacrev arg {i}")
        in_nd = np.ndim(args[i])
        out_nd = np.ndim(value)
        # vjp: contract the Jacobian with the cotangent over the output axes
        assert_close(cot[i], np.tensordot(weights, expected, axes=out_nd),
                     rtol=FD_RTOL, atol=FD_ATOL, what=f"vjp arg {i}")
        expected_jvp = expected_jvp + np.tensordot(expected, tangents[i], axes=in_nd)
    assert_close(jvp_out, np.broadcast_to(expected_jvp, np.shape(value)),
                 rtol=FD_RTOL, atol=FD_ATOL, what="jvp")


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_float32_keeps_float32_gradients(name, data):
    rule = RULES[name]
    shapes = data.draw(st.sampled_from([(3,), (2, 3)]))
    args64 = [data.draw(hnp.arrays(np.float64, shapes, elements=value_strategy((), rule.domain)))
              for _ in range(rule.arity)]
    if rule.domain == "away_from_kinks" and rule.arity == 2:
        assume(min_gap(*args64) > 0.1)
    args32 = [a.astype(np.float32) for a in args64]
    nums = tuple(range(rule.arity))

    def loss(*a):
        return apply(rule, a).sum()

    g32 = bd.grad(loss, argnums=nums)(*args32)
    g64 = bd.grad(loss, argnums=nums)(*args64)
    jf32 = bd.jacfwd(lambda *a: apply(rule, a), argnums=nums)(*args32)
    jr32 = bd.jacrev(lambda *a: apply(rule, a), argnums=nums)(*args32)
    for i in nums:
        assert g64[i].dtype == np.float64
        for what, g in (("grad", g32[i]), ("jacfwd", jf32[i]), ("jacrev", jr32[i])):
            assert g.dtype == np.float32, f"{name}: {what} of float32 input is {g.dtype}"
        assert_close(g32[i], g64[i], rtol=1e-4, atol=1e-5, what=f"float32 vs float64 arg {i}")
    assert apply(rule, tuple(bd.Tensor(a) for a in args32)).data.dtype == np.float32


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_public_spelling_returns_matching_kind(name, data):
    rule = RULES[name]
    fn = public_fn(name)
    args = [data.draw(value_strategy(s, rule.domain)) for s in ((2, 3), ())[: rule.arity]]
    floats = [float(np.ravel(a)[0]) for a in args]
    if rule.domain == "away_from_kinks" and rule.arity == 2:
        assume(min_gap(*args) > 0.1 and min_gap(*floats) > 0.1)
    expected = numpy_value(name)(*args)
    on_arrays = fn(*args)
    assert type(on_arrays) is np.ndarray
    assert_close(on_arrays, expected, rtol=1e-14, atol=1e-15)
    on_floats = fn(*floats)
    assert type(on_floats) is float, f"{name} on floats gave {type(on_floats).__name__}"
    assert on_floats == pytest.approx(float(numpy_value(name)(*floats)), rel=1e-14, abs=1e-15)
    assert type(fn(*[bd.Dual(a) for a in args])) is bd.Dual
    assert type(fn(*[bd.Tensor(a) for a in args])) is bd.Tensor
    assert type(fn(bd.Tensor(args[0]), *args[1:])) is bd.Tensor
    if rule.arity == 2:
        assert type(fn(args[0], bd.Dual(args[1]))) is bd.Dual


SPECIAL_FLOATS = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1e308, -1e308, 5e-324,
                  -1000.0, 1.0]


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
def test_elementwise_on_floats_is_numpys_at_nan_infinities_and_extremes(name):
    # Floats follow NumPy at domain edges: sin(inf) raised math's ValueError on floats
    # (NumPy: nan), relu(nan) and maximum(nan, 1.0) gave 0.0 and 1.0 (NumPy and torch: nan)
    rule = RULES[name]
    fn = public_fn(name)
    paths = {"Tensor": lambda *xs: fn(*map(bd.Tensor, xs)).data,
             "Dual": lambda *xs: fn(*(bd.Dual(x, 1.0) for x in xs)).value}
    if name not in OPERATORS:  # an operator on plain floats is Python's own
        paths.update({"float": fn, "jit": bd.jit(fn)})
    with np.errstate(all="ignore"):
        for xs in itertools.product(SPECIAL_FLOATS, repeat=rule.arity):
            expected = numpy_value(name)(*(np.array(x) for x in xs))
            for path, f in paths.items():
                got = f(*xs)
                assert type(got) is float, (path, xs, type(got))
                assert got == expected or np.isnan(got) and np.isnan(expected), (path, xs, got,
                                                                                 expected)


# --------------------------------------------------------------------------------------
# Structural rules: a small case table keyed by name
# --------------------------------------------------------------------------------------


def _torch_index(index):
    torch = pytest.importorskip("torch")
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return torch.as_tensor(index)
    return index


def _sum_torch(axis, keepdims):
    def f(t):
        dims = tuple(range(t.ndim)) if axis is None else axis
        return t.sum(dim=dims, keepdim=keepdims) if t.ndim else t
    return f


def _transpose_torch(axes):
    return lambda t: t.permute(*(axes if axes is not None else reversed(range(t.ndim))))


def _scatter_torch(shape, index):
    def f(g):
        import torch

        out = torch.zeros(shape, dtype=g.dtype)
        return out.index_put(_torch_index(index if isinstance(index, tuple) else (index,)),
                             g, accumulate=True)
    return f


# name -> list of (input shapes, params, torch function of the torch inputs)
STRUCTURAL_CASES = {
    "sum": [
        (((2, 3),), dict(axis=None, keepdims=False), _sum_torch(None, False)),
        (((2, 3),), dict(axis=0, keepdims=False), _sum_torch(0, False)),
        (((2, 3),), dict(axis=-1, keepdims=True), _sum_torch(-1, True)),
        (((2, 3, 2),), dict(axis=(0, 2), keepdims=False), _sum_torch((0, 2), False)),
        (((2, 3),), dict(axis=None, keepdims=True), _sum_torch(None, True)),
        (((),), dict(axis=None, keepdims=False), _sum_torch(None, False)),
    ],
    "reshape": [
        (((2, 3),), dict(shape=(3, 2)), lambda t: t.reshape(3, 2)),
        (((6,),), dict(shape=(2, 3)), lambda t: t.reshape(2, 3)),
        (((2, 3),), dict(shape=(1, 6, 1)), lambda t: t.reshape(1, 6, 1)),
        (((2, 3),), dict(shape=(-1,)), lambda t: t.reshape(-1)),
    ],
    "transpose": [
        (((2, 3),), dict(axes=None), _transpose_torch(None)),
        (((2, 3, 4),), dict(axes=(1, 0, 2)), _transpose_torch((1, 0, 2))),
        (((2, 3, 4),), dict(axes=(2, 0, 1)), _transpose_torch((2, 0, 1))),
        (((2, 3, 4),), dict(axes=None), _transpose_torch(None)),
    ],
    "getitem": [
        (((4,),), dict(index=1), lambda t: t[1]),
        (((4,),), dict(index=-1), lambda t: t[-1]),
        (((4,),), dict(index=slice(1, 3)), lambda t: t[1:3]),
        (((3, 4),), dict(index=(1, slice(None))), lambda t: t[1, :]),
        (((3, 4),), dict(index=np.array([0, 2, 0])),
         lambda t: t[_torch_index(np.array([0, 2, 0]))]),
        (((3, 4),), dict(index=(slice(None), np.array([3, 1, 3]))),
         lambda t: t[:, _torch_index(np.array([3, 1, 3]))]),
        (((3, 4),), dict(index=(np.array([0, 2]), np.array([1, 3]))),
         lambda t: t[_torch_index((np.array([0, 2]), np.array([1, 3])))]),
        (((3, 4),), dict(index=(Ellipsis, 2)), lambda t: t[..., 2]),
        (((2, 3),), dict(index=np.array([[True, False, True], [False, True, True]])),
         lambda t: t[_torch_index(np.array([[True, False, True], [False, True, True]]))]),
    ],
    "scatter": [
        (((3,),), dict(shape=(5,), index=np.array([0, 2, 2])),
         _scatter_torch((5,), np.array([0, 2, 2]))),
        (((2, 4),), dict(shape=(3, 4), index=np.array([2, 0])),
         _scatter_torch((3, 4), np.array([2, 0]))),
        (((2,),), dict(shape=(3, 4), index=(np.array([0, 2]), np.array([1, 1]))),
         _scatter_torch((3, 4), (np.array([0, 2]), np.array([1, 1])))),
    ],
    "matmul": [
        (((2, 3), (3, 4)), {}, lambda a, b: a @ b),
        (((3,), (3, 4)), {}, lambda a, b: a @ b),
        (((2, 3), (3,)), {}, lambda a, b: a @ b),
        (((3,), (3,)), {}, lambda a, b: a @ b),
        (((2, 2, 3), (3, 4)), {}, lambda a, b: a @ b),
        (((2, 2, 3), (2, 3, 4)), {}, lambda a, b: a @ b),
        (((1, 2, 3), (2, 3, 4)), {}, lambda a, b: a @ b),
        (((3,), (2, 3, 4)), {}, lambda a, b: a @ b),
        (((2, 4, 3), (3,)), {}, lambda a, b: a @ b),
    ],
}

STRUCTURAL_PARAMS = [
    pytest.param(name, k, id=f"{name}-{k}")
    for name in STRUCTURAL_NAMES
    for k in range(len(STRUCTURAL_CASES.get(name, [])))
]
ARRAY_STRUCTURAL_PARAMS = [  # cases whose inputs are all arrays (a 0-d input is a float)
    p for p in STRUCTURAL_PARAMS if all(STRUCTURAL_CASES[p.values[0]][p.values[1]][0])
]


def test_every_structural_rule_has_cases():
    missing = [n for n in STRUCTURAL_NAMES if not STRUCTURAL_CASES.get(n)]
    assert not missing, f"structural rules without a test case in STRUCTURAL_CASES: {missing}"


def _structural(name, k):
    shapes, params, tfn = STRUCTURAL_CASES[name][k]
    rule = RULES[name]

    def f(*args):
        return apply(rule, args, params)

    def f_numpy(*args):
        return getattr(NUMPY, name)(*[np.asarray(a, dtype=np.float64) for a in args], **params)

    return shapes, f, f_numpy, tfn


@st.composite
def structural_inputs(draw, shapes, out_shape):
    args = [draw(value_strategy(s, "real")) for s in shapes]
    return args, draw(value_strategy(out_shape, "real"))


@pytest.mark.parametrize(("name", "k"), STRUCTURAL_PARAMS)
@settings(max_examples=12)
@given(data=st.data())
def test_structural_reverse_vs_fd_and_torch(name, k, data):
    shapes, f, f_numpy, tfn = _structural(name, k)
    out_shape = np.shape(f_numpy(*[np.zeros(s) for s in shapes]))
    args, weights = data.draw(structural_inputs(shapes, out_shape))
    ts = [bd.Tensor(a) for a in args]
    out = f(*ts)
    assert_close(out.data, f_numpy(*args), rtol=1e-14, atol=1e-14, what="value")
    (out * weights).sum().backward()
    loss = lambda *a: float(np.sum(weights * f_numpy(*a)))  # noqa: E731
    for i, t in enumerate(ts):
        assert_close(t.grad, fd_grad(loss, args, i), rtol=FD_RTOL, atol=FD_ATOL,
                     what=f"{name} case {k} arg {i} vs finite differences")
    pytest.importorskip("torch")
    assert_close(out.data, from_torch(tfn(*[to_torch(a, False) for a in args])),
                 rtol=1e-12, atol=1e-12, what="value vs torch")
    for i, (t, g) in enumerate(zip(ts, torch_grads(tfn, args, weights))):
        assert_close(t.grad, g, rtol=TORCH_RTOL, atol=TORCH_ATOL,
                     what=f"{name} case {k} arg {i} vs torch")


@pytest.mark.parametrize(("name", "k"), STRUCTURAL_PARAMS)
@settings(max_examples=12)
@given(data=st.data())
def test_structural_forward_reverse_and_fd_jacobians_agree(name, k, data):
    shapes, f, f_numpy, _ = _structural(name, k)
    out_shape = np.shape(f_numpy(*[np.zeros(s) for s in shapes]))
    args, weights = data.draw(structural_inputs(shapes, out_shape))
    nums = tuple(range(len(shapes)))
    for i in nums:
        expected = fd_jacobian(f_numpy, args, i)
        jf = bd.jacfwd(f, argnums=i)(*args)
        jr = bd.jacrev(f, argnums=i)(*args)
        assert_close(jf, expected, rtol=FD_RTOL, atol=FD_ATOL, what=f"jacfwd arg {i}")
        assert_close(jr, expected, rtol=FD_RTOL, atol=FD_ATOL, what=f"jacrev arg {i}")
    # jvp with one random direction per input, and a Dual made by hand
    tangents = [data.draw(value_strategy(s, "real")) for s in shapes]
    expected = sum(np.tensordot(fd_jacobian(f_numpy, args, i), tangents[i], axes=len(shapes[i]))
                   for i in nums)
    _, t_out = bd.jvp(f, args, tangents)
    assert_close(t_out, np.broadcast_to(expected, out_shape), rtol=FD_RTOL, atol=FD_ATOL,
                 what="jvp")
    dual_out = f(*[bd.Dual(a, t) for a, t in zip(args, tangents)])
    assert_close(dual_out.tangent, np.broadcast_to(expected, out_shape), rtol=FD_RTOL,
                 atol=FD_ATOL, what="Dual tangent")
    _, vjp_fn = bd.vjp(f, *args)
    for i, c in enumerate(vjp_fn(weights)):
        exp_c = np.tensordot(weights, fd_jacobian(f_numpy, args, i), axes=len(out_shape))
        assert_close(c, exp_c, rtol=FD_RTOL, atol=FD_ATOL, what=f"vjp arg {i}")


@pytest.mark.parametrize(("name", "k"), ARRAY_STRUCTURAL_PARAMS)
def test_structural_float32_keeps_float32(name, k):
    shapes, f, f_numpy, _ = _structural(name, k)
    rng = np.random.default_rng(k)
    args = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    nums = tuple(range(len(shapes)))
    grads = bd.grad(lambda *a: f(*a).sum(), argnums=nums)(*args)
    for i in nums:
        assert grads[i].dtype == np.float32, f"grad of arg {i} is {grads[i].dtype}"
        assert bd.jacfwd(f, argnums=i)(*args).dtype == np.float32
        assert bd.jacrev(f, argnums=i)(*args).dtype == np.float32
