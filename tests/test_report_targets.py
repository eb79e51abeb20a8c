"""The speed-target table marks each target from the run's own ratios."""

from __future__ import annotations

import math

import pandas as pd

from harness.goals import TARGETS
from harness.report.targets import ABSENT, MET, MISSED, targets_section, verdict


def _row(experiment, variant, engine, size, median, torch=None, floor=None, peak=30.0,
         base=20.0, status="ok"):
    return {"experiment": experiment, "variant": variant, "engine": engine, "size": size,
            "dtype": "float64", "status": status, "median_s": median,
            "ratio_to_torch": median / torch if torch else math.nan,
            "ratio_to_floor": median / floor if floor else math.nan,
            "peak_rss_mb": peak, "base_rss_mb": base}


def _verdicts(summary):
    table = targets_section(summary).tables[0][1]
    return {(r.target, r.goal): (r.verdict, r._3) for r in table.itertuples()}


def test_a_target_is_met_missed_or_absent_from_the_ratios_of_the_run():
    summary = pd.DataFrame([
        # 25x faster than torch: met; worst of two E2 cells decides: 1.2x torch: missed
        _row("E1", "loop", "bobodiff-scalar", 100, 1.0, torch=25.0, peak=39.0),
        _row("E2", "step-b1", "bobodiff-reverse", 10, 0.9, torch=1.0, floor=0.9),
        _row("E2", "step-b64", "bobodiff-reverse", 600, 1.2, torch=1.0, floor=1.0),
        _row("E2", "step-b64", "bobodiff-reverse", 1000, 9.0, torch=1.0, status="error"),
    ])
    got = _verdicts(summary)
    assert got[("E1-loop, reverse mode on floats (bobodiff-scalar)",
                "≥ 20× faster than torch")] == (MET, 25.0)
    verdict_e2, worst = got[("E2, vectorized reverse, B=1 and B=64, every n", "≤ torch")]
    assert verdict_e2 == MISSED and worst == 1.2  # the failed cell is not a number
    table = targets_section(summary).tables[0][1].set_index(["target", "goal"])
    within = table["cells within the bound"]
    assert within[("E2, vectorized reverse, B=1 and B=64, every n", "≤ torch")] == "1 of 2"
    assert within[("E1-loop, reverse mode on floats (bobodiff-scalar)",
                   "≥ 20× faster than torch")] == "-"  # a single cell
    assert got[("E1-loop peak memory (bobodiff-scalar)", "≤ 40 MB (report: 38.8 MB)")][0] == MET
    assert got[("E3, one JVP (bobodiff-forward), every n", "≤ 1.5× the floor")][0] == ABSENT


def test_bounds_are_inclusive_and_directions_respected():
    at_most = next(t for t in TARGETS if t.at_most)
    at_least = next(t for t in TARGETS if not t.at_most)
    assert verdict(at_most, at_most.bound) == MET
    assert verdict(at_most, at_most.bound * 1.01) == MISSED
    assert verdict(at_least, at_least.bound) == MET
    assert verdict(at_least, at_least.bound * 0.99) == MISSED
    assert verdict(at_most, math.nan) == ABSENT
