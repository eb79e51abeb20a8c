"""Benchmarking harness: replays the report's experiments E1-E3 for every engine.

Data flows one way: config (TOML) -> cells (one fresh subprocess each) -> raw.jsonl ->
summary.csv / report.md / plots / index.html. See results/README.md for how to read a run.
"""
