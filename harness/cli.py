"""Command line: python -m harness run | charts | compare (profile and snakeviz: issue 4)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.environment import PROJECT_ROOT

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
                     help="continue an interrupted run: measure only its missing cells")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    charts = commands.add_parser("charts", help="redraw tables, plots and page from raw.jsonl",
                                 description="Regenerate summary.csv, report.md, the plots "
                                 "and index.html of a run folder from its raw.jsonl alone.")
    charts.add_argument("run_dir", type=Path, help="a run folder, e.g. results/latest")
    compare = commands.add_parser("compare", help="ratios per cell between two runs",
                                  description="Print median B/A per cell common to both runs.")
    compare.add_argument("run_a", type=Path)
    compare.add_argument("run_b", type=Path)
    for name in ("profile", "snakeviz"):
        stub = commands.add_parser(name, help=f"{name} (not implemented yet: issue 4)")
        stub.add_argument("args", nargs="*")
        stub.add_argument("--prof", help=argparse.SUPPRESS)
        stub.add_argument("--only", help=argparse.SUPPRESS)
    return parser


def command_run(args: argparse.Namespace) -> int:
    """Validate the config, run the cells, write derived files, update results/latest."""
    from harness import config as configuration
    from harness import runner

    try:
        config = configuration.restrict(configuration.load(args.config), args.only,
                                        args.engines)
    except configuration.ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.resume:
        run_dir = args.resume.resolve()
        if not (run_dir / runner.RAW_NAME).exists():
            print(f"error: --resume {args.resume}: no raw.jsonl there", file=sys.stderr)
            return 2
    else:
        run_dir = runner.new_run_dir(args.out.resolve(), config["run"]["name"])
    print(f"run folder: {run_dir}", file=sys.stderr)
    try:
        counts = runner.execute(config, run_dir, str(args.config), bool(args.resume),
                                not args.no_progress)
    except runner.Interrupted as error:
        print(f"\ninterrupted ({error}); raw.jsonl keeps every finished cell.\n"
              f"resume: python -m harness run {args.config} --resume {run_dir}\n"
              f"redraw: python -m harness charts {run_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    from harness import report  # pandas and matplotlib only once the cells are done

    built = report.build(run_dir)
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
    """Print per-cell ratios between two runs."""
    from harness.compare import compare_runs, format_comparison

    try:
        print(format_comparison(compare_runs(args.run_a, args.run_b)))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def command_stub(args: argparse.Namespace) -> int:
    """Profiling commands belong to issue 4."""
    print(f"error: 'python -m harness {args.command}' is not implemented yet (issue 4: "
          "profiling with cProfile, Scalene and memory_profiler)", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and dispatch; returns the exit status."""
    args = build_parser().parse_args(argv)
    handlers = {"run": command_run, "charts": command_charts, "compare": command_compare,
                "profile": command_stub, "snakeviz": command_stub}
    return handlers[args.command](args)
