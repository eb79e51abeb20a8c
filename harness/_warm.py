"""A warm interpreter: imports once, then forks one process per cell (see harness.supervise).

Run as ``python -m harness._warm PACKAGE... [-- MODULE...]``. It imports NumPy, the harness's
cell code and registries, the given packages and (best effort) the modules after ``--``,
refuses to serve if that left it with more than one thread, writes ``{"ready": ...}`` on
stdout, then for each request line ``{"spec": ..., "log": ...}`` forks a child that runs the
cell exactly as ``python -m harness._cell`` would (harness._cell.run_spec), its output in the
log file, and replies ``{"pid": ...}`` at once and ``{"pid": ..., "returncode": ...}`` when the
child ends. Nothing is timed or run here before the fork: the child's first call is its own.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

from harness.lifecycle import die_with_parent


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _child(request: dict[str, Any], warm_pid: int) -> None:
    """In the forked process: own process group, output to the log, run the cell, exit."""
    code = 1
    try:
        os.setpgid(0, 0)  # the runner kills a cell that times out by its group
        die_with_parent()  # the parent-death signal is not inherited across fork
        if os.getppid() != warm_pid:  # the warm interpreter died before the prctl
            os._exit(1)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        from harness._cell import run_spec

        code = run_spec(request["spec"])
    except BaseException:  # noqa: BLE001  (whatever happens, the child must not return)
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _split(arguments: list[str]) -> tuple[list[str], list[str]]:
    """PACKAGE... [-- MODULE...]: the packages that must import, then modules to preload."""
    if "--" not in arguments:
        return arguments, []
    at = arguments.index("--")
    return arguments[:at], arguments[at + 1:]


def main(packages: list[str]) -> int:
    """Import, announce readiness, then serve fork requests until stdin closes."""
    die_with_parent()
    start = time.perf_counter()
    import numpy  # noqa: F401

    import harness._cell  # noqa: F401
    import harness.timing  # noqa: F401
    from harness.engines import registry as engine_registry
    from harness.experiments import registry as experiment_registry

    engine_registry()
    experiment_registry()
    required, preload = _split(packages)
    for package in required:
        importlib.import_module(package)
    for name in preload:  # what a cell's first process imported lazily: best effort
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (e.g. a module made at run time, not importable)
            continue
    threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1
    if threads > 1:  # forking a threaded process can deadlock the child: refuse
        _reply({"ready": False, "message": f"{threads} threads after the imports"})
        return 1
    _reply({"ready": True, "import_seconds": time.perf_counter() - start})
    warm_pid = os.getpid()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, warm_pid)
        _reply({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _reply({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
