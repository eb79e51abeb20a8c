"""Workloads written once: E1 and E4 state their computation against an engine's ArrayAPI,
so an engine that lends only its namespace and transforms runs them, and one that lacks a
transform is skipped with that reason."""

from __future__ import annotations

import dataclasses

import pytest

from harness.engines import Engine
from harness.engines import registry as engine_registry
from harness.engines.bobodiff_reverse import bobodiff_api
from harness.experiments import compare
from harness.experiments import registry as experiment_registry

OPTIONS = {"dtype": "float64", "threads": 1}


def test_the_peers_and_torch_have_no_e1_code_of_their_own():
    for name in ("torch", "jax", "autograd", "bobodiff-reverse"):
        engine = engine_registry()[name]
        assert not [key for key in engine.builders if key[0] == "E1"], name
        assert {"E1/loop", "E1/batch"} <= set(engine.readings()), name


@pytest.mark.parametrize("variant, size", [("loop", 6), ("batch", 30)])
def test_an_engine_of_only_an_array_api_runs_e1(variant, size):
    lent = Engine(name="lent", description="bobodiff's ArrayAPI, no builders",
                  capabilities=frozenset({"value_and_grad", "elementwise_grad"}),
                  api=bobodiff_api)
    spec = experiment_registry()["E1"]
    assert lent.skip_reason("E1", variant) is None
    problem = spec.make_problem(variant, size, {}, seed=4)
    workload = lent.build("E1", variant, problem, OPTIONS)
    error, message = compare(workload.fetch(workload.run()), spec.reference(variant, problem),
                             spec.OUTPUT_NAMES, "float64")
    assert message is None and error < 1e-12


def test_a_missing_transform_is_the_skip_reason():
    engine = dataclasses.replace(engine_registry()["bobodiff-reverse"],
                                 capabilities=frozenset({"value_and_grad"}))
    assert engine.skip_reason("E1", "loop") is None
    assert engine.skip_reason("E1", "batch").startswith(
        "bobodiff-reverse has no elementwise_grad transform")
