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
"""

from __future__ import annotations

import inspect
import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ._state import new_level
from .core import Wrapper, compute
from .rules import MATH, NUMPY, backend_for, shape_of

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

    def __repr__(self) -> str:
        return f"Tracer({self.name}, shape={self.shape})"


# How each primitive is written out. Operands are names or literals.
_INFIX = {"add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
          "matmul": "{0} @ {1}", "neg": "-{0}"}
_MATH_FUNCTIONS = {"sin", "cos", "tan", "exp", "log", "sqrt", "tanh"}
_NUMPY_FUNCTIONS = {"sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "abs", "maximum", "sign"}
_SIMPLE_PARAM_TYPES = (type(None), bool, int, str)


def _is_simple_literal(v: Any) -> bool:
    if isinstance(v, tuple):
        return all(_is_simple_literal(x) for x in v)
    return isinstance(v, _SIMPLE_PARAM_TYPES)


class _Trace:
    """The recording of one traced call: equations, constants, and the names in use."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, tuple[str, ...]]] = []  # (name, expr, operands)
        self.by_expr: dict[str, str] = {}  # common subexpressions
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

    def _function(self, backend: Any, name: str) -> str:
        """The global name bound to backend's primitive ``name``."""
        if backend is MATH and name in _MATH_FUNCTIONS:
            self.globals[name] = getattr(math, name)
            return name
        if backend is NUMPY and name in _NUMPY_FUNCTIONS:
            return f"np.{name}"
        label = f"{'m' if backend is MATH else 'np'}_{name}"
        self.globals[label] = getattr(backend, name)
        return label

    def expression(self, rule: Any, backend: Any, refs: list[str], params: dict) -> str:
        name = rule.name
        if name in _INFIX:
            return _INFIX[name].format(*refs)
        if name == "pow" and (backend is NUMPY or _is_integral_literal(refs[1])):
            return f"{refs[0]} ** {refs[1]}"
        args = list(refs)
        for key, value in params.items():
            literal = repr(value) if _is_simple_literal(value) else self.constant(value)
            args.append(f"{key}={literal}")
        return f"{self._function(backend, name)}({', '.join(args)})"

    def record(self, rule: Any, args: tuple, params: dict, level: int) -> Any:
        values, refs = [], []
        for a in args:
            if type(a) is Tracer and a._level == level:
                values.append(a.value)
                refs.append(a.name)
            else:
                values.append(a)
                refs.append(self.constant(a))
        same = _identity_operand(rule.name, args, values)
        if same is not None:
            return same
        value = compute(rule, tuple(values), params)
        backend = backend_for(tuple(values))
        if rule.name == "pow" and backend is MATH and refs[1] == "2.0":
            expr = f"{refs[0]} * {refs[0]}"
        else:
            expr = self.expression(rule, backend, refs, params)
        name = self.by_expr.get(expr)
        if name is None:
            name = self.fresh()
            self.by_expr[expr] = name
            self.lines.append((name, expr, tuple(r for r in refs if r in self.names)))
            self.names.add(name)
        return Tracer(value, name, self, level)


def _identity_operand(name: str, args: tuple, values: list) -> Tracer | None:
    """The operand an operation would return unchanged (1.0 * x, x ** 1.0, ones * x), if any."""
    if name == "mul":
        for i in (0, 1):
            x, c = args[1 - i], args[i]
            if type(x) is not Tracer:
                continue
            if type(c) is float and c == 1.0:
                return x
            if (type(c) is np.ndarray and c.shape == shape_of(x.value)
                    and c.dtype == np.result_type(x.value) and bool(np.all(c == 1.0))):
                return x
    if name == "pow" and type(args[0]) is Tracer and type(args[1]) in (float, int) \
            and args[1] == 1:
        return args[0]
    return None


def _is_integral_literal(ref: str) -> bool:
    try:
        v = float(ref.strip("()"))
    except ValueError:
        return False
    return v.is_integer() and abs(v) <= 64


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

        call.__name__ = self.__name__
        call.source = self.source  # type: ignore[attr-defined]
        call.jitted = self  # type: ignore[attr-defined]
        call.__wrapped__ = fun  # type: ignore[attr-defined]
        return call

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


def _usable(name: str) -> bool:
    """Whether an argument name cannot clash with the generated code's own names."""
    reserved = name in ("np", "math") or name in _MATH_FUNCTIONS
    generated = re.fullmatch(r"[vc]\d+", name) or name.startswith(("m_", "np_", "compiled_"))
    return name.isidentifier() and not reserved and not generated


def _compile(fun: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Callable[..., Any], str]:
    trace = _Trace()
    names = _argument_names(fun, len(args))
    traced_args = []
    with new_level() as level:
        for a, name in zip(args, names):
            if type(a) is float or isinstance(a, np.ndarray | np.floating):
                trace.names.add(name)
                traced_args.append(Tracer(a, name, trace, level))
            else:
                traced_args.append(a)  # static
        out = fun(*traced_args)
    body, result = _emit(trace, out, level)
    source = (f"def {_safe_name(fun)}({', '.join(names)}):\n"
              + "".join(f"    {line}\n" for line in body)
              + f"    return {result}\n")
    namespace = dict(trace.globals)
    exec(compile(source, f"<bobodiff.jit {_safe_name(fun)}>", "exec"), namespace)  # noqa: S102
    return namespace[_safe_name(fun)], source


def _safe_name(fun: Callable[..., Any]) -> str:
    name = getattr(fun, "__name__", "f")
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "f"
    return f"compiled_{cleaned}"


def _emit(trace: _Trace, out: Any, level: int) -> tuple[list[str], str]:
    """Lines needed for ``out`` (dead code dropped) and the expression that returns it."""

    def ref(x: Any) -> str:
        if isinstance(x, tuple | list):
            inner = ", ".join(ref(v) for v in x)
            return f"({inner},)" if isinstance(x, tuple) and len(x) == 1 else (
                f"({inner})" if isinstance(x, tuple) else f"[{inner}]")
        if type(x) is Tracer:
            if x._level != level:
                raise TypeError("jit: the function returned a value traced by another jit")
            return x.name
        if getattr(x, "_is_bobodiff_wrapper", False):
            raise TypeError(f"jit: the traced function returned a {type(x).__name__}; return "
                            "plain values (e.g. use value_and_grad rather than Tensor.backward)")
        return trace.constant(x)

    result = ref(out)
    live = {x.name for x in _leaves(out) if type(x) is Tracer}
    kept = []
    for name, expr, operands in reversed(trace.lines):
        if name in live:
            kept.append(f"{name} = {expr}")
            live.update(operands)
    kept.reverse()
    return kept, result


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, tuple | list):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]

