"""Read raw.jsonl: environment lines, repeat lines and cell lines; corrupted lines reported."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    if not isinstance(record, dict) or record.get("kind") not in ("env", "cell", "repeat"):
        return None, "not a raw.jsonl record (kind must be env, cell or repeat)"
    if record["kind"] != "env" and not isinstance(record.get("cell"), str):
        return None, "record without a cell id"
    if record["kind"] == "repeat" and not isinstance(record.get("value"), int | float):
        return None, "repeat line without a numeric value"
    return record, ""
