"""The one supervisor of the harness's children (harness.supervise): timing processes forked
from warm interpreters give what fresh ones give, one interpreter per round, a failing warm
interpreter never loses a cell, and a forked cell that hangs is killed at its timeout."""

import os
import signal
import time
from pathlib import Path

import pytest

from harness import config as configuration
from harness import runner
from harness.cells import Cell
from harness.engines import TEST_ENGINES_ENV
from harness.supervise import WarmPool

pytestmark = pytest.mark.slow

CELL = Cell("E3", "jvp", "floor", 10, "float64")


def _config(**run):
    return configuration.validate({"run": {"engines": ["floor"], "repeats": 2,
                                           "min_repeat_seconds": 0.005, "remeasure": 0,
                                           "slowed_repeats_factor": 1,  # exactly 2 a process
                                           **run}})


@pytest.fixture
def warm(monkeypatch):
    """A fresh pool for the test, closed afterwards; children accepted."""
    pool = WarmPool()
    monkeypatch.setattr("harness.runner.WARM", pool)
    monkeypatch.setattr(runner, "LEARNED_IMPORTS", {})
    monkeypatch.setattr(runner.CHILDREN, "stopping", False)
    yield pool
    pool.close_all()


def test_a_forked_cell_checks_and_times_like_a_fresh_one(warm):
    forked = runner.measure_cell(CELL, _config(start="fork"), "run")[-1]
    fresh = runner.measure_cell(CELL, _config(start="exec"), "run")[-1]
    for cell in (forked, fresh):
        assert cell["status"] == "ok", cell["message"] + cell["stderr_tail"]
        assert cell["processes"] == 3 and cell["repeats"] == 6
    # the same inputs and the same code: the same check against the reference
    assert forked["max_error"] == fresh["max_error"]
    assert forked["description"] == fresh["description"]
    assert warm.failures == []
    assert len(warm.interpreters) == 3  # the fresh cell never asked for one


def test_each_round_forks_from_its_own_interpreter(warm):
    config = _config(start="fork")
    runner.measure_cell(CELL, config, "run")
    pids = {key[3]: interpreter.process.pid for key, interpreter in warm.interpreters.items()}
    assert sorted(pids) == [0, 1, 2] and len(set(pids.values())) == 3
    runner.measure_cell(Cell("E3", "jvp", "floor", 20, "float64"), config, "run")
    again = {key[3]: interpreter.process.pid for key, interpreter in warm.interpreters.items()}
    assert again == pids  # the next cell reuses them: imports paid once per round


def test_a_killed_warm_interpreter_is_replaced_and_the_cell_still_measured(warm):
    config = _config(start="fork")
    runner.measure_cell(CELL, config, "run")
    before = {key: i.process.pid for key, i in warm.interpreters.items()}
    for interpreter in warm.interpreters.values():
        os.kill(interpreter.process.pid, signal.SIGKILL)
        interpreter.process.wait()
    cell = runner.measure_cell(CELL, config, "run")[-1]
    assert cell["status"] == "ok" and cell["processes"] == 3, cell["message"]
    after = {key: i.process.pid for key, i in warm.interpreters.items()}
    assert set(after) == set(before) and not set(after.values()) & set(before.values())


def test_an_interpreter_that_cannot_start_falls_back_to_a_fresh_process(tmp_path):
    pool = WarmPool()
    spec = {"engine": "floor", "round": 0}
    outcome = pool.run(spec, ("no_such_package_for_bobodiff",), 1, tmp_path / "log", 30)
    assert outcome is None
    assert pool.failures and "no_such_package_for_bobodiff" in pool.failures[0]
    assert pool.interpreters == {}


def test_a_forked_cell_past_its_timeout_is_killed_and_the_interpreter_serves_on(
        warm, tmp_path, monkeypatch):
    monkeypatch.setenv(TEST_ENGINES_ENV, "1")  # faulty-sleep sleeps past any timeout
    config = _config(start="fork")
    sleeping = {**runner.cell_spec(Cell("E3", "jvp", "faulty-sleep", 10, "float64"), config),
                "round": 0, "result_path": str(tmp_path / "sleep.json")}
    started = time.monotonic()
    returncode, timed_out = warm.run(sleeping, (), 1, tmp_path / "sleep.log", 1.0)
    assert timed_out and returncode == -signal.SIGKILL
    assert time.monotonic() - started < 20
    (interpreter,) = warm.interpreters.values()
    spec = {**runner.cell_spec(CELL, config), "round": 0,
            "result_path": str(tmp_path / "ok.json")}
    assert warm.run(spec, (), 1, tmp_path / "ok.log", 60) == (0, False)
    assert Path(spec["result_path"]).exists() and warm.failures == []
    assert list(warm.interpreters.values()) == [interpreter]  # the same one served on


def test_later_rounds_fork_from_interpreters_that_preloaded_the_first_processes_imports(
        warm):
    pytest.importorskip("torch")
    cell = Cell("E3", "jvp", "torch", 1, "float64")
    line = runner.measure_cell(cell, _config(engines=["torch"], start="fork"), "run")[-1]
    assert line["status"] == "ok" and line["processes"] == 3, line["message"]
    preloads = {key[3]: key[1] for key in warm.interpreters}
    assert preloads[0] == ()  # the first process imports lazily, as a fresh one would
    # torch.func's first call imports torch._dynamo: later rounds have it imported already
    assert "torch._dynamo" in preloads[1] and preloads[1] == preloads[2]


def test_a_warm_interpreter_left_with_threads_after_its_imports_refuses_to_fork(
        tmp_path, monkeypatch):
    (tmp_path / "starts_a_thread.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    pool = WarmPool()
    outcome = pool.run({"engine": "floor", "round": 0}, (), 1, tmp_path / "log", 30,
                       preload=("starts_a_thread",))
    assert outcome is None and "2 threads" in pool.failures[0]
