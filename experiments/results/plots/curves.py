"""Training loss and held-out metric vs step, per configuration of one task: a row per cell, a
column per clipping mode, a line per variant (median over seeds, min-max band), with the memoryless
baseline and the solved threshold drawn."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from experiments.results.measures import SMOOTH_STEPS, smooth
from experiments.results.plots.panels import (
    band,
    budget_text,
    configurations,
    loss_unit,
    panel_grid,
    per_run,
    task_runs,
)
from experiments.results.plots.style import (
    REFERENCE,
    Styles,
    handle,
    label_panels,
    legend,
    panel_figure,
    styles,
    suptitle,
)
from experiments.vocabulary import DIVERGED


def loss_curves(tables, task_label: str, style: Styles | None = None) -> Figure:
    """Training loss vs step per configuration of one task: a row per cell, a column per clipping
    mode, a line per variant (median over seeds of the `smooth`ed loss, min-max band);
    log scale; the memoryless baseline and (when the metric is the loss) the solved threshold as
    lines; an x where a run diverged."""
    style = style or styles(tables.runs)
    runs = task_runs(tables, task_label)
    cells, clips = panel_grid(runs)
    rules = runs.iloc[0]
    figure, axes = panel_figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    steps = tables.steps[tables.steps["run_id"].isin(runs["run_id"])].copy()
    steps["smooth"] = steps.groupby("run_id", sort=False)["loss"].transform(smooth, partial=True)
    handles = []
    for cell, clip, variant, group in configurations(runs):
        ax = axes[cells.index(cell), clips.index(clip)]
        wide = per_run(steps, group, "smooth")
        if wide.empty:
            continue
        handles.append(band(ax, wide, style.of(cell, variant), f"{cell} {variant}"))
        for run_id in group.loc[group["status"] == DIVERGED, "run_id"]:
            curve = steps.loc[steps["run_id"] == run_id, ["step", "smooth"]].dropna()
            if len(curve):  # where the run's (smoothed) curve ends
                step, loss = curve.iloc[-1]
                ax.plot(step, loss, "x", color=style.colors[variant], ms=7, mew=2)
    baseline = rules["loss_baseline"]
    reference = []
    for ax in axes.flat:
        ax.set_yscale("log")
        if math.isfinite(baseline):
            ax.axhline(baseline, color=REFERENCE, linestyle="--", linewidth=1)
        if rules["metric_is_loss"]:
            ax.axhline(rules["solved_threshold"], color=REFERENCE, linestyle=":", linewidth=1)
        ax.grid(True, which="major", alpha=0.3)
    reference.append(handle({"color": REFERENCE, "linestyle": "--"}, "memoryless baseline"))
    if rules["metric_is_loss"]:
        reference.append(
            handle({"color": REFERENCE, "linestyle": ":"}, f"solved: {rules['solved_rule']}")
        )
    reference.append(handle({"color": "k", "linestyle": "none"}, "diverged", marker="x"))
    label_panels(axes, cells, clips, "training step", f"training loss ({loss_unit(rules)})")
    suptitle(
        figure,
        f"{task_label}: training loss vs step ({SMOOTH_STEPS}-step moving median; line: "
        f"median over seeds on the log scale, band: min-max; budget {budget_text(runs)} steps)",
    )
    legend(figure, handles + reference, "cell, activations")
    return figure


def metric_curves(tables, task_label: str, style: Styles | None = None) -> Figure:
    """The held-out metric vs step (eval.csv) with the metric baseline and solved threshold: for
    the tasks whose metric is not the loss (accuracies)."""
    style = style or styles(tables.runs)
    runs = task_runs(tables, task_label)
    cells, clips = panel_grid(runs)
    rules = runs.iloc[0]
    figure, axes = panel_figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    handles = []
    for cell, clip, variant, group in configurations(runs):
        wide = per_run(tables.evals, group, "metric")
        if not wide.empty:
            ax = axes[cells.index(cell), clips.index(clip)]
            line = band(ax, wide, style.of(cell, variant), f"{cell} {variant}", log=False)
            line.set_marker(".")
            handles.append(line)
    for ax in axes.flat:
        if rules["metric_name"].endswith("accuracy"):
            ax.set_ylim(0, 1.02)
        ax.axhline(rules["metric_baseline"], color=REFERENCE, linestyle="--", linewidth=1)
        ax.axhline(rules["solved_threshold"], color=REFERENCE, linestyle=":", linewidth=1)
        ax.grid(True, alpha=0.3)
    reference = [
        handle({"color": REFERENCE, "linestyle": "--"}, "memoryless baseline"),
        handle({"color": REFERENCE, "linestyle": ":"}, f"solved: {rules['solved_rule']}"),
    ]
    label_panels(axes, cells, clips, "training step", f"held-out {rules['metric_name']}")
    suptitle(
        figure,
        f"{task_label}: held-out {rules['metric_name']} vs step (line: median over seeds, band: "
        f"min-max; budget {budget_text(runs)} steps)",
    )
    legend(figure, handles + reference, "cell, activations")
    return figure
