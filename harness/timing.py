"""Timing: warm-up, pyperf-style loop calibration, then repeats of calibrated loops.

Each repeat also records how much of the process's CPU time the kernel took and how many
page faults a call caused: a call that allocates large fresh arrays pays the kernel to map
and zero their pages, a cost that varies with the machine's memory state and makes such
cells vary more between runs than the others.

The repeats also measure the machine's noise: the CPU time that other processes used
while they ran (``foreign_cpu_cores``). With ``metric = "instructions"`` the cell runs under
callgrind and each value is a count of instructions per call instead of seconds.
"""

from __future__ import annotations

import gc
import math
import os
import resource
import time
from collections.abc import Callable
from typing import Any

MAX_LOOPS = 10**7
PROC_STAT = "/proc/stat"
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal (not idle, iowait)


def busy_cpu_seconds(path: str = PROC_STAT) -> float | None:
    """CPU seconds every process on the machine has used since boot (None if unreadable)."""
    try:
        with open(path, encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[1 + i]) for i in BUSY_FIELDS if 1 + i < len(fields)) / ticks


def own_cpu_seconds() -> float:
    """User + system CPU seconds of this process (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class NoiseProbe:
    """Measures how many cores other processes kept busy between its creation and stop().

    /proc/stat counts in clock ticks (10 ms per core): over 0.3 s of repeats on 2 cores the
    figure is good to about 0.07 cores, over 0.06 s only to about 0.3.
    """

    def __init__(self) -> None:
        self.busy = busy_cpu_seconds()
        self.own = own_cpu_seconds()
        self.wall = time.perf_counter()

    def stop(self) -> float | None:
        """foreign_cpu_cores: (machine CPU time - this process's CPU time) / wall time."""
        busy, own, wall = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
        if busy is None or self.busy is None or wall <= self.wall:
            return None
        foreign = (busy - self.busy) - (own - self.own)
        return max(0.0, foreign / (wall - self.wall))


# The machine probe: a fixed pure-Python loop (the same bytecode and instructions in every
# process and every run) timed in each timing process after its repeats. On a virtual
# machine whose host is shared, the host's other guests slow every process alike and
# /proc/stat does not show it (steal stays near 0 here); the probe's time does. About 2 ms.
PROBE_ITERATIONS = 20_000
PROBE_ROUNDS = 5


def _probe_work(iterations: int) -> float:
    total = 0.0
    for i in range(iterations):
        total += (i % 7) * 0.5 - (i & 3)
    return total


def machine_probe(rounds: int = PROBE_ROUNDS, iterations: int = PROBE_ITERATIONS) -> float:
    """Seconds of the machine probe, the fastest of ``rounds``: how fast this machine ran
    a fixed pure-Python loop just now (compare two runs' probes to see the machine drift)."""
    best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        _probe_work(iterations)
        best = min(best, time.perf_counter() - start)
    return best


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


# A repeat counts as measured at full speed when the short probes just before and just after
# it both ran within FULL_SPEED_FACTOR of the fastest probe known (this process's or the
# run's so far). On this machine the probe is bimodal: 144-147 us (p1-p10) or 220-260 us,
# the host switching between the two every few ms to every few hundred ms; 1.2 sits in the
# gap. Where the machine never switches, every repeat is at full speed.
SHORT_PROBE_ITERATIONS = 2_000
FULL_SPEED_FACTOR = 1.2
# A repeat longer than this spans many of the host's spells: the probes at its ends say
# little of it, so it is not judged (full_speed None) and never timed again for speed.
FULL_SPEED_MAX_REPEAT_SECONDS = 0.2


# Before a run's first cell the runner times short probes for this long: the first process
# of a run otherwise judged its repeats against its own probes alone, and a process the host
# slowed from start to end took its slow state for full speed (2026-12-03, aa.toml: the
# E1-loop floor's first process 1.3-1.4x slow with 10 of 14 repeats called full speed).
RUN_START_PROBE_SECONDS = 1.0


def fastest_short_probe(seconds: float = RUN_START_PROBE_SECONDS) -> float:
    """The fastest short machine probe timed back to back for about ``seconds``."""
    best, end = math.inf, time.perf_counter() + seconds
    while True:
        best = min(best, machine_probe(1, SHORT_PROBE_ITERATIONS))
        if time.perf_counter() >= end:
            return best


def full_speed(probes: list[float], reference: float | None = None) -> list[bool]:
    """Which repeats ran at full speed: probes[i] and probes[i + 1] bracket repeat i, and
    both must be within FULL_SPEED_FACTOR of min(probes, reference)."""
    fastest = min([*probes, *([reference] if reference else [])])
    fast = [probe <= FULL_SPEED_FACTOR * fastest for probe in probes]
    return [before and after for before, after in zip(fast, fast[1:])]


def timed_repeats(run: Callable[[], Any], spec: dict[str, Any],
                  first_seconds: float) -> dict[str, Any]:
    """Finish the warm-up, calibrate loops, time the repeats; return the timing dict.

    With spec["loops"] (and spec["repeat_seconds"], the time those loops took) given, the
    loops are taken as they are: the runner calibrates in a cell's first process only and
    passes its loops on to the others. Repeats are reduced (never below one) when they
    would exceed spec["max_cell_seconds"].
    Each value is seconds per call of run(). A short machine probe brackets every repeat
    (``full_speed`` says which repeats the host did not slow down, against
    spec["probe_reference"], the run's fastest probe so far); while fewer than the planned
    repeats ran at full speed, more are timed, up to spec["slowed_repeats_factor"] times the
    planned repeats and within the budget.
    """
    for _ in range(max(0, int(spec["warmup"]) - 1)):
        run()
    budget = float(spec["max_cell_seconds"])
    if spec.get("loops"):  # calibrated by the cell's first process (pyperf does the same)
        loops, repeat_seconds = int(spec["loops"]), float(spec["repeat_seconds"])
    elif first_seconds >= budget:  # one call exhausts the budget: no calibration, one a repeat
        loops, repeat_seconds = 1, first_seconds
    else:  # the first call is often slow (lazy imports, caches): calibrate on later calls
        loops, repeat_seconds = calibrate(run, float(spec["min_repeat_seconds"]))
    repeats = max(1, min(int(spec["repeats"]), int(budget / max(repeat_seconds, 1e-9))))
    reference = spec.get("probe_reference")
    values, kernel_shares, faults = [], [], []
    probes = [machine_probe(1, SHORT_PROBE_ITERATIONS)]
    noise = NoiseProbe()
    timed = 0.0
    while True:
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = time_loops(run, loops)
        after = resource.getrusage(resource.RUSAGE_SELF)
        probes.append(machine_probe(1, SHORT_PROBE_ITERATIONS))
        timed += elapsed
        values.append(elapsed / loops)
        user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
        kernel_shares.append(system / (user + system) if user + system > 0 else 0.0)
        faults.append((after.ru_minflt - before.ru_minflt) / loops)
        if len(values) < repeats:
            continue
        judged = repeat_seconds <= FULL_SPEED_MAX_REPEAT_SECONDS
        enough = not judged or sum(full_speed(probes, reference)) >= repeats
        if (enough or len(values) >= int(spec.get("slowed_repeats_factor", 1)) * repeats
                or timed + elapsed > budget):
            break
    return {"values": values, "loops": loops, "first_call_seconds": first_seconds,
            "kernel_shares": kernel_shares, "page_faults": faults,
            "full_speed": (full_speed(probes, reference) if judged
                           else [None] * len(values)),
            "probe_fastest_seconds": min(probes),
            "foreign_cpu_cores": noise.stop(), "probe_seconds": machine_probe(), "unit": "s"}


def callgrind_part(out_file: str, part: int) -> int:
    """Instructions (Ir) of callgrind's dump number ``part`` of ``out_file``."""
    path = f"{out_file}.{part}"
    try:
        with open(path, encoding="utf-8", errors="replace") as dump:
            for line in dump:
                if line.startswith("summary:"):
                    return int(line.split()[1])
    except OSError as error:
        raise RuntimeError(f"no callgrind dump {path}: the instruction metric needs the cell "
                           "to run under valgrind --tool=callgrind") from error
    raise RuntimeError(f"callgrind dump {path} has no summary line")


def counted_instructions(run: Callable[[], Any], loops: int, out_file: str, part: int) -> int:
    """Instructions of ``loops`` calls of run(), counted by callgrind between two markers.

    The runner starts callgrind with --zero-before=getppid --dump-before=getpgrp: the
    counters restart when os.getppid() enters libc and are written to dump ``part`` when
    os.getpgrp() does, so only the loop (and the two markers) are counted.
    """
    gc.collect()
    os.getppid()
    for _ in range(loops):
        run()
    os.getpgrp()
    return callgrind_part(out_file, part)


def counted_repeats(run: Callable[[], Any], spec: dict[str, Any],
                    first_seconds: float) -> dict[str, Any]:
    """Instructions per call of run(), spec["repeats"] times (the cell runs under callgrind).

    Each value is (count of 2 calls - count of 1 call): the fixed cost of the markers and
    of the loop itself cancels.
    """
    for _ in range(max(0, int(spec["warmup"]) - 1)):
        run()
    out_file, values = spec["callgrind_out"], []
    for repeat in range(int(spec["repeats"])):
        one = counted_instructions(run, 1, out_file, 2 * repeat + 1)
        two = counted_instructions(run, 2, out_file, 2 * repeat + 2)
        values.append(float(two - one))
    return {"values": values, "loops": 1, "first_call_seconds": first_seconds,
            "kernel_shares": [], "page_faults": [], "foreign_cpu_cores": None,
            "unit": "instructions"}


def calibrated_repeats(run: Callable[[], Any], spec: dict[str, Any]) -> tuple[Any, dict]:
    """first_call then timed_repeats; return (first result, timing dict)."""
    first, seconds = first_call(run)
    return first, timed_repeats(run, spec, seconds)
