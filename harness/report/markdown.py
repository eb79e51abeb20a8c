"""report.md: the run, then each experiment's section as it declares it (its ReportSpec:
the published figures beside this run's, tables per reading), growth, targets, problems."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness import published
from harness.experiments import ReportSpec
from harness.experiments import registry as experiment_registry
from harness.report.atomic import write_text_atomic
from harness.report.load import RawData, read_raw
from harness.report.sections import Section, to_markdown, with_interval
from harness.report.summary import growth, summarize
from harness.report.targets import targets_section
from harness.stats import loglog_interpolate
from harness.timing import FULL_SPEED_FACTOR, PROBE_ROUNDS

TITLE = "bobodiff benchmark report"
REPORT = "report (their machine)"
THIS = "this run"


def write_report(raw: RawData, summary: pd.DataFrame, path: Path,
                 extra: list[Section] | None = None) -> list[Section]:
    """Build every section (then ``extra``, e.g. profiles), write report.md atomically, and
    return the sections (for the page)."""
    sections = build_sections(raw, summary) + list(extra or [])
    write_text_atomic(path, to_markdown(TITLE, sections))
    return sections


def build_sections(raw: RawData, summary: pd.DataFrame) -> list[Section]:
    """All report sections, in reading order."""
    return [run_section(raw, summary), noise_section(raw, summary), fidelity_section(),
            *experiment_sections(summary), growth_section(summary), targets_section(summary),
            kernel_section(summary), problems_section(summary), method_section(summary)]


def _ok(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary.status == "ok"]


def _median(summary: pd.DataFrame, experiment: str, variant: str, engine: str,
            size: int | None = None) -> float:
    rows = _ok(summary)
    rows = rows[(rows.experiment == experiment) & (rows.variant == variant)
                & (rows.engine == engine)]
    if size is not None:
        rows = rows[rows["size"] == size]
    return float(rows["median_s"].iloc[0]) if len(rows) else math.nan


def _row_of(summary: pd.DataFrame, experiment: str, variant: str, engine: str) -> pd.Series:
    rows = _ok(summary)
    rows = rows[(rows.experiment == experiment) & (rows.variant == variant)
                & (rows.engine == engine)]
    return rows.iloc[0] if len(rows) else None


def run_section(raw: RawData, summary: pd.DataFrame) -> Section:
    """Environment, configuration and cell status counts."""
    env = raw.env
    keys = ["run_id", "started", "config_path", "python", "numpy", "torch", "cpu",
            "cpu_count", "threads", "platform", "git_commit", "git_dirty"]
    values = [str(env.get(key, "")) for key in keys]
    run = env.get("config", {}).get("run", {})
    for key in ("processes", "repeats", "metric"):
        keys.append(f"run.{key}")
        values.append(str(run.get(key, "-")))
    keys += ["blas", "inherited OPENBLAS_* / MKL_*", "governor"]
    values += [blas_text(env.get("blas")), inherited_text(env.get("inherited_blas_env")),
               str(env.get("governor") or "-")]
    frame = pd.DataFrame({"item": keys, "value": values})
    counts = summary.status.value_counts().to_dict() if len(summary) else {}
    paragraphs = ["Cells by status: " + (", ".join(f"{k}: {v}" for k, v in
                                                  sorted(counts.items())) or "none") + "."]
    if raw.corrupted:
        paragraphs.append(f"{len(raw.corrupted)} corrupted line(s) of raw.jsonl were skipped: "
                          + "; ".join(f"line {n}: {why}" for n, why in raw.corrupted[:5]))
    jobs = env.get("config", {}).get("run", {}).get("jobs", 1)
    if jobs > 1:
        paragraphs.append(f"Warning: this run measured {jobs} cells at a time (run.jobs), so "
                          "its timings disturb each other; use it to check the pipeline, "
                          "not to compare engines.")
    if len(raw.envs) > 1:
        paragraphs.append(f"The run was resumed {len(raw.envs) - 1} time(s).")
    paragraphs.append("Every ratio below divides two medians measured in this same run, and "
                      "comes with its 95% interval, e.g. 0.85 [0.81, 0.90] (see 'Noise and "
                      "intervals'). The report's figures come from another machine and "
                      "another program: compare their ratios, not their absolute times.")
    if run.get("metric") == "instructions":
        paragraphs.append("This run counted instructions per call (valgrind's callgrind), "
                          "not seconds: the 'ms' tables hold instruction counts, the ratios "
                          "are ratios of instruction counts. Compare them with a time run "
                          "of the same config to see where time and instructions disagree "
                          "(memory stalls, BLAS).")
    blas_note = coretype_note(env.get("inherited_blas_env"))
    if blas_note:
        paragraphs.append(blas_note)
    return Section("Run", paragraphs, [("Environment", frame)])


def exact_example() -> dict[str, float]:
    """The exact values of the report's forward-mode example, f = x1^2 x2 + cos x2 at (1, 2)."""
    return {"f(1, 2) = 2 + cos 2": 2.0 + math.cos(2.0),
            "df/dx2 at (1, 2) = 1 - sin 2": 1.0 - math.sin(2.0)}


def fidelity_section() -> Section:
    """The report's misprints, and what each of its figures measured as far as it says."""
    exact = exact_example()
    misprints = pd.DataFrame([{"quantity": m["quantity"], "report prints": m["printed"],
                               "exact": repr(exact[m["quantity"]]), "what happened": m["note"]}
                              for m in published.MISPRINTS])
    measured = pd.DataFrame([{"report figure": m["figure"], "report section": m["section"],
                              "what it measured (as the report says)": m["measured"],
                              "what the report does not say": m["unsaid"]}
                             for m in published.MEASURED])
    return Section(
        "Fidelity to the report",
        ["The report's figures below are quoted as printed. Two numbers of its forward-mode "
         "screenshot (section 3) are misprints: bobodiff computes the exact values "
         "(tests/test_engine_examples.py). The report does not name its machine; its "
         "absolute times only compare with each other.",
         "Peers: JAX runs on the CPU in float64, each function compiled ahead of time "
         "(the compile time is in 'What was timed', never in a timed call). micrograd has "
         "only +, *, ** and relu: the adapter adds sin, cos, exp, log, sigmoid and tanh in "
         "its own idiom (one node and its backward closure, as its relu), and skips the "
         "cells whose graph is deeper than its recursive backward can walk."],
        [("Misprints of the report", misprints),
         ("What each report figure measured", measured)])


def blas_text(pools: list | None) -> str:
    """'openblas 0.3.31 (SkylakeX), 1 thread' per BLAS / OpenMP pool, '-' if unrecorded."""
    if not pools:
        return "-"
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} "
                     f"({p.get('architecture') or '-'}), {p.get('num_threads')} thread(s)"
                     for p in pools)


def inherited_text(variables: dict | None) -> str:
    """NAME=value of each inherited OPENBLAS_* / MKL_* variable ('none' / '-')."""
    if variables is None:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in sorted(variables.items())) or "none"


def coretype_note(variables: dict | None) -> str:
    """A warning when an inherited variable forces the BLAS kernel (OPENBLAS_CORETYPE)."""
    forced = {k: v for k, v in (variables or {}).items() if k in ("OPENBLAS_CORETYPE",
                                                                    "MKL_CBWR",
                                                                    "MKL_ENABLE_INSTRUCTIONS")}
    if not forced:
        return ""
    return ("The harness inherited " + ", ".join(f"{k}={v}" for k, v in forced.items())
            + ": it chooses NumPy's BLAS kernel instead of the auto-detected one (on the "
            "project's machine OPENBLAS_CORETYPE=Haswell made the 1000x1000 GEMM 1.65x "
            "slower), so every NumPy time at large n - the floor's, bobodiff's - and every "
            "torch-vs-NumPy ratio there depends on it. The harness records it and never "
            "changes it.")


NOISE_NOTED = 10
INSTRUCTIONS_FOLDER = "instructions"


def instructions_beside(run_dir: Path, summary: pd.DataFrame) -> list[Section]:
    """A section putting the instruction counts of RUN/instructions (a run made with
    ``--metric instructions --beside RUN``) beside this run's times, cell by cell; [] when
    there is none."""
    path = Path(run_dir) / INSTRUCTIONS_FOLDER / "raw.jsonl"
    if not path.exists():
        return []
    counted = summarize(read_raw(path))
    keys = ["experiment", "variant", "engine", "size", "dtype"]
    both = _ok(summary).merge(_ok(counted), on=keys, suffixes=("", "_i"))
    frame = pd.DataFrame([{
        "cell": f"{r.experiment}/{r.variant}/n={r['size']}", "engine": r.engine,
        "time x floor": _ratio(r, "ratio_to_floor"),
        "instructions x floor": with_interval(r.ratio_to_floor_i, r.ratio_to_floor_ci_low_i,
                                              r.ratio_to_floor_ci_high_i),
        "instructions per call": r.median_s_i / max(1, int(r.calls_per_op))}
        for _, r in both.iterrows()])
    return [Section(
        "Instructions beside time",
        [f"Instructions per call counted by callgrind in {INSTRUCTIONS_FOLDER}/ (python -m "
         "harness run CONFIG --metric instructions --beside RUN), beside this run's times, "
         "for the cells both measured. Instruction counts repeat within 0.1% and ignore the "
         "machine's load; where the two ratios disagree, time goes to what instructions do "
         "not count (memory stalls, page faults, the BLAS kernel's speed)."],
        [("Ratios to the floor: time and instructions", frame)])]


def noise_section(raw: RawData, summary: pd.DataFrame) -> Section:
    """How much other load the machine carried while the cells were measured."""
    cells = [c for c in raw.cells if c.get("status") == "ok"]
    noise = [c.get("noise") or {} for c in cells]
    foreign = [n["foreign_cpu_cores"] for n in noise if n.get("foreign_cpu_cores") is not None]
    paragraphs = [
        "Each cell is measured in run.processes fresh processes (each warms up, calibrates "
        "and gives run.repeats values); within one experiment, variant and size the engines "
        "take turns, one process each per round, so slow drift hits them alike. The 95% "
        "intervals come from a bootstrap that resamples processes, then values within "
        "them (seeded: a redraw gives the same numbers), widened for the few processes "
        "(Hesterberg's expanded percentile interval). 'foreign_cpu_cores' is the CPU time "
        "other processes used while a process timed its repeats, divided by wall time "
        "(from /proc/stat): 0 on a quiet machine, 1 when a neighbour keeps a core busy."]
    if not foreign:
        paragraphs.append("This run recorded no noise (an instruction run, which does not "
                          "need it; a run made before noise was recorded; or no /proc/stat).")
        return Section("Noise and intervals", paragraphs, [])
    disturbed = [c for c in cells if c.get("disturbed")]
    remeasured = sum((c.get("noise") or {}).get("remeasured") or 0 for c in cells)
    threshold = raw.env.get("config", {}).get("run", {}).get("noise_threshold", "-")
    loads = [v for n in noise for v in (n.get("loadavg_before"), n.get("loadavg_after"))
             if v is not None]
    paragraphs.append(
        f"foreign_cpu_cores over the {len(cells)} timed cells: median "
        f"{pd.Series(foreign).median():.2f}, max {max(foreign):.2f}; load average "
        f"{min(loads, default=math.nan):.2f} to {max(loads, default=math.nan):.2f}. "
        f"{remeasured} process(es) were measured again because other load exceeded "
        f"run.noise_threshold = {threshold} cores; {len(disturbed)} cell(s) stayed above it "
        "after every re-measurement and are flagged 'disturbed' (their times and ratios "
        "carry a neighbour's load; read them with care).")
    paragraphs.extend(_probe_paragraph(noise))
    worst = sorted(cells, key=lambda c: -((c.get("noise") or {}).get("foreign_cpu_cores")
                                          or 0.0))
    frame = pd.DataFrame([{
        "cell": c["cell"], "foreign_cpu_cores": (c.get("noise") or {}).get("foreign_cpu_cores"),
        "load before": (c.get("noise") or {}).get("loadavg_before"),
        "load after": (c.get("noise") or {}).get("loadavg_after"),
        "re-measured": (c.get("noise") or {}).get("remeasured"),
        "disturbed": "disturbed" if c.get("disturbed") else "-"}
        for c in worst[:max(NOISE_NOTED, len(disturbed))]])
    return Section("Noise and intervals", paragraphs,
                   [("Noisiest cells (most foreign CPU first)", frame)])


def _probe_paragraph(noise: list[dict[str, Any]]) -> list[str]:
    """How steady the machine's own speed was over the run (the machine probe)."""
    probes = pd.Series([n["probe_us"] for n in noise if n.get("probe_us")], dtype=float)
    if probes.empty:
        return []
    low, mid, high = probes.quantile([0.05, 0.5, 0.95])
    return [f"Machine probe (a fixed pure-Python loop timed in every process after its "
            f"repeats, the fastest of {PROBE_ROUNDS}): median {mid:.0f} us, 5-95% "
            f"{low:.0f}-{high:.0f} us over {len(probes)} cells, a spread of "
            f"{(high - low) / mid:.0%} of the median. On a virtual machine the host's other "
            "guests slow every process alike without showing in /proc/stat: a wide spread "
            "says the machine itself changed speed during the run (here it switches within "
            "seconds, so one process's probe varies more than the median over many). "
            "`harness compare` divides each change by the median "
            "probe ratio over the cells (the machine's drift) to tell the code's change from "
            "the machine's."] + _full_speed_paragraph(noise)


def _full_speed_paragraph(noise: list[dict[str, Any]]) -> list[str]:
    """How much of the run the host let this machine run at full speed."""
    shares = pd.Series([n["full_speed_share"] for n in noise
                        if n.get("full_speed_share") is not None], dtype=float)
    if shares.empty:
        return []
    low, mid = shares.quantile([0.1, 0.5])
    return [f"Repeats at full speed (a short probe on either side of the repeat ran within "
            f"{FULL_SPEED_FACTOR:g}x of the run's fastest probe): median {mid:.0%} of a "
            f"cell's repeats, 10% of cells {low:.0%} or fewer. Every value counts in the "
            "statistics; a ratio between engines takes each process's fastest value, the "
            "one the host slowed least. A process short of full-speed repeats times more, "
            "up to run.slowed_repeats_factor times run.repeats; with run.remeasure_slowed "
            "one with none is measured again and then flags its cell disturbed."]


def _ratio_of(row: pd.Series | None, column: str) -> str:
    return "-" if row is None else _ratio(row, column)


def _get(row: pd.Series | None, column: str) -> float:
    return float(row[column]) if row is not None and pd.notna(row[column]) else math.nan


def experiment_sections(summary: pd.DataFrame) -> list[Section]:
    """One section per experiment of the registry that has cells in this run, drawn as its
    ReportSpec declares (then any experiment of the run the registry no longer knows)."""
    present = set(summary.experiment) if len(summary) else set()
    known = experiment_registry()
    sections = [experiment_section(summary, name, spec.REPORT, spec.TITLE)
                for name, spec in known.items() if name in present]
    return sections + [experiment_section(summary, name, ReportSpec(str(name)), str(name))
                       for name in sorted(present - set(known), key=str)]


def experiment_section(summary: pd.DataFrame, experiment: str, spec: ReportSpec,
                       title: str) -> Section:
    """The published figures beside this run's (``spec.beside``), the engines' readings side
    by side (``spec.engines_table``), then time and ratio tables by size (``spec.pivot``)."""
    paragraphs, tables = list(spec.paragraphs), []
    if spec.beside:
        more, beside = spec.beside(summary, experiment)
        paragraphs += more
        tables += beside
    if spec.engines_table:
        tables.append((f"{experiment}, every engine, "
                       f"{'both readings' if len(spec.engines_table) == 2 else 'each reading'}",
                       engines_table(summary, experiment, spec)))
    if spec.pivot:
        tables += pivot_tables(summary, experiment)
    return Section(spec.title or title, paragraphs, tables)


def engines_table(summary: pd.DataFrame, experiment: str, spec: ReportSpec) -> pd.DataFrame:
    """One row per engine: each declared reading's time per call (per point), its
    extrapolation when declared, its ratios, and peak memory."""
    part = summary[summary.experiment == experiment]
    units = {bars.variant: bars.unit for bars in spec.bars}
    rows = []
    for engine in sorted(part.engine.unique()):
        found = {v: _row_of(summary, experiment, v, engine) for v in spec.engines_table}
        if all(row is None for row in found.values()):
            continue  # skipped or failed: listed under "Cells without a number"
        row: dict[str, object] = {"engine": engine}
        for variant, cell in found.items():
            unit = units.get(variant, "calls")
            if unit == "calls":
                row[f"{variant}: us/call"] = _get(cell, "per_call_us")
                if spec.extrapolate:
                    row[f"{variant}: 10M calls (s)"] = _get(cell, "extrapolated_10M_s")
            else:
                row[f"{variant}: s per call"] = _get(cell, "median_s")
                row[f"{variant}: N points"] = int(cell["size"]) if cell is not None else None
                if spec.extrapolate:
                    row[f"{variant}: 10M points (s)"] = _get(cell, "extrapolated_10M_s")
                else:
                    row[f"{variant}: us per point"] = _get(cell, "per_call_us")
            row[f"{variant}: x torch"] = _ratio_of(cell, "ratio_to_torch")
            row[f"{variant}: x floor"] = _ratio_of(cell, "ratio_to_floor")
        for variant, cell in found.items():
            row[f"{variant} peak RSS (MB)"] = _get(cell, "peak_rss_mb")
        rows.append(row)
    return pd.DataFrame(rows)


def size_source(summary: pd.DataFrame, experiment: str, engine: str, n: int) -> str:
    """'measured', 'interpolated' or 'extrapolated' for n against an engine's measured sizes."""
    ok = _ok(summary)
    sizes = set(ok[(ok.experiment == experiment) & (ok.engine == engine)]["size"])
    if n in sizes:
        return "measured"
    if sizes and min(sizes) < n < max(sizes):
        return "interpolated"
    return "extrapolated"


def speedup_sentence(summary: pd.DataFrame, experiment: str, variant: str,
                     engines: tuple[str, ...], sizes: tuple[int, ...]) -> str:
    """'engine / torch' ratios of one reading at the report's sizes (interpolated if needed)."""
    parts = []
    ok = _ok(summary)
    for engine in engines:
        ratios = []
        for n in sizes:
            times = {}
            for name in (engine, "torch"):
                rows = ok[(ok.experiment == experiment) & (ok.variant == variant)
                          & (ok.engine == name)]
                times[name] = loglog_interpolate(list(rows["size"]), list(rows["median_s"]), n)
            ratio = times[engine] / times["torch"]
            if not math.isnan(ratio):
                ratios.append(f"n={n}: {ratio:.3g}x")
        if ratios:
            parts.append(f"{engine} / torch on {experiment}/{variant}: " + ", ".join(ratios))
    if not parts:
        return (f"This run has no {experiment}/{variant} pair of engine and torch covering "
                f"n = {', '.join(map(str, sizes))}: no speedup to compare with the report.")
    return "This run: " + "; ".join(parts) + " (ratio > 1: slower than torch)."


def pivot_tables(summary: pd.DataFrame, experiment: str) -> list[tuple[str, pd.DataFrame]]:
    """Per variant: median time (ms) by n (rows) and engine (columns); statuses for the rest."""
    tables = []
    rows = summary[summary.experiment == experiment]
    for variant in sorted(rows.variant.unique()):
        part = rows[rows.variant == variant]
        counted = "unit" in part and (part.unit == "instructions").any()
        scale, label = (1.0, "instructions per call") if counted else \
            (1e3, "median time per call (ms)")
        cells = part.median_s.mul(scale).astype(object).where(part.status == "ok",
                                                              part.status)
        frame = part.assign(value=cells).pivot_table(index="size", columns="engine",
                                                     values="value", aggfunc="first")
        only_skipped = [c for c in frame.columns if (frame[c] == "skipped").all()]
        frame = frame.drop(columns=only_skipped)  # listed under "Cells without a number"
        frame = frame.reset_index().rename(columns={"size": "n"})
        frame.columns.name = None
        tables.append((f"{experiment}/{variant}: {label}", frame))
        tables.append((f"{experiment}/{variant}: ratio to torch / ratio to floor "
                       "[95% interval]", ratio_table(part)))
    return tables


def ratio_table(part: pd.DataFrame) -> pd.DataFrame:
    """Rows n, columns engines, cells 'x torch / x floor' for the ok cells of one reading."""
    ok = part[part.status == "ok"]
    if ok.empty:
        return pd.DataFrame()
    text = ok.apply(lambda r: f"{_ratio(r, 'ratio_to_torch')} / "
                    f"{_ratio(r, 'ratio_to_floor')}", axis=1)
    frame = ok.assign(value=text).pivot_table(index="size", columns="engine", values="value",
                                              aggfunc="first")
    frame = frame.reset_index().rename(columns={"size": "n"})
    frame.columns.name = None
    return frame


def _ratio(row: pd.Series, column: str) -> str:
    """The row's ratio with its interval, '0.85 [0.81, 0.90]' ('-' when missing)."""
    return with_interval(row.get(column), row.get(f"{column}_ci_low"),
                         row.get(f"{column}_ci_high"))


def growth_section(summary: pd.DataFrame) -> Section:
    """Fitted log-log exponents: the report's 'quadratic vs linear' as numbers."""
    return Section(
        "Growth with n (log-log slope)",
        ["Exponent of a power law time ~ n^k fitted by least squares on log(time) vs log(n), "
         "on n >= 100 when at least two such sizes were measured (small n measure fixed "
         "overhead). k = 1 is linear, k = 2 quadratic. One step of this network does ~n^2 "
         "multiply-adds, so a vectorized engine tends to 2 once n is large enough; the "
         "report's 'linear' for PyTorch is an overhead-dominated regime."],
        [("Fitted exponents", growth(summary))])


def problems_section(summary: pd.DataFrame) -> Section:
    """Cells that gave no number: error, crashed, oom, timeout; skipped with reasons."""
    failed = summary[~summary.status.isin(["ok", "skipped"])]
    failed = failed.assign(cell=failed.experiment + "/" + failed.variant + "/" + failed.engine
                           + "/n=" + failed["size"].astype(str))[["cell", "status", "message"]]
    skipped = summary[summary.status == "skipped"]
    reasons = (skipped.assign(sizes=skipped["size"].astype(str))
               .groupby(["experiment", "engine", "message"], as_index=False)
               .agg(variants=("variant", lambda v: ", ".join(sorted(set(v)))),
                    cells=("sizes", "count")))
    return Section("Cells without a number",
                   ["A cell that fails its correctness check, raises, crashes, runs out of "
                    "memory or times out is listed here and never shown as a time."],
                   [("Failed cells", failed.reset_index(drop=True)),
                    ("Skipped cells (by reason)", reasons)])


KERNEL_SHARE_NOTED = 0.25


def kernel_section(summary: pd.DataFrame) -> Section:
    """Cells whose CPU time went largely to the kernel (page faults on fresh memory)."""
    ok = summary[summary.status == "ok"]
    if "kernel_share" not in ok or ok.kernel_share.isna().all():
        return Section("Time in the kernel",
                       ["This run did not record kernel time (a run made before it was)."], [])
    noted = ok[ok.kernel_share >= KERNEL_SHARE_NOTED]
    frame = noted.assign(
        cell=noted.experiment + "/" + noted.variant + "/n=" + noted["size"].astype(str),
        share=noted.kernel_share.round(2),
        faults=noted.page_faults_per_call.round(0),
        spread=(noted.iqr_s / noted.median_s).round(2),
    )[["cell", "engine", "share", "faults", "spread"]].rename(columns={
        "share": "kernel share of CPU time", "faults": "page faults per call",
        "spread": "IQR / median"})
    return Section(
        "Time in the kernel",
        [f"Cells that spent at least {KERNEL_SHARE_NOTED:.0%} of their CPU time in the kernel "
         "(median over repeats). That time goes to the pages of freshly allocated arrays, "
         "which the kernel maps and zeroes; its cost depends on the machine's memory state, "
         "so these cells vary more between repeats and runs than the others (compare "
         f"'IQR / median'). {len(noted)} of {len(ok)} timed cells."],
        [("Cells", frame.reset_index(drop=True))])


def method_section(summary: pd.DataFrame) -> Section:
    """What each engine's workload times (as reported by the adapters)."""
    ok = summary[summary.description.fillna("") != ""]
    frame = (ok.groupby(["experiment", "variant", "engine"], as_index=False)
             .agg(timed=("description", "first"), repeats=("repeats", "max"),
                  loops=("loops", "max")))
    return Section(
        "What was timed",
        ["Each cell ran in a fresh subprocess: inputs built, one warm-up call (its result is "
         "checked against a float64 analytic reference before anything is timed), loops "
         "calibrated so one repeat lasts "
         "at least run.min_repeat_seconds, then repeats; the median is shown, the IQR, min "
         "and max are in summary.csv. Work on Python floats (E1-loop of floor, "
         "bobodiff-forward and bobodiff-compiled; bobodiff-scalar everywhere) is float64 "
         "whatever run.dtype says."],
        [("Workloads", frame)])
