"""The project's speed targets (issue 16): which engine, on which reading, within what bound.

Declared here, as data, and drawn by harness.report.targets, which never names an
experiment or an engine itself. Every bound is a ratio between engines of one run (or an
absolute figure where the issue gives one), float64, one thread unless noted; a target is
met when its whole 95% interval is within the bound, missed when it is wholly beyond it.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report.targets import Target, bounds_of, cells_of, worst, worst_of

PEERS = ("torch", "jax", "autograd", "micrograd")


def _extra_memory(summary: pd.DataFrame) -> tuple:
    """Memory beyond the inputs (peak - base RSS) of the compiled E1-batch vs the floor's."""
    mine = cells_of(summary, "E1", "batch", "bobodiff-compiled")
    floor = cells_of(summary, "E1", "batch", "floor")
    if mine.empty or floor.empty:
        return math.nan, ""
    extra = float((mine.peak_rss_mb - mine.base_rss_mb).iloc[0])
    base = float((floor.peak_rss_mb - floor.base_rss_mb).iloc[0])
    return (extra / base if base > 0 else math.nan), f"{extra:.0f} MB vs {base:.0f} MB"


def _scalar_step_seconds(summary: pd.DataFrame) -> tuple:
    rows = cells_of(summary, "E2", "step-b1", "bobodiff-scalar", sizes=(1000, 1000))
    if rows.empty:
        return math.nan, ""
    row = rows.iloc[0]
    return float(row.median_s), "n=1000", [float(row.median_s)], [bounds_of(row, "median", False)]


def _ahead_of(peers: tuple[str, ...], experiment: str, variant: str, engine: str,
              **where: object) -> object:
    """The engine's time over each peer's on the same cells: at most 1 is ahead of them all."""
    return worst_of(*(worst(f"ratio_to_{peer}", experiment, variant, engine,
                            note=f" vs {peer}", **where) for peer in peers))


TARGETS = [
    Target("E1-loop, reverse on floats (bobodiff-scalar)", "≤ 20× the floor per call",
           worst("ratio_to_floor", "E1", "loop", "bobodiff-scalar"), 20.0),
    Target("E1-loop, reverse on floats (bobodiff-scalar)",
           "faster than every peer's per-call gradient",
           _ahead_of(PEERS, "E1", "loop", "bobodiff-scalar"), 1.0),
    Target("E1-loop, bd.jit(value_and_grad) (bobodiff-compiled)", "≤ 1.5× the floor",
           worst("ratio_to_floor", "E1", "loop", "bobodiff-compiled"), 1.5),
    Target("E1-batch, bd.jit (bobodiff-compiled)", "≤ 0.5× the NumPy floor, one thread",
           worst("ratio_to_floor", "E1", "batch", "bobodiff-compiled"), 0.5),
    Target("E1-batch, bd.jit (bobodiff-compiled)",
           "≤ 0.35× the floor, two threads (configs/two-threads.toml or --threads 2)",
           worst("ratio_to_floor", "E1", "batch", "bobodiff-compiled", threads=2), 0.35),
    Target("E1-batch, bd.jit (bobodiff-compiled)", "peak extra memory ≤ 0.55× the floor's",
           _extra_memory, 0.55),
    Target("E1-batch, eager reverse (bobodiff-reverse)", "≤ 1.2× the floor",
           worst("ratio_to_floor", "E1", "batch", "bobodiff-reverse"), 1.2),
    Target("E1-batch, eager forward, 3 directions (bobodiff-forward)", "≤ 1.5× the floor",
           worst("ratio_to_floor", "E1", "batch", "bobodiff-forward"), 1.5),
    Target("E1-batch, eager reverse and forward", "both ahead of JAX jit(grad)",
           worst_of(*(worst("ratio_to_jax", "E1", "batch", engine, note=f" ({engine})")
                      for engine in ("bobodiff-reverse", "bobodiff-forward"))), 1.0),
    Target("E2, bd.jit (bobodiff-compiled), batch 1 and 64", "≤ JAX jit for n ≥ 100",
           worst("ratio_to_jax", "E2", "step-b(1|64)", "bobodiff-compiled",
                 sizes=(100, None)), 1.0),
    Target("E2, bd.jit (bobodiff-compiled), batch 1 and 64", "≤ 1.5× JAX jit for n ≤ 10",
           worst("ratio_to_jax", "E2", "step-b(1|64)", "bobodiff-compiled",
                 sizes=(None, 10)), 1.5),
    Target("E2, bd.jit (bobodiff-compiled), batch 1 and 64", "≤ 1.3× the floor, every n",
           worst("ratio_to_floor", "E2", "step-b(1|64)", "bobodiff-compiled"), 1.3),
    Target("E2, eager reverse (bobodiff-reverse), batch 1 and 64", "≤ torch, every n",
           worst("ratio_to_torch", "E2", "step-b(1|64)", "bobodiff-reverse"), 1.0),
    Target("E2, scalar graph (bobodiff-scalar), n=1000", "≤ 1.5 s per step (report: 6.6 s)",
           _scalar_step_seconds, 1.5),
    Target("E3, bd.jit of jacfwd and of one JVP (bobodiff-compiled)", "≤ JAX jit, every n",
           worst("ratio_to_jax", "E3", "jvp|grad", "bobodiff-compiled"), 1.0),
    Target("E3, eager forward, grad and jvp (bobodiff-forward)", "≤ 1.5× the floor, n ≥ 100",
           worst("ratio_to_floor", "E3", "jvp|grad", "bobodiff-forward", sizes=(100, None)),
           1.5),
    Target("E1-loop peak RSS (bobodiff-scalar)", "≤ 40 MB (report: 38.8 MB)",
           worst("peak_rss_mb", "E1", "loop", "bobodiff-scalar"), 40.0),
]
