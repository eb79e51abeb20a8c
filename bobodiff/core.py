"""Dispatch: send a primitive to the right engine (forward, reverse) or backend.

``apply(rule, args, params)`` looks at the arguments: if one of them is a Dual or a Tensor,
the outermost one (highest level) decides which engine records the operation; every other
argument is a constant at that level. Otherwise the primitive is computed by the backend
for the values (``math`` for floats, NumPy for arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .rules import GENERIC, RULES, backend_for, shape_of

_NO_PARAMS: dict[str, Any] = {}


class Wrapper:
    """Base of Dual and Tensor: a value tagged with the transformation level it belongs to."""

    __slots__ = ()
    _is_bobodiff_wrapper = True
    _level: int
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (array * Dual)

    def _primal(self) -> Any:
        raise NotImplementedError

    @classmethod
    def _apply(cls, rule: Any, args: tuple[Any, ...], params: dict[str, Any], level: int) -> Any:
        raise NotImplementedError


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
    """The innermost plain value of a (possibly nested) Dual or Tensor."""
    while getattr(x, "_is_bobodiff_wrapper", False):
        x = x._primal()
    return x


def _constant_fn(name: str) -> Any:
    """A backend function of the plain values only: its result carries no derivative."""

    def fn(*args: Any) -> Any:
        plain = tuple(primal(a) for a in args)
        return getattr(backend_for(plain), name)(*plain)

    return fn


def _generic_broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    if shape_of(x) == tuple(shape):
        return x
    dtype = np.result_type(primal(x), 1.0) if not isinstance(primal(x), float) else np.float64
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
    for name in ("step", "sign", "maxgrad"):
        setattr(GENERIC, name, _constant_fn(name))
    GENERIC.shape = shape_of
    GENERIC.broadcast_to = _generic_broadcast_to


_install_generic_backend()
