"""The peer adapters (JAX, HIPS autograd, micrograd): their results against the experiments'
float64 references, micrograd's added functions against finite differences and torch, and
micrograd's size cap against the real depth of its graphs."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cells import plan
from harness.config import validate
from harness.engines import peers
from harness.engines import registry as engine_registry
from harness.experiments import compare
from harness.experiments import registry as experiment_registry
from harness.runner import skip_reason

micrograd = pytest.importorskip("micrograd.engine")

FUNCTIONS = {"sin": (peers.mg_sin, math.sin), "cos": (peers.mg_cos, math.cos),
             "exp": (peers.mg_exp, math.exp), "log": (peers.mg_log, math.log),
             "tanh": (peers.mg_tanh, math.tanh),
             "sigmoid": (peers.mg_sigmoid, lambda x: 1.0 / (1.0 + math.exp(-x)))}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@given(x=st.floats(0.05, 3.0), scale=st.floats(-2.0, 2.0))
def test_micrograd_functions_match_central_differences(name, x, scale):
    node, plain = FUNCTIONS[name]
    leaf = micrograd.Value(x)
    out = node(leaf) * scale  # a downstream node: the closure must use out.grad
    out.backward()
    h = 1e-6
    slope = (plain(x + h) - plain(x - h)) / (2 * h)
    assert out.data == pytest.approx(plain(x) * scale, rel=1e-12, abs=1e-12)
    assert leaf.grad == pytest.approx(slope * scale, rel=1e-6, abs=1e-8)


def test_micrograd_functions_match_torch_on_the_report_formula():
    torch = pytest.importorskip("torch")
    from harness.experiments.e1_function import formula

    point = (0.3, -1.1, 0.7)
    leaves = [micrograd.Value(v) for v in point]
    value = formula(*leaves, peers.MicrogradLib)
    value.backward()
    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in point]
    expected = formula(*tensors, torch)
    expected.backward()
    assert value.data == pytest.approx(expected.item(), rel=1e-12)
    for leaf, tensor in zip(leaves, tensors):
        assert leaf.grad == pytest.approx(tensor.grad.item(), rel=1e-10)


def _depth(root) -> int:
    """Longest path (in nodes) from root to a leaf of a micrograd graph, without recursion."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev)
    depth = {}
    for node in order:  # children before parents
        depth[node] = 1 + max((depth[c] for c in node._prev), default=0)
    return depth[root]


@pytest.mark.parametrize("experiment, variant, size", [("E2", "step-b1", 12),
                                                       ("E2", "step-b3", 7), ("E3", "grad", 15)])
def test_micrograd_depth_estimate_bounds_the_real_graph(experiment, variant, size, monkeypatch):
    captured = {}
    original = micrograd.Value.backward

    def spy(self):
        captured["depth"] = _depth(self)
        return original(self)

    monkeypatch.setattr(micrograd.Value, "backward", spy)
    _workload(experiment, variant, size)[0].run()
    assert captured["depth"] <= peers.micrograd_depth(experiment, variant, size)
    assert captured["depth"] >= peers.micrograd_depth(experiment, variant, size) - 12


def test_micrograd_cells_too_deep_are_skipped_with_the_reason():
    config = validate({"run": {"engines": ["micrograd"]}, "E2": {"sizes": [100, 300, 600],
                       "batches": [1]}, "E3": {"sizes": [100, 300, 600]},
                       "E1": {"loop_calls": 5}})
    reasons = {(c.experiment, c.variant, c.size): skip_reason(c, config) for c in plan(config)}
    assert reasons[("E2", "step-b1", 100)] is None and reasons[("E3", "grad", 100)] is None
    for key in (("E2", "step-b1", 300), ("E3", "grad", 300)):  # about 270,000 Values a call
        assert "Values per call (over 100,000" in reasons[key]
    for key in (("E2", "step-b1", 600), ("E3", "grad", 600)):
        assert "recursive backward would overflow" in reasons[key]
        assert "n=600" in reasons[key]


def _workload(experiment: str, variant: str, size: int, engine: str = "micrograd"):
    spec = experiment_registry()[experiment]
    params = validate({})[experiment]
    problem = spec.make_problem(variant, size, params, seed=3)
    if experiment == "E1":
        problem = {**problem, "rounds": 1}
    return engine_registry()[engine].build(experiment, spec.workload(variant), problem,
                                           {"dtype": "float64", "threads": 1}), problem


def _check(engine: str, experiment: str, variant: str, size: int) -> str:
    built, problem = _workload(experiment, variant, size, engine)
    spec = experiment_registry()[experiment]
    error, message = compare(built.fetch(built.run()), spec.reference(variant, problem),
                             spec.output_names(variant), "float64")
    assert message is None, message
    assert error < 1e-12
    return built.description


CELLS = [("E1", "loop", 7), ("E1", "batch", 50), ("E2", "step-b1", 6), ("E2", "step-b3", 5),
         ("E3", "jvp", 6), ("E3", "grad", 6)]


@pytest.mark.parametrize("engine", ["jax", "autograd", "micrograd"])
@pytest.mark.parametrize("experiment, variant, size", CELLS)
def test_peer_results_match_the_float64_reference(engine, experiment, variant, size):
    adapter = engine_registry()[engine]
    if adapter.unavailable_reason():
        pytest.skip(adapter.unavailable_reason())
    workload = experiment_registry()[experiment].workload(variant)
    if adapter.skip_reason(experiment, workload):
        pytest.skip(adapter.skip_reason(experiment, workload))
    description = _check(engine, experiment, variant, size)
    if engine == "jax":  # compile time is measured at build time and reported apart
        assert "compiled ahead in" in description and "not in the timed calls" in description


def test_jax_runs_on_the_cpu_in_float64():
    pytest.importorskip("jax")
    jax, jnp = peers._jax({"dtype": "float64", "threads": 1})
    assert jnp.asarray(np.ones(2)).dtype == np.float64
    assert {device.platform for device in jax.devices()} == {"cpu"}


def test_bench_extra_pins_every_engine_and_the_installed_versions_match():
    import tomllib
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    bench = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["bench"]
    pins = dict(line.split("==") for line in bench if "==" in line)
    assert {"torch", "jax", "jaxlib", "autograd", "micrograd"} <= set(pins)
    for package, pinned in pins.items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            continue  # not installed here: its cells are skipped with the reason
        assert installed.split("+")[0] == pinned, package


def test_torch_is_the_cpu_build():
    torch = pytest.importorskip("torch")
    assert torch.version.cuda is None


def test_micrograd_cells_too_large_are_skipped_with_the_reason():
    config = validate({"run": {"engines": ["micrograd"]}, "E2": {"sizes": [10, 100],
                       "batches": [1, 64]}, "E3": {"sizes": [10]}, "E1": {"loop_calls": 5}})
    reasons = {(c.experiment, c.variant, c.size): skip_reason(c, config) for c in plan(config)}
    assert reasons[("E2", "step-b64", 10)] is None and reasons[("E2", "step-b1", 100)] is None
    assert "Values per call" in reasons[("E2", "step-b64", 100)]


def test_micrograd_node_estimate_counts_the_values_a_step_builds(monkeypatch):
    built = []
    original = micrograd.Value.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    workload, _ = _workload("E2", "step-b3", 20)
    monkeypatch.setattr(micrograd.Value, "__init__", counting)
    workload.run()
    estimate = peers.micrograd_nodes("E2", "step-b3", 20)
    assert 0.9 * estimate <= len(built) <= 1.2 * estimate
