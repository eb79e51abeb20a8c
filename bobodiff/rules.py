"""The table of primitive rules: the one place where bobodiff's derivatives live.

Every differentiable primitive has one entry in ``RULES``:

* an :class:`Elementwise` rule gives, for each argument, its *local derivative*
  ``partial(ops, *args, out)``. Forward mode multiplies the argument's tangent by it;
  reverse mode multiplies the incoming gradient by it and sums the result back to the
  argument's shape (:func:`unbroadcast`).
* a :class:`Structural` rule (sum, reshape, transpose, indexing, matmul, ...) gives an
  explicit ``jvp`` / ``vjp`` pair, because its derivative is not a pointwise product.

Rules never compute with a concrete library: they receive ``ops``, a *backend* namespace
(:data:`MATH` for Python floats, :data:`NUMPY` for arrays, :data:`GENERIC` when the values
are themselves Duals or Tensors, which is how nested derivatives such as Hessians work).

Adding a primitive = adding one entry here: its primals, local derivatives and docstring;
the backends, the public function ``bobodiff.<name>`` and the jit's printing come from it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------
# Markers for trivial local derivatives: the engines skip the multiplication for them.
# --------------------------------------------------------------------------------------


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


ONE = _Marker("ONE")
MINUS_ONE = _Marker("MINUS_ONE")


# --------------------------------------------------------------------------------------
# Backends: the primal functions for one kind of value.
# --------------------------------------------------------------------------------------


class Backend:
    """A namespace of primal functions for one kind of value (floats, arrays, wrappers)."""

    def __init__(self, name: str, rank: int, **functions: Callable[..., Any]) -> None:
        self.name = name
        self.rank = rank  # when values of two kinds meet, the higher rank wins
        self.__dict__.update(functions)

    def __repr__(self) -> str:
        return f"<backend {self.name}>"


def _np_float(fn: Callable[..., Any], *args: float) -> float:
    """Evaluate ``fn`` the NumPy way (nan/inf plus a RuntimeWarning) and return a float."""
    return float(fn(*(np.float64(a) for a in args)))


# Python floats: `math`, with NumPy's semantics where `math` would raise
# (log(-1) -> nan + warning, 1/0 -> inf + warning, exp(1000) -> inf + warning).
def _m_div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        return _np_float(np.divide, a, b)


def _m_pow(a: float, b: float) -> float:
    try:
        r = a**b
    except (ZeroDivisionError, OverflowError):
        return _np_float(np.power, a, b)
    if type(r) is complex:  # (-8.0) ** 0.5 is complex in Python; NumPy says nan
        return _np_float(np.power, a, b)
    return r


#: What ``math`` raises where NumPy gives nan or inf with a warning (sin(inf), exp(1000),
#: log(0)): a fast path that calls ``math`` itself catches these and computes again through
#: :data:`MATH`, which gives NumPy's answer.
MATH_ERRORS = (ValueError, OverflowError, ZeroDivisionError)


def _m_guard(fn: Callable[[float], float], np_fn: Callable[..., Any]) -> Callable[[float], float]:
    def guarded(x: float) -> float:
        try:
            return fn(x)
        except MATH_ERRORS:
            return _np_float(np_fn, x)

    guarded.__name__ = fn.__name__
    return guarded


def _m_sigmoid(x: float) -> float:
    # Stable on both sides: exp is only ever taken of a non-positive number.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _np_sigmoid(x: Any) -> Any:
    x = np.asarray(x)
    e = np.exp(-np.abs(x))  # exp of a non-positive number only: no overflow
    r = 1.0 / (1.0 + e)  # a Python float: a float32 x keeps its dtype
    return np.where(x >= 0, r, e * r)


def _m_softplus(x: float) -> float:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exp never overflows
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x)))


def _np_softplus(x: Any) -> Any:
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# As NumPy's maximum: nan if either operand is (a comparison with nan is False), and the
# second operand on a tie (maximum(-0.0, 0.0) is 0.0).
def _m_maximum(x: float, y: float) -> float:
    return x if x > y or x != x else y


def _m_relu(x: float) -> float:
    return 0.0 if x <= 0.0 else x  # nan stays nan


def _m_step(x: float) -> float:
    return 1.0 if x > 0 else 0.0


def _m_sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


def _m_maxgrad(x: float, y: float) -> float:
    return 1.0 if x > y else (0.5 if x == y else 0.0)


def _m_zero_base(x: float, y: float) -> float:
    return 1.0 if x == 0.0 and y >= 0.0 else 0.0


def _np_zero_base(x: Any, y: Any) -> Any:
    dtype = np.result_type(x, y, 1.0)
    return np.logical_and(np.equal(x, 0), np.greater_equal(y, 0)).astype(dtype)


def _m_zero_power(x: float, y: float) -> float:
    return 1.0 if x == 0.0 and y == 0.0 else 0.0


def _np_zero_power(x: Any, y: Any) -> Any:
    dtype = np.result_type(x, y, 1.0)
    return np.logical_and(np.equal(x, 0), np.equal(y, 0)).astype(dtype)


def _np_step(x: Any) -> Any:
    x = np.asarray(x)
    return (x > 0).astype(np.result_type(x, 1.0))


def _np_maxgrad(x: Any, y: Any) -> Any:
    dtype = np.result_type(x, y, 1.0)
    return (np.greater(x, y) + 0.5 * np.equal(x, y)).astype(dtype)


# An array's own methods: np.sum, np.reshape and np.transpose reach them through two or three
# Python-level NumPy frames, which cost more than the work on small arrays (E2 at n = 1).
def _np_sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    if type(x) is np.ndarray:
        return x.sum(axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def _np_reshape(x: Any, shape: Any) -> Any:
    return x.reshape(shape) if type(x) is np.ndarray else np.reshape(x, shape)


def _np_transpose(x: Any, axes: Any = None) -> Any:
    return x.transpose(axes) if type(x) is np.ndarray else np.transpose(x, axes)


def _sums_a_float_whole(axis: Any = None, keepdims: bool = False) -> bool:
    """Whether the sum of a float over ``axis`` is that float itself."""
    return axis in (None, (), 0, -1) and not keepdims


def _float_sum(x: float, axis: Any = None, keepdims: bool = False) -> Any:
    if _sums_a_float_whole(axis, keepdims):
        return x
    return np.sum(x, axis=axis, keepdims=keepdims)


def _np_scatter(g: Any, shape: tuple[int, ...], index: Any) -> Any:
    g = np.asarray(g)
    out = np.zeros(shape, dtype=g.dtype if g.dtype.kind == "f" else np.float64)
    np.add.at(out, index, g)
    return out


def _dot_computes(a: Any, b: Any) -> bool:
    """np.dot computes ``a @ b`` (1-D and 2-D operands), with BLAS in every case."""
    return 0 < np.ndim(a) <= 2 and 0 < np.ndim(b) <= 2


def _np_matmul(a: Any, b: Any) -> Any:
    # np.dot goes to BLAS for every 1-D/2-D case; np.matmul does not for some of them (an
    # outer product (n, 1) @ (1, n) is 4x slower through matmul here).
    if type(a) is np.ndarray and type(b) is np.ndarray:
        if 0 < a.ndim <= 2 and 0 < b.ndim <= 2:
            return np.dot(a, b)
    elif _dot_computes(a, b):
        return np.dot(a, b)
    return np.matmul(a, b)


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a float (()), an array, or a Dual / Tensor."""
    t = type(x)
    if t is float or t is int:
        return ()
    if t is np.ndarray:
        return x.shape
    return x.shape if hasattr(x, "shape") else np.shape(x)


def _np_div(a: Any, b: Any) -> Any:
    if type(a) is np.ndarray or type(b) is np.ndarray:
        return a / b
    if type(a) in _PYTHON_NUMBER and type(b) in _PYTHON_NUMBER:
        # 1 / c in d(x / c)/dx: a Python float is "weak" (a float32 array stays float32),
        # np.divide would make a float64 scalar, which is not
        return _m_div(a, b)
    return np.divide(a, b)


_PYTHON_NUMBER = (float, int)


# The primals of the named elementwise functions (sin, exp, ...) are in their rule entries
# below and installed into these backends from there.
# Arithmetic through Python's operators: on arrays it is NumPy's, and Python numbers met
# inside a rule (3 - 1.0 in the derivative of x**3) stay Python numbers, which NumPy treats
# as "weak" (a float32 array stays float32), where np.subtract would make a float64.
_NUMPY_COMMON: dict[str, Callable[..., Any]] = dict(
    add=operator.add,
    sub=operator.sub,
    mul=operator.mul,
    div=_np_div,
    pow=np.power,
    neg=operator.neg,
    sign=np.sign,
    step=_np_step,
    maxgrad=_np_maxgrad,
    zero_base=_np_zero_base,
    zero_power=_np_zero_power,
    sum=_np_sum,
    reshape=_np_reshape,
    transpose=_np_transpose,
    getitem=lambda x, index: x[index],
    matmul=_np_matmul,
    scatter=_np_scatter,
    broadcast_to=np.broadcast_to,
    shape=shape_of,
)

NUMPY = Backend("numpy", 1, **_NUMPY_COMMON)

MATH = Backend(
    "math",
    0,
    **{
        **_NUMPY_COMMON,  # structural ops on a float fall back to NumPy
        "add": operator.add,
        "sub": operator.sub,
        "mul": operator.mul,
        "div": _m_div,
        "pow": _m_pow,
        "neg": operator.neg,
        "sign": _m_sign,
        "step": _m_step,
        "maxgrad": _m_maxgrad,
        "zero_base": _m_zero_base,
        "zero_power": _m_zero_power,
        "sum": _float_sum,
        "shape": lambda x: (),
    },
)

# Filled by bobodiff.functions: dispatching functions that accept Duals and Tensors.
GENERIC = Backend("generic", 2)

_BACKEND_OF_TYPE: dict[type, Backend] = {
    float: MATH,
    int: MATH,
    bool: MATH,
    np.float64: MATH,  # a float subclass: math handles it and returns Python floats
    np.ndarray: NUMPY,
}


def backend_of(x: Any) -> Backend:
    """The backend that computes on values like ``x``; TypeError for anything else."""
    b = _BACKEND_OF_TYPE.get(type(x))
    if b is not None:
        return b
    if isinstance(x, np.generic):
        return NUMPY
    if getattr(x, "_is_bobodiff_wrapper", False):
        return GENERIC
    if isinstance(x, float | int):  # float subclasses other than NumPy scalars
        return MATH
    raise TypeError(
        f"bobodiff cannot differentiate through a value of type {type(x).__name__!r}; "
        "use Python floats, NumPy arrays, Dual or Tensor"
    )


def backend_for(args: tuple[Any, ...]) -> Backend:
    """The backend for an operation mixing ``args`` (the highest-ranked one wins)."""
    best = MATH
    for a in args:
        t = type(a)
        if t is float:
            continue
        b = _BACKEND_OF_TYPE.get(t) or backend_of(a)
        if b.rank > best.rank:
            best = b
    return best


def unbroadcast(g: Any, shape: tuple[int, ...], batch: int = 0) -> Any:
    """Sum ``g`` down to ``shape`` (the inverse of NumPy broadcasting).

    ``batch`` leading axes of ``g`` (directions of a batched tangent) are kept.
    """
    gshape = shape_of(g)
    if gshape[batch:] == tuple(shape):
        return g
    extra = len(gshape) - batch - len(shape)
    axes = tuple(range(batch, batch + extra))
    axes += tuple(
        batch + extra + i for i, n in enumerate(shape) if n == 1 and gshape[batch + extra + i] != 1
    )
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return out.reshape(gshape[:batch] + tuple(shape))


# --------------------------------------------------------------------------------------
# Rule kinds
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """A constant operand that leaves the other one unchanged (``1.0 * x`` is ``x``): the
    jit records no operation for it.

    ``value`` is the constant, ``at`` the positions it may take; a Python float equal to it
    counts, and so does a Python int if ``ints``, and, if ``arrays``, an array of it with
    the other operand's shape and dtype.
    """

    value: float
    at: tuple[int, ...] = (0, 1)
    ints: bool = False
    arrays: bool = False


@dataclass(frozen=True)
class Elementwise:
    """A pointwise primitive: its local derivative with respect to each argument.

    ``partials[i](ops, *args, out)`` returns d out / d args[i] (pointwise), or the markers
    ``ONE`` / ``MINUS_ONE``. ``domain`` tells the tests which inputs are valid.
    ``partial_is = (other, sign)`` says the (one-argument) local derivative is ``sign`` times
    primitive ``other`` at the same argument (sin' = cos, cos' = -sin): an engine that has
    already computed ``other`` there may use it instead of computing it again.
    A named function gives its primal ``on_float`` (``math``, NumPy's semantics at domain
    edges) and ``on_array`` (NumPy), and its ``doc``: the backends, the public function
    ``bobodiff.<name>`` and the jit's printing are all made from the entry.
    """

    name: str
    partials: tuple[Callable[..., Any], ...]
    domain: str = "real"  # "real" | "positive" | "nonzero" | "away_from_kinks" | "tan"
    partial_is: tuple[str, float] | None = None
    #: The primal on Python floats and on arrays, for a named function (``bobodiff.sin``);
    #: None for an operator (``+ - * / **``, whose primals are the backends' arithmetic).
    #: ``math``'s own function may be the float primal: it raises :data:`MATH_ERRORS` where
    #: NumPy gives nan or inf, and :data:`MATH` holds it guarded (NumPy's answer there).
    on_float: Callable[..., Any] | None = None
    on_array: Callable[..., Any] | None = None
    #: The docstring of the public function ``bobodiff.<name>`` made from this entry.
    doc: str = ""
    #: An operator's special methods, given to Dual, Tensor and the jit's Tracer
    #: (``("__add__", "__radd__")``: the second one reflected).
    methods: tuple[str, ...] = ()
    #: How the jit and ``explain`` print an operator (``"{0} + {1}"``), its precedence
    #: there (higher binds tighter), and the ufunc a chunked program writes it with.
    infix: str = ""
    precedence: int = 5
    ufunc: Any = None
    #: On floats the infix form is the primal only for an integral second operand (Python's
    #: ``(-8.0) ** 0.5`` is complex, NumPy's nan; an integer power is never complex): the
    #: jit writes it infix then only, and Tensor's inline float path takes int operands only.
    infix_integral_only: bool = False
    #: A constant operand that leaves the other one unchanged (see :class:`Identity`).
    identity: Identity | None = None
    #: A square ``x ** 2``, written as this primitive of ``(x, x)`` on floats (``x * x``)
    #: and as this ufunc of ``x`` in a chunked program (``np.square``).
    square_as: str = ""
    square_ufunc: Any = None
    #: The default activation of ``nn``'s MLPs (one entry has it).
    default_activation: bool = False
    #: Its derivatives read no operand's values, only shapes (``ONE``, ``MINUS_ONE``, a
    #: shape's worth of g), and its result is no view of them: reverse mode then need not
    #: check, at backward, that a leaf's array this operation saved was left unchanged. (A
    #: view keeps the check: a later operation may read the leaf's values through it.)
    reads_values: bool = True
    arity: int = field(init=False)
    #: ``read_by[k][j]``: whether the derivative for operand j reads operand k's values
    #: (the output's do not count: it is the operation's own fresh array). Traced from
    #: ``partials`` (:func:`_traced_reads`): sin' reads x, exp' only the output, mul's
    #: derivative for x reads y. Reverse mode checks a leaf's array for writes only when
    #: a derivative it will compute reads it. None: no derivative reads an operand.
    read_by: tuple[tuple[bool, ...], ...] | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arity", len(self.partials))
        reads = _traced_reads(self.partials) if self.reads_values else None
        object.__setattr__(self, "read_by", _read_by(reads, self.arity))


@dataclass(frozen=True)
class Structural:
    """A linear or structural primitive, with an explicit (jvp, vjp) pair.

    ``jvp(ops, tangents, args, out, params, batched)`` maps the input tangents (``None`` for
    an argument that carries none) to the output tangent; ``batched`` says tangents carry a
    leading axis of directions. ``vjp(ops, g, args, out, params, needs)`` returns one
    cotangent per argument (it may skip, returning None, those whose ``needs`` is False).
    """

    name: str
    jvp: Callable[..., Any]
    vjp: Callable[..., tuple[Any, ...]]
    params: tuple[str, ...] = field(default=())
    arity: int = 1
    #: The wrappers' methods made from this entry: an operator's special methods
    #: (``__matmul__``), or an array method (``x.sum(axis)``) named like the primitive.
    methods: tuple[str, ...] = ()
    #: Parameters given as a sequence: a list becomes a tuple, and the array method takes
    #: them as separate arguments too (``x.reshape(2, 3)``).
    sequences: tuple[str, ...] = ()
    #: The rule has a public function ``bobodiff.<name>`` (with this docstring).
    doc: str = ""
    #: NumPy's result may be a view of the first operand (so it is cheap on a broadcast
    #: array, and shares its memory).
    view: bool = False
    #: ``tangent_map(values, i)``: when only argument ``i`` carries a tangent t (directions
    #: first), a constant M with the output's tangent ``t @ M``, or None. Forward mode's
    #: structured tangents (Basis, Scaled) use it to skip writing out the identity.
    tangent_map: Callable[..., Any] | None = None
    infix: str = ""
    precedence: int = 5
    #: ``(when, template)``: the jit writes the operation with ``template`` where
    #: ``when(*values)`` holds instead of infix (matmul: ``np.dot`` for 1-D and 2-D operands,
    #: BLAS for all of them, see :func:`_np_matmul`).
    prints_as: tuple[Callable[..., bool], str] | None = None
    #: A reduction: NumPy's reduction method of that name (``"sum"``). A chunked program
    #: reduces each chunk with ``chunk.<reduction>()`` and the chunks' results with
    #: ``np.<reduction>``; it is computed on the jit's ghosts as they are (no copy).
    reduction: str = ""
    #: ``whole(*params)``: whether the result on a float is the float itself (a sum over all
    #: its axes); the jit records no operation then.
    whole_on_float: Callable[..., bool] | None = None
    #: The result holds the operand's elements in the same flat (C) order (a reshape): a
    #: chunked program takes it as the same chunk.
    keeps_flat_order: bool = False
    #: As :attr:`Elementwise.reads_values` (False for sum and scatter; a view keeps True).
    reads_values: bool = True
    #: ``reads[j]``: the operands whose values the vjp for operand j reads (matmul's for a
    #: reads b); None: every operand, if ``reads_values``. A view reads none itself: an
    #: operation that reads the view reads the array it views (reverse mode then checks
    #: that array's leaf).
    reads: tuple[tuple[int, ...], ...] | None = None
    read_by: tuple[tuple[bool, ...], ...] | None = field(init=False)  # as Elementwise's

    def __post_init__(self) -> None:
        every = tuple(range(self.arity))
        reads = self.reads if self.reads is not None else (
            (every,) * self.arity if self.reads_values else ((),) * self.arity)
        object.__setattr__(self, "read_by", _read_by(reads, self.arity))


class _Traced:
    """A value in a traced local derivative: the operands it was computed from."""

    __slots__ = ("operands",)

    def __init__(self, operands: frozenset[int]) -> None:
        self.operands = operands


class _TracingBackend:
    """Stands in for a backend: every operation's result depends on its operands'."""

    def __getattr__(self, name: str) -> Callable[..., _Traced]:
        def operation(*args: Any) -> _Traced:
            return _Traced(frozenset().union(
                *(a.operands for a in args if isinstance(a, _Traced))))
        return operation


def _traced_reads(partials: tuple[Callable[..., Any], ...]) -> tuple[tuple[int, ...], ...]:
    """For each partial, the operands whose values it reads (the output not counted)."""
    arity, reads = len(partials), []
    for partial in partials:
        operands = [_Traced(frozenset((i,))) for i in range(arity)]
        result = partial(_TracingBackend(), *operands, _Traced(frozenset()))
        reads.append(tuple(sorted(result.operands)) if isinstance(result, _Traced) else ())
    return tuple(reads)


def _read_by(reads: tuple[tuple[int, ...], ...] | None,
             arity: int) -> tuple[tuple[bool, ...], ...]:
    """``reads`` (per derivative, the operands it reads) turned around, padded to two
    operands: ``[k][j]`` is whether derivative j reads operand k; None if none reads any
    (reverse mode's fast exit, on most nodes)."""
    reads = reads or ((),) * arity
    table = tuple(tuple(j < arity and k in reads[j] for j in range(2)) for k in range(2))
    return table if any(map(any, table)) else None


def _pow_base_partial(o: Any, x: Any, y: Any) -> Any:
    """d(x**y)/dx = y * x**(y - 1); 0 where y = 0 (as torch and JAX: x**0 is 1 for every x,
    and 0 * 0**-1 would be nan at x = 0). For an exponent with a shape (an array, a Dual or
    Tensor, a jit tracer) ``zero_power`` is 1 where x = 0 and y = 0, so that the power is
    taken of 1 there; a number exponent (or the symbol of one, when reverse mode writes the
    derivative of ``x ** n`` inline) is tested once, and 1 and 2 need no power (``x**2``)."""
    if hasattr(y, "shape"):
        return o.mul(y, o.pow(o.add(x, o.zero_power(x, y)), o.sub(y, 1.0)))
    if y == 0:
        return 0.0
    if y == 1:
        return ONE
    if y == 2:
        return o.mul(y, x)
    return o.mul(y, o.pow(x, o.sub(y, 1.0)))


def _pow_exponent_partial(o: Any, x: Any, y: Any, out: Any) -> Any:
    """d(x**y)/dy = x**y * log(x); 0 where x = 0 and y >= 0 (as torch and JAX: x**y is
    constant in y there, and 0 * log(0) would be nan). ``zero_base`` is 1 at those points,
    so that the logarithm is taken of 1 there and of x elsewhere."""
    return o.mul(out, o.log(o.add(x, o.zero_base(x, y))))


# --------------------------------------------------------------------------------------
# Elementwise rules: one line of calculus each.
# --------------------------------------------------------------------------------------

_ELEMENTWISE = [
    Elementwise("add", (lambda o, x, y, out: ONE, lambda o, x, y, out: ONE),
                methods=("__add__", "__radd__"), infix="{0} + {1}", precedence=1, ufunc=np.add,
                reads_values=False),
    Elementwise("sub", (lambda o, x, y, out: ONE, lambda o, x, y, out: MINUS_ONE),
                methods=("__sub__", "__rsub__"), infix="{0} - {1}", precedence=1,
                ufunc=np.subtract, reads_values=False),
    Elementwise("mul", (lambda o, x, y, out: y, lambda o, x, y, out: x),
                methods=("__mul__", "__rmul__"), infix="{0} * {1}", precedence=2,
                ufunc=np.multiply, identity=Identity(1.0, arrays=True)),
    Elementwise(
        "div",
        (lambda o, x, y, out: o.div(1.0, y), lambda o, x, y, out: o.neg(o.div(out, y))),
        domain="nonzero", methods=("__truediv__", "__rtruediv__"), infix="{0} / {1}",
        precedence=2, ufunc=np.divide,
    ),
    Elementwise(
        "pow",
        (
            lambda o, x, y, out: _pow_base_partial(o, x, y),
            _pow_exponent_partial,
        ),
        domain="positive", methods=("__pow__", "__rpow__"), infix="{0} ** {1}", precedence=4,
        ufunc=np.power, infix_integral_only=True, identity=Identity(1.0, at=(1,), ints=True),
        square_as="mul", square_ufunc=np.square,
    ),
    Elementwise("maximum", (
        lambda o, x, y, out: o.maxgrad(x, y),
        lambda o, x, y, out: o.maxgrad(y, x),
    ), domain="away_from_kinks", on_float=_m_maximum,
        on_array=np.maximum, doc="Elementwise maximum; where x == y the gradient is split half "
                                 "and half."),
    Elementwise("neg", (lambda o, x, out: MINUS_ONE,), methods=("__neg__",), infix="-{0}",
                precedence=3, ufunc=np.negative, reads_values=False),
    Elementwise("sin", (lambda o, x, out: o.cos(x),), partial_is=("cos", 1.0),
                on_float=math.sin, on_array=np.sin, doc="Sine, elementwise."),
    Elementwise("cos", (lambda o, x, out: o.neg(o.sin(x)),), partial_is=("sin", -1.0),
                on_float=math.cos, on_array=np.cos, doc="Cosine, elementwise."),
    Elementwise("tan", (lambda o, x, out: o.add(1.0, o.mul(out, out)),), domain="tan",
                on_float=math.tan, on_array=np.tan, doc="Tangent, elementwise."),
    Elementwise("exp", (lambda o, x, out: out,),
                on_float=math.exp, on_array=np.exp,
                doc="Exponential, elementwise."),
    Elementwise("expm1", (lambda o, x, out: o.add(out, 1.0),),
                on_float=math.expm1, on_array=np.expm1,
                doc="exp(x) - 1, elementwise, accurate near 0."),
    Elementwise("log", (lambda o, x, out: o.div(1.0, x),), domain="positive",
                on_float=math.log, on_array=np.log,
                doc="Natural logarithm, elementwise (nan + RuntimeWarning below 0, as NumPy)."),
    Elementwise("log1p", (lambda o, x, out: o.div(1.0, o.add(1.0, x)),), domain="positive",
                on_float=math.log1p, on_array=np.log1p,
                doc="log(1 + x), elementwise, accurate near 0 (nan + RuntimeWarning below -1)."),
    Elementwise("sqrt", (lambda o, x, out: o.div(0.5, out),), domain="positive",
                on_float=math.sqrt, on_array=np.sqrt,
                doc="Square root, elementwise (nan + RuntimeWarning below 0, as NumPy)."),
    Elementwise("tanh", (lambda o, x, out: o.sub(1.0, o.mul(out, out)),),
                on_float=math.tanh, on_array=np.tanh, doc="Hyperbolic tangent, elementwise."),
    Elementwise("sigmoid", (lambda o, x, out: o.mul(out, o.sub(1.0, out)),),
                on_float=_m_sigmoid, on_array=_np_sigmoid, default_activation=True,
                doc="Logistic sigmoid 1 / (1 + exp(-x)), elementwise, overflow-free."),
    Elementwise("softplus", (lambda o, x, out: o.sigmoid(x),),
                on_float=_m_softplus, on_array=_np_softplus,
                doc="log(1 + exp(x)), elementwise, overflow-free; its derivative is sigmoid."),
    Elementwise("relu", (lambda o, x, out: o.step(x),), domain="away_from_kinks",
                on_float=_m_relu, on_array=lambda x: np.maximum(x, 0),
                doc="max(x, 0), elementwise; derivative 0 at 0."),
    Elementwise("abs", (lambda o, x, out: o.sign(x),), domain="away_from_kinks",
                on_float=abs, on_array=np.abs, methods=("__abs__",),
                doc="Absolute value, elementwise; derivative 0 at 0."),
]


# --------------------------------------------------------------------------------------
# Structural rules: explicit jvp / vjp.
# --------------------------------------------------------------------------------------


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim if ndim else a for a in axes)


def _sum_jvp(o, ts, args, out, p, batched):
    (t,) = ts
    axes = _norm_axes(p["axis"], len(o.shape(args[0])))
    if batched:
        axes = tuple(a + 1 for a in axes)
        return o.sum(t, axes, p["keepdims"]) if axes else t
    return o.sum(t, axes, p["keepdims"]) if axes else t


def _sum_vjp(o, g, args, out, p, needs=(True,)):
    shape = o.shape(args[0])
    axes = _norm_axes(p["axis"], len(shape))
    if axes and not p["keepdims"]:
        kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
        g = o.reshape(g, kept)
    return (o.broadcast_to(g, shape) if shape else g,)


def _reshape_jvp(o, ts, args, out, p, batched):
    (t,) = ts
    shape = o.shape(out)
    return o.reshape(t, (o.shape(t)[0],) + shape if batched else shape)


def _reshape_vjp(o, g, args, out, p, needs=(True,)):
    return (o.reshape(g, o.shape(args[0])),)


def _full_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    return tuple(reversed(range(ndim))) if axes is None else tuple(a % ndim for a in axes)


def _transpose_jvp(o, ts, args, out, p, batched):
    (t,) = ts
    axes = _full_axes(p["axes"], len(o.shape(args[0])))
    if batched:
        return o.transpose(t, (0,) + tuple(a + 1 for a in axes))
    return o.transpose(t, axes)


def _transpose_vjp(o, g, args, out, p, needs=(True,)):
    axes = _full_axes(p["axes"], len(o.shape(args[0])))
    return (o.transpose(g, tuple(np.argsort(axes))),)


def _is_basic(index: tuple) -> bool:
    """True for an index of ints, slices, None and Ellipsis only (no array of indices)."""
    return all(i is None or i is Ellipsis or type(i) is slice
               or isinstance(i, int | np.integer) and not isinstance(i, bool | np.bool_)
               for i in index)


def _directions_last(index: tuple) -> tuple:
    """``index`` for the same array with one more, trailing, axis (of directions)."""
    if any(i is Ellipsis for i in index):
        return index + (slice(None),)
    return index + (Ellipsis, slice(None))


def _move_axis(o, x, source: int, destination: int):
    order = list(range(len(o.shape(x))))
    order.insert(destination % len(order), order.pop(source))
    return o.transpose(x, tuple(order))


# A batched tangent indexed like its value: a leading axis of directions is kept in front
# by a leading slice, unless the index has arrays of indices. NumPy then moves the axes of
# advanced indices separated by a slice or None (x[i, :, j]) to the front, before the
# directions, so the directions go last for the indexing and come back to the front after.


def _getitem_jvp(o, ts, args, out, p, batched):
    (t,) = ts
    idx = p["index"]
    if not batched:
        return o.getitem(t, idx)
    idx = idx if isinstance(idx, tuple) else (idx,)
    if _is_basic(idx):
        return o.getitem(t, (slice(None),) + idx)
    last = o.getitem(_move_axis(o, t, 0, -1), _directions_last(idx))
    return _move_axis(o, last, -1, 0)


def _getitem_vjp(o, g, args, out, p, needs=(True,)):
    return (o.scatter(g, o.shape(args[0]), p["index"]),)


def _scatter_jvp(o, ts, args, out, p, batched):
    (t,) = ts
    if not batched:
        return o.scatter(t, p["shape"], p["index"])
    k = o.shape(t)[0]
    idx = p["index"] if isinstance(p["index"], tuple) else (p["index"],)
    if _is_basic(idx):
        return o.scatter(t, (k,) + tuple(p["shape"]), (slice(None),) + idx)
    last = o.scatter(_move_axis(o, t, 0, -1), tuple(p["shape"]) + (k,), _directions_last(idx))
    return _move_axis(o, last, -1, 0)


def _scatter_vjp(o, g, args, out, p, needs=(True,)):
    return (o.getitem(g, p["index"]),)


def _matmul_jvp(o, ts, args, out, p, batched):
    a, b = args
    ta, tb = ts
    if not batched:  # the product rule, with NumPy's own matmul semantics
        terms = [o.matmul(ta, b) if ta is not None else None,
                 o.matmul(a, tb) if tb is not None else None]
    elif len(o.shape(b)) == 1 and len(o.shape(a)) <= 2:
        # The common case (matrix or vector times a vector), as single BLAS calls:
        # ta (k, .., n) @ b, and a @ tb_j for every direction j = tb (k, n) @ a.T.
        terms = [o.matmul(ta, b) if ta is not None else None,
                 (o.matmul(tb, _swap(o, a)) if len(o.shape(a)) == 2 else o.matmul(tb, a))
                 if tb is not None else None]
    else:  # tangents carry a leading axis of k directions: promote, align, multiply
        sa, sb = o.shape(a), o.shape(b)
        a2 = o.reshape(a, (1,) + sa) if len(sa) == 1 else a
        b2 = o.reshape(b, sb + (1,)) if len(sb) == 1 else b
        nd = max(len(o.shape(a2)), len(o.shape(b2)))

        def lift(t, s2):  # (k, *s) -> (k, 1.., *s2)
            k = o.shape(t)[0]
            return o.reshape(t, (k,) + (1,) * (nd - len(s2)) + s2)

        terms = [o.matmul(lift(ta, o.shape(a2)), b2) if ta is not None else None,
                 o.matmul(a2, lift(tb, o.shape(b2))) if tb is not None else None]
        shape = o.shape(out)
        terms = [None if t is None else o.reshape(t, (o.shape(t)[0],) + shape) for t in terms]
    present = [t for t in terms if t is not None]
    return present[0] if len(present) == 1 else o.add(present[0], present[1])


def _matmul_vjp(o, g, args, out, p, needs=(True, True)):
    a, b = args
    sa, sb, sg = o.shape(a), o.shape(b), o.shape(g)
    if len(sa) == 2 and len(sb) == 2:  # the common case, without reshapes
        return (o.matmul(g, _swap(o, b)) if needs[0] else None,
                o.matmul(_swap(o, a), g) if needs[1] else None)
    # Otherwise promote vectors to matrices, use the matrix rule, then undo the promotion.
    a2 = o.reshape(a, (1,) + sa) if len(sa) == 1 else a
    b2 = o.reshape(b, sb + (1,)) if len(sb) == 1 else b
    if len(sa) == 1 and len(sb) == 1:
        g2 = o.reshape(g, (1, 1))
    elif len(sa) == 1:
        g2 = o.reshape(g, sg[:-1] + (1,) + sg[-1:])
    elif len(sb) == 1:
        g2 = o.reshape(g, sg + (1,))
    else:
        g2 = g
    ga = gb = None
    if needs[0]:
        ga = o.reshape(unbroadcast(o.matmul(g2, _swap(o, b2)), o.shape(a2)), sa)
    if needs[1]:
        gb = o.reshape(unbroadcast(o.matmul(_swap(o, a2), g2), o.shape(b2)), sb)
    return ga, gb


def _matmul_tangent_map(values, i):
    """``W @ x`` with a tangent on the vector x only: direction j of the output is
    ``W @ t_j``, so the batched tangent (directions first) is ``t @ W.T``; that of ``x @ W``
    is ``t @ W``. (W and x may be arrays or traced / wrapped values: jit traces this too.)"""
    a, b = values
    if i == 1 and len(shape_of(b)) == 1:
        nd = len(shape_of(a))
        return a if nd == 1 else (a.T if nd == 2 else None)
    if i == 0 and len(shape_of(a)) == 1 and len(shape_of(b)) in (1, 2):
        return b
    return None


def _swap(o, x):
    nd = len(o.shape(x))
    return o.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


_STRUCTURAL = [
    Structural("sum", _sum_jvp, _sum_vjp, params=("axis", "keepdims"), methods=("sum",),
               reduction="sum", whole_on_float=_sums_a_float_whole, reads_values=False,
               doc="Sum over ``axis`` (all axes by default)."),
    Structural("reshape", _reshape_jvp, _reshape_vjp, view=True, reads=((),), params=("shape",),
               methods=("reshape",), sequences=("shape",), keeps_flat_order=True,
               doc="``x`` with a new shape."),
    Structural("transpose", _transpose_jvp, _transpose_vjp, view=True, reads=((),),
               params=("axes",),
               methods=("transpose",), sequences=("axes",),
               doc="``x`` with its axes permuted (reversed by default)."),
    Structural("getitem", _getitem_jvp, _getitem_vjp, view=True, reads=((),), params=("index",),
               methods=("__getitem__",)),
    Structural("scatter", _scatter_jvp, _scatter_vjp, params=("shape", "index"),
               sequences=("shape",), reads_values=False),
    Structural("matmul", _matmul_jvp, _matmul_vjp, arity=2, methods=("__matmul__", "__rmatmul__"),
               tangent_map=_matmul_tangent_map, reads=((1,), (0,)),
               infix="{0} @ {1}", precedence=2, prints_as=(_dot_computes, "np.dot({0}, {1})"),
               doc="Matrix product ``a @ b`` (NumPy semantics, vectors included)."),
]

@dataclass(frozen=True)
class NonDifferentiable:
    """A helper primitive whose result carries no derivative (the sign of x, x > 0, ...).

    Rules use these inside local derivatives; engines compute them on plain values, and the
    jit's tracer records them like any other primitive.
    """

    name: str
    arity: int = 1


NON_DIFFERENTIABLE: dict[str, NonDifferentiable] = {
    r.name: r
    for r in (NonDifferentiable("step"), NonDifferentiable("sign"),
              NonDifferentiable("maxgrad", 2), NonDifferentiable("zero_base", 2),
              NonDifferentiable("zero_power", 2))
}

RULES: dict[str, Elementwise | Structural] = {r.name: r for r in _ELEMENTWISE + _STRUCTURAL}
"""Every primitive bobodiff can differentiate, by name."""

ELEMENTWISE: dict[str, Elementwise] = {r.name: r for r in _ELEMENTWISE}

MATH_FAST = Backend("math-fast", 0, **{k: v for k, v in vars(MATH).items()
                                        if k not in ("name", "rank")})
"""As :data:`MATH`, with ``math``'s own functions, which raise :data:`MATH_ERRORS` where NumPy
gives nan or inf: for the float fast paths, which catch those and use :data:`MATH` then (a
guard's Python frame on every sin would cost more than the sin)."""

for _rule in _ELEMENTWISE:  # a named function's primals, from its entry
    if _rule.on_array is not None:
        setattr(NUMPY, _rule.name, _rule.on_array)
        setattr(MATH_FAST, _rule.name, _rule.on_float)
        raises = _rule.on_float is getattr(math, _rule.name, None)
        setattr(MATH, _rule.name, _m_guard(_rule.on_float, _rule.on_array) if raises
                else _rule.on_float)
STRUCTURAL: dict[str, Structural] = {r.name: r for r in _STRUCTURAL}
