"""Unit tests of the harness statistics helpers on samples with known answers."""

import math

import numpy as np
import pytest

from harness import stats


def test_quantiles_match_numpy_linear_rule():
    sample = [7.0, 1.0, 3.0, 9.0, 4.0, 12.0]
    for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
        assert stats.quantile(sample, q) == pytest.approx(np.quantile(sample, q))


def test_median_and_iqr_of_known_samples():
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    # 1..9: Q1 = 3, Q3 = 7 with linear interpolation
    assert stats.iqr([float(i) for i in range(1, 10)]) == pytest.approx(4.0)
    assert stats.iqr([5.0]) == 0.0


def test_summarize_reports_every_statistic():
    summary = stats.summarize([2.0, 4.0, 6.0, 100.0])
    assert summary["median"] == 5.0
    assert summary["min"] == 2.0 and summary["max"] == 100.0
    assert summary["mean"] == pytest.approx(28.0)
    assert summary["count"] == 4
    assert summary["iqr"] == pytest.approx(np.subtract(*np.quantile([2, 4, 6, 100],
                                                                    [0.75, 0.25])))


def test_quantile_rejects_empty_and_bad_q():
    with pytest.raises(ValueError, match="empty"):
        stats.quantile([], 0.5)
    with pytest.raises(ValueError, match="q must be"):
        stats.quantile([1.0], 1.5)


@pytest.mark.parametrize("exponent", [1.0, 2.0, 2.7])
def test_loglog_slope_recovers_a_power_law(exponent):
    sizes = [1, 10, 100, 300, 600, 1000]
    times = [3e-6 * n**exponent for n in sizes]
    assert stats.loglog_slope(sizes, times) == pytest.approx(exponent)
    assert stats.loglog_predict(sizes, times, 700) == pytest.approx(3e-6 * 700**exponent)


def test_loglog_slope_needs_two_sizes():
    assert math.isnan(stats.loglog_slope([10, 10], [1.0, 2.0]))
    assert math.isnan(stats.loglog_slope([10], [1.0]))


def test_loglog_interpolate_is_exact_on_measured_points_and_power_law_between():
    sizes, times = [100, 1000], [1.0, 100.0]  # slope 2 between the points
    assert stats.loglog_interpolate(sizes, times, 100) == 1.0
    assert stats.loglog_interpolate(sizes, times, 300) == pytest.approx(9.0)
    assert math.isnan(stats.loglog_interpolate(sizes, times, 2000))
    assert stats.loglog_interpolate(sizes, times, 2000, extrapolate=True) == \
        pytest.approx(400.0)


def test_overlap():
    assert stats.overlap(1, 2, 2, 3)
    assert not stats.overlap(1, 2, 2.5, 3)


# --- bootstrap intervals and the significance rule (synthetic samples, known truth) -------

def _draw(rng, processes=3, values=5, between=0.05, within=0.02, scale=1.0):
    """Values per process: a lognormal offset per process, then noise per value."""
    return [list(scale * np.exp(rng.normal(0.0, between) + rng.normal(0.0, within, values)))
            for _ in range(processes)]


def test_bootstrap_is_seeded_and_resamples_processes_before_values():
    samples = [[v + 0.001 * i for i in range(-7, 8)] for v in (1.0, 2.0, 1.5)]
    first = stats.bootstrap_medians(samples, seed=7)
    assert np.array_equal(first, stats.bootstrap_medians(samples, seed=7))
    assert not np.array_equal(first, stats.bootstrap_medians(samples, seed=8))
    # Resampling processes: some replicates draw process 1 (the 1.0s) two or three times,
    # so the replicates spread over the processes' range, far beyond the within-process
    # noise; a bootstrap of the pooled values alone (one process) spreads much less.
    assert first.min() < 1.05 and first.max() > 1.95
    pooled = stats.bootstrap_medians([sum(samples, [])], seed=7)
    assert np.percentile(pooled, 97.5) - np.percentile(pooled, 2.5) < \
        np.percentile(first, 97.5) - np.percentile(first, 2.5)


def test_bootstrap_handles_processes_with_different_counts_and_rejects_empty():
    replicates = stats.bootstrap_medians([[1.0], [3.0, 3.0, 3.0]], seed=0, replicates=500)
    assert set(np.unique(replicates)) <= {1.0, 2.0, 3.0}  # never a padding NaN
    with pytest.raises(ValueError, match="empty"):
        stats.bootstrap_medians([[], []], seed=0)


def test_median_interval_holds_the_median_and_a_constant_sample_has_a_point_interval():
    rng = np.random.default_rng(3)
    for seed in range(20):
        median, low, high = stats.median_interval(_draw(rng), seed)
        assert low <= median <= high
    assert stats.median_interval([[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]], 0) == (2.0, 2.0, 2.0)


def test_expanded_interval_is_wider_for_fewer_processes():
    # n = 3 processes: t(2) = 4.30 widened by sqrt(3/2): a tail far below 2.5%
    assert stats.expanded_tail(3) < stats.expanded_tail(5) < stats.expanded_tail(30) < 0.025
    assert stats.t_975(2) == pytest.approx(4.303)
    assert stats.t_975(1000) == pytest.approx(1.96, abs=1e-3)
    assert stats.units([[1.0, 2.0], [3.0]]) == 2 and stats.units([[1.0, 2.0, 3.0]]) == 3
    with pytest.raises(ValueError, match="degrees"):
        stats.t_975(0)


def test_significance_needs_an_interval_excluding_one_and_the_minimum_effect():
    assert stats.significant(1.10, 1.05, 1.15)
    assert stats.significant(0.90, 0.85, 0.95)
    assert not stats.significant(1.10, 0.98, 1.20)  # interval holds 1
    assert not stats.significant(1.02, 1.01, 1.03)  # excludes 1, but only 2% < 3%
    assert stats.significant(1.02, 1.01, 1.03, min_effect=0.01)
    assert not stats.significant(math.nan, math.nan, math.nan)


@pytest.mark.parametrize("between, within", [(0.05, 0.02), (0.0, 0.05)])
def test_aa_samples_are_called_significant_at_most_about_five_percent_of_the_time(
        between, within):
    """A and B from one distribution (3 processes x 5 values), over 200 seeds."""
    rng = np.random.default_rng(11)
    trials = 200
    called = sum(stats.significant(*stats.ratio_interval(_draw(rng, between=between,
                                                               within=within),
                                                         _draw(rng, between=between,
                                                               within=within), seed))
                 for seed in range(trials))
    assert called / trials <= 0.07, called


def test_a_ten_percent_shift_is_detected():
    rng = np.random.default_rng(12)
    trials = 100
    found = 0
    for seed in range(trials):
        a = _draw(rng, between=0.01, within=0.02)
        b = _draw(rng, between=0.01, within=0.02, scale=1.10)
        ratio, low, high = stats.ratio_interval(b, a, seed)
        assert low <= ratio <= high
        found += stats.significant(ratio, low, high) and ratio > 1.0
    assert found / trials >= 0.9, found
