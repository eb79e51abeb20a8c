"""bobodiff reverse mode, vectorized: Tensors over NumPy arrays.

E1 (written once by the experiment on this adapter's ArrayAPI): loop, one graph per call
over 0-d arrays (the vectorized path used on scalars); batch, Tensors over N points,
sum(f).backward() gives each point's partials;
E2: the network with array Tensors (W1 @ x ...); E3: the full input gradient by reverse
mode, as a reference reading beside the forward-mode engines (no JVP: that needs forward mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.engines import (
    ArrayAPI,
    Engine,
    Workload,
    backward_elementwise_grad,
    backward_value_and_grad,
    bobodiff_missing,
    cast,
)
from harness.experiments import e2_network_reverse, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")


def _values(items: list[Any]) -> list[Any]:
    return [np.asarray(getattr(item, "data", item)) for item in items]


def bobodiff_api(options: dict[str, Any]) -> ArrayAPI:
    """bobodiff as the namespace; leaves are Tensors (0-d arrays for Python floats: the
    vectorized path used on scalars), value_and_grad by backward()."""
    import bobodiff as bd

    dtype = np.dtype(options["dtype"])

    def leaf(x: Any) -> Any:
        return bd.Tensor(np.asarray(x, dtype), requires_grad=True)

    def plain(x: Any) -> Any:  # a Tensor's value; gradients are arrays already
        return x.data if isinstance(x, bd.Tensor) else x

    return ArrayAPI(bd, lambda a: np.asarray(a, dtype), lambda x: np.asarray(plain(x)),
                    {"value_and_grad": backward_value_and_grad,
                     "elementwise_grad": backward_elementwise_grad},
                    {"value_and_grad": "Tensor leaves, backward()",
                     "elementwise_grad": "Tensors over N points, f.sum().backward()"},
                    leaf=leaf, to_float=lambda x: float(plain(x)))


def _parameters(bd: Any, sources: list[Any], dtype: str) -> list[Any]:
    return [bd.Tensor(np.array(source, dtype=dtype), requires_grad=True) for source in sources]


def _step(bd: Any, params: list[Any], X: Any) -> list[Any]:
    for parameter in params:
        parameter.zero_grad()
    y = e2_network_reverse.network(*params, X, bd)
    y.backward()
    return [y.data, *(parameter.grad for parameter in params)]


def build_e2_setup(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Tensor(copy of array, requires_grad=True) for W1, b1, w2, b2."""
    import bobodiff as bd

    sources = [problem[key] for key in PARAM_KEYS]
    return Workload(lambda: _values(_parameters(bd, sources, options["dtype"])),
                    description="Tensor(np.array copy, requires_grad=True)")


def build_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """zero_grad, forward, backward with array Tensors."""
    import bobodiff as bd

    params = _parameters(bd, [problem[key] for key in PARAM_KEYS], options["dtype"])
    X = np.asarray(problem["X"], dtype=options["dtype"])  # data, not differentiated
    return Workload(lambda: _step(bd, params, X), description="zero_grad, forward, backward")


def build_e2_lists_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Tensors built from nested Python lists, then one step."""
    import bobodiff as bd

    lists = [problem[key].tolist() for key in PARAM_KEYS]
    X = np.asarray(problem["X"], dtype=options["dtype"])  # data, not differentiated
    return Workload(lambda: _step(bd, _parameters(bd, lists, options["dtype"]), X),
                    description="Tensor(np.array(nested lists)) + one step")


def build_e3_grad(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Full input gradient by reverse mode (reference reading for E3)."""
    import bobodiff as bd

    W1, b1, w2, b2, x = cast(problem, options["dtype"], (*PARAM_KEYS, "x"))

    def run() -> list[Any]:
        inputs = bd.Tensor(x, requires_grad=True)
        y = e3_network_forward.network(W1, b1, w2, b2, inputs, bd)
        y.backward()
        return [y.data, inputs.grad]
    return Workload(run, description="reverse mode: one backward gives all n partials")


ENGINE = Engine(
    name="bobodiff-reverse",
    description="bobodiff reverse mode, vectorized Tensors over NumPy arrays",
    requires=("bobodiff",),
    family="bobodiff", distribution="bobodiff",
    capabilities=frozenset({"reverse-mode", "value_and_grad", "elementwise_grad"}),
    api=bobodiff_api,
    availability=lambda: bobodiff_missing("Tensor", "sin", "sigmoid", "tanh"),
    builders={
        ("E2", "setup"): build_e2_setup,
        ("E2", "step"): build_e2_step,
        ("E2", "lists+step"): build_e2_lists_step,
        ("E3", "grad"): build_e3_grad,
    },
    not_meaningful={
        ("E3", "jvp"): "a single JVP is forward mode; reverse mode is measured on E3/grad",
    },
)
