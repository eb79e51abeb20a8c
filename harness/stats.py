"""Statistics helpers: robust summaries of repeat timings, bootstrap confidence intervals
of medians and of their ratios, the significance rule of ``compare``, log-log growth fits.

A cell's values come from several processes (each warmed up and calibrated on its own), so
values of one process are not independent of each other: the bootstrap resamples processes
first, then values within each chosen process (a two-level, "hierarchical" bootstrap).

With three processes the plain percentile interval is too narrow (resampling 3 processes
sees only 10 distinct mixes; on synthetic A/A samples dominated by process-to-process
noise it excluded the truth 12% of the time instead of 5%). The intervals are therefore
Hesterberg's *expanded* percentile intervals: the tail probability is taken at
Phi(-sqrt(n/(n-1)) t_{n-1, 0.975}), n the number of processes, which widens them to what
a t interval on n units would give (Hesterberg, "What teachers should know about the
bootstrap", The American Statistician 69, 2015).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

BOOTSTRAP_REPLICATES = 2000
MIN_EFFECT = 0.03
# Student t 0.975 quantiles by degrees of freedom (the intervals are 95% intervals).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000}
Z_975 = 1.959964


def quantile(values: Sequence[float], q: float) -> float:
    """Return the q-quantile (0 <= q <= 1) with linear interpolation (NumPy's default rule)."""
    if not len(values):
        raise ValueError("quantile of an empty sample")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    return float(np.quantile(np.asarray(values, dtype=float), q))


def median(values: Sequence[float]) -> float:
    """Return the median of a non-empty sample."""
    return quantile(values, 0.5)


def iqr(values: Sequence[float]) -> float:
    """Return the interquartile range (Q3 - Q1) of a non-empty sample."""
    if not len(values):
        raise ValueError("quantile of an empty sample")
    low, high = np.quantile(np.asarray(values, dtype=float), [0.25, 0.75])
    return float(high - low)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Return median, IQR, min, max, mean and count of a non-empty sample."""
    sample = np.asarray(values, dtype=float)
    if not sample.size:
        raise ValueError("summary of an empty sample")
    q1, q2, q3 = np.quantile(sample, [0.25, 0.5, 0.75])
    return {"median": float(q2), "iqr": float(q3 - q1), "min": float(sample.min()),
            "max": float(sample.max()), "mean": float(sample.mean()),
            "count": float(sample.size)}


def _log_points(sizes: Sequence[float], times: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """log(size), log(time) of the points where both are positive."""
    x, y = np.asarray(sizes, dtype=float), np.asarray(times, dtype=float)
    keep = (x > 0) & (y > 0)
    return np.log(x[keep]), np.log(y[keep])


def _loglog_fit(sizes: Sequence[float], times: Sequence[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through log(time) vs log(size); NaNs
    with fewer than two distinct positive sizes."""
    x, y = _log_points(sizes, times)
    if np.unique(x).size < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(size): the growth exponent in n.

    Needs at least two distinct positive sizes; returns NaN otherwise.
    """
    return _loglog_fit(sizes, times)[0]


def loglog_predict(sizes: Sequence[float], times: Sequence[float], at: float) -> float:
    """Predict time at size ``at`` from a power law fitted through (sizes, times)."""
    slope, intercept = _loglog_fit(sizes, times)
    return math.exp(intercept + slope * math.log(at)) if not math.isnan(slope) else math.nan


def overlap(a_low: float, a_high: float, b_low: float, b_high: float) -> bool:
    """True when the intervals [a_low, a_high] and [b_low, b_high] intersect."""
    return a_low <= b_high and b_low <= a_high


def loglog_interpolate(sizes: Sequence[float], times: Sequence[float], at: float,
                       extrapolate: bool = False) -> float:
    """Piecewise-linear interpolation in log-log space.

    Returns the exact time when ``at`` was measured; NaN outside the measured range unless
    ``extrapolate`` (then the end segments extend the curve) and NaN without points.
    """
    x, y = _log_points(sizes, times)
    if not x.size:
        return math.nan
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    where = math.log(at) if at > 0 else -math.inf
    if x[0] <= where <= x[-1]:
        return float(np.exp(np.interp(where, x, y)))
    if not extrapolate or np.unique(x).size < 2:
        return math.nan
    # beyond the ends: the end segment's slope, extended
    ends = (0, 1) if where < x[0] else (-2, -1)
    (x0, x1), (y0, y1) = x[list(ends)], y[list(ends)]
    slope = (y1 - y0) / (x1 - x0) if x1 != x0 else 0.0
    return float(np.exp(y0 + slope * (where - x0)))


Samples = Sequence[Sequence[float]]  # values per process


def seed_of(*keys: object) -> int:
    """A stable seed from keys (e.g. a cell id): a redraw resamples exactly as before."""
    return zlib.crc32("|".join(map(str, keys)).encode("utf-8"))


def _padded(samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """Values per process as a NaN-padded (processes, max values) array, and the counts."""
    groups = [np.asarray(values, dtype=float) for values in samples if len(values)]
    if not groups:
        raise ValueError("bootstrap of an empty sample (no process has a value)")
    lengths = np.array([len(g) for g in groups])
    table = np.full((len(groups), lengths.max()), np.nan)
    for row, group in enumerate(groups):
        table[row, :len(group)] = group
    return table, lengths


def bootstrap_medians(samples: Samples, seed: int,
                      replicates: int = BOOTSTRAP_REPLICATES) -> np.ndarray:
    """Medians of ``replicates`` resamples: processes drawn with replacement, then values
    drawn with replacement within each drawn process; the pooled median of each resample."""
    table, lengths = _padded(samples)
    rng = np.random.default_rng(seed)
    count, width = table.shape
    chosen = rng.integers(0, count, size=(replicates, count))
    picks = np.floor(rng.random((replicates, count, width)) * lengths[chosen][..., None])
    drawn = table[chosen[..., None], picks.astype(int)]
    drawn[np.arange(width) >= lengths[chosen][..., None]] = np.nan  # beyond that process
    return np.nanmedian(drawn.reshape(replicates, -1), axis=1)


def pooled_median(samples: Samples) -> float:
    """The median of every value of every process."""
    return float(np.median(np.concatenate([np.asarray(v, float) for v in samples if len(v)])))


def t_975(degrees: int) -> float:
    """Student t 0.975 quantile for ``degrees`` >= 1 degrees of freedom (table, stepped
    down to the nearest tabulated degrees: slightly conservative between them)."""
    if degrees < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {degrees}")
    below = [d for d in T_975 if d <= degrees]
    return T_975[max(below)] if degrees <= max(T_975) else Z_975


def units(samples: Samples) -> int:
    """Independent units of a sample: its processes, or its values if one process."""
    filled = [values for values in samples if len(values)]
    return len(filled) if len(filled) > 1 else sum(len(values) for values in filled)


def expanded_tail(n: int) -> float:
    """Tail probability (each side) of the expanded 95% percentile interval for n units."""
    if n < 2:
        return 0.025
    widened = math.sqrt(n / (n - 1)) * t_975(n - 1)
    return 0.5 * math.erfc(widened / math.sqrt(2.0))


def expanded_interval(replicates: np.ndarray, n: int) -> tuple[float, float]:
    """The expanded 95% percentile interval of bootstrap replicates for n units."""
    tail = expanded_tail(n) * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return float(low), float(high)


def median_interval(samples: Samples, seed: int) -> tuple[float, float, float]:
    """(median, low, high): the pooled median and its 95% bootstrap interval."""
    return pooled_median(samples), *expanded_interval(bootstrap_medians(samples, seed),
                                              units(samples))


def ratio_interval(numerator: Samples, denominator: Samples,
                   seed: int) -> tuple[float, float, float]:
    """(ratio, low, high): median(numerator) / median(denominator) and its 95% bootstrap
    interval, each sample resampled on its own (two independent measurements)."""
    top = bootstrap_medians(numerator, seed)
    bottom = bootstrap_medians(denominator, seed + 1)
    n = min(units(numerator), units(denominator))
    return (pooled_median(numerator) / pooled_median(denominator),
            *expanded_interval(top / bottom, n))


def paired_ratio_interval(numerator: dict[int, Sequence[float]],
                          denominator: dict[int, Sequence[float]]
                          ) -> tuple[float, float, float] | None:
    """(ratio, low, high) of two engines measured in the same rounds (``{round: values}``),
    or None with fewer than two common rounds.

    Within one run the engines of a cell take turns, one process each per round, so each
    round gives one ratio that the machine's state of the moment (another tenant, the
    clock) divides out. A round's ratio is that of the two processes' fastest values:
    timing noise only ever adds time, and the fastest value is the one it touched least.
    The ratio is the geometric mean of the rounds' ratios, its interval the Student t
    interval of their logarithms (n - 1 degrees of freedom for n rounds: a small-sample
    interval, as wide as the rounds disagree).
    """
    rounds = sorted(set(numerator) & set(denominator))
    logs = np.log([min(numerator[r]) / min(denominator[r]) for r in rounds
                   if len(numerator[r]) and len(denominator[r])])
    if len(logs) < 2:
        return None
    center = float(logs.mean())
    half = t_975(len(logs) - 1) * float(logs.std(ddof=1)) / math.sqrt(len(logs))
    return math.exp(center), math.exp(center - half), math.exp(center + half)


def significant(ratio: float, low: float, high: float, min_effect: float = MIN_EFFECT) -> bool:
    """A change is significant when its interval excludes 1 and it exceeds min_effect
    (a relative change: 0.03 = 3%) - an effect too small to matter is never reported."""
    if any(math.isnan(v) for v in (ratio, low, high)):
        return False
    excludes_one = low > 1.0 or high < 1.0
    return excludes_one and abs(ratio - 1.0) > min_effect
