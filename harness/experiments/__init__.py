"""Experiment registry: each experiment module says what to compute, never how to time it.

An experiment declares its configuration keys, expands them into cells (variant x size),
builds the inputs of one cell (a "problem": a dict of float64 NumPy arrays and numbers),
and computes the float64 reference result every engine is checked against.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.params import Param

TOLERANCES = {"float64": 1e-8, "float32": 2e-3}


@dataclass(frozen=True)
class Reading:
    """A named thing to time within an experiment (e.g. E1 "loop", E2 "step-b64")."""

    variant: str
    description: str
    calls_per_op: int = 1


@dataclass(frozen=True)
class Bars:
    """A panel of a bar plot: one bar per engine of one reading."""

    variant: str
    column: str  # a summary.csv column: "per_call_us", "extrapolated_10M_s", "median_s"
    label: str  # the axis label
    unit: str = "calls"  # what the reading's size counts: "calls" or "points"


@dataclass(frozen=True)
class ReportSpec:
    """What an experiment's part of the report shows; harness/report draws exactly this.

    plot: "bars" (one panel per ``bars`` entry), "time_vs_n" (a log-log panel per reading,
    one line per engine) or "" (tables only). ``marks`` are published figures drawn on bar
    panels, (variant, engine, value in the panel's unit, label); ``curves`` published times
    by n drawn on time-vs-n panels, {variant: {framework: {n: ms}}}, in the colour of
    ``curve_colors[framework]``'s engine. ``extrapolate``: per-call times scaled to the
    report's 10M calls (summary column extrapolated_10M_s). ``growth_fit``: a log-log slope
    per reading and engine. ``engines_table``: the readings set side by side per engine.
    ``beside(summary, experiment)`` -> (paragraphs, tables) sets the published figures
    beside this run's; ``pivot``: time and ratio tables by n for every reading.
    """

    title: str
    paragraphs: tuple[str, ...] = ()
    plot: str = ""
    plot_file: str = ""
    bars: tuple[Bars, ...] = ()
    marks: tuple[tuple[str, str, float, str], ...] = ()
    curves: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    curve_colors: dict[str, str] = field(default_factory=dict)
    size_label: str = "n"
    extrapolate: bool = False
    growth_fit: bool = False
    engines_table: tuple[str, ...] = ()
    beside: Callable[[Any, str], tuple[list[str], list[tuple[str, Any]]]] | None = None
    pivot: bool = True


class Experiment:
    """Base class: subclasses set NAME, TITLE, PARAMS (and REPORT) and implement the methods
    below."""

    NAME = ""
    TITLE = ""
    PARAMS: dict[str, Param] = {}
    OUTPUT_NAMES: tuple[str, ...] = ()
    REPORT: ReportSpec = ReportSpec("")  # what the report shows of it (title: TITLE if "")

    def cells(self, params: dict[str, Any]) -> list[tuple[str, int]]:
        """Return the (variant, size) pairs this experiment measures under ``params``."""
        raise NotImplementedError

    def calls_per_op(self, variant: str, size: int, params: dict[str, Any]) -> int:
        """Evaluations in one timed operation (E1: N calls or N points; else 1)."""
        return 1

    def make_problem(self, variant: str, size: int, params: dict[str, Any],
                     seed: int) -> dict[str, Any]:
        """Build the inputs of one cell: float64 arrays and plain numbers."""
        raise NotImplementedError

    def reference(self, variant: str, problem: dict[str, Any]) -> list[np.ndarray]:
        """Return the float64 analytic result an engine's output must match."""
        raise NotImplementedError

    def skip_reason(self, engine: str, variant: str, size: int,
                    params: dict[str, Any]) -> str | None:
        """Return why (engine, variant, size) is skipped by configuration, or None."""
        return None

    def workload(self, variant: str) -> str:
        """The engine workload a variant uses (E2 "step-b64" -> "step"); default: itself."""
        return variant

    def output_names(self, variant: str) -> tuple[str, ...]:
        """Names of the arrays of a result, used in mismatch messages."""
        return self.OUTPUT_NAMES

    # Workloads written once: workload -> the capability (transform) it needs of an engine.
    # An engine without a builder of its own for such a workload runs ``written_once`` on its
    # ArrayAPI; the floor runs ``floor_workload`` (the hand-written one).
    WRITTEN_ONCE: dict[str, str] = {}

    def written_once(self, workload: str, api: Any, problem: dict[str, Any],
                     options: dict[str, Any]) -> Any:
        """The timed Workload of ``workload`` on an engine's ArrayAPI."""
        raise NotImplementedError(f"{self.NAME} writes no workload once")

    def floor_workload(self, workload: str, problem: dict[str, Any],
                       options: dict[str, Any]) -> Any:
        """The hand-written floor's Workload of ``workload``."""
        raise NotImplementedError(f"{self.NAME} has no hand-written floor of {workload}")


# Engines of one graph node (or dual number) per scalar: E2 and E3 bound their sizes by
# their own scalar_* keys (see Engine.capabilities).
SCALAR_GRAPH = "scalar-graph"


SCALAR_GRAPH_ENGINES = f"engines of one node per scalar (capability {SCALAR_GRAPH})"


def engine_capabilities(engine: str) -> frozenset[str]:
    """The capabilities ``engine`` declares (empty for an unknown name)."""
    from harness.engines import registry as engine_registry

    adapter = engine_registry().get(engine)
    return adapter.capabilities if adapter else frozenset()


def scalar_bound(engine: str, experiment: str, variant: str, size: int,
                 max_n: int) -> tuple[bool, str | None]:
    """(whether ``engine`` builds one node per scalar, why the cell is skipped or None): an
    engine of another kind answers with its own size limit, a scalar-graph one with the
    experiment's ``scalar_max_n``."""
    if SCALAR_GRAPH not in engine_capabilities(engine):
        return False, engine_size_reason(engine, experiment, variant, size)
    if size > max_n:
        return True, (f"n={size} is above {experiment}.scalar_max_n={max_n} (one node per "
                      "scalar; raise the key to measure it)")
    return True, None


def engine_size_reason(engine: str, experiment: str, variant: str, size: int) -> str | None:
    """Why ``engine`` cannot run this cell at ``size`` (e.g. micrograd's recursion), or None."""
    from harness.engines import registry as engine_registry

    adapter = engine_registry().get(engine)
    return adapter.size_reason(experiment, variant, size) if adapter else None


def compare(got: list[Any], expected: list[np.ndarray], names: tuple[str, ...],
            dtype: str) -> tuple[float, str | None]:
    """Compare an engine's result with the reference.

    Returns (worst scaled error, message or None). The error of each array is
    max|got - expected| / max(max|expected|, 1e-12); it must stay below the tolerance
    of ``dtype`` (TOLERANCES).
    """
    if len(got) != len(expected):
        return np.inf, f"expected {len(expected)} output arrays, got {len(got)}"
    worst, message = 0.0, None
    for index, (g, e) in enumerate(zip(got, expected)):
        name = names[index] if index < len(names) else f"output[{index}]"
        g = np.asarray(g, dtype=np.float64)
        if g.size != e.size:
            return np.inf, f"{name}: expected shape {e.shape}, got {g.shape}"
        g = g.reshape(e.shape)
        if not np.all(np.isfinite(g)):
            return np.inf, f"{name}: non-finite values in the engine's result"
        scale = max(float(np.max(np.abs(e))) if e.size else 0.0, 1e-12)
        error = float(np.max(np.abs(g - e))) / scale if e.size else 0.0
        if error > worst:
            worst = error
        if error > TOLERANCES[dtype] and message is None:
            message = (f"{name}: scaled max error {error:.3g} exceeds tolerance "
                       f"{TOLERANCES[dtype]:g} for {dtype}")
    return worst, message


@functools.cache
def registry() -> dict[str, Experiment]:
    """Return every experiment by name, found as asv finds benchmarks: each module of this
    package named ``e<number>_...`` that defines ``EXPERIMENT``, in the order of its number.
    A new experiment is one new file here."""
    modules = [info.name for info in pkgutil.iter_modules(__path__)
               if re.fullmatch(r"e\d+_\w+", info.name)]
    modules.sort(key=lambda name: int(re.match(r"e(\d+)", name).group(1)))
    experiments = [importlib.import_module(f"{__name__}.{name}").EXPERIMENT for name in modules]
    return {experiment.NAME: experiment for experiment in experiments}
