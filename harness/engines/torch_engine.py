"""PyTorch (CPU) adapter: torch.autograd for E2 (and, through its ArrayAPI, the workloads
experiments write once: E1, and those of torch.func's transforms), torch.func.jvp / jacfwd
for E3.

float64 by default (the run's dtype); threads set with torch.set_num_threads from the config.
"""

from __future__ import annotations

from typing import Any

from harness.engines import (
    FUNCTIONAL,
    ArrayAPI,
    Engine,
    Workload,
    backward_elementwise_grad,
    backward_value_and_grad,
)
from harness.experiments import e2_network_reverse, e3_network_forward

PARAM_KEYS = ("W1", "b1", "w2", "b2")


def _torch(options: dict[str, Any]) -> tuple[Any, Any]:
    """Import torch, apply the cell's thread count, return (torch, dtype)."""
    import torch

    torch.set_num_threads(int(options["threads"]))
    return torch, getattr(torch, options["dtype"])


def torch_api(options: dict[str, Any]) -> ArrayAPI:
    """torch as the namespace, autograd's backward() for the adapter's transforms, and
    torch.func as the functional transforms."""
    torch, dtype = _torch(options)

    def leaf(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.detach().requires_grad_()
        return torch.tensor(x, dtype=dtype, requires_grad=True)

    return ArrayAPI(torch, lambda a: torch.as_tensor(a, dtype=dtype),
                    lambda t: t.detach().numpy(),
                    {"value_and_grad": backward_value_and_grad,
                     "elementwise_grad": backward_elementwise_grad},
                    {"value_and_grad": "autograd: leaf tensors, backward()",
                     "elementwise_grad": "autograd on N-point tensors, f.sum().backward()"},
                    leaf=leaf, to_float=lambda t: t.item(), func=torch.func)


def _detached(tensors: list[Any]) -> list[Any]:
    return [t.detach().numpy() for t in tensors]


def _parameters(torch: Any, dtype: Any, sources: list[Any]) -> list[Any]:
    return [torch.tensor(source, dtype=dtype, requires_grad=True) for source in sources]


def _step(torch: Any, params: list[Any], X: Any) -> list[Any]:
    for parameter in params:
        parameter.grad = None
    y = e2_network_reverse.network(*params, X, torch)
    y.backward()
    return [y, *(parameter.grad for parameter in params)]


def build_e2_setup(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """torch.tensor(array, requires_grad=True) for W1, b1, w2, b2."""
    torch, dtype = _torch(options)
    return Workload(lambda: _parameters(torch, dtype, [problem[k] for k in PARAM_KEYS]),
                    _detached, "torch.tensor copies from NumPy, requires_grad=True")


def build_e2_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """Zero the grads, forward, backward (torch.autograd)."""
    torch, dtype = _torch(options)
    params = _parameters(torch, dtype, [problem[k] for k in PARAM_KEYS])
    X = torch.tensor(problem["X"], dtype=dtype)
    return Workload(lambda: _step(torch, params, X), _detached,
                    "grad=None, forward, backward")


def build_e2_lists_step(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
    """torch.tensor(nested Python lists) for the parameters, then one step."""
    torch, dtype = _torch(options)
    lists = [problem[key].tolist() for key in PARAM_KEYS]
    X = torch.tensor(problem["X"], dtype=dtype)
    return Workload(lambda: _step(torch, _parameters(torch, dtype, lists), X), _detached,
                    "torch.tensor(nested lists) + one step")


def _e3_builder(full_gradient: bool):
    def build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
        torch, dtype = _torch(options)
        W1, b1, w2, b2, x, v = (torch.tensor(problem[k], dtype=dtype)
                                for k in (*PARAM_KEYS, "x", "v"))

        def net(inputs: Any) -> Any:
            return e3_network_forward.network(W1, b1, w2, b2, inputs, torch)

        def net_and_value(inputs: Any) -> tuple[Any, Any]:
            y = net(inputs)
            return y, y.detach()

        if full_gradient:
            def run() -> list[Any]:
                gradient, value = torch.func.jacfwd(net_and_value, has_aux=True)(x)
                return [value, gradient]
            return Workload(run, _detached, "torch.func.jacfwd (n batched tangents), has_aux")
        return Workload(lambda: list(torch.func.jvp(net, (x,), (v,))), _detached,
                        "torch.func.jvp, one direction")
    return build


ENGINE = Engine(
    name="torch",
    description="PyTorch on CPU (autograd; torch.func for forward mode)",
    requires=("torch",),
    family="torch",
    capabilities=frozenset({"reverse-mode", "forward-mode", "value_and_grad",
                            "elementwise_grad", FUNCTIONAL}),
    api=torch_api,
    builders={
        ("E2", "setup"): build_e2_setup,
        ("E2", "step"): build_e2_step,
        ("E2", "lists+step"): build_e2_lists_step,
        ("E3", "jvp"): _e3_builder(False),
        ("E3", "grad"): _e3_builder(True),
    },
)
