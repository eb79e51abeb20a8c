"""Dispatch: send a primitive to the right engine (forward, reverse) or backend.

``apply(rule, args, params)`` looks at the arguments: if one of them is a Dual or a Tensor,
the outermost one (highest level) decides which engine records the operation; every other
argument is a constant at that level. Otherwise the primitive is computed by the backend
for the values (``math`` for floats, NumPy for arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .rules import GENERIC, NON_DIFFERENTIABLE, RULES, backend_for, shape_of

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

    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        return apply(RULES["sum"], (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        shape = self.shape
        axes = range(len(shape)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
        count = int(np.prod([shape[a] for a in axes])) if shape else 1
        return self.sum(axis, keepdims) * (1.0 / count)

    def reshape(self, *shape: Any) -> Any:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple | list) else shape
        return apply(RULES["reshape"], (self,), {"shape": tuple(shape)})

    def transpose(self, *axes: Any) -> Any:
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], tuple | list) else axes
        return apply(RULES["transpose"], (self,), {"axes": tuple(axes) if axes else None})

    def __getitem__(self, index: Any) -> Any:
        return apply(RULES["getitem"], (self,), {"index": index})

    # -- operators -------------------------------------------------------------------
    def __add__(self, other: Any) -> Any:
        return apply(_ADD, (self, other))

    def __radd__(self, other: Any) -> Any:
        return apply(_ADD, (other, self))

    def __sub__(self, other: Any) -> Any:
        return apply(_SUB, (self, other))

    def __rsub__(self, other: Any) -> Any:
        return apply(_SUB, (other, self))

    def __mul__(self, other: Any) -> Any:
        return apply(_MUL, (self, other))

    def __rmul__(self, other: Any) -> Any:
        return apply(_MUL, (other, self))

    def __truediv__(self, other: Any) -> Any:
        return apply(_DIV, (self, other))

    def __rtruediv__(self, other: Any) -> Any:
        return apply(_DIV, (other, self))

    def __pow__(self, other: Any) -> Any:
        return apply(_POW, (self, other))

    def __rpow__(self, other: Any) -> Any:
        return apply(_POW, (other, self))

    def __matmul__(self, other: Any) -> Any:
        return apply(_MATMUL, (self, other))

    def __rmatmul__(self, other: Any) -> Any:
        return apply(_MATMUL, (other, self))

    def __neg__(self) -> Any:
        return apply(_NEG, (self,))

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

    def __abs__(self) -> Any:
        return apply(RULES["abs"], (self,))

    # NumPy would otherwise turn a wrapper into an object array of wrappers, one per value.
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            f"cannot convert a bobodiff {type(self).__name__} to a NumPy array (its "
            f"derivatives would be lost); take its values with {self._values_hint}"
        )

    _values_hint = "bobodiff.primal(x)"


def _plain(x: Any) -> Any:
    return x._plain_value() if getattr(x, "_is_bobodiff_wrapper", False) else x


_ADD, _SUB, _MUL, _DIV, _POW, _NEG, _MATMUL = (
    RULES[n] for n in ("add", "sub", "mul", "div", "pow", "neg", "matmul")
)


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
    return apply(RULES["mul"], (x, np.ones(shape, dtype=dtype)))


def _install_generic_backend() -> None:
    """Fill GENERIC: each primitive dispatches through ``apply``, so rules nest."""
    for name, rule in RULES.items():
        if name == "sum":
            setattr(GENERIC, name, lambda x, axis=None, keepdims=False, _r=rule: apply(
                _r, (x,), {"axis": axis, "keepdims": keepdims}))
        elif name == "reshape":
            setattr(GENERIC, name, lambda x, shape, _r=rule: apply(_r, (x,), {"shape": shape}))
        elif name == "transpose":
            setattr(GENERIC, name, lambda x, axes=None, _r=rule: apply(_r, (x,), {"axes": axes}))
        elif name == "getitem":
            setattr(GENERIC, name, lambda x, index, _r=rule: apply(_r, (x,), {"index": index}))
        elif name == "scatter":
            setattr(GENERIC, name, lambda g, shape, index, _r=rule: apply(
                _r, (g,), {"shape": tuple(shape), "index": index}))
        else:
            setattr(GENERIC, name, lambda *args, _r=rule: apply(_r, args))
    for name in NON_DIFFERENTIABLE:
        setattr(GENERIC, name, _constant_fn(name))
    GENERIC.shape = shape_of
    GENERIC.broadcast_to = _generic_broadcast_to


_install_generic_backend()
