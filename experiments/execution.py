"""One run, start to finish: build the task and model, train, summarise, return the record files.

The runner (in the driver process, and on Ray) and the helper processes (`experiments.workers`)
both call `train_run`; neither imports the other. A run never raises for a bad run: an exception
becomes a `failed` record with its traceback, and a divergence is a result (`diverged`). Only the
stop signal (`Stopped`) ends a run without a record: the grid is being stopped, and the run is
trained again when the grid resumes.
"""

from __future__ import annotations

import time
import traceback

from experiments import records
from experiments.config import RunSpec, task_for
from experiments.vocabulary import SPEC_FILE, SUMMARY_FILE


class Stopped(BaseException):
    """Raised inside a run, in the driver's thread or a helper, when the grid is stopped (not an
    `Exception`, so the run is not recorded as failed)."""


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


def train_run(spec: RunSpec, stop=None) -> dict:
    """Trains one run and returns its record files (see `records.write_run`).

    Args:
        spec: the run.
        stop: an event (`threading.Event` or a multiprocessing one) or None. Once it is set, from
            another thread or process, the run ends after its current step by raising `Stopped`.

    Returns:
        File name -> content, `summary.json` among them; a run that raised has a `failed`
        summary with its traceback.
    """
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    try:
        # Every run compiles its own step functions; TF's retracing warning would fire per run.
        tf.get_logger().setLevel("ERROR")
        keras.backend.clear_session()
        if spec.deterministic:
            tf.config.experimental.enable_op_determinism()
        from experiments import models, training

        task = task_for(spec)
        model = models.build_model(spec, task)
        optimizer = models.build_optimizer(spec)
        log = training.train(
            spec, task, model, optimizer, models.build_loss(task), on_step=_stop_check(stop)
        )
        summary = records.summarize(task, log, time.perf_counter() - start)
        return records.run_files(spec, task, log, summary)
    except Exception:
        return failed_run_files(spec, traceback.format_exc(), time.perf_counter() - start)


def _stop_check(stop):
    """The `on_step` callback that raises `Stopped` once `stop` is set (None: never stops)."""
    if stop is None:
        return None

    def check(step: int) -> None:
        if stop.is_set():
            raise Stopped(f"stopped at step {step}")

    return check


def failed_run_files(spec: RunSpec, error: str, wall_seconds: float = 0.0) -> dict:
    """The record files of a run that could not finish: its spec and a `failed` summary."""
    return {
        SPEC_FILE: {"run_id": spec.run_id, "spec": spec.to_dict()},
        SUMMARY_FILE: records.failure_summary(error, wall_seconds),
    }
