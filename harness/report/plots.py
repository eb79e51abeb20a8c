"""PNG plots (matplotlib, Agg): time vs n per engine (E2, E3), E1 bars, memory per engine."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import pandas as pd  # noqa: E402

from harness.report.atomic import write_atomic  # noqa: E402

PLOT_FILES = ("e1_bars.png", "e2_time_vs_n.png", "e3_time_vs_n.png", "memory.png")
KNOWN_ENGINES = ("floor", "torch", "bobodiff-forward", "bobodiff-reverse", "bobodiff-scalar",
                 "bobodiff-compiled", "jax", "autograd", "micrograd")


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


def draw_time_vs_n(ok: pd.DataFrame, experiment: str) -> plt.Figure:
    """One log-log panel per variant, one line per engine."""
    data = ok[ok.experiment == experiment] if len(ok) else ok
    variants = sorted(data.variant.unique(), key=reading_order) if len(data) else []
    figure, axes = plt.subplots(1, max(1, len(variants)), figsize=(5 * max(1, len(variants)),
                                                                  4), squeeze=False)
    if not variants:
        _empty(axes[0][0], experiment)
    for axis, variant in zip(axes[0], variants):
        for engine, rows in data[data.variant == variant].groupby("engine"):
            rows = rows.sort_values("size")
            color = engine_color(engine)
            axis.plot(rows["size"], rows["median_s"] * 1e3, marker="o", label=engine,
                      color=color)
            axis.fill_between(rows["size"], rows["min_s"] * 1e3, rows["max_s"] * 1e3,
                              alpha=0.15, color=color)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(f"{experiment}/{variant}")
        axis.set_xlabel("n (inputs = hidden units)")
        axis.set_ylabel("median time per call (ms)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(f"{experiment}: time vs n (log-log; band = min..max of repeats)")
    return figure


def draw_e1(ok: pd.DataFrame) -> plt.Figure:
    """Bars for E1-loop (microseconds per call) and E1-batch (seconds per call on N)."""
    data = ok[ok.experiment == "E1"] if len(ok) else ok
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    readings = (("loop", "per_call_us", "microseconds per call (log)"),
                ("batch", "median_s", "seconds per call on N points (log)"))
    for axis, (variant, column, label) in zip(axes, readings):
        rows = data[data.variant == variant].sort_values(column) if len(data) else data
        if rows.empty:
            _empty(axis, f"E1-{variant}")
            continue
        axis.barh(rows["engine"], rows[column], color=[engine_color(e) for e in rows["engine"]])
        axis.set_xscale("log")
        axis.set_xlabel(label)
        size = int(rows["size"].iloc[0])
        axis.set_title(f"E1-{variant} ({size:,} {'calls' if variant == 'loop' else 'points'})")
        for y, value in enumerate(rows[column]):
            axis.text(value, y, f" {value:.3g}", va="center", fontsize=8)
    figure.suptitle("E1: value + 3 partials of the report's function")
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
