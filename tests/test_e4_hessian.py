"""E4: the hand-written Hessian against finite differences of E1's hand-written gradient, the
workloads written once on every engine with a Hessian, and the skips of those without."""

from __future__ import annotations

import numpy as np
import pytest

from harness.engines import registry as engine_registry
from harness.experiments import compare
from harness.experiments import registry as experiment_registry
from harness.experiments.e1_function import analytic
from harness.experiments.e4_hessian import hessian_by_hand

OPTIONS = {"dtype": "float64", "threads": 1}


def test_experiments_are_discovered_by_module_name_in_order():
    assert list(experiment_registry())[:4] == ["E1", "E2", "E3", "E4"]


def test_hand_written_hessian_matches_finite_differences_of_the_gradient():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 3)
    step = 1e-6
    numeric = np.empty((3, 3))
    for j in range(3):
        up, down = x.copy(), x.copy()
        up[j] += step
        down[j] -= step
        numeric[:, j] = (np.array(analytic(*up)[1:]) - np.array(analytic(*down)[1:])) / (2 * step)
    assert np.allclose(np.array(hessian_by_hand(*x), dtype=float), numeric, atol=1e-6)


def _available_with(capability: str) -> list[str]:
    return [name for name, engine in engine_registry().items()
            if (capability in engine.capabilities or name == "floor")
            and engine.unavailable_reason() is None]


@pytest.mark.parametrize("variant, size, capability", [("loop", 7, "hessian"),
                                                       ("batch", 40, "hvp")])
def test_every_engine_with_the_transform_matches_the_reference(variant, size, capability):
    spec = experiment_registry()["E4"]
    problem = spec.make_problem(variant, size, {}, seed=2)
    expected = spec.reference(variant, problem)
    assert expected[0].shape == (min(size, 1000), 3, 3)
    names = _available_with(capability)
    assert {"floor", "bobodiff-forward"} <= set(names)
    for name in names:
        engine = engine_registry()[name]
        assert engine.skip_reason("E4", variant) is None
        workload = engine.build("E4", variant, problem, OPTIONS)
        error, message = compare(workload.fetch(workload.run()), expected, ("H",), "float64")
        assert message is None, (name, message)


def test_engines_without_a_hessian_are_skipped_with_the_missing_capability():
    reason = engine_registry()["bobodiff-scalar"].skip_reason("E4", "batch")
    assert reason.startswith("bobodiff-scalar has no hvp transform")
    assert engine_registry()["micrograd"].skip_reason("E4", "loop").startswith(
        "micrograd has no hessian transform")
