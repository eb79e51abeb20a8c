"""Fault injection and interruption: bad cells are recorded with the right status, the run
goes on, and an interrupted run resumed with --resume has exactly the uninterrupted cells."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.engines import TEST_ENGINES_ENV

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

FAULTS_TOML = """
[run]
name = "faults"
experiments = ["E1"]
engines = ["floor", "faulty-wrong", "faulty-raise", "faulty-segv", "faulty-oom",
           "faulty-sleep", "bobodiff-reverse"]
repeats = 2
min_repeat_seconds = 0.001
max_cell_seconds = 0.2
timeout_seconds = 12  # generous: a loaded machine slows every cell's start
memory_limit_mb = 1536
threads = 1
jobs = 2
processes = 1  # one process per cell: these tests check outcomes, not timings
remeasure = 0

[E1]
variants = ["batch"]
batch_points = 200
"""

RESUME_TOML = """
[run]
name = "resume"
experiments = ["E2"]
engines = ["floor", "bobodiff-reverse", "bobodiff-scalar"]
repeats = 2
min_repeat_seconds = 0.001
max_cell_seconds = 0.1
processes = 1
remeasure = 0
# A group with a round the host slowed throughout is measured again at the end of the run
# (remeasure_slowed), and its cells are written only then, complete: on a busy host every
# group could wait for that, so the interruption below would find no cell unfinished.
remeasure_slowed = false
threads = 1

[E2]
variants = ["setup", "step"]
sizes = [2, 3, 4, 5]
batches = [1]
"""

EXPECTED = {"floor": "ok", "bobodiff-reverse": "ok", "faulty-wrong": "error",
            "faulty-raise": "error", "faulty-segv": "crashed", "faulty-oom": "oom",
            "faulty-sleep": "timeout"}


def harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), TEST_ENGINES_ENV: "1"}


def run_config(tmp_path: Path, text: str, *extra: str) -> tuple[int, Path | None, str]:
    config = tmp_path / "config.toml"
    config.write_text(text)
    done = subprocess.run(harness("run", str(config), "--no-progress", *extra), cwd=ROOT,
                          env=environment(), capture_output=True, text=True, timeout=180,
                          check=False)
    lines = done.stdout.strip().splitlines()
    return done.returncode, Path(lines[-1]) if lines else None, done.stderr


def cells(run_dir: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in (run_dir / "raw.jsonl").read_text().splitlines()]
    found = {}
    for record in records:
        if record["kind"] == "cell":
            assert record["cell"] not in found, f"{record['cell']} recorded twice"
            found[record["cell"]] = record
    return found


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("faults")
    code, run_dir, stderr = run_config(tmp_path, FAULTS_TOML, "--out", str(tmp_path / "out"))
    assert code == 0, stderr[-3000:]
    return run_dir


def test_each_injected_fault_gets_its_status_and_the_run_goes_on(faults_run):
    by_engine = {record["engine"]: record for record in cells(faults_run).values()}
    assert {engine: record["status"] for engine, record in by_engine.items()} == EXPECTED
    assert "wrong result" in by_engine["faulty-wrong"]["message"]
    assert "df/dx3" in by_engine["faulty-wrong"]["message"]
    assert "injected fault" in by_engine["faulty-raise"]["message"]
    assert "injected fault" in by_engine["faulty-raise"]["stderr_tail"]
    assert "SIGSEGV" in by_engine["faulty-segv"]["message"]
    assert "MemoryError" in by_engine["faulty-oom"]["message"]
    assert "timeout_seconds" in by_engine["faulty-sleep"]["message"]


def test_failed_cells_never_show_a_number(faults_run):
    raw = [json.loads(line) for line in (faults_run / "raw.jsonl").read_text().splitlines()]
    timed = {line["engine"] for line in raw if line["kind"] == "repeat"}
    assert timed == {"floor", "bobodiff-reverse"}
    summary = pd.read_csv(faults_run / "summary.csv")
    failed = summary[summary.engine.str.startswith("faulty")]
    assert failed.median_s.isna().all()
    report = (faults_run / "report.md").read_text()
    for engine, status in EXPECTED.items():
        if status != "ok":
            assert f"E1/batch/{engine}/n=200 | {status}" in report


def wait_for_cells(raw: Path, count: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if raw.exists() and raw.read_text().count('"kind": "cell"') >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{raw} did not reach {count} cells in time")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> set[str]:
    tmp_path = tmp_path_factory.mktemp("whole")
    code, run_dir, stderr = run_config(tmp_path, RESUME_TOML, "--out", str(tmp_path / "out"))
    assert code == 0, stderr[-3000:]
    return set(cells(run_dir))


@pytest.mark.parametrize("signum, jobs", [(signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_interrupted_run_resumes_to_the_same_cells(tmp_path, uninterrupted, signum, jobs):
    config = tmp_path / "config.toml"
    config.write_text(RESUME_TOML.replace("threads = 1", f"threads = 1\njobs = {jobs}"))
    out = tmp_path / "out"
    process = subprocess.Popen(harness("run", str(config), "--no-progress", "--out", str(out)),
                               cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob("*/raw.jsonl")):
        time.sleep(0.05)
    raw = next(out.glob("*/raw.jsonl"))
    wait_for_cells(raw, 3, deadline)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "--resume" in stderr
    written = cells(raw.parent)  # every line parses: the file is valid
    partial = {cell for cell, line in written.items() if line["status"] != "interrupted"}
    assert 3 <= len(partial) < len(uninterrupted)
    code, run_dir, stderr = run_config(tmp_path, RESUME_TOML, "--resume", str(raw.parent))
    assert code == 0, stderr[-3000:]
    assert run_dir == raw.parent
    assert set(cells(run_dir)) == uninterrupted
    assert all(record["status"] == "ok" for record in cells(run_dir).values())
