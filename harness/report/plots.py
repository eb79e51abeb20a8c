"""PNG plots (matplotlib, Agg): time vs n per engine (E2, E3), E1 bars, memory per engine."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import pandas as pd  # noqa: E402

from harness.report import reference as ref  # noqa: E402
from harness.report.atomic import write_atomic  # noqa: E402
from harness.report.summary import growth  # noqa: E402
from harness.stats import loglog_predict, loglog_slope  # noqa: E402

PLOT_FILES = ("e1_bars.png", "e2_time_vs_n.png", "e3_time_vs_n.png", "memory.png")
KNOWN_ENGINES = ("floor", "torch", "bobodiff-forward", "bobodiff-reverse", "bobodiff-scalar",
                 "bobodiff-compiled", "jax", "autograd", "micrograd")


REPORT_LABEL = "report (their machine)"
CI_COLUMNS = ("median_ci_low", "median_ci_high")  # the 95% interval of a cell's median, s
# The readings of this run the report's E2 / E3 figures are drawn beside (what it most
# probably timed: one step of the network, E3 one direction or all of them).
REPORT_PANELS = {"E2": ("step-b1", "lists+step-b1"), "E3": ("jvp", "grad")}
REPORT_CURVES = {"E2": ref.E2_REPORT_MS, "E3": ref.E3_REPORT_MS}
# Which engine's colour the report's figures take: its own scalar design, and PyTorch.
REPORT_COLORS = {"bobodiff": "bobodiff-scalar", "torch": "torch"}
REPORT_MARKERS = {"bobodiff": "*", "torch": "P"}


def engine_color(engine: str) -> tuple:
    """The same colour for an engine in every plot."""
    palette = plt.get_cmap("tab10").colors
    index = KNOWN_ENGINES.index(engine) if engine in KNOWN_ENGINES else len(KNOWN_ENGINES)
    return palette[index % len(palette)]


def write_plots(summary: pd.DataFrame, run_dir: Path) -> list[Path]:
    """Draw every plot into run_dir; return their paths (always the same four files)."""
    ok = summary[summary.status == "ok"] if len(summary) else summary
    drawers = (draw_e1, lambda data: draw_time_vs_n(data, "E2"),
               lambda data: draw_time_vs_n(data, "E3"), draw_memory)
    return [_save(drawer(ok), run_dir / name) for drawer, name in zip(drawers, PLOT_FILES)]


def _save(figure: plt.Figure, path: Path) -> Path:
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110,
                                                  bbox_inches="tight"))
    plt.close(figure)
    return path


def _empty(axis: plt.Axes, what: str) -> None:
    axis.text(0.5, 0.5, f"no successful {what} cells in this run", ha="center", va="center",
              transform=axis.transAxes)
    axis.set_axis_off()


def reading_order(variant: str) -> tuple:
    """Set-up first, then single steps by batch, composite readings last."""
    batch = int(variant.rsplit("-b", 1)[1]) if "-b" in variant else 0
    return ("+" in variant, variant != "setup", batch, variant)


def has_intervals(rows: pd.DataFrame) -> bool:
    """True when the summary carries the 95% interval of each median (and this part has one)."""
    return all(column in rows for column in CI_COLUMNS) and rows[list(CI_COLUMNS)].notna().any(
        axis=None)


def interval_errors(rows: pd.DataFrame, values: pd.Series) -> list[pd.Series]:
    """Distances below and above ``values`` of the median's interval, in the unit of
    ``values`` (a per-call or extrapolated time scales as the median does)."""
    scale = values / rows["median_s"]
    return [(rows["median_s"] - rows[CI_COLUMNS[0]]).clip(lower=0) * scale,
            (rows[CI_COLUMNS[1]] - rows["median_s"]).clip(lower=0) * scale]


def draw_time_vs_n(ok: pd.DataFrame, experiment: str) -> plt.Figure:
    """One log-log panel per variant: a line per engine, its fitted power law (exponent in
    the legend), the 95% interval of each median when the summary has one, and the report's
    own figures on the panels of the readings it is compared with."""
    data = ok[ok.experiment == experiment] if len(ok) else ok
    variants = sorted(data.variant.unique(), key=reading_order) if len(data) else []
    figure, axes = plt.subplots(1, max(1, len(variants)), figsize=(5.5 * max(1, len(variants)),
                                                                  4.5), squeeze=False)
    if not variants:
        _empty(axes[0][0], experiment)
    fits = growth(data) if len(data) else pd.DataFrame()
    intervals = has_intervals(data)
    for axis, variant in zip(axes[0], variants):
        for engine, rows in data[data.variant == variant].groupby("engine"):
            rows = rows.sort_values("size")
            color = engine_color(engine)
            fit = fits[(fits.variant == variant) & (fits.engine == engine)] if len(fits) else fits
            label = engine
            if len(fit):
                label += f" (fit n^{float(fit.exponent.iloc[0]):.2f})"
                _draw_fit(axis, rows, fit.iloc[0], color)
            times = rows["median_s"] * 1e3
            axis.plot(rows["size"], times, marker="o", label=label, color=color)
            axis.fill_between(rows["size"], rows["min_s"] * 1e3, rows["max_s"] * 1e3,
                              alpha=0.12, color=color)
            if intervals:
                axis.errorbar(rows["size"], times, yerr=interval_errors(rows, times),
                              fmt="none", ecolor=color, capsize=3, linewidth=1)
        if variant in REPORT_PANELS.get(experiment, ()):
            draw_report_points(axis, REPORT_CURVES[experiment])
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(f"{experiment}/{variant}")
        axis.set_xlabel("n (inputs = hidden units)")
        axis.set_ylabel("median time per call (ms)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    bars = "; bars = 95% interval of the median" if intervals else ""
    figure.suptitle(f"{experiment}: time vs n (log-log; band = min..max of repeats{bars}; "
                    "dashed = fitted power law)")
    return figure


def _draw_fit(axis: plt.Axes, rows: pd.DataFrame, fit: pd.Series, color: tuple) -> None:
    """The power law fitted on the sizes growth() used, drawn over those sizes."""
    used = rows[(rows["size"] >= fit.n_from) & (rows["size"] <= fit.n_to)]
    sizes, times = list(used["size"]), list(used["median_s"])
    ends = [float(fit.n_from), float(fit.n_to)]
    axis.plot(ends, [loglog_predict(sizes, times, n) * 1e3 for n in ends], linestyle="--",
              linewidth=1, color=color, alpha=0.7)


def draw_report_points(axis: plt.Axes, curves: dict[str, dict[int, float]]) -> None:
    """The report's published times (ms by n) as distinct markers, with the exponent their
    two points imply."""
    for framework, points in curves.items():
        sizes, times = list(points), list(points.values())
        exponent = loglog_slope(sizes, times)
        name = "bobodiff" if framework == "bobodiff" else "PyTorch"
        axis.plot(sizes, times, linestyle=":", marker=REPORT_MARKERS[framework], markersize=11,
                  markeredgecolor="black", color=engine_color(REPORT_COLORS[framework]),
                  label=f"{REPORT_LABEL}: {name} (n^{exponent:.2f})")


# Table 1 of the report on the E1 bars: (reading, engine of this run, value in the panel's
# unit). The loop panel is per call (the report's 10M calls / 1e7), the batch one is 10M points.
E1_REPORT_MARKS = (("loop", "bobodiff-scalar", ref.TABLE1[1]["seconds"] / 1e7 * 1e6,
                    "backward (bobodiff)"),
                   ("loop", "torch", ref.TABLE1[2]["seconds"] / 1e7 * 1e6, "PyTorch"),
                   ("batch", "bobodiff-forward", ref.TABLE1[0]["seconds"], "forward (bobodiff)"))


def draw_e1(ok: pd.DataFrame) -> plt.Figure:
    """Bars for E1-loop (microseconds per call) and E1-batch (seconds for 10M points), the
    report's Table 1 as markers on the bars of the engines that correspond to its rows."""
    data = ok[ok.experiment == "E1"] if len(ok) else ok
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    readings = (("loop", "per_call_us", "microseconds per call (log)"),
                ("batch", "extrapolated_10M_s", "seconds for 10M points (log; N points "
                 "scaled linearly)"))
    intervals = has_intervals(data)
    for axis, (variant, column, label) in zip(axes, readings):
        rows = data[data.variant == variant].sort_values(column) if len(data) else data
        if rows.empty:
            _empty(axis, f"E1-{variant}")
            continue
        errors = interval_errors(rows, rows[column]) if intervals else None
        axis.barh(rows["engine"], rows[column], xerr=errors, capsize=3,
                  color=[engine_color(e) for e in rows["engine"]])
        axis.set_xscale("log")
        axis.set_xlabel(label)
        size = int(rows["size"].iloc[0])
        axis.set_title(f"E1-{variant} ({size:,} {'calls' if variant == 'loop' else 'points'})")
        for y, value in enumerate(rows[column]):
            axis.text(value, y, f" {value:.3g}", va="center", fontsize=8)
        engines = list(rows["engine"])
        marks = [(engines.index(engine), value, row) for reading, engine, value, row
                 in E1_REPORT_MARKS if reading == variant and engine in engines]
        for index, (y, value, row) in enumerate(marks):
            axis.plot([value], [y], marker="D", linestyle="none", markersize=9, color="white",
                      markeredgecolor="black", markeredgewidth=1.5,
                      label=REPORT_LABEL if index == 0 else None)
            axis.annotate(f"report: {row} {value:.3g}", (value, y), xytext=(4, 9),
                          textcoords="offset points", fontsize=7)
        if marks:
            axis.legend(fontsize=7, loc="lower right")
    bars = " (bars: 95% interval of the median)" if intervals else ""
    figure.suptitle("E1: value + 3 partials of the report's function; diamonds = the report's "
                    f"Table 1{bars}")
    figure.tight_layout()
    return figure


def draw_memory(ok: pd.DataFrame) -> plt.Figure:
    """Peak RSS of the cell process per engine, for each experiment/variant at its largest n."""
    figure, axis = plt.subplots(figsize=(11, 4.5))
    if ok.empty or ok["peak_rss_mb"].isna().all():
        _empty(axis, "")
        return figure
    largest = ok.loc[ok.groupby(["experiment", "variant", "engine"])["size"].idxmax()]
    largest = largest.assign(reading=largest.experiment + "/" + largest.variant)
    table = largest.pivot_table(index="reading", columns="engine", values="peak_rss_mb",
                                aggfunc="max")
    table.plot.bar(ax=axis, width=0.8, color=[engine_color(e) for e in table.columns])
    axis.set_ylabel("peak RSS of the cell process (MB)")
    axis.set_title("Memory per engine (each reading at its largest measured n)")
    axis.tick_params(axis="x", labelrotation=30)
    axis.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    figure.tight_layout()
    return figure
