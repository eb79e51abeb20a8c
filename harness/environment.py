"""The environment recorded with every run: versions, CPU, threads, BLAS, git commit.

The harness never sets or changes OPENBLAS_* / MKL_* variables beyond the thread counts:
it records the ones it inherited (OPENBLAS_CORETYPE, for one, picks NumPy's GEMM kernel and
changes every large-n NumPy time).
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def package_version(name: str) -> str | None:
    """Installed version of a distribution, without importing it (None if absent)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, else platform.processor()."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_state() -> dict[str, Any]:
    """Commit of the project checkout and whether it has uncommitted changes."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": git("rev-parse", "HEAD"),
            "git_dirty": None if status is None else bool(status)}


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that pin BLAS / OpenMP thread pools to ``threads``."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def inherited_blas_variables(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The OPENBLAS_* and MKL_* variables of the harness's own environment (as inherited)."""
    environ = os.environ if environ is None else environ
    return {name: value for name, value in sorted(environ.items())
            if name.startswith(("OPENBLAS_", "MKL_"))}


def blas_info() -> list[dict[str, Any]] | None:
    """The BLAS / OpenMP libraries NumPy loaded, per threadpoolctl: library, version,
    kernel architecture, threads (None when threadpoolctl is not installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    import numpy  # noqa: F401  (loads the BLAS threadpoolctl inspects)

    keys = ("user_api", "internal_api", "version", "architecture", "num_threads", "filepath")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


def blas_of_cells(threads: int) -> list[dict[str, Any]] | None:
    """blas_info() as a cell process sees it (its thread variables set), or None."""
    import json

    code = "import json; from harness.environment import blas_info; print(json.dumps(blas_info()))"
    env = {**os.environ, **thread_environment(threads),
           "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT),
                                                     os.environ.get("PYTHONPATH")) if p)}
    try:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def governor() -> str | None:
    """The CPU frequency governor(s) in use, e.g. 'performance' (None where unreadable)."""
    names = set()
    for path in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            names.add(Path(path).read_text(encoding="ascii").strip())
        except OSError:
            continue
    return ",".join(sorted(names)) or None


def describe(threads: int) -> dict[str, Any]:
    """Everything about this machine and software that a reader needs to trust a number."""
    return {
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "numpy": package_version("numpy"),
        "torch": package_version("torch"),
        "bobodiff": package_version("bobodiff"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "threads": threads,
        "thread_env": thread_environment(threads),
        "blas": blas_of_cells(threads),
        "inherited_blas_env": inherited_blas_variables(),
        "governor": governor(),
        **git_state(),
    }
