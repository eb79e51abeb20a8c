"""Appending to raw.jsonl: whole lines or nothing, and a plain message when the disk is full."""

from __future__ import annotations

import errno
import json
import os
import uuid
from pathlib import Path
from typing import Any


class RawWriteError(Exception):
    """raw.jsonl could not be written (e.g. no space left); the file was left as it was."""


def new_attempt_id() -> str:
    """A fresh id for one attempt at measuring a cell (written on each of its lines)."""
    return uuid.uuid4().hex[:12]


def append_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    """Append JSON lines in one write, then flush and fsync (a cell is all or nothing).

    If the write fails part-way (a full disk), the file is cut back to its former length,
    so it never ends in half a line, and RawWriteError says what happened to which file.
    """
    payload = "".join(json.dumps(line, allow_nan=True) + "\n" for line in lines).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        except OSError as error:
            _cut_back(fd, start)
            raise RawWriteError(_describe(error, path)) from None
    finally:
        os.close(fd)


def _write_all(fd: int, payload: bytes) -> None:
    written = 0
    while written < len(payload):
        written += os.write(fd, payload[written:])


def _cut_back(fd: int, length: int) -> None:
    try:
        os.ftruncate(fd, length)
    except OSError:
        pass  # the reader skips a torn last line; nothing better can be done here


def _describe(error: OSError, path: Path) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on device while writing {path}"
    return f"{error.strerror or error} while writing {path}"
