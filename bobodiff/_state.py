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
    """Enter one more level of transformation; yields the new level."""
    STATE.depth += 1
    try:
        yield STATE.depth
    finally:
        STATE.depth -= 1
