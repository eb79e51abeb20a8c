"""Math functions that accept a float, an array, a Dual or a Tensor and return the same kind.

``bobodiff.sin(x)`` computes with ``math`` on a Python float, with NumPy on an array, and
records the operation for differentiation on a Dual (forward mode) or a Tensor (reverse
mode). Domain errors follow NumPy: ``log(-1.0)`` is ``nan`` with a RuntimeWarning, not an
exception, on floats too; ``sigmoid`` never overflows.
"""

from __future__ import annotations

from typing import Any

from .core import apply
from .forward import Dual
from .forward import unary as forward_unary
from .reverse import Tensor
from .reverse import unary as reverse_unary
from .rules import MATH, RULES

__all__ = [
    "sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "maximum",
    "sum", "mean", "reshape", "transpose", "matmul",
]


def _unary(name: str, doc: str) -> Any:
    rule = RULES[name]
    on_float = getattr(MATH, name)

    def fn(x: Any) -> Any:
        t = type(x)
        if t is float:
            return on_float(x)
        if t is Tensor:
            return reverse_unary(rule, on_float, x)
        if t is Dual:
            return forward_unary(rule, on_float, x)
        return apply(rule, (x,))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


sin = _unary("sin", "Sine, elementwise.")
cos = _unary("cos", "Cosine, elementwise.")
tan = _unary("tan", "Tangent, elementwise.")
exp = _unary("exp", "Exponential, elementwise.")
log = _unary("log", "Natural logarithm, elementwise (nan + RuntimeWarning below 0, as NumPy).")
sqrt = _unary("sqrt", "Square root, elementwise (nan + RuntimeWarning below 0, as NumPy).")
tanh = _unary("tanh", "Hyperbolic tangent, elementwise.")
sigmoid = _unary("sigmoid", "Logistic sigmoid 1 / (1 + exp(-x)), elementwise, overflow-free.")
relu = _unary("relu", "max(x, 0), elementwise; derivative 0 at 0.")
abs = _unary("abs", "Absolute value, elementwise; derivative 0 at 0.")  # noqa: A001


def maximum(x: Any, y: Any) -> Any:
    """Elementwise maximum; where x == y the gradient is split half and half."""
    return apply(RULES["maximum"], (x, y))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over ``axis`` (all axes by default)."""
    return apply(RULES["sum"], (x,), {"axis": axis, "keepdims": keepdims})


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis`` (all axes by default)."""
    if hasattr(x, "mean"):
        return x.mean(axis=axis, keepdims=keepdims)
    import numpy as np

    return np.mean(x, axis=axis, keepdims=keepdims)


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` with a new shape."""
    return apply(RULES["reshape"], (x,), {"shape": tuple(shape)})


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    """``x`` with its axes permuted (reversed by default)."""
    return apply(RULES["transpose"], (x,), {"axes": None if axes is None else tuple(axes)})


def matmul(a: Any, b: Any) -> Any:
    """Matrix product ``a @ b`` (NumPy semantics, vectors included)."""
    return apply(RULES["matmul"], (a, b))
