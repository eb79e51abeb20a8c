"""Optional peer engines (JAX, HIPS autograd, micrograd): used only when importable.

They are not dependencies of the project; when absent their cells are skipped with a
one-line reason. Their workloads are the same formulas as every other engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.engines import Engine, Workload, cast, fetch_loop, loop_over, points_of
from harness.experiments import e1_function, e2_network_reverse, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")


def _jax(options: dict[str, Any]) -> tuple[Any, Any]:
    import jax

    jax.config.update("jax_enable_x64", options["dtype"] == "float64")
    import jax.numpy as jnp

    return jax, jnp


def _jax_e1(jnp: Any):
    def f(x1: Any, x2: Any, x3: Any) -> Any:
        return e1_function.formula(x1, x2, x3, jnp)
    return f


def jax_e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """jax.value_and_grad (jitted) called once per point on Python floats."""
    jax, jnp = _jax(options)
    vg = jax.jit(jax.value_and_grad(_jax_e1(jnp), argnums=(0, 1, 2)))

    def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
        value, (g1, g2, g3) = vg(a, b, c)
        return float(value), float(g1), float(g2), float(g3)
    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, call, rounds), fetch_loop,
                    "jit(value_and_grad) per call")


def jax_e1_batch(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """jit(vmap(value_and_grad)) over N points."""
    jax, jnp = _jax(options)
    vg = jax.jit(jax.vmap(jax.value_and_grad(_jax_e1(jnp), argnums=(0, 1, 2))))
    x1, x2, x3 = (jnp.asarray(a) for a in cast(problem, options["dtype"], ("x1", "x2", "x3")))

    def run() -> list[Any]:
        value, grads = vg(x1, x2, x3)
        value.block_until_ready()
        return [value, *grads]
    return Workload(run, description="jit(vmap(value_and_grad))")


def jax_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """jit(value_and_grad) of the network w.r.t. all four parameters."""
    jax, jnp = _jax(options)
    params = [jnp.asarray(a) for a in cast(problem, options["dtype"], PARAM_KEYS)]
    X = jnp.asarray(problem["X"], dtype=options["dtype"])
    lib = type("lib", (), {"sigmoid": staticmethod(jax.nn.sigmoid)})
    vg = jax.jit(jax.value_and_grad(
        lambda W1, b1, w2, b2: e2_network_reverse.network(W1, b1, w2, b2, X, lib),
        argnums=(0, 1, 2, 3)))

    def run() -> list[Any]:
        value, grads = vg(*params)
        value.block_until_ready()
        return [value, *grads]
    return Workload(run, description="jit(value_and_grad)")


def _jax_e3(full_gradient: bool):
    def build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
        jax, jnp = _jax(options)
        W1, b1, w2, b2, x, v = (jnp.asarray(a) for a in
                                cast(problem, options["dtype"], (*PARAM_KEYS, "x", "v")))

        def net(inputs: Any) -> Any:
            return e3_network_forward.network(W1, b1, w2, b2, inputs, jnp)
        if full_gradient:
            jac = jax.jit(jax.jacfwd(net))
            return Workload(lambda: [net(x), jac(x)], description="jit(jacfwd)")
        jvp = jax.jit(lambda t: jax.jvp(net, (x,), (t,)))
        return Workload(lambda: list(jvp(v)), description="jit(jvp)")
    return build


def autograd_e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """HIPS autograd value_and_grad per call on Python floats (one trace per call)."""
    import autograd
    import autograd.numpy as anp

    vg = autograd.value_and_grad(
        lambda x: e1_function.formula(x[0], x[1], x[2], anp))

    def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
        value, grad = vg(np.array([a, b, c]))
        return float(value), float(grad[0]), float(grad[1]), float(grad[2])
    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, call, rounds), fetch_loop, "value_and_grad per call")


def autograd_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """HIPS autograd value_and_grad of the network w.r.t. its parameters."""
    import autograd
    import autograd.numpy as anp

    params = cast(problem, options["dtype"], PARAM_KEYS)
    X = np.asarray(problem["X"], dtype=options["dtype"])
    lib = type("lib", (), {"sigmoid": staticmethod(lambda z: 1.0 / (1.0 + anp.exp(-z)))})
    vg = autograd.value_and_grad(
        lambda p: e2_network_reverse.network(p[0], p[1], p[2], p[3], X, lib))

    def run() -> list[Any]:
        value, grads = vg(params)
        return [value, *grads]
    return Workload(run, description="value_and_grad over a parameter list")


ENGINES = [
    Engine(name="jax", description="JAX (optional peer, jit-compiled)", requires=("jax",),
           builders={("E1", "loop"): jax_e1_loop, ("E1", "batch"): jax_e1_batch,
                     ("E2", "step"): jax_e2_step, ("E3", "jvp"): _jax_e3(False),
                     ("E3", "grad"): _jax_e3(True)}),
    Engine(name="autograd", description="HIPS autograd (optional peer)", requires=("autograd",),
           builders={("E1", "loop"): autograd_e1_loop, ("E2", "step"): autograd_e2_step}),
    Engine(name="micrograd", description="micrograd (optional peer)", requires=("micrograd",),
           not_meaningful={(name, "*"): "micrograd has no sin/cos/log/sigmoid/tanh"
                           for name in ("E1", "E2", "E3")}),
]
