"""Generated expressions (issue 6): random trees over every rule-table op, checked end to end.

Hypothesis builds expression trees from every entry of ``RULES`` with broadcasting shapes.
Domains are handled by the generator, not by loose tolerances: the argument of a
"positive" op goes through ``sigmoid(.) + 0.5``, of ``tan`` through ``tanh``, and an argument
near a kink (relu, abs, maximum) is shifted by a constant so it stays 0.1 away from it.
Values, reverse gradients, forward tangents and Jacobians are compared with torch and
central finite differences, in float64 and float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from engine_helpers import assert_close, fd_grad, torch_function
from hypothesis import event, given, settings
from hypothesis import strategies as st

import bobodiff as bd
from bobodiff.core import apply
from bobodiff.rules import NUMPY, RULES, Elementwise

KINK_MARGIN = 0.1
MAGNITUDE_GUARD = 4.0
OUT_SHAPES = [(), (3,), (2, 3)]


def subshapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Shapes that broadcast to ``shape``: drop leading axes, set some axes to 1."""
    out = []
    for drop in range(len(shape) + 1):
        rest = shape[drop:]
        for mask in range(2 ** len(rest)):
            s = tuple(1 if mask >> i & 1 else n for i, n in enumerate(rest))
            if s not in out:
                out.append(s)
    return out


@dataclass
class Expr:
    op: str  # "var", "const" or a RULES name
    value: np.ndarray  # float64 value, computed while building (drives the domain fixes)
    children: tuple[Expr, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    index: int = -1  # for "var"

    def size(self) -> int:
        return 1 + sum(c.size() for c in self.children)

    def ops(self) -> set[str]:
        return {self.op}.union(*(c.ops() for c in self.children))

    def __repr__(self) -> str:
        if self.op == "var":
            return f"x{self.index}{list(self.value.shape)}"
        if self.op == "const":
            return f"{self.value.tolist()!r}"
        p = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{self.op}({', '.join(map(repr, self.children))}{p})"


def node(op: str, children: tuple[Expr, ...], **params: Any) -> Expr:
    vals = [np.asarray(c.value, dtype=np.float64) for c in children]
    value = np.asarray(getattr(NUMPY, op)(*vals, **params), dtype=np.float64)
    return Expr(op, value, children, params)


def const(v: Any) -> Expr:
    return Expr("const", np.asarray(v, dtype=np.float64))


# --------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------


class Builder:
    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.inputs: list[np.ndarray] = []

    def leaf(self, shape: tuple[int, ...]) -> Expr:
        same = [i for i, v in enumerate(self.inputs) if v.shape == shape]
        kind = self.draw(st.sampled_from(["new", "new", "reuse", "const"]))
        if kind == "reuse" and same:  # a reused input makes a diamond
            i = self.draw(st.sampled_from(same))
            return Expr("var", self.inputs[i], index=i)
        value = np.asarray(self.draw(st.lists(st.floats(-2.0, 2.0), min_size=int(np.prod(shape)),
                                              max_size=int(np.prod(shape)))), dtype=np.float64)
        value = value.reshape(shape)
        if kind == "const":
            return const(value)
        self.inputs.append(value)
        return Expr("var", value, index=len(self.inputs) - 1)

    def shift_away_from_zero(self, e: Expr, against: np.ndarray | float = 0.0) -> Expr:
        """``e + c`` with ``|e + c - against| > KINK_MARGIN`` everywhere (c = 0 if possible)."""
        gap = np.asarray(e.value - against)
        for c in (0.0, 0.5, -0.5, 1.0, -1.0, 0.25, -0.25, 1.5, -1.5, 3.0, -3.0, 5.0):
            if np.all(np.abs(gap + c) > KINK_MARGIN):
                return e if c == 0.0 else node("add", (e, const(c)))
        raise AssertionError("no shift avoids the kink")  # cannot happen for <= 6 values

    def in_domain(self, domain: str, args: list[Expr]) -> list[Expr]:
        if domain == "real":
            return args
        if domain in ("positive", "nonzero"):
            return [a if np.all(a.value > 0.3) and np.all(a.value < MAGNITUDE_GUARD)
                    else node("add", (node("sigmoid", (a,)), const(0.5))) for a in args]
        if domain == "tan":
            return [a if np.all(np.abs(a.value) < 1.2) else node("tanh", (a,)) for a in args]
        if domain == "away_from_kinks":
            if len(args) == 1:
                return [self.shift_away_from_zero(args[0])]
            a, b = args
            return [a, self.shift_away_from_zero(b, against=a.value)]
        raise AssertionError(f"the expression generator does not know domain {domain!r}")

    def guard(self, e: Expr) -> Expr:
        if np.all(np.isfinite(e.value)) and np.max(np.abs(e.value), initial=0) <= MAGNITUDE_GUARD:
            return e
        return node("tanh", (node("mul", (e, const(0.25))),))

    def expr(self, shape: tuple[int, ...], depth: int) -> Expr:
        if depth == 0 or self.draw(st.integers(0, 9)) == 9:  # 0, hypothesis' favourite, recurses
            return self.leaf(shape)
        # Choose the kind first: most ops are unary, and trees of them are mere chains.
        kind = self.draw(st.sampled_from(["binary", "unary", "binary", "structural"]))
        options = [n for n in sorted(RULES) if (
            STRUCTURAL_BUILDERS[n](None, shape) if n not in ELEMENTWISE else
            (RULES[n].arity == 2) == (kind == "binary"))]
        if kind == "structural":
            options = [n for n in options if n not in ELEMENTWISE]
        else:
            options = [n for n in options if n in ELEMENTWISE]
        name = self.draw(st.sampled_from(options))
        if name in ELEMENTWISE:
            rule = RULES[name]
            shapes = [shape] if rule.arity == 1 else [
                self.draw(st.sampled_from(subshapes(shape))) for _ in range(rule.arity)]
            if np.broadcast_shapes(*shapes) != shape:
                shapes[0] = shape
            args = [self.expr(s, depth - 1) for s in shapes]
            out = node(name, tuple(self.in_domain(rule.domain, args)))
        else:
            out = STRUCTURAL_BUILDERS[name](self, shape, depth)
        assert out.value.shape == shape, (name, out, shape)
        return self.guard(out)


ELEMENTWISE = {n for n, r in RULES.items() if isinstance(r, Elementwise)}


# Structural builders: (builder, shape, depth) -> Expr of that shape; with builder None they
# only say whether they can produce the shape.
def _sum(b: Builder | None, shape: tuple[int, ...], depth: int = 0) -> Any:
    if b is None:
        return True
    k = b.draw(st.integers(1, 3))
    if shape == () and b.draw(st.booleans()):
        return node("sum", (b.expr((2, k), depth - 1),), axis=None, keepdims=False)
    if b.draw(st.booleans()):
        return node("sum", (b.expr(shape + (k,), depth - 1),), axis=-1, keepdims=False)
    return node("sum", (b.expr((k,) + shape, depth - 1),), axis=0, keepdims=False)


def _reshape(b: Builder | None, shape: tuple[int, ...], depth: int = 0) -> Any:
    if b is None:
        return True
    size = int(np.prod(shape))
    sources = [(size,), (1, size), (size, 1)] + ([shape[::-1]] if shape else [])
    src = b.draw(st.sampled_from(sources))
    return node("reshape", (b.expr(src, depth - 1),), shape=shape)


def _transpose(b: Builder | None, shape: tuple[int, ...], depth: int = 0) -> Any:
    if b is None:
        return len(shape) >= 1
    if len(shape) == 2 and b.draw(st.booleans()):
        return node("transpose", (b.expr(shape[::-1], depth - 1),), axes=(1, 0))
    return node("transpose", (b.expr(shape[::-1], depth - 1),), axes=None)


def _getitem(b: Builder | None, shape: tuple[int, ...], depth: int = 0) -> Any:
    if b is None:
        return True
    k = b.draw(st.integers(1, 3))
    kind = b.draw(st.sampled_from(["int", "array", "slice"] if shape else ["int"]))
    if kind == "int":
        i = b.draw(st.integers(-k, k - 1))
        return node("getitem", (b.expr((k,) + shape, depth - 1),), index=i)
    if kind == "array":  # repeated indices: the vjp must accumulate
        idx = np.array(b.draw(st.lists(st.integers(0, k - 1), min_size=shape[0],
                                       max_size=shape[0])))
        return node("getitem", (b.expr((k,) + shape[1:], depth - 1),), index=idx)
    start = b.draw(st.integers(0, 2))
    child = b.expr((start + shape[0] + 1,) + shape[1:], depth - 1)
    return node("getitem", (child,), index=slice(start, start + shape[0]))


def _scatter(b: Builder | None, shape: tuple[int, ...], depth: int = 0) -> Any:
    if b is None:
        return len(shape) >= 1
    j = b.draw(st.integers(1, 4))
    idx = np.array(b.draw(st.lists(st.integers(0, shape[0] - 1), min_size=j, max_size=j)))
    return node("scatter", (b.expr((j,) + shape[1:], depth - 1),), shape=shape, index=idx)


def _matmul(b: Builder | None, shape: tuple[int, ...], depth: int = 0) -> Any:
    if b is None:
        return len(shape) <= 2
    k = b.draw(st.integers(1, 3))
    if shape == ():
        sa, sb = (k,), (k,)
    elif len(shape) == 1:
        sa, sb = b.draw(st.sampled_from([((k,), (k,) + shape), (shape + (k,), (k,))]))
    else:
        sa, sb = (shape[0], k), (k, shape[1])
    return node("matmul", (b.expr(sa, depth - 1), b.expr(sb, depth - 1)))


STRUCTURAL_BUILDERS = {"sum": _sum, "reshape": _reshape, "transpose": _transpose,
                       "getitem": _getitem, "scatter": _scatter, "matmul": _matmul}


def test_generator_covers_every_rule():
    missing = {n for n in RULES if n not in ELEMENTWISE and n not in STRUCTURAL_BUILDERS}
    assert not missing, f"teach the expression generator these structural rules: {missing}"


@st.composite
def expressions(draw: Any, max_depth: int = 4) -> tuple[Expr, list[np.ndarray], np.ndarray]:
    """(expression, its input values, a cotangent for its output); at least one input."""
    b = Builder(draw)
    shape = draw(st.sampled_from(OUT_SHAPES))
    e = b.expr(shape, max_depth - draw(st.integers(0, max_depth - 1)))
    if not b.inputs:  # make sure something is differentiated: add an input
        e = b.guard(node("mul", (e, b.leaf_var(shape))))
    weights = np.asarray(draw(st.lists(st.floats(-1.0, 1.0), min_size=int(np.prod(shape)),
                                       max_size=int(np.prod(shape))))).reshape(shape)
    return e, b.inputs, weights


def _leaf_var(self: Builder, shape: tuple[int, ...]) -> Expr:
    value = np.asarray(self.draw(st.lists(st.floats(-2.0, 2.0), min_size=int(np.prod(shape)),
                                          max_size=int(np.prod(shape))))).reshape(shape)
    self.inputs.append(value)
    return Expr("var", value, index=len(self.inputs) - 1)


Builder.leaf_var = _leaf_var


# --------------------------------------------------------------------------------------
# Interpreters
# --------------------------------------------------------------------------------------


def plain(v: np.ndarray, dtype: Any = np.float64) -> Any:
    """How an input is handed to bobodiff: a Python float for shape (), else an array."""
    if v.shape == ():
        return float(v) if dtype == np.float64 else dtype(v)
    return v.astype(dtype)


def eval_bd(e: Expr, args: list[Any], dtype: Any = np.float64) -> Any:
    if e.op == "var":
        return args[e.index]
    if e.op == "const":
        return plain(e.value, dtype)
    kids = tuple(eval_bd(c, args, dtype) for c in e.children)
    return apply(RULES[e.op], kids, e.params)


def eval_np(e: Expr, args: list[Any]) -> np.ndarray:
    if e.op == "var":
        return np.asarray(args[e.index], dtype=np.float64)
    if e.op == "const":
        return e.value
    kids = [eval_np(c, args) for c in e.children]
    return np.asarray(getattr(NUMPY, e.op)(*kids, **e.params), dtype=np.float64)


def eval_torch(e: Expr, args: list[Any]) -> Any:
    import torch

    if e.op == "var":
        return args[e.index]
    if e.op == "const":
        return torch.tensor(e.value, dtype=torch.float64)
    kids = [eval_torch(c, args) for c in e.children]
    p = e.params
    if e.op in ELEMENTWISE:
        return torch_function(e.op)(*kids)
    (x, *rest) = kids
    if e.op == "sum":
        dims = tuple(range(x.ndim)) if p["axis"] is None else p["axis"]
        return x.sum(dim=dims, keepdim=p["keepdims"])
    if e.op == "reshape":
        return x.reshape(p["shape"])
    if e.op == "transpose":
        return x.permute(*(p["axes"] or reversed(range(x.ndim))))
    if e.op == "getitem":
        idx = p["index"]
        return x[torch.as_tensor(idx) if isinstance(idx, np.ndarray) else idx]
    if e.op == "scatter":
        out = torch.zeros(p["shape"], dtype=x.dtype)
        return out.index_put((torch.as_tensor(p["index"]),), x, accumulate=True)
    if e.op == "matmul":
        return x @ rest[0]
    raise AssertionError(f"teach eval_torch the rule {e.op!r}")


def scale(*arrays: Any) -> float:
    return max([1.0] + [float(np.max(np.abs(a), initial=0)) for a in arrays])


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

SETTINGS = settings(max_examples=100, deadline=None)


@SETTINGS
@given(expressions())
def test_reverse_mode_vs_finite_differences(case):
    e, inputs, w = case
    event(f"expression size {min(e.size() // 10 * 10, 50)}+")
    for op in e.ops():
        event(f"op {op}")
    ts = [bd.Tensor(plain(v)) for v in inputs]
    out = eval_bd(e, ts)
    assert_close(out.data, e.value, rtol=1e-12, atol=1e-12, what=f"value of {e}")
    (out * w).sum().backward()

    def loss(*a):
        return float(np.sum(w * eval_np(e, list(a))))

    for i, t in enumerate(ts):
        g = t.grad if t.grad is not None else np.zeros_like(inputs[i])
        assert np.shape(g) == inputs[i].shape
        expected = fd_grad(loss, [plain(v) for v in inputs], i)
        s = scale(expected)
        assert_close(g, expected, rtol=1e-5, atol=1e-6 * s, what=f"d/dx{i} of {e}")


@SETTINGS
@given(expressions())
def test_values_and_gradients_vs_torch(case):
    torch = pytest.importorskip("torch")
    e, inputs, w = case
    ts = [bd.Tensor(plain(v)) for v in inputs]
    out = eval_bd(e, ts)
    (out * w).sum().backward()
    targs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
    tout = eval_torch(e, targs)
    assert_close(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12, what=f"value of {e}")
    (tout * torch.as_tensor(w)).sum().backward()
    for i, (t, tt) in enumerate(zip(ts, targs)):
        expected = tt.grad.numpy() if tt.grad is not None else np.zeros(inputs[i].shape)
        got = t.grad if t.grad is not None else np.zeros(inputs[i].shape)
        assert_close(got, expected, rtol=1e-9, atol=1e-12 * scale(expected),
                     what=f"d/dx{i} of {e}")


@SETTINGS
@given(expressions(), st.data())
def test_forward_reverse_and_functional_paths_agree(case, data):
    e, inputs, w = case
    args = [plain(v) for v in inputs]
    tangents = [plain(np.asarray(data.draw(st.lists(st.floats(-1.0, 1.0), min_size=v.size,
                                                   max_size=v.size))).reshape(v.shape))
                for v in inputs]
    nums = tuple(range(len(args)))

    def f(*a):
        return eval_bd(e, list(a))

    # reverse: <w, J t> = sum_i <J_i^T w, t_i>
    value, grads = bd.value_and_grad(lambda *a: (f(*a) * w).sum(), argnums=nums)(*args)
    assert_close(value, np.sum(w * e.value), rtol=1e-12, atol=1e-12)
    out, jt = bd.jvp(f, args, tangents)
    assert_close(out, e.value, rtol=1e-12, atol=1e-12)
    lhs = float(np.sum(w * np.asarray(jt)))
    rhs = sum(float(np.sum(np.asarray(g) * t)) for g, t in zip(grads, tangents))
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-10 * scale(lhs, rhs)), f"{e}"
    # the same through the vjp function and hand-made Duals
    _, vjp_fn = bd.vjp(f, *args)
    for g, c in zip(grads, vjp_fn(w)):
        assert_close(c, g, rtol=1e-12, atol=1e-12, what="vjp vs grad")
    # whole Jacobians
    jf = bd.jacfwd(f, argnums=nums)(*args)
    jr = bd.jacrev(f, argnums=nums)(*args)
    for i in nums:
        assert_close(jf[i], jr[i], rtol=1e-9, atol=1e-12 * scale(jf[i]), what=f"jac x{i} {e}")
    dual = f(*[bd.Dual(a, t) for a, t in zip(args, tangents)])
    assert_close(np.broadcast_to(dual.value, np.shape(e.value)), e.value, rtol=1e-12, atol=1e-12)
    assert_close(dual.tangent, jt, rtol=1e-12, atol=1e-12, what="Dual tangent vs jvp")


@settings(max_examples=40, deadline=None)
@given(expressions(max_depth=3))
def test_float32_inputs_keep_float32(case):
    e, inputs, w = case
    nums = tuple(range(len(inputs)))
    args32 = [plain(v, np.float32) for v in inputs]
    args64 = [plain(v) for v in inputs]

    def loss(dtype):
        return lambda *a: (eval_bd(e, list(a), dtype) * w.astype(dtype)).sum()

    g32 = bd.grad(loss(np.float32), argnums=nums)(*args32)
    g64 = bd.grad(loss(np.float64), argnums=nums)(*args64)
    for i, (a, b) in enumerate(zip(g32, g64)):
        assert np.asarray(a).dtype == np.float32, f"d/dx{i} is {np.asarray(a).dtype} for {e}"
        assert_close(a, b, rtol=2e-3, atol=2e-4 * scale(b), what=f"float32 d/dx{i} of {e}")


@settings(max_examples=40, deadline=None)
@given(expressions(max_depth=3))
def test_jit_of_value_and_grad_agrees_with_the_interpreted_engine(case):
    e, inputs, w = case
    nums = tuple(range(len(inputs)))

    def loss(*a):
        return (eval_bd(e, list(a)) * w).sum()

    fast = bd.jit(bd.value_and_grad(loss, argnums=nums))
    slow = bd.value_and_grad(loss, argnums=nums)
    # the first call traces and compiles; the second, on other values of the same
    # signature, runs the cached program (a shift of 1e-3 keeps every input in its domain)
    for shift in (0.0, 1e-3):
        args = [plain(v + shift) for v in inputs]
        value, grads = fast(*args)
        expected_value, expected = slow(*args)
        assert float(value) == pytest.approx(float(expected_value), rel=1e-12, abs=1e-12), f"{e}"
        for i, (g, h) in enumerate(zip(grads, expected)):
            assert np.shape(g) == np.shape(h)
            assert_close(g, h, rtol=1e-12, atol=1e-12 * scale(h), what=f"jit d/dx{i} of {e}")


@settings(max_examples=60, deadline=None)
@given(expressions())
def test_directions_agree_with_the_jacobian(case):
    """bd.variables seeds input i along direction i (a tangent of ones): part i of the
    output's Directions is the Jacobian (reverse mode) summed over input i's axes."""
    e, inputs, w = case
    args = [plain(v) for v in inputs]
    before = [np.array(a, copy=True) for a in args]
    out = eval_bd(e, list(bd.variables(*args)))
    nums = tuple(range(len(args)))
    jr = bd.jacrev(lambda *a: eval_bd(e, list(a)), argnums=nums)(*args)
    shape = np.shape(e.value)
    if type(out) is not bd.Dual:  # the output does not depend on any input
        assert all(np.all(np.asarray(j) == 0) for j in jr)
        return
    assert len(out.tangent) == len(args)
    for i, j in enumerate(jr):
        expected = np.asarray(j).reshape(shape + (-1,)).sum(axis=-1)
        got = out.tangent.part(i, shape)
        assert_close(got, expected, rtol=1e-9, atol=1e-12 * scale(expected),
                     what=f"direction {i} of {e}")
    for a, b in zip(args, before):  # in-place accumulation never writes into an input
        assert np.array_equal(a, b)
    assert_close(np.broadcast_to(out.value, shape), e.value, rtol=1e-12, atol=1e-12)
