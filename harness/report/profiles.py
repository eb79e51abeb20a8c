"""The profiles of a run (profiles/profiles.jsonl) as report sections and a page fragment."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.sections import Section

INDEX_NAME = "profiles.jsonl"
NOTE = ("Profiling runs are separate from timing runs: profilers distort time, so the timings "
        "above come from unprofiled processes. Each (cell, profiler) ran in a fresh process.")
HARNESS_FRAMES = ("harness/_profile_cell.py", "harness/engines/", "<lambda>")


def load_index(run_dir: Path) -> list[dict[str, Any]]:
    """The profiles.jsonl lines of a run (a later line replaces an earlier one for the same
    cell and profiler; corrupted lines are skipped)."""
    path = Path(run_dir) / "profiles" / INDEX_NAME
    if not path.exists():
        return []
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "cell" in record and "profiler" in record:
            latest[(record["cell"], record["profiler"])] = record
    return list(latest.values())


def _by_cell(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        cells.setdefault(record["cell"], {})[record["profiler"]] = record
    return cells


def _top_library_function(record: dict[str, Any] | None) -> str:
    """The function with the most cumulative time outside the harness's own wrappers."""
    if not record or record.get("status") != "ok":
        return "-"
    for row in record.get("top", []):
        if not any(frame in row["function"] for frame in HARNESS_FRAMES):
            return f"{row['function']} ({row['cum_percent']:.0f}%)"
    return "-"


def _value(record: dict[str, Any] | None, key: str) -> Any:
    if not record:
        return None
    if record.get("status") != "ok":
        return record.get("status", "-")
    return record.get(key)


def profile_sections(records: list[dict[str, Any]]) -> list[Section]:
    """A summary table, then per cell the cProfile top-20 and Scalene's busiest lines."""
    if not records:
        return []
    cells = _by_cell(records)
    rows = []
    for cell, by in cells.items():
        rows.append({"cell": cell,
                     "top function (cumulative)": _top_library_function(by.get("cprofile")),
                     "Scalene CPU Python %": _value(by.get("scalene"), "cpu_python_percent"),
                     "Scalene CPU native %": _value(by.get("scalene"), "cpu_native_percent"),
                     "Scalene peak MB": _value(by.get("scalene"), "peak_mb"),
                     "memory_profiler peak MiB": _value(by.get("memory"), "peak_mib")})
    summary = Section("Profiles", [NOTE, "The report quotes a 37.1 MiB peak (memory_profiler) "
                      "for its backward mode and 450.6 MB for PyTorch. Serve a cProfile "
                      "profile with `make snakeviz PROF=<part of its name>`."],
                      [("Per profiled cell", pd.DataFrame(rows))])
    failures = [f"{r['cell']} / {r['profiler']}: {r.get('message', '')[:300]}"
                for r in records if r.get("status") != "ok"]
    if failures:
        summary.paragraphs.append("Profiles that failed: " + "; ".join(failures))
    sections = [summary]
    for cell, by in cells.items():
        tables = []
        cprofile = by.get("cprofile")
        if cprofile and cprofile.get("status") == "ok":
            top = pd.DataFrame(cprofile["top"])[["function", "ncalls", "tottime_s",
                                                 "cumtime_s", "cum_percent"]]
            tables.append((f"cProfile, top {len(top)} by cumulative time "
                           f"({cprofile['calls']} calls in {cprofile['seconds']:.2f} s)", top))
        scalene = by.get("scalene")
        if scalene and scalene.get("status") == "ok" and scalene.get("lines"):
            tables.append(("Scalene, busiest lines (CPU % of the profiled run)",
                           pd.DataFrame(scalene["lines"])))
        if tables:
            sections.append(Section(f"Profile: {cell}", [], tables))
    return sections


def profile_html(run_dir: Path, records: list[dict[str, Any]]) -> str:
    """Pictures and links of each profiled cell, for index.html (files stay in profiles/)."""
    if not records:
        return ""
    parts = ["<h2>Profiles</h2>", f"<p class='note'>{html.escape(NOTE)}</p>"]
    for cell, by in _by_cell(records).items():
        parts.append(f"<h3>{html.escape(cell)}</h3><p>")
        links, images = [], []
        for profiler in ("cprofile", "scalene", "memory"):
            record = by.get(profiler)
            if not record:
                continue
            if record.get("status") != "ok":
                links.append(f"{profiler}: <strong>{html.escape(record.get('status', ''))}"
                             f"</strong> {html.escape(record.get('message', '')[:200])}")
                continue
            for name in record.get("files", []):
                ref = f"profiles/{html.escape(name)}"
                if not (run_dir / "profiles" / name).exists():
                    continue
                if name.endswith(".png"):
                    images.append(f"<a href='{ref}'><img alt='{html.escape(name)}' src='{ref}' "
                                  "style='max-height:420px'></a>")
                else:
                    links.append(f"<a href='{ref}'>{html.escape(name)}</a>")
        parts.append(" · ".join(links) + "</p>" + "".join(images))
    return "\n".join(parts)
