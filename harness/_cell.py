"""Child process of one cell: build, warm up, calibrate, time, check; report as JSON.

Run as ``python -m harness._cell`` with a JSON spec on stdin, or forked from a warm
interpreter (harness._warm); writes a JSON result to the spec's result_path. The process
first arranges to die with its runner, then applies the memory limit (started fresh: before
NumPy or torch is imported).
Never pickles anything.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import traceback
from typing import Any

from harness.lifecycle import die_with_parent
from harness.oom import oom_message

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
    die_with_parent()  # first: a runner killed by SIGKILL or SIGHUP takes its cell with it
    return run_spec(json.loads(sys.stdin.read()))


def run_spec(spec: dict[str, Any]) -> int:
    """Run the cell ``spec`` in this process and write its result file (also the body of a
    process forked from a warm interpreter, harness._warm)."""
    _apply_memory_limit(int(spec["memory_limit_mb"]))
    try:
        result = measure(spec)
    except MemoryError:
        result = {"status": "oom", "message": oom_message(int(spec["memory_limit_mb"]),
                                                          "MemoryError"),
                  "traceback": _tail()}
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
    """Build the workload, check its first result against the reference, then time it.

    A wrong result is never timed. The peak-RSS high-water mark is reset after the check
    (when the kernel allows it), so the reference arrays do not count as the engine's memory.
    """
    from harness.experiments import compare
    from harness.experiments import registry as experiment_registry
    from harness.timing import counted_repeats, first_call, timed_repeats

    experiment = experiment_registry()[spec["experiment"]]
    variant = spec["variant"]
    problem = make_problem(spec)
    base_rss = _current_rss_mb()
    loaded = set(sys.modules)
    workload = build_workload(spec, problem)
    first, first_seconds = first_call(workload.run)
    # what building and the first call imported (in import order), so that a warm
    # interpreter can import it before forking the cell's later processes
    imported = [name for name in sys.modules if name not in loaded]
    got = workload.fetch(first)
    del first
    error, message = compare(got, experiment.reference(variant, problem),
                             experiment.output_names(variant), spec["dtype"])
    del got
    result = {"max_error": error, "base_rss_mb": base_rss, "description": workload.description,
              "first_call_seconds": first_seconds, "imported": imported}
    if message is not None:
        return {**result, "status": "error", "values": [],
                "message": f"wrong result, not timed: {message}"}
    scope = "timed repeats" if _reset_peak_rss() else "whole process"
    repeats = counted_repeats if spec.get("metric") == "instructions" else timed_repeats
    return {**result, "status": "ok", "peak_rss_scope": scope,
            **repeats(workload.run, spec, first_seconds)}


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False if refused."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
