"""Profiling: replay cells under cProfile, Scalene and memory_profiler (the report's §1.1).

Each (cell, profiler) runs in its own fresh process (``harness/_profile_cell.py``), separate
from timing runs because profilers distort time. Everything lands in
``<run>/profiles/``:

* ``<cell>.prof`` (cProfile; open with ``make snakeviz``), ``<cell>.callgraph.png``
  (gprof2dot + graphviz) or, without graphviz, ``<cell>.top.png`` (a bar chart of the
  functions with the most cumulative time);
* ``<cell>.scalene.json`` and a self-contained ``<cell>.scalene.html`` (Scalene, ``--memory``
  mode, so it never starts torch's own profiler);
* ``<cell>.memory.json`` and ``<cell>.memory.png`` (memory over time, sampled every 0.01 s);
* ``profiles.jsonl``: one line per (cell, profiler) with its status, files and summary
  (top-20 functions, per-line CPU, peaks). Report and page are drawn from it.
"""

from __future__ import annotations

import json
import pstats
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.cells import Cell, plan
from harness.config import PROFILERS
from harness.environment import PROJECT_ROOT
from harness.progress import Progress
from harness.report.atomic import write_atomic
from harness.report.profiles import INDEX_NAME, load_index  # noqa: F401  (re-exported)
from harness.runner import append_lines, cell_spec, skip_reason
from harness.supervise import child_env, run_child

CHILD_SCRIPT = PROJECT_ROOT / "harness" / "_profile_cell.py"
MEMORY_INTERVAL = 0.01
TOP_FUNCTIONS = 20
SCALENE_ATTEMPTS = 3
# What `make snakeviz` serves without PROF=: the report's own profile (its section 1.2).
DEFAULT_PROFILES = ("E1_loop_bobodiff-scalar_", "E1_loop_bobodiff-reverse_")


def representative_cells(config: dict[str, Any]) -> list[Cell]:
    """The cells worth profiling: every E1 reading for each engine, and for E2 (one step, one
    sample) and E3 each engine at the largest size it runs at."""
    chosen: list[Cell] = []
    largest: dict[tuple[str, str, str], Cell] = {}
    for cell in plan(config):
        if skip_reason(cell, config):
            continue
        if cell.experiment == "E1":
            chosen.append(cell)
        elif cell.experiment == "E2" and cell.variant != "step-b1":
            continue
        else:
            key = (cell.experiment, cell.variant, cell.engine)
            if key not in largest or cell.size > largest[key].size:
                largest[key] = cell
    return chosen + list(largest.values())


def named_cells(config: dict[str, Any]) -> list[Cell]:
    """The cells the config's [profile] table names, in its order.

    ``EXPERIMENT/VARIANT/ENGINE/n=SIZE`` names one cell of the plan; without ``/n=SIZE`` the
    largest size the engine runs. Raises ValueError naming a pattern no runnable cell matches.
    """
    planned = plan(config)
    chosen: list[Cell] = []
    for text in config.get("profile", {}).get("cells") or []:
        experiment, variant, engine, *size = text.split("/")
        matches = [cell for cell in planned if (cell.experiment, cell.variant, cell.engine)
                   == (experiment, variant, engine)
                   and (not size or cell.size == int(size[0].removeprefix("n=")))]
        if not matches:
            raise ValueError(f"[profile] cells: {text!r} is not a cell of this config (check "
                             "the experiment's variants and sizes and the engine list)")
        runnable = [cell for cell in matches if not skip_reason(cell, config)]
        if not runnable:
            raise ValueError(f"[profile] cells: {text!r} is skipped by this config: "
                             f"{skip_reason(matches[-1], config)}")
        cell = max(runnable, key=lambda c: c.size)
        if cell not in chosen:
            chosen.append(cell)
    return chosen


def slug(cell: Cell) -> str:
    """A file-name-safe name for a cell: E2_step-b1_torch_n1000_float64."""
    text = f"{cell.experiment}_{cell.variant}_{cell.engine}_n{cell.size}_{cell.dtype}"
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


def profile_run(config: dict[str, Any], run_dir: Path, cells: list[Cell],
                profilers: tuple[str, ...] = PROFILERS, min_seconds: float = 2.0,
                progress: bool = True) -> list[dict[str, Any]]:
    """Profile ``cells`` with each profiler into run_dir/profiles; return the index lines."""
    folder = run_dir / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / INDEX_NAME
    records = []
    jobs = [(cell, profiler) for cell in cells for profiler in profilers]
    with Progress(len(jobs), progress, unit="profile") as bar, \
            ThreadPoolExecutor(max_workers=1) as drawing:
        # A profile's slow drawing (Scalene's HTML page) runs beside the next profile; its
        # index line is written once the drawing is done, before the one after it starts.
        waiting: list[dict[str, Any]] = []

        def finish() -> None:
            for record in waiting:
                future = record.pop("_drawing", None)
                if future is not None:
                    record.update(future.result())
                append_lines(index, [record])
                records.append(record)
                bar.ended(f"{record['profiler']} {record['cell']}", record.get("status", "error"))
            waiting.clear()

        try:
            for cell, profiler in jobs:
                bar.starting(f"{profiler} {cell.cell_id}")
                record = profile_cell(cell, profiler, config, folder, min_seconds, drawing)
                finish()
                waiting.append(record)
        finally:
            finish()
    return records


def profile_cell(cell: Cell, profiler: str, config: dict[str, Any], folder: Path,
                 min_seconds: float, drawing: Executor | None = None) -> dict[str, Any]:
    """Profile one cell with one profiler in a fresh process; return its index line. With
    ``drawing``, Scalene's HTML page is drawn there: the line then holds a future under
    "_drawing" whose result completes it (see profile_run)."""
    name = slug(cell)
    record: dict[str, Any] = {"cell": cell.cell_id, **cell.keys(), "profiler": profiler,
                              "slug": name}
    try:
        if profiler == "cprofile":
            record.update(_cprofile(cell, config, folder, name, min_seconds))
        elif profiler == "scalene":
            record.update(_scalene(cell, config, folder, name, min_seconds, drawing))
        elif profiler == "memory":
            record.update(_memory(cell, config, folder, name, min_seconds))
        else:
            raise ValueError(f"unknown profiler {profiler!r}; choose from {PROFILERS}")
    except ProfileError as error:
        record.update(status="error", message=str(error))
    return record


class ProfileError(RuntimeError):
    """A profiling child failed; the message says how."""


def _spawn(cell: Cell, config: dict[str, Any], extra: dict[str, Any], command_prefix: list[str],
           cwd: Path) -> dict[str, Any]:
    """Run the child script (optionally wrapped, e.g. by Scalene) and return its result."""
    run = config["run"]
    with tempfile.TemporaryDirectory(prefix="harness-profile-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec = {**cell_spec(cell, config), **extra, "result_path": str(result_path)}
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        command = [*command_prefix, str(CHILD_SCRIPT)]
        command += (["---", str(spec_path)] if command_prefix[-1:] != [sys.executable]
                    else [str(spec_path)])
        log_path = Path(tmp) / "output.log"
        returncode, timed_out = run_child(command, log_path, float(run["timeout_seconds"]),
                                          child_env(int(run["threads"])), cwd=cwd)
        if timed_out:
            raise ProfileError(f"killed after {run['timeout_seconds']} s "
                               "(run.timeout_seconds)")
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        if not result_path.exists():
            raise ProfileError(f"the profiling process exited with code {returncode} "
                               f"without a result; its output ends with:\n{tail}")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    if result.get("status") != "ok":
        raise ProfileError(f"{result.get('message')}\n{result.get('traceback', '')}")
    result["output_tail"] = tail
    return result


def _cprofile(cell: Cell, config: dict[str, Any], folder: Path, name: str,
              min_seconds: float) -> dict[str, Any]:
    prof = folder / f"{name}.prof"
    result = _spawn(cell, config, {"profiler": "cprofile", "output": str(prof),
                                   "min_seconds": min_seconds}, [sys.executable], PROJECT_ROOT)
    top = top_functions(prof)
    picture = call_graph(prof, folder / f"{name}.callgraph.png") or \
        top_chart(top, folder / f"{name}.top.png", cell.cell_id)
    return {"status": "ok", "calls": result["calls"], "seconds": result["seconds"],
            "files": [prof.name, picture.name], "top": top}


def top_functions(prof: Path, limit: int = TOP_FUNCTIONS) -> list[dict[str, Any]]:
    """The ``limit`` functions with the most cumulative time in a cProfile file."""
    stats = pstats.Stats(str(prof))
    total = stats.total_tt or 1e-12
    rows = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        rows.append({"function": _function_label(filename, line, function), "ncalls": ncalls,
                     "tottime_s": tottime, "cumtime_s": cumtime,
                     "cum_percent": 100.0 * cumtime / total})
    rows.sort(key=lambda row: -row["cumtime_s"])
    return rows[:limit]


def _function_label(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return function  # a builtin, e.g. <built-in method math.sin>
    path = Path(filename)
    try:
        shown = path.resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        parts = path.parts
        shown = Path(*parts[-2:]) if len(parts) >= 2 else path
    return f"{shown}:{line}({function})"


def call_graph(prof: Path, png: Path) -> Path | None:
    """Draw a call graph with gprof2dot and graphviz's dot; None when dot is missing."""
    dot = shutil.which("dot")
    gprof2dot = shutil.which("gprof2dot") or str(Path(sys.executable).parent / "gprof2dot")
    if dot is None or not Path(gprof2dot).exists():
        return None
    graph = subprocess.run([gprof2dot, "-f", "pstats", "--node-thres=1", "--edge-thres=0.5",
                            str(prof)], capture_output=True, timeout=120, check=False)
    if graph.returncode != 0:
        return None

    def render(tmp: Path) -> None:
        subprocess.run([dot, "-Tpng", "-o", str(tmp)], input=graph.stdout, check=True,
                       capture_output=True, timeout=120)

    try:
        return write_atomic(png, render)
    except (subprocess.SubprocessError, OSError):
        return None


def top_chart(top: list[dict[str, Any]], png: Path, title: str) -> Path:
    """A horizontal bar chart of cumulative time per function (when graphviz is absent)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [row["function"][-60:] for row in top][::-1]
    values = [row["cumtime_s"] for row in top][::-1]
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(labels) + 1.2))
    ax.barh(labels, values, color="#4477aa")
    ax.set_xlabel("cumulative time (s)")
    ax.set_title(f"cProfile, top functions: {title}", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    write_atomic(png, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
    return png


def _scalene(cell: Cell, config: dict[str, Any], folder: Path, name: str,
             min_seconds: float, drawing: Executor | None = None) -> dict[str, Any]:
    """Scalene in --memory mode (CPU, native vs Python, and memory per line)."""
    scalene = shutil.which("scalene") or str(Path(sys.executable).parent / "scalene")
    out = folder / f"{name}.scalene.json"
    seconds, lengthened = min_seconds, 0
    for attempt in range(SCALENE_ATTEMPTS):
        if out.exists():
            out.unlink()
        prefix = [scalene, "run", "--memory", "--program-path", str(PROJECT_ROOT),
                  "-o", str(out)]
        result = _spawn(cell, config, {"profiler": "scalene", "min_seconds": seconds},
                        prefix, folder)
        profile = _read_json(out)
        if profile and profile.get("files"):
            break
        # Scalene writes {} when the program ran too briefly to sample: run longer.
        seconds *= 3
        lengthened = attempt + 1
    else:
        raise ProfileError(f"Scalene wrote an empty profile even after running the cell for "
                           f"{seconds / 3:g} s")
    record = {"status": "ok", "calls": result["calls"], "seconds": result["seconds"],
              "lengthened": lengthened, **scalene_summary(profile)}

    def files() -> dict[str, list[str]]:
        html = _scalene_html(scalene, out, folder / f"{name}.scalene.html")
        return {"files": [out.name] + ([html.name] if html else [])}

    if drawing is None:
        return {**record, **files()}
    return {**record, "files": [out.name], "_drawing": drawing.submit(files)}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _scalene_html(scalene: str, profile: Path, html: Path) -> Path | None:
    """`scalene view --standalone` writes scalene-profile.html in its working folder."""
    with tempfile.TemporaryDirectory(prefix="harness-scalene-") as tmp:
        done = subprocess.run([scalene, "view", "--standalone", str(profile)], cwd=tmp,
                              capture_output=True, timeout=120, check=False,
                              stdin=subprocess.DEVNULL)
        produced = Path(tmp) / "scalene-profile.html"
        if done.returncode != 0 or not produced.exists():
            return None
        shutil.move(str(produced), html)
    return html


def scalene_summary(profile: dict[str, Any], limit: int = 10) -> dict[str, Any]:
    """Per-line CPU (Python vs native) of the busiest lines, and the memory peak."""
    lines = []
    python_total = native_total = 0.0
    for filename, data in profile.get("files", {}).items():
        for line in data.get("lines", []):
            python, native = line.get("n_cpu_percent_python", 0.0), line.get("n_cpu_percent_c",
                                                                                  0.0)
            python_total += python
            native_total += native
            if python + native > 0:
                lines.append({"line": f"{_function_label(filename, line['lineno'], '')}"
                                      .removesuffix("()"),
                              "code": line.get("line", "").strip()[:80],
                              "cpu_python_percent": python, "cpu_native_percent": native,
                              "peak_mb": line.get("n_peak_mb", 0.0)})
    lines.sort(key=lambda row: -(row["cpu_python_percent"] + row["cpu_native_percent"]))
    return {"cpu_python_percent": python_total, "cpu_native_percent": native_total,
            "peak_mb": float(profile.get("max_footprint_mb") or 0.0),
            "elapsed_s": profile.get("elapsed_time_sec"), "lines": lines[:limit]}


def _memory(cell: Cell, config: dict[str, Any], folder: Path, name: str,
            min_seconds: float) -> dict[str, Any]:
    out = folder / f"{name}.memory.json"
    result = _spawn(cell, config, {"profiler": "memory", "output": str(out),
                                   "interval": MEMORY_INTERVAL, "min_seconds": min_seconds},
                    [sys.executable], PROJECT_ROOT)
    series = json.loads(out.read_text(encoding="utf-8"))["series_mib"]
    png = memory_plot(series, folder / f"{name}.memory.png", cell.cell_id)
    return {"status": "ok", "calls": result["calls"], "seconds": result["seconds"],
            "peak_mib": result["peak_mib"], "samples": result["samples"],
            "interval_s": MEMORY_INTERVAL, "files": [out.name, png.name]}


def memory_plot(series: list[list[float]], png: Path, title: str) -> Path:
    """Memory (MiB) over time (s) of one profiled cell, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    if series:
        times, mib = zip(*series)
        ax.plot(times, mib, color="#aa3377", linewidth=1)
        peak = max(mib)
        ax.axhline(peak, color="#999", linestyle=":", linewidth=1)
        ax.annotate(f"peak {peak:.1f} MiB", (times[list(mib).index(peak)], peak),
                    fontsize=8, va="bottom")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("memory (MiB)")
    ax.set_title(f"memory_profiler: {title}", fontsize=9)
    fig.tight_layout()
    write_atomic(png, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    plt.close(fig)
    return png


def snakeviz_command(prof: Path, port: int) -> list[str]:
    """The snakeviz server command for ``prof``, bound to 127.0.0.1 only, no browser."""
    snakeviz = shutil.which("snakeviz") or str(Path(sys.executable).parent / "snakeviz")
    return [snakeviz, "-s", "-H", "127.0.0.1", "-p", str(port), str(prof)]


def snakeviz_url(prof: Path, port: int) -> str:
    """The URL snakeviz serves ``prof`` at."""
    from urllib.parse import quote

    return f"http://127.0.0.1:{port}/snakeviz/{quote(str(prof.resolve()), safe='')}"


def choose_profile(run_dir: Path, name: str | None) -> Path:
    """The .prof to serve: ``name`` (a path, a file name or part of one) or a default."""
    folder = run_dir / "profiles"
    if name:
        direct = Path(name)
        if direct.is_file():
            return direct
        matches = sorted(folder.glob(f"*{name}*.prof")) if folder.is_dir() else []
        if not matches:
            raise FileNotFoundError(f"no profile matching {name!r} in {folder}")
        return matches[0]
    found = sorted(folder.glob("*.prof")) if folder.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no .prof file in {folder}; `make bench` profiles the cells "
                                "of configs/default.toml's [profile], `make profile` more")
    for preferred in DEFAULT_PROFILES:
        for path in found:
            if path.name.startswith(preferred):
                return path
    return found[0]


def environment_note() -> str:
    """Which call-graph renderer is available (for the report)."""
    return ("call graphs by gprof2dot + graphviz" if shutil.which("dot")
            else "graphviz not installed: bar charts of the top functions instead of call "
                 "graphs (install graphviz for call graphs)")

