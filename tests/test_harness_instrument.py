"""The instrument checks itself on real cells: floor-slowed (the floor's work + 25%) must be
told apart from the floor in every cell, and instruction counts must repeat within 1%."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

SLOWED = """
[run]
name = "slowed"
engines = ["floor", "floor-slowed"]
experiments = ["E1", "E2", "E3"]
processes = 5
repeats = 3
min_repeat_seconds = 0.05
max_cell_seconds = 0.5
noise_threshold = 0.3
remeasure = 0
jobs = 1
[E1]
loop_calls = 200
batch_points = 1000
[E2]
variants = ["step"]
sizes = [4]
batches = [1]
[E3]
variants = ["jvp"]
sizes = [4]
"""

COUNTED = """
[run]
name = "counted"
engines = ["floor", "torch"]
experiments = ["E1"]
metric = "instructions"
processes = 2
repeats = 1
timeout_seconds = 240
[E1]
variants = ["loop"]
loop_calls = 50
"""


def _run(tmp_path: Path, text: str, *extra: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.toml"
    config.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BOBODIFF_HARNESS_TEST_ENGINES": "1"}
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(config), "--out",
                           str(tmp_path / "results"), "--no-progress", *extra], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def _unseparated(run: Path) -> pd.DataFrame:
    """The (floor-slowed, floor) pairs not flagged disturbed whose ratio_to_floor interval
    does not lie above 1.1."""
    summary = pd.read_csv(run / "summary.csv")
    slowed = summary[summary.engine == "floor-slowed"]
    assert len(slowed) == 4 and (slowed.status == "ok").all()
    assert (slowed.processes == 5).all()
    assert ((slowed.ratio_to_floor_ci_low <= slowed.ratio_to_floor)
            & (slowed.ratio_to_floor <= slowed.ratio_to_floor_ci_high)).all()
    floor = summary[summary.engine == "floor"].set_index(["experiment", "variant"])

    def quiet(row) -> bool:
        # not flagged disturbed, and the floor's own median known to +-10% (its interval
        # within a factor 1.2): noise the probe cannot see (a VM's neighbours on the host)
        # shows there first, and then a 25% difference is not decidable at 95%
        base = floor.loc[(row.experiment, row.variant)]
        return not (row.disturbed or base.disturbed) and \
            base.median_ci_high / base.median_ci_low <= 1.2

    quiet_pairs = slowed[[quiet(row) for row in slowed.itertuples()]]
    if quiet_pairs.empty:
        pytest.skip("every pair was measured under noise (flagged disturbed, or the floor's "
                    "own interval wider than +-10%): the separation check needs a quieter "
                    "machine")
    quiet = quiet_pairs
    return quiet[quiet.ratio_to_floor_ci_low <= 1.1][
        ["variant", "ratio_to_floor", "ratio_to_floor_ci_low", "ratio_to_floor_ci_high"]]


def test_floor_slowed_is_separated_from_the_floor_in_every_quiet_cell(tmp_path):
    """Every pair (floor-slowed, floor) that the noise probe did not flag disturbed has its
    ratio_to_floor interval above 1.1. Pairs measured while other processes kept the
    machine busy are flagged instead (their ratios carry a neighbour's load): when every
    pair is, the check needs a quieter machine and is skipped, saying so.

    One fresh measurement is allowed when a pair is not separated: this VM sometimes runs a
    whole process 5-20% slow with nothing in /proc/stat to show it (measured: one round in
    five or so), and one such round among five widens that pair's interval below 1.1. Two
    runs in a row failing says the instrument, not the machine, is at fault."""
    run = _run(tmp_path / "first", SLOWED)
    if not _unseparated(run).empty:
        run = _run(tmp_path / "second", SLOWED)
        failing = _unseparated(run)
        assert failing.empty, failing
    cells = [json.loads(line) for line in (run / "raw.jsonl").read_text().splitlines()]
    for cell in (c for c in cells if c["kind"] == "cell" and c["status"] == "ok"):
        assert cell["processes"] == 5
        assert {"foreign_cpu_cores", "loadavg_before", "loadavg_after",
                "governor"} <= set(cell["noise"])
        assert cell["noise"]["foreign_cpu_cores"] >= 0.0
    env = cells[0]
    assert "blas" in env and "inherited_blas_env" in env
    assert "[" in (run / "report.md").read_text()  # ratios printed with their interval


@pytest.mark.skipif(shutil.which("valgrind") is None,
                    reason="valgrind is not installed (make test installs it when root)")
def test_instruction_counts_repeat_within_one_percent_and_show_beside_times(tmp_path):
    timed = _run(tmp_path, COUNTED.replace('metric = "instructions"', 'metric = "time"'))
    run = _run(tmp_path, COUNTED, "--beside", str(timed))
    assert run == timed / "instructions"
    lines = [json.loads(line) for line in (run / "raw.jsonl").read_text().splitlines()]
    counts = [r["value"] for r in lines if r["kind"] == "repeat"]
    assert len(counts) == 2 and all(r["unit"] == "instructions" for r in lines
                                    if r["kind"] == "repeat")
    assert counts[0] > 10_000  # 50 calls of the hand-written gradient
    assert abs(counts[1] - counts[0]) <= 0.01 * counts[0]
    torch_cell = next(c for c in lines if c["kind"] == "cell" and c["engine"] == "torch")
    assert torch_cell["status"] == "skipped" and "pure-Python" in torch_cell["message"]
    report = (timed / "report.md").read_text()
    assert "## Instructions beside time" in report
    assert "Instructions beside time" in (timed / "index.html").read_text()
