"""Child process of one profiled cell: build the cell's workload and run it under a profiler.

Run as ``python harness/_profile_cell.py SPEC.json`` (a script, so Scalene can run it as
its program). The spec names the cell (as the timing runner's spec does), the profiler
("cprofile", "scalene" or "memory"), how long to keep the workload running
(``min_seconds``) and where to write (``output``, ``result_path``). Never pickles anything.

* cprofile: the workload runs under cProfile after one warm-up call; stats go to ``output``.
* scalene: the workload simply runs; Scalene, wrapping this process, does the profiling.
* memory: memory_profiler samples this process every ``interval`` seconds while the cell is
  built and run; the series goes to ``output`` as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (by Scalene): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run_for(run: Callable[[], Any], min_seconds: float) -> tuple[int, float]:
    """Call run() until ``min_seconds`` have passed (at least once); return (calls, seconds)."""
    calls, start = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return calls, elapsed


def profile(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the cell under the spec's profiler; return what the parent records."""
    from harness._cell import build_workload

    kind = spec["profiler"]
    min_seconds = float(spec["min_seconds"])
    if kind == "memory":
        from memory_profiler import memory_usage

        counted: dict[str, Any] = {}

        def build_and_run() -> None:
            workload = build_workload(spec)
            counted["calls"], counted["seconds"] = run_for(workload.run, min_seconds)

        start = time.time()
        series = memory_usage((build_and_run, (), {}), interval=float(spec["interval"]),
                              timestamps=True, include_children=False)
        points = [[round(t - start, 4), float(mib)] for mib, t in series]
        Path(spec["output"]).write_text(json.dumps({"interval": spec["interval"],
                                                    "series_mib": points}), encoding="utf-8")
        peak = max(mib for _, mib in points) if points else float("nan")
        return {"calls": counted.get("calls"), "seconds": counted.get("seconds"),
                "peak_mib": peak, "samples": len(points)}
    workload = build_workload(spec)
    workload.run()  # warm-up: lazy imports and caches stay out of the profile
    if kind == "cprofile":
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        calls, seconds = run_for(workload.run, min_seconds)
        profiler.disable()
        profiler.dump_stats(spec["output"])
        return {"calls": calls, "seconds": seconds}
    if kind == "scalene":
        calls, seconds = run_for(workload.run, min_seconds)
        return {"calls": calls, "seconds": seconds}
    raise ValueError(f"unknown profiler {kind!r}; expected cprofile, scalene or memory")


def main(argv: list[str]) -> int:
    """Profile the cell of the spec file argv[1]; always leave a result file."""
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    try:
        result = {"status": "ok", **profile(spec)}
    except Exception as error:  # recorded by the parent, never raised past here
        import traceback

        result = {"status": "error", "message": f"{type(error).__name__}: {error}",
                  "traceback": traceback.format_exc()[-2000:]}
    Path(spec["result_path"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
