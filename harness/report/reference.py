"""The report's own published figures (their machine), quoted from its sections 1.2-1.6."""

from __future__ import annotations

# Table 1 (E1): time for 10M calls in seconds, memory in MB, and the reading of this harness
# that corresponds to how the report measured each row.
TABLE1 = [
    {"row": "Forward (bobodiff)", "seconds": 0.4, "memory_mb": 38.8,
     "matches": [("bobodiff-forward", "batch"), ("bobodiff-forward", "loop")]},
    {"row": "Backward (bobodiff)", "seconds": 98.5, "memory_mb": 38.8,
     "matches": [("bobodiff-scalar", "loop"), ("bobodiff-compiled", "loop"),
                 ("bobodiff-reverse", "batch")]},
    {"row": "Backward (PyTorch)", "seconds": 1114.0, "memory_mb": 450.6,
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
