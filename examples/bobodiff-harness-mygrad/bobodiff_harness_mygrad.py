"""mygrad as an engine of the bobodiff harness: one file, one entry point (see pyproject.toml).

mygrad (https://github.com/rsokl/MyGrad) is reverse mode over NumPy arrays: ``Tensor``,
``backward()``, ``.grad``. Its namespace has sin, cos, exp, log, tanh and sum, so the
experiments' formulas (written once against a ``lib``) run on it unchanged; sigmoid comes
from ``mygrad.nnet``. Readings it cannot do (forward mode: E3/jvp; second order: E4) are
skipped by the harness with the reason it gives below or derives from its capabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.engines import Engine, Workload, cast, loop_workload
from harness.experiments import e1_function, e2_network_reverse, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")


def _lib() -> Any:
    """mygrad's namespace with the sigmoid the E2 network asks for."""
    import mygrad
    from mygrad.nnet.activations import sigmoid

    return type("MygradLib", (), {name: staticmethod(getattr(mygrad, name))
                                  for name in ("sin", "cos", "exp", "log", "tanh", "sum")}
                | {"sigmoid": staticmethod(sigmoid)})


def e1_loop(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Three 0-d Tensors per call, backward(), read .grad."""
    import mygrad

    lib = _lib()

    def call(a: float, b: float, c: float) -> tuple[float, float, float, float]:
        x1, x2, x3 = mygrad.tensor(a), mygrad.tensor(b), mygrad.tensor(c)
        f = e1_function.formula(x1, x2, x3, lib)
        f.backward()
        return float(f.item()), float(x1.grad), float(x2.grad), float(x3.grad)
    return loop_workload(problem, call, "3 0-d Tensors + backward per call")


def e1_batch(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Tensors over N points; f.sum().backward()."""
    import mygrad

    lib = _lib()
    arrays = cast(problem, options["dtype"], ("x1", "x2", "x3"))

    def run() -> list[Any]:
        x1, x2, x3 = (mygrad.tensor(a) for a in arrays)
        f = e1_function.formula(x1, x2, x3, lib)
        f.sum().backward()
        return [f.data, x1.grad, x2.grad, x3.grad]
    return Workload(run, description="Tensors over N points, f.sum().backward()")


def e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Forward and backward of the sigmoid network w.r.t. its four parameters."""
    import mygrad

    lib = _lib()
    params = [mygrad.tensor(a) for a in cast(problem, options["dtype"], PARAM_KEYS)]
    X = np.asarray(problem["X"], dtype=options["dtype"])

    def run() -> list[Any]:
        y = e2_network_reverse.network(*params, X, lib)
        y.backward()
        return [y.data, *(p.grad for p in params)]
    return Workload(run, description="forward, backward() (grads replaced at each backward)")


def e3_grad(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """The full input gradient of the tanh network by reverse mode."""
    import mygrad

    lib = _lib()
    W1, b1, w2, b2, x = cast(problem, options["dtype"], (*PARAM_KEYS, "x"))

    def run() -> list[Any]:
        inputs = mygrad.tensor(x)
        y = e3_network_forward.network(W1, b1, w2, b2, inputs, lib)
        y.backward()
        return [y.data, inputs.grad]
    return Workload(run, description="reverse mode: one backward gives all n partials")


ENGINE = Engine(
    name="mygrad",
    description="mygrad (reverse mode over NumPy arrays), a plug-in from examples/",
    requires=("mygrad",),
    family="mygrad",
    capabilities=frozenset({"reverse-mode"}),
    builders={("E1", "loop"): e1_loop, ("E1", "batch"): e1_batch, ("E2", "step"): e2_step,
              ("E3", "grad"): e3_grad},
    not_meaningful={("E3", "jvp"): "mygrad is reverse mode only (its E3 reading is grad)"},
)
