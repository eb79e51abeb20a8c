"""Timing: warm-up, pyperf-style loop calibration, then repeats of calibrated loops.

Each repeat also records how much of the process's CPU time the kernel took and how many
page faults a call caused: a call that allocates large fresh arrays pays the kernel to map
and zero their pages, a cost that varies with the machine's memory state and makes such
cells vary more between runs than the others.
"""

from __future__ import annotations

import gc
import math
import resource
import time
from collections.abc import Callable
from typing import Any

MAX_LOOPS = 10**7


def time_loops(run: Callable[[], Any], loops: int) -> float:
    """Wall time (perf_counter) of ``loops`` consecutive calls of run()."""
    start = time.perf_counter()
    for _ in range(loops):
        run()
    return time.perf_counter() - start


def calibrate(run: Callable[[], Any], min_seconds: float) -> tuple[int, float]:
    """Find loops so that one repeat lasts at least min_seconds; return (loops, its time)."""
    loops = 1
    while True:
        elapsed = time_loops(run, loops)
        if elapsed >= min_seconds or loops >= MAX_LOOPS:
            return loops, elapsed
        grow = min_seconds / max(elapsed, 1e-9) * 1.2
        loops = min(MAX_LOOPS, max(loops * 2, math.ceil(loops * grow)))


def first_call(run: Callable[[], Any]) -> tuple[Any, float]:
    """Call run() once (the warm-up whose result is checked); return (result, seconds)."""
    gc.collect()
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def timed_repeats(run: Callable[[], Any], spec: dict[str, Any],
                  first_seconds: float) -> dict[str, Any]:
    """Finish the warm-up, calibrate loops, time the repeats; return the timing dict.

    Repeats are reduced (never below one) when they would exceed spec["max_cell_seconds"].
    Each value is seconds per call of run().
    """
    for _ in range(max(0, int(spec["warmup"]) - 1)):
        run()
    budget = float(spec["max_cell_seconds"])
    if first_seconds >= budget:  # one call exhausts the budget: no calibration, one per repeat
        loops, repeat_seconds = 1, first_seconds
    else:  # the first call is often slow (lazy imports, caches): calibrate on later calls
        loops, repeat_seconds = calibrate(run, float(spec["min_repeat_seconds"]))
    repeats = max(1, min(int(spec["repeats"]), int(budget / max(repeat_seconds, 1e-9))))
    values, kernel_shares, faults = [], [], []
    for _ in range(repeats):
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        values.append(time_loops(run, loops) / loops)
        after = resource.getrusage(resource.RUSAGE_SELF)
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        kernel_shares.append(system / (user + system) if user + system > 0 else 0.0)
        faults.append((after.ru_minflt - before.ru_minflt) / loops)
    return {"values": values, "loops": loops, "first_call_seconds": first_seconds,
            "kernel_shares": kernel_shares, "page_faults": faults}


def calibrated_repeats(run: Callable[[], Any], spec: dict[str, Any]) -> tuple[Any, dict]:
    """first_call then timed_repeats; return (first result, timing dict)."""
    first, seconds = first_call(run)
    return first, timed_repeats(run, spec, seconds)
