"""The speed targets (issue 5), each marked met / not met / undecided from this run's ratios.

Every target is a ratio measured in one run (an engine against torch or against the
hand-written floor, same cell), or an absolute figure where the issue gives one. A target
whose cells are missing from the run (not measured, failed) says so instead of a verdict.
Where a cell's figure has a 95% interval the verdict comes from the interval: met when the
whole interval is within the bound, not met when the whole interval is beyond it, undecided
when it straddles the bound (the run cannot tell). A run without intervals (made before
they were recorded) is judged on the figures alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from harness.report.sections import Section, with_interval

MET, MISSED, ABSENT, UNDECIDED = "met", "NOT MET", "not measured", "undecided"


@dataclass(frozen=True)
class Target:
    """One line of issue 5's table: what is compared, the bound, and how to read the run."""

    name: str
    goal: str
    # (worst value, where it was read[, every cell's value[, every cell's (low, high)]]):
    # the values, when given, say how many of the cells the target covers are within its
    # bound; the intervals decide the verdict
    measure: Callable[[pd.DataFrame], tuple]
    bound: float
    at_most: bool = True  # True: value <= bound; False: value >= bound


def _cells(summary: pd.DataFrame, experiment: str, variant: str, engine: str) -> pd.DataFrame:
    rows = summary[(summary.experiment == experiment) & (summary.engine == engine)
                   & (summary.status == "ok")]
    return rows[rows.variant.str.fullmatch(variant)]


def _worst(column: str, experiment: str, variant: str, engine: str, invert: bool = False,
           highest: bool = True) -> Callable[[pd.DataFrame], tuple[float, str]]:
    """The worst (largest, or smallest) value of ``column`` over the matching cells."""

    def measure(summary: pd.DataFrame) -> tuple:
        rows = _cells(summary, experiment, variant, engine).dropna(subset=[column])
        if rows.empty:
            return math.nan, ""
        values = 1.0 / rows[column] if invert else rows[column]
        index = values.idxmax() if highest else values.idxmin()
        row = rows.loc[index]
        bounds = [_bounds(r, column, invert) for _, r in rows.iterrows()]
        return float(values.loc[index]), f"{row.variant} n={row['size']}", list(values), bounds

    return measure


def _bounds(row: pd.Series, column: str, invert: bool) -> tuple[float, float]:
    """The 95% interval of a cell's figure (NaN, NaN when the run has none)."""
    low, high = (float(row.get(f"{column}_ci_{side}", math.nan)) for side in ("low", "high"))
    return (1.0 / high, 1.0 / low) if invert else (low, high)


def _extra_memory(summary: pd.DataFrame) -> tuple[float, str]:
    """Memory beyond the inputs (peak - base RSS) of the compiled E1-batch vs the floor's."""
    mine = _cells(summary, "E1", "batch", "bobodiff-compiled")
    floor = _cells(summary, "E1", "batch", "floor")
    if mine.empty or floor.empty:
        return math.nan, ""
    extra = float((mine.peak_rss_mb - mine.base_rss_mb).iloc[0])
    base = float((floor.peak_rss_mb - floor.base_rss_mb).iloc[0])
    return (extra / base if base > 0 else math.nan), f"{extra:.0f} MB vs {base:.0f} MB"


def _scalar_step_seconds(summary: pd.DataFrame) -> tuple[float, str]:
    rows = _cells(summary, "E2", "step-b1", "bobodiff-scalar")
    rows = rows[rows["size"] == 1000]
    if rows.empty:
        return math.nan, ""
    row = rows.iloc[0]
    return float(row.median_s), "n=1000", [float(row.median_s)], [_bounds(row, "median", False)]


TARGETS = [
    Target("E1-loop, reverse mode on floats (bobodiff-scalar)", "≥ 20× faster than torch",
           _worst("ratio_to_torch", "E1", "loop", "bobodiff-scalar", invert=True,
                  highest=False), 20.0, at_most=False),
    Target("E1-loop, jit(value_and_grad) (bobodiff-compiled)", "≤ 2× the floor",
           _worst("ratio_to_floor", "E1", "loop", "bobodiff-compiled"), 2.0),
    Target("E1-batch, reverse mode (bobodiff-reverse)", "≤ 1.3× the floor",
           _worst("ratio_to_floor", "E1", "batch", "bobodiff-reverse"), 1.3),
    Target("E1-batch, reverse mode (bobodiff-reverse)", "≥ 1.7× faster than torch",
           _worst("ratio_to_torch", "E1", "batch", "bobodiff-reverse", invert=True,
                  highest=False), 1.7, at_most=False),
    Target("E1-batch, forward mode, 3 directions (bobodiff-forward)", "≤ 1.5× the floor",
           _worst("ratio_to_floor", "E1", "batch", "bobodiff-forward"), 1.5),
    Target("E1-batch, jit (bobodiff-compiled)", "≤ 0.6× the floor",
           _worst("ratio_to_floor", "E1", "batch", "bobodiff-compiled"), 0.6),
    Target("E1-batch, jit (bobodiff-compiled)", "extra memory ≤ 0.5× the floor's",
           _extra_memory, 0.5),
    Target("E2, vectorized reverse, B=1 and B=64, every n", "≤ torch",
           _worst("ratio_to_torch", "E2", "step-b(1|64)", "bobodiff-reverse"), 1.0),
    Target("E2, vectorized reverse, B=1 and B=64, every n", "≤ 1.5× the floor",
           _worst("ratio_to_floor", "E2", "step-b(1|64)", "bobodiff-reverse"), 1.5),
    Target("E2, scalar graph (bobodiff-scalar), n=1000", "≤ 3 s per step (report: 6.6 s)",
           _scalar_step_seconds, 3.0),
    Target("E3, full input gradient (bobodiff-forward), every n", "≤ 1.2× the floor",
           _worst("ratio_to_floor", "E3", "grad", "bobodiff-forward"), 1.2),
    Target("E3, full input gradient (bobodiff-forward), every n", "≤ torch.func.jacfwd",
           _worst("ratio_to_torch", "E3", "grad", "bobodiff-forward"), 1.0),
    Target("E3, one JVP (bobodiff-forward), every n", "≤ 1.5× the floor",
           _worst("ratio_to_floor", "E3", "jvp", "bobodiff-forward"), 1.5),
    Target("E1-loop peak memory (bobodiff-scalar)", "≤ 40 MB (report: 38.8 MB)",
           _worst("peak_rss_mb", "E1", "loop", "bobodiff-scalar"), 40.0),
]


def verdict(target: Target, value: float, low: float = math.nan,
            high: float = math.nan) -> str:
    """met / NOT MET / undecided / not measured, from the interval [low, high] when known,
    else from the value."""
    if math.isnan(value):
        return ABSENT
    if math.isnan(low) or math.isnan(high):
        low = high = value
    within = (lambda v: v <= target.bound) if target.at_most else (lambda v: v >= target.bound)
    if within(low) and within(high):
        return MET
    if not within(low) and not within(high):
        return MISSED
    return UNDECIDED


def overall(verdicts: list[str]) -> str:
    """A target over several cells: not met if any cell is not met, met if all are."""
    if not verdicts:
        return ABSENT
    if MISSED in verdicts:
        return MISSED
    return MET if all(v == MET for v in verdicts) else UNDECIDED


def targets_section(summary: pd.DataFrame) -> Section:
    """The table of issue 5's targets with this run's figure and verdict for each."""
    rows = []
    for target in TARGETS:
        value, where, *every = target.measure(summary)
        values = every[0] if every else [value]
        bounds = every[1] if len(every) > 1 else [(math.nan, math.nan)] * len(values)
        verdicts = [verdict(target, float(v), *b) for v, b in zip(values, bounds)]
        within = "-"
        if len(values) > 1:
            within = f"{sum(v == MET for v in verdicts)} of {len(values)}"
        worst = bounds[values.index(value)] if value in values else (math.nan, math.nan)
        rows.append({"target": target.name, "goal": target.goal,
                     "this run (worst cell)": value,
                     "with 95% interval": with_interval(value, *worst),
                     "where": where or "-", "cells within the bound": within,
                     "verdict": overall(verdicts) if not math.isnan(value) else ABSENT})
    table = pd.DataFrame(rows)
    met = int((table.verdict == MET).sum())
    measured = int((table.verdict != ABSENT).sum())
    return Section(
        "Speed targets",
        [f"{met} of {measured} measured targets met ({len(TARGETS)} in all). Each figure is "
         "the worst over the cells it covers: a ratio to torch or to the floor measured in "
         "this run (for 'faster than' targets, torch's time over the engine's), peak memory "
         "in MB, or seconds, with its 95% interval; 'cells within the bound' counts the "
         "cells (sizes, batches) of a target that covers several whose whole interval is "
         "within the bound. A verdict is 'met' when every cell's interval lies within the "
         "bound, 'NOT MET' when some cell's interval lies wholly beyond it, 'undecided' "
         "when an interval straddles the bound: this run cannot tell, however its figure "
         "falls (more processes narrow the intervals)."],
        [("Targets", table)])
