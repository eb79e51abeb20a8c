"""The floor: hand-written analytic gradients, the best a careful person writes by hand.

Pure Python (math) for E1-loop, NumPy for E1-batch and the networks. Every other engine's
time is divided by the floor's to show how close it gets to the limit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.engines import FLOOR, Engine, Workload, cast, fetch_loop, loop_over, points_of
from harness.experiments import e2_network_reverse, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")


def _e1_call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
    sin_b, cos_b = math.sin(b), math.cos(b)
    e = math.exp(a * c)
    q = c * c + 1.0
    inner = a * sin_b + 2.0 * math.log(q) + e
    return (inner * cos_b, (sin_b + c * e) * cos_b, a * cos_b * cos_b - inner * sin_b,
            (4.0 * c / q + a * e) * cos_b)


def build_e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """N calls of the hand-written scalar gradient (math module, Python floats)."""
    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, _e1_call, rounds), fetch_loop,
                    "math-module value + 3 partials per call")


def _e1_arrays(x1: np.ndarray, x2: np.ndarray, x3: np.ndarray) -> list[np.ndarray]:
    """The hand-written gradient with in-place NumPy updates: few temporaries of N."""
    sin2, cos2 = np.sin(x2), np.cos(x2)
    e13 = x1 * x3
    np.exp(e13, out=e13)
    q = x3 * x3
    q += 1.0
    inner = np.log(q)
    inner *= 2.0
    inner += e13
    d2 = x1 * sin2
    inner += d2
    f = inner * cos2
    d1 = x3 * e13
    d1 += sin2
    d1 *= cos2
    np.multiply(x1, cos2, out=d2)
    d2 *= cos2
    inner *= sin2
    d2 -= inner
    d3 = np.divide(x3, q, out=q)
    d3 *= 4.0
    e13 *= x1
    d3 += e13
    d3 *= cos2
    return [f, d1, d2, d3]


def build_e1_batch(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """One NumPy evaluation of the hand-written gradient on N points, updated in place."""
    x1, x2, x3 = cast(problem, options["dtype"], ("x1", "x2", "x3"))
    return Workload(lambda: _e1_arrays(x1, x2, x3), description="NumPy in place, N points")


def build_e2_setup(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Copy the parameters into fresh arrays of the run's dtype."""
    def run() -> list[np.ndarray]:
        return [np.array(problem[key], dtype=options["dtype"]) for key in PARAM_KEYS]
    return Workload(run, description="np.array copies of W1, b1, w2, b2")


def build_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Hand-written forward + backward of the sigmoid network (NumPy)."""
    W1, b1, w2, b2, X = cast(problem, options["dtype"], (*PARAM_KEYS, "X"))
    return Workload(lambda: e2_network_reverse.analytic_step(W1, b1, w2, b2, X),
                    description="NumPy forward + hand-written backward")


def build_e2_lists_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Arrays built from Python nested lists, then one hand-written step."""
    lists = [problem[key].tolist() for key in PARAM_KEYS]
    X = np.asarray(problem["X"], dtype=options["dtype"])

    def run() -> list[np.ndarray]:
        W1, b1, w2, b2 = (np.array(item, dtype=options["dtype"]) for item in lists)
        return e2_network_reverse.analytic_step(W1, b1, w2, b2, X)
    return Workload(run, description="np.array(nested lists) + one step")


def _e3_builder(with_direction: bool):
    def build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
        W1, b1, w2, b2, x, v = cast(problem, options["dtype"], (*PARAM_KEYS, "x", "v"))
        direction = v if with_direction else None
        return Workload(lambda: e3_network_forward.analytic(W1, b1, w2, b2, x, direction),
                        description="NumPy, hand-written derivative")
    return build


ENGINE = Engine(
    name="floor",
    description="hand-written analytic gradient (pure Python for E1-loop, NumPy elsewhere)",
    family="numpy", distribution="numpy",
    # runs an experiment's own hand-written floor where this file has no builder of its own
    capabilities=frozenset({FLOOR}),
    builders={
        ("E1", "loop"): build_e1_loop,
        ("E1", "batch"): build_e1_batch,
        ("E2", "setup"): build_e2_setup,
        ("E2", "step"): build_e2_step,
        ("E2", "lists+step"): build_e2_lists_step,
        ("E3", "jvp"): _e3_builder(True),
        ("E3", "grad"): _e3_builder(False),
    },
)
