"""Tests of `experiments.solving` and of the summary that applies it (`records.summarize`).

A run solves its task at the first evaluation that starts `SUSTAIN` (2) consecutive passing
evaluations: one lucky evaluation is not a solution, and a run that later worsens or diverges has
still solved (a first passage). The training logs are written by hand: nothing trains here.
"""

from __future__ import annotations

import math

import pytest

from experiments.engine.training import TrainingLog
from experiments.grid.tasks import make_task
from experiments.records import writer as records
from experiments.solving import SUSTAIN, step_solved
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
