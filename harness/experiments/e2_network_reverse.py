"""E2 - network, reverse mode: gradient of the output with respect to every weight.

Network: n inputs, one hidden layer of n units with sigmoid, one linear output,
y = sum over the batch of w2 . sigmoid(W1 x + b1) + b2. Readings per n:
"setup" (engine parameters built from NumPy arrays), "step-bB" (forward + backward on a
batch of B samples, parameters already set up), and "lists+step-b1" (parameters built from
Python nested lists, as the report's scalar design does, then one step): the candidate that
may explain the report's PyTorch figures, which are ~100x one pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import published
from harness.experiments import SCALAR_GRAPH_ENGINES, Experiment, ReportSpec, scalar_bound
from harness.params import Param


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


def network(W1: Any, b1: Any, w2: Any, b2: Any, X: Any, lib: Any) -> Any:
    """Scalar output of the network on a batch X (rows = samples), written once for any engine
    whose arrays support @, .T, + and .sum(); ``lib`` supplies sigmoid."""
    return (lib.sigmoid(X @ W1.T + b1) @ w2 + b2).sum()


def analytic_step(W1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: Any,
                  X: np.ndarray) -> list[np.ndarray]:
    """Output and gradients (y, dW1, db1, dw2, db2) written by hand with NumPy.

    np.dot rather than @ for the weight gradient: for one sample it is an outer product,
    which np.dot sends to BLAS and np.matmul does not (4x slower here).
    """
    hidden = sigmoid(np.dot(X, W1.T) + b1)
    y = np.sum(np.dot(hidden, w2)) + X.shape[0] * b2
    dz = w2 * hidden * (1.0 - hidden)
    return [np.asarray(y), np.dot(dz.T, X), dz.sum(axis=0), hidden.sum(axis=0),
            np.asarray(float(X.shape[0]))]


def make_network(n: int, batch: int, seed: int) -> dict[str, Any]:
    """Random weights (torch.nn.Linear's uniform init) and a batch of standard normal inputs."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(n)
    return {"W1": rng.uniform(-bound, bound, (n, n)), "b1": rng.uniform(-bound, bound, n),
            "w2": rng.uniform(-bound, bound, n), "b2": np.asarray(rng.uniform(-bound, bound)),
            "X": rng.standard_normal((batch, n)), "batch": batch}


class E2NetworkReverse(Experiment):
    """The report's section 1.5 network, differentiated with respect to its weights."""

    NAME = "E2"
    TITLE = "E2 - network, reverse mode (gradient w.r.t. all weights)"
    PARAMS = {
        "variants": Param("str_list", ["setup", "step", "lists+step"], "readings to measure",
                          choices=("setup", "step", "lists+step")),
        "sizes": Param("int_list", [1, 10, 100, 300, 600, 1000], "n (inputs = hidden units)",
                       1, 4000),
        "batches": Param("int_list", [1, 64], "batch sizes of the step reading", 1, 4096),
        "scalar_max_n": Param("int", 300, f"largest n measured for {SCALAR_GRAPH_ENGINES}",
                              1, 4000),
        "scalar_setup_max_n": Param("int", 300, "largest n of the setup and lists+step "
                                    f"readings for {SCALAR_GRAPH_ENGINES} (their step "
                                    "reading goes up to scalar_max_n)", 1, 4000),
        "scalar_batches": Param("int_list", [1], "batch sizes measured for "
                                f"{SCALAR_GRAPH_ENGINES} (a batch of B is B scalar graphs)",
                                1, 4096),
    }
    OUTPUT_NAMES = ("y", "dL/dW1", "dL/db1", "dL/dw2", "dL/db2")
    # the report's figures on the readings it most probably timed: one step of the network
    REPORT = ReportSpec(
        "E2 - network, reverse mode (report section 1.5)", plot="time_vs_n",
        plot_file="e2_time_vs_n.png", size_label="n (inputs = hidden units)",
        curves={variant: published.E2_REPORT_MS for variant in ("step-b1", "lists+step-b1")},
        curve_colors=published.CURVE_COLORS, growth_fit=True,
        beside=published.section15_beside)

    def cells(self, params: dict[str, Any]) -> list[tuple[str, int]]:
        pairs = []
        for n in params["sizes"]:
            for variant in params["variants"]:
                if variant == "step":
                    pairs += [(f"step-b{batch}", n) for batch in params["batches"]]
                elif variant == "lists+step":
                    pairs.append(("lists+step-b1", n))
                else:
                    pairs.append((variant, n))
        return pairs

    def workload(self, variant: str) -> str:
        return variant.split("-b")[0]

    def make_problem(self, variant: str, size: int, params: dict[str, Any],
                     seed: int) -> dict[str, Any]:
        batch = int(variant.split("-b")[1]) if "-b" in variant else 1
        return make_network(size, batch, seed)

    def reference(self, variant: str, problem: dict[str, Any]) -> list[np.ndarray]:
        if variant == "setup":
            return [problem[key] for key in ("W1", "b1", "w2", "b2")]
        return analytic_step(problem["W1"], problem["b1"], problem["w2"], problem["b2"],
                             problem["X"])

    def output_names(self, variant: str) -> tuple[str, ...]:
        return ("W1", "b1", "w2", "b2") if variant == "setup" else self.OUTPUT_NAMES

    def skip_reason(self, engine: str, variant: str, size: int,
                    params: dict[str, Any]) -> str | None:
        scalar, reason = scalar_bound(engine, self.NAME, variant, size, params["scalar_max_n"])
        if not scalar or reason:
            return reason
        limit = params["scalar_setup_max_n"]
        if not variant.startswith("step") and size > limit:
            return (f"n={size} is above E2.scalar_setup_max_n={limit} for the {variant} "
                    "reading (one node per scalar; its step reading goes to scalar_max_n)")
        batch = int(variant.split("-b")[1]) if "-b" in variant else 1
        if batch not in params["scalar_batches"]:
            return (f"batch {batch} is not in E2.scalar_batches={params['scalar_batches']} "
                    "(a batch of B is B scalar graphs; add it to the key to measure it)")
        return None


EXPERIMENT = E2NetworkReverse()
