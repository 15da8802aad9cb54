"""Per-run records: CSV + JSON files, written once and atomically; resume; loading.

A run's folder `<grid_dir>/runs/<run-id>/` is written under a temporary name beside it and renamed
when complete, so a folder that has the final name is always whole, and a run killed half-way
leaves only a temporary folder that the next `run` removes. The files (names in
`experiments.vocabulary`, columns in docs/architecture.md):

    spec.json       the resolved spec, the task's rules, package versions
    steps.csv       step, loss, metric, grad_norm, grad_norm_clipped, max_abs_grad,
                    clip_fraction, learning_rate, seconds   (per-step values, training batch)
    eval.csv        step, loss, metric   (the fixed held-out set, every `eval_every` steps)
    variables.csv   step, variable, grad_norm, grad_norm_clipped
    timesteps.csv   step, t, grad_norm   (||dL/dx_t||, first, every `timestep_every`, last step)
    summary.json    status, final loss / metric, solved, step solved / diverged, wall seconds
                    (solved: `experiments.solving`, sustained over consecutive evaluations)
    events.out.tfevents.run   TensorBoard: steps.csv and eval.csv as scalars, the final metrics,
                    the hyperparameters (`experiments.records.events`; completed and diverged runs)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

from experiments.grid.spec import RunSpec
from experiments.records import environment, events
from experiments.records.files import csv_text, json_text
from experiments.solving import step_solved
from experiments.vocabulary import (
    EVAL_COLUMNS,
    EVAL_FILE,
    FAILED,
    FINISHED,
    RUNS_DIR,
    SPEC_FILE,
    STEP_COLUMNS,
    STEPS_FILE,
    SUMMARY_FILE,
    TIMESTEP_COLUMNS,
    TIMESTEPS_FILE,
    TMP_PREFIX,
    VARIABLE_COLUMNS,
    VARIABLES_FILE,
)


def runs_dir(grid_dir: Path) -> Path:
    return Path(grid_dir) / RUNS_DIR


def run_dir(grid_dir: Path, spec: RunSpec) -> Path:
    return runs_dir(grid_dir) / spec.run_id


def read_summary(folder: Path) -> dict | None:
    """A run folder's summary, or None if it has none."""
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def is_finished(grid_dir: Path, spec: RunSpec) -> bool:
    """Whether the run is recorded as completed or diverged (so `run` skips it)."""
    summary = read_summary(run_dir(grid_dir, spec))
    return summary is not None and summary.get("status") in FINISHED


def remove_stale(grid_dir: Path) -> list[Path]:
    """Removes the temporary folders of runs that were interrupted; returns them."""
    stale = sorted(runs_dir(grid_dir).glob(TMP_PREFIX + "*")) if runs_dir(grid_dir).is_dir() else []
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


def task_rules(task) -> dict:
    """What analysis needs to judge a run of `task` without rebuilding it."""
    return {
        "name": task.name,
        "params": task.params,
        "loss": task.loss_name,
        "metric": task.metric_name,
        "higher_is_better": task.higher_is_better,
        "solved_threshold": task.solved_threshold,
        "solved_rule": task.solved_rule,
        "baseline": task.baseline,
        "baseline_kind": task.baseline_kind,
        "metric_baseline": task.metric_baseline,
        "metric_is_loss": task.metric_is_loss,
    }


def summarize(task, log, wall_seconds: float) -> dict:
    """The summary of a finished (completed or diverged) run from its training log.

    `solved` and `step_solved` follow `experiments.solving`: the run solved at the first
    evaluation that starts `SUSTAIN` consecutive passing evaluations, whatever came after it (a
    run that worsens or diverges later has still solved).
    """
    last_eval = log.eval_rows[-1] if log.eval_rows else None
    solved_at = step_solved(
        [row["step"] for row in log.eval_rows],
        [bool(task.solved(row["metric"])) for row in log.eval_rows],
    )
    final_metric = last_eval["metric"] if last_eval else math.nan
    return {
        "status": log.status,
        "steps_done": log.steps[-1]["step"] if log.steps else 0,
        "final_loss": last_eval["loss"] if last_eval else math.nan,
        "final_metric": final_metric,
        "final_train_loss": log.steps[-1]["loss"] if log.steps else math.nan,
        "solved": solved_at is not None,
        "step_solved": solved_at,
        "step_diverged": log.step_diverged,
        "wall_seconds": wall_seconds,
    }


def failure_summary(traceback_text: str, wall_seconds: float) -> dict:
    """The summary of a run that raised: its traceback is kept for the user."""
    return {
        "status": FAILED,
        "steps_done": 0,
        "final_loss": math.nan,
        "final_metric": math.nan,
        "final_train_loss": math.nan,
        "solved": False,
        "step_solved": None,
        "step_diverged": None,
        "wall_seconds": wall_seconds,
        "error": traceback_text,
    }


def write_run(grid_dir: Path, spec: RunSpec, files: dict) -> Path:
    """Writes a run's files atomically: into a temporary folder, then one rename.

    Args:
        files: file name -> content: a dict (written as JSON), `(columns, rows)` (as CSV) or
            bytes. `summary.json` must be among them. A finished run's TensorBoard event file
            (`events.RUN_EVENTS_FILE`) is added from its spec, steps, evaluations and summary.

    A crash while writing any file leaves only the temporary folder (removed by the next `run`):
    the run's folder appears whole, with every file, or not at all.
    """
    if SUMMARY_FILE not in files:
        raise ValueError(f"a run's files must include {SUMMARY_FILE}, got {sorted(files)}")
    files = with_events(files)
    final = run_dir(grid_dir, spec)
    tmp = final.with_name(f"{TMP_PREFIX}{spec.run_id}-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, content in files.items():
        _write_file(tmp / name, content)
    if final.exists():  # a failed run being replaced
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def _write_file(path: Path, content) -> None:
    """One record file: a dict as JSON, `(columns, rows)` as CSV, bytes as they are."""
    if isinstance(content, bytes):
        path.write_bytes(content)
        return
    text = json_text(content) if isinstance(content, dict) else csv_text(*content)
    path.write_text(text)


def with_events(files: dict) -> dict:
    """`files` with the TensorBoard event file of a finished run (completed or diverged) added;
    as they are for a failed run (no steps) or when they hold it already.

    The wall time of step s is the run's start (now, less its last `seconds` value) plus its
    `seconds`."""
    summary = files[SUMMARY_FILE]
    if (
        summary.get("status") not in FINISHED
        or STEPS_FILE not in files
        or events.RUN_EVENTS_FILE in files
    ):
        return files
    columns, rows = files[STEPS_FILE]
    rows = list(rows)
    elapsed = (
        float(rows[-1][list(columns).index("seconds")]) if "seconds" in columns and rows else 0
    )
    elapsed = elapsed if math.isfinite(elapsed) else 0.0
    content = events.run_events(
        files.get(SPEC_FILE, {}),
        summary,
        (columns, rows),
        files.get(EVAL_FILE),
        start_time=time.time() - elapsed,
    )
    return {**files, STEPS_FILE: (columns, rows), events.RUN_EVENTS_FILE: content}


def run_files(spec: RunSpec, task, log, summary: dict) -> dict:
    """All files of a run, ready for `write_run`."""
    return {
        SPEC_FILE: {
            "run_id": spec.run_id,
            "spec": spec.to_dict(),
            "task": task_rules(task),
            "environment": environment.describe(),
        },
        STEPS_FILE: (STEP_COLUMNS, [[row[c] for c in STEP_COLUMNS] for row in log.steps]),
        EVAL_FILE: (EVAL_COLUMNS, [[row[c] for c in EVAL_COLUMNS] for row in log.eval_rows]),
        VARIABLES_FILE: (VARIABLE_COLUMNS, log.variable_rows),
        TIMESTEPS_FILE: (TIMESTEP_COLUMNS, log.timestep_rows),
        SUMMARY_FILE: summary,
    }
