"""bobodiff trace-and-compile (bd.jit): the gradient program traced once, emitted as Python
source and reused - the report's "source transformation" approach.

Compilation happens in the builder's first call (the warm-up); the timed calls run the
compiled code. E2 "setup" is skipped: compiled code takes plain arrays, there is no
parameter object to build.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.engines import (
    Engine,
    Workload,
    bobodiff_missing,
    cast,
    fetch_loop,
    loop_over,
    points_of,
)
from harness.experiments import e1_function, e2_network_reverse, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")


def build_e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """jit(value_and_grad(f, argnums=(0, 1, 2))) called once per point on Python floats."""
    import bobodiff as bd

    compiled = bd.jit(bd.value_and_grad(lambda a, b, c: e1_function.formula(a, b, c, bd),
                                        argnums=(0, 1, 2)))

    def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
        value, (d1, d2, d3) = compiled(a, b, c)
        return value, d1, d2, d3

    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, call, rounds), fetch_loop,
                    "jit(value_and_grad) per call, compiled once on floats")


def _e1_sum_and_values(x1: Any, x2: Any, x3: Any) -> tuple[Any, Any]:
    """sum(f) (whose gradient holds every point's partials) and f itself as aux."""
    import bobodiff as bd

    f = e1_function.formula(x1, x2, x3, bd)
    return bd.sum(f), f


def build_e1_batch(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """jit(value_and_grad) of sum(f), f as aux: every point's value and partials."""
    import bobodiff as bd

    compiled = bd.jit(bd.value_and_grad(_e1_sum_and_values, argnums=(0, 1, 2), has_aux=True))
    arrays = cast(problem, options["dtype"], ("x1", "x2", "x3"))

    def run() -> list[Any]:
        (_, values), partials = compiled(*arrays)
        return [values, *partials]
    return Workload(run, description="jit(value_and_grad(sum f, has_aux=f)), chunked NumPy "
                    "source on N points")


def _e2_compiled(bd: Any) -> Any:
    def loss(W1: Any, b1: Any, w2: Any, b2: Any, X: Any) -> Any:
        return e2_network_reverse.network(W1, b1, w2, b2, X, bd)
    return bd.jit(bd.value_and_grad(loss, argnums=(0, 1, 2, 3)))


def build_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """jit(value_and_grad) of the network w.r.t. W1, b1, w2, b2."""
    import bobodiff as bd

    compiled = _e2_compiled(bd)
    args = cast(problem, options["dtype"], (*PARAM_KEYS, "X"))

    def run() -> list[Any]:
        value, grads = compiled(*args)
        return [value, *grads]
    return Workload(run, description="jit(value_and_grad), compiled once")


def build_e2_lists_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Arrays from nested lists, then the compiled step."""
    import bobodiff as bd

    compiled = _e2_compiled(bd)
    lists = [problem[key].tolist() for key in PARAM_KEYS]
    X = np.asarray(problem["X"], dtype=options["dtype"])

    def run() -> list[Any]:
        value, grads = compiled(*(np.array(item, dtype=options["dtype"]) for item in lists), X)
        return [value, *grads]
    return Workload(run, description="np.array(nested lists) + compiled step")


def _e3_jvp(W1: Any, b1: Any, w2: Any, b2: Any, x: Any, v: Any) -> Any:
    import bobodiff as bd

    return bd.jvp(lambda inputs: e3_network_forward.network(W1, b1, w2, b2, inputs, bd),
                  (x,), (v,))


def _e3_grad(W1: Any, b1: Any, w2: Any, b2: Any, x: Any) -> Any:
    import bobodiff as bd

    def net(inputs: Any) -> Any:
        return e3_network_forward.network(W1, b1, w2, b2, inputs, bd)
    return net(x), bd.jacfwd(net)(x)


def _e3_builder(full_gradient: bool):
    def build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
        import bobodiff as bd

        keys = (*PARAM_KEYS, "x") if full_gradient else (*PARAM_KEYS, "x", "v")
        args = cast(problem, options["dtype"], keys)
        compiled = bd.jit(_e3_grad if full_gradient else _e3_jvp)
        what = "jit(jacfwd): n directions" if full_gradient else "jit(jvp): one direction"
        return Workload(lambda: list(compiled(*args)), description=what)
    return build


ENGINE = Engine(
    name="bobodiff-compiled",
    description="bobodiff trace-and-compile (bd.jit): straight-line Python/NumPy source",
    requires=("bobodiff",),
    family="bobodiff", distribution="bobodiff",
    capabilities=frozenset({"reverse-mode", "forward-mode", "compiled"}),
    availability=lambda: bobodiff_missing("jit", "value_and_grad", "vjp", "jvp", "jacfwd"),
    builders={
        ("E1", "loop"): build_e1_loop,
        ("E1", "batch"): build_e1_batch,
        ("E2", "step"): build_e2_step,
        ("E2", "lists+step"): build_e2_lists_step,
        ("E3", "jvp"): _e3_builder(False),
        ("E3", "grad"): _e3_builder(True),
    },
    not_meaningful={
        ("E2", "setup"): "compiled code takes plain arrays: there is no parameter object to "
                         "set up",
    },
)
