"""Kinds, dtypes, conversions and errors of the engines (issue 10, items 3, 5, 7, 9, 10, 12, 13).

Expected values come from torch on the same inputs, from reverse mode checked against
central finite differences, or from the definition of the conversion itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bobodiff as bd
from bobodiff.jit import TracerControlFlowError
from bobodiff.rules import RULES

# --------------------------------------------------------------------------------------
# Item 10: bool() / int() / float() of a Tensor or a Dual
# --------------------------------------------------------------------------------------

ONE_VALUE = [2.5, -0.0, 0.0, np.array(0.0), np.array(-1.5), np.array([[3.7]])]


@pytest.mark.parametrize("make", [bd.Tensor, lambda v: bd.Dual(v, 0.0 * np.asarray(v) + 1.0)],
                         ids=["Tensor", "Dual"])
@pytest.mark.parametrize("value", ONE_VALUE, ids=repr)
@pytest.mark.parametrize("conversion", [bool, int, float])
def test_conversions_of_one_value_are_torchs(make, value, conversion):
    expected = conversion(torch.tensor(np.asarray(value, dtype=np.float64)))
    got = conversion(make(value))
    assert type(got) is conversion
    assert got == expected


@pytest.mark.parametrize("make", [bd.Tensor, lambda v: bd.Dual(v, np.ones_like(v))],
                         ids=["Tensor", "Dual"])
@pytest.mark.parametrize("conversion", [bool, int, float])
@pytest.mark.parametrize("shape", [(3,), (0,), (2, 2)])
def test_conversions_of_several_values_are_ambiguous(make, conversion, shape):
    with pytest.raises(ValueError, match=rf"{conversion.__name__}\(\).*{shape}"):
        conversion(make(np.ones(shape)))


@pytest.mark.parametrize("transform", [lambda f: f, bd.grad], ids=["plain", "grad"])
@pytest.mark.parametrize("arg", [1.0, np.array(1.0)], ids=["float", "0-d array"])
@pytest.mark.parametrize("conversion", [bool, int, float])
def test_conversions_under_jit_raise_the_jit_error(transform, arg, conversion):
    def f(x):
        conversion(x)
        return x * 2.0

    with pytest.raises(TracerControlFlowError, match="jit"):
        bd.jit(transform(f))(arg)


def test_if_on_a_traced_value_names_jit_and_what_to_do():
    def f(x):
        if x:
            return x * 2.0
        return x

    with pytest.raises(TracerControlFlowError, match="jit.*bool.*static"):
        bd.jit(bd.grad(f))(np.array(1.0))


# --------------------------------------------------------------------------------------
# Item 12: np.asarray of a wrapper, builtin abs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapped, hint", [
    (bd.Tensor(np.ones(3)), r"\.data or \.numpy\(\)"),
    (bd.Tensor(2.0), r"\.data or \.numpy\(\)"),
    (bd.Dual(np.ones(3), np.ones(3)), r"\.value"),
])
def test_asarray_of_a_wrapper_says_how_to_take_its_values(wrapped, hint):
    with pytest.raises(TypeError, match=hint):
        np.asarray(wrapped)


def test_asarray_of_a_traced_value_raises_the_jit_error():
    with pytest.raises(TracerControlFlowError, match="jit"):
        bd.jit(lambda x: np.asarray(x) * 2.0)(np.ones(2))


@pytest.mark.parametrize("value", [-1.5, np.array([-2.0, 0.5, 3.0])], ids=["float", "array"])
def test_builtin_abs_of_tensor_and_dual(value):
    t = torch.tensor(np.asarray(value, dtype=np.float64), requires_grad=True)
    expected = abs(t)
    expected.sum().backward()
    x = bd.Tensor(value)
    y = abs(x)
    y.sum().backward()
    np.testing.assert_allclose(y.data, expected.detach().numpy())
    np.testing.assert_allclose(x.grad, t.grad.numpy())
    d = abs(bd.Dual(value, 1.0))
    np.testing.assert_allclose(d.value, expected.detach().numpy())
    np.testing.assert_allclose(d.tangent, t.grad.numpy())


# --------------------------------------------------------------------------------------
# Item 5: d(x**y)/dy where the base is 0
# --------------------------------------------------------------------------------------

BASES = np.array([0.0, 0.0, 0.0, 1.5, 2.0, 0.0])
EXPONENTS = np.array([2.0, 0.5, 0.0, -1.0, 3.0, 1.0])


def _torch_pow_grads():
    x = torch.tensor(BASES, requires_grad=True)
    y = torch.tensor(EXPONENTS, requires_grad=True)
    (gx,) = torch.autograd.grad((x**y).sum(), (y,), create_graph=True)
    h = torch.stack([torch.autograd.grad(gx[k], y, retain_graph=True)[0]
                     for k in range(len(EXPONENTS))])
    return gx.detach().numpy(), h.numpy()


def _pow_sum(x, y):
    return (x**y).sum()


@pytest.mark.parametrize("path", ["grad", "Tensor", "jvp", "jacfwd", "jit(grad)", "floats"])
def test_pow_exponent_derivative_at_a_zero_base_is_torchs(path):
    expected, _ = _torch_pow_grads()
    if path == "grad":
        got = bd.grad(_pow_sum, argnums=1)(BASES, EXPONENTS)
    elif path == "Tensor":
        y = bd.Tensor(EXPONENTS.copy())
        _pow_sum(BASES, y).backward()
        got = y.grad
    elif path == "jvp":
        got = np.array([bd.jvp(lambda y: _pow_sum(BASES, y), (EXPONENTS,),
                               (np.eye(len(EXPONENTS))[k],))[1] for k in range(len(EXPONENTS))])
    elif path == "jacfwd":
        got = bd.jacfwd(lambda y: _pow_sum(BASES, y))(EXPONENTS)
    elif path == "jit(grad)":
        got = bd.jit(bd.grad(_pow_sum, argnums=1))(BASES, EXPONENTS)
    else:  # one float pair at a time, both modes
        got = np.array([bd.grad(lambda a, b: a**b, argnums=1)(float(a), float(b))
                        for a, b in zip(BASES, EXPONENTS)])
        tangents = [bd.jvp(lambda b, a=float(a): a**b, (float(b),), (1.0,))[1]
                    for a, b in zip(BASES, EXPONENTS)]
        np.testing.assert_allclose(tangents, expected, rtol=1e-12)
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_pow_exponent_second_derivative_at_a_zero_base_is_zero():
    # torch's double backward gives nan at a zero base (0 * log(0) in the branch its where
    # discards); x**y is constant in y there, so every derivative in y is 0. Elsewhere the
    # Hessian is torch's (diagonal, x**y * log(x)**2).
    _, from_torch = _torch_pow_grads()
    zero = (BASES == 0) & (EXPONENTS >= 0)
    expected = np.where(zero[:, None] | zero[None, :], 0.0, from_torch)
    got = bd.hessian(_pow_sum, argnums=1)(BASES, EXPONENTS)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


# d(x**y)/dx where the exponent is 0: x**0 is 1 for every x, so 0, also at x == 0 (torch
# and JAX take it 0 there; y * x**(y - 1) would be 0 * 0**-1 = nan).
ZERO_EXPONENT_BASES = np.array([0.0, 0.0, 0.0, -2.0, 1.5, 0.0])
ZERO_EXPONENT_POWERS = np.array([0.0, 2.0, 1.0, 0.0, 0.0, 3.0])


def _torch_base_grads(y: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """torch's d/dx and d²/dx² of sum(x**y) at ZERO_EXPONENT_BASES."""
    x = torch.tensor(ZERO_EXPONENT_BASES)
    y = torch.tensor(y) if isinstance(y, np.ndarray) else y
    f = lambda x: (x**y).sum()  # noqa: E731
    return (torch.func.grad(f)(x).numpy(),
            torch.diagonal(torch.func.hessian(f)(x)).numpy())


@pytest.mark.parametrize("exponent", [0, 0.0, ZERO_EXPONENT_POWERS], ids=["0", "0.0", "array"])
@pytest.mark.parametrize("path", ["grad", "Tensor", "jvp", "jacfwd", "jit(grad)", "floats",
                                  "hessian"])
def test_pow_base_derivative_at_a_zero_exponent_is_torchs(exponent, path):
    expected, second = _torch_base_grads(exponent)
    x = ZERO_EXPONENT_BASES

    def f(x):
        return (x**exponent).sum()

    if path == "grad":
        got = bd.grad(f)(x)
    elif path == "Tensor":
        t = bd.Tensor(x.copy())
        f(t).backward()
        got = t.grad
    elif path == "jvp":
        got = np.array([bd.jvp(f, (x,), (e,))[1] for e in np.eye(len(x))])
    elif path == "jacfwd":
        got = bd.jacfwd(f)(x)
    elif path == "jit(grad)":
        got = bd.jit(bd.grad(f))(x)
    elif path == "floats":  # one float at a time, both modes, also with a float exponent
        powers = np.broadcast_to(exponent, x.shape)
        got = np.array([bd.grad(lambda a, b: a**b)(float(a), float(b))
                        for a, b in zip(x, powers)])
        tangents = [bd.jvp(lambda a, b=float(b): a**b, (float(a),), (1.0,))[1]
                    for a, b in zip(x, powers)]
        np.testing.assert_allclose(tangents, expected, rtol=1e-12)
    else:
        got = np.diagonal(bd.hessian(f)(x))
        expected = second
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# --------------------------------------------------------------------------------------
# Item 7: float32 is kept
# --------------------------------------------------------------------------------------

X32 = np.array([0.5, 1.25, 2.0], dtype=np.float32)
CONSTANT_FUNCTIONS = {
    "x / c": lambda x: x / 3.0,
    "c ** x": lambda x: 2.0**x,
    "c / x": lambda x: 3.0 / x,
    "x ** c": lambda x: x**1.5,
    "mixed": lambda x: bd.exp(x / 3.0) * (1.5**x),
}


def _torch_grad(f, x):
    t = torch.tensor(x, requires_grad=True)
    f(t).sum().backward()
    return t.grad


@pytest.mark.parametrize("name", list(CONSTANT_FUNCTIONS))
def test_float32_kept_through_python_float_constants(name):
    f = CONSTANT_FUNCTIONS[name]
    tf = {"mixed": lambda t: torch.exp(t / 3.0) * (1.5**t)}.get(name, f)
    expected = _torch_grad(tf, X32)
    assert expected.dtype == torch.float32
    x = bd.Tensor(X32.copy())
    f(x).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, expected.numpy(), rtol=1e-5)
    _, tangent = bd.jvp(f, (X32,), (np.ones(3, np.float32),))
    assert tangent.dtype == np.float32
    np.testing.assert_allclose(tangent, expected.numpy(), rtol=1e-5)
    jac = bd.jacfwd(f)(X32)
    assert jac.dtype == np.float32
    np.testing.assert_allclose(np.diag(jac), expected.numpy(), rtol=1e-5)
    hess = bd.hessian(lambda v: f(v).sum())(X32)
    assert hess.dtype == np.float32


@pytest.mark.parametrize("x0", [np.array(2.0, np.float32), np.float32(2.0)], ids=["0-d", "scalar"])
@pytest.mark.parametrize("f", [
    lambda a: a.reshape((1,)),
    lambda a: a.reshape((1, 1)) * np.ones((2, 3), np.float32),
    lambda a: bd.sum(a + np.zeros(3, np.float32)),
    lambda a: (a * np.ones(4, np.float32))[1:3],
], ids=["reshape", "reshape-broadcast", "broadcast-sum", "broadcast-slice"])
def test_jacfwd_of_a_0d_float32_input_is_float32(x0, f):
    jac = bd.jacfwd(f)(x0)
    assert np.result_type(jac) == np.float32
    np.testing.assert_allclose(jac, bd.jacrev(f)(np.asarray(x0)), rtol=1e-6)


def test_float32_leaf_keeps_its_dtype_in_a_float64_graph():
    w64 = np.array([1.0, -2.0, 0.5])
    t = torch.tensor(X32, requires_grad=True)
    (t * torch.tensor(w64)).sum().backward()
    x = bd.Tensor(X32.copy())
    (x * w64).sum().backward()
    assert x.grad.dtype == np.float32 and t.grad.dtype == torch.float32
    np.testing.assert_allclose(x.grad, t.grad.numpy())


# --------------------------------------------------------------------------------------
# Item 9: backward(grad=seed) copies the seed
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("f", [lambda a: a, lambda a: a * 1.0, lambda a: a + 0.0, lambda a: +a],
                         ids=["leaf", "times one", "plus zero", "pos"])
def test_backward_never_keeps_the_callers_seed(f):
    a = bd.Tensor(np.array([1.0, 2.0]))
    seed = np.array([0.5, -1.0])
    f(a).backward(grad=seed)
    assert a.grad is not seed and not np.shares_memory(a.grad, seed)
    a.grad *= 2.0
    np.testing.assert_array_equal(seed, [0.5, -1.0])


# --------------------------------------------------------------------------------------
# Item 3: forward mode through advanced indices separated by a slice or None
# --------------------------------------------------------------------------------------

I = np.array([0, 1, 1])
J = np.array([2, 0, 1])
INDICES = {
    "x[i, :, j]": (I, slice(None), J),
    "x[i, None, j]": (I, None, J),
    "x[0, :, j]": (0, slice(None), J),
    "x[i, ..., j]": (I, Ellipsis, J),
    "x[i, 1:, [[j]]]": (I, slice(1, None), J[None, None, :]),
    "x[:, i, j] (adjacent)": (slice(None), np.array([2, 0, 1]), np.array([0, 3, 3])),
    "x[i] (one array)": (I,),
    "x[mask, :, j]": (np.array([True, False]), slice(None), J),
}
X3 = np.linspace(-1.0, 1.5, 24).reshape(2, 3, 4)


def _torch_index(index):
    # NumPy counts an int beside an array of indices as one more array of indices (so
    # x[0, :, j] puts j's axis first); torch selects the int first: give torch [0] instead.
    arrays = any(isinstance(i, np.ndarray) for i in index)
    return tuple(torch.tensor(i) if isinstance(i, np.ndarray)
                 else torch.tensor([i]) if arrays and isinstance(i, int) else i for i in index)


@pytest.mark.parametrize("name", list(INDICES))
def test_jacfwd_through_advanced_indices_is_jacrevs_and_torchs(name):
    index = INDICES[name]
    expected = torch.autograd.functional.jacobian(
        lambda t: torch.sin(t[_torch_index(index)]), torch.tensor(X3)).numpy()
    got = bd.jacfwd(lambda x: bd.sin(x[index]))(X3)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(bd.jacrev(lambda x: bd.sin(x[index]))(X3), expected, rtol=1e-12)


@pytest.mark.parametrize("name", list(INDICES))
def test_hessian_through_advanced_indices_is_torchs(name):
    index = INDICES[name]
    expected = torch.autograd.functional.hessian(
        lambda t: (torch.sin(t[_torch_index(index)]) ** 2).sum(), torch.tensor(X3)).numpy()
    got = bd.hessian(lambda x: (bd.sin(x[index]) ** 2).sum())(X3)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------
# Item 13: writing into a leaf's array between the forward pass and backward
# --------------------------------------------------------------------------------------

WRITES = {
    "setitem": lambda a: a.__setitem__(0, 5.0),
    "in-place add": lambda a: np.add(a, 1e-3, out=a),
    "fill": lambda a: a.fill(0.25),
    "one element of many": lambda a: a.__setitem__(-1, a[-1] * 1.5),
}


@pytest.mark.parametrize("size", [1, 3, 1000], ids=["1", "3", "1000"])
@pytest.mark.parametrize("write", list(WRITES))
def test_backward_after_writing_into_a_saved_leaf_raises_naming_it(write, size):
    a = bd.Tensor(np.linspace(0.5, 1.5, size))
    b = bd.Tensor(np.full(size, 2.0))
    y = (a * b).sum()
    WRITES[write](a.data)
    with pytest.raises(RuntimeError, match=rf"leaf Tensor of shape \({size},\).*modified in place"):
        y.backward()


def test_a_0d_leaf_written_into_is_detected_and_writes_between_graphs_are_fine():
    a = bd.Tensor(np.array(0.5))
    y = bd.sin(a)
    a.data[...] = 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()
    # an update after backward, then a new forward pass: the new values are used
    x = bd.Tensor(np.array([0.5, 1.0]))
    bd.sin(x).sum().backward()
    x.data -= 0.5 * x.grad
    x.zero_grad()
    bd.sin(x).sum().backward()
    np.testing.assert_allclose(x.grad, np.cos(x.data))


def test_rebinding_data_is_not_a_write():
    a = bd.Tensor(np.array([0.5, 1.0]))
    y = bd.sin(a).sum()
    saved = a.data
    a.data = np.array([7.0, 8.0])  # the graph keeps computing with the array it saved
    y.backward()
    np.testing.assert_allclose(a.grad, np.cos(saved))


def test_a_write_between_two_backwards_of_a_retained_graph_raises():
    a = bd.Tensor(np.array([0.5, 1.0, 1.5]))
    y = (a * a).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(a.grad, 2 * a.data)
    a.data[1] = 4.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


# Rules marked reads_values=False: backward need not check the leaves they saved.
UNREADING = [rule for rule in RULES.values() if not rule.reads_values]


def _derivatives(rule, x, y, g):
    """What reverse mode computes from the operands' values for ``rule`` at (x, y)."""
    from bobodiff.rules import NUMPY, Elementwise
    if type(rule) is Elementwise:
        args = (x, y)[: rule.arity]
        out = getattr(NUMPY, rule.name)(*args)
        return [np.broadcast_to(np.asarray(_plain(d(NUMPY, *args, out))), x.shape)
                for d in rule.partials]
    params = {"sum": {"axis": None, "keepdims": False},
              "scatter": {"shape": (3, 3), "index": (slice(1, None),)}}[rule.name]
    args = (x,)
    out = getattr(NUMPY, rule.name)(*args, **params)
    g = np.arange(9.0).reshape(3, 3) if rule.name == "scatter" else np.ones_like(out) * 3.0
    return [np.asarray(v) for v in rule.vjp(NUMPY, g, args, out, params, (True,))]


def _plain(d):
    from bobodiff.rules import MINUS_ONE, ONE
    return 1.0 if d is ONE else (-1.0 if d is MINUS_ONE else d)


def test_the_rules_said_to_read_no_values_give_the_same_derivatives_at_other_values():
    assert {rule.name for rule in UNREADING} >= {"add", "sub", "neg", "sum"}
    assert not any(getattr(rule, "view", False) for rule in UNREADING)
    rng = np.random.default_rng(3)
    for rule in UNREADING:
        first = _derivatives(rule, rng.uniform(0.5, 1.5, (2, 3)),
                             rng.uniform(0.5, 1.5, (2, 3)), None)
        other = _derivatives(rule, rng.uniform(2.0, 3.0, (2, 3)),
                             rng.uniform(2.0, 3.0, (2, 3)), None)
        for a, b in zip(first, other):
            np.testing.assert_array_equal(a, b, err_msg=rule.name)
    # and one that does read them is told apart by the same check
    mul = RULES["mul"]
    assert mul.reads_values
    first = _derivatives(mul, np.ones((2, 3)), np.ones((2, 3)), None)
    other = _derivatives(mul, np.ones((2, 3)), np.full((2, 3), 2.0), None)
    assert not np.array_equal(first[0], other[0])


def test_a_write_into_a_leaf_that_only_unreading_operations_saved_is_not_an_error():
    """``+ 1``, ``- 2``, unary minus, ``sum``: their gradients do not depend on the leaves'
    values, so backward gives the right gradients (and no fingerprint is taken)."""
    W = bd.Tensor(np.arange(6.0).reshape(2, 3))
    b = bd.Tensor(np.array([1.0, 2.0]))
    y = (W + 1.0).sum() + (b - 2.0).sum() + (-b).sum() + W.sum()
    W.data[0, 0] = 100.0
    b.data[1] = -5.0
    y.backward()
    np.testing.assert_allclose(W.grad, np.full((2, 3), 2.0))
    np.testing.assert_allclose(b.grad, [0.0, 0.0])
    assert getattr(W, "_stamp", None) is None and getattr(b, "_stamp", None) is None


def test_a_write_seen_through_a_view_that_a_later_operation_reads_still_raises():
    W = bd.Tensor(np.arange(1.0, 7.0).reshape(2, 3))
    h = W.T  # a view of W's array: the product below reads W's values through it
    y = (h @ h.T).sum()
    W.data[0, 0] = 100.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()
