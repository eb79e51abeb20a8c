"""Reporting: everything derived from raw.jsonl alone (summary.csv, report.md, plots, page).

``build(run_dir)`` never runs a measurement; it can be called again at any time
(``python -m harness charts RUN_DIR``) and gives the same tables.
"""

from __future__ import annotations

from pathlib import Path

from harness.report.load import read_raw
from harness.report.markdown import instructions_beside, write_report
from harness.report.page import write_page
from harness.report.plots import write_plots
from harness.report.profiles import load_index, profile_sections
from harness.report.summary import summarize, write_summary


def build(run_dir: str | Path) -> dict[str, object]:
    """Regenerate every derived file of a run folder; return paths and warnings."""
    run_dir = Path(run_dir)
    raw = read_raw(run_dir / "raw.jsonl")
    summary = summarize(raw)
    files = [write_summary(summary, run_dir / "summary.csv")]
    plots = write_plots(summary, run_dir)
    counted = instructions_beside(run_dir, summary)
    sections = write_report(raw, summary, run_dir / "report.md",
                            extra=counted + profile_sections(load_index(run_dir)))
    files += [run_dir / "report.md", *plots]
    files.append(write_page(raw, sections, plots, run_dir / "index.html"))
    warnings = [f"raw.jsonl line {number}: {reason} (skipped)"
                for number, reason in raw.corrupted]
    return {"files": files, "warnings": warnings, "cells": len(summary)}
