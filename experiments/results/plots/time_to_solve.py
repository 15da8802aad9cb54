"""Time to solve: the fraction of a configuration's seeds that have solved the task by each
training step, the verdict a budget of that many steps would give."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.results.plots.panels import budget_text, configurations, panel_grid, task_runs
from experiments.results.plots.style import (
    Styles,
    label_panels,
    legend,
    panel_figure,
    styles,
    suptitle,
)
from experiments.vocabulary import FINISHED


def solved_fraction(step_solved, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """The fraction of seeds solved by each training step, as the corners of a step function
    from step 0 to `budget` (drawn with `drawstyle="steps-post"`: the value at step s is the `y`
    of the last corner at or before s).

    Args:
        step_solved: per seed, the step it solved its task at; NaN for a seed that did not.
        budget: the seeds' step budget, where the curve ends.
    """
    steps = np.asarray(step_solved, dtype=float)
    at, counts = np.unique(steps[np.isfinite(steps)], return_counts=True)
    fraction = np.cumsum(counts) / max(len(steps), 1)
    final = fraction[-1] if len(fraction) else 0.0
    x = np.concatenate([[0.0], at, [float(budget)]])
    y = np.concatenate([[0.0], fraction, [final]])
    return x, y


def time_to_solve(tables, task_label: str, style: Styles | None = None) -> Figure:
    """The fraction of a configuration's finished seeds (completed or diverged; failed runs left
    out) that have solved the task by training step s, from 0 to the budget: a row per cell, a
    column per clipping mode, a line per variant with its number of seeds in the legend. "Solved"
    is the runs' `solved` / `step_solved`: the first step of two consecutive passing held-out
    evaluations, a first passage, so the curve at s is the verdict a budget of s steps would
    give."""
    style = style or styles(tables.runs)
    runs = task_runs(tables, task_label)
    runs = runs[runs["status"].isin(FINISHED)]
    cells, clips = panel_grid(runs)
    rules = runs.iloc[0]
    figure, axes = panel_figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    handles = []
    for cell, clip, variant, group in configurations(runs):
        solved = group["solved"].eq(True).to_numpy()
        steps = pd.to_numeric(group["step_solved"], errors="coerce").to_numpy(dtype=float)
        x, y = solved_fraction(np.where(solved, steps, np.nan), int(group["steps"].max()))
        (line,) = axes[cells.index(cell), clips.index(clip)].plot(
            x,
            y,
            drawstyle="steps-post",
            linewidth=1.6,
            label=f"{cell} {variant} (n={len(group)})",
            **style.of(cell, variant),
        )
        handles.append(line)
    for ax in axes.flat:
        ax.set_ylim(-0.03, 1.03)
        ax.grid(True, alpha=0.3)
    label_panels(axes, cells, clips, "training step", "fraction of seeds solved")
    suptitle(
        figure,
        f"{task_label}: fraction of finished seeds solved by step s (solved: "
        f"{rules['solved_rule']} at two consecutive held-out evaluations, counted from the first; "
        f"budget {budget_text(runs)} steps)",
    )
    legend(figure, handles, "cell, activations (seeds)")
    return figure
