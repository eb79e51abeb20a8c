"""Processes, interleaved rounds, noise and intervals, without real cells: the runner's
scheduling with a fake spawn, the noise probe, compare on synthetic run folders, targets
decided from intervals, and old run folders (no processes, no noise) still drawn."""

import json
import math
import subprocess
import sys

import pytest

from harness import config as configuration
from harness import runner, timing
from harness.cells import Cell
from harness.cli import main
from harness.compare import cells_in_one_run, compare_runs, format_comparison
from harness.report.load import read_raw
from harness.report.markdown import build_sections
from harness.report.summary import summarize
from harness.report.targets import MET, MISSED, UNDECIDED, Target, overall, verdict


def _config(**run):
    config = configuration.validate({"run": {"engines": ["floor", "torch"], **run}})
    return config


def _fake_spawn(log, foreign=lambda call: 0.0, status=lambda cell: "ok"):
    def spawn(spec, timeout, threads):
        log.append(spec["engine"])
        call = len(log)
        return {"status": status(spec["engine"]), "values": [float(call)] * 2, "loops": 1,
                "foreign_cpu_cores": foreign(call), "peak_rss_mb": 10.0 + call,
                "message": "" if status(spec["engine"]) == "ok" else "boom"}
    return spawn


CELLS = [Cell("E3", "jvp", engine, 10, "float64") for engine in ("floor", "torch", "jax")]


def test_engines_of_a_group_take_turns_one_process_each_per_round(monkeypatch):
    log = []
    monkeypatch.setattr(runner, "spawn_cell", _fake_spawn(log))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    out = runner.measure_group(CELLS, _config(processes=3), "run")
    assert log == ["floor", "torch", "jax"] * 3
    floor_cell = out[0][-1]
    assert floor_cell["processes"] == 3 and floor_cell["repeats"] == 6
    repeats = out[0][:-1]
    assert [r["process"] for r in repeats] == [0, 0, 1, 1, 2, 2]
    assert [r["value"] for r in repeats] == [1.0, 1.0, 4.0, 4.0, 7.0, 7.0]
    assert floor_cell["peak_rss_mb"] == 17.0  # the largest of its processes
    assert floor_cell["noise"]["foreign_cpu_cores"] == 0.0 and not floor_cell["disturbed"]


TWO_GROUPS = CELLS[:2] + [Cell("E3", "jvp", engine, 100, "float64") for engine in ("floor",
                                                                                 "torch")]


def _spawn_by_cell(log, stop_at=None):
    def spawn(spec, timeout, threads):
        log.append((spec["engine"], spec["size"], spec["round"]))
        if len(log) == stop_at:
            raise runner.Interrupted("received SIGINT")
        return {"status": "ok", "values": [float(len(log))], "loops": 1,
                "foreign_cpu_cores": 0.0}
    return spawn


@pytest.mark.parametrize("order, expected", [
    ("spread", [("floor", 10, 0), ("torch", 10, 0), ("floor", 100, 0), ("torch", 100, 0),
                ("floor", 10, 1), ("torch", 10, 1), ("floor", 100, 1), ("torch", 100, 1)]),
    ("together", [("floor", 10, 0), ("torch", 10, 0), ("floor", 10, 1), ("torch", 10, 1),
                  ("floor", 100, 0), ("torch", 100, 0), ("floor", 100, 1), ("torch", 100, 1)])])
def test_spread_runs_round_r_of_every_group_before_round_r_plus_1(monkeypatch, order, expected):
    log = []
    monkeypatch.setattr(runner, "spawn_cell", _spawn_by_cell(log))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    config = _config(processes=2, process_order=order)
    lines = list(runner._measure_all(TWO_GROUPS, config, "run", progress=False))
    assert log == expected
    assert [cell[-1]["cell"] for cell in lines] == [c.cell_id for c in TWO_GROUPS]
    assert all(cell[-1]["processes"] == 2 for cell in lines)


def _spawn_slowed(log, slowed):
    """Each process's value is its place in the log; ``slowed(engine, size, round, call)``
    says whether the host slowed all its repeats (full_speed all False)."""
    def spawn(spec, timeout, threads):
        log.append((spec["engine"], spec["size"], spec["round"]))
        flag = not slowed(spec["engine"], spec["size"], spec["round"], len(log))
        return {"status": "ok", "values": [float(len(log))] * 2, "loops": 1,
                "foreign_cpu_cores": 0.0, "full_speed": [flag, flag]}
    return spawn


def test_a_round_with_a_process_slowed_throughout_is_measured_again_at_the_end(monkeypatch):
    log = []
    # floor n=10's process of round 0 (the run's first) stays slowed; later it is not
    monkeypatch.setattr(runner, "spawn_cell", _spawn_slowed(
        log, lambda engine, size, index, call: call == 1))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    config = _config(processes=2, remeasure=0)
    lines = list(runner._measure_all(TWO_GROUPS, config, "run", progress=False))
    # every group's rounds first, then round 0 of the n=10 group again, engines in turn
    assert log[:8] == [("floor", 10, 0), ("torch", 10, 0), ("floor", 100, 0),
                       ("torch", 100, 0), ("floor", 10, 1), ("torch", 10, 1),
                       ("floor", 100, 1), ("torch", 100, 1)]
    assert log[8:] == [("floor", 10, 0), ("torch", 10, 0)]
    cells = {cell[-1]["cell"]: cell for cell in lines}
    floor = cells[TWO_GROUPS[0].cell_id]
    # round 0 now holds the later processes (9 and 10), round 1 the first ones
    assert [(r["process"], r["value"]) for r in floor[:-1]] == [(0, 9.0), (0, 9.0),
                                                                 (1, 5.0), (1, 5.0)]
    assert [r["value"] for r in cells[TWO_GROUPS[1].cell_id][:-1]] == [10.0, 10.0, 6.0, 6.0]
    assert floor[-1]["noise"]["measured_later"] == 1 and not floor[-1]["disturbed"]
    assert cells[TWO_GROUPS[2].cell_id][-1]["noise"]["measured_later"] == 0
    # the group measured again is written last
    assert [cell[-1]["cell"] for cell in lines][-2:] == [c.cell_id for c in TWO_GROUPS[:2]]


def test_a_round_measured_again_is_kept_only_if_fewer_processes_were_slowed(monkeypatch):
    log = []
    # torch n=10 stays slowed in round 1 and again later: the first measurement is kept
    monkeypatch.setattr(runner, "spawn_cell", _spawn_slowed(
        log, lambda engine, size, index, call: (engine, size, index) == ("torch", 10, 1)))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    config = _config(processes=2, remeasure=0)
    lines = list(runner._measure_all(TWO_GROUPS, config, "run", progress=False))
    assert log[8:] == [("floor", 10, 1), ("torch", 10, 1)]
    torch = {cell[-1]["cell"]: cell for cell in lines}[TWO_GROUPS[1].cell_id]
    assert [r["value"] for r in torch[:-1]] == [2.0, 2.0, 6.0, 6.0]
    assert torch[-1]["disturbed"] and torch[-1]["noise"]["measured_later"] == 0


def test_without_remeasure_slowed_no_round_is_measured_again(monkeypatch):
    log = []
    monkeypatch.setattr(runner, "spawn_cell", _spawn_slowed(log, lambda *key: True))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    config = _config(processes=2, remeasure=0, remeasure_slowed=False)
    lines = list(runner._measure_all(TWO_GROUPS, config, "run", progress=False))
    assert len(log) == 8 and len(lines) == 4


def test_an_interrupted_spread_run_writes_the_processes_it_has_as_interrupted(monkeypatch,
                                                                              tmp_path):
    log = []
    monkeypatch.setattr(runner, "spawn_cell", _spawn_by_cell(log, stop_at=5))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    written = []
    with pytest.raises(runner.Interrupted):
        for lines in runner._measure_all(TWO_GROUPS, _config(processes=2), "run", False):
            written.append(lines)
    # stopped in floor n=10's second process: every cell has one of its two
    cells = {lines[-1]["cell"]: lines for lines in written}
    assert set(cells) == {c.cell_id for c in TWO_GROUPS}
    for lines in cells.values():
        assert lines[-1]["status"] == "interrupted" and lines[-1]["processes"] == 1
        assert "1 of 2 processes" in lines[-1]["message"]
        assert [line["kind"] for line in lines] == ["repeat", "cell"]  # its value is kept
    assert cells[CELLS[1].cell_id][0]["value"] == 2.0
    from harness.rawio import append_lines
    append_lines(tmp_path / "raw.jsonl", [line for lines in written for line in lines])
    summary = summarize(read_raw(tmp_path / "raw.jsonl"))
    assert set(summary.status) == {"interrupted"} and summary.median_s.isna().all()


def test_resume_measures_the_interrupted_cells_again(tmp_path):
    from harness.rawio import append_lines
    raw = tmp_path / "raw.jsonl"
    append_lines(raw, [{"kind": "cell", "cell": "a", "status": "ok"},
                       {"kind": "cell", "cell": "b", "status": "interrupted"},
                       {"kind": "cell", "cell": "c", "status": "error"}])
    assert runner.finished_cells(raw) == {"a", "c"}


def test_a_failed_cell_is_not_measured_again_and_keeps_its_failure(monkeypatch):
    log = []
    monkeypatch.setattr(runner, "spawn_cell",
                        _fake_spawn(log, status=lambda e: "error" if e == "torch" else "ok"))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    out = runner.measure_group(CELLS[:2], _config(processes=3), "run")
    assert log == ["floor", "torch", "floor", "floor"]
    torch_lines = out[1]
    assert len(torch_lines) == 1 and torch_lines[0]["status"] == "error"
    assert torch_lines[0]["message"] == "boom" and torch_lines[0]["processes"] == 0


def test_a_disturbed_process_is_measured_again_and_flagged_if_the_load_persists(monkeypatch):
    log = []
    # every process of floor disturbed (1.5 cores of other load); torch only at first
    def foreign(call):
        return 1.5 if log[-1] == "floor" or call == 4 else 0.0
    monkeypatch.setattr(runner, "spawn_cell", _fake_spawn(log, foreign=foreign))
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    out = runner.measure_group(CELLS[:2], _config(processes=1, remeasure=2,
                                                  noise_threshold=0.3), "run")
    assert log == ["floor"] * 3 + ["torch"] * 2
    floor_cell, torch_cell = out[0][-1], out[1][-1]
    assert floor_cell["disturbed"] and floor_cell["noise"]["remeasured"] == 2
    assert not torch_cell["disturbed"] and torch_cell["noise"]["remeasured"] == 1
    assert torch_cell["noise"]["foreign_cpu_cores"] == 0.0  # the quiet attempt was kept
    for key in ("loadavg_before", "loadavg_after", "governor", "foreign_cpu_cores_per_process"):
        assert key in floor_cell["noise"]


def test_busy_cpu_seconds_reads_proc_stat_and_rejects_other_files(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 1 2 3 4\n")
    ticks = __import__("os").sysconf("SC_CLK_TCK")
    # user nice system irq softirq steal = 100 + 20 + 30 + 5 + 5 + 10: idle, iowait excluded
    assert timing.busy_cpu_seconds(str(stat)) == pytest.approx(170 / ticks)
    stat.write_text("intr 1 2 3\n")
    assert timing.busy_cpu_seconds(str(stat)) is None
    assert timing.busy_cpu_seconds(str(tmp_path / "missing")) is None


def test_the_noise_probe_counts_another_process_busy_beside_it():
    if timing.busy_cpu_seconds() is None:
        pytest.skip("no /proc/stat here")
    spinner = subprocess.Popen([sys.executable, "-c",
                                "import time\nend = time.time() + 0.6\nwhile time.time() < end:"
                                " pass"])
    probe = timing.NoiseProbe()
    spinner.wait()
    foreign = probe.stop()
    # the spinner alone kept about one core busy for most of the probe (more load from
    # other processes only adds to it)
    assert foreign is not None and foreign > 0.4


def _write_run(folder, cells, processes=3, disturbed=False, probe_us=None, metric=None):
    """A run folder: cells {(engine, size): list of values per process}; ``probe_us``: the
    machine probe every cell recorded (none, as in a run made before probes, by default);
    ``metric``: run.metric (none written, as in a run made before the key, by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    run = {"processes": processes, **({"metric": metric} if metric else {})}
    lines = [{"kind": "env", "run_id": folder.name, "config": {"run": run}}]
    for (engine, size), per_process in cells.items():
        cell_id = f"E3/jvp/{engine}/n={size}/float64"
        for p, values in enumerate(per_process):
            lines += [{"kind": "repeat", "cell": cell_id, "process": p, "value": v, "unit": "s"}
                      for v in values]
        lines.append({"kind": "cell", "cell": cell_id, "experiment": "E3", "variant": "jvp",
                      "engine": engine, "size": size, "dtype": "float64", "status": "ok",
                      "processes": len(per_process), "disturbed": disturbed,
                      "noise": {"foreign_cpu_cores": 0.9 if disturbed else 0.01,
                                "loadavg_before": 0.1, "loadavg_after": 0.2,
                                "remeasured": 0, "probe_us": probe_us}})
    (folder / "raw.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return folder


def _values(scale, spread=0.01):
    return [[scale * (1 + spread * (p - 1)) * (1 + 0.002 * i) for i in range(3)]
            for p in range(3)]


def test_compare_refuses_runs_of_two_metrics_and_names_the_unit(tmp_path):
    seconds = _write_run(tmp_path / "seconds", {("floor", 10): _values(1e-5)})
    counted = _write_run(tmp_path / "counted", {("floor", 10): _values(6e4)},
                         metric="instructions")
    # a ratio of instructions to seconds means nothing: both orders are refused, naming both
    for a, b in ((seconds, counted), (counted, seconds)):
        with pytest.raises(ValueError, match="instructions") as error:
            compare_runs(a, b)
        assert str(a) in str(error.value) and str(b) in str(error.value)
    old = _write_run(tmp_path / "old", {("floor", 10): _values(1.1e-5)})  # no run.metric
    assert format_comparison(compare_runs(old, seconds)).splitlines()[0].split()[1:3] == \
        ["A", "(s)"]
    again = _write_run(tmp_path / "again", {("floor", 10): _values(6.1e4)},
                       metric="instructions")
    header = format_comparison(compare_runs(counted, again)).splitlines()[0]
    assert "A (instructions)" in header and "B (instructions)" in header


def test_compare_calls_a_real_change_significant_and_noise_not(tmp_path, capsys):
    a = _write_run(tmp_path / "a", {("floor", 10): _values(1.0), ("torch", 10): _values(2.0),
                                    ("floor", 100): _values(5.0)})
    b = _write_run(tmp_path / "b", {("floor", 10): _values(1.0, spread=0.012),
                                    ("torch", 10): _values(2.6),
                                    ("torch", 100): _values(9.0)})
    table = compare_runs(a, b).set_index("engine")
    assert not table.loc["floor", "significant"]
    assert table.loc["torch", "significant"]
    assert table.loc["torch", "ratio_b_over_a"] == pytest.approx(1.3)
    assert table.loc["torch", "ci_low"] <= 1.3 <= table.loc["torch", "ci_high"]
    # the floor's ratio to torch went from 0.5 to 1 / 2.6: outside the interval A printed
    assert table.loc["floor", "ratio_to_torch_a"] == pytest.approx(0.5)
    assert table.loc["floor", "torch_ratio_moved"]
    assert not table.loc["torch", "torch_ratio_moved"]  # torch / torch is 1 in both
    assert not compare_runs(a, b, min_effect=0.5).set_index("engine").loc["torch",
                                                                          "significant"]
    assert cells_in_one_run(a, b) == {"A": ["E3/jvp/floor/n=100/float64"],
                                      "B": ["E3/jvp/torch/n=100/float64"]}
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--json"]) == 0
    out = capsys.readouterr()
    records = json.loads(out.out)
    assert len(records) == 2
    for record in records:
        assert {"experiment", "variant", "engine", "size", "dtype", "ratio", "ci_low",
                "ci_high", "significant"} <= set(record)
    assert "only in run A (1): E3/jvp/floor/n=100/float64" in out.err
    assert main(["compare", str(a), str(b), "--min-effect", "2"]) == 2
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "1 of 2 cells with a number in both runs significant" in text
    assert "1 of 1 ratios to torch in B lie outside the interval A printed" in text
    assert "only in run B (1)" in text


def test_summary_gives_median_and_ratio_intervals_around_their_figures(tmp_path):
    run = _write_run(tmp_path / "r", {("floor", 10): _values(1.0), ("torch", 10): _values(2.0),
                                      ("bobodiff-forward", 10): _values(1.5)})
    summary = summarize(read_raw(run / "raw.jsonl")).set_index("engine")
    for engine in summary.index:
        row = summary.loc[engine]
        assert row.median_ci_low <= row.median_s <= row.median_ci_high
        assert row.ratio_to_floor_ci_low <= row.ratio_to_floor <= row.ratio_to_floor_ci_high
        assert row.processes == 3
    forward = summary.loc["bobodiff-forward"]
    assert forward.ratio_to_torch == pytest.approx(0.75)
    assert 0.7 < forward.ratio_to_torch_ci_low < 0.75 < forward.ratio_to_torch_ci_high < 0.8
    # seeded: the same raw.jsonl gives the same intervals
    again = summarize(read_raw(run / "raw.jsonl")).set_index("engine")
    assert again.equals(summary)


def test_targets_are_decided_from_intervals():
    at_most = Target("E1-loop compiled", "<= 2x the floor", lambda s: (math.nan, ""), 2.0)
    at_least = Target("x", ">= 20x faster than torch", lambda s: (math.nan, ""), 20.0,
                      at_most=False)
    assert verdict(at_most, 1.9, 1.8, 1.95) == MET
    assert verdict(at_most, 1.9, 1.7, 2.3) == UNDECIDED  # the figure is within, not the run
    assert verdict(at_most, 2.2, 2.1, 2.4) == MISSED
    assert verdict(at_least, 25.0, 21.0, 30.0) == MET
    assert verdict(at_least, 25.0, 18.0, 30.0) == UNDECIDED
    assert verdict(at_least, 15.0, 12.0, 19.0) == MISSED
    assert overall([MET, UNDECIDED]) == UNDECIDED and overall([MET, MISSED]) == MISSED
    assert overall([MET, MET]) == MET


def test_an_old_run_folder_without_processes_or_noise_still_draws(tmp_path):
    """raw.jsonl of a run made before processes, noise and intervals were recorded."""
    lines = [{"kind": "env", "run_id": "old", "config": {"run": {"jobs": 1}}}]
    for engine, scale in (("floor", 1.0), ("torch", 2.0)):
        cell_id = f"E3/jvp/{engine}/n=10/float64"
        lines += [{"kind": "repeat", "cell": cell_id, "value": scale * (1 + 0.01 * i),
                   "unit": "s"} for i in range(5)]
        lines.append({"kind": "cell", "cell": cell_id, "experiment": "E3", "variant": "jvp",
                      "engine": engine, "size": 10, "dtype": "float64", "status": "ok"})
    (tmp_path / "raw.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    raw = read_raw(tmp_path / "raw.jsonl")
    summary = summarize(raw)
    torch_row = summary.set_index("engine").loc["torch"]
    assert torch_row.processes == 1 and math.isnan(torch_row.foreign_cpu_cores)
    # five values of one process: an interval from the values themselves
    assert torch_row.median_ci_low < torch_row.median_s < torch_row.median_ci_high
    sections = {s.title: s for s in build_sections(raw, summary)}
    assert "recorded no noise" in " ".join(sections["Noise and intervals"].paragraphs)
    environment = sections["Run"].tables[0][1].set_index("item")["value"]
    assert environment["blas"] == "-" and environment["run.processes"] == "-"
    assert main(["charts", str(tmp_path)]) == 0


def test_the_run_section_names_the_blas_and_an_inherited_coretype(tmp_path):
    blas = [{"internal_api": "openblas", "version": "0.3.31", "architecture": "Haswell",
             "num_threads": 1}]
    lines = [{"kind": "env", "run_id": "r", "blas": blas,
              "inherited_blas_env": {"OPENBLAS_CORETYPE": "Haswell"},
              "config": {"run": {"processes": 3, "repeats": 3, "metric": "time"}}}]
    (tmp_path / "raw.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    raw = read_raw(tmp_path / "raw.jsonl")
    run = {s.title: s for s in build_sections(raw, summarize(raw))}["Run"]
    environment = run.tables[0][1].set_index("item")["value"]
    assert environment["blas"] == "openblas 0.3.31 (Haswell), 1 thread(s)"
    assert environment["inherited OPENBLAS_* / MKL_*"] == "OPENBLAS_CORETYPE=Haswell"
    assert environment["run.processes"] == "3"
    assert any("OPENBLAS_CORETYPE=Haswell" in p and "never changes it" in p
               for p in run.paragraphs)


def test_inherited_blas_variables_are_read_not_set():
    from harness.environment import inherited_blas_variables

    environ = {"OPENBLAS_CORETYPE": "Haswell", "MKL_DEBUG_CPU_TYPE": "5", "OMP_X": "1",
               "PATH": "/bin"}
    assert inherited_blas_variables(environ) == {"MKL_DEBUG_CPU_TYPE": "5",
                                                 "OPENBLAS_CORETYPE": "Haswell"}
    assert environ == {"OPENBLAS_CORETYPE": "Haswell", "MKL_DEBUG_CPU_TYPE": "5",
                       "OMP_X": "1", "PATH": "/bin"}


def test_beside_needs_the_instruction_metric_and_a_run_folder(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('[run]\nengines = ["floor"]\nexperiments = ["E1"]\n')
    (tmp_path / "run").mkdir()
    assert main(["run", str(config), "--beside", str(tmp_path / "run")]) == 2
    assert "--beside needs --metric instructions" in capsys.readouterr().err
    assert main(["run", str(config), "--metric", "instructions", "--beside",
                 str(tmp_path / "run")]) == 2
    assert "no raw.jsonl there" in capsys.readouterr().err
    assert main(["run", str(config), "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err


def test_only_a_cells_first_process_calibrates_the_others_reuse_its_loops(monkeypatch):
    specs = []

    def spawn(spec, timeout, threads):
        specs.append(spec)
        loops = 7 if "loops" not in spec else spec["loops"]
        return {"status": "ok", "values": [0.5, 0.25], "loops": loops, "unit": "s",
                "foreign_cpu_cores": 0.0, "peak_rss_mb": 1.0}

    monkeypatch.setattr(runner, "spawn_cell", spawn)
    runner.measure_group([Cell("E3", "jvp", "floor", 10, "float64")], _config(processes=3),
                         "run")
    assert "loops" not in specs[0]
    assert [(s["loops"], s["repeat_seconds"], s["round"]) for s in specs[1:]] == \
        [(7, 0.25 * 7, 1), (7, 0.25 * 7, 2)]


def test_given_loops_are_timed_without_calibrating():
    calls = []
    spec = {"warmup": 1, "max_cell_seconds": 10.0, "min_repeat_seconds": 5.0, "repeats": 3,
            "loops": 4, "repeat_seconds": 0.001}
    result = timing.timed_repeats(lambda: calls.append(1), spec, first_seconds=0.0)
    assert result["loops"] == 4 and len(result["values"]) == 3
    assert len(calls) == 12  # 3 repeats of 4 loops; a calibration to 5 s would call millions


def test_the_machine_probe_is_recorded_per_process_and_its_median_per_cell(monkeypatch):
    log = []
    probes = iter([0.002, 0.001, 0.004])  # floor's three processes, in rounds

    def spawn(spec, timeout, threads):
        log.append(spec["engine"])
        return {"status": "ok", "values": [1.0], "loops": 1, "foreign_cpu_cores": 0.0,
                "probe_seconds": next(probes)}
    monkeypatch.setattr(runner, "spawn_cell", spawn)
    monkeypatch.setattr(runner, "skip_reason", lambda cell, config: None)
    noise = runner.measure_group(CELLS[:1], _config(processes=3), "run")[0][-1]["noise"]
    assert noise["probe_us_per_process"] == pytest.approx([2000.0, 1000.0, 4000.0])
    assert noise["probe_us"] == pytest.approx(2000.0)
    result = timing.timed_repeats(lambda: None, {"warmup": 1, "max_cell_seconds": 1.0,
                                                 "min_repeat_seconds": 0.001, "repeats": 1},
                                  first_seconds=0.0)
    assert 0.0 < result["probe_seconds"] < 1.0


def test_compare_divides_out_the_machine_drift_its_probe_saw(tmp_path, capsys):
    """Every cell of B 20% faster: with B's probes 20% faster too the machine changed, not
    the code; with the same probes in both runs the change is the code's. The drift is the
    median over cells: one cell's odd probe does not move it."""
    cells = {("floor", 10): _values(1.0), ("torch", 10): _values(2.0),
             ("jax", 10): _values(3.0)}
    faster = {key: [[0.8 * v for v in process] for process in values]
              for key, values in cells.items()}
    a = _write_run(tmp_path / "a", cells, probe_us=1000.0)
    machine = _write_run(tmp_path / "machine", faster, probe_us=800.0)
    code = _write_run(tmp_path / "code", faster, probe_us=1000.0)
    by_machine = compare_runs(a, machine).set_index("engine")
    assert by_machine.significant.all() and not by_machine.significant_beyond_drift.any()
    assert by_machine.loc["floor", "probe_ratio"] == pytest.approx(0.8)
    odd = _write_run(tmp_path / "odd", faster, probe_us=800.0)
    lines = [json.loads(line) for line in (odd / "raw.jsonl").read_text().splitlines()]
    cells = [line for line in lines if line.get("kind") == "cell"]
    cells[0]["noise"]["probe_us"] = 400.0  # one process ran its probe at half speed
    (odd / "raw.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert not compare_runs(a, odd).significant_beyond_drift.any()
    by_code = compare_runs(a, code).set_index("engine")
    assert by_code.significant.all() and by_code.significant_beyond_drift.all()
    capsys.readouterr()
    assert main(["compare", str(a), str(machine)]) == 0
    text = capsys.readouterr().out
    assert "machine drift B/A: 0.800" in text
    assert "0 of the 3 significant cells stay significant" in text
    assert main(["compare", str(a), str(machine), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["significant_beyond_drift"] for r in records] == [False] * 3
    old = _write_run(tmp_path / "old", faster)  # no probe: drift unknown, said so
    assert compare_runs(a, old).significant_beyond_drift.isna().all()
    assert main(["compare", str(a), str(old)]) == 0
    assert "machine drift unknown" in capsys.readouterr().out


def test_the_noise_section_gives_the_probe_spread_over_the_run(tmp_path):
    run = _write_run(tmp_path / "run", {("floor", 10): _values(1.0),
                                        ("torch", 10): _values(2.0)}, probe_us=1500.0)
    raw = read_raw(run / "raw.jsonl")
    sections = {s.title: s for s in build_sections(raw, summarize(raw))}
    text = " ".join(sections["Noise and intervals"].paragraphs)
    assert "Machine probe" in text and "median 1500 us" in text and "spread of 0%" in text
