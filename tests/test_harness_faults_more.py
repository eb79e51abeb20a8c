"""Harness faults found by trying it as a user would (issue 12): aborted attempts mixed into
a resumed cell, two runners on one folder, resuming with another config, cells outliving a
killed runner, a full disk, unreadable or duplicated configs, memory-limit failures
mislabelled, and a progress bar unreadable in a log."""

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness import cli, rawio, runner
from harness import config as configuration
from harness.engines import TEST_ENGINES_ENV
from harness.lock import RunLock
from harness.oom import relabel
from harness.report.load import read_raw

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

TINY_TOML = """
[run]
name = "tiny"
experiments = ["E1"]
engines = ENGINES
processes = 1
remeasure = 0
repeats = 2
# exactly run.repeats values, however much the host slows the machine
slowed_repeats_factor = 1
min_repeat_seconds = 0.001
max_cell_seconds = 0.1
timeout_seconds = TIMEOUT
memory_limit_mb = MEMORY
threads = 1

[E1]
variants = ["batch"]
batch_points = 50
"""


def tiny(engines=("floor",), timeout=60, memory=0, **run_keys) -> str:
    text = (TINY_TOML.replace("ENGINES", json.dumps(list(engines)))
            .replace("TIMEOUT", str(timeout)).replace("MEMORY", str(memory)))
    extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in run_keys.items())
    return text.replace("threads = 1\n", "threads = 1\n" + extra)


def environment(tmp: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), TEST_ENGINES_ENV: "1"}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return env


def harness(*args: str, env: dict | None = None, timeout: float = 180):
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT,
                          env=env or environment(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def write_config(folder: Path, text: str, name: str = "config.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def run_tiny(folder: Path, text: str, *extra: str, env: dict | None = None):
    """Run a config; return (exit code, run folder or None, stderr)."""
    done = harness("run", str(write_config(folder, text)), "--out", str(folder / "out"),
                   *extra, env=env)
    lines = done.stdout.strip().splitlines()
    return done.returncode, Path(lines[-1]) if lines else None, done.stderr


def raw_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "raw.jsonl").read_text().splitlines()]


def cell_lines(run_dir: Path) -> dict[str, dict]:
    return {r["cell"]: r for r in raw_records(run_dir) if r["kind"] == "cell"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, str]:
    """A finished run of two floor-like cells, and its config text."""
    folder = tmp_path_factory.mktemp("tiny")
    text = tiny(engines=("floor", "faulty-wrong"))
    code, run_dir, stderr = run_tiny(folder, text, "--no-progress")
    assert code == 0, stderr[-3000:]
    return run_dir, text


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


# 1. a cell's statistics come only from the attempt its cell line closes

def test_resume_never_mixes_an_aborted_attempts_repeats_into_the_cell(tiny_run, tmp_path):
    run_dir, text = tiny_run
    copy = copy_run(run_dir, tmp_path)
    kept = []
    for record in raw_records(copy):
        if record.get("engine") == "floor" and record["kind"] == "cell":
            continue  # the floor cell's line was lost (a crash or full disk while writing)
        if record.get("engine") == "floor" and record["kind"] == "repeat":
            record["value"] = 1000.0  # the aborted attempt's repeats: impossible to miss
        kept.append(json.dumps(record))
    (copy / "raw.jsonl").write_text("\n".join(kept) + '\n{"kind": "cell", "cel')  # torn
    code, _, stderr = run_tiny(tmp_path, text, "--resume", str(copy), "--no-progress")
    assert code == 0, stderr[-3000:]
    floor_cell = next(c for c in cell_lines_tolerant(copy) if c["engine"] == "floor")
    summary = pd.read_csv(copy / "summary.csv").set_index("engine")
    assert summary.loc["floor", "repeats"] == floor_cell["repeats"] == 2
    assert summary.loc["floor", "max_s"] < 1000.0


def cell_lines_tolerant(run_dir: Path) -> list[dict]:
    return read_raw(run_dir / "raw.jsonl").cells


def test_reader_takes_the_repeats_of_the_attempt_the_cell_line_closes(tmp_path):
    cell = "E1/batch/floor/n=50/float64"
    keys = {"cell": cell, "experiment": "E1", "variant": "batch", "engine": "floor",
            "size": 50, "dtype": "float64"}
    lines = [{"kind": "env", "run_id": "r"},
             *({"kind": "repeat", **keys, "attempt": "a1", "value": 9.0} for _ in range(3)),
             *({"kind": "repeat", **keys, "attempt": "a2", "value": v} for v in (1.0, 2.0)),
             {"kind": "cell", **keys, "attempt": "a2", "status": "ok", "repeats": 2}]
    (tmp_path / "raw.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    assert [r["value"] for r in read_raw(tmp_path / "raw.jsonl").repeats] == [1.0, 2.0]


def test_every_line_of_a_cell_carries_its_attempt(tiny_run):
    records = [r for r in raw_records(tiny_run[0]) if r["kind"] != "env"]
    by_cell: dict[str, set] = {}
    for record in records:
        by_cell.setdefault(record["cell"], set()).add(record["attempt"])
    assert len(by_cell) == 2 and all(len(ids) == 1 for ids in by_cell.values())
    assert len({next(iter(ids)) for ids in by_cell.values()}) == 2


# 2. one runner per run folder

def test_a_second_runner_on_a_locked_folder_refuses_naming_folder_and_owner(tiny_run,
                                                                          tmp_path):
    run_dir, text = tiny_run
    copy = copy_run(run_dir, tmp_path)
    before = (copy / "raw.jsonl").read_text()
    with RunLock(copy):
        code, _, stderr = run_tiny(tmp_path, text, "--resume", str(copy), "--no-progress")
    assert code == 2
    assert str(copy) in stderr and f"process {os.getpid()}" in stderr
    assert (copy / "raw.jsonl").read_text() == before


def test_a_stale_lock_of_a_dead_process_is_taken_over_saying_so(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / ".lock").write_text(f"{dead.pid}\n")
    notices = io.StringIO()
    with RunLock(tmp_path, notices):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    assert f"stale lock of process {dead.pid}" in notices.getvalue()
    assert not (tmp_path / ".lock").exists()


# 3. --resume only with the run's own config (--force: added cells only)

def test_resume_with_other_measurement_settings_is_refused_naming_the_keys(tiny_run,
                                                                         tmp_path):
    run_dir, text = tiny_run
    copy = copy_run(run_dir, tmp_path)
    changed = text.replace("repeats = 2", "repeats = 3").replace("batch_points = 50",
                                                                 "batch_points = 60")
    for extra in ((), ("--force",)):
        code, _, stderr = run_tiny(tmp_path, changed, "--resume", str(copy), *extra)
        assert code == 2, stderr[-2000:]
        assert "run.repeats" in stderr and "E1.batch_points" in stderr
    assert len(cell_lines(copy)) == 2


def test_resume_force_accepts_added_cells_with_equal_settings(tiny_run, tmp_path):
    run_dir, text = tiny_run
    copy = copy_run(run_dir, tmp_path)
    added = text.replace('"faulty-wrong"]', '"faulty-wrong", "faulty-raise"]')
    code, _, stderr = run_tiny(tmp_path, added, "--resume", str(copy), "--no-progress")
    assert code == 2 and "run.engines" in stderr and "--force" in stderr
    code, _, stderr = run_tiny(tmp_path, added, "--resume", str(copy), "--force",
                               "--no-progress")
    assert code == 0, stderr[-2000:]
    assert {c["engine"] for c in cell_lines(copy).values()} == {"floor", "faulty-wrong",
                                                                 "faulty-raise"}
    removed = text.replace('["floor", "faulty-wrong"]', '["floor"]')
    code, _, stderr = run_tiny(tmp_path, removed, "--resume", str(copy), "--force")
    assert code == 2 and "run.engines" in stderr


# 4. a cell dies with its runner; SIGHUP is SIGTERM; stale cell folders are removed

def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start_sleeping_run(tmp_path: Path, start: str = "exec") -> tuple[subprocess.Popen, int, Path]:
    """A runner measuring faulty-sleep; returns it, its child's pid (the cell, or with
    start = "fork" the warm interpreter the cell was forked from) and its cell folder."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    config = write_config(tmp_path, tiny(engines=("faulty-sleep",), timeout=600, start=start))
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(config), "--no-progress", "--out",
         str(tmp_path / "out")], cwd=ROOT, env=environment(temporary),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        folders = list(temporary.glob("harness-cell-*"))
        cells = children_of(process.pid)
        if folders and cells:
            return process, cells[0], folders[0]
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the cell did not start in time")


def wait_until_dead(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_cell_dies_with_its_killed_runner_and_its_folder_is_cleaned_next_time(tmp_path):
    process, cell, folder = start_sleeping_run(tmp_path)
    try:
        process.kill()
        process.communicate(timeout=30)
        assert wait_until_dead(cell), "the cell outlived its runner (SIGKILL)"
    finally:
        if alive(cell):
            os.kill(cell, signal.SIGKILL)
    assert folder.exists()
    code, _, stderr = run_tiny(tmp_path, tiny(), "--no-progress",
                               env=environment(tmp_path / "tmp"))
    assert code == 0, stderr[-2000:]
    assert not folder.exists()


def test_a_forked_cell_dies_with_its_killed_runner(tmp_path):
    process, warm, _ = start_sleeping_run(tmp_path, start="fork")
    deadline, cells = time.monotonic() + 60, []
    while not cells and time.monotonic() < deadline:
        cells = children_of(warm)
        time.sleep(0.1)
    try:
        assert cells, "no cell was forked from the warm interpreter"
        process.kill()
        process.communicate(timeout=30)
        assert wait_until_dead(warm), "the warm interpreter outlived its runner (SIGKILL)"
        assert wait_until_dead(cells[0]), "the forked cell outlived its runner (SIGKILL)"
    finally:
        for pid in (warm, *cells):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_sighup_stops_the_run_like_sigterm(tmp_path):
    process, cell, _ = start_sleeping_run(tmp_path)
    try:
        process.send_signal(signal.SIGHUP)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr[-2000:]
        assert "SIGHUP" in stderr and "--resume" in stderr
        assert wait_until_dead(cell)
    finally:
        if alive(cell):
            os.kill(cell, signal.SIGKILL)


# 5. a full disk

@pytest.fixture
def in_process(monkeypatch):
    """An in-process run leaves runner.CHILDREN stopping (it refuses new children); restore
    it afterwards, so later tests of this process (profiling) can spawn children."""
    monkeypatch.setattr(runner.CHILDREN, "stopping", False)


def test_a_full_disk_is_one_message_and_raw_jsonl_stays_whole(tmp_path, monkeypatch, capsys,
                                                               in_process):
    writes = []

    def half_then_full(fd: int, payload: bytes) -> None:
        writes.append(payload)
        if len(writes) > 1:  # the env line goes through; the first cell's lines do not
            os.write(fd, payload[: len(payload) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.write(fd, payload)

    monkeypatch.setattr(rawio, "_write_all", half_then_full)
    config = write_config(tmp_path, tiny())
    code = cli.main(["run", str(config), "--out", str(tmp_path / "out"), "--no-progress"])
    stderr = capsys.readouterr().err
    raw = next((tmp_path / "out").glob("*/raw.jsonl"))
    assert code == 1
    assert f"no space left on device while writing {raw}" in stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    records = [json.loads(line) for line in raw.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["env"]
    assert not (raw.parent / ".lock").exists()


def test_a_full_disk_while_drawing_the_report_is_one_message(tmp_path, monkeypatch, capsys,
                                                             in_process):
    from harness import report

    def full(run_dir: Path) -> dict:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run_dir / "summary.csv"))

    monkeypatch.setattr(report, "build", full)
    config = write_config(tmp_path, tiny())
    code = cli.main(["run", str(config), "--out", str(tmp_path / "out"), "--no-progress"])
    stderr = capsys.readouterr().err
    assert code == 1
    assert "no space left on device while writing" in stderr and "summary.csv" in stderr
    assert "charts" in stderr


# 6. config files that cannot be read, duplicates, names that try to escape

def test_unreadable_config_files_are_one_line_naming_the_file(tmp_path, capsys):
    binary = tmp_path / "latin1.toml"
    binary.write_bytes('[run]\nname = "caf\xe9"\n'.encode("latin-1"))
    for path in (tmp_path, binary):
        assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
        stderr = capsys.readouterr().err
        assert stderr.count("\n") == 1 and str(path) in stderr, stderr


@pytest.mark.parametrize("table, key, values", [("run", "engines", '["floor", "floor"]'),
                                                ("E2", "sizes", "[4, 4]"),
                                                ("E2", "batches", "[1, 2, 1]")])
def test_duplicate_cells_in_a_config_are_refused_naming_the_key(tmp_path, table, key, values):
    path = write_config(tmp_path, f"[{table}]\n{key} = {values}\n")
    with pytest.raises(configuration.ConfigError, match=rf"\[{table}\] {key}: duplicate"):
        configuration.load(path)


def test_duplicate_engines_on_the_command_line_are_refused():
    with pytest.raises(configuration.ConfigError, match="--engines: floor"):
        configuration.restrict(configuration.validate({}), None, ["floor", "floor"])


def test_a_run_name_cannot_leave_the_results_folder(tmp_path):
    run_dir = runner.new_run_dir(tmp_path, "../../etc/x")
    assert run_dir.parent == tmp_path and ".." not in run_dir.name


# 7. failures under RLIMIT_AS are oom, naming the limit

def test_a_library_that_cannot_be_mapped_under_the_memory_limit_is_oom(tmp_path):
    code, run_dir, stderr = run_tiny(tmp_path, tiny(memory=40), "--no-progress")
    assert code == 0, stderr[-2000:]
    (cell,) = cell_lines(run_dir).values()
    assert cell["status"] == "oom", cell["message"]
    assert "run.memory_limit_mb = 40" in cell["message"] and "raise" in cell["message"]
    assert "bad install" not in cell["message"]


def test_numpys_bad_install_advice_under_a_memory_limit_is_relabelled_oom():
    advice = ("ImportError: \n\nIMPORTANT: PLEASE READ THIS FOR ADVICE ON HOW TO SOLVE THIS "
              "ISSUE!\n...caused by a bad install\n\nOriginal error was: libopenblas.so: "
              "failed to map segment from shared object")
    result = relabel({"status": "error", "message": advice}, "", 300)
    assert result["status"] == "oom"
    assert "run.memory_limit_mb = 300" in result["message"]
    assert "failed to map segment" in result["message"]
    assert relabel({"status": "error", "message": advice}, "", 0)["status"] == "error"
    crashed = {"status": "crashed", "message": "exited with code 1 without a result"}
    relabelled = relabel(crashed, "OpenBLAS error: Memory allocation still failed", 64)
    assert relabelled["status"] == "oom"


# 8. progress in a log

def test_progress_in_a_log_is_one_line_per_round_and_per_cell_and_names_the_failed_cells(
        tmp_path):
    code, _, stderr = run_tiny(tmp_path, tiny(engines=("floor", "faulty-raise")))
    assert code == 0, stderr[-2000:]
    assert "\r" not in stderr
    floor = "E1/batch/floor/n=50/float64"
    raised = "E1/batch/faulty-raise/n=50/float64"
    lines = stderr.splitlines()
    assert any(line.startswith("[1/1] E1/batch/n=50 round 1 of 1 ok") and "ETA" in line
               for line in lines), stderr
    assert f"  {floor} ok median " in stderr
    assert f"  {raised} error" in stderr
    assert f"failed cells (1): {raised} (error)" in stderr

