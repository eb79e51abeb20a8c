"""Process-wide engine state: transformation depth (perturbation levels) and no_grad."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class _State:
    __slots__ = ("depth", "grad_enabled")

    def __init__(self) -> None:
        # Each active transformation (grad, jvp, ...) runs one level deeper. A Dual or Tensor
        # remembers the level it was made at, so values of an outer transformation seen
        # inside an inner one are constants there (no perturbation confusion).
        self.depth = 0
        self.grad_enabled = True


STATE = _State()


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
