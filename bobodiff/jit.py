"""Trace once, emit Python: the report's third approach, source transformation.

``jit(fun)`` runs ``fun`` once per input signature on *tracers*: stand-ins that record every
primitive applied to them. Because the forward and reverse engines apply their rules'
derivatives through the same primitives, tracing ``value_and_grad(f)`` records the value
*and* the gradient computation. The recording is then written out as straight-line Python
source (``math`` for floats, NumPy for arrays), with common subexpressions shared and dead
code dropped, compiled with ``exec`` and cached. Later calls with the same signature run the
compiled code: no graph, no dispatch, no objects per operation.

    >>> fast = bd.jit(bd.value_and_grad(f, argnums=(0, 1)))
    >>> fast(1.0, 2.0)
    >>> print(fast.source(1.0, 2.0))    # the gradient program, written out

A signature is the kind of each argument: float, or an array's shape and dtype; any other
argument (int, str, None, ...) is static: its value is part of the signature and baked in.
Python control flow that depends on a traced value (``if x > 0``, ``float(x)``) cannot be
recorded and raises :class:`TracerControlFlowError` at trace time.

Large arrays (see :func:`_chunked`): when the program is elementwise on arrays of one large
size (plus sums of them to a scalar), it is emitted as a loop over cache-sized chunks that
computes each chunk's whole chain with ``out=`` buffers, writes the outputs chunk by chunk
and accumulates the sums. The data then crosses main memory once instead of once per
operation, and the temporaries never exceed a few chunks. The chunks are shared among
:func:`thread_count` threads (NumPy releases the GIL inside a ufunc). Such inputs are traced on
*ghosts* (one element broadcast to the input's shape), so tracing allocates no full-size
temporaries either: the program depends on shapes and dtypes only, never on values.
Other array programs are written one statement per value, short single-use expressions
inlined and arrays deleted at their last use; float programs inline every single-use value.
"""

from __future__ import annotations

import contextvars
import inspect
import itertools
import math
import os
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._state import new_level
from .core import Wrapper, compute
from .rules import (
    ELEMENTWISE,
    MATH,
    NON_DIFFERENTIABLE,
    NUMPY,
    RULES,
    STRUCTURAL,
    backend_for,
    shape_of,
)
from .tree import flatten

__all__ = ["jit", "Jitted", "TracerControlFlowError"]


class TracerControlFlowError(TypeError):
    """Python control flow or a conversion depended on a value being traced by jit."""


_CONTROL_FLOW_MESSAGE = (
    "jit: {what} on a traced value: the compiled program is straight-line code and cannot "
    "depend on input values. Replace the branch by bobodiff functions (maximum, relu, abs), "
    "pass the deciding value as a static (int/str) argument, or call the function without jit"
)


class Tracer(Wrapper):
    """Stands for one intermediate value while a function is traced (holds the first call's
    concrete value, so shapes and dtypes are known)."""

    __slots__ = ("value", "name", "trace", "_level")
    _stops_primal = True

    def __init__(self, value: Any, name: str, trace: _Trace, level: int) -> None:
        self.value = value
        self.name = name
        self.trace = trace
        self._level = level

    def _primal(self) -> Any:
        return self.value

    @property
    def dtype(self) -> Any:
        return np.result_type(self.value)

    @classmethod
    def _apply(cls, rule: Any, args: tuple[Any, ...], params: dict[str, Any], level: int) -> Any:
        for a in args:
            if type(a) is Tracer and a._level == level:
                return a.trace.record(rule, args, params, level)
        raise AssertionError("no tracer of this level among the arguments")

    def _plain_value(self) -> Any:
        raise TracerControlFlowError(_CONTROL_FLOW_MESSAGE.format(what="a comparison"))

    def __bool__(self) -> bool:
        raise TracerControlFlowError(_CONTROL_FLOW_MESSAGE.format(what="bool()"))

    def __float__(self) -> float:
        raise TracerControlFlowError(_CONTROL_FLOW_MESSAGE.format(what="float()"))

    def __index__(self) -> int:
        raise TracerControlFlowError(_CONTROL_FLOW_MESSAGE.format(what="int() / indexing"))

    def __int__(self) -> int:
        raise TracerControlFlowError(_CONTROL_FLOW_MESSAGE.format(what="int()"))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TracerControlFlowError(_CONTROL_FLOW_MESSAGE.format(what="np.asarray()"))

    def __repr__(self) -> str:
        return f"Tracer({self.name}, shape={self.shape})"

    def _as_float_input(self) -> Tracer:
        """This value as a transformation's input: an integer or bool array becomes a
        float64 one (recorded), as a transformation makes it without jit."""
        value = self.value
        if type(value) is np.ndarray and value.dtype.kind != "f":
            return self.trace.as_dtype(self, np.dtype(np.float64))
        return self

    def _gradient_like(self, g: Any) -> Any:
        """``g`` (a gradient with respect to this value) of this value's kind, as without
        jit: a Python float for a float argument; for an array, an array (0-d too, where
        NumPy's operations give a scalar) of its dtype, float64 for an integer one (as a
        Tensor's data), also in a graph that mixes in other dtypes."""
        value = self.value
        if type(value) is float:
            if type(g) is Tracer:
                if g.trace is self.trace and type(g.value) is not float and g.shape == ():
                    return self.trace.as_float(g)
                return g
            return float(g) if isinstance(g, np.ndarray | np.floating) and g.ndim == 0 else g
        if type(value) is not np.ndarray:
            return g
        dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
        if type(g) is Tracer:
            if g.trace is self.trace and (g.dtype != dtype or type(g.value) is not np.ndarray):
                return self.trace.as_dtype(g, dtype)
            return g
        return np.asarray(g, dtype=dtype)  # a constant gradient (of the argument's shape)


# How each primitive is written out. Operands are names or literals.
_INFIX = {name: rule.infix for name, rule in RULES.items() if rule.infix}
# Written with a template of their own where its condition holds (np.dot, see rules).
_PRINTS_AS = {name: rule.prints_as for name, rule in STRUCTURAL.items() if rule.prints_as}
# Operators written infix on floats for an integral literal second operand only (**).
_INFIX_INTEGRAL_ONLY = frozenset(name for name, rule in ELEMENTWISE.items()
                                 if rule.infix_integral_only)
# A square x ** 2 on floats: written as this operator of (x, x) (x * x).
_SQUARE_AS = {name: rule.square_as for name, rule in ELEMENTWISE.items() if rule.square_as}
# Named functions printed as ``math.name`` / ``np.name`` (the rest are bound as globals):
# those whose primal is the math function of that name (the program falls back to the
# uncompiled function where math raises), or the NumPy ufunc itself.
_MATH_FUNCTIONS = {name for name, rule in ELEMENTWISE.items()
                   if rule.arity == 1 and rule.on_array is not None and hasattr(math, name)}
_NUMPY_FUNCTIONS = {name for name in [*ELEMENTWISE, *NON_DIFFERENTIABLE]
                    if isinstance(getattr(NUMPY, name, None), np.ufunc)
                    and getattr(np, name, None) is getattr(NUMPY, name)}
_SIMPLE_PARAM_TYPES = (type(None), bool, int, str)


def _is_simple_literal(v: Any) -> bool:
    if isinstance(v, tuple):
        return all(_is_simple_literal(x) for x in v)
    return isinstance(v, _SIMPLE_PARAM_TYPES)


class _Eq:
    """One equation of the program, ``name = op(refs, params)``, as data.

    ``refs`` are the operands: a traced value's name (also in ``operands``), a constant's
    global name, or a literal (``literals`` holds its number, None for the others). ``form``
    says how :func:`_print` writes it: ``"infix"`` (``a + b``, ``a ** b``), ``"prints_as"``
    (its rule's own template: ``np.dot(a, b)``), ``"call"`` (``fn(a, b, key=value)``) or
    ``"float"``.
    """

    __slots__ = ("name", "op", "form", "fn", "refs", "literals", "operands", "params",
                 "keywords", "shape", "dtype")

    def __init__(self, name: str, op: str, form: str, refs: tuple[str, ...],
                 literals: tuple[Any, ...], operands: tuple[str, ...], value: Any,
                 fn: str = "", params: dict | None = None,
                 keywords: tuple[str, ...] = ()) -> None:
        self.name = name
        self.op = op
        self.form = form
        self.fn = fn  # the called function's global name, for the "call" form
        self.refs = refs
        self.literals = literals
        self.operands = operands
        self.params = params or {}
        self.keywords = keywords  # the parameters as written: "axis=None", ...
        self.shape = shape_of(value)
        self.dtype = np.result_type(value)

    def key(self) -> tuple:
        """What makes two equations the same computation (common subexpressions)."""
        return (self.op, self.form, self.fn, self.refs, self.keywords)

    def is_literal(self, position: int, number: float) -> bool:
        return self.literals[position] is not None and self.literals[position] == number


def _print(eq: _Eq, refs: Sequence[str] | None = None) -> str:
    """The Python expression of ``eq``, with ``refs`` written for its operands (by default
    their names): the one place that knows how each equation is written."""
    refs = eq.refs if refs is None else refs
    if eq.form == "infix":
        return _INFIX[eq.op].format(*refs)
    if eq.form == "prints_as":
        return _PRINTS_AS[eq.op][1].format(*refs)
    if eq.form == "float":
        return f"float({refs[0]})"
    return f"{eq.fn}({', '.join([*refs, *eq.keywords])})"


class _Trace:
    """The recording of one traced call: equations, constants, and the names in use."""

    def __init__(self) -> None:
        self.lines: list[_Eq] = []
        self.by_key: dict[tuple, str] = {}  # common subexpressions
        self.globals: dict[str, Any] = {"np": np, "math": math}
        self.names: set[str] = set()  # names of traced values (inputs and lines)
        self._constants: dict[int, str] = {}
        self._count = itertools.count()

    def fresh(self, prefix: str = "v") -> str:
        return f"{prefix}{next(self._count)}"

    def constant(self, value: Any) -> str:
        """A literal for ``value``, or the name of a global holding it."""
        if type(value) is float and math.isfinite(value):
            return repr(value) if value >= 0 else f"({value!r})"
        if type(value) is int or type(value) is bool:
            return repr(float(value)) if type(value) is int else repr(value)
        if getattr(value, "_is_bobodiff_wrapper", False):
            raise TypeError(
                "jit: the traced function uses a Dual or Tensor made outside it; pass it "
                "as an argument instead of closing over it"
            )
        key = id(value)
        if key not in self._constants:
            name = self.fresh("c")
            self.globals[name] = value
            self._constants[key] = name
        return self._constants[key]

    def function(self, backend: Any, name: str) -> str:
        """The global name bound to backend's primitive ``name``."""
        if backend is MATH and name in _MATH_FUNCTIONS:
            self.globals[name] = getattr(math, name)
            return name
        if backend is NUMPY and name in _NUMPY_FUNCTIONS:
            return f"np.{name}"
        label = f"{'m' if backend is MATH else 'np'}_{name}"
        self.globals[label] = getattr(backend, name)
        return label

    def _add(self, eq: _Eq) -> str:
        """The name of ``eq``'s value: an equal equation's if there is one, else its own."""
        key = eq.key()
        name = self.by_key.get(key)
        if name is None:
            name = self.by_key[key] = eq.name = self.fresh()
            self.lines.append(eq)
            self.names.add(name)
        return name

    def as_float(self, x: Tracer) -> Tracer:
        """``float(x)`` for a traced 0-d value, recorded."""
        value = float(np.asarray(x.value).reshape(()))
        name = self._add(_Eq("", "float", "float", (x.name,), (None,), (x.name,), value))
        return Tracer(value, name, self, x._level)

    def as_dtype(self, x: Tracer, dtype: np.dtype) -> Tracer:
        """``np.asarray(x, dtype=dtype)`` for a traced value, recorded (a ghost stays one)."""
        v = x.value
        if _is_ghost(v):
            value = np.broadcast_to(v[(slice(0, 1),) * v.ndim].astype(dtype), v.shape)
        else:
            value = np.asarray(v, dtype=dtype)
        name = self._add(_Eq("", "astype", "call", (x.name,), (None,), (x.name,), value,
                             fn="np.asarray", keywords=(f"dtype={self.constant(dtype)}",)))
        return Tracer(value, name, self, x._level)

    def record(self, rule: Any, args: tuple, params: dict, level: int) -> Any:
        values = [a.value if type(a) is Tracer and a._level == level else a for a in args]
        same = _identity_operand(rule, args, values, params)
        if same is not None:
            return same
        traced = [type(a) is Tracer and a._level == level for a in args]
        refs = tuple(a.name if t else self.constant(a) for a, t in zip(args, traced))
        literals = tuple(None if t or r in self.globals else float(a)
                         for a, t, r in zip(args, traced, refs))
        value = _compute(rule, tuple(values), params)
        backend = backend_for(tuple(values))
        op, form, fn, keywords = rule.name, "call", "", ()
        if op in _SQUARE_AS and backend is MATH and literals[1] == 2.0:  # x ** 2 is x * x
            op, form = _SQUARE_AS[op], "infix"
            refs, literals, traced = (refs[0],) * 2, (literals[0],) * 2, [traced[0]] * 2
        elif op in _INFIX and (op not in _INFIX_INTEGRAL_ONLY or backend is NUMPY
                               or _is_integral(literals[1])):
            # (on floats, x ** y is written as such for an integral y only: Python's
            # power of a negative float to a fractional one is complex, NumPy's is nan)
            form = "prints_as" if op in _PRINTS_AS and _PRINTS_AS[op][0](*values) else "infix"
        else:
            fn = self.function(backend, op)
            keywords = tuple(f"{key}={repr(v) if _is_simple_literal(v) else self.constant(v)}"
                             for key, v in params.items())
        operands = tuple(r for r, t in zip(refs, traced) if t)
        name = self._add(_Eq("", op, form, refs, literals, operands, value, fn, params,
                             keywords))
        return Tracer(value, name, self, level)


# Primitives computed point by point: on ghosts they are computed on one element.
_POINTWISE = frozenset(ELEMENTWISE) | frozenset(NON_DIFFERENTIABLE)
# Structural primitives NumPy computes on a ghost as it is: a cheap view, or a reduction.
_GHOST_SAFE = frozenset({"broadcast_to"}) | frozenset(
    name for name, rule in STRUCTURAL.items() if rule.view or rule.reduction)


def _is_ghost(v: Any) -> bool:
    """A value standing for a large array by one element broadcast to its shape."""
    return type(v) is np.ndarray and v.size > 1 and not any(v.strides)


def _ghost(a: np.ndarray) -> np.ndarray:
    return np.broadcast_to(a[(slice(0, 1),) * a.ndim], a.shape)


def _compute(rule: Any, values: tuple, params: dict) -> Any:
    """The traced value of one primitive: shapes and dtypes are all the program needs, so
    a pointwise primitive of ghosts is computed on one element and broadcast back."""
    if not any(_is_ghost(v) for v in values):
        return compute(rule, values, params)
    if rule.name in _POINTWISE:
        shape = np.broadcast_shapes(*(shape_of(v) for v in values))
        one = tuple(v[(slice(0, 1),) * v.ndim] if _is_ghost(v) else v for v in values)
        return np.broadcast_to(compute(rule, one, params), shape)
    if rule.name not in _GHOST_SAFE:  # matmul, scatter, ...: compute on real arrays
        values = tuple(np.ascontiguousarray(v) if _is_ghost(v) else v for v in values)
    return compute(rule, values, params)


def _identity_operand(rule: Any, args: tuple, values: list, params: dict) -> Tracer | None:
    """The operand an operation would return unchanged (1.0 * x, x ** 1.0, ones * x, the sum
    of a float), if any: its rule's :class:`~bobodiff.rules.Identity`, or its
    ``whole_on_float``."""
    identity = getattr(rule, "identity", None)
    if identity is not None:
        for i in identity.at:
            x, c = args[1 - i], args[i]
            if type(x) is not Tracer:
                continue
            if (type(c) is float or identity.ints and type(c) is int) and c == identity.value:
                return x
            if (identity.arrays and type(c) is np.ndarray and c.shape == shape_of(x.value)
                    and c.dtype == np.result_type(x.value) and _all_equal_to(c, identity.value)):
                return x
    whole = getattr(rule, "whole_on_float", None)
    if (whole is not None and type(args[0]) is Tracer and type(values[0]) is float
            and whole(*(params.get(p) for p in rule.params))):
        return args[0]  # what the float backend returns
    return None


def _all_equal_to(c: np.ndarray, value: float) -> bool:
    if c.size and not any(c.strides):  # a broadcast scalar
        return bool(c.flat[0] == value)
    return bool(np.all(c == value))


def _is_integral(v: float | None) -> bool:
    """A literal exponent that ``**`` computes exactly and fast (x ** 3.0, not x ** 0.5)."""
    return v is not None and v.is_integer() and abs(v) <= 64


def _signature(args: tuple[Any, ...]) -> tuple:
    sig = []
    for a in args:
        t = type(a)
        if t is float:
            sig.append("f")
        elif t is np.ndarray:
            sig.append(("a", a.shape, a.dtype.str))
        elif isinstance(a, np.floating):
            sig.append(("s", a.dtype.str))
        elif isinstance(a, _SIMPLE_PARAM_TYPES) or (isinstance(a, tuple) and _is_simple_literal(a)):
            sig.append(("static", t.__name__, a))
        else:
            raise TypeError(f"jit: cannot trace an argument of type {t.__name__}; pass floats, "
                            "NumPy arrays, or static ints/strings")
    return tuple(sig)


class Jitted:
    """A function compiled by :func:`jit`; call it like the original."""

    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun
        self.__wrapped__ = fun
        self.__name__ = f"jit({getattr(fun, '__name__', 'f')})"
        self.__doc__ = getattr(fun, "__doc__", None)
        self._compiled: dict[tuple, tuple[Callable[..., Any], str]] = {}
        self._by_types: dict[tuple, Callable[..., Any]] = {}  # fast path: float arguments
        self._call = self._make_call()

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)

    def _make_call(self) -> Callable[..., Any]:
        # A closure rather than a method: the per-call overhead is one dict lookup.
        by_types = self._by_types
        fun = self.fun
        entry = self._entry

        def call(*args: Any) -> Any:
            compiled = by_types.get(tuple(map(type, args)))
            if compiled is None:
                if any(getattr(a, "_is_bobodiff_wrapper", False) for a in args):
                    return fun(*args)  # under another transformation: run the Python code
                compiled = entry(args)[0]
                if all(type(a) is float for a in args):  # then the types are the signature
                    by_types[tuple(map(type, args))] = compiled
            try:
                return compiled(*args)
            except (ArithmeticError, ValueError):
                # math raised where NumPy gives nan/inf with a warning (log(-1), 1/0,
                # exp(1000)): the uncompiled function gives bobodiff's NumPy semantics.
                return fun(*args)

        call = self._floats_first(call)
        call.__name__ = self.__name__
        call.source = self.source  # type: ignore[attr-defined]
        call.jitted = self  # type: ignore[attr-defined]
        call.__wrapped__ = fun  # type: ignore[attr-defined]
        return call

    def _floats_first(self, general: Callable[..., Any]) -> Callable[..., Any]:
        """For a function of k positional arguments, a dispatcher that sends k floats
        straight to their compiled program: three ``type(x) is float`` tests cost less than
        building a tuple of types and hashing it, which was half the per-call overhead."""
        arity = _fixed_arity(self.fun)
        if not arity:
            return general
        params = [f"a{i}" for i in range(arity)]
        test = " and ".join(f"type({p}) is float" for p in params)
        source = (f"def call({', '.join(params)}, /, *rest):\n"
                  f"    if {test} and not rest:\n"
                  f"        return floats[0]({', '.join(params)})\n"
                  f"    return general({', '.join(params)}, *rest)\n")
        floats: list[Callable[..., Any]] = []

        def first_floats(*args: Any) -> Any:
            floats[0] = self._entry(args)[0]
            return floats[0](*args)

        floats.append(first_floats)
        namespace = {"floats": floats, "general": general}
        exec(compile(source, "<bobodiff.jit dispatch>", "exec"), namespace)  # noqa: S102
        return namespace["call"]

    def source(self, *args: Any) -> str:
        """The Python source compiled for arguments like ``args``."""
        return self._entry(args)[1]

    def _entry(self, args: tuple[Any, ...]) -> tuple[Callable[..., Any], str]:
        key = _signature(args)
        entry = self._compiled.get(key)
        if entry is None:
            entry = self._compiled[key] = _compile(self.fun, args)
        return entry


def jit(fun: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``fun`` (built from bobodiff operations) into straight-line Python per input
    signature. The returned function has ``.source(*args)``: the generated program."""
    return Jitted(fun)._call


def _fixed_arity(fun: Callable[..., Any]) -> int:
    """k if ``fun`` takes exactly k positional arguments (no defaults, no *args), else 0."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return 0
    if all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
           for p in params):
        return len(params)
    return 0


def _argument_names(fun: Callable[..., Any], n: int) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p if _usable(p) else f"x{i}" for i, p in enumerate(params[:n])]
    names += [f"x{i}" for i in range(len(names), n)]
    if len(set(names)) != n:
        names = [f"x{i}" for i in range(n)]
    return names


# Names the generated programs use themselves (the chunked program's helpers and loop).
_GENERATED_NAMES = frozenset({"np", "math", "chunk", "buffers", "run", "own", "first", "last",
                              "size", "i", "lo", "hi", "buf"})


def _usable(name: str) -> bool:
    """Whether an argument name cannot clash with the generated code's own names."""
    reserved = name in _GENERATED_NAMES or name in _MATH_FUNCTIONS
    generated = (re.fullmatch(r"[vcb]\d+", name) or "__" in name
                 or name.startswith(("m_", "np_", "compiled_")))
    return name.isidentifier() and not reserved and not generated


def _compile(fun: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Callable[..., Any], str]:
    trace = _Trace()
    names = _argument_names(fun, len(args))
    traced_args = []
    inputs: dict[str, Any] = {}
    with new_level() as level:
        for a, name in zip(args, names):
            if type(a) is float or isinstance(a, np.ndarray | np.floating):
                trace.names.add(name)
                inputs[name] = a
                value = _ghost(a) if type(a) is np.ndarray and a.size >= CHUNK_MIN else a
                traced_args.append(Tracer(value, name, trace, level))
            else:
                traced_args.append(a)  # static
        # The traced values are stand-ins (ghosts) that never reach the caller: the compiled
        # program computes the results, with the caller's np.errstate.
        with np.errstate(all="ignore"):
            out = fun(*traced_args)
    kept, result = _emit(trace, out, level)
    outputs = [x.name for x in _leaves(out) if type(x) is Tracer]
    floats_only = all(type(a) is float or not isinstance(a, np.ndarray | np.floating)
                      for a in args)
    body = _chunked(trace, kept, outputs, inputs)
    if body is None:
        body = _inline_single_uses(kept, outputs, free=not floats_only)
    if floats_only:
        # math raises where NumPy gives nan/inf with a warning (log(-1), 1/0, exp(1000)):
        # the uncompiled function then gives bobodiff's NumPy semantics.
        body = ["try:", *(f"    {line}" for line in body), f"    return {result}",
                "except (ArithmeticError, ValueError):",
                f"    return uncompiled__({', '.join(names)})"]
        result = None
        trace.globals["uncompiled__"] = fun
    source = (f"def {_safe_name(fun)}({', '.join(names)}):\n"
              + "".join(f"    {line}\n" for line in body)
              + (f"    return {result}\n" if result is not None else ""))
    used = set(re.findall(r"[A-Za-z_]\w*", source))
    namespace = {k: v for k, v in trace.globals.items() if k in used}  # drop dead constants
    exec(compile(source, f"<bobodiff.jit {_safe_name(fun)}>", "exec"), namespace)  # noqa: S102
    return namespace[_safe_name(fun)], source


def _safe_name(fun: Callable[..., Any]) -> str:
    name = getattr(fun, "__name__", "f")
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "f"
    return f"compiled_{cleaned}"


def _emit(trace: _Trace, out: Any, level: int) -> tuple[list[_Eq], str]:
    """Lines needed for ``out`` (a pytree; dead code dropped) and the expression that
    returns it. An array output that could be (a view of) an argument, a constant or another
    output is returned as a copy: the caller may write into what it gets."""
    lines = {line.name: line for line in trace.lines}
    returned: set[str] = set()

    def may_alias(name: str) -> bool:
        line = lines.get(name)
        if line is None:  # an argument or a constant
            return True
        return line.op in _VIEWS and bool(line.refs) and may_alias(line.refs[0])

    def leaf(x: Any) -> str:
        if type(x) is Tracer:
            if x._level != level:
                raise TypeError("jit: the function returned a value traced by another jit")
            name = x.name
            if type(x.value) is np.ndarray and (name in returned or may_alias(name)):
                return f"{name}.copy()"
            returned.add(name)
            return name
        if getattr(x, "_is_bobodiff_wrapper", False):
            raise TypeError(f"jit: the traced function returned a {type(x).__name__}; return "
                            "plain values (e.g. use value_and_grad rather than Tensor.backward)")
        name = trace.constant(x)
        return f"{name}.copy()" if type(x) is np.ndarray else name

    def key(k: Any) -> str:
        return repr(k) if _is_simple_literal(k) else trace.constant(k)

    def ref(x: Any) -> str:  # the pytree's expression, as tree.flatten reads it
        t = type(x)
        if t is dict:
            return "{" + ", ".join(f"{key(k)}: {ref(v)}" for k, v in x.items()) + "}"
        if x is None:
            return "None"
        if t is tuple or t is list or isinstance(x, tuple) and hasattr(t, "_fields"):
            inner = ", ".join(ref(v) for v in x)
            if t is list:
                return f"[{inner}]"
            if t is not tuple:  # a namedtuple
                return f"{trace.constant(t)}({inner})"
            return f"({inner},)" if len(x) == 1 else f"({inner})"
        return leaf(x)

    result = ref(out)
    live = {x.name for x in _leaves(out) if type(x) is Tracer}
    kept = []
    for line in reversed(trace.lines):
        if line.name in live:
            kept.append(line)
            live.update(line.operands)
    kept.reverse()
    return kept, result


_PRECEDENCE = {name: rule.precedence for name, rule in RULES.items() if rule.infix}


def _precedence(eq: _Eq) -> int:
    if eq.form == "call" and eq.op in _PRECEDENCE:
        return 2  # an operator written as a call (x ** y on floats), parenthesised as a
        # product (kept so the programs read as before)
    return _PRECEDENCE.get(eq.op, 5)  # 5: a call, which never needs parentheses


_INLINE_MAX_CHARS = 48  # array programs: inline short expressions only, to stay readable


def _inline_single_uses(kept: list[_Eq], outputs: list[str], free: bool = False) -> list[str]:
    """Statements with each value used once written into its user's expression: on floats
    every statement costs a store and a load, a quarter of the program's time; on arrays
    NumPy then reuses the temporaries of an expression in place. The same operations in
    the same order: the results are identical. ``free``: ``del`` each remaining array at
    its last use, so that memory is reused while it is still in cache."""
    uses = Counter(outputs)
    for eq in kept:
        uses.update(eq.operands)
    by_name = {eq.name: eq for eq in kept}
    returned = set(outputs)
    inlined: dict[str, tuple[str, list[str]]] = {}  # name -> (expression, names it reads)
    statements: list[tuple[str, str, list[str]]] = []
    for eq in kept:
        parent = _precedence(eq)
        texts, reads = [], []
        for position, r in enumerate(eq.refs):
            if r not in inlined:
                texts.append(r)
                reads.append(r)
                continue
            text, inner = inlined[r]
            child = _precedence(by_name[r])
            bare = parent == 5 or child > parent or (child == parent < 3 and position == 0)
            texts.append(text if bare else f"({text})")
            reads += inner
        expr = _print(eq, texts)
        if uses[eq.name] == 1 and eq.name not in returned and (
                not free or len(expr) <= _INLINE_MAX_CHARS):
            inlined[eq.name] = (expr, reads)
        else:
            statements.append((eq.name, expr, reads))
    last = {r: k for k, (_, _, reads) in enumerate(statements) for r in reads}
    body = []
    for k, (name, expr, reads) in enumerate(statements):
        body.append(f"{name} = {expr}")
        dead = [r for r in reads
                if free and last[r] == k and r not in returned and r in by_name]
        if dead:
            body.append(f"del {', '.join(dict.fromkeys(dead))}")
    return body


def _leaves(x: Any) -> list[Any]:
    return flatten(x)[0]


# Primitives whose NumPy result may be a view of their first operand.
_VIEWS = frozenset({"broadcast_to"}) | frozenset(
    name for name, rule in STRUCTURAL.items() if rule.view)


# -- the chunked program ------------------------------------------------------------------

CHUNK = 16384  # elements per chunk (measured on E1: 8192 and 32768 are 5-15% slower)
CHUNK_MIN = 2 * CHUNK  # smaller arrays are computed whole
THREADS: int | None = None  # threads sharing the chunks; None: the usable cores, capped by
# the BOBODIFF_THREADS or OMP_NUM_THREADS environment variable when set
_MIN_CHUNKS_PER_THREAD = 8
_helpers: tuple[int, int, queue.SimpleQueue] | None = None  # (process, threads, their jobs)


def thread_count() -> int:
    """How many threads a chunked program uses (see :data:`THREADS`)."""
    if THREADS is not None:
        return max(1, int(THREADS))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    for variable in ("BOBODIFF_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            return min(cores, int(value))
    return cores


def _in_threads(run: Callable[[int, int], None], first: int, last: int) -> None:
    """run(first, last) split into contiguous parts over the threads: NumPy releases the
    GIL inside each ufunc, and the parts write disjoint slices of the results."""
    k = min(thread_count(), (last - first) // _MIN_CHUNKS_PER_THREAD)
    if k < 2:
        run(first, last)
        return
    jobs = _helper_jobs(k - 1)
    done: queue.SimpleQueue = queue.SimpleQueue()
    bounds = [first + (last - first) * j // k for j in range(k + 1)]
    for a, b in zip(bounds[1:-1], bounds[2:]):
        # Each part runs in a copy of the caller's context: np.errstate follows it.
        jobs.put((contextvars.copy_context(), run, a, b, done))
    try:
        run(bounds[0], bounds[1])
    finally:
        errors = [done.get() for _ in range(k - 1)]  # never leave a part still writing
    for error in errors:
        if error is not None:
            raise error


def _helper_jobs(count: int) -> queue.SimpleQueue:
    """The job queue of at least ``count`` helper threads, started on first use (and again
    in a forked child, which has none)."""
    global _helpers
    pid = os.getpid()
    if _helpers is None or _helpers[0] != pid:
        _helpers = (pid, 0, queue.SimpleQueue())
    if _helpers[1] < count:
        for _ in range(count - _helpers[1]):
            threading.Thread(target=_helper_loop, args=(_helpers[2],), daemon=True,
                             name="bobodiff-jit").start()
        _helpers = (pid, count, _helpers[2])
    return _helpers[2]


def _helper_loop(jobs: queue.SimpleQueue) -> None:
    while True:
        context, run, a, b, done = jobs.get()
        try:
            context.run(run, a, b)
            done.put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, re-raised there
            done.put(error)


# The ufunc of each pointwise primitive, for the chunked programs' ``out=`` buffers.
_UFUNCS = {**{name: f"np.{rule.ufunc.__name__}" for name, rule in ELEMENTWISE.items()
              if rule.ufunc is not None},
           **{name: f"np.{getattr(NUMPY, name).__name__}" for name in _NUMPY_FUNCTIONS}}
# ... and of a square (x ** 2), where the primitive has one.
_SQUARE_UFUNCS = {name: f"np.{rule.square_ufunc.__name__}" for name, rule in ELEMENTWISE.items()
                  if rule.square_ufunc is not None}
# Reductions, accumulated chunk by chunk (their NumPy method), and the primitives whose
# result is their operand's data in the same flat order (a chunk of it is the same chunk).
_REDUCTIONS = {name: rule.reduction for name, rule in STRUCTURAL.items() if rule.reduction}
_FLAT_ORDER = frozenset(name for name, rule in STRUCTURAL.items() if rule.keeps_flat_order)


def _chunked(trace: _Trace, kept: list[_Eq], outputs: list[str],
             inputs: dict[str, Any]) -> list[str] | None:
    """The body of a program that runs its elementwise part chunk by chunk, or None when
    the program is not of that kind (then it is emitted as whole-array statements).

    Every value is *before* the loop (inputs, constants, whatever does not depend on a
    chunked value), *in* it (values of the large size n computed point by point, one chunk
    at a time) or *after* it (sums of chunked values, accumulated per chunk, and what
    depends on them). A program that needs a chunked value in any other way (indexing,
    matmul, a partial sum) or a sum inside the loop is left whole.
    """
    sizes = {a.size for a in inputs.values() if type(a) is np.ndarray and a.size >= CHUNK_MIN}
    if len(sizes) != 1:
        return None
    (n,) = sizes
    info: dict[str, tuple[tuple[int, ...], Any]] = {
        name: (np.shape(a), np.result_type(a)) for name, a in inputs.items()}
    where = dict.fromkeys(inputs, "before")
    loop: list[_Eq] = []  # chunked lines and the sums accumulated in the loop
    before: list[_Eq] = []
    after: list[_Eq] = []
    scalar_of: dict[str, str] = {}  # broadcast_to(scalar): the scalar stands for it in a chunk

    def kind(ref: str) -> tuple[str, tuple[int, ...]]:
        if ref in info:
            return where[ref], info[ref][0]
        if ref in trace.globals:
            return "before", np.shape(trace.globals[ref])
        return "before", ()  # a literal

    for line in kept:
        info[line.name] = (line.shape, line.dtype)
        kinds = [kind(r) for r in line.refs]
        size = math.prod(line.shape)
        chunked = any(w == "in" for w, _ in kinds)
        if chunked and line.op in _REDUCTIONS and size == 1:  # accumulated chunk by chunk
            where[line.name] = "after"
            loop.append(line)
            after.append(line)
        elif chunked and line.op in _FLAT_ORDER:  # the same flat chunk
            where[line.name] = "in"
            loop.append(line)
        elif line.op in _POINTWISE and size == n > 1:
            for (w, shape), r in zip(kinds, line.refs):
                scalar = r in scalar_of or (math.prod(shape) == 1 and len(shape) <= len(
                    line.shape))
                if w == "after" or not (shape == line.shape or scalar):
                    return None
            where[line.name] = "in"
            loop.append(line)
        elif chunked:  # indexing, matmul, a partial sum, broadcasting further...
            return None
        else:
            w = "after" if any(k == "after" for k, _ in kinds) else "before"
            where[line.name] = w
            (after if w == "after" else before).append(line)
            if line.op == "broadcast_to" and math.prod(kinds[0][1]) == 1 and w == "before":
                scalar_of[line.name] = line.refs[0]
    if not any(where[line.name] == "in" for line in loop):
        return None
    return _ChunkEmitter(trace, n, info, where, scalar_of, outputs).body(before, loop, after)


class _ChunkEmitter:
    """Writes the chunked program: prologue, ``def chunk(...)``, the loop, the epilogue."""

    def __init__(self, trace: _Trace, n: int, info: dict, where: dict, scalar_of: dict,
                 outputs: list[str]) -> None:
        self.trace, self.n, self.info, self.where = trace, n, info, where
        self.scalar_of = scalar_of
        self.outputs = {name for name in outputs if where.get(name) == "in"}
        self.prologue: list[str] = []
        self.sliced: dict[str, str] = {}  # whole array -> its flat view, sliced per chunk
        self.scalars: dict[str, str] = {}  # size-1 array -> the 0-d array standing for it

    def operand(self, ref: str) -> str:
        """How a chunk line refers to ``ref``."""
        if self.where.get(ref) == "in":
            return ref
        if ref in self.scalar_of:
            return self.scalar(self.scalar_of[ref], ref)
        shape = self.info[ref][0] if ref in self.info else np.shape(self.trace.globals.get(
            ref, 0.0))
        if math.prod(shape) == self.n and self.n > 1:
            if ref in self.trace.globals and _all_equal(self.trace.globals[ref]):
                return self.scalar(ref, ref)  # ones from a broadcast: keep one, not n
            if ref not in self.sliced:
                self.sliced[ref] = f"{ref}__all"
                self.prologue.append(f"{ref}__all = {ref}.reshape(-1)")
            return ref
        return self.scalar(ref, ref) if shape else ref

    def scalar(self, ref: str, label: str) -> str:
        """A 0-d stand-in for ``ref``: a value of one element, or a constant of equal ones."""
        if label in self.scalars:
            return self.scalars[label]
        name = f"{label}__s"
        if ref in self.trace.globals:  # a constant: keep one element of it
            c = np.asarray(self.trace.globals[ref])
            self.trace.globals[name] = np.asarray(c.flat[0], c.dtype)
        elif ref in self.info:
            self.prologue.append(f"{name} = np.reshape({ref}, ())")
        else:
            return ref  # a literal
        self.scalars[label] = name
        return name

    def body(self, before: list[_Eq], loop: list[_Eq], after: list[_Eq]) -> list[str]:
        n, size = self.n, CHUNK
        full, rest = divmod(n, size)
        chunks = full + (rest > 0)
        lines = [f"{line.name} = {_print(line)}" for line in before]
        steps = self.steps(loop, chunks)
        buffers = self.buffer_dtypes
        args = ", ".join(["i", "lo", "hi", *(f"b{k}" for k in range(len(buffers)))])
        lines += self.prologue
        lines += [f"{name}__all = np.empty({n}, np.{self.info[name][1].name})"
                  for name in sorted(self.outputs, key=_line_number)]
        lines += [f"{line.name}__parts = np.empty({chunks}, np.{line.dtype.name})"
                  for line in after if line in loop]
        lines.append(f"def chunk({args}):")
        lines += [f"    {name} = {flat}[lo:hi]" for name, flat in self.sliced.items()]
        lines += [f"    {step}" for step in steps]
        runs = [(dtype, len(list(group))) for dtype, group in itertools.groupby(buffers)]
        lines.append("def buffers(size):")
        lines.append("    return " + (" + ".join(
            f"[np.empty(size, np.{dtype.name}) for _ in range({count})]"
            for dtype, count in runs) or "[]"))
        if full:
            lines.append("def run(first, last):  # chunks first..last-1, one thread")
            lines.append(f"    own = buffers({size})")
            lines.append("    for i in range(first, last):")
            lines.append(f"        chunk(i, i * {size}, i * {size} + {size}, *own)")
            lines.append(f"in_threads__(run, 0, {full})")
            self.trace.globals["in_threads__"] = _in_threads
        if rest:
            lines.append(f"chunk({full}, {full * size}, {n}, *buffers({rest}))")
        for name in sorted(self.outputs, key=_line_number):
            shape = self.info[name][0]
            lines.append(f"{name} = {name}__all" if len(shape) == 1
                         else f"{name} = {name}__all.reshape({shape!r})")
        for line in after:
            if line in loop:
                total = f"np.{_REDUCTIONS[line.op]}({line.name}__parts)"
                lines.append(f"{line.name} = {total}" if line.shape == ()
                             else f"{line.name} = {total}.reshape({line.shape!r})")
            else:
                lines.append(f"{line.name} = {_print(line)}")
        return lines

    def steps(self, loop: list[_Eq], chunks: int) -> list[str]:
        """The chunk function's statements; buffers are reused once their value is dead."""
        root: dict[str, str] = {}  # an alias (reshape) -> the value holding its data
        last_use: dict[str, int] = {}
        for k, line in enumerate(loop):
            if line.op in _FLAT_ORDER and self.where[line.name] == "in":
                root[line.name] = root.get(line.refs[0], line.refs[0])
            for r in line.operands:
                last_use[root.get(r, r)] = k
        for name in self.outputs:
            last_use[root.get(name, name)] = len(loop)
        free: dict[Any, list[int]] = {}
        owner: dict[str, int] = {}
        self.buffer_dtypes: list[Any] = []
        steps = []
        for k, line in enumerate(loop):
            refs = [self.operand(r) for r in line.refs]
            for r in dict.fromkeys(line.operands):  # in order: the same program every run
                r = root.get(r, r)
                if last_use.get(r) == k and r in owner:
                    free.setdefault(self.info[r][1], []).append(owner.pop(r))
            name = line.name
            if self.where[name] == "after":  # a sum accumulated chunk by chunk
                steps.append(f"{name}__parts[i] = {refs[0]}.{_REDUCTIONS[line.op]}()")
                continue
            if line.op in _FLAT_ORDER:
                steps.append(f"{name} = {refs[0]}")
                if name in self.outputs:
                    steps.append(f"{name}__all[lo:hi] = {name}")
                continue
            ufunc = _UFUNCS.get(line.op)
            if ufunc is None:  # sigmoid, relu, step, ...: NumPy allocates the chunk
                call = f"{self.trace.function(NUMPY, line.op)}({', '.join(refs)})"
                if not any(self.where.get(r) == "in" or r in self.sliced for r in line.refs):
                    call = f"np.broadcast_to({call}, (hi - lo,))"  # of scalars only
                steps.append(f"{name} = {call}")
                if name in self.outputs:
                    steps.append(f"{name}__all[lo:hi] = {name}")
                continue
            if line.op in _SQUARE_UFUNCS and line.is_literal(1, 2.0):
                ufunc, refs = _SQUARE_UFUNCS[line.op], refs[:1]
            if name in self.outputs:
                out = f"{name}__all[lo:hi]"
            elif last_use.get(name, -1) <= k:  # never used: cannot happen after dead code
                out = None
            else:
                pool = free.get(line.dtype)
                if pool:
                    index = pool.pop()
                else:
                    index = len(self.buffer_dtypes)
                    self.buffer_dtypes.append(line.dtype)
                owner[name] = index
                out = f"b{index}"
            call = f"{ufunc}({', '.join(refs)}" + (f", out={out})" if out else ")")
            steps.append(f"{name} = {call}")
        return steps


def _all_equal(c: Any) -> bool:
    c = np.asarray(c)
    return not any(c.strides) or bool(np.all(c == c.flat[0]))


def _line_number(name: str) -> int:
    return int(name[1:])
