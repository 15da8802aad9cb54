"""What the small-multiples figures draw from: a task's runs, its panels (a row per cell, a column
per clipping label), each configuration's runs, a value per step and run, and the median line over
seeds with its min-max band."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from experiments.results.labels import ordered, rank
from experiments.results.measures import finite
from experiments.vocabulary import CELLS, CLIP_MODES, FAILED


def task_runs(tables, task_label: str) -> pd.DataFrame:
    """The runs of the task labelled `task_label` that did not fail."""
    runs = tables.runs
    return runs[(runs["task_label"] == task_label) & (runs["status"] != FAILED)]


def loss_unit(run: pd.Series) -> str:
    return "MSE" if run["loss_name"] == "mse" else "cross-entropy, nats"


def clip_labels(frame: pd.DataFrame) -> list[str]:
    """The clipping labels of `frame` in the suite's order (none, clipvalue, clipnorm, global)."""
    order = frame.drop_duplicates("clip_label")
    ranks = rank(order["clip"], CLIP_MODES)
    return [
        label
        for _, _, label in sorted(
            zip(ranks, order["clip_threshold"], order["clip_label"], strict=True)
        )
    ]


def panel_grid(runs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The rows (cells) and columns (clipping labels) of a task's small multiples."""
    return ordered(runs["cell"], CELLS), clip_labels(runs)


def budget_text(runs: pd.DataFrame) -> str:
    """The runs' step budgets, e.g. `400` or `250/400`."""
    steps = sorted(int(s) for s in runs["steps"].unique())
    return "/".join(str(s) for s in steps)


def steps_text(steps, most: int = 3) -> str:
    """Training steps in words: `400`, `250/400`, or `120-400` for more than `most` of them."""
    steps = sorted({int(s) for s in steps})
    if len(steps) > most:
        return f"{steps[0]}-{steps[-1]}"
    return "/".join(str(s) for s in steps)


def configurations(runs: pd.DataFrame):
    """(cell, clip_label, variant, runs) per configuration of `runs`, in order."""
    for (cell, clip, variant), group in runs.groupby(["cell", "clip_label", "variant"], sort=False):
        yield cell, clip, variant, group


def per_run(frame: pd.DataFrame, runs: pd.DataFrame, value: str, index: str = "step"):
    """`value` of `frame` per `index` (rows) and run (columns) for the given runs."""
    part = frame[frame["run_id"].isin(runs["run_id"])]
    return part.pivot_table(index=index, columns="run_id", values=value, aggfunc="first")


def median(wide: pd.DataFrame, log: bool) -> pd.Series:
    """The median over runs (columns); with `log`, taken of the log10 values (for a log axis: with
    two seeds it is then their geometric mean, centred between them on the plot)."""
    values = finite(wide.astype(float))
    if not log:
        return values.median(axis=1)
    return 10 ** np.log10(values.where(values > 0)).median(axis=1)


def band(ax, wide: pd.DataFrame, style: dict, label: str, log: bool = True) -> Line2D:
    """The median over runs (columns) as a line (see `median`) and their min-max as a band."""
    x = wide.index.to_numpy()
    values = finite(wide.astype(float))
    (line,) = ax.plot(x, median(values, log), label=label, linewidth=1.4, **style)
    if values.shape[1] > 1:
        low, high = values.min(axis=1), values.max(axis=1)
        ax.fill_between(x, low, high, color=style["color"], alpha=0.18, linewidth=0)
    return line
