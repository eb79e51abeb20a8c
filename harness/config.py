"""Benchmark configuration: load a TOML file, validate every key, fill defaults.

Nothing from a config is ever executed; values are checked against typed declarations
(the [run] table below and each experiment's PARAMS) before anything runs.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from harness.engines import registry as engine_registry
from harness.experiments import registry as experiment_registry
from harness.params import Param, repeated

PROFILERS = ("cprofile", "scalene", "memory")

METRICS = ("time", "instructions")

STARTS = ("fork", "exec")

PROCESS_ORDERS = ("spread", "together")


class ConfigError(ValueError):
    """A configuration file is unreadable or has unknown keys, wrong types or values."""


def run_params() -> dict[str, Param]:
    """The keys of the [run] table."""
    engines = tuple(engine_registry())
    return {
        "name": Param("str", "run", "short name used in the run id"),
        "engines": Param("str_list", ["floor", "torch", "bobodiff-forward", "bobodiff-reverse",
                                      "bobodiff-scalar"], "engines to measure", choices=engines),
        "experiments": Param("str_list", list(experiment_registry()), "experiments to run",
                             choices=tuple(experiment_registry())),
        "dtype": Param("str", "float64", "floating-point type", choices=("float64", "float32")),
        "threads": Param("int", 1, "torch / BLAS / OpenMP threads in each cell (two-thread "
                         "pools collide with any neighbour on a 2-core machine)", 1, 1024),
        "seed": Param("int", 0, "seed of the random inputs", 0, 2**32 - 1),
        "warmup": Param("int", 1, "warm-up calls before calibration", 0, 100),
        "repeats": Param("int", 5, "timed repeats per cell", 1, 1000),
        "min_repeat_seconds": Param("float", 0.1, "calibrate loops so a repeat lasts this long",
                                    1e-4, 60.0),
        "max_cell_seconds": Param("float", 30.0, "soft time budget of the repeats of a cell",
                                  0.01, 86400.0),
        "timeout_seconds": Param("float", 300.0, "hard per-cell timeout (cell killed)",
                                 1.0, 86400.0),
        "jobs": Param("int", 1, "cells run at once; >1 disturbs timings (smoke tests only)",
                      1, 64),
        "memory_limit_mb": Param("int", 0, "RLIMIT_AS of each cell in MiB (0 = no limit)",
                                 0, 10**8),
        "processes": Param("int", 3, "fresh processes measuring each cell (each warms up, "
                           "calibrates and gives run.repeats values)", 1, 100),
        "process_order": Param("str", "spread", "when a cell's processes run: round r of "
                               "every group before round r + 1 of any (spread: they sample "
                               "the machine's states across the run), or a group's rounds "
                               "back to back (together)", choices=PROCESS_ORDERS),
        "metric": Param("str", "time", "what a value is: seconds per call, or instructions "
                        "per call counted by valgrind (pure-Python cells)",
                        choices=METRICS),
        "start": Param("str", "fork", "how a timing process starts: forked from a warm "
                       "interpreter that imported the engine once per round (fork), or a new "
                       "interpreter that imports it every time (exec)", choices=STARTS),
        "noise_threshold": Param("float", 0.3, "foreign_cpu_cores above which a process's "
                                 "values count as disturbed", 0.0, 1024.0),
        "remeasure": Param("int", 2, "times a disturbed process is measured again before "
                           "its cell is flagged disturbed", 0, 20),
        "remeasure_slowed": Param("bool", True, "measure a process again (run.remeasure "
                                  "times) when none of its repeats ran at full speed, and "
                                  "if one stays slowed, its group's round once more at the "
                                  "end of the run; a cell that keeps such a process is "
                                  "flagged disturbed"),
        "slowed_repeats_factor": Param("int", 3, "a process with fewer full-speed repeats "
                                       "than run.repeats (the host slowed the others) times "
                                       "more, up to this multiple of run.repeats (1: never "
                                       "more)", 1, 100),
    }


def profile_params() -> dict[str, Param]:
    """The keys of the [profile] table: the cells `make bench` profiles after timing."""
    return {
        "cells": Param("str_list", [], "cells to profile, EXPERIMENT/VARIANT/ENGINE[/n=SIZE] "
                       "(without n=: the largest size the engine runs)"),
        "seconds": Param("float", 3.0, "how long each profiled cell keeps running", 0.01,
                         3600.0),
        "profilers": Param("str_list", list(PROFILERS), "profilers to run", choices=PROFILERS),
    }


def _check_profile_cells(source: str, cells: Any, errors: list[str]) -> None:
    if not isinstance(cells, list):
        return  # reported by _check_table
    experiments, engines = experiment_registry(), engine_registry()
    for text in cells:
        if not isinstance(text, str):
            continue
        parts = text.split("/")
        problem = None
        if len(parts) not in (3, 4):
            problem = "expected EXPERIMENT/VARIANT/ENGINE or EXPERIMENT/VARIANT/ENGINE/n=SIZE"
        elif parts[0] not in experiments:
            problem = f"unknown experiment {parts[0]!r} (allowed: {', '.join(experiments)})"
        elif parts[2] not in engines:
            problem = f"unknown engine {parts[2]!r} (allowed: {', '.join(engines)})"
        elif len(parts) == 4 and not (parts[3].startswith("n=") and parts[3][2:].isdigit()):
            problem = f"size {parts[3]!r} must be written n=<integer>"
        if problem:
            errors.append(f"{source}: [profile] cells: {text!r}: {problem}")


def _experiment_params(name: str) -> dict[str, Param]:
    params = dict(experiment_registry()[name].PARAMS)
    params["engines"] = Param("str_list", None, "engines for this experiment (default: "
                              "[run] engines)", choices=tuple(engine_registry()))
    return params


def _check_table(source: str, table: str, values: Any, schema: dict[str, Param],
                 errors: list[str]) -> dict[str, Any]:
    if not isinstance(values, dict):
        errors.append(f"{source}: [{table}] must be a table, got {type(values).__name__}")
        return {}
    resolved = {}
    for key, value in values.items():
        if key not in schema:
            errors.append(f"{source}: [{table}] unknown key {key!r}; allowed keys: "
                          f"{', '.join(sorted(schema))}")
            continue
        problem = schema[key].validate(value)
        if problem:
            errors.append(f"{source}: [{table}] {key}: {problem} (allowed: "
                          f"{schema[key].describe()})")
        resolved[key] = value
    return {**{key: param.default for key, param in schema.items()}, **resolved}


def validate(data: dict[str, Any], source: str = "<config>") -> dict[str, Any]:
    """Check a parsed config and return it with every default filled in.

    Raises ConfigError listing every problem, each naming the file, the key and the
    allowed values.
    """
    errors: list[str] = []
    experiments = experiment_registry()
    allowed = ["run", *experiments, "profile"]
    for key in data:
        if key not in allowed:
            errors.append(f"{source}: unknown table or key {key!r}; allowed: "
                          f"{', '.join(allowed)}")
    resolved = {"run": _check_table(source, "run", data.get("run", {}), run_params(), errors)}
    for name in experiments:
        resolved[name] = _check_table(source, name, data.get(name, {}),
                                      _experiment_params(name), errors)
    resolved["profile"] = _check_table(source, "profile", data.get("profile", {}),
                                       profile_params(), errors)
    _check_profile_cells(source, resolved["profile"].get("cells"), errors)
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    return resolved


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a TOML config file (see validate)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: no such config file") from error
    except IsADirectoryError as error:
        raise ConfigError(f"{path}: is a directory, not a config file") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}); a config is a "
                          "UTF-8 TOML file") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror})") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return validate(data, str(path))


def restrict(config: dict[str, Any], only: list[str] | None,
             engines: list[str] | None) -> dict[str, Any]:
    """Apply the CLI's --only and --engines filters, validating the names they give."""
    config = {key: dict(value) for key, value in config.items()}
    if only:
        unknown = [name for name in only if name not in experiment_registry()]
        if len(set(only)) < len(only):
            raise ConfigError(f"--only: {', '.join(repeated(only))} given more than once")
        if unknown:
            raise ConfigError(f"--only: unknown experiment(s) {', '.join(unknown)}; allowed: "
                              f"{', '.join(experiment_registry())}")
        config["run"]["experiments"] = [n for n in config["run"]["experiments"] if n in only]
    if engines:
        unknown = [name for name in engines if name not in engine_registry()]
        if len(set(engines)) < len(engines):
            raise ConfigError(f"--engines: {', '.join(repeated(engines))} given more than once")
        if unknown:
            raise ConfigError(f"--engines: unknown engine(s) {', '.join(unknown)}; allowed: "
                              f"{', '.join(engine_registry())}")
        config["run"]["engines"] = engines
        for name in experiment_registry():
            config[name]["engines"] = None
    return config


def engines_for(config: dict[str, Any], experiment: str) -> list[str]:
    """The engines an experiment runs: its own list, else the [run] list."""
    return config[experiment].get("engines") or config["run"]["engines"]


def override_run(config: dict[str, Any], **values: Any) -> dict[str, Any]:
    """Replace [run] keys given on the command line (None = keep), validating each."""
    schema, errors = run_params(), []
    run = dict(config["run"])
    for key, value in values.items():
        if value is None:
            continue
        problem = schema[key].validate(value)
        if problem:
            errors.append(f"--{key}: {problem} (allowed: {schema[key].describe()})")
        run[key] = value
    if errors:
        raise ConfigError("; ".join(errors))
    return {**config, "run": run}
