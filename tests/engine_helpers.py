"""Helpers for the engine test suites: finite differences, torch conversion, input strategies.

Expected values in the engine tests never come from bobodiff itself: they come from
hand-derived formulas, central finite differences, or torch on the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Shape pairs that exercise broadcasting in binary ops (both orders where asymmetric).
SHAPE_PAIRS = [
    ((), ()),
    ((3,), (3,)),
    ((2, 3), (2, 3)),
    ((2, 1), (1, 3)),
    ((3,), (2, 3)),
    ((2, 3), (3,)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 1), (3,)),
]
UNARY_SHAPES = [(), (3,), (2, 3), (2, 1, 2)]


# --------------------------------------------------------------------------------------
# Inputs in each rule's domain
# --------------------------------------------------------------------------------------


def element_strategy(domain: str) -> st.SearchStrategy[float]:
    """Floats where the rule is smooth: the generator respects the domain, not tolerances."""
    def floats(lo: float, hi: float) -> st.SearchStrategy[float]:
        return st.floats(lo, hi, allow_nan=False, allow_infinity=False)

    if domain == "real":
        return floats(-2.0, 2.0)
    if domain == "positive":
        return floats(0.25, 2.5)
    if domain in ("nonzero", "away_from_kinks"):
        return st.one_of(floats(-2.0, -0.25), floats(0.25, 2.0))
    if domain == "tan":
        return floats(-1.2, 1.2)
    raise AssertionError(f"the tests do not know rule domain {domain!r}: teach element_strategy")


def value_strategy(shape: tuple[int, ...], domain: str) -> st.SearchStrategy[Any]:
    """A Python float for shape (), else a float64 array of that shape."""
    elements = element_strategy(domain)
    if shape == ():
        return elements
    return hnp.arrays(np.float64, shape, elements=elements)


def as_float_or_array(x: Any, dtype: Any = np.float64) -> Any:
    if isinstance(x, float):
        return x if dtype == np.float64 else dtype(x)
    return np.asarray(x, dtype=dtype)


def min_gap(x: Any, y: Any) -> float:
    """Smallest |x - y| over the broadcast pair (for maximum: stay away from its kink)."""
    return float(np.min(np.abs(np.subtract(x, y)))) if np.size(np.subtract(x, y)) else 1.0


# --------------------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------------------


def fd_grad(f: Callable[..., float], args: list[Any], i: int, h: float = 1e-6) -> Any:
    """Central finite-difference gradient of scalar ``f`` w.r.t. ``args[i]`` (float64)."""
    x = args[i]
    if np.ndim(x) == 0:
        def at(v: float) -> float:
            a = list(args)
            a[i] = v
            return float(f(*a))

        return (at(float(x) + h) - at(float(x) - h)) / (2 * h)
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for k in range(x.size):
        for sign in (1.0, -1.0):
            xp = x.copy()
            xp.flat[k] += sign * h
            a = list(args)
            a[i] = xp
            g.flat[k] += sign * float(f(*a)) / (2 * h)
    return g


def fd_jacobian(f: Callable[..., Any], args: list[Any], i: int, h: float = 1e-6) -> np.ndarray:
    """Central finite-difference Jacobian, shape ``out.shape + args[i].shape``."""
    x = np.array(args[i], dtype=np.float64)
    out_shape = np.shape(f(*args))
    jac = np.zeros(out_shape + x.shape)
    for k in range(x.size):
        cols = []
        for sign in (1.0, -1.0):
            xp = x.copy()
            xp.flat[k] += sign * h
            a = list(args)
            a[i] = xp if x.shape else float(xp)
            cols.append(np.asarray(f(*a), dtype=np.float64))
        col = (cols[0] - cols[1]) / (2 * h)
        jac.reshape(out_shape + (x.size,))[..., k] = col
    return jac


# --------------------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------------------


# torch's spelling of a primitive where it is not ``torch.<name>``
_TORCH_ELSEWHERE = {"softplus": ("torch.nn.functional", "softplus")}


def torch_function(name: str) -> Callable[..., Any]:
    """torch's function for the elementwise primitive ``name``."""
    import importlib

    import torch

    if name in _TORCH_ELSEWHERE:
        module, attribute = _TORCH_ELSEWHERE[name]
        return getattr(importlib.import_module(module), attribute)
    assert hasattr(torch, name), (
        f"no torch.{name}: give rule {name!r} a torch equivalent in _TORCH_ELSEWHERE")
    return getattr(torch, name)


def to_torch(x: Any, requires_grad: bool = True) -> Any:
    import torch

    t = torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64)
    return t.requires_grad_(requires_grad)


def from_torch(t: Any) -> np.ndarray:
    return t.detach().numpy().astype(np.float64)


def torch_grads(fn: Callable[..., Any], args: list[Any], weights: Any) -> list[np.ndarray]:
    """Gradients of ``sum(weights * fn(*args))`` by torch, one per argument, float64."""
    import torch

    targs = [to_torch(a) for a in args]
    out = fn(*targs)
    (out * torch.as_tensor(np.asarray(weights, dtype=np.float64))).sum().backward()
    return [from_torch(t.grad) for t in targs]


def assert_close(actual: Any, expected: Any, rtol: float = 1e-7, atol: float = 1e-9,
                 what: str = "") -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol, err_msg=what)
    assert np.shape(actual) == np.shape(expected), (
        f"{what}: shape {np.shape(actual)} != expected {np.shape(expected)}")
