"""raw.jsonl's schema field: written on every line kind, old runs (no field, no attempt ids,
no processes, no noise) still read and redraw, a newer schema is reported and not misread."""

from __future__ import annotations

import json

import pytest

from harness import report
from harness.rawio import RAW_SCHEMA, RAW_SCHEMA_BEFORE, append_lines, read_raw
from harness.runner import finished_cells


def old_format_lines() -> list[dict]:
    """A run as the harness wrote it before schema, attempts, processes and noise existed."""
    lines = [{"kind": "env", "run_id": "old", "started": "2026-11-01T00:00:00",
              "python": "3.11", "config": {"run": {"jobs": 1}}}]
    cells = [("E1", "loop", "floor", 1000, 1e-3), ("E1", "loop", "torch", 1000, 5e-2),
             ("E1", "batch", "floor", 10000, 2e-3), ("E1", "batch", "torch", 10000, 4e-3),
             ("E2", "step-b1", "floor", 10, 1e-5), ("E2", "step-b1", "torch", 10, 3e-5),
             ("E2", "step-b1", "floor", 100, 1e-4), ("E2", "step-b1", "torch", 100, 2e-4),
             ("E3", "jvp", "floor", 10, 1e-5), ("E3", "jvp", "torch", 10, 4e-5)]
    for experiment, variant, engine, size, value in cells:
        cell = f"{experiment}/{variant}/{engine}/n={size}/float64"
        keys = {"experiment": experiment, "variant": variant, "engine": engine, "size": size,
                "dtype": "float64"}
        lines += [{"kind": "repeat", "cell": cell, **keys, "repeat": i, "value": value * f}
                  for i, f in enumerate((1.0, 1.1, 0.95))]
        lines.append({"kind": "cell", "cell": cell, **keys, "status": "ok", "loops": 1,
                      "calls_per_op": size if experiment == "E1" else 1,
                      "peak_rss_mb": 60.0, "description": "old"})
    return lines


def test_an_old_format_run_reads_and_redraws(tmp_path):
    (tmp_path / "raw.jsonl").write_text("".join(json.dumps(line) + "\n"
                                                for line in old_format_lines()))
    raw = read_raw(tmp_path / "raw.jsonl")
    assert not raw.corrupted and len(raw.cells) == 10 and len(raw.repeats) == 30
    assert {line["schema"] for line in [*raw.envs, *raw.cells, *raw.repeats]} == \
        {RAW_SCHEMA_BEFORE}
    built = report.build(tmp_path)
    assert built["cells"] == 10 and not built["warnings"]
    text = (tmp_path / "report.md").read_text()
    assert "E1 - one function, many calls" in text and "index.html" not in built["warnings"]
    assert finished_cells(tmp_path / "raw.jsonl") == {line["cell"] for line in raw.cells}


def test_every_line_kind_is_written_with_the_schema(tmp_path):
    path = tmp_path / "raw.jsonl"
    lines = old_format_lines()
    append_lines(path, lines)
    written = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["kind"] for line in written} == {"env", "cell", "repeat"}
    assert all(line["schema"] == RAW_SCHEMA for line in written)
    assert all("schema" not in line for line in lines)  # the caller's dicts are left alone


@pytest.mark.parametrize("schema", [RAW_SCHEMA + 1, "2"])
def test_a_line_of_an_unknown_schema_is_reported_not_misread(tmp_path, schema):
    path = tmp_path / "raw.jsonl"
    append_lines(path, old_format_lines()[:1])
    with open(path, "a") as raw:
        raw.write(json.dumps({"schema": schema, "kind": "cell", "cell": "E9/x/y/n=1"}) + "\n")
    data = read_raw(path)
    assert len(data.corrupted) == 1 and "not one this harness reads" in data.corrupted[0][1]
    assert data.cells == []
