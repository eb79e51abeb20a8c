"""Child process of one cell: build, warm up, calibrate, time, check; report as JSON.

Run as ``python -m harness._cell`` with a JSON spec on stdin; writes a JSON result to the
spec's result_path. The memory limit is applied first, before NumPy or torch is imported.
Never pickles anything.
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
from typing import Any

MIB = 2**20


def _apply_memory_limit(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes * MIB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _peak_rss_mb() -> float:
    """High-water RSS of this process image. VmHWM, not ru_maxrss: Linux keeps ru_maxrss
    across exec, so it would report the (larger) parent's RSS at fork time."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / MIB
    except OSError:
        return _peak_rss_mb()


def main() -> int:
    """Run the cell described on stdin; always try to leave a result file."""
    spec = json.loads(sys.stdin.read())
    _apply_memory_limit(int(spec["memory_limit_mb"]))
    try:
        result = measure(spec)
    except MemoryError:
        result = {"status": "oom", "message": "MemoryError: the cell exceeded its memory "
                  f"limit ({spec['memory_limit_mb']} MiB)", "traceback": _tail()}
    except Exception as error:  # any engine failure is recorded, not raised
        out_of_memory = "allocate memory" in str(error) or "out of memory" in str(error)
        result = {"status": "oom" if out_of_memory else "error",
                  "message": f"{type(error).__name__}: {error}", "traceback": _tail()}
    result["peak_rss_mb"] = _peak_rss_mb()
    with open(spec["result_path"], "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


def _tail(lines: int = 15) -> str:
    return "".join(traceback.format_exc().splitlines(keepends=True)[-lines:])


def make_problem(spec: dict[str, Any]) -> dict[str, Any]:
    """The inputs of the spec's cell."""
    from harness.experiments import registry as experiment_registry

    experiment = experiment_registry()[spec["experiment"]]
    return experiment.make_problem(spec["variant"], int(spec["size"]), spec["params"],
                                   int(spec["seed"]))


def build_workload(spec: dict[str, Any], problem: dict[str, Any] | None = None) -> Any:
    """The engine's workload for the spec's cell (what one timed operation runs)."""
    import importlib

    from harness.engines import registry as engine_registry
    from harness.experiments import registry as experiment_registry

    experiment = experiment_registry()[spec["experiment"]]
    engine = engine_registry()[spec["engine"]]
    for package in engine.requires:
        importlib.import_module(package)
    if problem is None:
        problem = make_problem(spec)
    options = {"dtype": spec["dtype"], "threads": spec["threads"]}
    return engine.build(spec["experiment"], experiment.workload(spec["variant"]), problem,
                        options)


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the workload, time it (see timing.calibrated_repeats), check its result."""
    from harness.experiments import compare
    from harness.experiments import registry as experiment_registry
    from harness.timing import calibrated_repeats

    experiment = experiment_registry()[spec["experiment"]]
    variant = spec["variant"]
    problem = make_problem(spec)
    base_rss = _current_rss_mb()
    workload = build_workload(spec, problem)
    first, timing = calibrated_repeats(workload.run, spec)
    got = workload.fetch(first)
    del first
    error, message = compare(got, experiment.reference(variant, problem),
                             experiment.output_names(variant), spec["dtype"])
    result = {"status": "ok" if message is None else "error", "max_error": error,
              "base_rss_mb": base_rss, "description": workload.description, **timing}
    if message is not None:
        result["message"] = f"wrong result, timing discarded: {message}"
        result["values"] = []
    return result


if __name__ == "__main__":
    sys.exit(main())
