"""One runner per run folder: an exclusive lock file holding the owner's pid.

The lock is an ``flock`` on ``RUN_DIR/.lock``, so the kernel releases it when its owner dies
(even by SIGKILL); the pid written inside names the owner in the refusal message and tells
the next runner whose stale lock it takes over.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import TextIO

LOCK_NAME = ".lock"


class RunFolderLocked(Exception):
    """Another live process holds the run folder's lock."""


class RunLock:
    """Context manager holding RUN_DIR/.lock for the duration of a run."""

    def __init__(self, run_dir: Path, notices: TextIO | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.notices = notices if notices is not None else sys.stderr
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise RunFolderLocked naming the folder and its owner's pid."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise RunFolderLocked(
                    f"run folder {self.run_dir} is in use by process {owner or '(unknown)'} "
                    f"(lock file {self.path}); wait for it to finish or stop it first"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the previous owner removed the file between our open and flock
        stale = _read_owner(fd)
        if stale and stale != str(os.getpid()):
            print(f"note: taking over the stale lock of process {stale} (no longer running) "
                  f"on {self.run_dir}", file=self.notices)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self.fd is None:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def _read_owner(fd: int) -> str:
    return os.pread(fd, 64, 0).decode("ascii", errors="replace").strip()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False
