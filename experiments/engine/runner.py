"""Executes a grid: every run not yet finished, in seed groups, on N local workers or on Ray.

The unit of work is a seed group (`execution.seed_groups`): the unfinished runs of one
configuration that differ only in their seed, trained together and returning each run's record
files (a group of one is a single run). Workers share groups, not seeds.
Only the driver (the process that ran `run`) writes records, atomically, so workers need no shared
disk (Ray) and an interrupted grid leaves no half-written run folder. A run that raises is
recorded as `failed` with its traceback and the grid goes on; a run that diverges is a result
(`diverged`), not a failure; a helper process that dies (killed, out of memory) has its run tried
again up to `retries` times, then recorded as `failed`. Local workers are the driver itself (one
run at a time, in a thread) and `workers - 1` helper processes (`experiments.engine.workers`)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from experiments.engine.execution import (
    Group,
    execute_group,
    failed_run_files,
    seed_groups,
    set_threads,
)
from experiments.engine.workers import HelperPool, threads_per_worker
from experiments.grid.config import Grid
from experiments.grid.spec import RunSpec, task_for
from experiments.records import writer as records
from experiments.vocabulary import CELL_BLOCKS, FAILED, LOCK_FILE, STATUSES, SUMMARY_FILE

# Seconds per (step x time step x gates x units^2) and per run or group, and a group's step time
# in single-run steps (a fixed part plus a part per seed), from runs on the 2-core machine; only
# used for the --dry-run estimate.
_SECONDS_PER_STEP_UNIT = 1.5e-8
_SECONDS_PER_RUN = 4.0
_SECONDS_PER_GROUP = 2.5
_GROUP_STEP_FIXED, _GROUP_STEP_PER_SEED = 0.7, 0.3


def estimate_seconds(group: Group) -> float:
    """A rough wall-time estimate of one seed group (or a single run) on one core, for --dry-run."""
    spec = group[0]
    task = task_for(spec)
    time_steps = task.input_shape[0]
    blocks = CELL_BLOCKS[spec.cell]
    work = spec.steps * time_steps * spec.depth * blocks * spec.units * (spec.units + 16)
    step_seconds = work * spec.batch_size / 32 * _SECONDS_PER_STEP_UNIT
    if len(group) == 1:
        return _SECONDS_PER_RUN + step_seconds
    return _SECONDS_PER_GROUP + step_seconds * (
        _GROUP_STEP_FIXED + _GROUP_STEP_PER_SEED * len(group)
    )


# ---------------------------------------------------------------------------------------------
# Executors: each yields (spec, files) as runs finish; the driver writes.


def _local(
    todo: list[Group], workers: int, threads: int, retries: int, on_start, helpers=None
) -> Iterator[tuple[RunSpec, dict]]:
    """`workers` seed groups at once: one in a thread of the driver process, which has TensorFlow
    loaded already, and the others in `workers - 1` helper processes (`helpers`, or started here).

    A dead helper breaks its whole pool: every group in flight there is charged an attempt and
    re-queued (or failed after `retries`), and a new pool starts. A group in the driver has no
    such retry: if the driver dies, the grid stops, and running it again resumes.
    """
    set_threads(threads)
    queue = list(todo)
    attempts = dict.fromkeys(todo, 0)
    stop = threading.Event()
    own = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run")
    if workers > 1 and helpers is None:
        helpers = HelperPool(workers - 1, threads)
    in_own: dict = {}
    in_helpers: dict = {}

    def start_group(group: Group, submit, running: dict, *args) -> None:
        attempts[group] += 1
        running[submit(*args)] = group
        for spec in group:
            on_start(spec)

    try:
        while queue or in_own or in_helpers:
            if queue and not in_own:
                group = queue.pop(0)
                start_group(group, own.submit, in_own, execute_group, group, stop)
            while helpers is not None and queue and len(in_helpers) < workers - 1:
                group = queue.pop(0)
                start_group(group, helpers.submit, in_helpers, [s.to_dict() for s in group])
            done, _ = wait([*in_own, *in_helpers], return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                running = in_own if future in in_own else in_helpers
                try:
                    results = future.result()
                except BrokenProcessPool:  # a helper died; its groups are handled below
                    broken = True
                    continue
                group = running.pop(future)
                for spec, files in zip(group, results, strict=True):
                    files[SUMMARY_FILE]["attempts"] = attempts[group]
                    yield spec, files
            if broken:
                helpers.close()
                for group in in_helpers.values():
                    if attempts[group] > retries:
                        message = (
                            f"the worker process running this run died {attempts[group]} "
                            f"time(s) (killed, or out of memory); gave up after {retries} retries"
                        )
                        for spec in group:
                            files = failed_run_files(spec, message)
                            files[SUMMARY_FILE]["attempts"] = attempts[group]
                            yield spec, files
                    else:
                        queue.insert(0, group)
                in_helpers.clear()
                helpers = HelperPool(workers - 1, threads)
    finally:
        stop.set()  # every group in flight stops after its current step
        if helpers is not None:
            helpers.close()
        own.shutdown(wait=True)


def _ray(
    todo: list[Group], cpus_per_run: int, retries: int, address: str | None, on_start
) -> Iterator[tuple[RunSpec, dict]]:
    """One Ray task per seed group; the task returns the record files, so workers need no shared
    disk. Ray itself retries a task whose worker died (`max_retries`)."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=cpus_per_run, max_retries=retries)(_train_on_ray)
        pending = {}
        for group in todo:
            pending[remote.remote([s.to_dict() for s in group], cpus_per_run)] = group
            for spec in group:
                on_start(spec)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            group = pending.pop(done[0])
            try:
                results = ray.get(done[0])
            except ray.exceptions.RayError as e:
                message = f"the Ray task failed after {retries} retries: {e}"
                results = [failed_run_files(spec, message) for spec in group]
            yield from zip(group, results, strict=True)
    finally:
        if started_here:
            ray.shutdown()


def _train_on_ray(spec_dicts: list[dict], threads: int) -> list[dict]:
    set_threads(threads)
    return execute_group(tuple(RunSpec.from_dict(d) for d in spec_dicts))


# ---------------------------------------------------------------------------------------------
# The driver


@dataclass
class GridResult:
    """What a `run_grid` call did."""

    total: int
    skipped: int
    counts: dict  # status -> runs executed now with that status

    @property
    def failed(self) -> int:
        return self.counts.get(FAILED, 0)


class GridLocked(RuntimeError):
    """Another `run` is writing to the same grid folder."""


class Progress:
    """A tqdm bar on a terminal; one line per finished run otherwise (CI logs)."""

    def __init__(self, total: int, stream=None):
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.counts = dict.fromkeys(STATUSES, 0)
        self.running: set[str] = set()  # run ids in flight (a retried run is counted once)
        self.done = 0
        self.total = total
        self.bar = tqdm(total=total, unit="run", file=self.stream, dynamic_ncols=True)
        if not self.stream.isatty():
            self.bar.disable = True

    def started(self, spec: RunSpec) -> None:
        self.running.add(spec.run_id)
        self._refresh()

    def finished(self, spec: RunSpec, summary: dict) -> None:
        self.running.discard(spec.run_id)
        self.done += 1
        status = summary["status"]
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.bar.disable:
            metric = summary.get("final_metric")
            print(
                f"[{self.done}/{self.total}] {status:9s} {spec.run_id} "
                f"metric={metric:.4g} solved={summary.get('solved')} "
                f"({summary['wall_seconds']:.1f} s)",
                file=self.stream,
                flush=True,
            )
        self.bar.update(1)
        self._refresh()

    def _refresh(self) -> None:
        self.bar.set_postfix(running=len(self.running), **self.counts, refresh=True)

    def close(self) -> None:
        self.bar.close()


def _lock(grid_dir: Path) -> FileLock:
    """Takes the grid folder's lock (released when the process ends, however it ends).

    `filelock` picks the platform's own lock (fcntl on POSIX, msvcrt on Windows). The holder's pid
    goes into a file beside the lock, for the message a second `run` prints.
    """
    grid_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(grid_dir / LOCK_FILE)
    holder_file = grid_dir / f"{LOCK_FILE}.pid"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            holder = holder_file.read_text().strip() or "another process"
        except OSError:
            holder = "another process"
        raise GridLocked(
            f"{grid_dir} is in use by another `run` ({holder}); wait for it to finish, or use "
            "another --out"
        ) from None
    holder_file.write_text(f"pid {os.getpid()}\n")
    return lock


def run_grid(
    grid: Grid,
    out_dir: Path,
    workers: int = 1,
    only: str | None = None,
    stream=None,
    executor: str = "local",
    retries: int = 2,
    cpus_per_run: int = 1,
    address: str | None = None,
    helpers=None,
) -> GridResult:
    """Runs every run of `grid` not yet finished under `out_dir/<grid.name>/`.

    Args:
        workers: local executor: seed groups at once, each with an equal share of the CPU
            threads: one in this process (in a thread), the others in `workers - 1` helper
            processes.
        only: run only the runs whose id contains this substring.
        executor: `"local"` or `"ray"` (one Ray task per seed group, `cpus_per_run` CPUs each,
            on the cluster at `address`, or a local Ray instance when it is None).
        retries: how many times a run whose worker process died is tried again.
        helpers: the `workers - 1` helper processes (`workers.HelperPool`), if already started (the
            command line starts them before it imports TensorFlow); closed when the grid ends.

    Raises:
        GridLocked: another `run` is writing to the same grid folder.
        KeyboardInterrupt: after stopping the workers; finished runs are kept, no folder is
            half-written, and running again resumes.
    """
    grid_dir = Path(out_dir) / grid.name
    lock = _lock(grid_dir)
    stream = stream or sys.stderr
    try:
        specs = [s for s in grid.runs if only is None or only in s.run_id]
        records.remove_stale(grid_dir)
        todo = [s for s in specs if not records.is_finished(grid_dir, s)]
        groups = seed_groups(todo)
        where = (
            f"Ray ({cpus_per_run} CPU per group)" if executor == "ray" else f"{workers} worker(s)"
        )
        print(
            f"grid {grid.name}: {len(specs)} runs, {len(specs) - len(todo)} already finished, "
            f"{len(todo)} to run in {len(groups)} seed group(s) on {where} -> {grid_dir}",
            file=stream,
            flush=True,
        )
        progress = Progress(len(todo), stream)
        if executor == "ray":
            results = _ray(groups, cpus_per_run, retries, address, progress.started)
        else:
            results = _local(
                groups, workers, threads_per_worker(workers), retries, progress.started, helpers
            )
        try:
            for spec, files in results:
                records.write_run(grid_dir, spec, files)
                progress.finished(spec, files[SUMMARY_FILE])
        finally:
            results.close()  # stops the workers (Ctrl-C, or an error here)
            progress.close()
            records.remove_stale(grid_dir)
        return GridResult(total=len(specs), skipped=len(specs) - len(todo), counts=progress.counts)
    finally:
        lock.release()
