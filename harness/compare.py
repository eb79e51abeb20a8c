"""Compare two runs cell by cell: ratio of medians and whether the spreads overlap."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from harness.cells import KEY_FIELDS
from harness.report.load import read_raw
from harness.report.summary import summarize
from harness.stats import overlap


def compare_runs(run_a: str | Path, run_b: str | Path) -> pd.DataFrame:
    """One row per cell present in both runs: medians, ratio B/A, significance.

    A difference is called significant when the [min, max] ranges of the repeats do not
    overlap (a conservative test, as pyperf's compare_to does with its spread).
    """
    a, b = (summarize(read_raw(Path(run) / "raw.jsonl")) for run in (run_a, run_b))
    keys = list(KEY_FIELDS)
    merged = a.merge(b, on=keys, suffixes=("_a", "_b"))
    rows = []
    for row in merged.itertuples(index=False):
        both_ok = row.status_a == "ok" and row.status_b == "ok"
        ratio = row.median_s_b / row.median_s_a if both_ok else math.nan
        significant = both_ok and not overlap(row.min_s_a, row.max_s_a, row.min_s_b,
                                              row.max_s_b)
        rows.append({**{k: getattr(row, k) for k in keys}, "status_a": row.status_a,
                     "status_b": row.status_b, "median_a_s": row.median_s_a,
                     "median_b_s": row.median_s_b, "ratio_b_over_a": ratio,
                     "significant": significant})
    return pd.DataFrame(rows, columns=[*keys, "status_a", "status_b", "median_a_s",
                                       "median_b_s", "ratio_b_over_a", "significant"])


def format_comparison(table: pd.DataFrame) -> str:
    """A plain-text table of the comparison, one cell per line."""
    if table.empty:
        return "no cells in common between the two runs"
    lines = [f"{'cell':58} {'A (s)':>11} {'B (s)':>11} {'B/A':>8}  note"]
    for row in table.itertuples(index=False):
        cell = f"{row.experiment}/{row.variant}/{row.engine}/n={row.size}/{row.dtype}"
        if row.status_a != "ok" or row.status_b != "ok":
            lines.append(f"{cell:58} {row.status_a:>11} {row.status_b:>11} {'-':>8}")
            continue
        note = "significant" if row.significant else "within spread"
        lines.append(f"{cell:58} {row.median_a_s:11.4g} {row.median_b_s:11.4g} "
                     f"{row.ratio_b_over_a:8.3f}  {note}")
    return "\n".join(lines)
