"""Process-wide engine state: transformation depth (perturbation levels) and no_grad."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class _State:
    __slots__ = ("depth", "grad_enabled", "no_grad_depth")

    def __init__(self) -> None:
        # Each active transformation (grad, jvp, ...) runs one level deeper. A Dual or Tensor
        # remembers the level it was made at, so values of an outer transformation seen
        # inside an inner one are constants there (no perturbation confusion).
        self.depth = 0
        # Grad mode per level: when ``grad_enabled`` is False (inside ``no_grad``), Tensors
        # of levels up to ``no_grad_depth`` (those that existed when the block was entered)
        # record nothing, while a transformation started inside the block records its own,
        # deeper, level as usual: no_grad governs the user's Tensors, not a transform's own
        # graph (as torch.func and JAX). The engines test ``grad_enabled`` first, so the
        # usual case costs one attribute load.
        self.grad_enabled = True
        self.no_grad_depth = -1


STATE = _State()


def recording(level: int) -> bool:
    """Whether operations on Tensors of ``level`` record a graph now."""
    return STATE.grad_enabled or level > STATE.no_grad_depth


@contextmanager
def new_level() -> Iterator[int]:
    """Enter one more level of transformation; yields the level of its wrappers.

    The function being transformed runs one level further in, so a Dual or Tensor that it
    makes itself is nested inside the transformation's own (and can be mixed with them).
    """
    level = STATE.depth + 1
    STATE.depth += 2
    try:
        yield level
    finally:
        STATE.depth -= 2
