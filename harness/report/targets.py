"""Speed targets, each marked met / not met / undecided from this run's ratios: the machinery
(Target, the measures, the verdicts). The targets themselves are declared in harness.goals.

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


def cells_of(summary: pd.DataFrame, experiment: str, variant: str, engine: str,
             sizes: tuple[int | None, int | None] = (None, None),
             threads: int = 1) -> pd.DataFrame:
    """The ok cells of one engine's readings (``variant`` a regular expression), n within
    ``sizes`` (inclusive, None: open), measured at ``threads`` threads (a run made before
    the summary recorded threads counts as one thread)."""
    rows = summary[(summary.experiment == experiment) & (summary.engine == engine)
                   & (summary.status == "ok")]
    rows = rows[rows.variant.str.fullmatch(variant)]
    low, high = sizes
    if low is not None:
        rows = rows[rows["size"] >= low]
    if high is not None:
        rows = rows[rows["size"] <= high]
    counted = rows["threads"].fillna(1) if "threads" in rows else pd.Series(1, rows.index)
    return rows[counted.astype(int) == threads]


def worst(column: str, experiment: str, variant: str, engine: str, invert: bool = False,
          highest: bool = True, sizes: tuple[int | None, int | None] = (None, None),
          threads: int = 1, note: str = "") -> Callable[[pd.DataFrame], tuple]:
    """The worst (largest, or smallest) value of ``column`` over the matching cells (``note``
    added to where it was read)."""

    def measure(summary: pd.DataFrame) -> tuple:
        if column not in summary:
            return math.nan, ""
        rows = cells_of(summary, experiment, variant, engine, sizes, threads)
        rows = rows.dropna(subset=[column])
        if rows.empty:
            return math.nan, ""
        values = 1.0 / rows[column] if invert else rows[column]
        index = values.idxmax() if highest else values.idxmin()
        row = rows.loc[index]
        bounds = [bounds_of(r, column, invert) for _, r in rows.iterrows()]
        where = f"{row.variant} n={row['size']}{note}"
        return float(values.loc[index]), where, list(values), bounds

    return measure


def worst_of(*measures: Callable[[pd.DataFrame], tuple],
             highest: bool = True) -> Callable[[pd.DataFrame], tuple]:
    """One target over the cells of several measures (e.g. a ratio to each peer): the worst
    of them all, every cell counted."""

    def measure(summary: pd.DataFrame) -> tuple:
        found = [m(summary) for m in measures]
        found = [f for f in found if len(f) == 4 and not math.isnan(f[0])]
        if not found:
            return math.nan, ""
        best = (max if highest else min)(found, key=lambda f: f[0])
        return (best[0], best[1], [v for f in found for v in f[2]],
                [b for f in found for b in f[3]])

    return measure


def bounds_of(row: pd.Series, column: str, invert: bool) -> tuple[float, float]:
    """The 95% interval of a cell's figure (NaN, NaN when the run has none)."""
    low, high = (float(row.get(f"{column}_ci_{side}", math.nan)) for side in ("low", "high"))
    return (1.0 / high, 1.0 / low) if invert else (low, high)


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


def targets_section(summary: pd.DataFrame, targets: list[Target] | None = None) -> Section:
    """The table of the declared targets (harness.goals.TARGETS unless given) with this run's
    figure and verdict for each."""
    if targets is None:
        from harness.goals import TARGETS as targets
    rows = []
    for target in targets:
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
        [f"{met} of {measured} measured targets met ({len(targets)} in all). Each figure is "
         "the worst over the cells it covers: a ratio to torch or to the floor measured in "
         "this run (for 'faster than' targets, torch's time over the engine's), peak memory "
         "in MB, or seconds, with its 95% interval; 'cells within the bound' counts the "
         "cells (sizes, batches) of a target that covers several whose whole interval is "
         "within the bound. A verdict is 'met' when every cell's interval lies within the "
         "bound, 'NOT MET' when some cell's interval lies wholly beyond it, 'undecided' "
         "when an interval straddles the bound: this run cannot tell, however its figure "
         "falls (more processes narrow the intervals)."],
        [("Targets", table)])
