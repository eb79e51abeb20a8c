"""Compare two runs cell by cell: ratio of medians B/A, its 95% interval, significance.

A difference is called significant only when the interval of B/A excludes 1 and the change
exceeds a minimum effect (default 3%): see harness.stats.significant. The interval comes
from the same seeded bootstrap over processes, then values, as the report's intervals.
Each cell also gets the machine probe's B/A (a fixed pure-Python loop timed in the same
processes): when the whole machine ran faster or slower in B, every cell moves with it; the
median of those over the cells is the run's drift, and ``significant_beyond_drift`` says
whether a change remains once that is divided out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.cells import KEY_FIELDS
from harness.report.load import RawData, read_raw
from harness.report.summary import samples_by_cell, summarize
from harness.stats import MIN_EFFECT, pooled_median, ratio_interval, seed_of, significant

COLUMNS = [*KEY_FIELDS, "status_a", "status_b", "median_a_s", "median_b_s", "ratio_b_over_a",
           "ci_low", "ci_high", "significant", "disturbed", "ratio_to_torch_a",
           "ratio_to_torch_b", "torch_ratio_moved", "probe_ratio", "significant_beyond_drift"]
JSON_KEYS = (*KEY_FIELDS, "ratio", "ci_low", "ci_high", "significant")


def _cells(raw: RawData) -> dict[tuple, dict[str, Any]]:
    return {tuple(cell.get(k) for k in KEY_FIELDS): cell for cell in raw.cells}


def _read(run: str | Path) -> RawData:
    return read_raw(Path(run) / "raw.jsonl")


def compare_runs(run_a: str | Path, run_b: str | Path,
                 min_effect: float = MIN_EFFECT) -> pd.DataFrame:
    """One row per cell present in both runs (COLUMNS): medians, B/A with its interval,
    whether the difference is significant, whether either run flagged the cell disturbed."""
    if not 0.0 <= min_effect < 1.0:
        raise ValueError(f"min_effect must be in [0, 1) (a relative change), got {min_effect}")
    raw_a, raw_b = _read(run_a), _read(run_b)
    metric = _metric(raw_a)
    if _metric(raw_b) != metric:
        raise ValueError(f"{run_a} measured {metric} and {run_b} {_metric(raw_b)} "
                         "(run.metric): a ratio between them means nothing; compare two "
                         "runs of one metric")
    cells_a, cells_b = _cells(raw_a), _cells(raw_b)
    drift = machine_drift(cells_a, cells_b)
    torch_a, torch_b = _torch_ratios(raw_a), _torch_ratios(raw_b)
    samples_a, samples_b = samples_by_cell(raw_a), samples_by_cell(raw_b)
    rows = []
    for key in (key for key in cells_a if key in cells_b):
        a, b = cells_a[key], cells_b[key]
        ratio = low = high = median_a = median_b = math.nan
        values_a, values_b = samples_a.get(a["cell"]), samples_b.get(b["cell"])
        both_ok = a.get("status") == "ok" and b.get("status") == "ok" and values_a and values_b
        if both_ok:
            ratio, low, high = ratio_interval(values_b, values_a, seed_of(a["cell"]))
            median_a, median_b = pooled_median(values_a), pooled_median(values_b)
        rows.append({**dict(zip(KEY_FIELDS, key)), "status_a": a.get("status"),
                     "status_b": b.get("status"), "median_a_s": median_a,
                     "median_b_s": median_b, "ratio_b_over_a": ratio, "ci_low": low,
                     "ci_high": high,
                     "significant": bool(both_ok) and significant(ratio, low, high, min_effect),
                     "disturbed": bool(a.get("disturbed") or b.get("disturbed")),
                     **_torch_ratio_move(torch_a.get(key), torch_b.get(key)),
                     **_beyond_drift(a, b, ratio, low, high, min_effect, drift)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs["metric"] = metric
    return table


def _metric(raw: RawData) -> str:
    """What the run's values are (run.metric): "time" (seconds; a run made before the key)
    or "instructions"."""
    return (raw.env.get("config") or {}).get("run", {}).get("metric", "time")


def _probe_us(cell: dict[str, Any]) -> float:
    value = (cell.get("noise") or {}).get("probe_us")
    return float(value) if value else math.nan


def machine_drift(cells_a: dict[tuple, dict[str, Any]],
                  cells_b: dict[tuple, dict[str, Any]]) -> float:
    """How much slower (> 1) or faster the machine ran B than A: the median over the cells
    of both runs of their machine probes' B/A (nan where a run has no probe). One figure
    for the run: a single process's probe varies by tens of percent (the host's speed
    changes from second to second), the median over hundreds of cells does not."""
    ratios = [_probe_us(cells_b[key]) / _probe_us(cells_a[key])
              for key in cells_a if key in cells_b]
    ratios = [r for r in ratios if not math.isnan(r)]
    return float(np.median(ratios)) if ratios else math.nan


def _beyond_drift(a: dict[str, Any], b: dict[str, Any], ratio: float, low: float,
                  high: float, min_effect: float, drift: float) -> dict[str, Any]:
    """This cell's machine-probe B/A, and whether B/A is still significant once divided by
    the run's drift (:func:`machine_drift`): a change of the code, not of the machine.
    None where a run has no probe."""
    probe_ratio = _probe_us(b) / _probe_us(a)
    if math.isnan(drift) or math.isnan(ratio):
        return {"probe_ratio": probe_ratio, "significant_beyond_drift": None}
    return {"probe_ratio": probe_ratio, "significant_beyond_drift":
            significant(ratio / drift, low / drift, high / drift, min_effect)}


def _torch_ratios(raw: RawData) -> dict[tuple, tuple[float, float, float]]:
    """Each cell's printed ratio to torch and its interval, by key fields."""
    summary = summarize(raw)
    return {tuple(row[k] for k in KEY_FIELDS): (row.ratio_to_torch, row.ratio_to_torch_ci_low,
                                                 row.ratio_to_torch_ci_high)
            for _, row in summary.iterrows()}


def _torch_ratio_move(a: tuple | None, b: tuple | None) -> dict[str, Any]:
    """B's ratio to torch, A's, and whether B's lies outside the interval A printed."""
    a, b = a or (math.nan,) * 3, b or (math.nan,) * 3
    moved = not any(math.isnan(v) for v in (*a, b[0])) and not a[1] <= b[0] <= a[2]
    return {"ratio_to_torch_a": a[0], "ratio_to_torch_b": b[0], "torch_ratio_moved": moved}


def cells_in_one_run(run_a: str | Path, run_b: str | Path) -> dict[str, list[str]]:
    """Cell ids measured (or skipped) in only one of the runs: {"A": [...], "B": [...]}."""
    cells_a, cells_b = _cells(_read(run_a)), _cells(_read(run_b))
    return {"A": [cells_a[k]["cell"] for k in cells_a if k not in cells_b],
            "B": [cells_b[k]["cell"] for k in cells_b if k not in cells_a]}


def comparison_json(table: pd.DataFrame) -> str:
    """The comparison as a JSON list, one object per cell in both runs (JSON_KEYS, plus
    the statuses, the disturbed flag, both runs' ratio to torch and whether B's lies outside
    A's printed interval); null where a run has no number."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return None
        return value.item() if hasattr(value, "item") else value

    records = [{key: clean(row[column]) for key, column in
                (*((k, k) for k in KEY_FIELDS), ("ratio", "ratio_b_over_a"),
                 ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("significant", "significant"),
                 ("status_a", "status_a"), ("status_b", "status_b"),
                 ("disturbed", "disturbed"), ("ratio_to_torch_a", "ratio_to_torch_a"),
                 ("ratio_to_torch_b", "ratio_to_torch_b"),
                 ("torch_ratio_moved", "torch_ratio_moved"), ("probe_ratio", "probe_ratio"),
                 ("significant_beyond_drift", "significant_beyond_drift"))}
               for _, row in table.iterrows()]
    return json.dumps(records, indent=1)


def format_comparison(table: pd.DataFrame, only: dict[str, list[str]] | None = None,
                      min_effect: float = MIN_EFFECT) -> str:
    """A plain-text table of the comparison, one cell per line, then the cells of one run."""
    lines = []
    unit = "instructions" if table.attrs.get("metric") == "instructions" else "s"
    w = len(f"A ({unit})") + 5  # a column of medians
    if table.empty:
        lines.append("no cells in common between the two runs")
    else:
        lines.append(f"{'cell':58} {f'A ({unit})':>{w}} {f'B ({unit})':>{w}} "
                     f"{'B/A [95% interval]':>24}  note")
    for row in table.itertuples(index=False):
        cell = f"{row.experiment}/{row.variant}/{row.engine}/n={row.size}/{row.dtype}"
        if row.status_a != "ok" or row.status_b != "ok":
            lines.append(f"{cell:58} {row.status_a:>{w}} {row.status_b:>{w}} {'-':>24}")
            continue
        note = "significant" if row.significant else "not significant"
        if row.significant and row.significant_beyond_drift is False:
            note += " (not beyond the machine's drift)"
        if row.disturbed:
            note += " (disturbed)"
        interval = f"{row.ratio_b_over_a:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"
        lines.append(f"{cell:58} {row.median_a_s:{w}.4g} {row.median_b_s:{w}.4g} "
                     f"{interval:>24}  {note}")
    numbered = table[table.ratio_b_over_a.notna()]
    if len(numbered):
        disturbed = int(numbered.disturbed.sum())
        called = numbered[numbered.significant]
        lines.append(f"{len(called)} of {len(numbered)} cells with a number in both runs "
                     f"significant (interval of B/A excludes 1 and the change exceeds "
                     f"{min_effect:.0%}), {int(called.disturbed.sum())} of them flagged "
                     f"disturbed; {disturbed} cells flagged disturbed in a run")
        lines.extend(_drift_lines(numbered, called))
    printed = table[table.ratio_to_torch_b.notna() & (table.engine != "torch")]
    if len(printed):
        lines.append(f"{int(printed.torch_ratio_moved.sum())} of {len(printed)} ratios to "
                     "torch in B lie outside the interval A printed")
    for side, cells in (only or {}).items():
        if cells:
            lines.append(f"only in run {side} ({len(cells)}): " + ", ".join(cells))
    return "\n".join(lines)


def _drift_lines(numbered: pd.DataFrame, called: pd.DataFrame) -> list[str]:
    """What the machine probe says of the machine's speed in B against A."""
    drifts = numbered.probe_ratio.dropna()
    if drifts.empty:
        return ["no machine probe in one of the runs (a run made before probes were "
                "recorded): machine drift unknown"]
    low, mid, high = drifts.quantile([0.1, 0.5, 0.9])
    kept = int(called.significant_beyond_drift.fillna(True).astype(bool).sum())
    return [f"machine drift B/A: {mid:.3f} (the median over {len(drifts)} cells of the "
            f"machine probe's B/A, a fixed pure-Python loop timed in every process; one "
            f"process's probe varies more: 10-90% {low:.3f}-{high:.3f}); {kept} of the "
            f"{len(called)} significant cells stay significant once divided by the drift"]
