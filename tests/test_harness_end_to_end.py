"""End to end: configs/smoke.toml into a temporary folder, then every artifact is checked.

Also: `charts` redraws the same tables from raw.jsonl alone, skips corrupted lines, and
`compare` gives ratios per cell.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from harness import config as configuration
from harness.cells import plan
from harness.cli import main
from harness.compare import compare_runs
from harness.report.plots import plot_files
from harness.report.summary import SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "configs" / "smoke.toml"
ENGINES = {"floor", "torch", "bobodiff-forward", "bobodiff-reverse", "bobodiff-scalar",
           "bobodiff-compiled"}

pytestmark = pytest.mark.slow


def run_harness(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """python -m harness ARGS in a fresh process, from the project root."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def smoke_run(smoke_copy) -> Path:
    """This module's copy of the session's smoke run (conftest.py); its run folder."""
    return smoke_copy()


def raw_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "raw.jsonl").read_text().splitlines()]


def test_every_artifact_exists_and_latest_points_at_the_run(smoke_run):
    for name in ("raw.jsonl", "summary.csv", "report.md", "index.html", *plot_files()):
        assert (smoke_run / name).stat().st_size > 0, name
    latest = smoke_run.parent / "latest"
    assert latest.is_symlink() and latest.resolve() == smoke_run.resolve()


def test_raw_jsonl_has_environment_repeats_and_one_line_per_cell(smoke_run):
    lines = raw_lines(smoke_run)
    env = [line for line in lines if line["kind"] == "env"]
    assert len(env) == 1
    for key in ("python", "numpy", "torch", "cpu", "threads", "thread_env", "git_commit",
                "config"):
        assert env[0].get(key) is not None, key
    cells = [line for line in lines if line["kind"] == "cell"]
    planned = {cell.cell_id for cell in plan(configuration.load(SMOKE))}
    assert sorted(line["cell"] for line in cells) == sorted(planned)
    repeats = [line for line in lines if line["kind"] == "repeat"]
    assert repeats and all(r["unit"] == "s" and r["value"] > 0 and r["status"] == "ok"
                           for r in repeats)
    ok_cells = {line["cell"] for line in cells if line["status"] == "ok"}
    assert {r["cell"] for r in repeats} == ok_cells


def test_summary_csv_has_the_documented_columns_and_every_engine_succeeds(smoke_run):
    summary = pd.read_csv(smoke_run / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert set(summary.status) <= {"ok", "skipped"}, summary[summary.status != "ok"].message
    assert set(summary[summary.status == "ok"].engine) == ENGINES
    ok = summary[summary.status == "ok"]
    assert (ok.median_s > 0).all() and (ok.min_s <= ok.median_s).all()
    assert (ok.median_s <= ok.max_s).all() and (ok.peak_rss_mb > 0).all()
    assert (ok.max_error < 1e-8).all()
    torch_rows = ok[ok.engine == "torch"]
    assert (torch_rows.ratio_to_torch == 1.0).all()
    skipped = summary[summary.status == "skipped"]
    assert skipped.message.str.len().min() > 10  # every skip says why


def test_plots_decode_and_page_references_them(smoke_run):
    page = (smoke_run / "index.html").read_text()
    for name in plot_files():
        image = matplotlib.image.imread(smoke_run / name)
        assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
        assert f"href='{name}'" in page
    assert page.count("data:image/png;base64,") == len(plot_files())
    assert "report (their machine)" in page and "<table>" in page


def test_report_puts_the_reports_figures_beside_this_run(smoke_run):
    report = (smoke_run / "report.md").read_text()
    for fragment in ("report (their machine)", "this run", "Table 1", "1,114", "27.8",
                     "57.2", "444.57", "Growth with n", "Fitted exponents",
                     "bobodiff-scalar / E1-loop", "torch / E1-loop"):
        assert fragment in report, fragment


def test_charts_reproduces_tables_from_raw_alone_and_skips_corrupted_lines(smoke_run,
                                                                          tmp_path, capsys):
    copy = tmp_path / smoke_run.name
    copy.mkdir()
    shutil.copy(smoke_run / "raw.jsonl", copy / "raw.jsonl")
    assert main(["charts", str(copy)]) == 0
    for name in ("summary.csv", "report.md"):
        assert (copy / name).read_text() == (smoke_run / name).read_text(), name
    with open(copy / "raw.jsonl", "a") as raw:
        raw.write('{"kind": "repeat", "cell": "E1/loop/torch/n=20/float64", "val\n')
        raw.write("this is not json\n")
    capsys.readouterr()
    assert main(["charts", str(copy)]) == 0
    err = capsys.readouterr().err
    lines = len((smoke_run / "raw.jsonl").read_text().splitlines())
    assert f"line {lines + 1}" in err and f"line {lines + 2}" in err
    assert pd.read_csv(copy / "summary.csv").equals(pd.read_csv(smoke_run / "summary.csv"))


def test_compare_gives_unit_ratios_between_a_run_and_its_copy(smoke_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(smoke_run / "raw.jsonl", copy / "raw.jsonl")
    table = compare_runs(smoke_run, copy)
    ok = table[(table.status_a == "ok") & (table.status_b == "ok")]
    assert len(ok) > 10 and (ok.ratio_b_over_a == 1.0).all() and not ok.significant.any()
    assert main(["compare", str(smoke_run), str(copy)]) == 0
    assert "1.000" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "charts", "compare"])
def test_every_command_has_help(command):
    done = run_harness(command, "--help", timeout=60)
    assert done.returncode == 0 and "usage:" in done.stdout
