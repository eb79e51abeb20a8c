"""bobodiff forward mode (dual numbers) adapter: E1 loop and batch, E3 JVP and full gradient.

E1-loop makes 3 passes per call on Python floats, one per direction (the report's
variable()/constant() usage); E1-batch makes one pass over N points with 3 directions
(``bd.variables``: sparse seeds, so each operation works only on the directions its
operands vary along).
E2 is skipped: forward mode needs one pass per weight.
"""

from __future__ import annotations

from typing import Any

from harness.engines import (
    FUNCTIONAL,
    ArrayAPI,
    Engine,
    Workload,
    bobodiff_missing,
    cast,
    fetch_loop,
    loop_over,
    points_of,
)
from harness.experiments import e1_function, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")
SEEDS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def bobodiff_api(options: dict[str, Any]) -> ArrayAPI:
    """bobodiff as the namespace and as the functional transforms (bd.grad, bd.jvp, ...):
    forward mode's Dual numbers composed with the reverse-mode tape."""
    import numpy as np

    import bobodiff as bd

    return ArrayAPI(bd, lambda a: np.asarray(a, dtype=options["dtype"]), np.asarray,
                    func=bd, func_name="bd")


def build_e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Three Dual passes on Python floats per call, one per input direction."""
    import bobodiff as bd

    Dual = bd.Dual

    def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
        partials = []
        for da, db, dc in SEEDS:
            f = e1_function.formula(Dual(a, da), Dual(b, db), Dual(c, dc), bd)
            partials.append(f.tangent)
        return f.value, partials[0], partials[1], partials[2]

    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, call, rounds), fetch_loop,
                    "3 passes per call (one per direction), float duals")


def build_e1_batch(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """One Dual pass over N points carrying 3 directions (one per input, kept apart)."""
    import bobodiff as bd

    x1, x2, x3 = cast(problem, options["dtype"], ("x1", "x2", "x3"))
    shape, dtype = x1.shape, x1.dtype

    def run() -> list[Any]:
        f = e1_function.formula(*bd.variables(x1, x2, x3), bd)
        return [f.value, *(f.tangent.part(j, shape, dtype) for j in range(3))]
    return Workload(run, description="one pass, 3 directions seeded by bd.variables "
                    "(each input varies along its own direction only)")


def _e3_builder(full_gradient: bool):
    def build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
        import bobodiff as bd

        W1, b1, w2, b2, x, v = cast(problem, options["dtype"], (*PARAM_KEYS, "x", "v"))
        tangent = bd.Basis(x.size, x.dtype) if full_gradient else v

        def run() -> list[Any]:
            y = e3_network_forward.network(W1, b1, w2, b2, bd.Dual(x, tangent), bd)
            return [y.value, y.tangent]
        what = "identity tangent (bd.Basis): all n directions in one pass" if full_gradient \
            else "one direction, tangent shape (n,)"
        return Workload(run, description=what)
    return build


ENGINE = Engine(
    name="bobodiff-forward",
    description="bobodiff forward mode (Dual numbers, NumPy tangents)",
    requires=("bobodiff",),
    family="bobodiff", distribution="bobodiff",
    capabilities=frozenset({"forward-mode", FUNCTIONAL}),
    api=bobodiff_api,
    availability=lambda: bobodiff_missing("Dual", "sin", "cos", "log", "exp", "tanh"),
    builders={
        ("E1", "loop"): build_e1_loop,
        ("E1", "batch"): build_e1_batch,
        ("E3", "jvp"): _e3_builder(False),
        ("E3", "grad"): _e3_builder(True),
    },
    not_meaningful={
        ("E2", "*"): "forward mode needs one pass per weight (n^2 + 2n + 1 passes): "
                     "not meaningful for E2",
    },
)
