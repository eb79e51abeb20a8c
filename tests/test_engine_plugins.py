"""Engines as plug-ins: discovery through the entry-point group, the built-in fallback, broken
plug-ins kept as unavailable engines, ``python -m harness engines``, and (when installed) the
mygrad plug-in of examples/ checked cell by cell against the references."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness import engines
from harness.experiments import compare
from harness.experiments import registry as experiment_registry

ROOT = Path(__file__).resolve().parents[1]

PLUGIN_SOURCE = '''
from harness.engines import Engine, Workload

def build(problem, options):
    return Workload(lambda: [problem["x1"]], description="fake")

ENGINE = Engine(name="fake-plugin", description="a plug-in found on sys.path",
                family="fake", capabilities=frozenset({"reverse-mode"}),
                builders={("E1", "batch"): build})
NOT_AN_ENGINE = 42
'''


def write_plugin(folder: Path) -> Path:
    """A module and a dist-info (metadata + entry_points.txt) in ``folder``: what pip
    install writes, without installing anything."""
    (folder / "fake_harness_plugin.py").write_text(PLUGIN_SOURCE)
    info = folder / "fake_harness_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-harness-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{engines.ENTRY_POINT_GROUP}]\n"
        "fake-plugin = fake_harness_plugin:ENGINE\n"
        "fake-broken = fake_harness_missing_module:ENGINE\n"
        "fake-wrong = fake_harness_plugin:NOT_AN_ENGINE\n"
        "torch = fake_harness_plugin:ENGINE\n")
    return folder


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path)))
    engines.discover.cache_clear()
    yield tmp_path
    engines.discover.cache_clear()


def test_a_plugin_on_sys_path_is_discovered(plugin_path):
    found = engines.registry()
    assert found["fake-plugin"].description == "a plug-in found on sys.path"
    assert found["fake-plugin"].unavailable_reason() is None
    assert found["fake-plugin"].readings() == ["E1/batch"]
    # every built-in is still there, and a plug-in never shadows one
    assert set(engines.BUILTIN_ENTRY_POINTS) <= set(found)
    assert found["torch"].description.startswith("PyTorch")


def test_broken_plugins_are_listed_with_the_reason(plugin_path):
    found = engines.registry()
    assert "ModuleNotFoundError" in found["fake-broken"].unavailable_reason()
    assert "not a harness.engines.Engine" in found["fake-wrong"].unavailable_reason()


def test_builtins_found_without_installed_metadata(monkeypatch):
    """A source checkout never installed (or installed before an engine existed)."""
    monkeypatch.setattr(engines, "_entry_points", lambda: [])
    engines.discover.cache_clear()
    try:
        assert list(engines.registry()) == list(engines.BUILTIN_ENTRY_POINTS)
    finally:
        engines.discover.cache_clear()


def test_pyproject_registers_the_builtins_as_the_fallback_table():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"][engines.ENTRY_POINT_GROUP] == \
        engines.BUILTIN_ENTRY_POINTS


def test_engines_command_lists_a_plugin_in_a_fresh_process(tmp_path):
    write_plugin(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "harness", "engines", "--json"], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = {row["engine"]: row for row in json.loads(out)}
    assert rows["fake-plugin"]["available"] and rows["fake-plugin"]["family"] == "fake"
    assert not rows["fake-broken"]["available"]
    assert engines.FUNCTIONAL in rows["torch"]["capabilities"]
    assert rows["floor"]["version"].startswith("numpy ")
    text = subprocess.run([sys.executable, "-m", "harness", "engines"], env=env,
                          capture_output=True, text=True, timeout=120, check=True).stdout
    assert "fake-broken" in text and "unavailable: its entry point" in text


MYGRAD_INSTALLED = pytest.mark.skipif(
    importlib.util.find_spec("bobodiff_harness_mygrad") is None,
    reason="the mygrad plug-in is not installed (pip install -e examples/bobodiff-harness-mygrad)")


@MYGRAD_INSTALLED
@pytest.mark.parametrize("experiment, variant, size", [
    ("E1", "loop", 5), ("E1", "batch", 50), ("E2", "step-b4", 6), ("E3", "grad", 6)])
def test_mygrad_plugin_cells_match_the_references(experiment, variant, size):
    engine = engines.registry()["mygrad"]
    spec = experiment_registry()[experiment]
    problem = spec.make_problem(variant, size, {}, seed=1)
    workload = engine.build(experiment, spec.workload(variant), problem,
                            {"dtype": "float64", "threads": 1})
    got = workload.fetch(workload.run())
    error, message = compare(got, spec.reference(variant, problem),
                             spec.output_names(variant), "float64")
    assert message is None and error < 1e-10



@MYGRAD_INSTALLED
def test_the_installed_mygrad_plugin_is_listed_and_a_smoke_run_with_it_succeeds(tmp_path):
    """What a third party's user does after pip install -e examples/bobodiff-harness-mygrad
    (make venv does it): the engines command lists it, and a run measures its cells."""
    listed = subprocess.run([sys.executable, "-m", "harness", "engines", "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=True).stdout
    row = {r["engine"]: r for r in json.loads(listed)}["mygrad"]
    assert row["available"] and row["version"].startswith("mygrad 2.5")
    subprocess.run([sys.executable, "-m", "harness", "run", "configs/smoke.toml",
                    "--engines", "floor,mygrad", "--only", "E1,E3",
                    "--out", str(tmp_path), "--no-progress"],
                   cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    raw = tmp_path / "latest" / "raw.jsonl"
    cells = [json.loads(line) for line in raw.read_text().splitlines()]
    mine = [c for c in cells if c.get("kind") == "cell" and c["engine"] == "mygrad"]
    assert mine and all(c["status"] in ("ok", "skipped") for c in mine)
    assert sum(c["status"] == "ok" for c in mine) >= 3
    assert all(c["message"] for c in mine if c["status"] == "skipped")  # with its reason
