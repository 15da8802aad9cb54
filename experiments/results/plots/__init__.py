"""Figures of a grid's records: pure functions `(tables, ...) -> matplotlib Figure`.

Figures are `matplotlib.figure.Figure`s on the Agg canvas (no pyplot, no global backend switch,
nothing shown), so they can be drawn in any process and saved by the caller. Every figure has a title, labelled
axes with units, a legend outside the data, and the same style for the same configuration: the
colour names the activation variant (scheme, plus e.g. `forget_bias=0`) from the colour-blind-safe
Okabe-Ito palette, the line style names the cell, and both are fixed per grid (`Styles`). Many
configurations are drawn as small multiples: one figure per task, a row per cell, a column per
clipping mode.

    for plot in plot_list(tables):        # what the report draws, in order
        figure = plot.make()

Modules: `style` (palette, line styles, figure, title and legend helpers), `panels` (a task's runs
and panels, median lines with bands), and one module per figure or family of figures: `curves`
(loss and metric vs step), `time_to_solve`, `gradients` (gradient norms, gradient through time,
per-variable norms), `grid_overview`, `clip_rate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
    "Plot",
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


def plot_list(tables) -> list[Plot]:
    """Every figure the records of `tables` allow, in report order, with one style for all."""
    style = styles(tables.runs)
    finished = tables.runs[tables.runs["status"] != FAILED]
    plots = []
    if len(finished):
        plots.append(
            Plot(
                "grid_overview",
                "Grid overview: success rate per configuration, with solved / diverged counts.",
                lambda: grid_overview(tables),
            )
        )
    if len(compare.threshold_runs(tables)[0]):
        plots.append(
            Plot(
                "clip_rate",
                "Which clipping threshold: fraction solved and median step solved against the "
                "share of steps clipped, per clip mode through its thresholds (F10).",
                lambda: clip_rate(tables),
            )
        )
    for label in dict.fromkeys(finished["task_label"]):
        runs = finished[finished["task_label"] == label]
        ids = set(runs["run_id"])
        stem = label
        has_steps = tables.steps["run_id"].isin(ids).any()
        if has_steps:
            plots.append(
                Plot(
                    f"loss_{stem}",
                    f"{label}: training loss vs step, baseline and solved threshold.",
                    lambda label=label: loss_curves(tables, label, style),
                )
            )
            if not runs["metric_is_loss"].iloc[0]:
                plots.append(
                    Plot(
                        f"metric_{stem}",
                        f"{label}: held-out {runs['metric_name'].iloc[0]} vs step.",
                        lambda label=label: metric_curves(tables, label, style),
                    )
                )
        plots.append(
            Plot(
                f"time_to_solve_{stem}",
                f"{label}: fraction of seeds solved (two consecutive passing evaluations) vs "
                "training step.",
                lambda label=label: time_to_solve(tables, label, style),
            )
        )
        if has_steps:
            plots.append(
                Plot(
                    f"grad_norm_{stem}",
                    f"{label}: global gradient norm before and after clipping.",
                    lambda label=label: grad_norms(tables, label, style),
                )
            )
        if tables.timesteps["run_id"].isin(ids).any():
            plots.append(
                Plot(
                    f"gradient_through_time_{stem}",
                    f"{label}: gradient through time, ||dL/dx_t|| vs t at initialisation (step 1) "
                    "and at the end of training (each run's last logged step).",
                    lambda label=label: gradient_through_time(tables, label, style),
                )
            )
        if tables.variables["run_id"].isin(ids).any():
            plots.append(
                Plot(
                    f"variable_norms_{stem}",
                    f"{label}: peak per-variable gradient norms (which weights explode).",
                    lambda label=label: variable_norms(tables, label),
                )
            )
    return plots
