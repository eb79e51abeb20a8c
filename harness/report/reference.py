"""The report's own published figures (their machine), quoted from its sections 1.2-1.6."""

from __future__ import annotations

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
TABLE1_PEAK_MIB_BACKWARD = 37.1  # memory_profiler peak quoted in section 1.2

# Section 1.5 (E2, sigmoid network, reverse mode): milliseconds by n.
E2_REPORT_MS = {"bobodiff": {600: 2228.68, 1000: 6622.13}, "torch": {600: 27.83, 1000: 57.20}}
E2_REPORT_GROWTH = {"bobodiff": "quadratic", "torch": "linear"}
E2_REPORT_SPEEDUP = "PyTorch about 100x faster"

# Table 2 (E3, tanh network, forward mode): milliseconds by n.
E3_REPORT_MS = {"bobodiff": {700: 444.57, 1000: 891.61}, "torch": {700: 29.19, 1000: 50.39}}
E3_REPORT_GROWTH = {"bobodiff": "quadratic", "torch": "linear"}
E3_REPORT_SPEEDUP = "PyTorch 11 to 17 times faster"

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
