"""The runner: every cell in fresh subprocesses, results appended to raw.jsonl as cells end.

It knows cells, engines and experiments only by name (through the registries). A cell is
measured by run.processes fresh processes; the engines of one (experiment, variant, size)
take turns, one process each per round (A B C, A B C, ...), so slow drift of the machine
hits every engine alike, and (run.process_order = "spread") round r of every group runs
before round r + 1 of any, so a cell's processes sample the whole run's machine states. A
process that saw other load on the machine (noise above run.noise_threshold) is measured
again, up to run.remeasure times; with run.remeasure_slowed, a round in which a process
stayed slowed throughout is measured again at the end of the run. Each cell's lines are
written, flushed and fsynced when its group's last round ends, so an interruption (SIGINT,
SIGTERM, SIGHUP) leaves a valid raw.jsonl; the cells it cut short are written with status
"interrupted" and the values they had, and ``resume`` runs every cell without a finished
"cell" line.
A cell dies with its runner (harness.lifecycle), even when the runner is killed outright.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.cells import Cell, plan
from harness.engines import registry as engine_registry
from harness.environment import describe, governor
from harness.experiments import registry as experiment_registry
from harness.lifecycle import cell_folder_prefix, clean_stale_cell_folders
from harness.oom import relabel
from harness.progress import Progress
from harness.rawio import append_lines, new_attempt_id, read_raw
from harness.supervise import CHILDREN, WARM, child_env, run_child
from harness.timing import fastest_short_probe

RAW_NAME = "raw.jsonl"
STDERR_TAIL_CHARS = 2000
RUN_KEYS = ("dtype", "threads", "seed", "warmup", "repeats", "min_repeat_seconds",
            "max_cell_seconds", "memory_limit_mb", "metric", "start", "slowed_repeats_factor")
# Engines whose import alone takes minutes under valgrind: no instruction counts for them.
NOT_COUNTED = ("torch", "jax")


class Interrupted(Exception):
    """The run was stopped by SIGINT, SIGTERM or SIGHUP; raw.jsonl holds every finished cell."""


def now_iso() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_dir(root: Path, name: str) -> Path:
    """Create results/<UTC timestamp>-<name>/ (suffixed if it exists) and return it."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
    candidate, suffix = root / f"{stamp}-{safe}", 1
    while candidate.exists():
        suffix += 1
        candidate = root / f"{stamp}-{safe}-{suffix}"
    candidate.mkdir(parents=True)
    return candidate


def finished_cells(path: Path) -> set[str]:
    """Cell ids that already have a "cell" line in raw.jsonl (corrupted lines ignored),
    but for those an interruption cut short (status "interrupted": measured again)."""
    if not path.exists():
        return set()
    return {str(cell["cell"]) for cell in read_raw(path).cells
            if cell.get("status") != "interrupted"}


def _end_with_newline(path: Path) -> None:
    """If a crash left half a line at the end, close it so the next line stays intact."""
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb+") as raw:
            raw.seek(-1, os.SEEK_END)
            if raw.read(1) != b"\n":
                raw.write(b"\n")


def skip_reason(cell: Cell, config: dict[str, Any]) -> str | None:
    """Why a cell is not run (engine missing, not meaningful, beyond a size cap), or None."""
    engine = engine_registry()[cell.engine]
    experiment = experiment_registry()[cell.experiment]
    return (engine.unavailable_reason()
            or engine.skip_reason(cell.experiment, experiment.workload(cell.variant))
            or experiment.skip_reason(cell.engine, cell.variant, cell.size,
                                      config[cell.experiment])
            or _metric_skip_reason(engine.requires, config["run"].get("metric", "time")))


def _metric_skip_reason(requires: tuple[str, ...], metric: str) -> str | None:
    if metric != "instructions":
        return None
    if shutil.which("valgrind") is None:
        return ("run.metric = 'instructions' needs valgrind, which is not installed "
                "(make test / make bench install it with apt-get when run as root)")
    heavy = [name for name in requires if name in NOT_COUNTED]
    if heavy:
        return (f"instructions are counted for pure-Python cells only: importing {heavy[0]} "
                "under valgrind takes minutes")
    return None


def callgrind_command(out_file: str) -> tuple[str, ...]:
    """The cell command under callgrind, zeroing and dumping counts at the timing markers
    (see harness.timing.counted_instructions)."""
    return ("valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out_file}",
            "--zero-before=getppid", "--dump-before=getpgrp", *CELL_COMMAND)


CELL_COMMAND = (sys.executable, "-m", "harness._cell")


def spawn_cell(spec: dict[str, Any], timeout: float, threads: int,
               command: tuple[str, ...] = CELL_COMMAND) -> dict[str, Any]:
    """Run one cell in its own process; return its result dict.

    With spec["start"] == "fork" (run.start, the default) the process is forked from a warm
    interpreter that has imported the engine's packages and the modules spec["preload"]
    names (harness.supervise.WarmPool), else
    (or if no warm interpreter can serve) it is a fresh ``python -m harness._cell``. A
    profiler passes its own command that ends by running harness._cell (e.g.
    ``python -m cProfile -o cell.prof -m harness._cell``); the instruction metric runs the
    cell under callgrind. Those, and cells under run.memory_limit_mb, are started fresh.
    """
    metric = spec.get("metric", "time")
    with tempfile.TemporaryDirectory(prefix=cell_folder_prefix()) as tmp:
        result_path, log_path = Path(tmp) / "result.json", Path(tmp) / "output.log"
        spec = {**spec, "result_path": str(result_path)}
        if metric == "instructions" and command == CELL_COMMAND:
            spec["callgrind_out"] = str(Path(tmp) / "callgrind.out")
            command = callgrind_command(spec["callgrind_out"])
        preload = tuple(spec.pop("preload", ()))
        outcome = None
        # Under a memory limit the whole process, imports included, must fit: start fresh.
        if (spec.get("start") == "fork" and command == CELL_COMMAND
                and not int(spec.get("memory_limit_mb", 0))):
            packages = tuple(engine_registry()[spec["engine"]].requires)
            outcome = WARM.run(spec, packages, threads, log_path, timeout, preload)
        if outcome is None:
            outcome = run_child(command, log_path, timeout, child_env(threads, metric),
                                stdin=json.dumps(spec).encode())
        returncode, timed_out = outcome
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-STDERR_TAIL_CHARS:]
        result = relabel(_classify(returncode, timed_out, timeout, result_path),
                         tail, int(spec.get("memory_limit_mb", 0)))
    result["stderr_tail"] = tail + result.pop("traceback", "")
    return result


def _classify(returncode: int | None, timed_out: bool, timeout: float, result_path: Path) -> dict:
    if timed_out:
        return {"status": "timeout",
                "message": f"killed after {timeout:g} s (run.timeout_seconds)"}
    if result_path.exists():
        try:
            return json.loads(result_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            pass
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (possibly the kernel's OOM killer)" if name == "SIGKILL" else ""
        return {"status": "crashed", "message": f"killed by signal {name}{hint}"}
    return {"status": "crashed", "message": f"exited with code {returncode} without a result"}


def cell_spec(cell: Cell, config: dict[str, Any]) -> dict[str, Any]:
    """The JSON spec sent to the cell's subprocess."""
    run = config["run"]
    params = {k: v for k, v in config[cell.experiment].items() if k != "engines"}
    return {**cell.keys(), "params": params, **{key: run[key] for key in RUN_KEYS}}


def cell_lines(cell: Cell, config: dict[str, Any], result: dict[str, Any], run_id: str,
               started: str, wall: float) -> list[dict[str, Any]]:
    """raw.jsonl lines of one finished cell: one per repeat (if ok), then the cell line.

    ``result`` is one process's result or several combined (see combine_processes): its
    ``process`` list, when given, names the process of each value.
    """
    experiment = experiment_registry()[cell.experiment]
    calls = experiment.calls_per_op(cell.variant, cell.size, config[cell.experiment])
    keys = {"run_id": run_id, "cell": cell.cell_id, **cell.keys(),
            "attempt": new_attempt_id()}  # the reader keeps only the attempt a cell line closes
    values = result.get("values", []) if result.get("status") in ("ok", "interrupted") else []
    shares = result.get("kernel_shares") or [None] * len(values)
    faults = result.get("page_faults") or [None] * len(values)
    speeds = result.get("full_speed") or [None] * len(values)
    owners = result.get("process") or [0] * len(values)
    unit = result.get("unit", "s")
    lines = [{"kind": "repeat", **keys, "repeat": index, "process": owner, "value": value,
              "unit": unit, "loops": result.get("loops"), "calls_per_op": calls,
              "status": "ok", "kernel_share": share, "page_faults_per_call": fault,
              "full_speed": speed}
             for index, (value, share, fault, owner, speed)
             in enumerate(zip(values, shares, faults, owners, speeds))]
    lines.append({
        "kind": "cell", **keys, "status": result.get("status", "crashed"),
        "message": result.get("message", ""), "stderr_tail": result.get("stderr_tail", ""),
        "repeats": len(values), "loops": result.get("loops"), "calls_per_op": calls,
        "peak_rss_mb": result.get("peak_rss_mb"), "base_rss_mb": result.get("base_rss_mb"),
        "peak_rss_scope": result.get("peak_rss_scope"),
        "max_error": result.get("max_error"), "description": result.get("description", ""),
        "first_call_seconds": result.get("first_call_seconds"),
        "threads": config["run"]["threads"], "started": started, "wall_seconds": wall,
        "metric": config["run"].get("metric", "time"), "unit": unit,
        "processes": result.get("processes", 1 if values else 0),
        "noise": result.get("noise"), "disturbed": bool(result.get("disturbed", False))})
    return lines


def measure_process(cell: Cell, config: dict[str, Any], round_index: int = 0,
                    calibrated: dict[str, Any] | None = None) -> dict[str, Any]:
    """One process's result for a cell (in round ``round_index``); measured again (up to
    run.remeasure times) while other load on the machine exceeded run.noise_threshold or
    the host slowed every repeat (none at full speed). Keeps the attempt with the most
    full-speed repeats, then the quietest. ``calibrated``: the result of the cell's first
    process, whose loops this one reuses instead of calibrating again."""
    run = config["run"]
    attempts = []
    spec = {**cell_spec(cell, config), "round": round_index, **_calibration(calibrated)}
    if round_index > 0:
        spec["preload"] = _learn_imports(cell, calibrated)
    for _ in range(1 + int(run["remeasure"])):
        if FASTEST_PROBE:
            spec["probe_reference"] = min(FASTEST_PROBE)
        result = spawn_cell(spec, run["timeout_seconds"], run["threads"])
        attempts.append(result)
        if result.get("probe_fastest_seconds"):
            FASTEST_PROBE[:] = [min([*FASTEST_PROBE, result["probe_fastest_seconds"]])]
        if not _disturbed(result, run):
            break
    quietest = min(attempts, key=lambda r: (-(r.get("full_speed") or []).count(True),
                                            r.get("foreign_cpu_cores") or 0.0))
    return {**quietest, "attempts": len(attempts)}


# The fastest short machine probe of the run so far (the first timed before the run's first
# cell, timing.fastest_short_probe): a process judges which of its repeats ran at full speed
# against it (harness.timing.full_speed), so that a process the host slowed from start to
# end does not take its slow state for full speed.
FASTEST_PROBE: list[float] = []


def _calibration(result: dict[str, Any] | None) -> dict[str, Any]:
    """The loops (and the time they took) a later process of a cell reuses: those of its
    first process, when it measured time."""
    if not result or result.get("status") != "ok" or result.get("unit", "s") != "s":
        return {}
    values, loops = result.get("values") or [], result.get("loops")
    if not values or not loops:
        return {}
    return {"loops": int(loops), "repeat_seconds": float(min(values)) * int(loops)}


# (engine, experiment, variant) -> the modules its first measured process imported while it
# built the workload and made its first call (torch.func's first call imports torch._dynamo:
# 800 modules, 1-3 s). Later rounds fork from a warm interpreter that imported them already:
# their processes then hold what a fresh process holds after its first call, sooner. A
# cell's first process never gets them, so its first_call_seconds keeps the lazy imports.
LEARNED_IMPORTS: dict[tuple[str, str, str], tuple[str, ...]] = {}


def _learn_imports(cell: Cell, first: dict[str, Any] | None) -> tuple[str, ...]:
    key = (cell.engine, cell.experiment, cell.variant)
    if key not in LEARNED_IMPORTS and first and first.get("imported") is not None:
        LEARNED_IMPORTS[key] = tuple(first.get("imported") or ())
    return LEARNED_IMPORTS.get(key, ())


def _disturbed(result: dict[str, Any], run: dict[str, Any]) -> bool:
    """Other processes used more than run.noise_threshold cores, or (with
    run.remeasure_slowed) the host slowed every repeat (none ran at full speed:
    harness.timing.full_speed). Without it a slowed process is only counted in
    full_speed_share: the host slows this machine most of the time, and make bench flagged
    224 of its 360 cells (2026-12-03) when every slowed process flagged its cell."""
    if result.get("status") != "ok":
        return False
    foreign, speeds = result.get("foreign_cpu_cores"), result.get("full_speed")
    slowed = (bool(speeds) and all(speed is False for speed in speeds)
              and bool(run.get("remeasure_slowed", True)))
    return slowed or (foreign is not None and foreign > float(run["noise_threshold"]))


def _slowed(result: dict[str, Any]) -> bool:
    """No repeat of this process ran at full speed (harness.timing.full_speed)."""
    speeds = result.get("full_speed")
    return result.get("status") == "ok" and bool(speeds) and not any(speeds)


def _round_quality(results: list[dict[str, Any]]) -> tuple[int, int]:
    """Lower is better: processes slowed throughout, then fewer full-speed repeats."""
    return (sum(_slowed(result) for result in results),
            -sum((result.get("full_speed") or []).count(True) for result in results))


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def combine_processes(results: list[dict[str, Any]], run: dict[str, Any],
                      load_before: float | None) -> dict[str, Any]:
    """One cell's result from its processes' results: their values pooled (each tagged
    with its process), the first failure if any process failed, and the noise they saw."""
    failed = [r for r in results if r.get("status") != "ok"]
    combined = dict(failed[0] if failed else results[-1])
    ok = [] if failed else results
    for key in ("values", "kernel_shares", "page_faults", "full_speed"):
        combined[key] = [v for r in ok for v in (r.get(key) or [None] * len(r["values"]))]
    combined["process"] = [p for p, r in enumerate(ok) for _ in r["values"]]
    combined["processes"] = len(ok)
    peaks = [r["peak_rss_mb"] for r in results if r.get("peak_rss_mb") is not None]
    combined["peak_rss_mb"] = max(peaks) if peaks else None
    combined["first_call_seconds"] = results[0].get("first_call_seconds")
    foreign = [r.get("foreign_cpu_cores") for r in results]
    known = [f for f in foreign if f is not None]
    probes = [r.get("probe_seconds") for r in results]
    timed = [p for p in probes if p is not None]
    combined["noise"] = {"foreign_cpu_cores": max(known) if known else None,
                         "foreign_cpu_cores_per_process": foreign,
                         "probe_us": statistics.median(timed) * 1e6 if timed else None,
                         "probe_us_per_process": [None if p is None else p * 1e6
                                                  for p in probes],
                         "remeasured": sum(r.get("attempts", 1) - 1 for r in results),
                         "measured_later": sum(bool(r.get("measured_later"))
                                               for r in results),
                         "loadavg_before": load_before, "loadavg_after": _loadavg(),
                         "governor": governor()}
    flags = [flag for flag in combined["full_speed"] if flag is not None]
    combined["noise"]["full_speed_share"] = sum(flags) / len(flags) if flags else None
    combined["disturbed"] = any(_disturbed(r, run) for r in results)
    return combined


def _group(cells: list[Cell]) -> list[list[Cell]]:
    """Cells grouped by (experiment, variant, size, dtype), in plan order."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.experiment, cell.variant, cell.size, cell.dtype), []).append(cell)
    return list(groups.values())


class _Group:
    """The cells of one (experiment, variant, size, dtype) while they are measured: each
    round gives every cell still measured one more process, engines in turn."""

    def __init__(self, cells: list[Cell], config: dict[str, Any]) -> None:
        self.cells, self.config = cells, config
        self.reasons = {cell: skip_reason(cell, config) for cell in cells}
        self.measured = [cell for cell in cells if not self.reasons[cell]]
        self.results: dict[Cell, list[dict[str, Any]]] = {cell: [] for cell in self.measured}
        self.started: dict[Cell, str] = {}
        self.wall = {cell: 0.0 for cell in cells}
        self.load_before: float | None = None

    def measure_round(self, round_index: int) -> None:
        """One process for each cell whose earlier processes succeeded."""
        if not self.started:
            self.started = {cell: now_iso() for cell in self.cells}
            self.load_before = _loadavg()
        for cell in self.measured:
            done = self.results[cell]
            if done and done[-1].get("status") != "ok":
                continue  # a failed cell is not measured again in later rounds
            start = time.monotonic()
            result = measure_process(cell, self.config, round_index, done[0] if done else None)
            if CHILDREN.stopping:
                return  # the run is being stopped: this process was killed, not measured
            done.append(result)
            self.wall[cell] += time.monotonic() - start

    def slowed_rounds(self) -> list[int]:
        """Rounds in which a process stayed slowed from start to end after its remeasures
        (with run.remeasure_slowed): measured again later, see measure_round_again."""
        if not bool(self.config["run"].get("remeasure_slowed", True)):
            return []
        return sorted({index for results in self.results.values()
                       for index, result in enumerate(results) if _slowed(result)})

    def measure_round_again(self, round_index: int) -> None:
        """Measure round ``round_index`` again, every engine in turn as the first time
        (so its ratios stay paired), and keep it if fewer of its processes were slowed
        throughout (ties: more full-speed repeats). A remeasure at once lands in the same
        spell of the host: in two aa runs (2026-12-03) one floor process in 161 stayed
        1.5-1.7x slow after its two, enough to pull floor-slowed's interval down to 1.0."""
        cells = [cell for cell in self.measured if len(self.results[cell]) > round_index
                 and self.results[cell][round_index].get("status") == "ok"]
        again = {}
        for cell in cells:
            start = time.monotonic()
            result = measure_process(cell, self.config, round_index, self.results[cell][0])
            if CHILDREN.stopping:
                return  # the run is being stopped: keep the round measured first
            again[cell] = {**result, "measured_later": True}
            self.wall[cell] += time.monotonic() - start
        if any(result.get("status") != "ok" for result in again.values()):
            return
        first = [self.results[cell][round_index] for cell in cells]
        if _round_quality(list(again.values())) < _round_quality(first):
            for cell, result in again.items():
                self.results[cell][round_index] = result

    def lines(self, run_id: str, interrupted: bool = False) -> list[list[dict[str, Any]]]:
        """Each cell's raw.jsonl lines from the processes measured so far. ``interrupted``
        (the run stops before the group's last round): a cell without a process is left
        out, one with fewer than run.processes is written with status "interrupted" and the
        values it has (kept, not counted: ``resume`` measures it again)."""
        run = self.config["run"]
        wanted = int(run["processes"])
        out = []
        for cell in self.cells:
            results = self.results.get(cell, [])
            if self.reasons[cell]:
                result = {"status": "skipped", "message": self.reasons[cell]}
            elif interrupted and not results:
                continue
            else:
                result = combine_processes(results, run, self.load_before)
                if interrupted and result.get("status") == "ok" and len(results) < wanted:
                    result["status"] = "interrupted"
                    result["message"] = (f"interrupted after {len(results)} of {wanted} "
                                         "processes; values kept, not counted (resume "
                                         "measures the cell again)")
            out.append(cell_lines(cell, self.config, result, run_id,
                                  self.started.get(cell) or now_iso(), self.wall[cell]))
        return out


def measure_group(cells: list[Cell], config: dict[str, Any],
                  run_id: str) -> list[list[dict[str, Any]]]:
    """Measure the cells of one group in interleaved rounds (one process per engine per
    round, run.processes rounds, back to back); return each cell's raw.jsonl lines.

    A cell whose process fails is not measured again in later rounds.
    """
    group = _Group(cells, config)
    for round_index in range(int(config["run"]["processes"])):
        group.measure_round(round_index)
    return group.lines(run_id)


def measure_cell(cell: Cell, config: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """Run or skip one cell alone (run.processes processes); return its raw.jsonl lines."""
    return measure_group([cell], config, run_id)[0]


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(f"received {signal.Signals(signum).name}")


def execute(config: dict[str, Any], run_dir: Path, config_path: str,
            resume: bool = False, progress: bool = True) -> dict[str, int]:
    """Measure every planned cell not yet in run_dir/raw.jsonl; return counts per status.

    Raises Interrupted on SIGINT/SIGTERM/SIGHUP after killing the running cells; raw.jsonl
    then holds exactly the cells that finished. Raises rawio.RawWriteError if raw.jsonl
    cannot be written (a full disk); the file keeps only whole lines.
    """
    raw = run_dir / RAW_NAME
    clean_stale_cell_folders()
    _end_with_newline(raw)
    done = finished_cells(raw) if resume else set()
    cells = [cell for cell in plan(config) if cell.cell_id not in done]
    run_id = run_dir.name
    LEARNED_IMPORTS.clear()
    FASTEST_PROBE.clear()
    if config["run"].get("metric", "time") == "time":
        FASTEST_PROBE.append(fastest_short_probe())
    append_lines(raw, [{"kind": "env", "run_id": run_id, "started": now_iso(),
                        "config_path": config_path, "resumed": resume, "config": config,
                        "run_start_probe_us": FASTEST_PROBE[0] * 1e6 if FASTEST_PROBE
                        else None, **describe(config["run"]["threads"])}])
    previous = {sig: signal.signal(sig, _raise_interrupted)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    counts: dict[str, int] = {}
    CHILDREN.stopping = False
    try:
        for lines in _measure_all(cells, config, run_id, progress):
            append_lines(raw, lines)
            status = lines[-1]["status"]
            counts[status] = counts.get(status, 0) + 1
    except KeyboardInterrupt as error:
        raise Interrupted("received SIGINT") from error
    finally:
        CHILDREN.kill_all()
        WARM.close_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return counts


def _measure_all(cells: list[Cell], config: dict[str, Any], run_id: str, progress: bool):
    """Yield each cell's lines as its group finishes (run.process_order says when), run.jobs
    groups at a time; interrupted, yield the lines of every group begun and unfinished
    (harness.runner._Group.lines), then raise again."""
    groups = [_Group(group, config) for group in _group(cells)]
    rounds = int(config["run"]["processes"])
    batches = _schedule(groups, rounds, int(config["run"]["jobs"]),
                        config["run"].get("process_order", "together") == "spread")
    finished: set[int] = set()

    def finish(group: _Group):
        finished.add(id(group))
        for lines in group.lines(run_id):
            bar.record(lines)
            yield lines

    with Progress(len(groups) * rounds, progress, unit="round") as bar:
        try:
            for round_index, batch in batches:
                _run_round(batch, round_index, bar)
                if round_index < rounds - 1:
                    continue
                for group in batch:
                    if not group.slowed_rounds():
                        yield from finish(group)
            # Rounds with a process the host slowed throughout, measured again at the end
            # of the run: minutes later, in another state of the host.
            later = [(group, group.slowed_rounds()) for group in groups
                     if id(group) not in finished]
            bar.add(sum(len(indices) for _, indices in later))
            for group, indices in later:
                for index in indices:
                    _run_round([group], index, bar, again=True)
                yield from finish(group)
        except (Interrupted, KeyboardInterrupt):
            for group in groups:
                if id(group) not in finished:
                    yield from group.lines(run_id, interrupted=True)
            raise


def _schedule(groups: list[_Group], rounds: int, jobs: int,
              spread: bool) -> list[tuple[int, list[_Group]]]:
    """(round, groups measured at once) in run order: ``jobs`` groups at a time, each
    group's rounds back to back, or (spread) round r of every group before round r + 1 of
    any, so that a cell's processes sample the machine's states across the whole run, not
    the few seconds of its group: two make bench runs of one commit (2026-12-03) had whole
    groups 1.2-1.5x slower in one than in the other, outside intervals drawn from
    processes seconds apart."""
    chunks = [groups[i:i + jobs] for i in range(0, len(groups), jobs)]
    if spread:
        return [(r, chunk) for r in range(rounds) for chunk in chunks]
    return [(r, chunk) for chunk in chunks for r in range(rounds)]


def _run_round(batch: list[_Group], round_index: int, bar: Progress,
               again: bool = False) -> None:
    """Measure one round of each group in the batch (in threads when there are several);
    ``again``: a round measured before, measured again (one group)."""
    for group in batch:
        bar.starting(f"{group.cells[0].cell_id} round {round_index + 1}")
    if again:
        batch[0].measure_round_again(round_index)
    elif len(batch) == 1:
        batch[0].measure_round(round_index)
    else:
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            futures = [pool.submit(group.measure_round, round_index) for group in batch]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                CHILDREN.kill_all()  # the other threads' processes die with the run
                raise
    for group in batch:
        rounds = int(group.config["run"]["processes"])
        bar.ended(f"{_group_name(group.cells[0])} round {round_index + 1} of {rounds}"
                  + (" again (a process was slowed throughout)" if again else ""), "ok")


def _group_name(cell: Cell) -> str:
    """A group's name on the progress line: experiment/variant/n=size."""
    return f"{cell.experiment}/{cell.variant}/n={cell.size}"


def update_latest(run_dir: Path) -> Path:
    """Point <results root>/latest at run_dir (relative symlink, replaced atomically)."""
    link = run_dir.parent / "latest"
    temporary = run_dir.parent / f".latest-{os.getpid()}"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(run_dir.name)
    os.replace(temporary, link)
    return link
