"""Loads run records into pandas and aggregates them over seeds. Pure functions: nothing here trains.

Nothing here imports TensorFlow either (`experiments.records.writer` does, through `config`), so that
`python -m experiments report` starts fast: the record names come from `experiments.vocabulary`.

    tables = load(grid_dir)           # every run of a grid: runs, configs, steps, ... (`Tables`)
    tables.runs                       # one row per run: spec, task rules, summary, derived measures
    tables.configs                    # one row per configuration: rates, intervals, medians
    summary_table(tables.runs)        # what `summary.csv` holds
    load_steps(grid_dir)              # every run's steps.csv in one frame, its spec joined

A *configuration* is a run's spec without its seed (and grid name); `configs` aggregates the seeds
of each. Measures (`runs` columns, all read from the records):

- `loss_baseline`: the loss of the best memoryless model (the task's baseline when it is a loss
  value, e.g. adding's 1/6 or copy's 10 log 8 / (T + 20); for a classification task whose baseline
  is an accuracy p over balanced classes, the cross-entropy log(1/p) of the uniform guess).
- `loss_ratio`: the final held-out loss / `loss_baseline` (completed runs; inf for diverged ones).
- `learned`: a completed run whose `loss_ratio` < 1/2: the graded success used where nothing is
  solved (copy at a short budget) - a binary "solved" hides the slow learners.
- `solved`, `step_solved`: whether and from which step the run solved its task: the held-out
  metric passed the task's rule at two consecutive evaluations (`experiments.solving`; recomputed
  from `eval.csv`, so older records follow the same rule).
- `clipped_steps`: the fraction of steps at which clipping changed the gradient.
- `step_half_baseline`: the first step at which the training loss, as a moving median over
  `SMOOTH_STEPS` steps, fell below half the baseline (NaN: never within the budget).
"""

from __future__ import annotations

import io
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments import solving
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
    STATUSES,
    STEP_COLUMNS,
    STEPS_FILE,
    SUMMARY_FILE,
    TASK_NAMES,
    TIMESTEPS_FILE,
    TMP_PREFIX,
    VARIABLES_FILE,
)

SMOOTH_STEPS = 20  # moving-median window of the training loss (steps)
LEARNED_RATIO = 0.5  # "learned": the final loss below this fraction of the baseline
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval

# The spec fields that name a configuration in the tables and plots (task x model x clipping);
# other fields that vary within a task are appended to the model label (e.g. `forget_bias=0`).
TASK_FIELDS = ("task", "length", "permuted")
MODEL_FIELDS = ("cell", "scheme", "gates", "candidate", "output")
CLIP_FIELDS = ("clip", "clip_threshold")
NOT_CONFIG = ("seed", "grid", "seed_group")  # spec fields that do not define a configuration
# Spec fields added after runs were recorded, with the value older runs computed with.
LATER_FIELDS = {"momentum": 0.0, "gate_init": "keras", "kernel_initializer": "glorot_uniform"}

RULE_FIELDS = (
    "metric_name",
    "loss_name",
    "higher_is_better",
    "solved_threshold",
    "solved_rule",
    "baseline",
    "baseline_kind",
    "metric_baseline",
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


def run_folders(grid_dir: Path) -> list[Path]:
    """The entries of a grid's `runs/` folder other than runs still being written, sorted by name:
    the run folders, and anything foreign that `load` names and skips."""
    runs = Path(grid_dir) / RUNS_DIR
    if not runs.is_dir():
        return []
    return [entry for entry in sorted(runs.iterdir()) if not entry.name.startswith(TMP_PREFIX)]


class UnreadableRun(ValueError):
    """A run folder that cannot be read as a run's records (why, in words)."""


# Spec fields every table and figure needs.
_REQUIRED_SPEC = ("task", "length", "cell", "scheme", "clip", "clip_threshold", "steps", "seed")


def read_run(folder: Path) -> tuple[str, dict, dict, dict, dict[str, pd.DataFrame | None]]:
    """One run folder's records: `(run_id, spec.json, spec, summary, csv frames by file name)`.

    Raises:
        UnreadableRun: the folder is not a whole run's records: a stray file, a missing or
            unreadable `spec.json` / `summary.json`, or a CSV that is truncated or has other
            columns than the records' (see `experiments.vocabulary.CSV_FILES`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UnreadableRun("not a run folder (a stray file)")
    meta, summary = _read_json(folder / SPEC_FILE), _read_json(folder / SUMMARY_FILE)
    spec, run_id = meta.get("spec"), meta.get("run_id")
    if not isinstance(spec, dict) or not isinstance(run_id, str):
        raise UnreadableRun(f"{SPEC_FILE} has no `run_id` and `spec`")
    if missing := [key for key in _REQUIRED_SPEC if key not in spec]:
        raise UnreadableRun(f"{SPEC_FILE}: the spec lacks {missing}")
    if summary.get("status") not in STATUSES:
        raise UnreadableRun(
            f"{SUMMARY_FILE}: status {summary.get('status')!r} is none of {list(STATUSES)}"
        )
    frames = {
        name: _read_csv(folder / name, columns, run_id) for name, columns in CSV_FILES.items()
    }
    steps = frames[STEPS_FILE]
    steps_done = summary.get("steps_done") or 0
    if (
        summary["status"] != FAILED
        and steps_done
        and (steps is None or steps["step"].max() != steps_done)
    ):
        raise UnreadableRun(f"{STEPS_FILE} does not reach step {steps_done} of {SUMMARY_FILE}")
    return run_id, meta, spec, summary, frames


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise UnreadableRun(f"no {path.name}")
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UnreadableRun(f"{path.name} is not readable JSON ({e})") from None
    if not isinstance(content, dict):
        raise UnreadableRun(f"{path.name} holds {type(content).__name__}, not a JSON object")
    return content


def _read_csv(path: Path, columns: tuple[str, ...], run_id: str) -> pd.DataFrame | None:
    """A record CSV with a `run_id` column first; None if the run has no such file or no rows."""
    if not path.is_file():
        return None
    try:
        text = path.read_text()
    except (OSError, ValueError) as e:
        raise UnreadableRun(f"{path.name} is not readable ({e})") from None
    if not text.endswith("\n"):  # every record file ends its last line; a cut one does not
        raise UnreadableRun(f"{path.name} is truncated (its last line is cut)")
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as e:
        raise UnreadableRun(f"{path.name} is not a readable CSV ({e})") from None
    if tuple(frame.columns) != columns:
        raise UnreadableRun(f"{path.name} has columns {list(frame.columns)}, not {list(columns)}")
    if frame.empty:  # e.g. eval.csv of a run that diverged before its first evaluation
        return None
    for column in frame.columns:
        if column != "variable":
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if frame["step"].isna().any():
        raise UnreadableRun(f"{path.name} has rows without a step number")
    frame.insert(0, "run_id", run_id)
    return frame


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
            _run_row(run_id, spec, meta.get("task", {}), summary, data[STEPS_FILE], data[EVAL_FILE])
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
    runs = _with_labels(frame, spec_keys)
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
            meta = _read_json(folder / SPEC_FILE)
            spec, run_id = meta.get("spec"), meta.get("run_id")
            if not isinstance(spec, dict) or not isinstance(run_id, str):
                raise UnreadableRun(f"{SPEC_FILE} has no `run_id` and `spec`")
            steps = _read_csv(folder / STEPS_FILE, STEP_COLUMNS, run_id)
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


def _run_row(run_id: str, spec: dict, rules: dict, summary: dict, steps, evals=None) -> dict:
    """One row of `runs`: spec, task rules, summary and the derived measures of one run."""
    row = {"run_id": run_id, **spec}
    for key in RULE_FIELDS:
        source = {"metric_name": "metric", "loss_name": "loss"}.get(key, key)
        row[key] = rules.get(source)
    row["metric_is_loss"] = metric_is_loss(rules)
    row.update({k: v for k, v in summary.items() if k != "error"})
    row["error"] = summary.get("error")
    step = solved_at(evals, rules) if summary.get("status") in FINISHED else None
    row["solved"], row["step_solved"] = step is not None, math.nan if step is None else float(step)
    baseline = loss_baseline(rules)
    row["loss_baseline"] = baseline
    status = summary.get("status")
    final_loss = _float(summary.get("final_loss"))
    if status == COMPLETED:
        row["loss_ratio"] = final_loss / baseline if baseline > 0 else math.nan
    else:
        row["loss_ratio"] = math.inf if status == DIVERGED else math.nan
    row["learned"] = bool(status == COMPLETED and row["loss_ratio"] < LEARNED_RATIO)
    if steps is not None and len(steps):
        grad = steps["grad_norm"].replace(-np.inf, np.nan)
        row["max_grad_norm"] = float(grad.max()) if grad.notna().any() else math.nan
        row["median_clip_fraction"] = float(steps["clip_fraction"].median())
        row["clipped_steps"] = float((steps["clip_fraction"] > 0).mean())
        row["step_half_baseline"] = step_below(steps, LEARNED_RATIO * baseline)
    else:
        for key in ("max_grad_norm", "median_clip_fraction", "clipped_steps", "step_half_baseline"):
            row[key] = math.nan
    return row


def solved_at(evals, rules: dict) -> int | None:
    """The step from which a run solved its task (`experiments.solving`), from its `eval.csv`
    rows and its task's rules; None if it never did (or the rules are unknown)."""
    if evals is None or evals.empty or rules.get("solved_threshold") is None:
        return None
    threshold, higher = float(rules["solved_threshold"]), bool(rules.get("higher_is_better"))
    metric = pd.to_numeric(evals["metric"], errors="coerce")
    passed = [solving.passes(value, threshold, higher) for value in metric]
    return solving.step_solved(evals["step"].tolist(), passed)


def _float(value) -> float:
    return math.nan if value is None else float(value)


def metric_is_loss(rules: dict) -> bool:
    """Whether a task's metric is its loss (adding: both are the MSE), from its rules in
    `spec.json`["task"] (`Task.metric_is_loss`, recorded since 2026-12; derived for older runs)."""
    if "metric_is_loss" in rules:
        return bool(rules["metric_is_loss"])
    return bool(rules) and rules.get("loss") == rules.get("metric")


def loss_baseline(rules: dict) -> float:
    """The loss of the best memoryless model of a task, from its rules in `spec.json`["task"].

    The task's `baseline` when it is a loss value (`baseline_kind == "loss"`, or the metric is the
    loss, as for adding's MSE); for a cross-entropy task whose baseline is an accuracy p over
    balanced classes, log(1/p), the cross-entropy of the uniform guess. NaN when unknown.
    """
    if not rules:
        return math.nan
    if rules.get("baseline_kind") == "loss" or metric_is_loss(rules):
        return float(rules["baseline"])
    p = rules.get("metric_baseline")
    if rules.get("loss") == "sparse_categorical_crossentropy" and p and 0 < p < 1:
        return -math.log(p)
    return math.nan


def finite(values):
    """A Series or DataFrame with +-inf replaced by NaN (which pandas' statistics skip)."""
    return values.replace([np.inf, -np.inf], np.nan)


def smooth(values: pd.Series, window: int = SMOOTH_STEPS, partial: bool = False) -> pd.Series:
    """A moving median over `window` steps (fewer for shorter series); non-finite values -> NaN.

    With `partial`, the first `window - 1` steps get the median of the steps so far (for plots);
    otherwise they are NaN (a full window is needed to decide "below half the baseline").
    """
    values = finite(values)
    window = max(1, min(window, len(values)))
    return values.rolling(window, min_periods=1 if partial else window).median()


def step_below(steps: pd.DataFrame, threshold: float) -> float:
    """The first step whose smoothed training loss (`smooth`) is below `threshold`; NaN if none."""
    if not math.isfinite(threshold) or steps.empty:
        return math.nan
    below = smooth(steps["loss"].reset_index(drop=True)) < threshold
    if not below.any():
        return math.nan
    return float(steps["step"].iloc[int(below.to_numpy().argmax())])


# --------------------------------------------------------------------------------------------------
# Labels


def task_label(task: str, length: int, permuted: bool = False) -> str:
    """`adding50`, `digits64p`: the task part of a run id."""
    return f"{task}{int(length)}" + ("p" if permuted else "")


def clip_label(clip: str, threshold: float) -> str:
    """`none` or e.g. `global_clipnorm 1`."""
    return "none" if clip == "none" else f"{clip} {float(threshold):g}"


def _with_labels(runs: pd.DataFrame, spec_keys: list[str]) -> pd.DataFrame:
    """Adds `task_label`, `model_label`, `clip_label` and `config_label`, and sorts the runs.

    The model label is `cell scheme`, plus `field=value` for every other spec field that varies
    within the run's task and whose value there is not the most common one (`forget_bias=0`).
    """
    runs = runs.copy()
    runs["task_label"] = [
        task_label(t, n, p)
        for t, n, p in zip(runs["task"], runs["length"], runs["permuted"], strict=True)
    ]
    runs["clip_label"] = [
        clip_label(c, t) for c, t in zip(runs["clip"], runs["clip_threshold"], strict=True)
    ]
    fixed = {*TASK_FIELDS, *MODEL_FIELDS, *CLIP_FIELDS, *NOT_CONFIG}
    others = [k for k in spec_keys if k not in fixed]
    extras = [[] for _ in range(len(runs))]
    for _, group in runs.groupby("task_label", sort=False):
        for key in others:
            values = group[key]
            if values.nunique(dropna=False) < 2:
                continue
            common = values.mode().iloc[0]
            for i, value in zip(group.index, values, strict=True):  # a RangeIndex: positions
                if value != common:
                    extras[i].append(f"{key}={_format(value)}")
    runs["model_label"] = [
        " ".join([c, s, *e]) for c, s, e in zip(runs["cell"], runs["scheme"], extras, strict=True)
    ]
    runs["variant"] = [" ".join([s, *e]) for s, e in zip(runs["scheme"], extras, strict=True)]
    runs["config_label"] = runs["task_label"] + " " + runs["model_label"] + " " + runs["clip_label"]
    order = sort_key(runs)
    return runs.iloc[np.lexsort(order[::-1])].reset_index(drop=True)


def _format(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def rank(values, order: tuple) -> list:
    """The position of each value in `order`; values not in it rank after all of it."""
    return [order.index(v) if v in order else len(order) for v in values]


def sort_key(frame: pd.DataFrame) -> list:
    """Sort keys (most significant first) putting tasks, cells, schemes and clip modes in the
    suite's order: what every table and figure uses."""
    return [
        rank(frame["task"], TASK_NAMES),
        frame["task"].to_numpy(),
        frame["length"].to_numpy(),
        frame["task_label"].to_numpy(),
        rank(frame["cell"], CELLS),
        frame["cell"].to_numpy(),
        rank(frame["scheme"], SCHEMES),
        frame["model_label"].to_numpy(),
        rank(frame["clip"], CLIP_MODES),
        frame["clip_label"].to_numpy(),
        frame["seed"].to_numpy() if "seed" in frame else np.zeros(len(frame)),
    ]


def ordered(values, order: tuple) -> list:
    """The distinct `values` in `order`, unknown ones after, alphabetically."""
    distinct = list(dict.fromkeys(values))
    return sorted(distinct, key=lambda v: (rank([v], order)[0], str(v)))


# --------------------------------------------------------------------------------------------------
# Aggregates


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95% by default); `(nan, nan)` for no trials.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0/n or n/n:
    0/2 -> (0, 0.658), 2/2 -> (0.342, 1).
    """
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


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
