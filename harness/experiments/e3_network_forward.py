"""E3 - network, forward mode: derivative of the output with respect to the inputs.

Network: n inputs, one hidden layer of n units with tanh, one linear output,
y = w2 . tanh(W1 x + b1) + b2. Readings per n: "jvp" (one direction v: one JVP) and
"grad" (all n directions: the full input gradient, batched tangents in forward mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import published
from harness.experiments import SCALAR_GRAPH_ENGINES, Experiment, ReportSpec, scalar_bound
from harness.params import Param


def network(W1: Any, b1: Any, w2: Any, b2: Any, x: Any, lib: Any) -> Any:
    """Scalar output for one input vector x, written once for any engine; lib supplies tanh."""
    return w2 @ lib.tanh(W1 @ x + b1) + b2


def analytic(W1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: Any, x: np.ndarray,
             v: np.ndarray | None) -> list[np.ndarray]:
    """Output and either the JVP along v (v given) or the full input gradient (v None)."""
    hidden = np.tanh(W1 @ x + b1)
    y = np.asarray(hidden @ w2 + b2)
    slope = w2 * (1.0 - hidden * hidden)
    if v is None:
        return [y, W1.T @ slope]
    return [y, np.asarray(slope @ (W1 @ v))]


class E3NetworkForward(Experiment):
    """The report's section 1.6 network, differentiated with respect to its inputs."""

    NAME = "E3"
    TITLE = "E3 - network, forward mode (derivative w.r.t. the inputs)"
    PARAMS = {
        "variants": Param("str_list", ["jvp", "grad"], "readings to measure",
                          choices=("jvp", "grad")),
        "sizes": Param("int_list", [1, 10, 100, 300, 600, 1000], "n (inputs = hidden units)",
                       1, 4000),
        "scalar_max_n": Param("int", 1000, f"largest n measured for {SCALAR_GRAPH_ENGINES}",
                              1, 4000),
    }

    REPORT = ReportSpec(
        "E3 - network, forward mode (report Table 2)", plot="time_vs_n",
        plot_file="e3_time_vs_n.png", size_label="n (inputs = hidden units)",
        curves={variant: published.E3_REPORT_MS for variant in ("jvp", "grad")},
        curve_colors=published.CURVE_COLORS, growth_fit=True, beside=published.table2_beside)

    def cells(self, params: dict[str, Any]) -> list[tuple[str, int]]:
        return [(variant, n) for n in params["sizes"] for variant in params["variants"]]

    def make_problem(self, variant: str, size: int, params: dict[str, Any],
                     seed: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(size)
        return {"W1": rng.uniform(-bound, bound, (size, size)),
                "b1": rng.uniform(-bound, bound, size), "w2": rng.uniform(-bound, bound, size),
                "b2": np.asarray(rng.uniform(-bound, bound)), "x": rng.standard_normal(size),
                "v": rng.standard_normal(size)}

    def reference(self, variant: str, problem: dict[str, Any]) -> list[np.ndarray]:
        direction = problem["v"] if variant == "jvp" else None
        return analytic(problem["W1"], problem["b1"], problem["w2"], problem["b2"],
                        problem["x"], direction)

    def output_names(self, variant: str) -> tuple[str, ...]:
        return ("y", "dy/dx . v") if variant == "jvp" else ("y", "dy/dx")

    def skip_reason(self, engine: str, variant: str, size: int,
                    params: dict[str, Any]) -> str | None:
        return scalar_bound(engine, self.NAME, variant, size, params["scalar_max_n"])[1]


EXPERIMENT = E3NetworkForward()
