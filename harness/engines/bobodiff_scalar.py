"""bobodiff with one node per scalar (the report's design): Python floats, lists of lists.

E1-loop: reverse-mode Tensors on Python floats, one graph per call; E2: one Tensor per
scalar weight, loops over lists; E3/jvp: one Dual number per scalar (the report's forward
network). E1-batch and E3/grad have no scalar form worth timing (see the skip reasons).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.engines import Engine, Workload, bobodiff_missing, fetch_loop, loop_over, points_of
from harness.experiments import e1_function

PARAM_KEYS = ("W1", "b1", "w2", "b2")


def build_e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """One scalar graph per call: three float Tensors, backward, read .grad."""
    import bobodiff as bd

    Tensor = bd.Tensor

    def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
        x1 = Tensor(a, requires_grad=True)
        x2 = Tensor(b, requires_grad=True)
        x3 = Tensor(c, requires_grad=True)
        f = e1_function.formula(x1, x2, x3, bd)
        f.backward()
        return f.data, x1.grad, x2.grad, x3.grad

    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, call, rounds), fetch_loop,
                    "3 float Tensors + backward per call (scalar graph)")


def _scalar_parameters(bd: Any, lists: list[Any]) -> list[Any]:
    W1, b1, w2, b2 = lists
    Tensor = bd.Tensor
    return [[[Tensor(w, requires_grad=True) for w in row] for row in W1],
            [Tensor(b, requires_grad=True) for b in b1],
            [Tensor(w, requires_grad=True) for w in w2], Tensor(b2, requires_grad=True)]


def _zero_grads(params: list[Any]) -> None:
    """zero_grad() on every leaf (no list of the million leaves is built for it)."""
    W1, b1, w2, b2 = params
    for row in W1:
        for leaf in row:
            leaf.zero_grad()
    for leaf in b1:
        leaf.zero_grad()
    for leaf in w2:
        leaf.zero_grad()
    b2.zero_grad()


def _scalar_step(bd: Any, params: list[Any], samples: list[list[float]]) -> list[Any]:
    W1, b1, w2, b2 = params
    _zero_grads(params)
    total = None
    # The graph has no reference cycles: with the cyclic collector paused, building its
    # million nodes is not interrupted by collections that scan them all (bobodiff's API).
    with bd.gc_paused():
        for x in samples:
            hidden = [bd.sigmoid(sum((w * xi for w, xi in zip(row, x)), bias))
                      for row, bias in zip(W1, b1)]
            y = sum((w * h for w, h in zip(w2, hidden)), b2)
            total = y if total is None else total + y
    total.backward()
    return [total, params]


def _fetch_step(result: list[Any]) -> list[np.ndarray]:
    total, (W1, b1, w2, b2) = result
    return [np.asarray(total.data), np.array([[t.grad for t in row] for row in W1]),
            np.array([t.grad for t in b1]), np.array([t.grad for t in w2]), np.asarray(b2.grad)]


def _fetch_setup(params: list[Any]) -> list[np.ndarray]:
    W1, b1, w2, b2 = params
    return [np.array([[t.data for t in row] for row in W1]), np.array([t.data for t in b1]),
            np.array([t.data for t in w2]), np.asarray(b2.data)]


def build_e2_setup(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Arrays -> nested lists -> one Tensor per scalar weight."""
    import bobodiff as bd

    arrays = [problem[key] for key in PARAM_KEYS]
    return Workload(lambda: _scalar_parameters(bd, [a.tolist() for a in arrays]), _fetch_setup,
                    "ndarray.tolist() then one Tensor per weight")


def build_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Scalar-graph forward + backward over the batch (loops over lists)."""
    import bobodiff as bd

    params = _scalar_parameters(bd, [problem[key].tolist() for key in PARAM_KEYS])
    samples = problem["X"].tolist()
    return Workload(lambda: _scalar_step(bd, params, samples), _fetch_step,
                    "zero_grad every leaf, scalar graph forward, backward")


def build_e2_lists_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """One Tensor per weight built from nested lists, then one scalar-graph step."""
    import bobodiff as bd

    lists = [problem[key].tolist() for key in PARAM_KEYS]
    samples = problem["X"].tolist()
    return Workload(lambda: _scalar_step(bd, _scalar_parameters(bd, lists), samples),
                    _fetch_step, "Tensors from nested lists + one step")


def build_e3_jvp(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """One Dual per input scalar, weights as nested lists of floats: the report's E3."""
    import bobodiff as bd

    W1, b1, w2 = (problem[key].tolist() for key in ("W1", "b1", "w2"))
    b2 = float(problem["b2"])
    x, v = problem["x"].tolist(), problem["v"].tolist()

    def run() -> list[Any]:
        inputs = [bd.Dual(xi, vi) for xi, vi in zip(x, v)]
        hidden = [bd.tanh(sum((w * xi for w, xi in zip(row, inputs)), bias))
                  for row, bias in zip(W1, b1)]
        y = sum((w * h for w, h in zip(w2, hidden)), b2)
        return [y.value, y.tangent]
    return Workload(run, description="one float Dual per input, loops over nested lists")


ENGINE = Engine(
    name="bobodiff-scalar",
    description="bobodiff, one graph node (or dual) per scalar - the report's design",
    requires=("bobodiff",),
    family="bobodiff", distribution="bobodiff",
    # scalar-graph: one node per scalar, so experiments bound its sizes by their own keys
    capabilities=frozenset({"reverse-mode", "forward-mode", "scalar-graph"}),
    availability=lambda: bobodiff_missing("Tensor", "Dual", "sigmoid", "tanh", "gc_paused"),
    builders={
        ("E1", "loop"): build_e1_loop,
        ("E2", "setup"): build_e2_setup,
        ("E2", "step"): build_e2_step,
        ("E2", "lists+step"): build_e2_lists_step,
        ("E3", "jvp"): build_e3_jvp,
    },
    not_meaningful={
        ("E1", "batch"): "a scalar graph has no batched form; its per-call cost is E1/loop",
        ("E3", "grad"): "n scalar forward passes of n^2 duals each; the scalar design is "
                        "timed on E3/jvp",
    },
)
