"""Reverse mode: a Tensor records the operations that made it; ``backward()`` walks them back.

Each operation on a :class:`Tensor` that needs a gradient makes a new node holding its
parents, the primitive's rule (from :mod:`bobodiff.rules`) and the inputs the rule needs.
``backward()`` counts each node's consumers with an explicit stack (no Python recursion, so
million-node graphs are fine), walks the graph from the output back to the leaves, taking a
node once all its consumers are done and multiplying gradients by the rules' local
derivatives, accumulates into the leaves' ``.grad``, and frees each node as soon as it is
done (unless ``retain_graph=True``).

A node refers to its parents, never the other way round, and holds no closure: the graph
has no reference cycles, so reference counting frees it without the cyclic collector.

``Tensor`` over Python floats is the report's "one graph node per scalar" design and never
touches NumPy; over arrays it is a vectorized engine with broadcasting.

Floats take a fast path: an operation on float Tensors computes its local derivatives at
once (they are floats too, and for ``+``, ``-`` and ``*`` they are free: 1, -1 or the other
operand), so backward only multiplies the incoming gradient by them. Arrays keep the
arguments instead and ask the rule for the derivatives during backward.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ._ownership import writable_alone
from ._state import STATE, recording

# (apply: called by the operators generated below)
from .core import Wrapper, apply, compute, level_operator, operator_methods  # noqa: F401
from .rules import (
    MATH,
    MATH_ERRORS,  # noqa: F401  (the generated unary's)
    MATH_FAST,  # noqa: F401  (the generated unary's)
    MINUS_ONE,
    ONE,
    RULES,
    Elementwise,
    backend_for,
    shape_of,
    unbroadcast,
)

__all__ = ["Tensor", "no_grad", "enable_grad", "is_grad_enabled", "gc_paused"]

# NumPy's module-level __getattr__ keeps CPython 3.11 from specializing `np.<name>` loads
# (each is a lookup through the module's getattr); a global of this module is specialized.
# The type tests run per node and per leaf use it.
_ndarray = np.ndarray



class _Freed:
    """Marks a node whose graph was released by backward()."""

    name = "<freed>"


_FREED = _Freed()


class _OnFloats:
    """Marks a node on floats: its local derivatives are in ``_saved0`` and ``_saved1``."""

    name = "<float>"


_ON_FLOATS = _OnFloats()


def _as_data(data: Any) -> Any:
    t = type(data)
    if t is float or t is np.ndarray and data.dtype.kind == "f":
        return data
    if t is int or t is bool:
        return float(data)
    if getattr(data, "_is_bobodiff_wrapper", False) or isinstance(data, float | np.floating):
        return data
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.dtype.kind not in "biuf":
        raise TypeError(f"Tensor data must be a float or a numeric array, not a "
                        f"{type(data).__name__}: {data!r:.80}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return arr


class Tensor(Wrapper):
    """A value (Python float or NumPy array) that records operations for reverse mode.

    ``Tensor(data, requires_grad=True)``: as in the report, tracking is on by default.
    After ``y.backward()``, each leaf that requires a gradient holds dy/dleaf in ``.grad``
    (gradients accumulate across calls until :meth:`zero_grad`). Intermediate tensors
    do not keep ``.grad``.
    """

    # One node = one Tensor object: its parents, what backward needs from each argument
    # and the count of its consumers live in slots (every primitive has one or two
    # arguments), so a node is a single, small object. A leaf sets only the first five.
    __slots__ = ("data", "grad", "requires_grad", "_level", "_rule", "_p0", "_p1", "_saved0",
                 "_saved1", "_params", "_pending", "_stamp", "__weakref__")
    # data:     the value (a float, an array, or a Tensor / Dual of an outer level)
    # grad:     a leaf's accumulated gradient; during backward, a node's gradient so far
    # _rule:    None for a leaf, _ON_FLOATS for a node on floats, else the primitive's rule
    #           (_FREED once backward has released the node)
    # _p0/_p1:  the arguments that need a gradient (None: a constant, or no second argument)
    # _saved0/_saved1: what backward needs from each argument: on floats its local
    #           derivative, else its value (the rule computes the derivative from it)
    # _params:  the rule's parameters (axis, shape, ...), for nodes with a rule
    # _pending: consumers not yet processed, during backward
    # _stamp:   a leaf over an array: (that array, its fingerprint) when a node last saved
    #           it (see _fingerprint); unset on every other Tensor

    _values_hint = "its .data or .numpy()"

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        self.data = data if type(data) is float else _as_data(data)
        self.grad: Any = None
        self.requires_grad = True if requires_grad else False
        self._level = STATE.depth
        self._rule: Any = None
        self._stamp: Any = None  # set here: reading an empty slot raises (a formatted error)

    def _primal(self) -> Any:
        return self.data

    # -- the engine ------------------------------------------------------------------
    @classmethod
    def _apply(
        cls, rule: Any, args: tuple[Any, ...], params: dict[str, Any], level: int
    ) -> Tensor:
        enabled = STATE.grad_enabled or level > STATE.no_grad_depth
        a = args[0]
        if type(a) is Tensor and a._level == level:
            x0 = a.data
            p0 = a if enabled and a.requires_grad else None
        else:  # a constant at this level
            x0, p0 = a, None
        if len(args) == 2:
            b = args[1]
            if type(b) is Tensor and b._level == level:
                x1 = b.data
                p1 = b if enabled and b.requires_grad else None
            else:
                x1, p1 = b, None
            out = compute(rule, (x0, x1), params)
        else:
            x1 = p1 = None
            out = compute(rule, (x0,), params)
        return _node(out, level, rule, p0, p1, x0, x1, params)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an operation."""
        return self._rule is None

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is the gradient flowing into ``self`` (required when ``self`` is not a
        scalar). The graph is freed afterwards unless ``retain_graph=True``.
        """
        if grad is None and type(self.data) is float:
            grad = 1.0
        elif grad is None:
            shape = shape_of(self.data)
            if shape != ():
                raise RuntimeError(
                    f"backward() without a grad argument needs a scalar output, but this "
                    f"tensor has shape {shape}; call .sum() first or pass grad= of that shape"
                )
            grad = _ones_like(self.data)
        elif shape_of(grad) != shape_of(self.data):
            raise ValueError(
                f"backward(grad=...): grad has shape {shape_of(grad)} but the tensor has "
                f"shape {shape_of(self.data)}"
            )
        elif isinstance(grad, np.ndarray):
            grad = grad.copy()  # the caller's array is never kept as a .grad (as torch)
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (made under no_grad(), "
                "or from inputs with requires_grad=False)"
            )
        backprop(self, grad, retain_graph)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data, requires_grad=False)

    def item(self) -> float:
        return float(self.data)

    def numpy(self) -> Any:
        return np.asarray(self.data)

    # -- operators -------------------------------------------------------------------
    # Made by _install_operators (below the class), from the rule entries: on floats,
    # + - * and unary minus build their node inline, with local derivatives read off the
    # rule table, and so does ** for an int exponent (x ** 2); the others go straight to
    # _binary for operands of this level.

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({self.data!r}{grad})"


_NO_PARAMS: dict[str, Any] = {}


def _same_level(t: Tensor, other: Any) -> bool:
    """True when ``other`` is a plain number or a Tensor of ``t``'s level (the fast path)."""
    k = type(other)
    return k is float or k is int or (k is Tensor and other._level == t._level)


# the binary operators on floats
_MATH_OF = {rule.name: getattr(MATH, rule.name) for rule in RULES.values()
            if type(rule) is Elementwise and rule.arity == 2 and rule.methods}
_NUMBER = (float, int)


def _binary(rule: Any, a: Any, b: Any, level: int) -> Tensor:
    """``rule`` on two operands of one level (Tensors or plain numbers): the operators'
    fast path, which skips dispatch and goes straight to ``math`` on floats."""
    enabled = STATE.grad_enabled or level > STATE.no_grad_depth
    if type(a) is Tensor:
        x0 = a.data
        p0 = a if enabled and a.requires_grad else None
    else:
        x0, p0 = a, None
    if type(b) is Tensor:
        x1 = b.data
        p1 = b if enabled and b.requires_grad else None
    else:
        x1, p1 = b, None
    if type(x0) in _NUMBER and type(x1) in _NUMBER:
        out = _MATH_OF[rule.name](x0, x1)
        if type(out) is float:  # a node on floats: ask the rule for its derivatives now
            if p0 is None and p1 is None:
                return _float_constant(out, level)
            partials = rule.partials
            d0 = _local(partials[0](MATH, x0, x1, out)) if p0 is not None else None
            d1 = _local(partials[1](MATH, x0, x1, out)) if p1 is not None else None
            return _float_node(out, level, p0, p1, d0, d1)
    else:
        out = compute(rule, (x0, x1), _NO_PARAMS)
    return _node(out, level, rule, p0, p1, x0, x1, _NO_PARAMS)


def _local(d: Any) -> Any:
    """A local derivative as a number: the rules' markers ONE and MINUS_ONE become floats."""
    return 1.0 if d is ONE else (-1.0 if d is MINUS_ONE else d)


def _ones_like(x: Any) -> Any:
    t = type(x)
    if t is float:
        return 1.0
    if t is np.ndarray:
        return np.ones_like(x)
    if isinstance(x, np.floating):
        return type(x)(1.0)
    return 1.0  # a nested Dual/Tensor output: a plain 1 seeds it


_new_tensor = Tensor.__new__


def _float_constant(out: float, level: int) -> Tensor:
    """A Tensor holding ``out`` that records nothing (no argument needs a gradient)."""
    t = _new_tensor(Tensor)
    t.data = out
    t.grad = None
    t.requires_grad = False
    t._level = level
    t._rule = None
    return t


# -- the float fast path, generated ----------------------------------------------------
# Scalar graphs (the report's design) spend their time making float nodes. A Python call
# costs as much as all the stores of a node together, so the operators and unary functions
# build their nodes inline. That code is written once, here, and generated per operator;
# the local derivatives come from the rule table (1.0, -1.0 or an operand).

_FLOAT_NODE = """\
t = _new_tensor(Tensor)
t.data = {out}
t.grad = None
t.requires_grad = True
t._level = {level}
t._rule = _ON_FLOATS
t._p0 = {p0}
t._p1 = {p1}
t._saved0 = {d0}
t._saved1 = {d1}
t._pending = 0
return t"""

_RECORDING = "(STATE.grad_enabled or {level} > STATE.no_grad_depth)"


def _indent(code: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in code.splitlines())


def _make(name: str, source: str, rule: Any = None) -> Any:
    """The function ``name`` defined by ``source``, with this module as its globals (and
    ``rule`` for the rule it computes: a closure's cell, as fast as a local)."""
    made: dict[str, Any] = {}
    source = "def _outer(rule):\n" + _indent(source, 4) + f"    return {name}\n"
    exec(compile(source, f"<bobodiff.reverse {name}>", "exec"), globals(), made)  # noqa: S102
    return made["_outer"](rule)


class _Symbol:
    """Stands for an operand when a rule's local derivative is read off symbolically."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Written:
    """A backend that writes what a rule computes as Python text, through the operators'
    infix forms (``o.mul(y, o.pow(x, o.sub(y, 1.0)))`` is ``y * (x ** (y - 1.0))``)."""

    def __getattr__(self, name: str) -> Any:
        rule = RULES.get(name)
        if rule is None or not rule.infix:
            raise AttributeError(name)  # not an operator: nothing to write inline

        def written(*operands: Any) -> _Symbol:
            texts = [repr(o) if not isinstance(o, _Symbol)
                     else o.text if o.text.isidentifier() else f"({o.text})" for o in operands]
            return _Symbol(rule.infix.format(*texts))

        return written


def _symbolic_partial(rule: Elementwise, i: int, operands: dict[str, str],
                      ops: Any = None) -> str | None:
    """The local derivative ``i`` of a rule as Python text over the names in
    ``operands`` (x, y, out), when it is a constant or an operand, or (with ``ops`` a
    :class:`_Written`) an expression of operators; None otherwise."""
    symbols = {role: _Symbol(text) for role, text in operands.items()}
    try:
        d = rule.partials[i](ops, *(symbols[r] for r in ("x", "y")[: rule.arity]),
                             symbols["out"])
    except AttributeError:  # it computes something: no inline fast path
        return None
    if d is ONE or d is MINUS_ONE:
        return "1.0" if d is ONE else "-1.0"
    return d.text if isinstance(d, _Symbol) else None


def _float_operator(rule: Elementwise, method: str, reflected: bool) -> str | None:
    """The source of ``Tensor.<method>``: ``self <op> other`` (``other <op> self`` when
    ``reflected``), with the float fast path inline and the general route after it; None
    when the rule's local derivatives are not constants or operands (``/``, ``**``)."""
    x, y = ("y", "x") if reflected else ("x", "y")  # the rule's x and y, by our names
    out = rule.infix.format(x, y)
    mine, theirs = (1, 0) if reflected else (0, 1)
    roles = {"x": x, "y": y, "out": "out"}
    d_self = _symbolic_partial(rule, mine, roles)
    d_other = _symbolic_partial(rule, theirs, roles)
    if not rule.infix or d_self is None or d_other is None:
        return None
    level = "self._level"
    with_number = _FLOAT_NODE.format(out=out, level=level, p0="self", p1="None",
                                     d0=d_self, d1="None")
    with_tensor = _FLOAT_NODE.format(
        out=out, level=level, p0="self if self.requires_grad else None",
        p1="other if other.requires_grad else None", d0=d_self, d1=d_other)
    recording = _RECORDING.format(level=level)
    args = "other, self" if reflected else "self, other"
    source = [f"def {method}(self, other):", "    x = self.data", "    if type(x) is float:",
              "        k = type(other)", "        if k is float or k is int:",
              "            y = other", f"            if self.requires_grad and {recording}:",
              _indent(with_number, 16).rstrip("\n"),
              f"            return _float_constant({out}, self._level)"]
    if not reflected:  # Python calls the reflected method only for a non-Tensor other
        source += ["        if (k is Tensor and type(other.data) is float",
                   "                and other._level == self._level):",
                   "            y = other.data",
                   f"            if {recording} and (self.requires_grad or other.requires_grad):",
                   _indent(with_tensor, 16).rstrip("\n"),
                   f"            return _float_constant({out}, self._level)"]
    return "\n".join(source + _general_route(args)) + "\n"


def _general_route(args: str) -> list[str]:
    """A generated operator's last lines: ``_binary`` for operands of one level, else
    ``apply``; ``args`` are the operands in the rule's order (``"self, other"``)."""
    return ["    if _same_level(self, other):",
            f"        return _binary(rule, {args}, self._level)",
            f"    return apply(rule, ({args},))"]


def _integral_operator(rule: Elementwise, method: str) -> str | None:
    """The source of ``Tensor.<method>`` for an operator whose infix form is its primal on
    floats for an integral operand only (``**``): ``self <op> n`` for a Python int ``n``
    inline, with its local derivative written from the rule; the general route after it.
    An integer power of a float is never complex; it fails only on overflow or 0.0 ** -n,
    which the general route answers as NumPy does (inf and a warning)."""
    roles = {"x": "x", "y": "other", "out": "out"}
    d_self = _symbolic_partial(rule, 0, roles, _Written())
    if d_self is None:
        return None
    level = "self._level"
    node = _FLOAT_NODE.format(out="out", level=level, p0="self", p1="None", d0=d_self,
                              d1="None")
    return "\n".join([
        f"def {method}(self, other):", "    x = self.data",
        "    if type(x) is float and type(other) is int:", "        try:",
        f"            out = {rule.infix.format('x', 'other')}",
        f"            if self.requires_grad and {_RECORDING.format(level=level)}:",
        _indent(node, 16).rstrip("\n"),
        "            return _float_constant(out, self._level)",
        "        except (OverflowError, ZeroDivisionError):", "            pass",
        *_general_route("self, other")]) + "\n"


def _unary_operator(rule: Elementwise, method: str) -> Any:
    """A unary operator (unary minus) with its float node inline."""
    d = _symbolic_partial(rule, 0, {"x": "x", "out": "out"})
    level = "self._level"
    out = rule.infix.format("x")
    return _make(method, f"def {method}(self):\n    x = self.data\n    if type(x) is float:\n"
                 f"        if self.requires_grad and {_RECORDING.format(level=level)}:\n"
                 + _indent(_FLOAT_NODE.format(out=out, level=level, p0="self", p1="None",
                                              d0=d, d1="None"), 12)
                 + f"        return _float_constant({out}, self._level)\n"
                 "    return apply(rule, (self,))\n", rule)


def _install_operators() -> None:
    """Give Tensor its operators from the rule entries (``@`` and ``abs`` are Wrapper's),
    all with the float fast path made from the one node template above."""
    for rule in RULES.values():
        if type(rule) is not Elementwise or not rule.methods:
            continue
        for method, reflected in operator_methods(rule):
            if rule.arity == 1:
                fn = _unary_operator(rule, method) if rule.infix else None
            else:
                source = _float_operator(rule, method, reflected)
                if source is None and rule.infix_integral_only and not reflected:
                    source = _integral_operator(rule, method)
                fn = (_make(method, source, rule) if source is not None
                      else level_operator(rule, reflected, _same_level, _binary))
            if fn is not None:
                fn.__name__, fn.__qualname__ = method, f"Tensor.{method}"
                setattr(Tensor, method, fn)


_install_operators()

_float_node = _make("_float_node", """\
def _float_node(out, level, p0, p1, d0, d1):
    \"\"\"A node holding the float ``out``, made from the arguments ``p0`` and ``p1`` (None:
    a constant) whose local derivatives are the numbers ``d0`` and ``d1``.\"\"\"
""" + _indent(_FLOAT_NODE.format(out="out", level="level", p0="p0", p1="p1", d0="d0", d1="d1"),
              4))

unary = _make("unary", f"""\
def unary(rule, math_fn, x):
    \"\"\"An elementwise ``rule`` on one Tensor; ``math_fn`` computes it on a float.\"\"\"
    x0 = x.data
    if type(x0) is float:
        try:  # math's own functions: MATH_ERRORS where NumPy gives nan/inf (sin(inf))
            out = math_fn(x0)
            if x.requires_grad and {_RECORDING.format(level="x._level")}:
                d = rule.partials[0](MATH_FAST, x0, out)
                d = d if type(d) is float else _local(d)
""" + _indent(_FLOAT_NODE.format(out="out", level="x._level", p0="x", p1="None", d0="d",
                                 d1="None"), 16) + f"""\
            return _float_constant(out, x._level)
        except MATH_ERRORS:
            pass  # the general route computes NumPy's answer through MATH
    out = compute(rule, (x0,), _NO_PARAMS)
    p0 = x if x.requires_grad and {_RECORDING.format(level="x._level")} else None
    return _node(out, x._level, rule, p0, None, x0, None, _NO_PARAMS)
""")


def _node(out: Any, level: int, rule: Any, p0: Any, p1: Any, x0: Any, x1: Any,
          params: Any) -> Tensor:
    """A new Tensor holding ``out``; it records ``rule`` if a parent needs a gradient."""
    t = _new_tensor(Tensor)
    t.data = out
    t.grad = None
    t._level = level
    if p0 is None and p1 is None:
        t.requires_grad = False
        t._rule = None
    else:
        t.requires_grad = True
        t._rule = rule
        t._p0 = p0
        t._p1 = p1
        t._saved0 = x0
        t._saved1 = x1
        t._params = params
        t._pending = 0
        # A leaf's array may be written into before backward: remember what it held when
        # a derivative backward computes (that of an argument that needs one) reads it.
        # Floats are immutable, and the float nodes are made elsewhere: they pay nothing.
        read_by = rule.read_by
        if read_by is not None:
            read0, read1 = read_by
            if (p0 is not None and type(x0) is _ndarray
                    and (read0[0] or read0[1] and p1 is not None)):
                _stamp(p0, x0)
            if (p1 is not None and p1 is not p0 and type(x1) is _ndarray
                    and (read1[1] or read1[0] and p0 is not None)):
                _stamp(p1, x1)
    return t


def _stamp(t: Tensor, x: np.ndarray) -> None:
    """Fingerprint ``x``, the array a node saved from ``t``, on the leaf it belongs to:
    ``t`` itself, or the leaf that ``t`` is a view of (``W.T``), through any chain of views.
    An array computed by a node (not a leaf's, nor a view of one) needs none."""
    while t._rule is not None:
        if not getattr(t._rule, "view", False) or t._p0 is None:
            return
        x, t = t._saved0, t._p0
        if type(x) is not np.ndarray:
            return
    t._stamp = (x, x.tobytes() if x.size <= _SMALL else _fingerprint(x))


_WORD = {2: np.uint16, 4: np.uint32, 8: np.uint64}
# arrays up to this size are fingerprinted by their bytes: for them a copy costs less
# than a reduction's dispatch
_SMALL = 1024


def _fingerprint(a: np.ndarray) -> Any:
    """What an array holds, cheaply: its bytes when small, else the sum of its values' bit
    patterns (modulo 2**64), one fast pass that changes with any write that changes values
    (a permutation of them goes unseen)."""
    word = _WORD.get(a.itemsize)
    if a.size <= _SMALL or word is None:
        return a.tobytes()
    return int(np.add.reduce(a.view(word), axis=None, dtype=np.uint64))


def _check_unchanged(leaf: Tensor, stamp: tuple[np.ndarray, Any], keep: bool) -> None:
    """RuntimeError if the array a node saved from ``leaf`` was written into since; the
    stamp is dropped once checked, unless the graph is kept (``keep``) for another pass."""
    saved = stamp[0]
    if (saved.tobytes() if saved.size <= _SMALL else _fingerprint(saved)) != stamp[1]:
        raise RuntimeError(
            f"the leaf Tensor of shape {shape_of(saved)} ({saved.dtype}, at "
            f"{id(leaf):#x}) used by this graph was modified in place after the forward "
            "pass (its .data was written into): backward() would mix its old and new values. "
            "Write into a copy, or run the forward pass again after the write"
        )
    if not keep:
        leaf._stamp = None


_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (its buffers were freed by the "
    "first backward()); pass retain_graph=True to the first call"
)


def _count_consumers(root: Tensor) -> None:
    """Set each node's ``_pending`` to its number of consumers in root's graph."""
    stack = [root]
    push, pop = stack.append, stack.pop
    # `while True` with the test at the end, not `while stack:` (the same in _walk_back):
    # CPython 3.11 specializes a function's bytecode (fast slot access, ...) after a few
    # calls or a few unconditional backward jumps, and `while stack:` makes none, so the
    # one backward() over a million-node graph would run unspecialized, twice as slow.
    while True:
        node = pop()
        # the same step for each parent, written out twice (no tuple of parents per node)
        p = node._p0
        if p is not None and p._rule is not None:  # not a constant, nor a leaf
            if p._pending == 0:  # first visit
                if p._rule is _FREED:
                    raise RuntimeError(_SECOND_BACKWARD)
                push(p)
            p._pending += 1
        p = node._p1
        if p is not None and p._rule is not None:
            if p._pending == 0:
                if p._rule is _FREED:
                    raise RuntimeError(_SECOND_BACKWARD)
                push(p)
            p._pending += 1
        if not stack:
            return


def backprop(
    root: Tensor, seed: Any, retain_graph: bool = False, targets: list[Tensor] | None = None
) -> dict[int, Any]:
    """Propagate ``seed`` from ``root`` back to the leaves.

    With ``targets=None`` gradients accumulate into every leaf's ``.grad``. With a list of
    leaves, nothing is written to ``.grad``: the gradients of those leaves are returned,
    keyed by ``id`` (this is what the functional API uses).

    A node is processed once all its consumers have been (counted beforehand), so each node
    sends its complete gradient to its parents exactly once: no recursion, no sorting.
    """
    collected: dict[int, Any] = {}
    wanted = None if targets is None else {id(t) for t in targets}
    if root._rule is None:  # backward on a leaf
        _deliver(root, seed, wanted, collected, set(), retain_graph)
        return collected
    if root._rule is _FREED:
        raise RuntimeError(_SECOND_BACKWARD)

    # The graph holds no reference cycles, so the cyclic garbage collector has nothing to
    # find here; on a graph of a million nodes its passes would cost a sixth of backward.
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        _walk_back(root, seed, retain_graph, wanted, collected)
    finally:
        if collecting:
            gc.enable()
    return collected


def _deliver(leaf: Tensor, g: Any, wanted: set[int] | None, collected: dict[int, Any],
             handed_out: set[int], retain_graph: bool) -> None:
    """Hand the gradient ``g`` to a leaf: into its ``.grad`` (``wanted`` is None), or into
    ``collected`` if the leaf is one of the ``wanted`` ones.

    A gradient a leaf keeps must be its own writable array: not a read-only broadcast view
    (sum's vjp), nor the same array handed to another leaf (add's). The array the graph
    saved from the leaf is checked to be unchanged (once, unless ``retain_graph``)."""
    stamp = getattr(leaf, "_stamp", None)
    if stamp is not None:
        _check_unchanged(leaf, stamp, retain_graph)
    data = leaf.data
    if type(data) is _ndarray:
        # a leaf's gradient has its dtype (as torch), also in a graph that mixes in other
        # dtypes; a NumPy scalar of the leaf's own scalar type (0-d leaves) has it already,
        # and asking a scalar for its .dtype makes a new descriptor each time
        kind = type(g)
        if (kind is not data.dtype.type and (kind is _ndarray or isinstance(g, np.generic))
                and g.dtype is not data.dtype and g.dtype != data.dtype):
            g = g.astype(data.dtype)
    if wanted is None:
        if not leaf.requires_grad:
            return
        old = leaf.grad
    else:
        k = id(leaf)
        if k not in wanted:
            return
        old = collected.get(k)
    if old is not None:
        if (type(g) is np.ndarray and writable_alone(old, 2)  # `old` and the leaf's slot
                and g.dtype == old.dtype and g.shape == old.shape):
            g = np.add(old, g, out=old)
        else:
            g = old + g
    elif type(g) is np.ndarray:
        if not g.flags.writeable or id(g) in handed_out:
            g = g.copy()
        handed_out.add(id(g))
    if wanted is None:
        leaf.grad = g
    else:
        collected[k] = g


def _array_grads(node: Tensor, rule: Any, siblings: dict | None, need0: bool,
                 need1: bool) -> tuple[Any, Any]:
    """The gradients a node on arrays (or nested values) sends to its two arguments.

    It takes the node's gradient out of the node itself, so that it is the only holder of
    that array and a product may be written into it (:func:`_times_into`)."""
    g = node.grad
    node.grad = None
    if type(rule) is not Elementwise:
        return _structural_grads(rule, g, node._saved0, node._saved1, node.data,
                                 node._params, need0, need1)
    partials = rule.partials
    out = node.data
    x0 = node._saved0
    g0 = g1 = None
    if rule.arity == 1:
        d = None
        if siblings is not None and rule.partial_is is not None:
            # sin(x) needs cos(x): the output of a cos node of the same x, if the graph
            # has one (see _array_outputs)
            other, sign = rule.partial_is
            d = siblings.get((id(x0), other))
        if d is not None and type(g) is np.ndarray and g.shape == d.shape:
            g0 = _times_into(g, d)
            if sign < 0:
                np.negative(g0, out=g0)  # g0 is new, or g written into
            return g0, None
        d = partials[0](backend_for((x0, g)), x0, out)
        if type(g) is np.ndarray and d is not ONE and d is not MINUS_ONE:
            g0 = _times_into(g, d)
        else:
            g0 = g if d is ONE else (-g if d is MINUS_ONE else g * d)
        return _fit(g0, x0), None
    x1 = node._saved1
    ops = backend_for((x0, x1, g))
    if need0:
        d = partials[0](ops, x0, x1, out)
        g0 = _fit(g if d is ONE else (-g if d is MINUS_ONE else g * d), x0)
    if need1:
        d = partials[1](ops, x0, x1, out)
        if type(g) is np.ndarray and d is not ONE and d is not MINUS_ONE:
            g1 = _times_into(g, d)  # g's last use: written into when it may be
        else:
            g1 = g if d is ONE else (-g if d is MINUS_ONE else g * d)
        g1 = _fit(g1, x1)
    return g0, g1


# Backward's loop, generated from the hand-off below, once per parent and kind of node: a
# helper call per edge would cost about a tenth of backward on scalar graphs.
_HAND_OFF = """\
if {p} is not None:
    {g} = {gradient}
    if {p}._rule is None:  # a leaf
        if into_grad and type({g}) is float:  # the common case, with no checks
            {p}.grad = {g} if {p}.grad is None else {p}.grad + {g}
        else:
            _deliver({p}, {g}, wanted, collected, handed_out, retain_graph)
    else:
        {p}.grad = {g} if {p}.grad is None else {p}.grad + {g}
        {p}._pending -= 1
        if {p}._pending == 0:
            push({p})"""


def _hand_offs(gradients: tuple[str, str]) -> str:
    return "\n".join(_HAND_OFF.format(p=f"p{i}", g=f"g{i}", gradient=gradient)
                      for i, gradient in enumerate(gradients))


_walk_back = _make("_walk_back", f"""\
def _walk_back(root, seed, retain_graph, wanted, collected):
    \"\"\"Send ``seed`` from ``root`` to every node, each once all its consumers are done.

    A node's gradient accumulates in its ``.grad`` until the node is processed; leaves get
    theirs through :func:`_deliver` (``wanted``, ``collected``), or directly into ``.grad``
    when it is a float (the common case, checked inline).\"\"\"
    _count_consumers(root)
    siblings = _array_outputs(root)
    into_grad = wanted is None
    handed_out = set()
    root.grad = seed
    ready = [root]
    push, pop = ready.append, ready.pop
    while True:  # until ready is empty (tested at the end: see _count_consumers)
        node = pop()
        rule = node._rule
        p0 = node._p0
        p1 = node._p1
        if rule is _ON_FLOATS:  # the local derivatives are known: multiply
            g = node.grad
            node.grad = None  # an intermediate keeps no gradient
{_indent(_hand_offs(("g * node._saved0", "g * node._saved1")), 12)}\
        else:
            g0 = g1 = None  # the last node's gradients: no stale holder of an array
            g0, g1 = _array_grads(node, rule, siblings, p0 is not None, p1 is not None)
{_indent(_hand_offs(("g0", "g1")), 12)}\
        if not retain_graph:  # release the graph as we go
            node._rule = _FREED
            node._p0 = node._p1 = None
            if rule is not _ON_FLOATS:  # the arguments' values may be large arrays
                node._saved0 = node._saved1 = node._params = None
        if not ready:
            return
""")


def _times_into(g: np.ndarray, d: Any) -> Any:
    """``g * d``, written into ``g`` when the caller's ``g`` is its only holder and the
    product has g's shape and dtype."""
    if (type(d) is np.ndarray and writable_alone(g, 2)  # the caller's name and ours
            and d.dtype == g.dtype
            and (d.shape == g.shape or np.broadcast_shapes(d.shape, g.shape) == g.shape)):
        return np.multiply(g, d, out=g)
    return g * d


# Arrays at least this large make it worth a pass over the graph to find values that a
# local derivative can reuse (a sin node's derivative is the output of a cos node of the
# same argument, if the function computed one: E1 computes both sin(x2) and cos(x2)).
_REUSE_MIN_SIZE = 1 << 16


def _array_outputs(root: Tensor) -> dict[tuple[int, str], Any] | None:
    """``{(id(argument), rule name): output}`` over the one-argument elementwise nodes of a
    graph on large arrays, or None for other graphs (a scalar graph pays nothing)."""
    x = root._saved0
    if type(x) is not np.ndarray or x.size < _REUSE_MIN_SIZE:
        return None
    found: dict[tuple[int, str], Any] = {}
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        rule = node._rule
        if type(rule) is Elementwise and rule.arity == 1 and type(node._saved0) is np.ndarray:
            found[(id(node._saved0), rule.name)] = node.data
        for p in (node._p0, node._p1):
            if p is not None and p._rule is not None and id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return found


def _fit(g: Any, x: Any) -> Any:
    """Sum a gradient back to the shape of the argument ``x`` it flows to."""
    shape = shape_of(x)
    if shape_of(g) != shape:
        g = unbroadcast(g, shape)
        if type(x) is float and type(g) is np.ndarray:
            g = float(g)
    return g


def _structural_grads(rule: Any, g: Any, x0: Any, x1: Any, out: Any, params: Any,
                      need0: bool, need1: bool) -> tuple[Any, Any]:
    """The gradients a structural rule's vjp sends to its one or two arguments."""
    if rule.arity == 2:
        args = (x0, x1)
        return rule.vjp(backend_for(args + (g,)), g, args, out, params, (need0, need1))
    (g0,) = rule.vjp(backend_for((x0, g)), g, (x0,), out, params, (need0,))
    return g0, None


@contextmanager
def no_grad() -> Iterator[None]:
    """Within this block, operations on the tensors that exist around it record no graph.

    A transformation called inside the block (``grad``, ``jacrev``, ``jit`` ...) still
    records its own graph, as in torch.func and JAX: its result does not depend on the
    grad mode around it.
    """
    previous = STATE.grad_enabled, STATE.no_grad_depth
    STATE.grad_enabled = False
    STATE.no_grad_depth = STATE.depth
    try:
        yield
    finally:
        STATE.grad_enabled, STATE.no_grad_depth = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Within this block, operations record a graph again (inside ``no_grad``)."""
    previous = STATE.grad_enabled, STATE.no_grad_depth
    STATE.grad_enabled = True
    STATE.no_grad_depth = -1
    try:
        yield
    finally:
        STATE.grad_enabled, STATE.no_grad_depth = previous


def is_grad_enabled() -> bool:
    """Whether operations on tensors made here (at the current level) record a graph."""
    return recording(STATE.depth)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Within this block, Python's cyclic garbage collector does not run.

    A bobodiff graph has no reference cycles (a node refers to its parents, never the other
    way round, and holds no closure), so reference counting frees it on its own and pausing
    the cyclic collector while building it loses nothing. It saves a lot on big scalar
    graphs: with a million live nodes, the collector's passes, which scan every one of them,
    take most of the time of the forward pass. The collector's previous state (enabled or
    disabled) is restored on leaving the block, also on an exception; cycles made by other
    code inside the block are collected later, by the collector's next pass.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

