"""Tests of `experiments.solving` and of what applies it: the summary (`records.summarize`), the
task (`Task.solved`) and the analysis of records read back (`solved_at`).

A run solves its task at the first evaluation that starts `SUSTAIN` (2) consecutive passing
evaluations: one lucky evaluation is not a solution, and a run that later worsens or diverges has
still solved (a first passage). The training logs are written by hand: nothing trains here.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from experiments.engine.training import TrainingLog
from experiments.grid.tasks import TASKS, make_task
from experiments.records import writer as records
from experiments.results.measures import solved_at
from experiments.solving import SUSTAIN, passes, step_solved
from experiments.vocabulary import COMPLETED, DIVERGED

STEPS = [10, 20, 30, 40, 50]


@pytest.mark.parametrize(
    ("passed", "expected"),
    [
        ([False, False, True, False, False], None),  # one passing evaluation
        ([False, False, False, False, True], None),  # passing only at the last one
        ([False, True, True, False, False], 20),  # two in a row: the first's step
        ([True, False, True, True, False], 30),  # pass, fail, pass, pass: the third's
        ([True] * 5, 10),
        ([], None),
    ],
)
def test_step_solved_is_the_first_of_sustain_consecutive_passes(passed, expected):
    assert SUSTAIN == 2
    assert step_solved(STEPS[: len(passed)], passed) == expected


def test_step_solved_with_another_sustain():
    passed = [True, True, False, True, True, True]
    assert step_solved(range(1, 7), passed, sustain=3) == 4
    assert step_solved(range(1, 7), passed, sustain=1) == 1


# --------------------------------------------------------------------------------------------------
# records.summarize: solved and step_solved from the evaluations

ADDING = make_task("adding", length=6)  # solved: held-out MSE <= 0.01
GOOD, BAD = 0.001, 0.5


def log_of(metrics: list[float], status: str = COMPLETED, diverged_at: int | None = None):
    """A log whose evaluations (every 10 steps) have these metrics (the adding task's MSE)."""
    last = diverged_at or 10 * len(metrics)
    return TrainingLog(
        variables=["rnn_1/kernel"],
        steps=[{"step": s, "loss": 0.1} for s in range(1, last + 1)],
        eval_rows=[{"step": 10 * (i + 1), "loss": m, "metric": m} for i, m in enumerate(metrics)],
        status=status,
        step_diverged=diverged_at,
    )


def test_a_run_that_solves_and_then_worsens_has_solved():
    summary = records.summarize(ADDING, log_of([BAD, GOOD, GOOD, BAD, BAD]), 1.0)
    assert (summary["solved"], summary["step_solved"]) == (True, 20)
    assert summary["final_metric"] == BAD and not ADDING.solved(summary["final_metric"])


def test_a_run_that_solves_and_then_diverges_has_solved():
    log = log_of([BAD, GOOD, GOOD], status=DIVERGED, diverged_at=35)
    summary = records.summarize(ADDING, log, 1.0)
    assert summary["status"] == DIVERGED and summary["step_diverged"] == 35
    assert (summary["solved"], summary["step_solved"]) == (True, 20)


def test_a_run_that_passes_once_and_then_diverges_has_not_solved():
    log = log_of([BAD, GOOD], status=DIVERGED, diverged_at=25)
    summary = records.summarize(ADDING, log, 1.0)
    assert (summary["solved"], summary["step_solved"]) == (False, None)


def test_a_run_that_passes_only_at_its_last_evaluation_has_not_solved():
    summary = records.summarize(ADDING, log_of([BAD, BAD, GOOD]), 1.0)
    assert (summary["solved"], summary["step_solved"]) == (False, None)
    assert ADDING.solved(summary["final_metric"])  # the old rule (last evaluation) said solved


def test_a_nan_evaluation_breaks_the_streak():
    summary = records.summarize(ADDING, log_of([GOOD, math.nan, GOOD, GOOD]), 1.0)
    assert summary["step_solved"] == 30


# --------------------------------------------------------------------------------------------------
# The rule itself: `passes`, applied alike by `Task.solved` and `solved_at`

THRESHOLD = 0.01


def around(threshold: float, higher_is_better: bool) -> tuple[float, float]:
    """The floats just on the passing and just on the failing side of `threshold` (one ulp)."""
    up, down = math.nextafter(threshold, math.inf), math.nextafter(threshold, -math.inf)
    return (up, down) if higher_is_better else (down, up)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_the_threshold_itself_passes_and_nan_never_does(higher_is_better):
    better, worse = around(THRESHOLD, higher_is_better)
    assert passes(THRESHOLD, THRESHOLD, higher_is_better)
    assert passes(better, THRESHOLD, higher_is_better)
    assert not passes(worse, THRESHOLD, higher_is_better)
    assert not passes(math.nan, THRESHOLD, higher_is_better)


def evaluations(*metrics: float) -> pd.DataFrame:
    """`eval.csv` rows read back: one evaluation every 10 steps with these metrics."""
    steps = [10 * (i + 1) for i in range(len(metrics))]
    return pd.DataFrame({"step": steps, "loss": metrics, "metric": metrics})


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_solved_at_counts_a_metric_exactly_at_the_threshold_and_never_nan(higher_is_better):
    rules = {"solved_threshold": THRESHOLD, "higher_is_better": higher_is_better}
    better, worse = around(THRESHOLD, higher_is_better)
    assert solved_at(evaluations(worse, THRESHOLD, THRESHOLD), rules) == 20
    assert solved_at(evaluations(better, THRESHOLD, worse), rules) == 10
    assert solved_at(evaluations(worse, worse, worse), rules) is None
    assert solved_at(evaluations(math.nan, math.nan, math.nan), rules) is None
    assert solved_at(evaluations(THRESHOLD, math.nan, THRESHOLD), rules) is None


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_solved_and_solved_at_agree_at_around_and_off_the_threshold(name):
    """The run's summary (`Task.solved`) and the analysis of its records (`solved_at`, reading the
    rules back from `spec.json`) judge every metric value alike, the threshold itself included."""
    task = make_task(name, **({} if name == "digits" else {"length": 10}))
    rules = json.loads(json.dumps(records.task_rules(task)))  # as read back from spec.json
    threshold = task.solved_threshold
    better, worse = around(threshold, task.higher_is_better)
    expected = {threshold: True, better: True, worse: False, math.nan: False}
    for value, solved in expected.items():
        assert task.solved(value) is solved, value
        assert (solved_at(evaluations(value, value), rules) is not None) is solved, value
