"""Profiling (issue 4): one tiny cell under cProfile, Scalene and memory_profiler."""

from __future__ import annotations

import json
import pstats
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness import config as configuration
from harness import profiling
from harness.environment import PROJECT_ROOT

SMOKE = PROJECT_ROOT / "configs" / "smoke.toml"


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """Profile the smoke config's E1-loop reverse-mode cell once with every profiler, through
    the command line, into a fresh run folder."""
    run_dir = tmp_path_factory.mktemp("run")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "profile", str(SMOKE), "--run", str(run_dir),
         "--only", "E1", "--engines", "bobodiff-reverse", "--variants", "loop",
         "--seconds", "0.5", "--no-progress"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return run_dir


def _records(run_dir: Path) -> dict[str, dict]:
    return {r["profiler"]: r for r in profiling.load_index(run_dir)}


def test_every_profiler_succeeds(profiled):
    records = _records(profiled)
    assert set(records) == set(profiling.PROFILERS)
    for profiler, record in records.items():
        assert record["status"] == "ok", (profiler, record.get("message"))
        assert record["cell"] == "E1/loop/bobodiff-reverse/n=20/float64"


def test_cprofile_file_loads_and_shows_the_engine(profiled):
    record = _records(profiled)["cprofile"]
    prof = profiled / "profiles" / record["files"][0]
    stats = pstats.Stats(str(prof))
    functions = {f"{Path(file).name}:{name}" for file, _, name in stats.stats}
    assert "reverse.py:backprop" in functions  # the engine's backward pass was profiled
    assert stats.total_calls > 0
    assert len(record["top"]) == profiling.TOP_FUNCTIONS
    cumulative = [row["cumtime_s"] for row in record["top"]]
    assert cumulative == sorted(cumulative, reverse=True)
    picture = profiled / "profiles" / record["files"][1]
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scalene_profile_has_lines_of_the_cells_own_code(profiled):
    record = _records(profiled)["scalene"]
    data = json.loads((profiled / "profiles" / record["files"][0]).read_text())
    busy = {Path(name).name for name, entry in data["files"].items()
            if any(line["n_cpu_percent_python"] + line["n_cpu_percent_c"] > 0
                   for line in entry["lines"])}
    assert busy & {"reverse.py", "core.py", "rules.py", "functions.py"}, busy
    assert record["cpu_python_percent"] + record["cpu_native_percent"] > 0
    assert record["lines"] and "bobodiff/" in " ".join(row["line"] for row in record["lines"])
    html = profiled / "profiles" / record["files"][1]
    assert html.suffix == ".html" and "<html" in html.read_text(errors="replace")[:5000].lower()


def test_memory_series_has_a_positive_peak_sampled_finely(profiled):
    record = _records(profiled)["memory"]
    series = json.loads((profiled / "profiles" / record["files"][0]).read_text())["series_mib"]
    assert len(series) >= 10
    times = [t for t, _ in series]
    assert times == sorted(times)
    assert record["interval_s"] <= 0.01
    assert record["peak_mib"] == pytest.approx(max(m for _, m in series))
    assert record["peak_mib"] > 10  # a Python process with NumPy and bobodiff loaded


def test_page_and_report_show_the_profiles(profiled):
    page = (profiled / "index.html").read_text()
    for record in _records(profiled).values():
        for name in record["files"]:
            assert f"profiles/{name}" in page, name
    report = (profiled / "report.md").read_text()
    assert "Profiles" in report and "cProfile, top 20 by cumulative time" in report
    assert "Scalene" in report and "memory_profiler peak MiB" in report


def test_scalene_empty_profile_is_detected_and_the_cell_lengthened(tmp_path, monkeypatch):
    config = configuration.load(SMOKE)
    cell = next(c for c in profiling.representative_cells(config)
                if c.cell_id.startswith("E1/loop/bobodiff-reverse"))
    real_read = profiling._read_json
    calls = []

    def first_empty(path):
        calls.append(path)
        return {} if len(calls) == 1 else real_read(path)

    monkeypatch.setattr(profiling, "_read_json", first_empty)
    record = profiling.profile_cell(cell, "scalene", config, tmp_path, 0.3)
    assert record["status"] == "ok"
    assert record["lengthened"] == 1
    assert len(calls) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_snakeviz_serves_the_profile_on_loopback_only(profiled):
    prof = profiling.choose_profile(profiled, None)
    port = _free_port()
    command = profiling.snakeviz_command(prof, port)
    assert command[command.index("-H") + 1] == "127.0.0.1" and "-s" in command
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = profiling.snakeviz_url(prof, port)
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    body = response.read().decode(errors="replace")
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("snakeviz did not answer")
        assert "snakeviz" in body.lower()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_choose_profile_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="make profile"):
        profiling.choose_profile(tmp_path, None)


def test_profiling_refuses_a_run_folder_another_process_writes(tmp_path):
    from harness.lock import RunLock

    with RunLock(tmp_path):
        done = subprocess.run(
            [sys.executable, "-m", "harness", "profile", str(SMOKE), "--run", str(tmp_path),
             "--only", "E1", "--engines", "floor", "--variants", "loop",
             "--profilers", "cprofile", "--seconds", "0.05"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert str(tmp_path) in done.stderr and "profiles" not in {p.name for p in
                                                               tmp_path.iterdir()}


def test_profiling_progress_in_a_log_is_one_line_per_profile(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "harness", "profile", str(SMOKE), "--run", str(tmp_path),
         "--only", "E1", "--engines", "floor", "--profilers", "cprofile",
         "--seconds", "0.05"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert [line.split()[0] for line in lines] == ["[1/2]", "[2/2]"]
    assert all(" cprofile E1/" in line and " ok " in line for line in lines)
