"""Unit tests of the harness pieces that need no subprocess: result checks, timing
calibration, experiment shapes, raw.jsonl parsing and the summary's ratios."""

import json
import math
import time

import numpy as np
import pytest

from harness import timing
from harness.engines import registry as engine_registry
from harness.experiments import TOLERANCES, compare
from harness.experiments import registry as experiment_registry
from harness.experiments.e1_function import analytic, formula, loop_shape
from harness.report.load import read_raw
from harness.report.summary import growth, summarize

NAMES = ("f", "g")


def test_compare_accepts_exact_and_rejects_a_one_percent_gradient_error():
    expected = [np.array([1.0, 2.0]), np.array([3.0, -4.0])]
    assert compare([e.copy() for e in expected], expected, NAMES, "float64") == (0.0, None)
    error, message = compare([expected[0], expected[1] * 1.01], expected, NAMES, "float64")
    assert error == pytest.approx(0.01) and "g:" in message and "float64" in message


def test_compare_tolerance_follows_the_dtype():
    expected = [np.linspace(-3, 3, 50)]
    rounded = [expected[0].astype(np.float32)]
    assert compare(rounded, expected, NAMES, "float32")[1] is None
    assert compare(rounded, expected, NAMES, "float64")[1] is not None
    assert TOLERANCES["float32"] > TOLERANCES["float64"]


def test_compare_names_shape_count_and_non_finite_problems():
    expected = [np.zeros(3)]
    assert "shape" in compare([np.zeros(4)], expected, NAMES, "float64")[1]
    assert "expected 1 output" in compare([], expected, NAMES, "float64")[1]
    assert "non-finite" in compare([np.array([0, np.nan, 0])], expected, NAMES, "float64")[1]


def test_e1_formula_and_hand_written_gradient_agree_with_finite_differences():
    import math as m

    point, h = np.array([0.3, -1.1, 0.7]), 1e-6
    value, *partials = analytic(*point, lib=m)
    assert value == pytest.approx(formula(*point, lib=m))
    for i in range(3):
        step = np.eye(3)[i] * h
        slope = (formula(*(point + step), lib=m) - formula(*(point - step), lib=m)) / (2 * h)
        assert partials[i] == pytest.approx(slope, rel=1e-6)


@pytest.mark.parametrize("calls, points, rounds", [(20, 20, 1), (1000, 1000, 1),
                                                   (2000, 1000, 2), (2500, 1000, 3)])
def test_e1_loop_cycles_a_bounded_sample(calls, points, rounds):
    assert loop_shape(calls) == (points, rounds)


def test_calibration_reaches_the_minimum_repeat_time():
    loops, elapsed = timing.calibrate(lambda: sum(range(100)), 0.02)
    assert elapsed >= 0.02 and loops > 10


def test_repeats_shrink_to_the_cell_budget_but_never_below_one():
    spec = {"warmup": 1, "repeats": 10, "min_repeat_seconds": 0.001, "max_cell_seconds": 0.05}
    first, result = timing.calibrated_repeats(lambda: time.sleep(0.02) or 7, spec)
    assert first == 7 and 1 <= len(result["values"]) <= 3 and result["loops"] == 1
    assert all(value >= 0.02 for value in result["values"])


def test_every_experiment_variant_has_a_floor_and_a_torch_workload():
    engines = engine_registry()
    for name, experiment in experiment_registry().items():
        params = {key: param.default for key, param in experiment.PARAMS.items()}
        for variant, _ in experiment.cells(params):
            workload = experiment.workload(variant)
            assert engines["floor"].skip_reason(name, workload) is None, (name, variant)
            assert engines["torch"].skip_reason(name, workload) is None, (name, variant)


def _cell(cell_id, engine, size, status="ok", variant="step-b1"):
    return {"kind": "cell", "cell": cell_id, "experiment": "E2", "variant": variant,
            "engine": engine, "size": size, "dtype": "float64", "status": status,
            "calls_per_op": 1, "peak_rss_mb": 50.0, "message": ""}


def _repeats(cell_id, values):
    return [{"kind": "repeat", "cell": cell_id, "value": v, "unit": "s"} for v in values]


def test_raw_parsing_skips_corrupted_lines_and_summary_computes_ratios(tmp_path):
    lines = [{"kind": "env", "run_id": "r"}]
    for engine, base in (("torch", 1.0), ("floor", 0.5), ("bobodiff-reverse", 4.0)):
        for size in (100, 1000):
            cell_id = f"E2/step-b1/{engine}/n={size}"
            scale = base * (size / 100) ** 2
            lines += _repeats(cell_id, [scale * 0.9, scale, scale * 1.2])
            lines.append(_cell(cell_id, engine, size))
    lines.append(_cell("E2/step-b1/faulty/n=100", "faulty", 100, status="crashed"))
    text = "\n".join(json.dumps(line) for line in lines) + "\n{broken\n[1, 2]\n"
    (tmp_path / "raw.jsonl").write_text(text)
    raw = read_raw(tmp_path / "raw.jsonl")
    assert [number for number, _ in raw.corrupted] == [len(lines) + 1, len(lines) + 2]
    summary = summarize(raw).set_index(["engine", "size"])
    assert summary.loc[("bobodiff-reverse", 100), "median_s"] == pytest.approx(4.0)
    assert summary.loc[("bobodiff-reverse", 1000), "ratio_to_torch"] == pytest.approx(4.0)
    assert summary.loc[("bobodiff-reverse", 100), "ratio_to_floor"] == pytest.approx(8.0)
    assert summary.loc[("torch", 100), "iqr_s"] == pytest.approx(0.15)
    assert math.isnan(summary.loc[("faulty", 100), "median_s"])
    exponents = growth(summarize(raw)).set_index("engine")["exponent"]
    assert exponents["torch"] == pytest.approx(2.0)


def test_repeats_record_the_page_faults_of_fresh_memory():
    spec = {"warmup": 1, "repeats": 3, "min_repeat_seconds": 0.0, "max_cell_seconds": 5.0}
    # 64 MiB: above glibc's largest mmap threshold (32 MiB), so every call maps new pages
    kept = np.ones(1 << 23)

    def fresh():  # a new 64 MiB array written in full at every call
        return np.ones(1 << 23)

    _, allocating = timing.calibrated_repeats(fresh, spec)
    _, reading = timing.calibrated_repeats(lambda: float(kept.sum()), spec)
    assert len(allocating["page_faults"]) == len(allocating["values"])
    # 64 MiB is 16384 pages of 4 KiB or 32 huge pages of 2 MiB: at least 32 faults a call
    assert min(allocating["page_faults"]) >= 32
    assert max(reading["page_faults"]) < 32
    assert all(0.0 <= share <= 1.0 for share in allocating["kernel_shares"])


def test_kernel_section_lists_the_cells_dominated_by_kernel_time(tmp_path):
    from harness.report.markdown import kernel_section

    lines = [{"kind": "env", "run_id": "r"}]
    for engine, share in (("floor", 0.1), ("bobodiff-reverse", 0.6)):
        cell_id = f"E1/batch/{engine}/n=100"
        lines += [{"kind": "repeat", "cell": cell_id, "value": v, "unit": "s",
                   "kernel_share": share, "page_faults_per_call": 5000.0} for v in (1.0, 1.1)]
        lines.append({**_cell(cell_id, engine, 100, variant="batch"), "experiment": "E1"})
    (tmp_path / "raw.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    summary = summarize(read_raw(tmp_path / "raw.jsonl"))
    table = kernel_section(summary).tables[0][1]
    assert list(table.engine) == ["bobodiff-reverse"]
    assert table.iloc[0]["kernel share of CPU time"] == pytest.approx(0.6)


def test_scalar_setup_readings_stop_at_their_own_bound_and_the_step_goes_on():
    from harness.cells import plan
    from harness.config import validate
    from harness.runner import skip_reason

    config = validate({"run": {"engines": ["bobodiff-scalar"], "experiments": ["E2"]},
                       "E2": {"sizes": [300, 600], "batches": [1], "scalar_max_n": 1000,
                              "scalar_setup_max_n": 300}})
    reasons = {(c.variant, c.size): skip_reason(c, config) for c in plan(config)}
    assert reasons[("setup", 300)] is None and reasons[("lists+step-b1", 300)] is None
    assert reasons[("step-b1", 600)] is None
    for variant in ("setup", "lists+step-b1"):
        assert "E2.scalar_setup_max_n=300" in reasons[(variant, 600)]
