"""Runs and seed groups, start to finish: build the task and model, train, summarise, return the
record files.

The unit of work is a seed group (`seed_groups`): the runs of one configuration that differ only
in their seed, trained together (`experiments.engine.group_training`); a group of one is a single run
(`train_run`, the one-run-at-a-time engine). The runner (in the driver process, and on Ray) and
the helper processes (`experiments.engine.workers`) all call `execute_group`; neither imports the other.
A run never raises for a bad run: an exception becomes a `failed` record with its traceback, and
a divergence is a result (`diverged`). Only the stop signal (`Stopped`) ends a run without a
record: the grid is being stopped, and the run is trained again when the grid resumes.
"""

from __future__ import annotations

import time
import traceback

from experiments.grid.spec import RunSpec, task_for
from experiments.records import writer as records
from experiments.vocabulary import SPEC_FILE, SUMMARY_FILE

Group = tuple[RunSpec, ...]

# Activations that grappler's remapper fuses into the op before them, and in an RNN's while loop
# (TF 2.21) the fused node has no op name: the function's whole graph optimization then fails, is
# logged as `E0000 ... tfg_optimizer_hook ... has an empty op name` / `remapper failed` lines, and
# the unoptimized graph runs. Plain Keras does the same (`SimpleRNN(activation="relu")`).
REMAPPER_BREAKING = ("relu", "relu6", "elu")


def seed_groups(specs: list[RunSpec]) -> list[Group]:
    """`specs` in groups that train together: runs equal but for `seed`, at most `seed_group` of
    them per group, in the order the runs first appear.

    XLA (`jit_compile`) runs stay alone: the group's batched step is not faster under XLA on
    CPU at these shapes, and its compile costs more (README, Performance).
    """
    by_configuration: dict[str, list[RunSpec]] = {}
    for spec in specs:
        key = repr({k: v for k, v in spec.to_dict().items() if k != "seed"})
        by_configuration.setdefault(key, []).append(spec)
    groups = []
    for runs in by_configuration.values():
        size = 1 if runs[0].jit_compile else runs[0].seed_group
        groups += [tuple(runs[i : i + size]) for i in range(0, len(runs), size)]
    return groups


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
    start = time.perf_counter()
    try:
        _fresh_session(spec)
        from experiments.engine import models, training

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


def execute_group(group: Group, stop=None) -> list[dict]:
    """Trains a seed group and returns each run's record files, in the order of `group`.

    A group of one is `train_run`. Otherwise the seeds train as one model
    (`group_training.train_group`); each seed's files are what its single run would write, and
    its summary says the group's size. An exception fails every run of the group, with the
    traceback; `Stopped` propagates (no run of the group is recorded).
    """
    if len(group) == 1:
        return [train_run(group[0], stop)]
    start = time.perf_counter()
    try:
        _fresh_session(group[0])
        from experiments.engine import group_training

        task = task_for(group[0])
        logs = group_training.train_group(list(group), task, on_step=_stop_check(stop))
        wall = time.perf_counter() - start
        files = []
        for spec, log in zip(group, logs, strict=True):
            summary = records.summarize(task, log, wall / len(group))
            summary.update(group_size=len(group), group_wall_seconds=wall)
            files.append(records.run_files(spec, task, log, summary))
        return files
    except Exception:
        error = traceback.format_exc()
        wall = time.perf_counter() - start
        return [failed_run_files(spec, error, wall / len(group)) for spec in group]


def _fresh_session(spec: RunSpec) -> None:
    """A clean Keras session for a run or group, with op determinism if the spec asks for it."""
    import keras
    import tensorflow as tf

    # Every run compiles its own step functions; TF's retracing warning would fire per run.
    tf.get_logger().setLevel("ERROR")
    keras.backend.clear_session()
    # The narrowest switch that silences those false alarms: the remapper alone, and only for the
    # runs it breaks on. Their steps are bit-identical with it on or off (its failed result was
    # discarded anyway; tests/experiments/test_console.py), while turning it off for a tanh run
    # changes its last bits, so every other run keeps it. The option is read when a function is
    # first run, and each run traces its own, so it is set for every run, back on as well as off.
    tf.config.optimizer.set_experimental_options({"remapping": not breaks_remapper(spec)})
    if spec.deterministic:
        tf.config.experimental.enable_op_determinism()


def breaks_remapper(spec: RunSpec) -> bool:
    """Whether the run's cell applies an activation that grappler's remapper fails on in a loop."""
    return any(name in REMAPPER_BREAKING for name in (spec.gates, spec.candidate, spec.output))


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
