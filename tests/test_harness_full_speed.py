"""Repeats at full speed: which repeats the host did not slow (short machine probes on either
side), more repeats while too few were, a process with none measured again, and a cell's
statistics from every value, and the ratios between engines from each process's fastest."""

import json

import pytest

from harness import config as configuration
from harness import runner, timing
from harness.cells import Cell
from harness.report.load import read_raw
from harness.report.summary import summarize, values_by_round

CELL = Cell("E3", "jvp", "floor", 10, "float64")


def test_a_repeat_is_at_full_speed_when_the_probes_on_both_sides_are_fast():
    # probes 0-4 bracket repeats 0-3; probe 2 is slow: repeats 1 and 2 were slowed
    assert timing.full_speed([1.0, 1.1, 1.6, 1.0, 1.19]) == [True, False, False, True]
    # the run's fastest probe so far was twice as fast: this process never ran at full speed
    assert timing.full_speed([1.0, 1.0, 1.0], reference=0.5) == [False, False]
    # a slower reference than this process's own fastest probe changes nothing
    assert timing.full_speed([1.0, 1.3], reference=2.0) == [False]


def _timed(monkeypatch, probes, repeats=2, factor=3, budget=10.0):
    """timed_repeats of a no-op with the short probes' times given in order."""
    times = iter(probes)
    monkeypatch.setattr(timing, "machine_probe",
                        lambda rounds=1, iterations=0: next(times, 1.0))
    spec = {"warmup": 1, "max_cell_seconds": budget, "min_repeat_seconds": 1.0,
            "repeats": repeats, "loops": 1, "repeat_seconds": 1e-6,
            "slowed_repeats_factor": factor}
    return timing.timed_repeats(lambda: None, spec, first_seconds=0.0)


def test_planned_repeats_at_full_speed_are_all_that_is_timed(monkeypatch):
    result = _timed(monkeypatch, [1.0] * 10)
    assert len(result["values"]) == 2 and result["full_speed"] == [True, True]


def test_a_slowed_process_times_more_repeats_until_enough_ran_at_full_speed(monkeypatch):
    # slow, slow, slow, then fast: repeats 0-2 slowed, 3 and 4 at full speed
    result = _timed(monkeypatch, [0.5, 2.0, 2.0, 0.5, 0.5, 0.5])
    assert result["full_speed"] == [False, False, False, True, True]
    assert result["probe_fastest_seconds"] == 0.5


def test_more_repeats_stop_at_the_factor_and_at_the_budget(monkeypatch):
    always_slow = [0.5] + [2.0] * 100
    assert len(_timed(monkeypatch, always_slow, repeats=2, factor=3)["values"]) == 6
    assert len(_timed(monkeypatch, always_slow, repeats=2, factor=1)["values"]) == 2
    # the budget (two repeats of the calibrated 1e-6 s) stops them first
    budget = _timed(monkeypatch, always_slow, repeats=2, factor=100, budget=2e-6)
    assert len(budget["values"]) == 2


def _config(**run):
    return configuration.validate({"run": {"engines": ["floor"], **run}})


def test_a_process_the_host_slowed_throughout_is_measured_again(monkeypatch):
    attempts = iter([
        {"full_speed": [False, False], "foreign_cpu_cores": 0.0},  # slowed throughout
        {"full_speed": [False, True], "foreign_cpu_cores": 0.1},   # one full-speed repeat
        {"full_speed": [False, False], "foreign_cpu_cores": 0.0},
    ])
    specs = []

    def spawn(spec, timeout, threads):
        specs.append(dict(spec))
        return {"status": "ok", "values": [1.0, 2.0], "loops": 1, "probe_seconds": 1e-3,
                "probe_fastest_seconds": 1e-4 * len(specs), **next(attempts)}
    monkeypatch.setattr(runner, "spawn_cell", spawn)
    monkeypatch.setattr(runner, "FASTEST_PROBE", [])
    kept = runner.measure_process(CELL, _config(remeasure=2))
    assert len(specs) == 2 and kept["full_speed"] == [False, True] and kept["attempts"] == 2
    # the second attempt was judged against the first one's fastest probe
    assert "probe_reference" not in specs[0] and specs[1]["probe_reference"] == 1e-4


def test_a_cell_whose_process_never_ran_at_full_speed_is_flagged(monkeypatch):
    def spawn(spec, timeout, threads):
        return {"status": "ok", "values": [1.0], "loops": 1, "foreign_cpu_cores": 0.0,
                "full_speed": [False], "probe_fastest_seconds": 1e-4}
    monkeypatch.setattr(runner, "spawn_cell", spawn)
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    monkeypatch.setattr(runner, "FASTEST_PROBE", [])
    lines = runner.measure_group([CELL], _config(processes=2, remeasure=1), "run")[0]
    cell = lines[-1]
    assert cell["disturbed"] and cell["noise"]["full_speed_share"] == 0.0
    assert [line["full_speed"] for line in lines[:-1]] == [False, False]


def _raw(tmp_path, repeats, cells=None):
    """A run folder with one floor cell whose repeats are (process, value, full_speed), or
    with ``cells``: {Cell: such repeats}."""
    lines = [{"kind": "env", "run_id": "r", "config": {}}]
    for cell, rows in (cells or {CELL: repeats}).items():
        keys = {"run_id": "r", "cell": cell.cell_id, **cell.keys()}
        lines += [{"kind": "repeat", **keys, "repeat": i, "process": p, "value": v,
                   "status": "ok", **({} if fast is None else {"full_speed": fast})}
                  for i, (p, v, fast) in enumerate(rows)]
        lines.append({"kind": "cell", **keys, "status": "ok", "loops": 1, "calls_per_op": 1,
                      "processes": 2, "noise": {"full_speed_share": 0.5}})
    path = tmp_path / "raw.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return read_raw(path)


def test_a_cells_statistics_keep_every_value_the_slowed_ones_too(tmp_path):
    # Full-speed values only would leave this cell processes 0 and 2, three values, and
    # its interval from them far too narrow (make bench: 111 of 240 cells significant
    # between two runs of one commit, 17 of 240 from every value).
    raw = _raw(tmp_path, [(0, 1.0, True), (0, 1.6, False), (1, 1.7, False),
                          (1, 1.8, False), (2, 1.1, True), (2, 1.05, True)])
    assert values_by_round(raw)[CELL.cell_id] == {0: [1.0, 1.6], 1: [1.7, 1.8],
                                                   2: [1.1, 1.05]}
    row = summarize(raw).iloc[0]
    assert row.median_s == pytest.approx(1.35) and row.max_s == pytest.approx(1.8)
    assert row.repeats == 6 and row.full_speed_share == pytest.approx(0.5)
    older = _raw(tmp_path, [(0, 1.6, None), (1, 1.7, None)])  # before full_speed existed
    assert values_by_round(older)[CELL.cell_id] == {0: [1.6], 1: [1.7]}


def test_the_ratio_between_engines_takes_each_processs_fastest_value_full_speed_or_not(
        tmp_path):
    # Each round, the slowed engine's fastest value is 1.25x the floor's; in round 0 its only
    # repeat called full speed was misjudged (1.6, slowed by the host).
    slowed = Cell("E3", "jvp", "floor-slowed", 10, "float64")
    raw = _raw(tmp_path, [], {
        CELL: [(0, 1.0, True), (1, 2.0, True), (2, 1.0, False), (2, 1.5, True)],
        slowed: [(0, 1.25, False), (0, 1.6, True), (1, 2.5, True), (2, 1.25, True)]})
    row = summarize(raw).set_index("engine").loc["floor-slowed"]
    assert row.ratio_to_floor == pytest.approx(1.25)
    assert row.ratio_to_floor_ci_low == pytest.approx(1.25)
    assert row.median_s == pytest.approx(1.425)  # of every value: 1.25, 1.25, 1.6, 2.5


def test_a_repeat_longer_than_the_hosts_spells_is_not_judged(monkeypatch):
    times = iter([0.5, 2.0, 2.0, 2.0])
    monkeypatch.setattr(timing, "machine_probe", lambda rounds=1, iterations=0: next(times, 1.0))
    spec = {"warmup": 1, "max_cell_seconds": 10.0, "min_repeat_seconds": 1.0, "repeats": 2,
            "loops": 1, "repeat_seconds": 2 * timing.FULL_SPEED_MAX_REPEAT_SECONDS,
            "slowed_repeats_factor": 3}
    result = timing.timed_repeats(lambda: None, spec, first_seconds=0.0)
    assert result["full_speed"] == [None, None]  # the slow probes do not ask for more
    assert not runner._disturbed({"status": "ok", **result, "foreign_cpu_cores": 0.0},
                                 {"noise_threshold": 0.3})


def test_without_remeasure_slowed_a_slowed_process_is_kept_and_its_cell_not_flagged(
        monkeypatch):
    # The host slows this machine most of the time: a cell flagged for it says nothing
    # (make bench flagged 224 of 360 cells so); full_speed_share tells it instead.
    calls = []

    def spawn(spec, timeout, threads):
        calls.append(spec["round"])
        return {"status": "ok", "values": [1.0], "loops": 1, "foreign_cpu_cores": 0.0,
                "full_speed": [False]}
    monkeypatch.setattr(runner, "spawn_cell", spawn)
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    monkeypatch.setattr(runner, "FASTEST_PROBE", [])
    config = _config(processes=2, remeasure=2, remeasure_slowed=False)
    cell = runner.measure_group([CELL], config, "run")[0][-1]
    assert calls == [0, 1] and not cell["disturbed"]
    assert cell["noise"]["full_speed_share"] == 0.0


def test_a_run_times_the_machine_probe_before_its_first_cell(monkeypatch, tmp_path):
    # The first process of a run is judged against a reference taken before it, not only
    # against its own probes (a process slowed throughout would call itself full speed).
    specs = []

    def spawn(spec, timeout, threads):
        specs.append(dict(spec))
        return {"status": "ok", "values": [1.0], "loops": 1, "foreign_cpu_cores": 0.0,
                "full_speed": [True], "probe_fastest_seconds": 3e-4}
    monkeypatch.setattr(runner, "spawn_cell", spawn)
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    monkeypatch.setattr(runner, "plan", lambda config: [CELL])
    monkeypatch.setattr(runner, "describe", lambda threads: {})
    monkeypatch.setattr(runner, "fastest_short_probe", lambda: 1.5e-4)
    monkeypatch.setattr(runner, "FASTEST_PROBE", [])  # the run's reference: not for later tests
    # execute() ends by killing every child and refusing new ones: undone after the test
    monkeypatch.setattr(runner.CHILDREN, "stopping", False)
    runner.execute(_config(processes=1), tmp_path, "test.toml", progress=False)
    assert specs[0]["probe_reference"] == 1.5e-4
    env = json.loads((tmp_path / "raw.jsonl").read_text().splitlines()[0])
    assert env["run_start_probe_us"] == 150.0


def test_the_fastest_short_probe_is_the_minimum_of_probes_timed_for_the_time_given(
        monkeypatch):
    times = iter([3.0, 1.0, 2.0] + [5.0] * 10**6)
    monkeypatch.setattr(timing, "machine_probe", lambda rounds=1, iterations=0: next(times))
    assert timing.fastest_short_probe(0.01) == 1.0
