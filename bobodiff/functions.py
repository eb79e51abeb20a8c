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
from .rules import ELEMENTWISE, RULES


def _named(rule: Any) -> Any:
    """The public function of an elementwise rule that has primals (``bobodiff.sin``, ...)."""
    on_float = rule.on_float
    if rule.arity == 2:
        def fn(x: Any, y: Any) -> Any:
            return apply(rule, (x, y))
    else:
        def fn(x: Any) -> Any:
            t = type(x)
            if t is float:
                return on_float(x)
            if t is Tensor:
                return reverse_unary(rule, on_float, x)
            if t is Dual:
                return forward_unary(rule, on_float, x)
            return apply(rule, (x,))

    fn.__name__ = fn.__qualname__ = rule.name
    fn.__doc__ = rule.doc
    return fn


_NAMED = [rule.name for rule in ELEMENTWISE.values() if rule.on_array is not None]
globals().update({name: _named(ELEMENTWISE[name]) for name in _NAMED})

__all__ = [*_NAMED, "sum", "mean", "reshape", "transpose", "matmul"]


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
