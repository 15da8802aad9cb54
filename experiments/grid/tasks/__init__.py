"""Long-dependency tasks: data, loss, metric, memoryless baseline and "solved" rule (numpy only).

One module per task, each a frozen dataclass subclassing `Task`:

- `base.py`: the interface `Task` (its module docstring describes it: shapes, output kinds, loss,
  metric, baseline, seeding) and the helpers the tasks share (argument checks, cross-entropy,
  accuracy, `LastStepClassification`);
- `adding.py`: `AddingTask`, the adding problem;
- `copy.py`: `CopyTask`, the copy memory problem;
- `temporal_order.py`: `TemporalOrderTask`, the temporal order problem;
- `digits.py`: `DigitsTask`, pixel-by-pixel (and permuted) 8x8 digits.

This module holds the registry `TASKS` (name -> class), `make_task(name, **params)`, which builds a
task from a config, and `describe_tasks()`, the listing of `python -m experiments tasks`.

Adding a task is one new file here (a frozen dataclass subclassing `Task`) plus one row in `TASKS`,
and its name in `experiments.vocabulary.TASK_NAMES` (where it sorts in the tables); the shared
checks of `tests/experiments/test_tasks.py` run over `TASKS`, so they check it without an edit.
"""

from __future__ import annotations

import dataclasses

from experiments.grid.tasks.adding import AddingTask
from experiments.grid.tasks.base import DEFAULT_EVAL_SIZE, EVAL_STREAM, Task
from experiments.grid.tasks.copy import CopyTask
from experiments.grid.tasks.digits import DigitsTask
from experiments.grid.tasks.temporal_order import TemporalOrderTask

__all__ = [
    "DEFAULT_EVAL_SIZE",
    "EVAL_STREAM",
    "AddingTask",
    "CopyTask",
    "DigitsTask",
    "TASKS",
    "Task",
    "TemporalOrderTask",
    "describe_tasks",
    "make_task",
]

# The registry, in the order of `experiments.vocabulary.TASK_NAMES`: one row per task.
TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (
        AddingTask,
        CopyTask,
        TemporalOrderTask,
        DigitsTask,
    )
}


def make_task(name: str, **params) -> Task:
    """Builds a task from its registry name and parameters.

    Args:
        name: one of `TASKS` ("adding", "copy", "temporal_order", "digits").
        **params: the task's parameters (its dataclass fields); omitted ones take their defaults.

    Returns:
        The task instance.

    Raises:
        ValueError: an unknown task name or parameter, or an invalid parameter value; the message
            names the offender and what is expected.
    """
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; expected one of: {', '.join(sorted(TASKS))}.")
    cls = TASKS[name]
    known = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {', '.join(map(repr, unknown))} for task {name!r}; expected "
            f"one of: {', '.join(known)}."
        )
    return cls(**params)


def describe_tasks() -> str:
    """A human-readable listing of every task at its default parameters (for the CLI)."""
    blocks = [task().describe() for task in TASKS.values()]
    header = "Tasks, shown with their parameters at the defaults (baselines at those values):"
    return header + "\n\n" + "\n\n".join(blocks)
