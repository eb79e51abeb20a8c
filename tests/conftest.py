"""Shared pytest set-up: hypothesis profile and the path to the engine test helpers."""

import os
import sys

from hypothesis import HealthCheck, settings

# The engine suites import their helpers as a plain module (tests/ has no __init__.py).
sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "engine",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("engine")
