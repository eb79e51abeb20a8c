"""Pytrees, as in JAX: nested tuples, lists and dicts (and None) of leaves.

The functional transforms and ``jit`` accept any such structure as a function's output (and
as ``aux``): they :func:`flatten` it to a list of leaves, work leaf by leaf and
:func:`unflatten` the results into the same structure. Tuples (namedtuples too), lists and
dicts are nodes; ``None`` is an empty node; anything else is a leaf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["TreeDef", "flatten", "unflatten", "same_structure", "tree_map", "check_leaves"]

_LEAF = "*"


class TreeDef:
    """The structure of a pytree without its leaves."""

    __slots__ = ("kind", "meta", "children")

    def __init__(self, kind: Any, meta: Any, children: tuple[TreeDef, ...]) -> None:
        self.kind = kind  # _LEAF, None, tuple, list, dict, or a namedtuple class
        self.meta = meta  # a dict's keys
        self.children = children

    @property
    def num_leaves(self) -> int:
        if self.kind == _LEAF:
            return 1
        return sum(c.num_leaves for c in self.children)

    @property
    def is_leaf(self) -> bool:
        return self.kind == _LEAF

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TreeDef) and self.kind == other.kind
                and self.meta == other.meta and self.children == other.children)

    def __hash__(self) -> int:
        return hash((self.kind, self.meta, self.children))

    def __repr__(self) -> str:
        if self.kind == _LEAF:
            return "*"
        if self.kind is None:
            return "None"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind is dict:
            return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children)) + "}"
        if self.kind is list:
            return f"[{inner}]"
        return f"({inner})" if self.kind is tuple else f"{self.kind.__name__}({inner})"


_LEAF_DEF = TreeDef(_LEAF, None, ())
_PLAIN = frozenset({float, int, np.ndarray, np.float64, np.float32})  # leaves for sure


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of ``tree`` (depth first, dicts in their own key order) and its structure."""
    # the usual single output, without the walk
    if type(tree) in _PLAIN or getattr(tree, "_is_bobodiff_wrapper", False):
        return [tree], _LEAF_DEF
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(x: Any, leaves: list[Any]) -> TreeDef:
    t = type(x)
    if t is tuple or t is list:
        return TreeDef(t, None, tuple(_flatten(v, leaves) for v in x))
    if t is dict:
        return TreeDef(dict, tuple(x), tuple(_flatten(v, leaves) for v in x.values()))
    if x is None:
        return TreeDef(None, None, ())
    if _is_namedtuple(x):
        return TreeDef(t, None, tuple(_flatten(v, leaves) for v in x))
    if isinstance(x, set | frozenset):
        raise TypeError(f"a {t.__name__} is not a supported output structure (its order is "
                        "not defined); use a tuple, list or dict")
    leaves.append(x)
    return _LEAF_DEF


def unflatten(treedef: TreeDef, leaves: Any) -> Any:
    """The pytree of structure ``treedef`` holding ``leaves`` (in :func:`flatten`'s order)."""
    if treedef.kind == _LEAF and len(leaves) == 1:
        return leaves[0]
    it = iter(leaves)
    out = _unflatten(treedef, it)
    if next(it, _LEAF) is not _LEAF:
        raise ValueError(f"unflatten: more leaves than the structure {treedef!r} holds")
    return out


def _unflatten(d: TreeDef, it: Any) -> Any:
    if d.kind == _LEAF:
        try:
            return next(it)
        except StopIteration:
            raise ValueError("unflatten: fewer leaves than the structure holds") from None
    if d.kind is None:
        return None
    children = [_unflatten(c, it) for c in d.children]
    if d.kind is dict:
        return dict(zip(d.meta, children))
    if d.kind is tuple or d.kind is list:
        return d.kind(children)
    return d.kind(*children)  # a namedtuple


def same_structure(a: TreeDef, b: TreeDef) -> bool:
    """Whether two structures match, a tuple and a list of the same children being alike."""
    seq = (tuple, list)
    if a.kind in seq and b.kind in seq or a.kind == b.kind and a.meta == b.meta:
        return len(a.children) == len(b.children) and all(
            same_structure(x, y) for x, y in zip(a.children, b.children))
    return False


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """``tree`` with each leaf replaced by ``fn(leaf)``."""
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [fn(leaf) for leaf in leaves])


def check_leaves(leaves: list[Any], what: str) -> None:
    """Raise a TypeError naming the first leaf that is not a number, an array or a
    bobodiff value (what a differentiated output may hold)."""
    for leaf in leaves:
        if type(leaf) in _PLAIN or getattr(leaf, "_is_bobodiff_wrapper", False):
            continue
        if not (isinstance(leaf, float | int | np.ndarray | np.number)
                or getattr(leaf, "_is_bobodiff_wrapper", False)):
            raise TypeError(f"{what}: an output leaf is a {type(leaf).__name__}; outputs must "
                            "be floats, arrays, or tuples/lists/dicts of them")
