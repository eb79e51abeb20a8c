"""summary.csv: one row per cell with statistics of its repeats, ratios and memory.

Every median and ratio comes with a 95% bootstrap interval (harness.stats): processes are
resampled, then values within them, seeded by the cell's id so a redraw gives the same
interval. A run made before processes were recorded counts as one process.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.cells import KEY_FIELDS
from harness.experiments import ReportSpec
from harness.experiments import registry as experiment_registry
from harness.report.atomic import write_atomic
from harness.report.load import RawData
from harness.stats import (
    bootstrap_medians,
    expanded_interval,
    loglog_slope,
    paired_ratio_interval,
    seed_of,
    units,
)
from harness.stats import summarize as summarize_sample

EXTRAPOLATED_CALLS = 10_000_000
SUMMARY_COLUMNS = [
    *KEY_FIELDS, "status", "median_s", "iqr_s", "min_s", "max_s", "mean_s", "repeats", "loops",
    "calls_per_op", "per_call_us", "extrapolated_10M_s", "peak_rss_mb", "base_rss_mb",
    "ratio_to_torch", "ratio_to_floor", "kernel_share", "page_faults_per_call", "max_error",
    "description", "message", "median_ci_low", "median_ci_high", "ratio_to_torch_ci_low",
    "ratio_to_torch_ci_high", "ratio_to_floor_ci_low", "ratio_to_floor_ci_high", "processes",
    "unit", "foreign_cpu_cores", "disturbed", "full_speed_share",
]
# Every engine's cell divided by the same cell of these engines, each ratio with its interval
# (the peers' since issue 16's targets, whose bounds are ratios to JAX or to every peer).
RATIO_REFERENCES = tuple((engine, f"ratio_to_{engine}")
                         for engine in ("torch", "floor", "jax", "autograd", "micrograd"))
SUMMARY_COLUMNS += [f"{column}{suffix}" for _, column in RATIO_REFERENCES[2:]
                    for suffix in ("", "_ci_low", "_ci_high")] + ["threads"]
GROWTH_MIN_N = 100


def report_of(experiment: str) -> ReportSpec:
    """What ``experiment`` declares of its report (an unknown one, e.g. of an old run whose
    experiment is gone: tables only)."""
    spec = experiment_registry().get(experiment)
    return spec.REPORT if spec else ReportSpec(str(experiment))


def values_by_round(raw: RawData) -> dict[str, dict[int, list[float]]]:
    """Each cell's values by process, the process numbered by its round (runs before
    processes: one process, 0).

    Every value counts, those the host slowed down included (``full_speed`` false): keeping
    only the full-speed ones (as the night of 2026-12-02 did) left many cells of make bench
    with one or two values, and intervals far too narrow: two make bench runs of one commit
    (2026-12-03) then had 111 of 240 cells called significant, 17 of 240 from every value.
    The host's slowing shows in ``full_speed_share`` instead. Only cells measured to the
    end count: an interrupted cell's values are kept in raw.jsonl, not used.
    """
    grouped: dict[str, dict[int, list[float]]] = {}
    ok = {cell["cell"] for cell in raw.cells if cell.get("status", "ok") == "ok"}
    for repeat in raw.repeats:
        if repeat["cell"] not in ok:
            continue
        process = int(repeat.get("process") or 0)
        grouped.setdefault(repeat["cell"], {}).setdefault(process, []).append(
            float(repeat["value"]))
    return grouped


def samples_by_cell(raw: RawData) -> dict[str, list[list[float]]]:
    """Each cell's values, one list per process (runs before processes: one list)."""
    return {cell: [by[p] for p in sorted(by)] for cell, by in values_by_round(raw).items()}


def summarize(raw: RawData) -> pd.DataFrame:
    """Build the summary table (SUMMARY_COLUMNS) from the cell and repeat lines."""
    rounds = values_by_round(raw)
    samples = {cell: [by[p] for p in sorted(by)] for cell, by in rounds.items()}
    kernel: dict[str, list[tuple[float, float]]] = {}
    for repeat in raw.repeats:
        if repeat.get("kernel_share") is not None:  # recorded since run format 2026-11-27
            kernel.setdefault(repeat["cell"], []).append(
                (float(repeat["kernel_share"]), float(repeat["page_faults_per_call"])))
    recorded = {cell: sum(map(len, by.values())) for cell, by in rounds.items()}
    rows = [{**_row(cell, samples.get(cell["cell"], []), recorded.get(cell["cell"], 0)),
             **_kernel(kernel.get(cell["cell"]))} for cell in raw.cells]
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    if table.empty:
        return table
    # by key fields: replicates and samples of each cell that has values
    replicates = {_key(cell): bootstrap_medians(samples[cell["cell"]], seed_of(cell["cell"]))
                  for cell in raw.cells if cell["cell"] in samples}
    # The paired ratios take each process's fastest value of all it recorded: the host only
    # ever slows a repeat, and a probe can call a slowed repeat fast (2026-12-03, aa.toml
    # four times: floor-slowed's interval above 1.1 in 19 of 20 cells, against 16 of 20
    # from the full-speed values only, whose fastest was sometimes a lone misjudged repeat).
    by_round = {_key(cell): rounds[cell["cell"]] for cell in raw.cells if cell["cell"] in rounds}
    samples = {_key(cell): samples[cell["cell"]] for cell in raw.cells if cell["cell"] in samples}
    table = _add_intervals(table, replicates, samples)
    table = _add_ratios(table, replicates, samples, by_round)
    order = ["experiment", "variant", "size", "engine"]
    return table.sort_values(order, kind="stable").reset_index(drop=True)


def _key(row: pd.Series, engine: str | None = None) -> tuple:
    """The key fields of a summary row (of another engine's cell of the same reading)."""
    return tuple(engine if field == "engine" and engine else row[field]
                 for field in KEY_FIELDS)


def _add_intervals(table: pd.DataFrame, replicates: dict[tuple, np.ndarray],
                   samples: dict[tuple, list[list[float]]]) -> pd.DataFrame:
    """median_ci_low / median_ci_high of every ok cell."""
    low, high = [], []
    for _, row in table.iterrows():
        cell = _key(row)
        if row.status == "ok" and cell in replicates:
            bounds = expanded_interval(replicates[cell], units(samples[cell]))
        else:
            bounds = (math.nan, math.nan)
        low.append(bounds[0])
        high.append(bounds[1])
    return table.assign(median_ci_low=low, median_ci_high=high)


def _row(cell: dict, samples: list[list[float]], recorded: int) -> dict:
    """The summary row of one cell: statistics of the values it keeps (``samples``), of
    ``recorded`` values in all."""
    values = [value for process in samples for value in process]
    status = cell.get("status", "crashed")
    if status == "ok" and not values:
        status = "error"
    stats = stats_of(values) if status == "ok" else {}
    calls = int(cell.get("calls_per_op") or 1)
    median = stats.get("median", math.nan)
    extrapolated = median / calls * EXTRAPOLATED_CALLS \
        if report_of(cell["experiment"]).extrapolate else math.nan
    return {
        **{key: cell.get(key) for key in KEY_FIELDS}, "status": status,
        "median_s": median, "iqr_s": stats.get("iqr", math.nan),
        "min_s": stats.get("min", math.nan), "max_s": stats.get("max", math.nan),
        "mean_s": stats.get("mean", math.nan), "repeats": recorded,
        "full_speed_share": (cell.get("noise") or {}).get("full_speed_share", math.nan),
        "loops": cell.get("loops"), "calls_per_op": calls,
        "per_call_us": median / calls * 1e6, "extrapolated_10M_s": extrapolated,
        "peak_rss_mb": cell.get("peak_rss_mb"), "base_rss_mb": cell.get("base_rss_mb"),
        "ratio_to_torch": math.nan, "ratio_to_floor": math.nan,
        "max_error": cell.get("max_error"), "description": cell.get("description", ""),
        "message": _first_line(cell.get("message") or ""),
        "processes": cell.get("processes", 1 if values else 0),
        "unit": cell.get("unit", "s"),
        "foreign_cpu_cores": (cell.get("noise") or {}).get("foreign_cpu_cores", math.nan),
        "disturbed": cell.get("disturbed"),
        "threads": cell.get("threads"),
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


def _add_ratios(table: pd.DataFrame, replicates: dict[tuple, np.ndarray],
                samples: dict[tuple, list[list[float]]],
                by_round: dict[tuple, dict[int, list[float]]]) -> pd.DataFrame:
    """ratio_to_torch / ratio_to_floor and their intervals. Engines measured in the same
    rounds (two processes or more each): the rounds' paired ratios (stats.
    paired_ratio_interval) of each process's fastest value, full speed or not. Otherwise
    (a run of one process per cell, or made before processes): the ratio of medians, its
    interval that of the two cells' bootstrap replicates."""
    group = ["experiment", "variant", "size", "dtype"]
    for reference, column in RATIO_REFERENCES:
        base = table[(table.engine == reference) & (table.status == "ok")]
        base = base.set_index(group)["median_s"]
        keys = list(zip(*(table[g] for g in group)))
        denominators = [base.get(key, math.nan) for key in keys]
        table[column] = table["median_s"] / pd.Series(denominators, index=table.index,
                                                      dtype=float)
        estimates = [_ratio_estimate(row, column, reference, replicates, samples, by_round)
                     for _, row in table.iterrows()]
        table[column] = [e[0] for e in estimates]
        table[f"{column}_ci_low"] = [e[1] for e in estimates]
        table[f"{column}_ci_high"] = [e[2] for e in estimates]
    return table


def _ratio_estimate(row: pd.Series, column: str, reference: str,
                    replicates: dict[tuple, np.ndarray], samples: dict[tuple, list[list[float]]],
                    by_round: dict[tuple, dict[int, list[float]]]) -> tuple[float, float, float]:
    """(ratio, low, high) of one cell to its reference engine's cell."""
    ratio = row.get(column, math.nan)
    mine, theirs = _key(row), _key(row, reference)
    if math.isnan(ratio) or mine not in replicates or theirs not in replicates:
        return ratio, math.nan, math.nan
    if mine == theirs:
        return 1.0, 1.0, 1.0
    paired = paired_ratio_interval(by_round[mine], by_round[theirs])
    if paired is not None:
        return paired
    n = min(units(samples[mine]), units(samples[theirs]))
    return (ratio, *expanded_interval(replicates[mine] / replicates[theirs], n))


def growth(summary: pd.DataFrame, min_n: int = GROWTH_MIN_N) -> pd.DataFrame:
    """Log-log slope of median time against n per (experiment, variant, engine).

    For the experiments whose report declares a growth fit. Fitted on n >= min_n when at
    least two such sizes were measured (small n are dominated
    by fixed per-call overhead), else on every measured n.
    """
    rows = []
    fitted = [name for name in summary.experiment.unique() if report_of(name).growth_fit] \
        if len(summary) else []
    ok = summary[(summary.status == "ok") & summary.experiment.isin(fitted)]
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

