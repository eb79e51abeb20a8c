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
