"""When a run solved its task: the rule that both the run's summary and the analysis apply.

A run *solves* its task at step s when the held-out metric passes the task's rule at the
evaluation after step s and at the `SUSTAIN - 1` evaluations that follow it: one lucky
evaluation is not a solution. Solving is a first passage: a run that later worsens, or diverges,
has still solved at s (early stopping would keep that model), so "solved within a budget of B
steps" is the same event whether the run was trained for B steps or longer.

Standard library only, at the package's top level beside the vocabulary: the grid's tasks, the
records and the results all apply it (`experiments.results.measures` to old records too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

SUSTAIN = 2  # consecutive passing evaluations that make a solution


def passes(metric: float, threshold: float, higher_is_better: bool) -> bool:
    """Whether one held-out metric value passes a task's rule: `metric >= threshold` when higher is
    better, else `metric <= threshold` (the threshold itself passes; NaN never does).

    The one statement of the rule: `Task.solved` applies it when a run is trained and
    `experiments.results.measures.solved_at` when records are read back.
    """
    metric = float(metric)
    if math.isnan(metric):
        return False
    return metric >= threshold if higher_is_better else metric <= threshold


def step_solved(steps: Sequence[int], passed: Sequence[bool], sustain: int = SUSTAIN) -> int | None:
    """The first evaluation step that starts `sustain` consecutive passing evaluations, or None.

    Args:
        steps: the evaluation steps, increasing.
        passed: per evaluation, whether the held-out metric passed the task's rule.
        sustain: how many consecutive passes make a solution.
    """
    streak = 0
    for i, ok in enumerate(passed):
        streak = streak + 1 if ok else 0
        if streak >= sustain:
            return int(steps[i - sustain + 1])
    return None
