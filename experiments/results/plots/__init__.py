"""Figures of a grid's records: pure functions `(tables, ...) -> matplotlib Figure`, and `PLOTS`,
the table of the figures the report draws.

Figures are `matplotlib.figure.Figure`s on the Agg canvas (no pyplot, no global backend switch,
nothing shown), so they can be drawn in any process and saved by the caller. Every figure has a
title, labelled axes with units, a legend outside the data, and the same style for the same
configuration (`style.Styles`: the colour names the activation variant, the line style the cell).
Many configurations are drawn as small multiples: one figure per task, a row per cell, a column per
clipping mode.

    for plot in plot_list(tables):        # what the report draws, in order
        figure = plot.make()

Modules: `style` (palette, line styles, figure, title and legend helpers), `panels` (a task's runs
and panels, median lines with bands), and one module per figure or family of figures: `curves`
(loss and metric vs step), `time_to_solve`, `gradients` (gradient norms, gradient through time,
per-variable norms), `grid_overview`, `clip_rate`.

To add a figure: write its function `(tables) -> Figure` (drawn once per grid) or
`(tables, task_label, style) -> Figure` (drawn once per task) in a module of this package, and add
one `PlotKind` row to `PLOTS`: its file stem, its caption, the predicate saying which records it
needs, whether it is drawn per task, and the function. `plot_list` draws the grid's figures first,
then each task's figures, each in the order of their rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pandas as pd
from matplotlib.figure import Figure

from experiments.results import compare
from experiments.results.plots.clip_rate import clip_rate
from experiments.results.plots.curves import loss_curves, metric_curves
from experiments.results.plots.gradients import grad_norms, gradient_through_time, variable_norms
from experiments.results.plots.grid_overview import grid_overview
from experiments.results.plots.style import DPI, OKABE_ITO, PALETTE, Styles, styles
from experiments.results.plots.time_to_solve import solved_fraction, time_to_solve
from experiments.vocabulary import FAILED

__all__ = [
    "DPI",
    "OKABE_ITO",
    "PALETTE",
    "PLOTS",
    "Plot",
    "PlotKind",
    "Styles",
    "clip_rate",
    "grad_norms",
    "gradient_through_time",
    "grid_overview",
    "loss_curves",
    "metric_curves",
    "plot_list",
    "solved_fraction",
    "styles",
    "time_to_solve",
    "variable_norms",
]


@dataclass(frozen=True)
class Plot:
    """One figure of the report: its file stem, a caption and how to draw it."""

    name: str
    caption: str
    make: Callable[[], Figure]


@dataclass(frozen=True)
class PlotKind:
    """A row of `PLOTS`: a kind of figure and when the report draws it.

    Attributes:
        stem: the PNG's file stem; per task, `<stem>_<task label>`.
        caption: the caption; per task, a `str.format` template of the columns of the task's
            first run (`{task_label}`, `{metric_name}`, ...).
        needs: `needs(tables, runs) -> bool`, whether the records allow the figure; `runs` are the
            grid's (per task: the task's) runs that did not fail.
        per_task: drawn once per task (`draw(tables, task_label, style)`) rather than once per
            grid (`draw(tables)`).
        draw: the function that draws the figure.
    """

    stem: str
    caption: str
    needs: Callable[..., bool]
    per_task: bool
    draw: Callable[..., Figure]


def has_runs(tables, runs: pd.DataFrame) -> bool:
    return len(runs) > 0


def has_threshold_sweep(tables, runs: pd.DataFrame) -> bool:
    """Some configuration was run at two clipping thresholds or more (F10)."""
    return len(compare.threshold_runs(tables)[0]) > 0


def logged(record: str) -> Callable[..., bool]:
    """The predicate: some of the runs have rows in `tables.<record>` (steps, timesteps,
    variables)."""

    def needs(tables, runs: pd.DataFrame) -> bool:
        return bool(getattr(tables, record)["run_id"].isin(runs["run_id"]).any())

    return needs


def has_steps_and_a_metric_not_the_loss(tables, runs: pd.DataFrame) -> bool:
    return logged("steps")(tables, runs) and not runs["metric_is_loss"].iloc[0]


def always(tables, runs: pd.DataFrame) -> bool:
    return True


PLOTS = (
    PlotKind(
        "grid_overview",
        "Grid overview: success rate per configuration, with solved / diverged counts.",
        has_runs,
        False,
        grid_overview,
    ),
    PlotKind(
        "clip_rate",
        "Which clipping threshold: fraction solved and median step solved against the share of "
        "steps clipped, per clip mode through its thresholds (F10).",
        has_threshold_sweep,
        False,
        clip_rate,
    ),
    PlotKind(
        "loss",
        "{task_label}: training loss vs step, baseline and solved threshold.",
        logged("steps"),
        True,
        loss_curves,
    ),
    PlotKind(
        "metric",
        "{task_label}: held-out {metric_name} vs step.",
        has_steps_and_a_metric_not_the_loss,
        True,
        metric_curves,
    ),
    PlotKind(
        "time_to_solve",
        "{task_label}: fraction of seeds solved (two consecutive passing evaluations) vs training "
        "step.",
        always,
        True,
        time_to_solve,
    ),
    PlotKind(
        "grad_norm",
        "{task_label}: global gradient norm before and after clipping.",
        logged("steps"),
        True,
        grad_norms,
    ),
    PlotKind(
        "gradient_through_time",
        "{task_label}: gradient through time, ||dL/dx_t|| vs t at initialisation (step 1) and at "
        "the end of training (each run's last logged step).",
        logged("timesteps"),
        True,
        gradient_through_time,
    ),
    PlotKind(
        "variable_norms",
        "{task_label}: peak per-variable gradient norms (which weights explode).",
        logged("variables"),
        True,
        lambda tables, label, style: variable_norms(tables, label),  # a heat map: no line styles
    ),
)


def plot_list(tables) -> list[Plot]:
    """Every figure the records of `tables` allow (`PLOTS`), in report order: the grid's figures,
    then each task's, with one style for all."""
    style = styles(tables.runs)
    finished = tables.runs[tables.runs["status"] != FAILED]
    plots = [
        Plot(kind.stem, kind.caption, partial(kind.draw, tables))
        for kind in PLOTS
        if not kind.per_task and kind.needs(tables, finished)
    ]
    for label in dict.fromkeys(finished["task_label"]):
        runs = finished[finished["task_label"] == label]
        plots += [
            Plot(
                f"{kind.stem}_{label}",
                kind.caption.format_map(runs.iloc[0]),
                partial(kind.draw, tables, label, style),
            )
            for kind in PLOTS
            if kind.per_task and kind.needs(tables, runs)
        ]
    return plots
