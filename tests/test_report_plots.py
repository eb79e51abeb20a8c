"""The plots carry the comparison: the report's own figures as markers, fitted power laws
with their exponents in the legend, and error bars exactly when summary.csv has the 95%
interval of each median. Drawn from synthetic summaries whose growth is known."""

import math

import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from harness import published as ref
from harness.config import ConfigError, load, validate
from harness.experiments import registry as experiment_registry
from harness.report import plots
from harness.report.markdown import fidelity_section

SIZES = [10, 100, 300, 1000]


def _summary(intervals: bool) -> pd.DataFrame:
    """E2 step-b1 / E3 jvp cells growing as n^2 (bobodiff-scalar) and n^1 (torch), and E1."""
    rows = []
    for experiment, variant in (("E2", "step-b1"), ("E3", "jvp")):
        for engine, exponent, scale in (("bobodiff-scalar", 2.0, 1e-6), ("torch", 1.0, 1e-5)):
            for n in SIZES:
                median = scale * n ** exponent
                rows.append({"experiment": experiment, "variant": variant, "engine": engine,
                             "size": n, "median_s": median, "min_s": median * 0.9,
                             "max_s": median * 1.2})
    for variant, size in (("loop", 2000), ("batch", 10_000_000)):
        for engine, seconds in (("bobodiff-scalar", 0.02), ("torch", 0.2),
                                ("bobodiff-forward", 0.01)):
            rows.append({"experiment": "E1", "variant": variant, "engine": engine,
                         "size": size, "median_s": seconds, "min_s": seconds, "max_s": seconds,
                         "per_call_us": seconds / size * 1e6,
                         "extrapolated_10M_s": seconds * 1e7 / size})
    frame = pd.DataFrame(rows).assign(status="ok", dtype="float64", peak_rss_mb=100.0)
    if intervals:
        frame = frame.assign(median_ci_low=frame.median_s * 0.8,
                             median_ci_high=frame.median_s * 1.5)
    return frame


def _legend(axis) -> list[str]:
    return [text.get_text() for text in axis.get_legend().get_texts()]


def _errorbars(axis) -> list[ErrorbarContainer]:
    return [c for c in axis.containers if isinstance(c, ErrorbarContainer)]


@pytest.mark.parametrize("experiment", ["E2", "E3"])
def test_time_vs_n_shows_fitted_exponents_and_the_report_points(experiment):
    figure = plots.draw_time_vs_n(_summary(False), experiment)
    axis = figure.axes[0]
    legend = _legend(axis)
    assert "bobodiff-scalar (fit n^2.00)" in legend and "torch (fit n^1.00)" in legend
    report = [line for line in axis.get_lines()
              if line.get_label().startswith(plots.REPORT_LABEL)]
    assert len(report) == 2
    curves = experiment_registry()[experiment].REPORT.curves[axis.get_title().split("/")[1]]
    for line in report:
        framework = "bobodiff" if "bobodiff" in line.get_label() else "torch"
        assert list(line.get_xdata()) == list(curves[framework])
        assert list(line.get_ydata()) == list(curves[framework].values())
        (n0, t0), (n1, t1) = curves[framework].items()
        assert f"n^{math.log(t1 / t0) / math.log(n1 / n0):.2f}" in line.get_label()
        assert line.get_marker() != "o"  # distinct from this run's points


def test_fitted_line_passes_through_a_pure_power_law():
    axis = plots.draw_time_vs_n(_summary(False), "E2").axes[0]
    dashed = [line for line in axis.get_lines() if line.get_linestyle() == "--"]
    assert dashed
    for line in dashed:
        (n0, n1), (t0, t1) = line.get_xdata(), line.get_ydata()
        assert math.log(t1 / t0) / math.log(n1 / n0) in (pytest.approx(2.0), pytest.approx(1.0))


@pytest.mark.parametrize("intervals", [True, False])
def test_error_bars_exactly_when_the_summary_has_intervals(intervals):
    summary = _summary(intervals)
    e2 = plots.draw_time_vs_n(summary, "E2").axes[0]
    e1 = plots.draw_bars(summary, "E1").axes
    assert bool(_errorbars(e2)) is intervals
    assert all(bool(_errorbars(axis)) is intervals for axis in e1)
    if intervals:  # the bars span the interval columns, in the panel's unit (ms)
        segments = _errorbars(e2)[0].lines[2][0].get_segments()
        rows = summary[(summary.experiment == "E2") & (summary.engine == "bobodiff-scalar")]
        lows = sorted(segment[0][1] for segment in segments)
        assert lows == pytest.approx(sorted(rows.median_ci_low * 1e3))


def test_e1_bars_carry_the_report_table_1():
    loop, batch = plots.draw_bars(_summary(False), "E1").axes
    marks = {axis: [line for line in axis.get_lines() if line.get_marker() == "D"]
             for axis in (loop, batch)}
    loop_values = sorted(float(line.get_xdata()[0]) for line in marks[loop])
    assert loop_values == pytest.approx(sorted([ref.TABLE1[1]["seconds"] / 1e7 * 1e6,
                                                ref.TABLE1[2]["seconds"] / 1e7 * 1e6]))
    assert [float(line.get_xdata()[0]) for line in marks[batch]] == [ref.TABLE1[0]["seconds"]]
    assert plots.REPORT_LABEL in _legend(loop)


def test_plots_are_the_ones_the_experiments_declare():
    files = plots.plot_files()
    assert files[-1] == plots.MEMORY_FILE and len(set(files)) == len(files)
    for name, spec in experiment_registry().items():
        assert (spec.REPORT.plot_file in files) is bool(spec.REPORT.plot), name
    assert "e4_bars.png" in files


def test_a_declared_bar_plot_draws_its_panels_and_marks():
    """A plot is drawn from its declaration alone: a made-up experiment's bars and marks."""
    from harness.experiments import Bars, ReportSpec

    spec = ReportSpec("EX - made up", plot="bars", plot_file="ex.png",
                      bars=(Bars("one", "median_s", "seconds", "calls"),),
                      marks=(("one", "torch", 0.5, "published"),))
    frame = pd.DataFrame([{"experiment": "EX", "variant": "one", "engine": e, "size": 3,
                           "median_s": t, "status": "ok"} for e, t in (("torch", 1.0),
                                                                      ("floor", 0.1))])
    original = plots.report_spec
    plots.report_spec = lambda name: spec if name == "EX" else original(name)
    try:
        (axis,) = plots.draw_bars(frame, "EX").axes
    finally:
        plots.report_spec = original
    assert axis.get_title() == "EX-one (3 calls)"
    assert [float(line.get_xdata()[0]) for line in axis.get_lines()
            if line.get_marker() == "D"] == [0.5]


def test_fidelity_notes_give_the_misprints_and_the_exact_values():
    section = fidelity_section()
    misprints = dict(section.tables)["Misprints of the report"]
    assert set(misprints["report prints"]) == {"0.89070257317431829", "1.583851634528576"}
    exact = {float(value) for value in misprints["exact"]}
    assert exact == {1 - math.sin(2), 2 + math.cos(2)}
    measured = dict(section.tables)["What each report figure measured"]
    for figure in ("0.4 s", "98.5 s", "1114 s", "2228.68", "444.57"):
        assert measured["report figure"].str.contains(figure, regex=False).any(), figure


def test_profile_table_names_cells_and_rejects_bad_ones():
    for name in ("default", "quick", "smoke"):
        assert load(f"configs/{name}.toml")["profile"]["cells"]
    with pytest.raises(ConfigError, match="unknown engine 'nope'"):
        validate({"profile": {"cells": ["E1/loop/nope"]}})
    with pytest.raises(ConfigError, match="n=<integer>"):
        validate({"profile": {"cells": ["E2/step-b1/torch/600"]}})
    with pytest.raises(ConfigError, match="unknown key 'cell'"):
        validate({"profile": {"cell": ["E1/loop/torch"]}})
