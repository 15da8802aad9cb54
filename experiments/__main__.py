"""Command line: `python -m experiments run|report|tasks ...` (see `--help`)."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

EXIT_CONFIG_ERROR = 2  # a bad grid file or results folder: nothing ran, nothing was written
EXIT_RUN_FAILED = 1  # the grid ran, but at least one run failed (see its summary.json)
EXIT_GRID_LOCKED = 3  # another `run` is writing to the same results folder
EXIT_INTERRUPTED = 130  # Ctrl-C: finished runs are kept; running again resumes

SEEDS_FORMS = "N, N-M (N <= M) or a comma-separated list of them, e.g. 4, 8-15, 0,3,5-7"
MAX_SEEDS = 100_000  # more is a typo (a grid holds at most config.MAX_RUNS runs)


def parse_seeds(text: str) -> list[int]:
    """The seeds `--seeds` names: "4" -> [4], "8-11" -> [8, 9, 10, 11], "0,3,5-7" -> [0, 3, 5,
    6, 7]; sorted, each once.

    Raises:
        ValueError: naming the bad value and the valid forms.
    """
    seeds: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        first, last = (int(match[1]), int(match[2] or match[1])) if match else (0, -1)
        if not match or last < first or last - first >= MAX_SEEDS:
            raise ValueError(
                f"--seeds {text!r}: {part.strip()!r} is not a seed or a range of seeds; "
                f"expected integers >= 0 as {SEEDS_FORMS}"
            )
        seeds.update(range(first, last + 1))
    if len(seeds) > MAX_SEEDS:
        raise ValueError(f"--seeds {text!r}: more than {MAX_SEEDS} seeds")
    return sorted(seeds)


def _run_command(args) -> int:
    if args.seeds is not None:
        try:
            args.seeds = parse_seeds(args.seeds)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_CONFIG_ERROR
    for flag, value, minimum in (
        ("--workers", args.workers, 1),
        ("--retries", args.retries, 0),
        ("--cpus-per-run", args.cpus_per_run, 1),
    ):
        if value < minimum:
            print(f"error: {flag} must be >= {minimum}, got {value}", file=sys.stderr)
            return EXIT_CONFIG_ERROR
    if args.executor == "ray" and importlib.util.find_spec("ray") is None:
        print(
            "error: --executor ray needs Ray: pip install -e '.[ray]' (make test installs it)",
            file=sys.stderr,
        )
        return EXIT_CONFIG_ERROR
    helpers = None
    if args.executor == "local" and args.workers > 1 and not args.dry_run:
        from experiments.engine.workers import HelperPool, threads_per_worker

        # Started before this process imports TensorFlow (to check the grid), so the helpers'
        # imports overlap with it.
        helpers = HelperPool(args.workers - 1, threads_per_worker(args.workers))
    try:
        return _check_and_train(args, helpers)
    finally:
        if helpers is not None:
            helpers.close()


def _check_and_train(args, helpers) -> int:
    from experiments.engine.runner import estimate_seconds
    from experiments.grid.config import ConfigError, load_grid

    try:
        grid = load_grid(args.config, seeds=args.seeds)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    specs = [s for s in grid.runs if args.only is None or args.only in s.run_id]
    if args.only is not None and not specs:
        print(f"error: no run id of grid {grid.name!r} contains {args.only!r}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.dry_run:
        from experiments.engine.execution import seed_groups

        groups = seed_groups(specs)
        total = 0.0
        for number, group in enumerate(groups, 1):
            seconds = estimate_seconds(group)
            total += seconds
            for spec in group:
                print(f"{spec.run_id}  group {number} ({len(group)} seeds, ~{seconds:.0f} s)")
        busy = min(args.workers, len(groups))
        print(
            f"{len(specs)} runs in {len(groups)} seed group(s), about {total / 60:.1f} min on one "
            f"core, {total / 60 / busy:.1f} min with {args.workers} worker(s)"
        )
        if len(groups) < args.workers:
            print(
                f"note: {len(groups)} seed group(s) for {args.workers} workers: workers share "
                f"groups, not seeds, so {args.workers - len(groups)} worker(s) will stay idle "
                "(lower `seed_group` in the grid to split the seeds into more groups)"
            )
        return 0
    from experiments.engine.runner import GridLocked, run_grid

    try:
        result = run_grid(
            grid,
            Path(args.out),
            workers=args.workers,
            only=args.only,
            executor=args.executor,
            retries=args.retries,
            cpus_per_run=args.cpus_per_run,
            address=args.address,
            helpers=helpers,
        )
    except GridLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_GRID_LOCKED
    except KeyboardInterrupt:
        print(
            "interrupted: finished runs are kept, no run folder is half-written; run the same "
            "command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    grid_dir = Path(args.out) / grid.name
    summary = (
        f"done: {result.counts} ({result.skipped} skipped as already finished); "
        f"records in {grid_dir}/runs"
    )
    if args.no_report:
        from experiments.results.exports import write_summary

        write_summary(grid_dir)
        print(f"{summary}, table in {grid_dir / 'summary.csv'}")
        print(f"report: python -m experiments report {grid_dir}")
    else:
        from experiments.results.report import write_report

        report_path = write_report(grid_dir)
        print(f"{summary}, table in {grid_dir / 'summary.csv'}")
        print(f"report: {report_path} (and {report_path.with_suffix('.html')})")
    print(f"TensorBoard: tensorboard --logdir {grid_dir}")
    if result.failed:
        print(f"error: {result.failed} run(s) failed; see their summary.json", file=sys.stderr)
        return EXIT_RUN_FAILED
    return 0


def _report_command(args) -> int:
    from experiments.results.report import write_report

    grid_dir = Path(args.grid_dir)
    if not grid_dir.is_dir():
        print(f"error: no such results folder: {grid_dir}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        report_path = write_report(grid_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    print(f"report: {report_path} (and {report_path.with_suffix('.html')})")
    print(f"TensorBoard: tensorboard --logdir {grid_dir}")
    return 0


def _bench_command(args) -> int:
    from experiments.engine.bench import run_bench

    run_bench(Path(args.out), quick=args.quick)
    print(f"written: {Path(args.out) / 'bench.csv'}")
    return 0


def _tasks_command(args) -> int:
    from experiments.grid.tasks import describe_tasks

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
    run.add_argument("--workers", type=int, default=1, help="seed groups at once (default: 1)")
    run.add_argument("--only", help="only the runs whose id contains this substring")
    run.add_argument(
        "--seeds",
        help=f"the seeds to run instead of the grid's `seeds`: {SEEDS_FORMS}",
    )
    run.add_argument("--dry-run", action="store_true", help="list the runs and a time estimate")
    run.add_argument(
        "--no-report",
        action="store_true",
        help="train and write summary.csv only; write the report later with "
        "`python -m experiments report`",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local processes (default) or one Ray task per seed group",
    )
    run.add_argument(
        "--address", help="Ray: the cluster to join (default: start a local Ray instance)"
    )
    run.add_argument("--cpus-per-run", type=int, default=1, help="Ray: CPUs per run (default: 1)")
    run.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a run whose worker process died is tried again (default: 2)",
    )
    run.set_defaults(handler=_run_command)

    report = commands.add_parser(
        "report",
        help="rebuild summary.csv, plots and report from a grid's records (no training); write "
        "the TensorBoard event files of runs that lack them",
    )
    report.add_argument("grid_dir", help="a grid's results folder, e.g. results/default")
    report.set_defaults(handler=_report_command)

    bench = commands.add_parser("bench", help="benchmarks: ratios measured side by side")
    bench.add_argument("--out", default="results/bench", help="folder of bench.csv")
    bench.add_argument("--quick", action="store_true", help="tiny shapes, 1 repeat (a check)")
    bench.set_defaults(handler=_bench_command)

    tasks = commands.add_parser("tasks", help="list the tasks and their parameters")
    tasks.set_defaults(handler=_tasks_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
