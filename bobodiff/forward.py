"""Forward mode: dual numbers (value + tangent) by operator overloading.

A :class:`Dual` carries a value and its tangent (directional derivative). Each primitive
reads its local derivative from the rule table (:mod:`bobodiff.rules`) and multiplies
the tangent by it: no graph is built, derivatives flow with the computation.

Values and tangents may be Python floats (the fast path: ``math``, no NumPy) or NumPy
arrays. A tangent may carry one extra *leading* axis of k directions
(``tangent.ndim == value.ndim + 1``): one pass then yields k directional derivatives,
e.g. a whole Jacobian. Or it may be a :class:`Directions`: k tangents kept apart, any of
them zero, so that a pass only works on the directions along which a value varies
(:func:`variables` seeds several inputs that way).

The report's names stay usable: ``AutoDiff`` is ``Dual``, ``.valeur`` / ``.derive`` are
``.value`` / ``.tangent``, and ``variable(x)`` / ``constant(x)`` seed 1 / 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._ownership import writable_alone
from ._state import STATE
from .core import _NO_PARAMS, Wrapper, apply, compute, level_operator, operator_methods
from .rules import (
    MATH,
    MATH_ERRORS,
    MATH_FAST,
    MINUS_ONE,
    NUMPY,
    ONE,
    RULES,
    Elementwise,
    _np_matmul,
    backend_for,
    shape_of,
)

__all__ = ["Dual", "AutoDiff", "Basis", "Directions", "Scaled", "TangentForm", "variable",
           "variables", "constant"]


class TangentForm:
    """A tangent with structure (several directions kept apart, an identity left unwritten,
    a deferred scaling) that plain floats and arrays do not have.

    The jvp code treats every tangent alike and hands a primitive over to its operand's form
    when one has a form: the form says how an elementwise primitive (a local derivative
    times each tangent) and a structural one (the rule's jvp) act on it. Each form binds two
    functions (set below, once they are defined), called on the tangent itself:

    ``elementwise(rule, ops, values, tangents, out)``: the tangent of ``rule(*values)``,
    given every operand's tangent; ``structural(rule, values, tangents, out, params)``: the
    tangent of a structural primitive's result.
    """

    __slots__ = ()
    # plain functions (staticmethods), not methods: a jvp on a form costs no extra frame
    elementwise: Any = None
    structural: Any = None


class Directions(TangentForm):
    """k tangents carried side by side through one forward pass, any of them zero.

    ``parts[j]`` is the tangent along direction j: ``None`` when the value does not vary
    along it, else a float or an array that broadcasts to the value's shape (it may be
    smaller: the seed ``1.0`` of an array input stands for a tangent of ones). A dense
    batched tangent of shape ``(k, *shape)`` pays for all k directions at every operation;
    ``Directions`` pays only for the parts present. Seeding inputs ``x1, x2, x3`` along
    directions 0, 1, 2 (:func:`variables`) makes ``x1 * x3`` cost no tangent arithmetic at
    all: its parts are ``x3`` and ``x1`` themselves.

    Parts may share memory with values (``d(x1 * x3)/dx1`` *is* ``x3``): copy a part before
    writing into it.
    """

    __slots__ = ("parts",)

    def __init__(self, parts: Any) -> None:
        parts = tuple(parts)
        if not parts:
            raise ValueError("Directions needs at least one direction (got no parts)")
        self.parts = parts

    def __len__(self) -> int:
        return len(self.parts)

    def __repr__(self) -> str:
        return f"Directions({self.parts!r})"

    def part(self, j: int, shape: tuple[int, ...] = (), dtype: Any = np.float64) -> np.ndarray:
        """Direction ``j``'s tangent as an array of ``shape`` (zeros when absent)."""
        p = self.parts[j]
        if p is None:
            return np.zeros(shape, dtype=dtype)
        return np.broadcast_to(np.asarray(p, dtype=dtype), shape)

    def dense(self, shape: tuple[int, ...] = (), dtype: Any = np.float64) -> np.ndarray:
        """All directions as one array of shape ``(k, *shape)``."""
        out = np.zeros((len(self.parts),) + tuple(shape), dtype=dtype)
        for j, p in enumerate(self.parts):
            if p is not None:
                out[j] = p
        return out


class _Symbolic(TangentForm):
    """A batched tangent of a vector input's n directions kept symbolic (:class:`Basis`,
    :class:`Scaled`): elementwise functions scale it, a product with a constant matrix or
    vector absorbs it, anything else sees it written out (``dense()``)."""

    __slots__ = ()

    def scaled(self, d: Any) -> Scaled:
        """This tangent times the local derivative ``d`` (a float or an n-vector), deferred."""
        return Scaled(self, d)

    def times(self, m: Any) -> Any:
        """This tangent (directions, n) times ``m`` of shape (n,) or (n, p)."""
        raise NotImplementedError


class Basis(_Symbolic):
    """The identity basis of a vector of n values as a batched tangent: n directions,
    direction j the unit vector e_j, i.e. the dense tangent ``np.eye(n)``, left unwritten.

    It stays symbolic through ``W @ x`` (the tangent is then ``W.T`` itself: no product
    with the identity, no n x n identity in memory), through additions of constants, and
    through elementwise functions, which scale it (:class:`Scaled`); any other operation
    writes it out as ``np.eye(n)`` first. :func:`bobodiff.jacfwd` seeds vector inputs with
    it.
    """

    __slots__ = ("n", "dtype")

    def __init__(self, n: int, dtype: Any = np.float64) -> None:
        if n < 1:
            raise ValueError(f"Basis needs n >= 1 directions (got n={n})")
        self.n = int(n)
        self.dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        """The shape of the dense tangent: (directions, n)."""
        return (self.n, self.n)

    def dense(self) -> np.ndarray:
        """The basis written out: ``np.eye(n)``."""
        return np.eye(self.n, dtype=self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.dense() if dtype is None else self.dense().astype(dtype)

    def times(self, m: Any) -> Any:
        return _product(_read_only(m))  # the identity times m is m

    def __repr__(self) -> str:
        return f"Basis(n={self.n}, dtype={self.dtype.name})"


class Scaled(_Symbolic):
    """A batched tangent ``base * scale`` (directions first, ``scale`` along the value's
    axis) whose product is deferred.

    An elementwise operation on a vector multiplies each direction's tangent by the same
    local derivative, a diagonal matrix: over n directions that is an n x n product. Kept
    apart, a following ``w @ h`` costs ``base @ (scale * w)`` (O(n) for the scaling instead
    of O(n^2)), a further elementwise operation multiplies the O(n) scale only, and
    anything else writes the product out once (:meth:`dense`). ``Dual.tangent`` never
    shows it: it is written out there.
    """

    __slots__ = ("base", "scale", "_dense")

    def __init__(self, base: Any, scale: Any) -> None:
        self.base = base  # a Basis, or a 2-D array (directions, n), maybe traced
        self.scale = scale  # a float, or a vector of shape (n,), maybe traced
        self._dense = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the dense tangent: (directions, n)."""
        return self.base.shape

    def dense(self) -> np.ndarray:
        """``base * scale`` written out (once)."""
        if self._dense is None:
            base, scale = self.base, self.scale
            if type(scale) is float and scale == 1.0:
                self._dense = base.dense() if type(base) in _SYMBOLIC else base
            elif type(base) is Basis:
                eye = base.dense()
                self._dense = np.diag(scale.astype(np.result_type(scale, eye), copy=False)) \
                    if type(scale) is np.ndarray else eye * scale
            else:
                self._dense = base * scale
        return self._dense

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.dense() if dtype is None else self.dense().astype(dtype)

    def scaled(self, d: Any) -> Scaled:
        return Scaled(self.base, self.scale * d)

    def times(self, m: Any) -> Any:
        m = _scale_rows(m, self.scale)
        base = self.base
        if type(base) in _SYMBOLIC:
            return base.times(m)
        return _product(_np_matmul(base, m) if type(m) is np.ndarray and type(base) is np.ndarray
                        else base @ m)

    def __repr__(self) -> str:
        return f"Scaled(base={self.base!r}, scale={self.scale!r})"


_FORMS = frozenset({Directions, Basis, Scaled})
_SYMBOLIC = frozenset({Basis, Scaled})


def _dense_bases(tangents: list) -> list:
    """Tangents with every Basis / Scaled written out."""
    return [t.dense() if type(t) in _SYMBOLIC else t for t in tangents]


def _scale_rows(m: Any, s: Any) -> Any:
    """diag(s) @ m for m of shape (n,) or (n, p) (s: a float or a vector, maybe traced)."""
    if type(s) is float:
        return m if s == 1.0 else m * s
    if len(shape_of(m)) == 1:
        return m * s
    return m * s.reshape((-1, 1))


def _product(r: Any) -> Any:
    """A symbolic tangent's product with a matrix or vector: a matrix result keeps the
    deferral going (an elementwise op after it only scales it)."""
    return Scaled(r, 1.0) if len(shape_of(r)) == 2 else r


def _ndim(x: Any) -> int:
    t = type(x)
    if t is np.ndarray:
        return x.ndim
    if t is float or t is int or t is np.float64:
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

    __slots__ = ("value", "_tangent", "_level")
    _values_hint = "its .value"

    def __init__(self, value: Any, tangent: Any = 0.0) -> None:
        if type(value) is int:
            value = float(value)
        if type(tangent) is int:
            tangent = float(tangent)
        self.value = value
        self._tangent = tangent
        self._level = STATE.depth

    @classmethod
    def _make(cls, value: Any, tangent: Any, level: int) -> Dual:
        d = cls.__new__(cls)
        d.value = value
        d._tangent = tangent
        d._level = level
        return d

    def _primal(self) -> Any:
        return self.value

    @property
    def tangent(self) -> Any:
        """The tangent: a float, an array (with a leading axis of directions when batched)
        or :class:`Directions`. A :class:`Basis` or a deferred scaling (see
        :class:`Scaled`) is written out as an array here."""
        t = self._tangent
        if type(t) in _SYMBOLIC:
            t = t.dense()
            if type(t) is np.ndarray and not t.flags.writeable:  # a view of an operand
                t = t.copy()
            self._tangent = t
        return t

    @tangent.setter
    def tangent(self, t: Any) -> None:
        self._tangent = t

    # -- the engine ------------------------------------------------------------------
    @classmethod
    def _apply(cls, rule: Any, args: tuple[Any, ...], params: dict[str, Any], level: int) -> Dual:
        values = []
        tangents = []
        for a in args:
            if type(a) is Dual and a._level == level:
                values.append(a.value)
                tangents.append(a._tangent)
            else:  # a constant at this level (plain value or an outer transformation's)
                values.append(a)
                tangents.append(None)
        values_t = tuple(values)
        ops = backend_for(values_t)
        try:
            out = getattr(ops, rule.name)(*values_t, **params)
        except ValueError:
            out = compute(rule, values_t, params)  # raises, naming the shapes
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

    # The operators (+ - * / ** @) are made by _install_operators (at the end): a fast path for
    # operands of this level (Duals or plain numbers), from the rule entries.


def _structural_operator(rule: Any, method: str, reflected: bool) -> Any:
    """``Dual.<method>`` for a binary structural rule (``@``): a Dual over an array with a
    plain array goes straight to NumPy and the rule's jvp."""
    np_fn = getattr(NUMPY, rule.name)
    if reflected:
        def op(self: Dual, other: Any) -> Dual:
            if type(other) is np.ndarray and type(self.value) is np.ndarray:
                return _with_array(rule, np_fn, other, self, self._level)
            return apply(rule, (other, self))
    else:
        def op(self: Dual, other: Any) -> Dual:
            if type(other) is np.ndarray and type(self.value) is np.ndarray:
                return _with_array(rule, np_fn, self, other, self._level)
            return apply(rule, (self, other))
    return op


def _with_array(rule: Any, np_fn: Any, a: Any, b: Any, level: int) -> Dual:
    """``rule`` of ``a`` and ``b``, one a Dual of this level over an array and the other a
    plain array: the primal by ``np_fn``, the tangent by the rule's jvp."""
    if type(a) is Dual:
        x0, x1, ts = a.value, b, [a._tangent, None]
    else:
        x0, x1, ts = a, b.value, [None, b._tangent]
    try:
        out = np_fn(x0, x1)
    except ValueError:
        out = compute(rule, (x0, x1))  # raises, naming the shapes
    return Dual._make(out, _structural_jvp(rule, [x0, x1], ts, out, _NO_PARAMS), level)


def _install_operators() -> None:
    for rule in RULES.values():
        if rule.arity != 2 or not rule.methods:
            continue
        for method, reflected in operator_methods(rule):
            fn = (level_operator(rule, reflected, _same_level, _binary)
                  if type(rule) is Elementwise else _structural_operator(rule, method, reflected))
            fn.__name__, fn.__qualname__ = method, f"Dual.{method}"
            setattr(Dual, method, fn)


def _same_level(d: Dual, other: Any) -> bool:
    k = type(other)
    return k is float or k is int or k is np.ndarray or (k is Dual and other._level == d._level)


_NUMBER = (float, int)
# the binary operators on floats
_MATH_OF = {rule.name: getattr(MATH, rule.name) for rule in RULES.values()
            if type(rule) is Elementwise and rule.arity == 2 and rule.methods}


def _binary(rule: Any, a: Any, b: Any, level: int) -> Dual:
    """``rule`` on two operands of one level: straight to ``math`` on floats."""
    if type(a) is Dual:
        x0, t0 = a.value, a._tangent
    else:
        x0, t0 = a, None
    if type(b) is Dual:
        x1, t1 = b.value, b._tangent
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
        try:
            out = getattr(ops, rule.name)(x0, x1)
        except ValueError:
            out = compute(rule, (x0, x1))  # raises, naming the shapes
    return Dual._make(out, _elementwise_jvp(rule, ops, [x0, x1], [t0, t1], out), level)


def unary(rule: Any, math_fn: Any, x: Dual) -> Dual:
    """An elementwise ``rule`` on one Dual; ``math_fn`` computes it on a float."""
    x0 = x.value
    if type(x0) is float:
        try:  # math's own functions: MATH_ERRORS where NumPy gives nan/inf (sin(inf))
            out = math_fn(x0)
            t = x._tangent
            if type(t) is float:  # all floats
                p = rule.partials[0](MATH_FAST, x0, out)
                return Dual._make(out, t if p is ONE else (-t if p is MINUS_ONE else p * t),
                                  x._level)
        except MATH_ERRORS:  # NumPy's answer, through MATH
            out = getattr(MATH, rule.name)(x0)
        ops = MATH
    else:
        ops = backend_for((x0,))
        out = getattr(ops, rule.name)(x0)
    return Dual._make(out, _elementwise_jvp(rule, ops, [x0], [x._tangent], out), x._level)


AutoDiff = Dual
"""The report's name for :class:`Dual`."""


def _elementwise_jvp(rule: Elementwise, ops: Any, values: list, tangents: list, out: Any) -> Any:
    """Sum over arguments of (local derivative) x (argument tangent)."""
    total = None
    out_ndim = -1
    for i, t in enumerate(tangents):
        if t is None:
            continue
        tt = type(t)
        if tt in _FORMS:  # the tangent's form says how (TangentForm)
            return t.elementwise(rule, ops, values, tangents, out)
        d = rule.partials[i](ops, *values, out)
        if tt is np.ndarray:
            v = values[i]
            v_ndim = v.ndim if type(v) is np.ndarray else _ndim(v)
            if t.ndim == v_ndim + 1:  # batched: align the directions axis
                if out_ndim < 0:
                    out_ndim = _ndim(out)
                t = _align(t, v_ndim, out_ndim)
        elif tt is not float and _is_batched(t, values[i]):
            if out_ndim < 0:
                out_ndim = _ndim(out)
            t = _align(t, _ndim(values[i]), out_ndim)
        term = t if d is ONE else (-t if d is MINUS_ONE else d * t)
        total = term if total is None else total + term
    if total is None:
        return 0.0
    if type(total) is np.ndarray and type(out) is np.ndarray:  # the common array case
        s, target = total.shape, out.shape
        if s == target or (len(s) == len(target) + 1 and s[1:] == target):
            return total
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
    # The common case first: arrays only, each tangent of its value's shape (or with one
    # leading axis of directions, the same for all).
    ts = []
    batched = None
    for t, v in zip(tangents, values):
        if t is None:
            ts.append(None)
            continue
        if type(t) is not np.ndarray or type(v) is not np.ndarray:
            break
        if t.shape == v.shape:
            b = False
        elif t.ndim == v.ndim + 1 and t.shape[1:] == v.shape:
            b = True
        else:
            break
        if batched is None:
            batched = b
        elif b is not batched:
            break
        ts.append(t)
    else:
        if batched is None:
            return 0.0
        return rule.jvp(NUMPY, ts, tuple(values), out, params, batched)
    for t in tangents:
        if type(t) in _FORMS:  # the tangent's form says how (TangentForm)
            return t.structural(rule, values, tangents, out, params)
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


def _symbolic_elementwise_jvp(rule: Elementwise, ops: Any, values: list, tangents: list,
                              out: Any) -> Any:
    """One vector operand with a Basis / Scaled tangent, a vector result: a local derivative
    of one passes the tangent through, a vector (or float) of them scales it (deferred, see
    :class:`Scaled`). Anything else sees the tangent written out."""
    present = [i for i, t in enumerate(tangents) if t is not None]
    if len(present) == 1:
        i = present[0]
        t = tangents[i]
        n = t.shape[-1]
        if shape_of(out) == (n,) and shape_of(values[i]) == (n,):
            d = rule.partials[i](ops, *values, out)
            if d is ONE:
                return t
            if d is MINUS_ONE:
                d = -1.0
            if type(d) is float or shape_of(d) == (n,) and (
                    type(d) is np.ndarray or getattr(d, "_is_bobodiff_wrapper", False)):
                return t.scaled(d)
    return _elementwise_jvp(rule, ops, values, _dense_bases(tangents), out)


def _symbolic_structural_jvp(rule: Any, values: list, tangents: list, out: Any,
                             params: dict) -> Any:
    """A structural rule whose tangent, with one argument constant, is the other's tangent
    times a constant M (``W @ x``: its ``tangent_map``): the structured tangent multiplies
    by M itself (``times``), skipping the identity and putting scalings onto M. Other
    structural rules see the tangent written out."""
    if rule.tangent_map is not None:
        # the arguments that vary: a tangent that is neither absent nor a plain zero
        live = [i for i, t in enumerate(tangents)
                if t is not None and not (type(t) is float and t == 0.0)]
        if len(live) == 1 and type(tangents[live[0]]) in _SYMBOLIC:
            m = rule.tangent_map(values, live[0])
            if m is not None:
                return tangents[live[0]].times(m)
    return _structural_jvp(rule, values, _dense_bases(tangents), out, params)


def _read_only(x: Any) -> Any:
    """A read-only view of an operand used as a tangent, so that writing into a result
    that is a view of the user's array fails instead of changing that array."""
    if type(x) is np.ndarray:
        x = x.view()
        x.flags.writeable = False
    return x


def _directions_count(tangents: list) -> int:
    """k of the Directions among ``tangents``; other tangents must be plain zeros."""
    k = -1
    for t in tangents:
        if t is None:
            continue
        if type(t) is Directions:
            if k >= 0 and len(t.parts) != k:
                raise ValueError(f"operands carry {k} and {len(t.parts)} Directions; one pass "
                                 "needs the same number of directions everywhere")
            k = len(t.parts)
        elif not (type(t) in _NUMBER and t == 0):
            raise TypeError(f"an operand's tangent is Directions and another's is a "
                            f"{type(t).__name__}: seed every input of the pass with Directions "
                            "(see bobodiff.variables) or with plain tangents, not both")
    return k


def _scaled(d: Any, p: Any) -> Any:
    """``d * p`` for a local derivative ``d`` and a tangent part ``p``, skipping the product
    when either is a unit."""
    if d is ONE:
        return p
    if d is MINUS_ONE:
        return -p
    if type(p) is float:
        if p == 1.0:
            return d
        if p == -1.0:
            return -d
    return d * p


def _sparse_elementwise_jvp(rule: Elementwise, ops: Any, values: list, tangents: list,
                            out: Any) -> Directions:
    """The elementwise jvp part by part; a local derivative is computed only when an
    argument has some direction present. Arrays made here (products, and a local
    derivative no one else holds) are reused in place for the products and sums that
    follow, which saves an allocation per reuse on large arrays."""
    parts: list[Any] = [None] * _directions_count(tangents)
    mine: set[int] = set()  # ids of the arrays in ``parts`` that this call made
    for i, t in enumerate(tangents):
        if type(t) is not Directions:
            continue
        present = [j for j, p in enumerate(t.parts) if p is not None]
        if not present:
            continue
        d = rule.partials[i](ops, *values, out)
        # a fresh local derivative (not an argument, not ``out``, not a view of anything)
        # used for one direction only: multiply into it
        private = len(present) == 1 and writable_alone(d, 1)  # the name ``d``
        for j in present:
            p = t.parts[j]
            if private and _fits(d, p):
                term = np.multiply(d, p, out=d) if not _is_unit(p) else _scaled(d, p)
                fresh = True
            else:
                term = _scaled(d, p)
                fresh = term is not d and term is not p and type(term) is np.ndarray
            acc = parts[j]
            if acc is None:
                parts[j] = term
            elif id(acc) in mine and _fits(acc, term):
                np.add(acc, term, out=acc)
                continue
            elif fresh and _fits(term, acc):
                parts[j] = np.add(term, acc, out=term)
            else:
                parts[j] = acc + term
                fresh = True
            # ``mine``: the arrays in ``parts`` made here, each held by one part only
            if acc is not None:
                mine.discard(id(acc))
            if fresh:
                mine.add(id(parts[j]))
            else:
                mine.discard(id(parts[j]))
    return Directions(parts)


def _is_unit(p: Any) -> bool:
    return type(p) is float and (p == 1.0 or p == -1.0)


def _fits(buffer: np.ndarray, other: Any) -> bool:
    """True when ``buffer op other`` can be written into ``buffer`` (same shape and dtype)."""
    if type(buffer) is not np.ndarray:
        return False
    k = type(other)
    if k is float or k is int:
        return buffer.dtype.kind == "f"
    return k is np.ndarray and other.dtype == buffer.dtype and (
        other.shape == buffer.shape or np.broadcast_shapes(other.shape, buffer.shape)
        == buffer.shape)


def _sparse_structural_jvp(rule: Any, values: list, tangents: list, out: Any,
                           params: dict) -> Directions:
    """A structural rule's jvp applied direction by direction (each part is unbatched)."""
    parts = []
    for j in range(_directions_count(tangents)):
        ts = [t.parts[j] if type(t) is Directions else None for t in tangents]
        if all(t is None for t in ts):
            parts.append(None)
            continue
        parts.append(_structural_jvp(rule, values, ts, out, params))
    return Directions(parts)


Directions.elementwise = staticmethod(_sparse_elementwise_jvp)
Directions.structural = staticmethod(_sparse_structural_jvp)
_Symbolic.elementwise = staticmethod(_symbolic_elementwise_jvp)
_Symbolic.structural = staticmethod(_symbolic_structural_jvp)


def _full_shape(ops: Any, t: Any, value: Any, batched: bool) -> Any:
    target = shape_of(value)
    if batched:
        target = shape_of(t)[:1] + target
    if type(t) is float and type(value) is not float and ops is NUMPY:
        # a Python float seeds (or stands for) a tangent of the value's kind: float32 stays
        t = np.asarray(t, dtype=np.result_type(value, t))
    return t if shape_of(t) == target else ops.broadcast_to(t, target)


def variable(x: Any) -> Dual:
    """A Dual to differentiate with respect to: tangent 1 for a float, the identity basis
    (a leading axis of ``x.size`` directions) for an array."""
    if isinstance(x, np.ndarray):
        x = x if x.dtype.kind == "f" else x.astype(np.float64)
        basis = np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape)
        return Dual(x, basis)
    return Dual(float(x), 1.0)


def variables(*xs: Any) -> tuple[Dual, ...]:
    """Duals for several inputs, input i seeded along direction i of ``len(xs)``
    (:class:`Directions`): one pass gives the derivative along each input, and the work per
    operation follows the inputs it depends on, not ``len(xs)``.

    ``x1, x2, x3 = variables(a, b, c)``; ``f(x1, x2, x3).tangent.parts`` are then
    ``(df/da, df/db, df/dc)`` (each ``None`` when f does not depend on that input).
    """
    if not xs:
        raise ValueError("variables() needs at least one input")
    k = len(xs)
    duals = []
    for i, x in enumerate(xs):
        if isinstance(x, np.ndarray):
            x = x if x.dtype.kind == "f" else x.astype(np.float64)
        elif type(x) is int:
            x = float(x)
        parts = [None] * k
        parts[i] = 1.0
        duals.append(Dual(x, Directions(parts)))
    return tuple(duals)


def constant(x: Any) -> Dual:
    """A Dual held constant: tangent 0."""
    if isinstance(x, np.ndarray):
        return Dual(x, np.zeros_like(x, dtype=np.result_type(x, 1.0)))
    return Dual(float(x), 0.0)


_install_operators()
