"""Loads run records into pandas and aggregates them over seeds. Pure functions: nothing here trains.

Nothing here imports TensorFlow either (`experiments.records.writer` does, through `config`), so that
`python -m experiments report` starts fast: the record names come from `experiments.vocabulary`.

    tables = load(grid_dir)           # every run of a grid: runs, configs, steps, ... (`Tables`)
    tables.runs                       # one row per run: spec, task rules, summary, derived measures
    tables.configs                    # one row per configuration: rates, intervals, medians
    summary_table(tables.runs)        # what `summary.csv` holds
    load_steps(grid_dir)              # every run's steps.csv in one frame, its spec joined

A *configuration* is a run's spec without its seed (and grid name); `configs` aggregates the seeds
of each. The rest lives beside this module:

- reading one run folder back (`run_folders`, `read_run`, `UnreadableRun`, `LATER_FIELDS`):
  `experiments.records.reader`, the record format's home beside the writer;
- the measures of a run (`runs` columns: `loss_baseline`, `loss_ratio`, `learned`, `solved`,
  `step_solved`, `clipped_steps`, `step_half_baseline`; `solved_at`, `smooth`, `finite`) and the
  Wilson interval of a success rate: `experiments.results.measures`;
- the labels of runs and configurations and the suite's order (`task_label`, `with_labels`,
  `rank`, `sort_key`, `ordered`): `experiments.results.labels`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from experiments.records.reader import (
    LATER_FIELDS,
    UnreadableRun,
    read_csv,
    read_json,
    read_run,
    run_folders,
)
from experiments.results.labels import NOT_CONFIG, ordered, with_labels
from experiments.results.measures import RULE_FIELDS, run_row, wilson_interval
from experiments.vocabulary import (
    CELLS,
    CLIP_MODES,
    COMPLETED,
    CSV_FILES,
    DIVERGED,
    EVAL_FILE,
    FAILED,
    FINISHED,
    RUNS_DIR,
    SCHEMES,
    SPEC_FILE,
    STEP_COLUMNS,
    STEPS_FILE,
    TASK_NAMES,
    TIMESTEPS_FILE,
    VARIABLES_FILE,
)

SUMMARY_COLUMNS = (
    "status",
    "steps_done",
    "final_loss",
    "final_metric",
    "solved",
    "step_solved",
    "step_diverged",
    "max_grad_norm",
    "median_clip_fraction",
    "loss_ratio",
    "step_half_baseline",
    "wall_seconds",
)


@dataclass(frozen=True)
class Tables:
    """Everything the records of one grid hold, as DataFrames (see the module docstring).

    `steps`, `evals`, `variables` and `timesteps` are the per-run CSVs stacked (`steps.csv`,
    `eval.csv`, `variables.csv`, `timesteps.csv`), with a `run_id` column first; `spec_columns` are the configuration columns of `runs` (spec minus seed, grid).
    """

    grid_dir: Path
    runs: pd.DataFrame
    configs: pd.DataFrame
    steps: pd.DataFrame
    evals: pd.DataFrame
    variables: pd.DataFrame
    timesteps: pd.DataFrame
    spec_columns: tuple[str, ...] = ()
    environment: dict = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()  # (folder name, why) of each unreadable run folder

    @property
    def name(self) -> str:
        """The grid's name (from its runs' specs, else the folder's name)."""
        if "grid" in self.runs and len(self.runs):
            return str(self.runs["grid"].iloc[0])
        return Path(self.grid_dir).name


# --------------------------------------------------------------------------------------------------
# Loading


def load(grid_dir: Path, stream=None) -> Tables:
    """Reads every run of `grid_dir` and aggregates them (see `Tables`).

    A folder in `runs/` that is not a whole run's records (`read_run`) is named on `stream`
    (default: stderr), skipped and listed in `Tables.skipped`; the tables hold the rest.

    Raises:
        FileNotFoundError: `grid_dir` does not exist or holds no readable run folder.
    """
    grid_dir = Path(grid_dir)
    stream = stream or sys.stderr
    if not grid_dir.is_dir():
        raise FileNotFoundError(f"no such results folder: {grid_dir}")
    rows, frames, spec_keys, environment = [], {k: [] for k in CSV_FILES}, [], {}
    skipped = []
    for folder in run_folders(grid_dir):
        try:
            run_id, meta, spec, summary, data = read_run(folder)
        except UnreadableRun as e:
            skipped.append((folder.name, str(e)))
            print(f"skipped {folder}: {e}", file=stream, flush=True)
            continue
        spec_keys += [k for k in spec if k not in spec_keys]
        environment = environment or meta.get("environment", {})
        for name, frame in data.items():
            if frame is not None:
                frames[name].append(frame)
        rows.append(
            run_row(run_id, spec, meta.get("task", {}), summary, data[STEPS_FILE], data[EVAL_FILE])
        )
    if not rows:
        also = f" ({len(skipped)} unreadable folder(s) skipped)" if skipped else ""
        raise FileNotFoundError(
            f"no runs in {grid_dir}{also}: expected run folders under {grid_dir / RUNS_DIR} "
            "(`python -m experiments run GRID.toml` writes them)"
        )
    frame = pd.DataFrame(rows)
    for key, default in LATER_FIELDS.items():  # runs recorded before the field existed
        if key in frame:
            frame[key] = frame[key].fillna(default)
    runs = with_labels(frame, spec_keys)
    spec_columns = tuple(k for k in spec_keys if k not in NOT_CONFIG)
    stacked = {
        name: pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run_id"])
        for name, parts in frames.items()
    }
    return Tables(
        grid_dir=grid_dir,
        runs=runs,
        configs=aggregate(runs, spec_columns),
        steps=stacked[STEPS_FILE],
        evals=stacked[EVAL_FILE],
        variables=stacked[VARIABLES_FILE],
        timesteps=stacked[TIMESTEPS_FILE],
        spec_columns=spec_columns,
        environment=environment,
        skipped=tuple(skipped),
    )


def load_steps(grid_dir: Path | str, stream=None) -> pd.DataFrame:
    """Every run's steps in one tidy frame: a row per `steps.csv` row of each run, with the run's
    id and spec joined.

    Columns: `run_id`, the spec's fields (`task`, `length`, `cell`, `scheme`, `clip`, `seed`, ...;
    a field added after a run was recorded has the value it ran with, `LATER_FIELDS`), then
    `STEP_COLUMNS` (`step`, `loss`, `metric`, `grad_norm`, ...). `learning_rate`, a spec field
    and a column of `steps.csv`, is the step's (the spec's: no run schedules its rate). A
    failed run has no rows. Reads
    only `spec.json` and `steps.csv` of each run (fast); a folder whose files cannot be read is
    named on `stream` (default: stderr) and left out, as `load` does.

        from experiments import load_steps
        steps = load_steps("results/default")
        steps.groupby(["cell", "clip", "step"])["grad_norm"].median()

    Raises:
        FileNotFoundError: `grid_dir` does not exist or holds no run folder that can be read.
    """
    grid_dir = Path(grid_dir)
    stream = stream or sys.stderr
    if not grid_dir.is_dir():
        raise FileNotFoundError(f"no such results folder: {grid_dir}")
    parts, specs = [], []
    for folder in run_folders(grid_dir):
        try:
            if not folder.is_dir():
                raise UnreadableRun("not a run folder (a stray file)")
            meta = read_json(folder / SPEC_FILE)
            spec, run_id = meta.get("spec"), meta.get("run_id")
            if not isinstance(spec, dict) or not isinstance(run_id, str):
                raise UnreadableRun(f"{SPEC_FILE} has no `run_id` and `spec`")
            steps = read_csv(folder / STEPS_FILE, STEP_COLUMNS, run_id)
        except UnreadableRun as e:
            print(f"skipped {folder}: {e}", file=stream, flush=True)
            continue
        spec = {k: v for k, v in spec.items() if k not in STEP_COLUMNS}
        specs.append(spec)
        spec = {**spec, **{k: v for k, v in LATER_FIELDS.items() if k not in spec}}
        if steps is not None:
            parts.append(steps.assign(**spec))
    if not specs:
        raise FileNotFoundError(f"no runs in {grid_dir}: expected run folders under {RUNS_DIR}/")
    # The spec fields in the order of the newest spec (the one with the most fields).
    spec_keys = list(max(specs, key=len))
    for spec in specs:
        spec_keys += [k for k in spec if k not in spec_keys]
    spec_keys += [k for k in LATER_FIELDS if k not in spec_keys]
    columns = ["run_id", *spec_keys, *STEP_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


# --------------------------------------------------------------------------------------------------
# Aggregates


def aggregate(runs: pd.DataFrame, spec_columns) -> pd.DataFrame:
    """One row per configuration (the runs that differ only in their seed).

    Rates count finished runs only (completed or diverged; a failed run is a bug, not a result):
    `success_rate` = solved / finished with its 95% Wilson interval `success_low, success_high`,
    `divergence_rate`, `learned_rate`. `metric_median, metric_min, metric_max` and
    `loss_ratio_median` are over completed runs; `step_half_median` over the runs that got below
    half the baseline (`n_half` of them).
    """
    spec_columns = [c for c in spec_columns if c in runs]
    labels = ["task_label", "model_label", "variant", "clip_label", "config_label"]
    rows = []
    for _, group in runs.groupby(spec_columns, sort=False, dropna=False):
        first = group.iloc[0]
        finished = group[group["status"].isin(FINISHED)]
        completed = group[group["status"] == COMPLETED]
        n = len(finished)
        solved = int(finished["solved"].astype(bool).sum())
        low, high = wilson_interval(solved, n)
        half = group["step_half_baseline"].dropna()
        rows.append(
            {
                **{c: first[c] for c in spec_columns + labels},
                **{c: first[c] for c in RULE_FIELDS + ("metric_is_loss", "loss_baseline")},
                "seeds": len(group),
                "n_finished": n,
                "n_solved": solved,
                "n_diverged": int((group["status"] == DIVERGED).sum()),
                "n_failed": int((group["status"] == FAILED).sum()),
                "n_learned": int(group["learned"].sum()),
                "success_rate": solved / n if n else math.nan,
                "success_low": low,
                "success_high": high,
                "divergence_rate": (finished["status"] == DIVERGED).mean() if n else math.nan,
                "learned_rate": finished["learned"].mean() if n else math.nan,
                "metric_median": completed["final_metric"].median(),
                "metric_min": completed["final_metric"].min(),
                "metric_max": completed["final_metric"].max(),
                "loss_ratio_median": completed["loss_ratio"].median(),
                "n_half": len(half),
                "step_half_median": half.median() if len(half) else math.nan,
                "median_clip_fraction": group["median_clip_fraction"].median(),
                "clipped_steps_median": group["clipped_steps"].median(),
                "max_grad_norm_median": group["max_grad_norm"].median(),
                "wall_seconds_median": group["wall_seconds"].median(),
            }
        )
    return pd.DataFrame(rows)


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of `summary.csv`: run id, spec columns, then `SUMMARY_COLUMNS`."""
    derived = {
        *SUMMARY_COLUMNS,
        *RULE_FIELDS,
        "metric_is_loss",
        "steps_done",
        "final_train_loss",
        "error",
        "clipped_steps",
        "loss_baseline",
        "learned",
        "task_label",
        "model_label",
        "variant",
        "clip_label",
        "config_label",
    }
    spec = [c for c in runs.columns if c not in derived and c != "run_id"]
    return runs[["run_id", *spec, *[c for c in SUMMARY_COLUMNS if c in runs]]]


def describe_grid(tables: Tables) -> dict:
    """The grid in a few facts: runs, seeds, statuses, the axes that vary and the fixed settings."""
    runs = tables.runs
    columns = [c for c in tables.spec_columns if c in runs]
    orders = {"task": TASK_NAMES, "cell": CELLS, "scheme": SCHEMES, "clip": CLIP_MODES}
    axes = {
        c: [_plain(v) for v in ordered(sorted(runs[c].unique().tolist()), orders.get(c, ()))]
        for c in columns
        if runs[c].nunique(dropna=False) > 1
    }
    fixed = {c: _plain(runs[c].iloc[0]) for c in columns if c not in axes}
    return {
        "name": tables.name,
        "runs": len(runs),
        "configurations": len(tables.configs),
        "seeds": sorted(runs["seed"].unique().tolist()) if "seed" in runs else [],
        "status": runs["status"].value_counts().to_dict(),
        "axes": axes,
        "fixed": fixed,
    }


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def budgets(runs: pd.DataFrame) -> dict[str, list[int]]:
    """The step budgets (`steps`) of each task label present in `runs`."""
    return {
        label: sorted(int(s) for s in group["steps"].unique())
        for label, group in runs.groupby("task_label", sort=False)
    }
