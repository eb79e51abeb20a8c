"""The project's speed targets (issue 5): which engine, on which reading, within what bound.

Declared here, as data, and drawn by harness.report.targets, which never names an
experiment or an engine itself.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report.targets import Target, bounds_of, cells_of, worst


def _extra_memory(summary: pd.DataFrame) -> tuple[float, str]:
    """Memory beyond the inputs (peak - base RSS) of the compiled E1-batch vs the floor's."""
    mine = cells_of(summary, "E1", "batch", "bobodiff-compiled")
    floor = cells_of(summary, "E1", "batch", "floor")
    if mine.empty or floor.empty:
        return math.nan, ""
    extra = float((mine.peak_rss_mb - mine.base_rss_mb).iloc[0])
    base = float((floor.peak_rss_mb - floor.base_rss_mb).iloc[0])
    return (extra / base if base > 0 else math.nan), f"{extra:.0f} MB vs {base:.0f} MB"


def _scalar_step_seconds(summary: pd.DataFrame) -> tuple[float, str]:
    rows = cells_of(summary, "E2", "step-b1", "bobodiff-scalar")
    rows = rows[rows["size"] == 1000]
    if rows.empty:
        return math.nan, ""
    row = rows.iloc[0]
    return float(row.median_s), "n=1000", [float(row.median_s)], [bounds_of(row, "median", False)]


TARGETS = [
    Target("E1-loop, reverse mode on floats (bobodiff-scalar)", "≥ 20× faster than torch",
           worst("ratio_to_torch", "E1", "loop", "bobodiff-scalar", invert=True,
                  highest=False), 20.0, at_most=False),
    Target("E1-loop, jit(value_and_grad) (bobodiff-compiled)", "≤ 2× the floor",
           worst("ratio_to_floor", "E1", "loop", "bobodiff-compiled"), 2.0),
    Target("E1-batch, reverse mode (bobodiff-reverse)", "≤ 1.3× the floor",
           worst("ratio_to_floor", "E1", "batch", "bobodiff-reverse"), 1.3),
    Target("E1-batch, reverse mode (bobodiff-reverse)", "≥ 1.7× faster than torch",
           worst("ratio_to_torch", "E1", "batch", "bobodiff-reverse", invert=True,
                  highest=False), 1.7, at_most=False),
    Target("E1-batch, forward mode, 3 directions (bobodiff-forward)", "≤ 1.5× the floor",
           worst("ratio_to_floor", "E1", "batch", "bobodiff-forward"), 1.5),
    Target("E1-batch, jit (bobodiff-compiled)", "≤ 0.6× the floor",
           worst("ratio_to_floor", "E1", "batch", "bobodiff-compiled"), 0.6),
    Target("E1-batch, jit (bobodiff-compiled)", "extra memory ≤ 0.5× the floor's",
           _extra_memory, 0.5),
    Target("E2, vectorized reverse, B=1 and B=64, every n", "≤ torch",
           worst("ratio_to_torch", "E2", "step-b(1|64)", "bobodiff-reverse"), 1.0),
    Target("E2, vectorized reverse, B=1 and B=64, every n", "≤ 1.5× the floor",
           worst("ratio_to_floor", "E2", "step-b(1|64)", "bobodiff-reverse"), 1.5),
    Target("E2, scalar graph (bobodiff-scalar), n=1000", "≤ 3 s per step (report: 6.6 s)",
           _scalar_step_seconds, 3.0),
    Target("E3, full input gradient (bobodiff-forward), every n", "≤ 1.2× the floor",
           worst("ratio_to_floor", "E3", "grad", "bobodiff-forward"), 1.2),
    Target("E3, full input gradient (bobodiff-forward), every n", "≤ torch.func.jacfwd",
           worst("ratio_to_torch", "E3", "grad", "bobodiff-forward"), 1.0),
    Target("E3, one JVP (bobodiff-forward), every n", "≤ 1.5× the floor",
           worst("ratio_to_floor", "E3", "jvp", "bobodiff-forward"), 1.5),
    Target("E1-loop peak memory (bobodiff-scalar)", "≤ 40 MB (report: 38.8 MB)",
           worst("peak_rss_mb", "E1", "loop", "bobodiff-scalar"), 40.0),
]


