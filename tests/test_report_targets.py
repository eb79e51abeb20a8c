"""The speed-target table marks each target from the run's own ratios."""

from __future__ import annotations

import math

import pandas as pd

from harness.goals import TARGETS
from harness.report.targets import ABSENT, MET, MISSED, Target, targets_section, verdict


def _row(experiment, variant, engine, size, median, torch=None, floor=None, peak=30.0,
         base=20.0, status="ok", jax=None, threads=1):
    return {"experiment": experiment, "variant": variant, "engine": engine, "size": size,
            "dtype": "float64", "status": status, "median_s": median,
            "ratio_to_torch": median / torch if torch else math.nan,
            "ratio_to_floor": median / floor if floor else math.nan,
            "ratio_to_jax": median / jax if jax else math.nan,
            "peak_rss_mb": peak, "base_rss_mb": base, "threads": threads}


def _verdicts(summary):
    table = targets_section(summary).tables[0][1]
    return {(r.target, r.goal): (r.verdict, r._3) for r in table.itertuples()}


SCALAR = "E1-loop, reverse on floats (bobodiff-scalar)"
E2_TORCH = ("E2, eager reverse (bobodiff-reverse), batch 1 and 64", "≤ torch, every n")
E2_JAX_LARGE = ("E2, bd.jit (bobodiff-compiled), batch 1 and 64", "≤ JAX jit for n ≥ 100")
E2_JAX_SMALL = ("E2, bd.jit (bobodiff-compiled), batch 1 and 64", "≤ 1.5× JAX jit for n ≤ 10")
TWO_THREADS = ("E1-batch, bd.jit (bobodiff-compiled)",
               "≤ 0.35× the floor, two threads (configs/two-threads.toml or --threads 2)")


def test_a_target_is_met_missed_or_absent_from_the_ratios_of_the_run():
    summary = pd.DataFrame([
        # 15x the floor: met; the worst of two E2 cells decides: 1.2x torch: missed
        _row("E1", "loop", "bobodiff-scalar", 100, 1.5, floor=0.1, torch=25.0, peak=39.0),
        _row("E2", "step-b1", "bobodiff-reverse", 10, 0.9, torch=1.0, floor=0.9),
        _row("E2", "step-b64", "bobodiff-reverse", 600, 1.2, torch=1.0, floor=1.0),
        _row("E2", "step-b64", "bobodiff-reverse", 1000, 9.0, torch=1.0, status="error"),
    ])
    got = _verdicts(summary)
    assert got[(SCALAR, "≤ 20× the floor per call")] == (MET, 15.0)
    verdict_e2, worst = got[E2_TORCH]
    assert verdict_e2 == MISSED and worst == 1.2  # the failed cell is not a number
    table = targets_section(summary).tables[0][1].set_index(["target", "goal"])
    within = table["cells within the bound"]
    assert within[E2_TORCH] == "1 of 2"
    assert within[(SCALAR, "≤ 20× the floor per call")] == "-"  # a single cell
    assert got[("E1-loop peak RSS (bobodiff-scalar)", "≤ 40 MB (report: 38.8 MB)")][0] == MET
    assert got[("E3, eager forward, grad and jvp (bobodiff-forward)",
                "≤ 1.5× the floor, n ≥ 100")][0] == ABSENT


def test_targets_on_jax_split_by_size_and_every_peer_counts():
    summary = pd.DataFrame([
        _row("E2", "step-b1", "bobodiff-compiled", 10, 1.4, jax=1.0),  # within 1.5x JAX
        _row("E2", "step-b64", "bobodiff-compiled", 100, 1.1, jax=1.0),  # slower than JAX
        _row("E2", "step-b1", "bobodiff-compiled", 1000, 0.8, jax=1.0),
        # faster than torch, slower than JAX: not ahead of every peer
        _row("E1", "loop", "bobodiff-scalar", 2000, 1.0, torch=10.0, jax=0.9),
    ])
    got = _verdicts(summary)
    assert got[E2_JAX_SMALL] == (MET, 1.4)
    assert got[E2_JAX_LARGE] == (MISSED, 1.1)  # n=100 decides; n=10 is not counted
    verdict_peers, worst = got[(SCALAR, "faster than every peer's per-call gradient")]
    assert verdict_peers == MISSED and worst == 1.0 / 0.9
    table = targets_section(summary).tables[0][1].set_index(["target", "goal"])
    assert table.loc[(SCALAR, "faster than every peer's per-call gradient"),
                     "where"].endswith("vs jax")


def test_the_two_thread_target_reads_only_two_thread_cells():
    one = pd.DataFrame([_row("E1", "batch", "bobodiff-compiled", 10, 0.3, floor=1.0)])
    assert _verdicts(one)[TWO_THREADS][0] == ABSENT
    two = pd.DataFrame([_row("E1", "batch", "bobodiff-compiled", 10, 0.3, floor=1.0,
                             threads=2)])
    assert _verdicts(two)[TWO_THREADS] == (MET, 0.3)
    assert _verdicts(two)[("E1-batch, bd.jit (bobodiff-compiled)",
                           "≤ 0.5× the NumPy floor, one thread")][0] == ABSENT


AT_MOST = Target("a", "≤ 2", lambda summary: (math.nan, ""), 2.0)
AT_LEAST = Target("b", "≥ 20", lambda summary: (math.nan, ""), 20.0, at_most=False)


def test_bounds_are_inclusive_and_directions_respected():
    assert verdict(AT_MOST, AT_MOST.bound) == MET
    assert verdict(AT_MOST, AT_MOST.bound * 1.01) == MISSED
    assert verdict(AT_LEAST, AT_LEAST.bound) == MET
    assert verdict(AT_LEAST, AT_LEAST.bound * 0.99) == MISSED
    assert verdict(AT_MOST, math.nan) == ABSENT
    assert all(t.at_most for t in TARGETS)  # issue 16's bounds are all "at most"
