"""summary.csv: one row per cell with statistics of its repeats, ratios and memory."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.cells import KEY_FIELDS
from harness.report.atomic import write_atomic
from harness.report.load import RawData
from harness.stats import loglog_slope
from harness.stats import summarize as summarize_sample

EXTRAPOLATED_CALLS = 10_000_000
SUMMARY_COLUMNS = [
    *KEY_FIELDS, "status", "median_s", "iqr_s", "min_s", "max_s", "mean_s", "repeats", "loops",
    "calls_per_op", "per_call_us", "extrapolated_10M_s", "peak_rss_mb", "base_rss_mb",
    "ratio_to_torch", "ratio_to_floor", "kernel_share", "page_faults_per_call", "max_error",
    "description", "message",
]
GROWTH_MIN_N = 100


def summarize(raw: RawData) -> pd.DataFrame:
    """Build the summary table (SUMMARY_COLUMNS) from the cell and repeat lines."""
    values: dict[str, list[float]] = {}
    kernel: dict[str, list[tuple[float, float]]] = {}
    for repeat in raw.repeats:
        values.setdefault(repeat["cell"], []).append(float(repeat["value"]))
        if repeat.get("kernel_share") is not None:  # recorded since run format 2026-11-27
            kernel.setdefault(repeat["cell"], []).append(
                (float(repeat["kernel_share"]), float(repeat["page_faults_per_call"])))
    rows = [{**_row(cell, values.get(cell["cell"], [])), **_kernel(kernel.get(cell["cell"]))}
            for cell in raw.cells]
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if table.empty:
        return table
    table = _add_ratios(table)
    order = ["experiment", "variant", "size", "engine"]
    return table.sort_values(order, kind="stable").reset_index(drop=True)


def _row(cell: dict, values: list[float]) -> dict:
    status = cell.get("status", "crashed")
    if status == "ok" and not values:
        status = "error"
    stats = stats_of(values) if status == "ok" else {}
    calls = int(cell.get("calls_per_op") or 1)
    median = stats.get("median", math.nan)
    extrapolated = median / calls * EXTRAPOLATED_CALLS if cell["experiment"] == "E1" \
        else math.nan
    return {
        **{key: cell.get(key) for key in KEY_FIELDS}, "status": status,
        "median_s": median, "iqr_s": stats.get("iqr", math.nan),
        "min_s": stats.get("min", math.nan), "max_s": stats.get("max", math.nan),
        "mean_s": stats.get("mean", math.nan), "repeats": len(values),
        "loops": cell.get("loops"), "calls_per_op": calls,
        "per_call_us": median / calls * 1e6, "extrapolated_10M_s": extrapolated,
        "peak_rss_mb": cell.get("peak_rss_mb"), "base_rss_mb": cell.get("base_rss_mb"),
        "ratio_to_torch": math.nan, "ratio_to_floor": math.nan,
        "max_error": cell.get("max_error"), "description": cell.get("description", ""),
        "message": _first_line(cell.get("message") or ""),
    }


def _kernel(pairs: list[tuple[float, float]] | None) -> dict[str, float]:
    """Median share of CPU time spent in the kernel and median page faults per call."""
    if not pairs:
        return {"kernel_share": math.nan, "page_faults_per_call": math.nan}
    return {"kernel_share": float(np.median([p[0] for p in pairs])),
            "page_faults_per_call": float(np.median([p[1] for p in pairs]))}


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def stats_of(values: list[float]) -> dict[str, float]:
    """Median, IQR, min, max and mean of a non-empty list of repeat values."""
    return summarize_sample(values)


def _add_ratios(table: pd.DataFrame) -> pd.DataFrame:
    group = ["experiment", "variant", "size", "dtype"]
    for reference, column in (("torch", "ratio_to_torch"), ("floor", "ratio_to_floor")):
        base = table[(table.engine == reference) & (table.status == "ok")]
        base = base.set_index(group)["median_s"]
        keys = list(zip(*(table[g] for g in group)))
        denominators = [base.get(key, math.nan) for key in keys]
        table[column] = table["median_s"] / pd.Series(denominators, index=table.index,
                                                      dtype=float)
    return table


def growth(summary: pd.DataFrame, min_n: int = GROWTH_MIN_N) -> pd.DataFrame:
    """Log-log slope of median time against n per (experiment, variant, engine).

    Fitted on n >= min_n when at least two such sizes were measured (small n are dominated
    by fixed per-call overhead), else on every measured n.
    """
    rows = []
    ok = summary[(summary.status == "ok") & summary.experiment.isin(["E2", "E3"])]
    for (experiment, variant, engine), group in ok.groupby(["experiment", "variant", "engine"]):
        large = group[group["size"] >= min_n]
        used = large if large["size"].nunique() >= 2 else group
        slope = loglog_slope(list(used["size"]), list(used["median_s"]))
        if math.isnan(slope):
            continue
        rows.append({"experiment": experiment, "variant": variant, "engine": engine,
                     "exponent": slope, "n_from": int(used["size"].min()),
                     "n_to": int(used["size"].max()), "points": len(used)})
    return pd.DataFrame(rows, columns=["experiment", "variant", "engine", "exponent", "n_from",
                                       "n_to", "points"])


def write_summary(summary: pd.DataFrame, path: Path) -> Path:
    """Write summary.csv atomically."""
    return write_atomic(path, lambda tmp: summary.to_csv(tmp, index=False))

