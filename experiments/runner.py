"""Executes a grid: every run not yet finished, in-process or in N worker processes.

One run = build the task and model, train with the instrumented loop, write the records
atomically. A run that raises is recorded as `failed` with its traceback and the grid goes on;
a run that diverges is a result (`diverged`), not a failure.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from experiments import records
from experiments.config import Grid, RunSpec, task_for

# Seconds per (step x time step x units^2) and per run, from runs on the 2-core machine
# (`python -m experiments run ... ` wall times); only used for the --dry-run estimate.
_SECONDS_PER_STEP_UNIT = 1.5e-8
_SECONDS_PER_RUN = 4.0


def estimate_seconds(spec: RunSpec) -> float:
    """A rough wall-time estimate of one run on one core (for --dry-run)."""
    gates = {"lstm": 4, "peephole": 4, "cifg": 3, "gru": 3, "simple_rnn": 1, "indrnn": 1}[spec.cell]
    task = task_for(spec)
    time_steps = task.input_shape[0]
    work = spec.steps * time_steps * spec.depth * gates * spec.units * (spec.units + 16)
    return _SECONDS_PER_RUN + work * spec.batch_size / 32 * _SECONDS_PER_STEP_UNIT


def set_threads(threads: int) -> None:
    """Limits TensorFlow to `threads` CPU threads, if its runtime has not started yet.

    Once TensorFlow has run an op in this process (a notebook, an earlier grid) the thread pools
    are fixed and TensorFlow raises on a change; the runs then use the pools as they are.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass


def execute(spec: RunSpec, grid_dir: Path) -> dict:
    """Trains one run and writes its records; returns its summary. Never raises for a bad run."""
    import keras

    from experiments import models, training

    start = time.perf_counter()
    try:
        import tensorflow as tf

        # Every run compiles its own step functions; TF's retracing warning would fire per run.
        tf.get_logger().setLevel("ERROR")
        keras.backend.clear_session()
        if spec.deterministic:
            tf.config.experimental.enable_op_determinism()
        task = task_for(spec)
        model = models.build_model(spec, task)
        optimizer = models.build_optimizer(spec)
        log = training.train(spec, task, model, optimizer, models.build_loss(task))
        summary = records.summarize(task, log, time.perf_counter() - start)
        records.write_run(grid_dir, spec, records.run_files(spec, task, log, summary))
    except Exception:
        summary = records.failure_summary(traceback.format_exc(), time.perf_counter() - start)
        files = {"spec.json": {"run_id": spec.run_id, "spec": spec.to_dict()}}
        records.write_run(grid_dir, spec, {**files, "summary.json": summary})
    return summary


def _worker_init(threads: int) -> None:
    set_threads(threads)


def _execute_in_worker(spec_dict: dict, grid_dir: str) -> dict:
    return execute(RunSpec.from_dict(spec_dict), Path(grid_dir))


@dataclass
class GridResult:
    """What a `run_grid` call did."""

    total: int
    skipped: int
    counts: dict  # status -> runs executed now with that status

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0)


class Progress:
    """A tqdm bar on a terminal; one line per finished run otherwise (CI logs)."""

    def __init__(self, total: int, stream=None):
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.counts = {"completed": 0, "diverged": 0, "failed": 0}
        self.running = 0
        self.done = 0
        self.total = total
        self.bar = tqdm(total=total, unit="run", file=self.stream, dynamic_ncols=True)
        if not self.stream.isatty():
            self.bar.disable = True

    def started(self) -> None:
        self.running += 1
        self._refresh()

    def finished(self, spec: RunSpec, summary: dict) -> None:
        self.running -= 1
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
        self.bar.set_postfix(running=self.running, **self.counts, refresh=True)

    def close(self) -> None:
        self.bar.close()


def run_grid(
    grid: Grid, out_dir: Path, workers: int = 1, only: str | None = None, stream=None
) -> GridResult:
    """Runs every run of `grid` not yet finished under `out_dir/<grid.name>/`.

    Args:
        workers: runs at once; 1 runs in this process, N > 1 in N worker processes that each get
            an equal share of the CPU threads.
        only: run only the runs whose id contains this substring.
    """
    grid_dir = Path(out_dir) / grid.name
    specs = [s for s in grid.runs if only is None or only in s.run_id]
    records.remove_stale(grid_dir)
    todo = [s for s in specs if not records.is_finished(grid_dir, s)]
    stream = stream or sys.stderr
    print(
        f"grid {grid.name}: {len(specs)} runs, {len(specs) - len(todo)} already finished, "
        f"{len(todo)} to run with {workers} worker(s) -> {grid_dir}",
        file=stream,
        flush=True,
    )
    progress = Progress(len(todo), stream)
    threads = max(1, (os.cpu_count() or 1) // workers)
    try:
        if workers == 1:
            set_threads(threads)
            for spec in todo:
                progress.started()
                progress.finished(spec, execute(spec, grid_dir))
        else:
            _run_pool(todo, grid_dir, workers, threads, progress)
    finally:
        progress.close()
    return GridResult(total=len(specs), skipped=len(specs) - len(todo), counts=progress.counts)


def _run_pool(todo, grid_dir, workers, threads, progress) -> None:
    # spawn, not fork: TensorFlow's runtime is not fork-safe.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_worker_init, initargs=(threads,)
    ) as pool:
        pending = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < workers:
                spec = queue.pop(0)
                future = pool.submit(_execute_in_worker, spec.to_dict(), str(grid_dir))
                pending[future] = spec
                progress.started()
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                spec = pending.pop(future)
                progress.finished(spec, future.result())
