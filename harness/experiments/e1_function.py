"""E1 - one function, many calls: f(x1, x2, x3) and its three partials.

f = (x1*sin(x2) + log((x3**2 + 1)**2) + exp(x1*x3)) * cos(x2)   (the report's eq. 1)

Readings: "loop" = N separate calls on Python scalars in a Python loop (how the report timed
its backward mode and PyTorch; reported per call and extrapolated to 10M calls; the calls
cycle over at most LOOP_SAMPLE distinct points so memory stays constant in N);
"batch" = one call on arrays of N points (how the report timed its forward mode).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness import published
from harness.experiments import Bars, Experiment, ReportSpec
from harness.params import Param

LOOP_SAMPLE = 1000  # distinct points of E1-loop; N calls cycle over them (constant memory)


def formula(x1: Any, x2: Any, x3: Any, lib: Any) -> Any:
    """f written once as ordinary Python; ``lib`` supplies sin, cos, log, exp (any engine)."""
    return (x1 * lib.sin(x2) + lib.log((x3**2 + 1) ** 2) + lib.exp(x1 * x3)) * lib.cos(x2)


def analytic(x1: Any, x2: Any, x3: Any, lib: Any = np) -> tuple[Any, Any, Any, Any]:
    """Value and the three partials of f, written by hand (lib = numpy or math)."""
    s2, c2 = lib.sin(x2), lib.cos(x2)
    e13 = lib.exp(x1 * x3)
    q = x3 * x3 + 1.0
    inner = x1 * s2 + 2.0 * lib.log(q) + e13
    return (inner * c2, (s2 + x3 * e13) * c2, x1 * c2 * c2 - inner * s2,
            (4.0 * x3 / q + x1 * e13) * c2)


def loop_shape(calls: int) -> tuple[int, int]:
    """E1-loop makes ``rounds`` passes over ``points`` distinct points (>= calls in total)."""
    points = min(calls, LOOP_SAMPLE)
    return points, math.ceil(calls / points)


class E1Function(Experiment):
    """The report's benchmark function, looped on scalars and batched on arrays."""

    NAME = "E1"
    TITLE = "E1 - one function, many calls (value + 3 partials)"
    PARAMS = {
        "variants": Param("str_list", ["loop", "batch"], "readings to measure",
                          choices=("loop", "batch")),
        "loop_calls": Param("int", 2000, "calls per timed loop (E1-loop)", 1, 100_000_000),
        "batch_points": Param("int", 10_000_000, "points in one batched call", 1, 200_000_000),
    }
    OUTPUT_NAMES = ("f", "df/dx1", "df/dx2", "df/dx3")
    REPORT = ReportSpec(
        "E1 - one function, many calls (report Table 1)",
        plot="bars", plot_file="e1_bars.png",
        bars=(Bars("loop", "per_call_us", "microseconds per call (log)", "calls"),
              Bars("batch", "extrapolated_10M_s", "seconds for 10M points (log; N points "
                   "scaled linearly)", "points")),
        marks=published.TABLE1_MARKS, extrapolate=True, engines_table=("loop", "batch"),
        beside=published.table1_beside, pivot=False)

    # value and the three partials: the gradient of f per call on floats (loop); each
    # point's value and gradient of f, elementwise over N points (batch)
    WRITTEN_ONCE = {"loop": "value_and_grad", "batch": "elementwise_grad"}

    def written_once(self, workload: str, api: Any, problem: dict[str, Any],
                     options: dict[str, Any]) -> Any:
        """f written once on the engine's namespace: its value_and_grad per call on Python
        floats (loop), its elementwise_grad on N points (batch)."""
        from harness.engines import Workload, cast, loop_workload

        ns, leaf, to_float = api.ns, api.leaf, api.to_float

        def f(a: Any, b: Any, c: Any) -> Any:
            return formula(a, b, c, ns)

        if workload == "loop":
            vg = api.transforms["value_and_grad"](lambda a, b, c: (f(a, b, c), None),
                                                  0.5, 0.5, 0.5)

            def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
                out, _, (d1, d2, d3) = vg(leaf(a), leaf(b), leaf(c))
                return to_float(out), to_float(d1), to_float(d2), to_float(d3)
            how = getattr(vg, "note", api.notes.get("value_and_grad", "value_and_grad"))
            return loop_workload(problem, call, f"{how}, per call on 3 floats")

        arrays = [api.asarray(a) for a in cast(problem, options["dtype"], ("x1", "x2", "x3"))]
        grad = api.transforms["elementwise_grad"](f, *arrays)

        def run() -> list[Any]:
            out, grads = grad(*(leaf(a) for a in arrays))
            return [out, *grads]
        how = getattr(grad, "note", api.notes.get("elementwise_grad", "elementwise_grad"))
        return Workload(run, lambda out: [api.to_numpy(a) for a in out], f"{how}, N points")

    def cells(self, params: dict[str, Any]) -> list[tuple[str, int]]:
        sizes = {"loop": params["loop_calls"], "batch": params["batch_points"]}
        return [(variant, sizes[variant]) for variant in params["variants"]]

    def calls_per_op(self, variant: str, size: int, params: dict[str, Any]) -> int:
        """Evaluations (f and 3 partials at one point) per timed operation: N either way."""
        if variant != "loop":
            return size
        points, rounds = loop_shape(size)
        return points * rounds

    def make_problem(self, variant: str, size: int, params: dict[str, Any],
                     seed: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        points, rounds = loop_shape(size) if variant == "loop" else (size, 1)
        return {"x1": rng.uniform(-1.0, 1.0, points), "x2": rng.uniform(-np.pi, np.pi, points),
                "x3": rng.uniform(-1.0, 1.0, points), "rounds": rounds}

    def reference(self, variant: str, problem: dict[str, Any]) -> list[np.ndarray]:
        return list(analytic(problem["x1"], problem["x2"], problem["x3"]))


EXPERIMENT = E1Function()
