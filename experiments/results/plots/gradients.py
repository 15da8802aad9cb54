"""Where gradients explode or vanish: the global gradient norm vs step before and after clipping
(`grad_norms`), the gradient through time at initialisation and at the end of training
(`gradient_through_time`), and the peak gradient norm per variable (`variable_norms`)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from experiments.results.labels import ordered
from experiments.results.measures import finite
from experiments.results.plots.panels import (
    band,
    configurations,
    median,
    panel_grid,
    per_run,
    steps_text,
    task_runs,
)
from experiments.results.plots.style import (
    DIVERGED_OUTLINE,
    MISSING,
    REFERENCE,
    Styles,
    handle,
    label_panels,
    legend,
    mark_empty,
    new_figure,
    panel_figure,
    styles,
    suptitle,
)
from experiments.vocabulary import CELLS, DIVERGED


def grad_norms(tables, task_label: str, style: Styles | None = None) -> Figure:
    """The global gradient norm before clipping (thin, median over seeds) and after it (thick,
    faint) vs step, log scale, with the clip threshold drawn: where explosions happen and what
    clipping does to them. A row per cell, a column per clipping mode."""
    style = style or styles(tables.runs)
    runs = task_runs(tables, task_label)
    cells, clips = panel_grid(runs)
    figure, axes = panel_figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    handles = []
    for cell, clip, variant, group in configurations(runs):
        ax = axes[cells.index(cell), clips.index(clip)]
        config_style = style.of(cell, variant)
        pre = finite(per_run(tables.steps, group, "grad_norm"))
        if pre.empty:
            continue
        (line,) = ax.plot(
            pre.index,
            median(pre, log=True),
            linewidth=0.9,
            label=f"{cell} {variant}",
            **config_style,
        )
        handles.append(line)
        if group["clip"].iloc[0] != "none":
            post = per_run(tables.steps, group, "grad_norm_clipped")
            ax.plot(
                post.index,
                median(post, log=True),
                color=config_style["color"],
                linewidth=2.2,
                alpha=0.35,
            )
    for j, clip in enumerate(clips):
        part = runs[runs["clip_label"] == clip]
        if part["clip"].iloc[0] == "none":
            continue
        for ax in axes[:, j]:
            ax.axhline(part["clip_threshold"].iloc[0], color="k", linestyle=":", linewidth=1.2)
    for ax in axes.flat:
        ax.set_yscale("log")
        ax.grid(True, which="major", alpha=0.3)
    reference = [
        handle({"color": "#777777", "linewidth": 2.2, "alpha": 0.35}, "after clipping"),
        handle(
            {"color": "k", "linestyle": ":"},
            "clip threshold t",
        ),
    ]
    label_panels(axes, cells, clips, "training step", "gradient norm ||g||2")
    suptitle(
        figure,
        f"{task_label}: global gradient norm before clipping (line) and after (faint, thick), "
        f"median over seeds per step",
    )
    legend(figure, handles + reference, "cell, activations")
    return figure


def _first_and_last(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per run (index), its first and its last logged step with a finite value in `relative`;
    the last is NaN for a run that logged only one such step."""
    logged = frame.dropna(subset=["relative"]).groupby("run_id")["step"]
    first, last = logged.min(), logged.max()
    return first, last.where(last > first)


def gradient_through_time(tables, task_label: str, style: Styles | None = None) -> Figure:
    """||dL/dx_t|| against the input position t, relative to its value at the last t, at
    initialisation (the first logged step, step 1; left column) and at the end of training (each
    run's last logged step with a finite gradient; right column), per cell (rows) and activation
    variant (lines): values far below 1 at small t are a vanishing gradient, above 1 an exploding
    one. A run that logged one step only is drawn in the left column alone. Runs without clipping
    when a configuration has them (clipping does not change this gradient at a given step, only
    the path of training); median over seeds with a min-max band."""
    style = style or styles(tables.runs)
    runs = task_runs(tables, task_label)
    runs = runs[runs["run_id"].isin(tables.timesteps["run_id"])]
    unclipped = runs.groupby(["cell", "variant"])["clip"].transform(lambda c: (c == "none").any())
    runs = runs[~unclipped | (runs["clip"] == "none")]
    frame = tables.timesteps[tables.timesteps["run_id"].isin(runs["run_id"])].copy()
    last_t = frame.groupby(["run_id", "step"])["t"].transform("max")
    reference = (
        frame[frame["t"] == last_t].set_index(["run_id", "step"])["grad_norm"].rename("reference")
    )
    frame = frame.join(reference, on=["run_id", "step"])
    frame["relative"] = finite(frame["grad_norm"] / frame["reference"])
    frame.loc[frame["relative"] <= 0, "relative"] = np.nan
    ends = _first_and_last(frame)
    cells = ordered(runs["cell"], CELLS)
    figure, axes = panel_figure(len(cells), len(ends), 3.0, 2.3, sharex=True, sharey=True)
    handles = []
    for (cell, variant), group in runs.groupby(["cell", "variant"], sort=False):
        for col, step_of_run in enumerate(ends):
            at_step = frame[frame["step"] == frame["run_id"].map(step_of_run)]
            wide = per_run(at_step, group, "relative", index="t")
            if wide.empty:
                continue
            handles.append(
                band(
                    axes[cells.index(cell), col], wide, style.of(cell, variant), f"{cell} {variant}"
                )
            )
    for ax in axes.flat:
        ax.set_yscale("log")
        ax.axhline(1.0, color=REFERENCE, linewidth=0.8)
        ax.grid(True, which="major", alpha=0.3)
    first, last = (steps_text(steps.dropna()) for steps in ends)
    titles = (
        f"at initialisation (step {first})",
        f"at the end of training (step {last})" if last else "at the end of training",
    )
    for col, title in enumerate(titles):
        axes[0, col].set_title(title, fontsize="small")
        axes[-1, col].set_xlabel("input position t (time step)")
    mark_empty(axes[:, 1:], "one logged step only")
    mark_empty(axes[:, :1], "no record")
    for row, cell in enumerate(cells):
        axes[row, 0].set_ylabel(f"{cell}\n||dL/dx_t|| / ||dL/dx_T-1||", fontsize="small")
    length = runs["length"].iloc[0]
    suptitle(
        figure,
        f"{task_label}: gradient through time at initialisation (step {first}) and at the end of "
        f"training (step {last or 'not logged'}), ||dL/dx_t|| relative to the last input (T = "
        f"{length}); median over seeds on the log scale, band: min-max; runs without clipping",
    )
    legend(figure, handles, "cell, activations")
    return figure


def variable_norms(tables, task_label: str) -> Figure:
    """Which weights explode: per clipping mode, a heat map of rows cell x activation variant and
    columns variables (layer/weight); colour log10 of the peak (max over steps) per-variable
    gradient norm before clipping, median over seeds."""
    runs = task_runs(tables, task_label)
    frame = tables.variables[tables.variables["run_id"].isin(runs["run_id"])]
    peak = (
        frame.assign(grad_norm=finite(frame["grad_norm"]))
        .groupby(["run_id", "variable"])["grad_norm"]
        .max()
        .rename("peak")
        .reset_index()
        .merge(runs[["run_id", "model_label", "clip_label"]], on="run_id")
    )
    variables = list(dict.fromkeys(frame["variable"]))
    rows = list(dict.fromkeys(runs["model_label"]))
    _, clips = panel_grid(runs)
    table = peak.groupby(["clip_label", "model_label", "variable"])["peak"].median()
    values = np.log10(table.where(table > 0))
    vmin, vmax = np.nanmin(values), np.nanmax(values)
    if not vmax > vmin:
        vmin, vmax = vmin - 1, vmax + 1
    width = 0.65 * len(variables) + 0.3
    figure = new_figure(width * len(clips) + 3.4, 0.42 * len(rows) + 2.4)
    axes = figure.subplots(1, len(clips), squeeze=False, sharey=True)[0]
    cmap = matplotlib.colormaps["viridis"]
    image = None
    diverged = runs[runs["status"] == DIVERGED].groupby(["clip_label", "model_label"]).size()
    for ax, clip in zip(axes, clips, strict=True):
        grid = np.full((len(rows), len(variables)), np.nan)
        for (c, model, variable), value in values.items():
            if c == clip:
                grid[rows.index(model), variables.index(variable)] = value
        for i, model in enumerate(rows):
            if np.isnan(grid[i]).all():
                ax.text(
                    len(variables) / 2 - 0.5,
                    i,
                    "not run",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="#777777",
                )
            elif diverged.get((clip, model), 0):  # outline the row
                ax.add_patch(
                    Rectangle(
                        (-0.45, i - 0.45),
                        len(variables) - 0.1,
                        0.9,
                        fill=False,
                        edgecolor=DIVERGED_OUTLINE,
                        linewidth=2.5,
                    )
                )
        ax.set_facecolor(MISSING)
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            aspect="auto",
            interpolation="nearest",
        )
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                shade = (value - vmin) / (vmax - vmin)
                ax.text(
                    j,
                    i,
                    f"{10**value:.2g}",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white" if shade < 0.6 else "black",
                )
        ax.set_xticks(range(len(variables)), variables, rotation=40, ha="right", fontsize="small")
        ax.set_yticks(range(len(rows)), rows, fontsize="small")
        ax.set_title(f"clip: {clip}", fontsize="small")
        ax.set_xlabel("variable (layer/weight)")
    axes[0].set_ylabel("cell, activation variant")
    bar = figure.colorbar(image, ax=list(axes), shrink=0.8, location="right")
    bar.set_label("log10 peak gradient norm (before clipping)")
    suptitle(
        figure,
        f"{task_label}: peak per-variable gradient norm before clipping (max over the finite "
        "steps, median over seeds; annotated in linear units; outlined in vermillion: a seed "
        "diverged, and its last, non-finite step is left out)",
    )
    return figure
