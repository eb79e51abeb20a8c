"""PNG plots (matplotlib, Agg): each experiment's plot as its ReportSpec declares it (bars per
reading, or time vs n per engine with fitted power laws and the published figures), and the
memory of every engine."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import pandas as pd  # noqa: E402

from harness.engines import registry as engine_registry  # noqa: E402
from harness.experiments import ReportSpec  # noqa: E402
from harness.experiments import registry as experiment_registry  # noqa: E402
from harness.report.atomic import write_atomic  # noqa: E402
from harness.report.summary import growth  # noqa: E402
from harness.stats import loglog_predict, loglog_slope  # noqa: E402

MEMORY_FILE = "memory.png"
REPORT_LABEL = "report (their machine)"
CI_COLUMNS = ("median_ci_low", "median_ci_high")  # the 95% interval of a cell's median, s
REPORT_MARKERS = ("*", "P", "X", "h")  # the published curves' markers, in their order


def plotted() -> list[tuple[str, ReportSpec]]:
    """(experiment, its ReportSpec) of every registered experiment that declares a plot."""
    return [(name, spec.REPORT) for name, spec in experiment_registry().items()
            if spec.REPORT.plot]


def plot_files() -> tuple[str, ...]:
    """The PNG files of every run folder: each declared plot, then memory.png (the same
    files whatever the run measured: an experiment without cells gets an empty plot)."""
    return (*(spec.plot_file for _, spec in plotted()), MEMORY_FILE)


def engine_color(engine: str) -> tuple:
    """The same colour for an engine in every plot (its place among the registered ones)."""
    palette = plt.get_cmap("tab10").colors
    known = list(engine_registry())
    index = known.index(engine) if engine in known else len(known)
    return palette[index % len(palette)]


DRAWERS = {"bars": lambda data, name: draw_bars(data, name),
           "time_vs_n": lambda data, name: draw_time_vs_n(data, name)}


def write_plots(summary: pd.DataFrame, run_dir: Path) -> list[Path]:
    """Draw every plot into run_dir; return their paths (always ``plot_files()``)."""
    ok = summary[summary.status == "ok"] if len(summary) else summary
    paths = [_save(DRAWERS[spec.plot](ok, name), run_dir / spec.plot_file)
             for name, spec in plotted()]
    return [*paths, _save(draw_memory(ok), run_dir / MEMORY_FILE)]


def report_spec(experiment: str) -> ReportSpec:
    """The ReportSpec ``experiment`` declares (a bare one for an unknown name)."""
    spec = experiment_registry().get(experiment)
    return spec.REPORT if spec else ReportSpec(str(experiment))


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
    own figures on the panels of the readings it is compared with (spec.curves)."""
    spec = report_spec(experiment)
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
        if variant in spec.curves:
            draw_report_points(axis, spec.curves[variant], spec.curve_colors)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(f"{experiment}/{variant}")
        axis.set_xlabel(spec.size_label)
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


def draw_report_points(axis: plt.Axes, curves: dict[str, dict[int, float]],
                       colors: dict[str, str]) -> None:
    """The report's published times (ms by n) as distinct markers, with the exponent their
    two points imply; each framework in the colour of the engine ``colors`` names."""
    for index, (framework, points) in enumerate(curves.items()):
        sizes, times = list(points), list(points.values())
        exponent = loglog_slope(sizes, times)
        name = "PyTorch" if framework == "torch" else framework
        axis.plot(sizes, times, linestyle=":", marker=REPORT_MARKERS[index % len(REPORT_MARKERS)],
                  markersize=11, markeredgecolor="black",
                  color=engine_color(colors.get(framework, framework)),
                  label=f"{REPORT_LABEL}: {name} (n^{exponent:.2f})")


def draw_bars(ok: pd.DataFrame, experiment: str) -> plt.Figure:
    """A panel of bars per declared reading (spec.bars), the published figures (spec.marks)
    as markers on the bars of the engines that correspond to them."""
    spec = report_spec(experiment)
    data = ok[ok.experiment == experiment] if len(ok) else ok
    panels = spec.bars or ()
    figure, axes = plt.subplots(1, max(1, len(panels)), figsize=(6 * max(1, len(panels)), 4.5),
                                squeeze=False)
    if not panels:
        _empty(axes[0][0], experiment)
    intervals = has_intervals(data)
    for axis, bars in zip(axes[0], panels):
        variant, column, label = bars.variant, bars.column, bars.label
        rows = data[data.variant == variant].sort_values(column) if len(data) else data
        if rows.empty:
            _empty(axis, f"{experiment}-{variant}")
            continue
        errors = interval_errors(rows, rows[column]) if intervals else None
        axis.barh(rows["engine"], rows[column], xerr=errors, capsize=3,
                  color=[engine_color(e) for e in rows["engine"]])
        axis.set_xscale("log")
        axis.set_xlabel(label)
        size = int(rows["size"].iloc[0])
        axis.set_title(f"{experiment}-{variant} ({size:,} {bars.unit})")
        for y, value in enumerate(rows[column]):
            axis.text(value, y, f" {value:.3g}", va="center", fontsize=8)
        engines = list(rows["engine"])
        marks = [(engines.index(engine), value, row) for reading, engine, value, row
                 in spec.marks if reading == variant and engine in engines]
        for index, (y, value, row) in enumerate(marks):
            axis.plot([value], [y], marker="D", linestyle="none", markersize=9, color="white",
                      markeredgecolor="black", markeredgewidth=1.5,
                      label=REPORT_LABEL if index == 0 else None)
            axis.annotate(f"report: {row} {value:.3g}", (value, y), xytext=(4, 9),
                          textcoords="offset points", fontsize=7)
        if marks:
            axis.legend(fontsize=7, loc="lower right")
    note = " (bars: 95% interval of the median)" if intervals else ""
    marks = "; diamonds = the report's figures" if spec.marks else ""
    figure.suptitle(f"{spec.title or experiment}{marks}{note}")
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
