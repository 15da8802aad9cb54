"""What is measured of a run, from its records: the derived columns of `Tables.runs`, and the
interval of a success rate over seeds. Pure functions: nothing here trains.

`run_row` builds one row of `runs`; its measures (all read from the records):

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

import math

import numpy as np
import pandas as pd

from experiments import solving
from experiments.vocabulary import COMPLETED, DIVERGED, FINISHED

SMOOTH_STEPS = 20  # moving-median window of the training loss (steps)
LEARNED_RATIO = 0.5  # "learned": the final loss below this fraction of the baseline
Z95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval

# The task's rules a run row carries (from `spec.json`["task"]; `metric_name` is its `metric`,
# `loss_name` its `loss`).
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


def run_row(run_id: str, spec: dict, rules: dict, summary: dict, steps, evals=None) -> dict:
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
# Over seeds


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
