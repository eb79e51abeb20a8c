"""Shared pytest set-up: the path to the engine test helpers, a hypothesis profile, and the
smoke run the end-to-end and browser tests share.

The profile only lifts hypothesis' per-example deadline (timings on a loaded CI machine are
noise); each suite chooses its own ``max_examples``.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent

# The engine suites import their helpers as a plain module (tests/ has no __init__.py).
sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "bobodiff",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("bobodiff")


@pytest.fixture(scope="session")
def _smoke_run(tmp_path_factory) -> Path:
    """configs/smoke.toml run once for the session, as `make bench` runs a config; its run
    folder. Tests get copies (``smoke_copy``): some redraw or corrupt theirs."""
    out = tmp_path_factory.mktemp("smoke-results")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "harness", "run",
                           str(ROOT / "configs" / "smoke.toml"), "--out", str(out),
                           "--no-progress"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    assert run_dir.parent == out
    return run_dir


@pytest.fixture(scope="session")
def smoke_copy(_smoke_run, tmp_path_factory) -> Callable[[], Path]:
    """Copy the session's smoke run (its results folder, ``latest`` link included) into a
    fresh folder; return the copy's run folder. One smoke run serves the end-to-end and the
    browser tests (each took a minute and a half to make its own)."""
    def copy() -> Path:
        out = tmp_path_factory.mktemp("results")
        shutil.copytree(_smoke_run.parent, out, symlinks=True, dirs_exist_ok=True)
        return out / _smoke_run.name
    return copy
