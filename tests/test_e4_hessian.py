"""E4: the hand-written Hessian against finite differences of E1's hand-written gradient, the
workloads written once on every engine that lends its functional transforms, the skips of
those without, and E4 as one file of harness/."""

from __future__ import annotations

import dataclasses
import re
import types
from pathlib import Path

import numpy as np
import pytest

from harness.engines import FUNCTIONAL, Engine
from harness.engines import registry as engine_registry
from harness.engines.bobodiff_forward import bobodiff_api
from harness.experiments import compare
from harness.experiments import registry as experiment_registry
from harness.experiments.e1_function import analytic
from harness.experiments.e4_hessian import hessian_by_hand

OPTIONS = {"dtype": "float64", "threads": 1}
HARNESS = Path(__file__).resolve().parent.parent / "harness"


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


@pytest.mark.parametrize("variant, size, capability", [("loop", 7, FUNCTIONAL),
                                                       ("batch", 40, FUNCTIONAL)])
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
    assert reason.startswith(f"bobodiff-scalar has no {FUNCTIONAL} transform")
    assert engine_registry()["micrograd"].skip_reason("E4", "loop").startswith(
        f"micrograd has no {FUNCTIONAL} transform")


def test_e4_is_one_file_under_harness():
    """Issue 14: E4 finds its transforms by name in the engines' functional namespaces, so no
    file of harness/ but the experiment's own names the Hessian or its products (its [E4]
    config tables are the only other place)."""
    own = HARNESS / "experiments" / "e4_hessian.py"
    naming = [str(path.relative_to(HARNESS.parent)) for path in sorted(HARNESS.rglob("*"))
              if path.is_file() and path != own and "__pycache__" not in path.parts
              and re.search("hessian|hvp", path.name + path.read_text(errors="replace"),
                            re.IGNORECASE)]
    assert naming == [], f"files under harness/ other than {own.name} that name E4's transforms"


def test_the_engines_that_lend_their_functional_transforms_run_e4():
    """E4 runs where it ran when each adapter carried its own Hessian transforms, and each
    such engine's ArrayAPI lends a namespace with the transforms E4 finds by name."""
    lending = {name for name, engine in engine_registry().items()
               if FUNCTIONAL in engine.capabilities}
    assert {"torch", "bobodiff-forward", "jax", "autograd"} == lending
    for name in lending:
        engine = engine_registry()[name]
        assert {"E4/loop", "E4/batch"} <= set(engine.readings()), name
        if engine.unavailable_reason() is None:
            func = engine.api(OPTIONS).func
            assert callable(func.grad) and callable(func.hessian), name


@pytest.mark.parametrize("variant, size", [("loop", 5), ("batch", 30)])
def test_a_namespace_without_jvp_gives_the_products_reverse_over_reverse(variant, size):
    import bobodiff as bd

    api = dataclasses.replace(bobodiff_api(OPTIONS),
                              func=types.SimpleNamespace(grad=bd.grad, hessian=bd.hessian))
    lent = Engine(name="lent", description="bd's grad and hessian, no jvp",
                  capabilities=frozenset({FUNCTIONAL}), api=lambda options: api)
    spec = experiment_registry()["E4"]
    problem = spec.make_problem(variant, size, {}, seed=5)
    workload = lent.build("E4", variant, problem, OPTIONS)
    error, message = compare(workload.fetch(workload.run()), spec.reference(variant, problem),
                             ("H",), "float64")
    assert message is None
    expected = {"loop": "bd.hessian per call",
                "batch": "bd.grad of (bd.grad of sum(f))·v (reverse over reverse)"}[variant]
    assert workload.description.startswith(expected)


DESCRIBED = {
    ("torch", "loop"): "torch.func.hessian per call",
    ("torch", "batch"): "torch.func.jvp of torch.func.grad of sum(f) (forward over reverse)",
    ("bobodiff-forward", "loop"): "bd.hessian per call",
    ("bobodiff-forward", "batch"): "bd.jvp of bd.grad of sum(f) (forward over reverse)",
    ("jax", "loop"): "jit(jax.hessian) per call",
    ("jax", "batch"): "jit(jax.jvp of jax.grad of sum(f)) (forward over reverse)",
    ("autograd", "loop"): "autograd.hessian per call",
    ("autograd", "batch"): "autograd.grad of (autograd.grad of sum(f))·v (reverse over reverse)",
}


@pytest.mark.parametrize("engine, variant", list(DESCRIBED))
def test_descriptions_name_the_library_transforms(engine, variant):
    adapter = engine_registry()[engine]
    if adapter.unavailable_reason() is not None:
        pytest.skip(adapter.unavailable_reason())
    spec = experiment_registry()["E4"]
    problem = spec.make_problem(variant, 4, {}, seed=1)
    description = adapter.build("E4", variant, problem, OPTIONS).description
    assert description.startswith(DESCRIBED[engine, variant]), description
