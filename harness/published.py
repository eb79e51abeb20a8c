"""The report's own published figures (their machine), quoted from its sections 1.2-1.6,
and how this run's readings are set beside them.

The one place that says which engines of this run stand for the report's "bobodiff" and
"PyTorch": experiments declare their report with these (harness.experiments.ReportSpec) and
never name an engine themselves; harness/report draws whatever the experiments declare.
"""

from __future__ import annotations

import math
from typing import Any

# What a ``beside`` function gives an experiment's report section: paragraphs and tables.
Beside = tuple[list[str], list[tuple[str, Any]]]

# Table 1 (E1): time for 10M calls in seconds, memory in MB, and the reading of this harness
# that corresponds to how the report measured each row.
TABLE1 = [
    {"row": "Forward (bobodiff)", "seconds": 0.4, "memory_mb": 38.8,
     "timed": "one numpy-vectorised call on 10M points (section 1.3)",
     "matches": [("bobodiff-forward", "batch"), ("bobodiff-forward", "loop")]},
    {"row": "Backward (bobodiff)", "seconds": 98.5, "memory_mb": 38.8,
     "timed": "10M .backward() calls under cProfile, before its optimisations (section 1.2)",
     "matches": [("bobodiff-scalar", "loop"), ("bobodiff-compiled", "loop"),
                 ("bobodiff-reverse", "batch")]},
    {"row": "Backward (PyTorch)", "seconds": 1114.0, "memory_mb": 450.6,
     "timed": "10M backward calls, one per point (section 1.4)",
     "matches": [("torch", "loop"), ("torch", "batch")]},
]

# Section 1.5 (E2, sigmoid network, reverse mode): milliseconds by n.
E2_REPORT_MS = {"bobodiff": {600: 2228.68, 1000: 6622.13}, "torch": {600: 27.83, 1000: 57.20}}

# Table 2 (E3, tanh network, forward mode): milliseconds by n.
E3_REPORT_MS = {"bobodiff": {700: 444.57, 1000: 891.61}, "torch": {700: 29.19, 1000: 50.39}}
E3_REPORT_GROWTH = {"bobodiff": "quadratic", "torch": "linear"}

# Which engines of this run stand for the report's "bobodiff" in E2 and E3.
E2_BOBODIFF_ENGINES = ("bobodiff-scalar", "bobodiff-reverse", "bobodiff-compiled")
E3_BOBODIFF_ENGINES = ("bobodiff-scalar", "bobodiff-forward", "bobodiff-compiled")

# What each published figure measured, as far as the report says (and what it leaves
# unsaid), by the report's own section; quoted on the page beside the figures.
MEASURED = [
    {"figure": "Table 1, forward (bobodiff): 0.4 s, 38.8 MB", "section": "1.3, 1.4",
     "measured": "'0.4 s for 10 million calls' of the forward mode after 'replacing math by "
                 "numpy for vectors': so, most likely, one vectorised evaluation on arrays of "
                 "10M points rather than 10M separate calls (E1-batch here).",
     "unsaid": "the machine; how the memory was measured; whether input creation is timed."},
    {"figure": "Table 1, backward (bobodiff): 98.5 s, 38.8 MB", "section": "1.2, 1.4",
     "measured": "10,000,000 calls to .backward() (E1-loop), timed under cProfile + SnakeViz. "
                 "Section 1.2 says 98.5 s was the time *before* its optimisations (memoised "
                 "sin/cos, useless gradients dropped), which 'reduced the time a little'; the "
                 "time after them is not given. 38.8 MB stands for memory_profiler's 37.1 MiB peak "
                 "(37.1 MiB is 38.9 MB).",
     "unsaid": "the time after the optimisations; whether the 98.5 s ran under the profiler "
               "(cProfile slows pure-Python code); the machine."},
    {"figure": "Table 1, backward (PyTorch): 1114 s (about 18 min), 450.6 MB",
     "section": "1.4",
     "measured": "10M calls of PyTorch's backward on the same function, one call per point "
                 "(E1-loop).",
     "unsaid": "the torch version, thread count, whether under a profiler; how the memory "
               "was measured."},
    {"figure": "Section 1.5: bobodiff 2228.68 ms (n=600), 6622.13 ms (n=1000); PyTorch "
               "27.83 ms, 57.20 ms; 'about 100x'", "section": "1.5",
     "measured": "a network of n inputs, n sigmoid hidden units and one output, reverse mode, "
                 "n from 1 to 1000; bobodiff non-vectorised, run with "
                 "sys.setrecursionlimit(10000); PyTorch with torch.matmul.",
     "unsaid": "what one time covers (one forward+backward pass, parameter set-up, several "
               "steps?), the batch size, the repeats; 'quadratic' and 'linear' are words, "
               "not fitted exponents."},
    {"figure": "Table 2: bobodiff 444.57 ms (n=700), 891.61 ms (n=1000); PyTorch 29.19 ms, "
               "50.39 ms; 'PyTorch 11 to 17 times faster'", "section": "1.6",
     "measured": "a network of n inputs, n tanh hidden units and one output, forward mode "
                 "(bobodiff: one dual number per scalar; E3/jvp here).",
     "unsaid": "how PyTorch computed its forward-mode derivative, one direction or all n; "
               "what one time covers. Its own figures give 15.2x (n=700) and 17.7x "
               "(n=1000): the 11 is from no size it shows."},
    {"figure": "Section 1.2, Scalene: 'CPU 95%', 'memory stable, no leaks'", "section": "1.2",
     "measured": "the backward mode's E1 loop under Scalene.",
     "unsaid": "no time or memory figure; whether 95% is Python or native time."},
]

# The forward-mode example of section 3 (f(x1, x2) = x1^2 x2 + cos x2 at (1, 2)): what its
# screenshot prints, against the exact value (computed in markdown.py from math).
MISPRINTS = [
    {"quantity": "df/dx2 at (1, 2) = 1 - sin 2", "printed": "0.89070257317431829",
     "note": "an 8 for the first decimal 0 (the text above the screenshot says 0.090)"},
    {"quantity": "f(1, 2) = 2 + cos 2", "printed": "1.583851634528576",
     "note": "a digit dropped: 1.58385|1634… for 1.58385|3|1634…"},
]

# The report's Table 1 as marks on the bars of the E1 plot: (reading, engine of this run,
# value in the panel's unit, label). The loop panel is per call (the report's 10M calls /
# 1e7, in microseconds), the batch one 10M points (seconds).
TABLE1_MARKS = (("loop", "bobodiff-scalar", TABLE1[1]["seconds"] / 1e7 * 1e6,
                 "backward (bobodiff)"),
                ("loop", "torch", TABLE1[2]["seconds"] / 1e7 * 1e6, "PyTorch"),
                ("batch", "bobodiff-forward", TABLE1[0]["seconds"], "forward (bobodiff)"))
# The engine whose colour each of the report's curves takes: its own scalar design, PyTorch.
CURVE_COLORS = {"bobodiff": "bobodiff-scalar", "torch": "torch"}


def table1_beside(summary: Any, experiment: str) -> Beside:
    """Table 1 of the report beside this run's readings of ``experiment`` (E1)."""
    import pandas as pd

    from harness.report.markdown import REPORT, THIS, _get, _row_of

    rows = []
    for entry in TABLE1:
        for engine, variant in entry["matches"]:
            row = _row_of(summary, experiment, variant, engine)
            rows.append({"report row": entry["row"], f"{REPORT}: what it timed": entry["timed"],
                         f"{REPORT}: 10M calls (s)": entry["seconds"],
                         f"{REPORT}: memory (MB)": entry["memory_mb"],
                         f"{THIS}: engine / reading": f"{engine} / {experiment}-{variant}",
                         f"{THIS}: 10M calls / points (s)": _get(row, "extrapolated_10M_s"),
                         f"{THIS}: peak RSS (MB)": _get(row, "peak_rss_mb")})
    return (
        ["The report timed its forward mode as one vectorized call on arrays (0.4 s) and its "
         "backward mode and PyTorch as 10M separate calls (98.5 s, 1114 s): two different "
         "readings. Here every engine is timed both ways. E1-loop times are extrapolated "
         "linearly from the measured calls to 10M calls; E1-batch times are scaled linearly "
         "from N points to 10M points. Peak RSS is the whole cell process (interpreter, "
         "imports, inputs and results included).",
         "Compare within a reading: loop against loop, batch against batch."],
        [("Report Table 1 beside this run", pd.DataFrame(rows))])



def e2_candidates(summary: Any, experiment: str, engine: str,
                  n: int) -> dict[str, float]:
    """Readings that might be what the report timed, in seconds, at size n (log-log
    interpolated between measured sizes, extrapolated beyond them: see size_source)."""
    from harness.report.markdown import _ok
    from harness.stats import loglog_interpolate

    ok = _ok(summary)
    ok = ok[(ok.experiment == experiment) & (ok.engine == engine)]
    curves = {variant: (list(rows["size"]), list(rows["median_s"]))
              for variant, rows in ok.groupby("variant")}

    def at(variant: str, size: int) -> float:
        sizes, times = curves.get(variant, ([], []))
        return loglog_interpolate(sizes, times, size, extrapolate=True)

    step, setup = at("step-b1", n), at("setup", n)
    measured = len(curves.get("step-b1", ([], []))[0])
    sweep = sum(at("step-b1", m) for m in range(1, n + 1)) if measured >= 2 else math.nan
    return {"one step (batch 1)": step, "one step (batch 64)": at("step-b64", n),
            "setup + one step": setup + step, "setup from lists + one step":
            at("lists+step-b1", n), "100 steps (batch 1)": 100 * step,
            "sweep n=1..N, one step each": sweep}



def best_match(summary: Any, experiment: str, engine: str,
               report_ms: dict[int, float]) -> tuple[str, float]:
    """The candidate reading closest to the report's figures (mean |log ratio|)."""
    scores = {}
    candidates = {n: e2_candidates(summary, experiment, engine, n) for n in report_ms}
    for name in candidates[next(iter(report_ms))]:
        logs = [abs(math.log(candidates[n][name] * 1e3 / ms))
                for n, ms in report_ms.items() if candidates[n][name] > 0]
        if logs and len(logs) == len(report_ms):
            scores[name] = sum(logs) / len(logs)
    if not scores:
        return "", math.nan
    name = min(scores, key=scores.get)
    return name, math.exp(scores[name])



def section15_beside(summary: Any, experiment: str) -> Beside:
    """Section 1.5 of the report beside this run's candidate readings of ``experiment``."""
    import pandas as pd

    from harness.report.markdown import REPORT, THIS, size_source, speedup_sentence

    rows = []
    matches = []
    for label, engines in (("torch", ("torch",)), ("bobodiff", E2_BOBODIFF_ENGINES)):
        report_ms = E2_REPORT_MS[label]
        for engine in engines:
            per_n = {n: e2_candidates(summary, experiment, engine, n) for n in report_ms}
            if all(math.isnan(v) for values in per_n.values() for v in values.values()):
                continue
            sources = {n: size_source(summary, experiment, engine, n) for n in report_ms}
            for name in per_n[next(iter(report_ms))]:
                row = {"report engine": label, "engine (this run)": engine, "reading": name}
                for n, ms in report_ms.items():
                    row[f"{REPORT} n={n} (ms)"] = ms
                    row[f"{THIS} n={n} (ms)"] = per_n[n][name] * 1e3
                    row[f"n={n}"] = sources[n]
                rows.append(row)
            name, factor = best_match(summary, experiment, engine, report_ms)
            if name:
                caveat = "" if set(sources.values()) == {"measured"} else \
                    " - from sizes " + " / ".join(sorted(set(sources.values()))) + \
                    " log-log, an estimate"
                matches.append(f"{engine}: the reading closest to the report's {label} figures "
                               f"is '{name}' (within a factor {factor:.2f} on average{caveat}).")
    paragraphs = [
        "The report: bobodiff 2228.68 ms (n=600) to 6622.13 ms (n=1000), 'quadratic'; "
        "PyTorch 27.83 ms to 57.20 ms, 'linear'; 'PyTorch about 100x faster'. The report does "
        "not say what it timed. One forward+backward pass of PyTorch is far below its "
        "figures, so the report timed more than one pass; the candidates below are measured "
        "(one step, setup from lists + step) or derived from measured cells (setup + step, "
        "100 steps, a sweep over every n from 1 to N interpolated log-log from the measured "
        "sizes). Values at sizes not measured (column n=...: interpolated or extrapolated "
        "log-log from the nearest measured sizes) are estimates.", *matches,
        speedup_sentence(summary, experiment, "step-b1", E2_BOBODIFF_ENGINES, (600, 1000)),
        "Note on growth: one step does ~n^2 multiply-adds, so every engine's time tends to "
        "grow as n^2 once n is large enough to hide fixed per-call costs; see the fitted "
        "exponents below."]
    return paragraphs, [("Report section 1.5 beside this run's candidate readings",
                         pd.DataFrame(rows))]



def table2_beside(summary: Any, experiment: str) -> Beside:
    """Table 2 of the report beside this run (n=700 interpolated when not measured)."""
    import pandas as pd

    from harness.report.markdown import REPORT, THIS, _ok, speedup_sentence
    from harness.report.summary import growth
    from harness.stats import loglog_interpolate

    rows = []
    ok = _ok(summary)
    slopes = growth(summary)
    for label, engines in (("bobodiff", E3_BOBODIFF_ENGINES), ("torch", ("torch",))):
        for engine in engines:
            for variant in ("jvp", "grad"):
                part = ok[(ok.experiment == experiment) & (ok.engine == engine)
                          & (ok.variant == variant)]
                if part.empty:
                    continue
                row = {"report framework": label, "engine / reading": f"{engine} / {variant}"}
                for n, ms in E3_REPORT_MS[label].items():
                    measured = n in set(part["size"])
                    value = loglog_interpolate(list(part["size"]), list(part["median_s"]), n)
                    row[f"{REPORT} n={n} (ms)"] = ms
                    row[f"{THIS} n={n} (ms)"] = value * 1e3
                    row[f"n={n} measured?"] = "yes" if measured else "interpolated"
                slope = slopes[(slopes.experiment == experiment) & (slopes.engine == engine)
                               & (slopes.variant == variant)]
                row[f"{REPORT} growth"] = E3_REPORT_GROWTH[label]
                row[f"{THIS} growth exponent"] = float(slope.exponent.iloc[0]) \
                    if len(slope) else math.nan
                rows.append(row)
    paragraphs = [
        "The report: bobodiff 444.57 ms (n=700), 891.61 ms (n=1000); PyTorch 29.19 ms, "
        "50.39 ms; 'PyTorch 11 to 17 times faster'. Its bobodiff forward network used one "
        "dual number per scalar (bobodiff-scalar / jvp here). 'jvp' is one direction; 'grad' "
        "is all n directions (the full input gradient).",
        speedup_sentence(summary, experiment, "jvp", E3_BOBODIFF_ENGINES, (700, 1000)),
        speedup_sentence(summary, experiment, "grad", E3_BOBODIFF_ENGINES[1:], (700, 1000))]
    return paragraphs, [("Report Table 2 beside this run", pd.DataFrame(rows))]
