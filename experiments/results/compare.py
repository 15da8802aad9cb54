"""What the findings and the plots share: selecting runs, pairing them by seed, stratifying,
testing each stratum, describing an arm, and F10's threshold runs and table.

Pure functions of the tables' `runs` frame; nothing here judges a claim.
"""

from __future__ import annotations

import math

import pandas as pd

from experiments.records.reader import LATER_FIELDS
from experiments.results import significance
from experiments.results.formatting import num, pct
from experiments.results.labels import CLIP_FIELDS
from experiments.results.measures import wilson_interval
from experiments.vocabulary import DIVERGED, FINISHED

CLIPPING = CLIP_FIELDS
ACTIVATIONS = ("scheme", "gates", "candidate", "output", "gate_init")  # what a scheme sets


def where(runs: pd.DataFrame, cells=None, **values) -> pd.Series:
    """A mask of the finished runs of `cells` whose columns equal `values` (a column the grid
    does not have matches its RunSpec default only, e.g. `gate_init` of older records)."""
    mask = runs["status"].isin(FINISHED)
    if cells is not None:
        mask &= runs["cell"].isin(cells)
    for key, value in values.items():
        if key in runs:
            mask &= runs[key] == value
        elif value != LATER_FIELDS.get(key, value):
            mask &= False
    return mask


def outcome(runs: pd.DataFrame) -> pd.Series:
    """Each run's ordinal outcome (`significance.score`; lower is better)."""
    return pd.Series(
        significance.score(
            runs["solved"].astype(bool),
            runs["step_solved"],
            runs["steps"],
            runs["loss_ratio"],
            runs["status"] == DIVERGED,
        ),
        index=runs.index,
    )


def context_columns(tables, vary) -> list[str]:
    return [c for c in tables.spec_columns if c not in vary and c in tables.runs]


def match_arms(tables, arms: dict[str, pd.DataFrame], vary) -> dict[str, pd.DataFrame]:
    """Keeps in each arm the runs whose context (spec columns minus `vary`) is in every arm."""
    context = context_columns(tables, vary)
    keys = {name: frame[context].apply(tuple, axis=1) for name, frame in arms.items()}
    common = set.intersection(*(set(k) for k in keys.values())) if keys else set()
    return {name: frame[keys[name].isin(common)] for name, frame in arms.items()}


def pair_runs(tables, a: pd.DataFrame, b: pd.DataFrame, vary) -> pd.DataFrame:
    """Runs of `a` and `b` with the same seed and context (spec minus `vary`), side by side
    (columns suffixed `_a`, `_b`), with each run's `outcome`."""
    keys = [*context_columns(tables, vary), "seed"]
    left = a.assign(outcome=outcome(a), _key=a[keys].apply(tuple, axis=1))
    right = b.assign(outcome=outcome(b), _key=b[keys].apply(tuple, axis=1))
    return left.merge(right, on="_key", suffixes=("_a", "_b"))


def side(pairs: pd.DataFrame, which: str) -> pd.DataFrame:
    """One side (`which`: "a" or "b") of `pair_runs`'s pairs as runs (the suffix removed)."""
    suffix = f"_{which}"
    return pairs[[c for c in pairs if c.endswith(suffix)]].rename(
        columns=lambda c: c.removesuffix(suffix)
    )


def stratum(frame: pd.DataFrame, strata, suffix: str = "") -> pd.Series:
    """A label per row: the task label plus the values of `strata`, e.g. "adding50 sgd"."""
    columns = ["task_label", *strata]
    return frame[[c + suffix for c in columns]].astype(str).agg(" ".join, axis=1)


def paired_tests(pairs: pd.DataFrame, a: str, b: str, strata=()) -> tuple[list, list[str]]:
    """One sign test per task (and stratum) of the pairs; and the strata left out because no run
    of them solved (they carry no information on the outcome)."""
    tests, untestable = [], []
    if pairs.empty:
        return tests, untestable
    labels = stratum(pairs, strata, "_a")
    for label, group in pairs.groupby(labels, sort=False):
        if not (group["solved_a"].astype(bool).any() or group["solved_b"].astype(bool).any()):
            untestable.append(f"{label}: {a} vs {b} ({len(group)} pairs, none solved)")
            continue
        tests.append(significance.paired(label, a, b, group["outcome_a"], group["outcome_b"]))
    return tests, untestable


def unpaired_tests(
    a_runs: pd.DataFrame, b_runs: pd.DataFrame, a: str, b: str, strata=()
) -> tuple[list, list[str]]:
    """One Mann-Whitney test per task (and stratum) present in both arms; and the strata left
    out because no run of them solved."""
    tests, untestable = [], []
    a_labels, b_labels = stratum(a_runs, strata), stratum(b_runs, strata)
    for label in dict.fromkeys(a_labels):
        left, right = a_runs[a_labels == label], b_runs[b_labels == label]
        if right.empty:
            continue
        solved_left, solved_right = left["solved"].astype(bool), right["solved"].astype(bool)
        if not (solved_left.any() or solved_right.any()):
            untestable.append(
                f"{label}: {a} vs {b} ({len(left)} vs {len(right)} runs, none solved)"
            )
            continue
        tests.append(significance.unpaired(label, a, b, outcome(left), outcome(right)))
    return tests, untestable


def describe_arm(name: str, runs: pd.DataFrame) -> str:
    """An arm in one line: solved count with its Wilson interval, divergences, time to solve."""
    n = len(runs)
    solved = int(runs["solved"].astype(bool).sum())
    low, high = wilson_interval(solved, n)
    diverged = int((runs["status"] == DIVERGED).sum())
    steps = runs["step_solved"].dropna()
    speed = f"median step solved {steps.median():.0f}" if len(steps) else "none solved"
    ratio = runs.loc[runs["status"] != DIVERGED, "loss_ratio"].median()
    return (
        f"{name}: {solved}/{n} solved ({pct(solved / n if n else math.nan)}, 95% CI "
        f"{pct(low)}-{pct(high)}), {diverged} diverged, {speed}; median final loss/baseline "
        f"{num(ratio)}"
    )


def threshold_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer, cell, scheme, clip mode and threshold (unclipped runs as threshold 0): the
    runs, solved share, median step solved, median share of steps clipped and median outcome."""
    runs = runs[runs["status"].isin(FINISHED)].assign(outcome=lambda r: outcome(r))
    threshold = runs["clip_threshold"].where(runs["clip"] != "none", 0.0)
    keys = ["task_label", "optimizer", "cell", "scheme", "clip"]
    table = (
        runs.assign(threshold=threshold)
        .groupby([*keys, "threshold"], sort=True)
        .agg(
            runs=("run_id", "size"),
            solved=("solved", "mean"),
            step_solved=("step_solved", "median"),
            clipped_steps=("clipped_steps", "median"),
            outcome=("outcome", "median"),
        )
        .reset_index()
    )
    return table


def threshold_runs(tables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """F10's runs: the clipped runs of configurations run at two thresholds or more (all else
    equal, standard or not), and the unclipped runs that pair with them by seed and settings."""
    runs = tables.runs
    clipped = runs[where(runs) & (runs["clip"] != "none")]
    if clipped.empty:
        return clipped, clipped
    keys = context_columns(tables, ("clip_threshold",))
    swept = clipped[clipped.groupby(keys)["clip_threshold"].transform("nunique") >= 2]
    unclipped = runs[where(runs, clip="none")]
    paired = pair_runs(tables, swept, unclipped, vary=CLIPPING)["run_id_b"] if len(swept) else []
    return swept, unclipped[unclipped["run_id"].isin(paired)]
