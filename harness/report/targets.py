"""The speed targets (issue 5), each marked met / not met from this run's own ratios.

Every target is a ratio measured in one run (an engine against torch or against the
hand-written floor, same cell), or an absolute figure where the issue gives one. A target
whose cells are missing from the run (not measured, failed) says so instead of a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from harness.report.sections import Section

MET, MISSED, ABSENT = "met", "NOT MET", "not measured"


@dataclass(frozen=True)
class Target:
    """One line of issue 5's table: what is compared, the bound, and how to read the run."""

    name: str
    goal: str
    # (worst value, where it was read[, every cell's value]): the values, when given, say
    # how many of the cells the target covers are within its bound
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

    def measure(summary: pd.DataFrame) -> tuple[float, str]:
        rows = _cells(summary, experiment, variant, engine).dropna(subset=[column])
        if rows.empty:
            return math.nan, ""
        values = 1.0 / rows[column] if invert else rows[column]
        index = values.idxmax() if highest else values.idxmin()
        row = rows.loc[index]
        return float(values.loc[index]), f"{row.variant} n={row['size']}", list(values)

    return measure


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
    return float(rows.median_s.iloc[0]), "n=1000"


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


def verdict(target: Target, value: float) -> str:
    """met / NOT MET / not measured."""
    if math.isnan(value):
        return ABSENT
    ok = value <= target.bound if target.at_most else value >= target.bound
    return MET if ok else MISSED


def targets_section(summary: pd.DataFrame) -> Section:
    """The table of issue 5's targets with this run's figure and verdict for each."""
    rows = []
    for target in TARGETS:
        value, where, *every = target.measure(summary)
        within = "-"
        if every and len(every[0]) > 1:
            ok = sum(verdict(target, float(v)) == MET for v in every[0])
            within = f"{ok} of {len(every[0])}"
        rows.append({"target": target.name, "goal": target.goal,
                     "this run (worst cell)": value, "where": where or "-",
                     "cells within the bound": within, "verdict": verdict(target, value)})
    table = pd.DataFrame(rows)
    met = int((table.verdict == MET).sum())
    measured = int((table.verdict != ABSENT).sum())
    return Section(
        "Speed targets",
        [f"{met} of {measured} measured targets met ({len(TARGETS)} in all). Each figure is "
         "the worst over the cells it covers: a ratio to torch or to the floor measured in "
         "this run (for 'faster than' targets, torch's time over the engine's), peak memory "
         "in MB, or seconds; 'cells within the bound' counts the cells (sizes, batches) "
         "of a target that covers several. Machines are noisy: a ratio near its bound can "
         "flip between runs."],
        [("Targets", table)])
