"""Test-only engines that misbehave on purpose (registered when BOBODIFF_HARNESS_TEST_ENGINES=1).

Each wraps the floor's workloads: faulty-wrong returns a wrong gradient, faulty-raise raises,
faulty-segv kills itself with SIGSEGV, faulty-oom allocates until the memory limit stops it,
faulty-sleep sleeps past any timeout. The harness must record each with the right status.

floor-slowed is not faulty: it does the floor's work, then keeps the CPU busy for a further
25% of the time that work took. Its ratio_to_floor is 1.25 by construction, so its interval
must lie above 1.1 in every cell: a check of the statistics on real measurements.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.engines import Engine, Workload, floor

CHUNK_BYTES = 64 * 2**20


def _wrong(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Perturb the last output (a gradient) by 1% - a plausible, wrong answer."""
    arrays = [np.array(item, dtype=np.float64) for item in arrays]
    arrays[-1] = arrays[-1] * 1.01 + 1e-3
    return arrays


def _raise() -> None:
    raise RuntimeError("injected fault: this engine always raises")


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _allocate_forever() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        raise RuntimeError("faulty-oom refuses to run without run.memory_limit_mb (it would "
                           "exhaust the machine)")
    hoard = []
    while True:
        hoard.append(bytearray(CHUNK_BYTES))


def _sleep() -> None:
    time.sleep(3600)


def _wrap(fault: Callable[[], None] | None) -> dict[tuple[str, str], Any]:
    def wrap(build: Any) -> Any:
        def faulty_build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
            inner = build(problem, options)
            if fault is None:
                return Workload(inner.run, lambda r: _wrong(inner.fetch(r)), "wrong on purpose")

            def run() -> Any:
                fault()
                return inner.run()
            return Workload(run, inner.fetch, "fails on purpose")
        return faulty_build
    return {key: wrap(build) for key, build in floor.ENGINE.builders.items()}


SLOWDOWN = 1.25


def _slowed(build: Any) -> Any:
    def slowed_build(problem: dict[str, Any], options: dict[str, Any]) -> Workload:
        inner = build(problem, options)

        def run() -> Any:
            start = time.perf_counter()
            result = inner.run()
            until = start + (time.perf_counter() - start) * SLOWDOWN
            while time.perf_counter() < until:  # busy, like work: a sleep would free the core
                pass
            return result
        return Workload(run, inner.fetch, f"the floor's work + {SLOWDOWN - 1:.0%} busy wait")
    return slowed_build


ENGINES = [
    Engine(name="floor-slowed", description="the floor's work plus 25% (statistics check)",
           builders={key: _slowed(build) for key, build in floor.ENGINE.builders.items()}),
    Engine(name="faulty-wrong", description="returns a wrong gradient", builders=_wrap(None)),
    Engine(name="faulty-raise", description="raises", builders=_wrap(_raise)),
    Engine(name="faulty-segv", description="dies with SIGSEGV", builders=_wrap(_segfault)),
    Engine(name="faulty-oom", description="allocates past the memory limit",
           builders=_wrap(_allocate_forever)),
    Engine(name="faulty-sleep", description="sleeps past the timeout", builders=_wrap(_sleep)),
]
