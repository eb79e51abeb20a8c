"""Dispatch: send a primitive to the right engine (forward, reverse) or backend.

``apply(rule, args, params)`` looks at the arguments: if one of them is a Dual or a Tensor,
the outermost one (highest level) decides which engine records the operation; every other
argument is a constant at that level. Otherwise the primitive is computed by the backend
for the values (``math`` for floats, NumPy for arrays).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .rules import GENERIC, NON_DIFFERENTIABLE, NUMPY, RULES, Structural, backend_for, shape_of

_NO_PARAMS: dict[str, Any] = {}


class Wrapper:
    """Base of Dual, Tensor and the jit's Tracer: a value tagged with its transformation level.

    Operators and array methods are defined once here, through :func:`apply`; subclasses
    say how they record a primitive (``_apply``) and what their plain value is (``_primal``).
    """

    __slots__ = ()
    _is_bobodiff_wrapper = True
    _stops_primal = False  # True for the jit's tracer: primal() stops there
    _level: int
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (array * Dual)

    def _primal(self) -> Any:
        raise NotImplementedError

    @classmethod
    def _apply(cls, rule: Any, args: tuple[Any, ...], params: dict[str, Any], level: int) -> Any:
        raise NotImplementedError

    # -- array-like ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return shape_of(self._primal())

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self) -> Any:
        return np.result_type(primal(self))

    @property
    def T(self) -> Any:
        return self.transpose()

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d value")
        return shape[0]

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        shape = self.shape
        axes = range(len(shape)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        count = int(np.prod([shape[a] for a in axes])) if shape else 1
        return self.sum(axis, keepdims) * (1.0 / count)

    # The operators (+ - * / ** @, unary minus, abs), indexing and the array methods of
    # the structural primitives (sum, reshape, transpose) are made from their rule entries
    # by _install_methods, below.
    def __pos__(self) -> Any:
        return self

    # Comparisons compare plain values and give plain booleans / arrays (no derivative).
    def _plain_value(self) -> Any:
        return primal(self)

    def __lt__(self, other: Any) -> Any:
        return self._plain_value() < _plain(other)

    def __le__(self, other: Any) -> Any:
        return self._plain_value() <= _plain(other)

    def __gt__(self, other: Any) -> Any:
        return self._plain_value() > _plain(other)

    def __ge__(self, other: Any) -> Any:
        return self._plain_value() >= _plain(other)

    # Conversions to Python values, as torch: a value holding exactly one number converts
    # (whatever its shape), anything else is ambiguous. Under jit the plain value is a
    # tracer, whose own conversions raise the jit's control-flow error.
    def _one_number(self, conversion: str) -> Any:
        v = primal(self)
        if getattr(v, "_is_bobodiff_wrapper", False):  # a jit tracer
            return v
        if type(v) is float:
            return v
        size = np.size(v)
        if size != 1:
            raise ValueError(
                f"{conversion}() of a {type(self).__name__} of shape {shape_of(v)} is "
                f"ambiguous: it needs exactly one value, not {size}"
            )
        return np.asarray(v).item()

    def __bool__(self) -> bool:
        return bool(self._one_number("bool"))

    def __float__(self) -> float:
        return float(self._one_number("float"))

    def __int__(self) -> int:
        return int(self._one_number("int"))

    # NumPy would otherwise turn a wrapper into an object array of wrappers, one per value.
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            f"cannot convert a bobodiff {type(self).__name__} to a NumPy array (its "
            f"derivatives would be lost); take its values with {self._values_hint}"
        )

    _values_hint = "bobodiff.primal(x)"


def _plain(x: Any) -> Any:
    return x._plain_value() if getattr(x, "_is_bobodiff_wrapper", False) else x


def top_wrapper(args: tuple[Any, ...]) -> Wrapper | None:
    """The outermost Dual/Tensor among ``args``; TypeError if a Dual meets a Tensor at one level."""
    top = None
    for a in args:
        if getattr(a, "_is_bobodiff_wrapper", False):
            if top is None or a._level > top._level:
                top = a
            elif a._level == top._level and type(a) is not type(top):
                raise TypeError(
                    f"cannot combine a {type(top).__name__} and a {type(a).__name__} directly "
                    "(forward and reverse mode at the same level); nest them with the "
                    "functional API instead, e.g. jacfwd(jacrev(f))"
                )
    return top


def apply(rule: Any, args: tuple[Any, ...], params: dict[str, Any] = _NO_PARAMS) -> Any:
    """Apply primitive ``rule`` to ``args``, recording it for differentiation if needed."""
    top = top_wrapper(args)
    if top is None:
        return compute(rule, args, params)
    return type(top)._apply(rule, args, params, top._level)


def compute(rule: Any, values: tuple[Any, ...], params: dict[str, Any] = _NO_PARAMS) -> Any:
    """The primal value of one primitive on plain values; a shape error names the shapes."""
    try:
        return getattr(backend_for(values), rule.name)(*values, **params)
    except ValueError as e:
        shapes = " and ".join(str(shape_of(v)) for v in values)
        raise ValueError(f"{rule.name}: operands of shapes {shapes} do not fit ({e})") from None


def primal(x: Any) -> Any:
    """The innermost plain value of a (possibly nested) Dual or Tensor.

    It stops at a jit tracer: the tracer stands for the plain value of every call.
    """
    while getattr(x, "_is_bobodiff_wrapper", False) and not x._stops_primal:
        x = x._primal()
    return x


def _constant_fn(name: str) -> Any:
    """A helper primitive of the plain values only: its result carries no derivative."""
    rule = NON_DIFFERENTIABLE[name]

    def fn(*args: Any) -> Any:
        return apply(rule, tuple(primal(a) for a in args))

    return fn


def _generic_broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    if shape_of(x) == tuple(shape):
        return x
    if not getattr(x, "_is_bobodiff_wrapper", False):
        return np.broadcast_to(x, shape)  # a plain value: a free view
    p = primal(x)
    dtype = np.result_type(getattr(p, "dtype", np.float64), np.float32)
    return x * np.ones(shape, dtype=dtype)


def _operator(rule: Any, method: str, reflected: bool) -> Any:
    """The special method ``method`` of an operator's rule (``__radd__``: ``reflected``)."""
    if rule.arity == 1:
        def op(self: Any) -> Any:
            return apply(rule, (self,))
    elif reflected:
        def op(self: Any, other: Any) -> Any:
            return apply(rule, (other, self))
    else:
        def op(self: Any, other: Any) -> Any:
            return apply(rule, (self, other))
    op.__name__ = op.__qualname__ = method
    return op


def level_operator(rule: Any, reflected: bool, same_level: Any, binary: Any) -> Any:
    """An engine's binary operator: its ``binary`` fast path for operands of the wrapper's
    own level (``same_level``), ``apply`` otherwise."""
    if reflected:
        def op(self: Any, other: Any) -> Any:
            if same_level(self, other):
                return binary(rule, other, self, self._level)
            return apply(rule, (other, self))
    else:
        def op(self: Any, other: Any) -> Any:
            if same_level(self, other):
                return binary(rule, self, other, self._level)
            return apply(rule, (self, other))
    return op


def operator_methods(rule: Any) -> list[tuple[str, bool]]:
    """An operator rule's special methods, each with whether it is the reflected one."""
    return [(m, i == 1) for i, m in enumerate(rule.methods)] if rule.arity == 2 else \
        [(m, False) for m in rule.methods]


def _sequence(args: tuple[Any, ...], default: Any) -> Any:
    """The array methods' sequence argument, given whole or spread (``x.reshape((2, 3))``,
    ``x.reshape(2, 3)``)."""
    if len(args) == 1 and isinstance(args[0], tuple | list):
        args = args[0]
    return tuple(args) if args else default


def _tuple(v: Any) -> Any:
    return None if v is None else tuple(v)


def _structural_source(rule: Any, method: bool) -> str:
    """The source of a structural rule's array method (``method``) or of its function:
    ``def sum(x, axis=None, keepdims=False): return apply(rule, (x,), {...})``, with the
    signature of the rule's NumPy primal."""
    parameters = list(inspect.signature(getattr(NUMPY, rule.name)).parameters.values())
    operands = [p.name for p in parameters[: rule.arity]]
    params = parameters[rule.arity:]
    body = []
    if method and rule.sequences:
        (seq,) = params  # an array method with a sequence takes it spread as well
        default = "()" if seq.default is inspect.Parameter.empty else repr(seq.default)
        signature = ["self", f"*{seq.name}"]
        body.append(f"    {seq.name} = _sequence({seq.name}, {default})")
    else:
        signature = ["self", *operands[1:]] if method else list(operands)
        signature += [p.name if p.default is inspect.Parameter.empty
                      else f"{p.name}={p.default!r}" for p in params]
        body += [f"    {p.name} = _tuple({p.name})" for p in params if p.name in rule.sequences]
    if method:
        operands = ["self", *operands[1:]]
    given = "{" + ", ".join(f"{p.name!r}: {p.name}" for p in params) + "}"
    body.append(f"    return apply(rule, ({', '.join(operands)},), {given})")
    name = rule.methods[0] if method else rule.name
    return f"def {name}({', '.join(signature)}):\n" + "\n".join(body) + "\n"


def _structural(rule: Any, method: bool) -> Any:
    made: dict[str, Any] = {}
    source = _structural_source(rule, method)
    namespace = {"apply": apply, "rule": rule, "_sequence": _sequence, "_tuple": _tuple,
                 "__name__": __name__}
    exec(compile(source, f"<bobodiff.core {rule.name}>", "exec"), namespace, made)  # noqa: S102
    (fn,) = made.values()
    fn.__doc__ = rule.doc or None
    return fn


def _install_methods() -> None:
    """Give Wrapper its operators, indexing and array methods, from the rule entries."""
    for rule in RULES.values():
        if isinstance(rule, Structural) and rule.params and rule.methods:
            fn = _structural(rule, method=True)
            fn.__qualname__ = f"Wrapper.{fn.__name__}"
            setattr(Wrapper, fn.__name__, fn)
            continue
        for method, reflected in operator_methods(rule):
            fn = _operator(rule, method, reflected)
            fn.__qualname__ = f"Wrapper.{method}"
            setattr(Wrapper, method, fn)


def _install_generic_backend() -> None:
    """Fill GENERIC: each primitive dispatches through ``apply``, so rules nest."""
    for name, rule in RULES.items():
        if isinstance(rule, Structural):
            setattr(GENERIC, name, _structural(rule, method=False))
        else:
            setattr(GENERIC, name, lambda *args, _r=rule: apply(_r, args))
    for name in NON_DIFFERENTIABLE:
        setattr(GENERIC, name, _constant_fn(name))
    GENERIC.shape = shape_of
    GENERIC.broadcast_to = _generic_broadcast_to


_install_methods()
_install_generic_backend()
