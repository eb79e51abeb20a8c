"""Command line: python -m harness run | charts | compare | profile | snakeviz | engines."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from harness.environment import PROJECT_ROOT
from harness.lock import RunFolderLocked, RunLock

EXIT_INTERRUPTED = 130


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="measure every cell of a config",
                              description="Run a benchmark config; each cell in a fresh "
                              "subprocess. Writes results/<run-id>/ and results/latest.")
    run.add_argument("config", help="TOML config, e.g. configs/default.toml")
    run.add_argument("--only", type=_names, help="experiments to run, e.g. E2,E3")
    run.add_argument("--engines", type=_names, help="engines to run, e.g. torch,floor")
    run.add_argument("--out", type=Path, default=PROJECT_ROOT / "results",
                     help="results root folder (default: results/)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="continue an interrupted run: measure only its missing cells "
                     "(the config must be the run's own)")
    run.add_argument("--force", action="store_true",
                     help="with --resume: accept a config that only adds cells (lists that "
                     "gain elements) with the same measurement settings")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--metric", choices=("time", "instructions"),
                     help="override run.metric: seconds, or instructions counted by callgrind")
    run.add_argument("--start", choices=("fork", "exec"),
                     help="override run.start: fork each timing process from a warm "
                     "interpreter (imports paid once per round), or exec a new one each time")
    run.add_argument("--threads", type=int, help="override run.threads (e.g. 2: the "
                     "two-thread variant)")
    run.add_argument("--beside", type=Path, metavar="RUN_DIR",
                     help="with --metric instructions: write the run into RUN_DIR/"
                     "instructions/ and show its counts beside RUN_DIR's times")
    charts = commands.add_parser("charts", help="redraw tables, plots and page from raw.jsonl",
                                 description="Regenerate summary.csv, report.md, the plots "
                                 "and index.html of a run folder from its raw.jsonl alone.")
    charts.add_argument("run_dir", type=Path, help="a run folder, e.g. results/latest")
    compare = commands.add_parser(
        "compare", help="ratios per cell between two runs, with intervals",
        description="Print median B/A per cell common to both runs with its 95%% interval; a "
        "difference is significant when the interval excludes 1 and the change exceeds "
        "--min-effect. Lists the cells of one run only.")
    compare.add_argument("run_a", type=Path)
    compare.add_argument("run_b", type=Path)
    compare.add_argument("--json", action="store_true",
                         help="print a JSON list, one object per cell in both runs")
    compare.add_argument("--min-effect", type=float, default=None, metavar="FRACTION",
                         help="smallest relative change called significant (default 0.03)")
    profile = commands.add_parser(
        "profile", help="profile representative cells (cProfile, Scalene, memory_profiler)",
        description="Run representative cells of a config (every E1 reading per engine; E2 "
        "and E3 at the largest size each engine runs) under cProfile, Scalene and "
        "memory_profiler, each in a fresh process, into RUN/profiles/; then redraw RUN's "
        "report and page. Profiling runs are separate from timing runs.")
    profile.add_argument("config", help="TOML config, e.g. configs/default.toml")
    profile.add_argument("--run", type=Path, metavar="RUN_DIR",
                         help="run folder to add profiles to (default: results/latest if it "
                         "exists, else a new run folder)")
    profile.add_argument("--named", action="store_true",
                         help="profile the cells the config's [profile] table names (what "
                         "`make bench` does after timing), with its seconds and profilers")
    profile.add_argument("--only", type=_names, help="experiments, e.g. E1,E2")
    profile.add_argument("--engines", type=_names, help="engines, e.g. bobodiff-reverse,torch")
    profile.add_argument("--variants", type=_names, help="readings, e.g. loop,step-b1")
    profile.add_argument("--profilers", type=_names, default=None,
                         help="cprofile,scalene,memory (default: all three)")
    profile.add_argument("--seconds", type=float, default=None,
                         help="how long each profiled cell keeps running (default: the "
                         "config's [profile] seconds, 3)")
    profile.add_argument("--out", type=Path, default=PROJECT_ROOT / "results",
                         help="results root folder for a new run folder (default: results/)")
    profile.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    snakeviz = commands.add_parser(
        "snakeviz", help="serve a cProfile profile with snakeviz on 127.0.0.1",
        description="Serve one .prof of RUN/profiles with snakeviz, bound to 127.0.0.1, "
        "without opening a browser; prints the URL. Ctrl-C stops it.")
    snakeviz.add_argument("run_dir", type=Path, nargs="?", default=PROJECT_ROOT / "results" /
                          "latest", help="a run folder (default: results/latest)")
    snakeviz.add_argument("--prof", help="a .prof path, or part of a profile's file name "
                          "(default: E1-loop of bobodiff's scalar engine, the report's own)")
    snakeviz.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    snakeviz.add_argument("--list", action="store_true", help="list the profiles and exit")
    engines = commands.add_parser(
        "engines", help="list every engine: availability, version, capabilities",
        description="List the engines found in the entry-point group bobodiff_harness.engines "
        "(the built-in ones and any installed plug-in): installed or why not, the version "
        "measured, capabilities and the readings each runs.")
    engines.add_argument("--json", action="store_true", help="print a JSON list")
    return parser


def _load_config(args: argparse.Namespace) -> dict | None:
    """The validated config restricted by --only / --engines; None (message printed) if bad."""
    from harness import config as configuration

    overrides = {key: getattr(args, key, None) for key in ("metric", "threads", "start")}
    try:
        config = configuration.restrict(configuration.load(args.config), args.only,
                                        args.engines)
        return configuration.override_run(config, **overrides)
    except configuration.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def command_run(args: argparse.Namespace) -> int:
    """Validate the config, run the cells, write derived files, update results/latest."""
    from harness import runner

    config = _load_config(args)
    if config is None:
        return 2
    if args.force and not args.resume:
        print("error: --force is only meaningful with --resume", file=sys.stderr)
        return 2
    if args.beside and config["run"]["metric"] != "instructions":
        print("error: --beside needs --metric instructions (or run.metric = 'instructions')",
              file=sys.stderr)
        return 2
    if args.beside and not (args.beside / runner.RAW_NAME).exists():
        print(f"error: --beside {args.beside}: no raw.jsonl there", file=sys.stderr)
        return 2
    if args.resume:
        run_dir = args.resume.resolve()
        if not (run_dir / runner.RAW_NAME).exists():
            print(f"error: --resume {args.resume}: no raw.jsonl there", file=sys.stderr)
            return 2
    elif args.beside:
        run_dir = args.beside.resolve() / "instructions"
        run_dir.mkdir(exist_ok=True)
    else:
        run_dir = runner.new_run_dir(args.out.resolve(), config["run"]["name"])
    try:
        with RunLock(run_dir):
            return _run_locked(args, config, run_dir)
    except RunFolderLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run_locked(args: argparse.Namespace, config: dict, run_dir: Path) -> int:
    """command_run once the run folder is locked."""
    from harness import resume, runner
    from harness.rawio import RawWriteError

    if args.resume:
        try:
            resume.check(run_dir / runner.RAW_NAME, config, args.force)
        except resume.ResumeRefused as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    print(f"run folder: {run_dir}", file=sys.stderr)
    hint = (f"resume: python -m harness run {args.config} --resume {run_dir}\n"
            f"redraw: python -m harness charts {run_dir}")
    try:
        counts = runner.execute(config, run_dir, str(args.config), bool(args.resume),
                                not args.no_progress)
    except runner.Interrupted as error:
        print(f"\ninterrupted ({error}); raw.jsonl keeps every finished cell.\n{hint}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except RawWriteError as error:
        print(f"\nerror: {error}; raw.jsonl keeps every cell written before.\n{hint}",
              file=sys.stderr)
        return 1
    from harness import report  # pandas and matplotlib only once the cells are done

    try:
        built = report.build(run_dir)
        if args.beside:  # the time run's report gains the counts; results/latest stays
            report.build(args.beside)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        print(f"error: no space left on device while writing {error.filename or run_dir}; "
              f"raw.jsonl has every cell.\nredraw: python -m harness charts {run_dir}",
              file=sys.stderr)
        return 1
    if args.beside:
        print(run_dir)
        return 0
    link = runner.update_latest(run_dir)
    print("cells: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          file=sys.stderr)
    print(f"page: {run_dir / 'index.html'}  ({link} -> {run_dir.name})", file=sys.stderr)
    for warning in built["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(run_dir)
    return 0


def command_charts(args: argparse.Namespace) -> int:
    """Redraw every derived file of a run folder."""
    from harness import report

    try:
        built = report.build(args.run_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in built["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for path in built["files"]:
        print(path)
    return 0


def command_compare(args: argparse.Namespace) -> int:
    """Print per-cell ratios between two runs (text, or JSON with --json)."""
    from harness.compare import cells_in_one_run, compare_runs, comparison_json, format_comparison
    from harness.stats import MIN_EFFECT

    min_effect = MIN_EFFECT if args.min_effect is None else args.min_effect
    try:
        table = compare_runs(args.run_a, args.run_b, min_effect)
        only = cells_in_one_run(args.run_a, args.run_b)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(comparison_json(table))
        for side, cells in only.items():
            if cells:
                print(f"only in run {side} ({len(cells)}): {', '.join(cells)}",
                      file=sys.stderr)
    else:
        print(format_comparison(table, only, min_effect))
    return 0


def command_profile(args: argparse.Namespace) -> int:
    """Profile representative cells into a run folder, then redraw its report and page."""
    from harness import profiling, runner

    config = _load_config(args)
    if config is None:
        return 2
    settings = config["profile"]
    profilers = tuple(args.profilers or settings["profilers"])
    unknown = sorted(set(profilers) - set(profiling.PROFILERS))
    if unknown:
        print(f"error: --profilers: unknown {unknown}; choose from {profiling.PROFILERS}",
              file=sys.stderr)
        return 2
    seconds = args.seconds if args.seconds is not None else settings["seconds"]
    try:
        cells = (profiling.named_cells(config) if args.named
                 else profiling.representative_cells(config))
    except ValueError as error:
        print(f"error: {args.config}: {error}", file=sys.stderr)
        return 2
    if args.variants:
        cells = [cell for cell in cells if cell.variant in args.variants]
    if not cells and args.named and not settings["cells"]:
        print(f"note: {args.config} has no [profile] cells: nothing to profile", file=sys.stderr)
        return 0
    if not cells:
        print("error: no cell to profile (check --only, --engines, --variants)", file=sys.stderr)
        return 2
    run_dir = _profile_run_dir(args, config, runner)
    print(f"run folder: {run_dir}\nprofiling {len(cells)} cells x {len(profilers)} "
          f"profilers; {profiling.environment_note()}", file=sys.stderr)
    from harness import report

    try:
        with RunLock(run_dir):  # not while a run (or another profiler) writes the folder
            records = profiling.profile_run(config, run_dir, cells, profilers, seconds,
                                            not args.no_progress)
            report.build(run_dir)
    except RunFolderLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; profiles/profiles.jsonl keeps every finished profile",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = [r for r in records if r.get("status") != "ok"]
    for record in failed:
        print(f"warning: {record['cell']} / {record['profiler']}: {record.get('message')}",
              file=sys.stderr)
    print(f"page: {run_dir / 'index.html'}\nserve a profile: make snakeviz "
          f"(python -m harness snakeviz {run_dir})", file=sys.stderr)
    print(run_dir)
    return 0


def _profile_run_dir(args: argparse.Namespace, config: dict, runner) -> Path:
    """--run, else results/latest when it exists, else a new run folder with an env line."""
    if args.run:
        run_dir = args.run.resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        latest = args.out.resolve() / "latest"
        if latest.exists():
            return latest.resolve()
        run_dir = runner.new_run_dir(args.out.resolve(), config["run"]["name"] + "-profile")
        runner.update_latest(run_dir)
    raw = run_dir / runner.RAW_NAME
    if not raw.exists():  # a valid (empty) run folder: report and page can be drawn
        from harness.environment import describe

        runner.append_lines(raw, [{"kind": "env", "run_id": run_dir.name,
                                   "started": runner.now_iso(), "config_path": str(args.config),
                                   "resumed": False, "config": config,
                                   **describe(config["run"]["threads"])}])
    return run_dir


def command_snakeviz(args: argparse.Namespace) -> int:
    """Serve a profile with snakeviz on 127.0.0.1 (never another interface)."""
    import subprocess

    from harness import profiling

    try:
        prof = profiling.choose_profile(args.run_dir, args.prof)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.list:
        for path in sorted((args.run_dir / "profiles").glob("*.prof")):
            print(path)
        return 0
    print(f"serving {prof}\nopen {profiling.snakeviz_url(prof, args.port)}\n"
          "(Ctrl-C stops the server)", file=sys.stderr)
    try:
        return subprocess.call(profiling.snakeviz_command(prof, args.port))
    except KeyboardInterrupt:
        return 0


def engine_rows() -> list[dict[str, object]]:
    """One row per registered engine (what ``engines`` prints)."""
    from harness.engines import registry

    rows = []
    for engine in registry().values():
        reason = engine.unavailable_reason()
        rows.append({"engine": engine.name, "available": reason is None,
                     "status": "installed" if reason is None else reason,
                     "version": engine.version(), "family": engine.family or "-",
                     "capabilities": sorted(engine.capabilities),
                     "readings": engine.readings(), "description": engine.description})
    return rows


def command_engines(args: argparse.Namespace) -> int:
    """Print the engines, their availability, version, capabilities and readings."""
    import json

    rows = engine_rows()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        status = row["status"] if row["available"] else f"unavailable: {row['status']}"
        print(f"{row['engine']:<20} {status}")
        print(f"{'':<20} version {row['version']}; capabilities: "
              f"{', '.join(row['capabilities']) or '-'}")
        print(f"{'':<20} readings: {', '.join(row['readings']) or '-'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and dispatch; returns the exit status."""
    args = build_parser().parse_args(argv)
    handlers = {"run": command_run, "charts": command_charts, "compare": command_compare,
                "profile": command_profile, "snakeviz": command_snakeviz,
                "engines": command_engines}
    return handlers[args.command](args)
