"""Cells die with their runner: the parent-death signal, and cleaning up after dead runs.

A cell's temporary folder is named after its runner's pid (``harness-cell-<pid>-...``), so
a later run can tell the folders of dead runners (removed) from those of live ones (kept).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

PR_SET_PDEATHSIG = 1
RUNNER_PID_ENV = "HARNESS_RUNNER_PID"
CELL_FOLDER_PREFIX = "harness-cell-"
_CELL_FOLDER = re.compile(rf"^{CELL_FOLDER_PREFIX}(\d+)-")


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies; exit now if the runner
    (RUNNER_PID_ENV) is already gone. No-op where prctl is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    runner = os.environ.get(RUNNER_PID_ENV, "")
    # The runner may have died between our fork and the prctl: the signal would never come.
    if runner.isdigit() and os.getppid() != int(runner) and not pid_alive(int(runner)):
        os._exit(1)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cell_folder_prefix() -> str:
    """Prefix of this runner's temporary cell folders."""
    return f"{CELL_FOLDER_PREFIX}{os.getpid()}-"


def clean_stale_cell_folders(root: Path | None = None) -> list[Path]:
    """Remove the temporary cell folders of runners that no longer run; return them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{CELL_FOLDER_PREFIX}*"):
        match = _CELL_FOLDER.match(folder.name)
        if not match or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            continue
        if not pid_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed

