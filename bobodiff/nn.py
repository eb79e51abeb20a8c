"""Small neural-network building blocks, enough for the report's networks.

Two forms of the same layers:

* vectorized: :class:`Linear` / :class:`MLP` hold NumPy-array Tensors (one graph node per
  layer operation);
* scalar graph: :class:`ScalarLinear` / :class:`ScalarMLP` hold one float Tensor per weight
  (the report's design, one graph node per scalar operation). Their forward pass runs with
  the cyclic garbage collector paused (:func:`bobodiff.gc_paused`): the graph has no cycles.

An activation is named by any one-argument elementwise function of bobodiff (its rule's
name, e.g. ``"sigmoid"``), or ``None`` (identity).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import functions as F
from .reverse import Tensor, gc_paused
from .rules import ELEMENTWISE

__all__ = ["Linear", "MLP", "ScalarLinear", "ScalarMLP"]

#: Activation by name: every one-argument elementwise function that the rule table makes.
ACTIVATIONS = {**{name: getattr(F, name) for name, rule in ELEMENTWISE.items()
                  if rule.arity == 1 and rule.on_array is not None}, None: lambda x: x}
#: The MLPs' default activation: the entry the rule table marks as such.
DEFAULT_ACTIVATION = next(name for name, rule in ELEMENTWISE.items() if rule.default_activation)


def _activation(name: str | None) -> Any:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of "
                         f"{sorted(k for k in ACTIVATIONS if k)} or None") from None


class Module:
    """Something with parameters."""

    def parameters(self) -> list[Tensor]:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Forget every parameter's accumulated gradient."""
        for p in self.parameters():
            p.grad = None


class Linear(Module):
    """``activation(x @ W.T + b)`` with ``W`` of shape (out, in); ``x`` is (in,) or (batch, in)."""

    def __init__(self, n_in: int, n_out: int, activation: str | None = None,
                 rng: np.random.Generator | int | None = 0, dtype: Any = np.float64) -> None:
        rng = np.random.default_rng(rng)
        scale = 1.0 / np.sqrt(n_in)
        self.weight = Tensor(rng.uniform(-scale, scale, (n_out, n_in)).astype(dtype))
        self.bias = Tensor(rng.uniform(-scale, scale, n_out).astype(dtype))
        self.activation = activation
        self._act = _activation(activation)

    def __call__(self, x: Any) -> Tensor:
        return self._act(x @ self.weight.T + self.bias)

    def parameters(self) -> list[Tensor]:
        return [self.weight, self.bias]


class MLP(Module):
    """Layers of sizes ``sizes`` (e.g. [n, n, 1]); ``activation`` on hidden layers only."""

    def __init__(self, sizes: Sequence[int], activation: str | None = DEFAULT_ACTIVATION,
                 rng: np.random.Generator | int | None = 0, dtype: Any = np.float64) -> None:
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {sizes!r}")
        rng = np.random.default_rng(rng)
        last = len(sizes) - 2
        self.layers = [
            Linear(a, b, activation if i < last else None, rng=rng, dtype=dtype)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]

    def __call__(self, x: Any) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]


class ScalarLinear(Module):
    """The scalar-graph form of :class:`Linear`: one float Tensor per weight."""

    def __init__(self, n_in: int, n_out: int, activation: str | None = None,
                 rng: np.random.Generator | int | None = 0) -> None:
        rng = np.random.default_rng(rng)
        scale = 1.0 / np.sqrt(n_in)
        w = rng.uniform(-scale, scale, (n_out, n_in))
        b = rng.uniform(-scale, scale, n_out)
        self.weight = [[Tensor(float(v)) for v in row] for row in w]
        self.bias = [Tensor(float(v)) for v in b]
        self.activation = activation
        self._act = _activation(activation)

    def __call__(self, x: Iterable[Any]) -> list[Tensor]:
        x = [xi if type(xi) is Tensor else float(xi) for xi in x]
        outs = []
        with gc_paused():  # a graph of n_in * n_out nodes, and no cycles to collect
            for row, b in zip(self.weight, self.bias):
                acc = b
                for w, xi in zip(row, x):
                    acc = acc + w * xi
                outs.append(self._act(acc))
        return outs

    def parameters(self) -> list[Tensor]:
        return [w for row in self.weight for w in row] + list(self.bias)


class ScalarMLP(Module):
    """The scalar-graph form of :class:`MLP`."""

    def __init__(self, sizes: Sequence[int], activation: str | None = DEFAULT_ACTIVATION,
                 rng: np.random.Generator | int | None = 0) -> None:
        rng = np.random.default_rng(rng)
        last = len(sizes) - 2
        self.layers = [
            ScalarLinear(a, b, activation if i < last else None, rng=rng)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        ]

    def __call__(self, x: Iterable[Any]) -> list[Tensor]:
        with gc_paused():
            for layer in self.layers:
                x = layer(x)
        return list(x)

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]
