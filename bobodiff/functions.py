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
from .rules import ELEMENTWISE, GENERIC, MATH, MATH_ERRORS, STRUCTURAL


def _named(rule: Any) -> Any:
    """The public function of an elementwise rule that has primals (``bobodiff.sin``, ...)."""
    on_float = rule.on_float
    numpy_on_float = getattr(MATH, rule.name)  # NumPy's answer where math raises
    if rule.arity == 2:
        def fn(x: Any, y: Any) -> Any:
            return apply(rule, (x, y))
    else:
        def fn(x: Any) -> Any:
            t = type(x)
            if t is float:
                try:
                    return on_float(x)
                except MATH_ERRORS:
                    return numpy_on_float(x)
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
# The structural ones with a public function (sum, reshape, ...): the generic backend's,
# made from their entries with the signature of their NumPy primal.
_STRUCTURAL = [rule.name for rule in STRUCTURAL.values() if rule.doc]
globals().update({name: getattr(GENERIC, name) for name in _STRUCTURAL})
for _name in _STRUCTURAL:
    globals()[_name].__module__ = __name__

__all__ = [*_NAMED, *_STRUCTURAL, "mean"]


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis`` (all axes by default)."""
    if hasattr(x, "mean"):
        return x.mean(axis=axis, keepdims=keepdims)
    import numpy as np

    return np.mean(x, axis=axis, keepdims=keepdims)
