"""E4 - second order (beyond the report): the Hessian of E1's f, forward over reverse where
the library has forward mode (autograd: reverse over reverse).

Readings: "loop" = N separate calls, each the 3x3 Hessian of f at one point given as Python
floats (the library's ``hessian`` of f on a vector of 3, compiled where the library
compiles); "batch" = the Hessians of N points in one go: f is elementwise, so the Hessian of
sum(f) times a direction that is 1 on one input's row and 0 elsewhere gives every point's
column of its own Hessian (three Hessian-vector products: the ``jvp`` of the ``grad``,
forward over reverse, where the library has ``jvp``; else the ``grad`` of the gradient's
dot product with the direction, reverse over reverse).

The workloads are written once, against an engine's array namespace and its library's
functional transforms, found by name (``ArrayAPI.func``: bd, torch.func, jax, autograd);
an engine takes part when it declares the capability FUNCTIONAL, and no adapter knows E4.
The floor is the Hessian written by hand (math for the loop, NumPy for the batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.engines import FUNCTIONAL, ArrayAPI
from harness.experiments import Bars, ReportSpec
from harness.experiments.e1_function import E1Function, formula
from harness.params import Param

NAMES = ("x1", "x2", "x3")


def hessian_by_hand(x1: Any, x2: Any, x3: Any, lib: Any = np) -> list[list[Any]]:
    """The 3x3 Hessian of f written by hand (lib = numpy or math), rows and columns x1..x3."""
    s2, c2 = lib.sin(x2), lib.cos(x2)
    e13 = lib.exp(x1 * x3)
    q = x3 * x3 + 1.0
    inner = x1 * s2 + 2.0 * lib.log(q) + e13
    h11 = x3 * x3 * e13 * c2
    h12 = c2 * c2 - s2 * s2 - x3 * e13 * s2
    h13 = e13 * (1.0 + x1 * x3) * c2
    h22 = -3.0 * x1 * s2 * c2 - inner * c2
    h23 = -s2 * (4.0 * x3 / q + x1 * e13)
    h33 = (4.0 * (1.0 - x3 * x3) / (q * q) + x1 * x1 * e13) * c2
    return [[h11, h12, h13], [h12, h22, h23], [h13, h23, h33]]


def _loop(points: list[tuple[float, float, float]], call: Any, rounds: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(rounds):
        out = [call(a, b, c) for a, b, c in points]
    return out


def _stack_calls(out: list[Any]) -> list[np.ndarray]:
    return [np.asarray(out, dtype=np.float64)]


def _points(problem: dict[str, Any]) -> list[tuple[float, float, float]]:
    return list(zip(*(problem[name].tolist() for name in NAMES)))


def hessian_vector_product(api: ArrayAPI, g: Callable[[Any], Any]
                            ) -> tuple[Callable[[Any, Any], Any], str]:
    """``(x, v) -> H(x) v`` for the scalar function g of one array, from the engine's
    functional transforms and compiled once, with how it is done (for the description).

    Forward over reverse (``jvp`` of ``grad``) where the library has ``jvp``; else reverse
    over reverse, as autograd's make_hvp: the ``grad`` of the gradient's dot product with v."""
    func, grad = api.func, api.func.grad(g)
    if hasattr(func, "jvp"):
        def product(x: Any, v: Any) -> Any:
            return func.jvp(grad, (x,), (v,))[1]
        how = f"{api.describe('jvp')} of {api.describe('grad')} of sum(f)"
        mode = "forward over reverse"
    else:
        def product(x: Any, v: Any) -> Any:
            return func.grad(lambda y: api.ns.sum(grad(y) * v))(x)
        how = f"{api.describe('grad')} of ({api.describe('grad')} of sum(f))·v"
        mode = "reverse over reverse"
    return api.compile(product), f"{api.compiled(how)} ({mode})"


class E4Hessian(E1Function):
    """Second derivatives of the report's benchmark function, per call and on N points: E1's
    cells, inputs and loop shape (its calls_per_op counts Hessians), another derivative."""

    NAME = "E4"
    TITLE = "E4 - the Hessian of E1's f (second order)"
    PARAMS = {
        "variants": Param("str_list", ["loop", "batch"], "readings to measure",
                          choices=("loop", "batch")),
        "loop_calls": Param("int", 100, "Hessians per timed loop (E4-loop)", 1, 100_000_000),
        "batch_points": Param("int", 100_000, "points of the batched Hessians", 1,
                              200_000_000),
    }
    OUTPUT_NAMES = ("H",)
    WRITTEN_ONCE = {"loop": FUNCTIONAL, "batch": FUNCTIONAL}
    REPORT = ReportSpec(
        TITLE, ("Beyond the report: second derivatives of its function f. 'loop' is the 3x3 "
                "Hessian of one point per call, on Python floats (the library's hessian "
                "transform); 'batch' the Hessians of N points in three Hessian-vector "
                "products of sum(f), one per input (forward over reverse where the library "
                "has jvp, else reverse over reverse). The floor is the Hessian written by "
                "hand.",),
        plot="bars", plot_file="e4_bars.png",
        bars=(Bars("loop", "per_call_us", "microseconds per Hessian (log)", "calls"),
              Bars("batch", "per_call_us", "microseconds per point's Hessian (log)",
                   "points")),
        engines_table=("loop", "batch"), pivot=False)

    def reference(self, variant: str, problem: dict[str, Any]) -> list[np.ndarray]:
        """Every point's Hessian, shape (points, 3, 3)."""
        rows = hessian_by_hand(*(problem[name] for name in NAMES))
        return [np.moveaxis(np.asarray(rows, dtype=np.float64), -1, 0)]

    def written_once(self, workload: str, api: ArrayAPI, problem: dict[str, Any],
                     options: dict[str, Any]) -> Any:
        """loop: the compiled ``hessian`` of f per call; batch: three compiled
        Hessian-vector products of sum(f), each synced inside the timed call."""
        from harness.engines import Workload

        ns = api.ns
        if workload == "loop":
            hessian = api.compile(api.func.hessian(lambda x: formula(x[0], x[1], x[2], ns)))

            def call(a: float, b: float, c: float) -> np.ndarray:
                return api.to_numpy(hessian(api.asarray(np.array([a, b, c]))))

            points, rounds = _points(problem), problem["rounds"]
            return Workload(lambda: _loop(points, call, rounds), _stack_calls,
                            f"{api.compiled(api.describe('hessian'))} per call on 3 floats")

        def total(x: Any) -> Any:
            return ns.sum(formula(x[0], x[1], x[2], ns))

        stacked = np.stack([np.asarray(problem[name], dtype=options["dtype"])
                            for name in NAMES])
        x = api.asarray(stacked)
        directions = []
        for row in range(3):
            direction = np.zeros_like(stacked)
            direction[row] = 1.0
            directions.append(api.asarray(direction))
        product, how = hessian_vector_product(api, total)

        def run() -> list[Any]:
            return [api.sync(product(x, v)) for v in directions]

        def fetch(columns: list[Any]) -> list[np.ndarray]:
            # columns[j][i] is H_ij at every point: -> (points, 3, 3)
            return [np.moveaxis(np.asarray([api.to_numpy(c) for c in columns],
                                           dtype=np.float64).transpose(1, 0, 2), -1, 0)]

        return Workload(run, fetch, f"{how} along each input's direction v: 3 calls on N "
                        "points")

    def floor_workload(self, workload: str, problem: dict[str, Any],
                       options: dict[str, Any]) -> Any:
        from harness.engines import Workload

        if workload == "loop":
            points, rounds = _points(problem), problem["rounds"]
            return Workload(lambda: _loop(points, lambda a, b, c: hessian_by_hand(a, b, c, math),
                                          rounds),
                            _stack_calls, "math-module Hessian per call (6 entries)")
        arrays = [np.asarray(problem[name], dtype=options["dtype"]) for name in NAMES]
        return Workload(lambda: hessian_by_hand(*arrays),
                        lambda rows: [np.moveaxis(np.asarray(rows, dtype=np.float64), -1, 0)],
                        "NumPy Hessian by hand, N points")


EXPERIMENT = E4Hessian()
