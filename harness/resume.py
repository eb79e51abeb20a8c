"""--resume only continues the run it was started as: same validated config, or (with
--force) only added cells measured under the same settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.load import read_raw

# Keys that do not change what a cell measures: the run's name, and how many cells run at
# once (an interrupted smoke run with jobs = 2 may be finished sequentially).
FREE_KEYS = {("run", "name"), ("run", "jobs")}


class ResumeRefused(Exception):
    """The config given to --resume differs from the run's own."""


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(table.key, run's value, config's value) for every key whose values differ."""
    old, new = _plain(old), _plain(new)
    found = []
    for table in sorted(set(old) | set(new)):
        before, after = old.get(table, {}), new.get(table, {})
        if not isinstance(before, dict) or not isinstance(after, dict):
            if before != after:
                found.append((table, before, after))
            continue
        for key in sorted(set(before) | set(after)):
            if (table, key) not in FREE_KEYS and before.get(key) != after.get(key):
                found.append((f"{table}.{key}", before.get(key), after.get(key)))
    return found


def check(raw_path: Path, config: dict[str, Any], force: bool = False) -> None:
    """Raise ResumeRefused unless ``config`` may continue the run of ``raw_path``.

    Without force the config must equal the run's (its last env line). With force, lists of
    what to measure (engines, experiments, variants, sizes, ...) may gain elements; every
    other key must be equal, so the added cells are measured like the others.
    """
    envs = [env for env in read_raw(raw_path).envs if isinstance(env.get("config"), dict)]
    if not envs:
        raise ResumeRefused(f"{raw_path}: no env line with a config; cannot check that "
                            "the config matches the run")
    changed = differences(envs[-1]["config"], config)
    if force:
        changed = [change for change in changed if not _only_added(change[1], change[2])]
    if changed:
        listed = "; ".join(f"{key}: run has {before!r}, config has {after!r}"
                           for key, before, after in changed)
        hint = ("--force allows only added cells (lists that gain elements) with the same "
                "measurement settings" if force else "resume with the run's own config, or "
                "add --force to add cells measured under the same settings")
        raise ResumeRefused(f"--resume {raw_path.parent}: the config differs from the run's "
                            f"({listed}); {hint}")


def _only_added(before: Any, after: Any) -> bool:
    return (isinstance(before, list) and isinstance(after, list)
            and len(set(map(json.dumps, before)) - set(map(json.dumps, after))) == 0)


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """The config as raw.jsonl stores it (tuples become lists)."""
    return json.loads(json.dumps(config, allow_nan=True))
