"""raw.jsonl, the one file every derived table is drawn from: its one reader (``read_raw``)
and its one writer (``append_lines``: whole lines or nothing, a plain message when the disk
is full).

Every line carries ``schema`` (RAW_SCHEMA): the version of the format it was written in.
Lines without it were written before the field existed (RAW_SCHEMA_BEFORE) and read the
same way; a line of a newer schema than this harness knows is reported, not misread.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAW_SCHEMA = 2
RAW_SCHEMA_BEFORE = 1  # the schema of lines written before the field (every run until 2026-12)
KINDS = ("env", "cell", "repeat")


class RawWriteError(Exception):
    """raw.jsonl could not be written (e.g. no space left); the file was left as it was."""


def new_attempt_id() -> str:
    """A fresh id for one attempt at measuring a cell (written on each of its lines)."""
    return uuid.uuid4().hex[:12]


def append_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    """Append JSON lines in one write, then flush and fsync (a cell is all or nothing).

    Each line gets ``schema`` (RAW_SCHEMA) unless it carries one. If the write fails
    part-way (a full disk), the file is cut back to its former length, so it never ends in
    half a line, and RawWriteError says what happened to which file.
    """
    payload = "".join(json.dumps({"schema": RAW_SCHEMA, **line}, allow_nan=True) + "\n"
                      for line in lines).encode()
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


@dataclass
class RawData:
    """The parsed content of a raw.jsonl (the truth every derived file is drawn from)."""

    envs: list[dict[str, Any]] = field(default_factory=list)
    repeats: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    corrupted: list[tuple[int, str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, Any]:
        """The first environment line (the run's start), or {}."""
        return self.envs[0] if self.envs else {}


def read_raw(path: str | Path) -> RawData:
    """Parse raw.jsonl; a line that is not a JSON object of a known kind is skipped and
    listed in ``corrupted`` with its line number. The last cell line of a cell wins, and a
    cell's repeats are those of the attempt its cell line closes: repeats of an aborted
    attempt (its cell line missing or torn) never mix into a re-run's statistics."""
    data = RawData()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no raw.jsonl here; is this a run folder?")
    text = path.read_text(encoding="utf-8", errors="replace")
    cells: dict[str, dict[str, Any]] = {}
    repeats: dict[str, list[dict[str, Any]]] = {}
    pending: dict[str, list[dict[str, Any]]] = {}  # repeats written before their cell line
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record, reason = _parse(line)
        if record is None:
            data.corrupted.append((number, reason))
        elif record["kind"] == "env":
            data.envs.append(record)
        elif record["kind"] == "cell":
            cells[record["cell"]] = record
            repeats[record["cell"]] = _of_attempt(pending.pop(record["cell"], []),
                                                  record.get("attempt"))
        else:
            pending.setdefault(record["cell"], []).append(record)
    data.cells = list(cells.values())
    data.repeats = [r for cell_id in cells for r in repeats.get(cell_id, [])]
    return data


def _of_attempt(repeats: list[dict[str, Any]], attempt: Any) -> list[dict[str, Any]]:
    """The repeats of one attempt (runs written before attempt ids: all of them)."""
    if attempt is None:
        return repeats
    return [repeat for repeat in repeats if repeat.get("attempt") == attempt]


def _parse(line: str) -> tuple[dict[str, Any] | None, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg})"
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        return None, "not a raw.jsonl record (kind must be env, cell or repeat)"
    schema = record.setdefault("schema", RAW_SCHEMA_BEFORE)
    if not isinstance(schema, int) or schema > RAW_SCHEMA:
        return None, (f"schema {schema!r} is not one this harness reads (up to {RAW_SCHEMA}): "
                      "a newer harness wrote it; update this one to draw the run")
    if record["kind"] != "env" and not isinstance(record.get("cell"), str):
        return None, "record without a cell id"
    if record["kind"] == "repeat" and not isinstance(record.get("value"), int | float):
        return None, "repeat line without a numeric value"
    return record, ""
