"""Statistics helpers: robust summaries of repeat timings and log-log growth fits."""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(values: Sequence[float], q: float) -> float:
    """Return the q-quantile (0 <= q <= 1) with linear interpolation (NumPy's default rule)."""
    if not values:
        raise ValueError("quantile of an empty sample")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def median(values: Sequence[float]) -> float:
    """Return the median of a non-empty sample."""
    return quantile(values, 0.5)


def iqr(values: Sequence[float]) -> float:
    """Return the interquartile range (Q3 - Q1) of a non-empty sample."""
    return quantile(values, 0.75) - quantile(values, 0.25)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Return median, IQR, min, max, mean and count of a non-empty sample."""
    return {
        "median": median(values),
        "iqr": iqr(values),
        "min": min(values),
        "max": max(values),
        "mean": sum(values) / len(values),
        "count": float(len(values)),
    }


def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(size): the growth exponent in n.

    Needs at least two distinct positive sizes; returns NaN otherwise.
    """
    points = [(math.log(s), math.log(t)) for s, t in zip(sizes, times) if s > 0 and t > 0]
    if len({x for x, _ in points}) < 2:
        return math.nan
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx


def loglog_predict(sizes: Sequence[float], times: Sequence[float], at: float) -> float:
    """Predict time at size ``at`` from a power law fitted through (sizes, times)."""
    slope = loglog_slope(sizes, times)
    points = [(math.log(s), math.log(t)) for s, t in zip(sizes, times) if s > 0 and t > 0]
    if math.isnan(slope) or not points:
        return math.nan
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return math.exp(mean_y + slope * (math.log(at) - mean_x))


def overlap(a_low: float, a_high: float, b_low: float, b_high: float) -> bool:
    """True when the intervals [a_low, a_high] and [b_low, b_high] intersect."""
    return a_low <= b_high and b_low <= a_high


def loglog_interpolate(sizes: Sequence[float], times: Sequence[float], at: float,
                       extrapolate: bool = False) -> float:
    """Piecewise-linear interpolation in log-log space.

    Returns the exact time when ``at`` was measured; NaN outside the measured range unless
    ``extrapolate`` (then the end segments extend the curve) and NaN without points.
    """
    points = sorted((s, t) for s, t in zip(sizes, times) if s > 0 and t > 0)
    if not points:
        return math.nan
    if not extrapolate and not points[0][0] <= at <= points[-1][0]:
        return math.nan
    if len(points) == 1:
        return points[0][1] if points[0][0] == at else math.nan
    segments = list(zip(points, points[1:]))
    inside = [segment for segment in segments if segment[0][0] <= at <= segment[1][0]]
    (s0, t0), (s1, t1) = inside[0] if inside else (segments[0] if at < points[0][0]
                                                   else segments[-1])
    if s0 == s1:
        return t0
    slope = (math.log(t1) - math.log(t0)) / (math.log(s1) - math.log(s0))
    return math.exp(math.log(t0) + slope * (math.log(at) - math.log(s0)))
