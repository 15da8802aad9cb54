"""Command line: `python -m experiments run|tasks ...` (see `--help`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_CONFIG_ERROR = 2  # a bad grid file: nothing ran, nothing was written
EXIT_RUN_FAILED = 1  # the grid ran, but at least one run failed (see its summary.json)


def _run(args) -> int:
    from experiments.config import ConfigError, load_grid
    from experiments.runner import estimate_seconds

    try:
        grid = load_grid(args.config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.workers < 1:
        print(f"error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    specs = [s for s in grid.runs if args.only is None or args.only in s.run_id]
    if args.only is not None and not specs:
        print(f"error: no run id of grid {grid.name!r} contains {args.only!r}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.dry_run:
        total = 0.0
        for spec in specs:
            seconds = estimate_seconds(spec)
            total += seconds
            print(f"{spec.run_id}  ~{seconds:.0f} s")
        print(
            f"{len(specs)} runs, about {total / 60:.1f} min on one core, "
            f"{total / 60 / args.workers:.1f} min with {args.workers} workers"
        )
        return 0
    from experiments.runner import run_grid

    result = run_grid(grid, Path(args.out), workers=args.workers, only=args.only)
    grid_dir = Path(args.out) / grid.name
    from experiments.analysis import write_summary

    summary_path = write_summary(grid_dir)
    print(
        f"done: {result.counts} ({result.skipped} skipped as already finished); "
        f"records in {grid_dir}/runs, table in {summary_path}"
    )
    if result.failed:
        print(f"error: {result.failed} run(s) failed; see their summary.json", file=sys.stderr)
        return EXIT_RUN_FAILED
    return 0


def _tasks(args) -> int:
    from experiments.tasks import describe_tasks

    print(describe_tasks())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments",
        description="Activation and gradient-clipping experiments on recurrent networks.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train every run of a grid (resumes)")
    run.add_argument("config", help="a grid TOML file, e.g. experiments/configs/default.toml")
    run.add_argument("--out", default="results", help="results folder (default: results)")
    run.add_argument("--workers", type=int, default=1, help="runs at once (default: 1)")
    run.add_argument("--only", help="only the runs whose id contains this substring")
    run.add_argument("--dry-run", action="store_true", help="list the runs and a time estimate")
    run.set_defaults(handler=_run)

    tasks = commands.add_parser("tasks", help="list the tasks and their parameters")
    tasks.set_defaults(handler=_tasks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
