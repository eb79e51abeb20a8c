"""Shared pytest set-up: the path to the engine test helpers, and a hypothesis profile.

The profile only lifts hypothesis' per-example deadline (timings on a loaded CI machine are
noise); each suite chooses its own ``max_examples``.
"""

import os
import sys

from hypothesis import HealthCheck, settings

# The engine suites import their helpers as a plain module (tests/ has no __init__.py).
sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "bobodiff",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("bobodiff")
