"""Forward mode: dual numbers (value + tangent) by operator overloading.

A :class:`Dual` carries a value and its tangent (directional derivative). Each primitive
reads its local derivative from the rule table (:mod:`bobodiff.rules`) and multiplies
the tangent by it: no graph is built, derivatives flow with the computation.

Values and tangents may be Python floats (the fast path: ``math``, no NumPy) or NumPy
arrays. A tangent may carry one extra *leading* axis of k directions
(``tangent.ndim == value.ndim + 1``): one pass then yields k directional derivatives,
e.g. a whole Jacobian.

The report's names stay usable: ``AutoDiff`` is ``Dual``, ``.valeur`` / ``.derive`` are
``.value`` / ``.tangent``, and ``variable(x)`` / ``constant(x)`` seed 1 / 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._state import STATE
from .core import _ADD, _DIV, _MUL, _POW, _SUB, Wrapper, apply, compute
from .rules import MATH, MINUS_ONE, ONE, Elementwise, backend_for, shape_of

__all__ = ["Dual", "AutoDiff", "variable", "constant"]

def _ndim(x: Any) -> int:
    t = type(x)
    if t is float or t is int:
        return 0
    return len(shape_of(x))


def _is_batched(tangent: Any, value: Any) -> bool:
    """True when ``tangent`` carries a leading axis of directions."""
    if type(tangent) is float:
        return False
    return _ndim(tangent) == _ndim(value) + 1


def _align(tangent: Any, value_ndim: int, out_ndim: int) -> Any:
    """Insert axes after the direction axis so a batched tangent broadcasts against ``out``."""
    if value_ndim >= out_ndim:
        return tangent
    s = shape_of(tangent)
    return tangent.reshape(s[:1] + (1,) * (out_ndim - value_ndim) + s[1:])


class Dual(Wrapper):
    """A value with its tangent: ``Dual(3.0, 1.0)`` is x = 3 seeded with dx = 1."""

    __slots__ = ("value", "tangent", "_level")

    def __init__(self, value: Any, tangent: Any = 0.0) -> None:
        if type(value) is int:
            value = float(value)
        if type(tangent) is int:
            tangent = float(tangent)
        self.value = value
        self.tangent = tangent
        self._level = STATE.depth

    @classmethod
    def _make(cls, value: Any, tangent: Any, level: int) -> Dual:
        d = cls.__new__(cls)
        d.value = value
        d.tangent = tangent
        d._level = level
        return d

    def _primal(self) -> Any:
        return self.value

    # -- the engine ------------------------------------------------------------------
    @classmethod
    def _apply(cls, rule: Any, args: tuple[Any, ...], params: dict[str, Any], level: int) -> Dual:
        values = []
        tangents = []
        for a in args:
            if type(a) is Dual and a._level == level:
                values.append(a.value)
                tangents.append(a.tangent)
            else:  # a constant at this level (plain value or an outer transformation's)
                values.append(a)
                tangents.append(None)
        values_t = tuple(values)
        ops = backend_for(values_t)
        out = compute(rule, values_t, params)
        if type(rule) is Elementwise:
            tangent = _elementwise_jvp(rule, ops, values, tangents, out)
        else:
            tangent = _structural_jvp(rule, values, tangents, out, params)
        return cls._make(out, tangent, level)

    # -- the report's names ----------------------------------------------------------
    @property
    def valeur(self) -> Any:
        """The report's name for :attr:`value`."""
        return self.value

    @property
    def derive(self) -> Any:
        """The report's name for :attr:`tangent`."""
        return self.tangent

    def __repr__(self) -> str:
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"


    # -- operators: a fast path for operands of this level (Duals or plain numbers) --
    def __add__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_ADD, self, other, self._level)
        return apply(_ADD, (self, other))

    def __radd__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_ADD, other, self, self._level)
        return apply(_ADD, (other, self))

    def __sub__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_SUB, self, other, self._level)
        return apply(_SUB, (self, other))

    def __rsub__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_SUB, other, self, self._level)
        return apply(_SUB, (other, self))

    def __mul__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_MUL, self, other, self._level)
        return apply(_MUL, (self, other))

    def __rmul__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_MUL, other, self, self._level)
        return apply(_MUL, (other, self))

    def __truediv__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_DIV, self, other, self._level)
        return apply(_DIV, (self, other))

    def __rtruediv__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_DIV, other, self, self._level)
        return apply(_DIV, (other, self))

    def __pow__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_POW, self, other, self._level)
        return apply(_POW, (self, other))

    def __rpow__(self, other: Any) -> Dual:
        if _same_level(self, other):
            return _binary(_POW, other, self, self._level)
        return apply(_POW, (other, self))


def _same_level(d: Dual, other: Any) -> bool:
    k = type(other)
    return k is float or k is int or (k is Dual and other._level == d._level)


_NUMBER = (float, int)
_MATH_OF = {name: getattr(MATH, name) for name in ("add", "sub", "mul", "div", "pow")}


def _binary(rule: Any, a: Any, b: Any, level: int) -> Dual:
    """``rule`` on two operands of one level: straight to ``math`` on floats."""
    if type(a) is Dual:
        x0, t0 = a.value, a.tangent
    else:
        x0, t0 = a, None
    if type(b) is Dual:
        x1, t1 = b.value, b.tangent
    else:
        x1, t1 = b, None
    if type(x0) in _NUMBER and type(x1) in _NUMBER:
        out = _MATH_OF[rule.name](x0, x1)
        if (t0 is None or type(t0) is float) and (t1 is None or type(t1) is float):
            # all floats: the jvp written out for two arguments (the scalar-network path)
            d = rule.partials
            tangent = 0.0
            if t0 is not None:
                p = d[0](MATH, x0, x1, out)
                tangent = t0 if p is ONE else (-t0 if p is MINUS_ONE else p * t0)
            if t1 is not None:
                p = d[1](MATH, x0, x1, out)
                term = t1 if p is ONE else (-t1 if p is MINUS_ONE else p * t1)
                tangent = term if t0 is None else tangent + term
            return Dual._make(out, tangent, level)
        ops = MATH
    else:
        ops = backend_for((x0, x1))
        out = compute(rule, (x0, x1))
    return Dual._make(out, _elementwise_jvp(rule, ops, [x0, x1], [t0, t1], out), level)


def unary(rule: Any, math_fn: Any, x: Dual) -> Dual:
    """An elementwise ``rule`` on one Dual; ``math_fn`` computes it on a float."""
    x0 = x.value
    if type(x0) is float:
        out = math_fn(x0)
        t = x.tangent
        if type(t) is float:  # all floats
            p = rule.partials[0](MATH, x0, out)
            return Dual._make(out, t if p is ONE else (-t if p is MINUS_ONE else p * t),
                              x._level)
        ops = MATH
    else:
        ops = backend_for((x0,))
        out = compute(rule, (x0,))
    return Dual._make(out, _elementwise_jvp(rule, ops, [x0], [x.tangent], out), x._level)


AutoDiff = Dual
"""The report's name for :class:`Dual`."""


def _elementwise_jvp(rule: Elementwise, ops: Any, values: list, tangents: list, out: Any) -> Any:
    """Sum over arguments of (local derivative) x (argument tangent)."""
    total = None
    out_ndim = -1
    for i, t in enumerate(tangents):
        if t is None:
            continue
        d = rule.partials[i](ops, *values, out)
        if type(t) is not float and _is_batched(t, values[i]):
            if out_ndim < 0:
                out_ndim = _ndim(out)
            t = _align(t, _ndim(values[i]), out_ndim)
        term = t if d is ONE else (-t if d is MINUS_ONE else d * t)
        total = term if total is None else total + term
    if total is None:
        return 0.0
    if type(total) is float:
        if type(out) is not float and shape_of(out) != ():
            total = np.full(shape_of(out), total, dtype=getattr(out, "dtype", np.float64))
    else:  # a tangent has its value's shape (after the directions)
        target = shape_of(out)
        shape = shape_of(total)
        if len(shape) > len(target):
            target = shape[:1] + target
        if shape != target:
            total = backend_for((total,)).broadcast_to(total, target)
    return total


def _structural_jvp(rule: Any, values: list, tangents: list, out: Any, params: dict) -> Any:
    """Apply a structural rule's jvp; tangents that are a plain zero count as absent."""
    ts = [
        None if (t is None or (type(t) is float and t == 0.0 and shape_of(v) != ())) else t
        for t, v in zip(tangents, values)
    ]
    present = [(t, v) for t, v in zip(ts, values) if t is not None]
    if not present:
        return 0.0
    batched = _is_batched(*present[0])
    ops = backend_for(tuple(values) + tuple(t for t, _ in present))
    # Tangents may be broadcastable to their value (a scalar 1.0 seeding an array, a
    # (k, 1, 1) direction block); structural rules need them at full shape.
    ts = [None if t is None else _full_shape(ops, t, v, batched) for t, v in zip(ts, values)]
    return rule.jvp(ops, ts, tuple(values), out, params, batched)


def _full_shape(ops: Any, t: Any, value: Any, batched: bool) -> Any:
    target = shape_of(value)
    if batched:
        target = shape_of(t)[:1] + target
    return t if shape_of(t) == target else ops.broadcast_to(t, target)


def variable(x: Any) -> Dual:
    """A Dual to differentiate with respect to: tangent 1 for a float, the identity basis
    (a leading axis of ``x.size`` directions) for an array."""
    if isinstance(x, np.ndarray):
        x = x if x.dtype.kind == "f" else x.astype(np.float64)
        basis = np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape)
        return Dual(x, basis)
    return Dual(float(x), 1.0)


def constant(x: Any) -> Dual:
    """A Dual held constant: tangent 0."""
    if isinstance(x, np.ndarray):
        return Dual(x, np.zeros_like(x, dtype=np.result_type(x, 1.0)))
    return Dual(float(x), 0.0)
