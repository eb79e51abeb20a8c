"""Engine registry: one adapter per engine; each builds timed workloads for experiments.

An adapter declares which (experiment, workload) pairs it implements, why others are not
meaningful, and which packages it needs. Heavy imports (torch, bobodiff) happen inside the
builders, in the cell's own subprocess, never when the registry is read.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TEST_ENGINES_ENV = "BOBODIFF_HARNESS_TEST_ENGINES"


def to_numpy_list(result: Any) -> list[np.ndarray]:
    """Default result conversion: a sequence of array-likes -> list of float64 arrays."""
    return [np.asarray(item, dtype=np.float64) for item in result]


@dataclass
class Workload:
    """What a cell times: ``run()`` is one operation; ``fetch(result)`` gives NumPy arrays."""

    run: Callable[[], Any]
    fetch: Callable[[Any], list[np.ndarray]] = to_numpy_list
    description: str = ""


Builder = Callable[[dict[str, Any], dict[str, Any]], Workload]


@dataclass
class Engine:
    """An engine adapter: name, required packages, builders and reasons for skips."""

    name: str
    description: str
    requires: tuple[str, ...] = ()
    builders: dict[tuple[str, str], Builder] = field(default_factory=dict)
    not_meaningful: dict[tuple[str, str], str] = field(default_factory=dict)
    availability: Callable[[], str | None] | None = None
    # (experiment, variant, size) -> why this engine cannot run a cell that large, or None
    size_limit: Callable[[str, str, int], str | None] | None = None

    def unavailable_reason(self) -> str | None:
        """Return a one-line reason when the engine cannot run here, else None."""
        for package in self.requires:
            if importlib.util.find_spec(package) is None:
                return f"{package} is not installed (pip install {package} to include it)"
        return self.availability() if self.availability else None

    def skip_reason(self, experiment: str, workload: str) -> str | None:
        """Return why this engine does not run (experiment, workload), or None."""
        for key in ((experiment, workload), (experiment, "*")):
            if key in self.not_meaningful:
                return self.not_meaningful[key]
        if (experiment, workload) not in self.builders:
            return f"{self.name} has no {experiment}/{workload} workload"
        return None

    def size_reason(self, experiment: str, variant: str, size: int) -> str | None:
        """Return why this engine cannot run (experiment, variant) at ``size``, or None."""
        return self.size_limit(experiment, variant, size) if self.size_limit else None

    def build(self, experiment: str, workload: str, problem: dict[str, Any],
              options: dict[str, Any]) -> Workload:
        """Build the timed workload for one cell (options: dtype, threads)."""
        return self.builders[(experiment, workload)](problem, options)


def registry() -> dict[str, Engine]:
    """Return every engine by name; test-only faulty engines when TEST_ENGINES_ENV=1."""
    from harness.engines import (
        bobodiff_compiled,
        bobodiff_forward,
        bobodiff_reverse,
        bobodiff_scalar,
        floor,
        peers,
        torch_engine,
    )

    engines = [floor.ENGINE, torch_engine.ENGINE, bobodiff_forward.ENGINE,
               bobodiff_reverse.ENGINE, bobodiff_scalar.ENGINE, bobodiff_compiled.ENGINE,
               *peers.ENGINES]
    if os.environ.get(TEST_ENGINES_ENV) == "1":
        from harness.engines import faulty

        engines += faulty.ENGINES
    return {engine.name: engine for engine in engines}


def loop_over(points: list[tuple[float, float, float]],
              call: Callable[[float, float, float], tuple], rounds: int) -> list[tuple]:
    """E1-loop body shared by every engine: ``rounds`` passes of one separate call per point;
    the last pass's results are returned (for the correctness check)."""
    out: list[tuple] = []
    for _ in range(rounds):
        out = [call(a, b, c) for a, b, c in points]
    return out


def loop_workload(problem: dict[str, Any], call: Callable[[float, float, float], tuple],
                  description: str) -> Workload:
    """The E1-loop workload of ``call``: one separate call per point of the problem."""
    points, rounds = points_of(problem), problem["rounds"]
    return Workload(lambda: loop_over(points, call, rounds), fetch_loop, description)


def fetch_loop(out: list[tuple]) -> list[np.ndarray]:
    """Turn E1-loop results (one (f, d1, d2, d3) tuple per call) into four arrays."""
    return list(np.asarray(out, dtype=np.float64).T)


def points_of(problem: dict[str, Any]) -> list[tuple[float, float, float]]:
    """E1 inputs as a list of Python-float triples (built outside the timed region)."""
    return list(zip(problem["x1"].tolist(), problem["x2"].tolist(), problem["x3"].tolist()))


def cast(problem: dict[str, Any], dtype: str, keys: tuple[str, ...]) -> list[np.ndarray]:
    """Return problem[key] for each key as a contiguous array of ``dtype``."""
    return [np.asarray(problem[key], dtype=dtype, order="C") for key in keys]


def bobodiff_missing(*names: str) -> str | None:
    """Reason bobodiff cannot serve as an engine yet (an API name missing), or None."""
    try:
        import bobodiff
    except ImportError as error:  # pragma: no cover - bobodiff is part of this project
        return f"bobodiff cannot be imported: {error}"
    missing = [name for name in names if not hasattr(bobodiff, name)]
    return f"bobodiff has no {', '.join(missing)} yet" if missing else None
