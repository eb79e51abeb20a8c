"""Peer engines (JAX, HIPS autograd, micrograd), installed by the ``bench`` extra.

They are not dependencies of bobodiff itself; when one is absent its cells are skipped with
a one-line reason. Their workloads are the same formulas as every other engine.

* JAX runs on the CPU with 64-bit floats enabled. Each function is compiled ahead of time
  (``jit(...).lower(...).compile()``) while the workload is built, so compile time never
  enters a timed call; it is reported apart, in the workload's description.
* micrograd's ``Value`` has only +, *, ** and relu: ``sin``, ``cos``, ``exp``, ``log``,
  ``sigmoid`` and ``tanh`` are added here in its own idiom (one node and its backward
  closure). Its ``backward()`` sorts the graph with a recursive function, so cells whose
  graph is deeper than the recursion limit allows are skipped (see ``micrograd_size_reason``).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from harness.engines import FUNCTIONAL, ArrayAPI, Engine, Workload, cast, loop_workload
from harness.experiments import e1_function, e2_network_reverse, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")

# ---------------------------------------------------------------------------------------- JAX


def _jax(options: dict[str, Any]) -> tuple[Any, Any]:
    """jax and jax.numpy, on the CPU, with float64 available; one XLA thread when asked."""
    if int(options.get("threads", 0)) == 1:
        # XLA's CPU backend reads its flags when it starts (first use, not import).
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                       "intra_op_parallelism_threads=1").strip()
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jax, jnp


def compile_ahead(jax: Any, function: Any, *args: Any) -> tuple[Any, float]:
    """``function`` jitted and compiled for ``args``; returns (compiled, compile seconds)."""
    start = time.perf_counter()
    compiled = jax.jit(function).lower(*args).compile()
    return compiled, time.perf_counter() - start


def _compiled_note(what: str, seconds: float) -> str:
    return f"{what}; compiled ahead in {seconds * 1e3:.0f} ms (not in the timed calls)"


def jax_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """jit(value_and_grad) of the network w.r.t. all four parameters."""
    jax, jnp = _jax(options)
    params = [jnp.asarray(a) for a in cast(problem, options["dtype"], PARAM_KEYS)]
    X = jnp.asarray(problem["X"], dtype=options["dtype"])
    lib = type("lib", (), {"sigmoid": staticmethod(jax.nn.sigmoid)})
    vg, seconds = compile_ahead(jax, jax.value_and_grad(
        lambda W1, b1, w2, b2, X: e2_network_reverse.network(W1, b1, w2, b2, X, lib),
        argnums=(0, 1, 2, 3)), *params, X)

    def run() -> list[Any]:
        value, grads = vg(*params, X)
        value.block_until_ready()
        return [value, *grads]
    return Workload(run, description=_compiled_note("jit(value_and_grad)", seconds))


def _jax_e3(full_gradient: bool):
    def build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
        jax, jnp = _jax(options)
        W1, b1, w2, b2, x, v = (jnp.asarray(a) for a in
                                cast(problem, options["dtype"], (*PARAM_KEYS, "x", "v")))

        def net(W1: Any, b1: Any, w2: Any, b2: Any, inputs: Any) -> Any:
            return e3_network_forward.network(W1, b1, w2, b2, inputs, jnp)

        if full_gradient:
            def value_and_jacobian(W1: Any, b1: Any, w2: Any, b2: Any, x: Any) -> Any:
                return net(W1, b1, w2, b2, x), jax.jacfwd(net, argnums=4)(W1, b1, w2, b2, x)
            compiled, seconds = compile_ahead(jax, value_and_jacobian, W1, b1, w2, b2, x)
            what = "jit(value and jacfwd)"
            args = (W1, b1, w2, b2, x)
        else:
            def tangent(W1: Any, b1: Any, w2: Any, b2: Any, x: Any, t: Any) -> Any:
                return jax.jvp(lambda inputs: net(W1, b1, w2, b2, inputs), (x,), (t,))
            compiled, seconds = compile_ahead(jax, tangent, W1, b1, w2, b2, x, v)
            what = "jit(jvp)"
            args = (W1, b1, w2, b2, x, v)

        def run() -> list[Any]:
            out = compiled(*args)
            out[1].block_until_ready()
            return list(out)
        return Workload(run, description=_compiled_note(what + ", weights as arguments",
                                                        seconds))
    return build


def jax_api(options: dict[str, Any]) -> ArrayAPI:
    """jax.numpy; value_and_grad and elementwise_grad compiled ahead; jax itself as the
    functional transforms, compiled by jax.jit (at the first call: the warm-up) and synced
    by jax.block_until_ready."""
    jax, jnp = _jax(options)

    def value_and_grad(g: Any, *example: Any) -> Any:
        compiled, seconds = compile_ahead(jax, jax.value_and_grad(
            g, argnums=tuple(range(len(example))), has_aux=True), *example)

        def call(*leaves: Any) -> tuple[Any, Any, Any]:
            (out, aux), grads = compiled(*leaves)
            out.block_until_ready()
            return out, aux, grads
        call.note = _compiled_note("jit(value_and_grad, has_aux)", seconds)
        return call

    def elementwise_grad(f: Any, *example: Any) -> Any:
        compiled, seconds = compile_ahead(jax, jax.vmap(jax.value_and_grad(
            f, argnums=tuple(range(len(example))))), *example)

        def call(*leaves: Any) -> tuple[Any, Any]:
            out, grads = compiled(*leaves)
            out.block_until_ready()
            return out, grads
        call.note = _compiled_note("jit(vmap(value_and_grad))", seconds)
        return call

    return ArrayAPI(jnp, jnp.asarray, np.asarray,
                    {"value_and_grad": value_and_grad, "elementwise_grad": elementwise_grad},
                    {"value_and_grad": "jit(value_and_grad, has_aux)"},
                    func=jax, compile=jax.jit, compile_name="jit", sync=jax.block_until_ready)


# ------------------------------------------------------------------------------ HIPS autograd


def autograd_api(options: dict[str, Any]) -> ArrayAPI:
    """autograd.numpy; value_and_grad and elementwise_grad by make_vjp; autograd itself as
    the functional transforms (grad and the rest; no jvp: its forward mode covers few
    primitives)."""
    import autograd
    import autograd.numpy as anp
    from autograd.tracer import getval

    def value_and_grad(g: Any, *example: Any) -> Any:
        def call(*leaves: Any) -> tuple[Any, Any, Any]:
            kept: list[Any] = []

            def out_only(xs: tuple) -> Any:
                out, aux = g(*xs)
                kept.append(aux)
                return out
            vjp, out = autograd.make_vjp(out_only)(leaves)
            return out, getval(kept[0]), vjp(1.0)
        return call

    def elementwise_grad(f: Any, *example: Any) -> Any:
        vjp_maker = autograd.make_vjp(lambda xs: f(*xs))

        def call(*leaves: Any) -> tuple[Any, Any]:
            vjp, out = vjp_maker(leaves)
            return out, vjp(np.ones_like(out))
        return call

    return ArrayAPI(anp, np.asarray, np.asarray,
                    {"value_and_grad": value_and_grad, "elementwise_grad": elementwise_grad},
                    {"value_and_grad": "make_vjp, then the VJP of 1",
                     "elementwise_grad": "make_vjp over N points, VJP with ones"},
                    func=autograd)


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


def autograd_e3_grad(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """HIPS autograd value_and_grad of the network w.r.t. its inputs (reverse mode)."""
    import autograd
    import autograd.numpy as anp

    W1, b1, w2, b2, x = cast(problem, options["dtype"], (*PARAM_KEYS, "x"))
    vg = autograd.value_and_grad(
        lambda inputs: e3_network_forward.network(W1, b1, w2, b2, inputs, anp))
    return Workload(lambda: list(vg(x)), description="value_and_grad w.r.t. the inputs "
                    "(reverse mode: one pass gives all n directions)")


# ---------------------------------------------------------------------------------- micrograd

# micrograd's backward() recurses once per node along the deepest path of the graph. A cell
# runs at a depth of a few dozen frames (harness, workload, loops), so keep that much spare.
RECURSION_SPARE = 150
# A micrograd Value (with its closure and child set) took about 800 bytes and 10-20 us to
# build here: E2 at n=300 (about 270,000 Values) took 3 s a call, so each of a cell's three
# processes spent about 8 s on it (24 s for the cell, 37 s for E3 grad). Above 100,000
# Values per call a cell is skipped: n <= 100 shows micrograd's growth, and make bench keeps
# its time budget.
MICROGRAD_MAX_NODES = 100_000


def _unary(x: Any, data: float, slope: float, op: str) -> Any:
    """A micrograd node of one child, its backward closure applying d(out)/dx = ``slope``
    (as micrograd's own relu)."""
    from micrograd.engine import Value

    out = Value(data, (x,), op)

    def _backward() -> None:
        x.grad += slope * out.grad
    out._backward = _backward
    return out


def mg_sin(x: Any) -> Any:
    """sin as a micrograd node."""
    return _unary(x, math.sin(x.data), math.cos(x.data), "sin")


def mg_cos(x: Any) -> Any:
    """cos as a micrograd node."""
    return _unary(x, math.cos(x.data), -math.sin(x.data), "cos")


def mg_exp(x: Any) -> Any:
    """exp as a micrograd node."""
    value = math.exp(x.data)
    return _unary(x, value, value, "exp")


def mg_log(x: Any) -> Any:
    """Natural log as a micrograd node (x.data > 0)."""
    return _unary(x, math.log(x.data), 1.0 / x.data, "log")


def mg_sigmoid(x: Any) -> Any:
    """Logistic function as a micrograd node."""
    value = 1.0 / (1.0 + math.exp(-x.data))
    return _unary(x, value, value * (1.0 - value), "sigmoid")


def mg_tanh(x: Any) -> Any:
    """tanh as a micrograd node."""
    value = math.tanh(x.data)
    return _unary(x, value, 1.0 - value * value, "tanh")


class MicrogradLib:
    """The functions the experiments' formulas ask their ``lib`` for, on micrograd Values."""

    sin, cos, exp, log = staticmethod(mg_sin), staticmethod(mg_cos), staticmethod(mg_exp), \
        staticmethod(mg_log)
    sigmoid, tanh = staticmethod(mg_sigmoid), staticmethod(mg_tanh)


def micrograd_depth(experiment: str, variant: str, size: int) -> int:
    """The longest path through micrograd's graph of a cell (its backward's recursion depth):
    a weighted sum over n terms is a chain of n additions."""
    if experiment == "E2":
        batch = int(variant.split("-b")[1]) if "-b" in variant else 1
        # the batch's chain of sums, one sample's output chain over n units, one unit's input sum
        return batch + 2 * size + 10
    if experiment == "E3":
        return 2 * size + 10  # the output chain over n units, then one unit's input sum
    return 20


def micrograd_nodes(experiment: str, variant: str, size: int) -> int:
    """About how many Values one call builds: per sample, n^2 products, n^2 sums and the n^2
    float weights or inputs micrograd wraps in a Value of their own."""
    batch = int(variant.split("-b")[1]) if "-b" in variant else 1
    return 3 * batch * size * size if experiment in ("E2", "E3") else 30


def micrograd_size_reason(experiment: str, variant: str, size: int) -> str | None:
    """Why micrograd cannot run this cell (its recursive backward would overflow, or the
    graph would hold more than MICROGRAD_MAX_NODES Values), or None."""
    depth, limit = micrograd_depth(experiment, variant, size), 1000  # CPython's default
    if depth > limit - RECURSION_SPARE:
        return (f"micrograd's recursive backward would overflow: a graph {depth} nodes deep "
                f"at n={size}, recursion limit {limit}")
    nodes = micrograd_nodes(experiment, variant, size)
    if nodes > MICROGRAD_MAX_NODES:
        return (f"micrograd would build about {nodes:,} Values per call (over "
                f"{MICROGRAD_MAX_NODES:,}: seconds per call, several per process)")
    return None


def micrograd_e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Three micrograd Values per call, the formula, backward(), read .grad."""
    from micrograd.engine import Value

    def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
        x1, x2, x3 = Value(a), Value(b), Value(c)
        f = e1_function.formula(x1, x2, x3, MicrogradLib)
        f.backward()
        return f.data, x1.grad, x2.grad, x3.grad
    return loop_workload(problem, call, "3 Values + backward per call (sin/cos/exp/log added "
                         "as micrograd nodes)")


def _values(array: np.ndarray) -> Any:
    """Nested lists of micrograd Values with the entries of ``array``."""
    from micrograd.engine import Value

    if array.ndim == 0:
        return Value(float(array))
    return [_values(item) if item.ndim else Value(float(item)) for item in array]


def _zero(values: Any) -> None:
    if isinstance(values, list):
        for item in values:
            _zero(item)
    else:
        values.grad = 0.0


def _grads(values: Any) -> Any:
    return [_grads(item) for item in values] if isinstance(values, list) else values.grad


def micrograd_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """One Value per weight (set up once); a step zeroes grads, runs forward and backward."""
    params = [_values(np.asarray(problem[key], dtype=np.float64)) for key in PARAM_KEYS]
    samples = np.asarray(problem["X"], dtype=np.float64).tolist()

    def run() -> list[Any]:
        W1, b1, w2, b2 = params
        _zero(params)
        total = None
        for x in samples:
            hidden = [mg_sigmoid(sum((w * xi for w, xi in zip(row, x)), bias))
                      for row, bias in zip(W1, b1)]
            y = sum((w * h for w, h in zip(w2, hidden)), b2)
            total = y if total is None else total + y
        total.backward()
        return [total.data, *(_grads(p) for p in params)]
    return Workload(run, description="one Value per weight, forward + backward() per step "
                    "(sigmoid added as a micrograd node)")


def micrograd_e3_grad(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """One Value per input; weights as floats; backward() gives dy/dx (reverse mode)."""
    W1, b1, w2 = (np.asarray(problem[key], dtype=np.float64).tolist() for key in PARAM_KEYS[:3])
    b2 = float(problem["b2"])
    x = np.asarray(problem["x"], dtype=np.float64)

    def run() -> list[Any]:
        inputs = _values(x)
        hidden = [mg_tanh(sum((w * xi for w, xi in zip(row, inputs)), bias))
                  for row, bias in zip(W1, b1)]
        y = sum((w * h for w, h in zip(w2, hidden)), b2)
        y.backward()
        return [y.data, _grads(inputs)]
    return Workload(run, description="one Value per input, backward() (reverse mode: the full "
                    "gradient in one pass; tanh added as a micrograd node)")


JAX = Engine(name="jax", description="JAX (CPU, float64, compiled ahead of time)",
             requires=("jax",), family="jax",
             capabilities=frozenset({"reverse-mode", "forward-mode", "compiled", "value_and_grad",
                                     "elementwise_grad", FUNCTIONAL}),
             api=jax_api,
             builders={("E2", "step"): jax_e2_step, ("E3", "jvp"): _jax_e3(False),
                       ("E3", "grad"): _jax_e3(True)})
AUTOGRAD = Engine(name="autograd", description="HIPS autograd", requires=("autograd",),
                  family="autograd",
                  capabilities=frozenset({"reverse-mode", "value_and_grad", "elementwise_grad",
                                          FUNCTIONAL}),
                  api=autograd_api,
                  builders={("E2", "step"): autograd_e2_step, ("E3", "grad"): autograd_e3_grad},
                  not_meaningful={("E3", "jvp"): "HIPS autograd is timed in reverse mode only "
                                  "here (its E3 reading is grad)"})
MICROGRAD = Engine(name="micrograd", description="micrograd (one Value per scalar; sin, cos, "
                   "exp, log, sigmoid, tanh added by the adapter)", requires=("micrograd",),
                   family="micrograd", capabilities=frozenset({"reverse-mode"}),
                   builders={("E1", "loop"): micrograd_e1_loop,
                             ("E2", "step"): micrograd_e2_step,
                             ("E3", "grad"): micrograd_e3_grad},
                   not_meaningful={("E1", "batch"): "micrograd works on Python scalars only",
                                   ("E3", "jvp"): "micrograd is reverse mode only (E3 reading: "
                                   "grad)"},
                   size_limit=micrograd_size_reason)
ENGINES = [JAX, AUTOGRAD, MICROGRAD]
