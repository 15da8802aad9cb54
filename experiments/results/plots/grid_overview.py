"""The grid at a glance: a heat map per task of every configuration's success rate."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from experiments.results.formatting import num
from experiments.results.plots.panels import budget_text, clip_labels
from experiments.results.plots.style import HEAT_CMAP, MISSING, new_figure, suptitle


def grid_overview(tables) -> Figure:
    """A heat map per task: rows cell x activation variant, columns clipping mode; colour the
    success rate (solved / finished seeds); each cell annotated with solved and diverged counts
    and the median final loss / baseline. Grey: not run."""
    configs = tables.configs
    configs = configs[configs["n_finished"] > 0]
    tasks = list(dict.fromkeys(configs["task_label"]))
    rows = list(dict.fromkeys(configs["model_label"]))
    clips = clip_labels(configs)
    width = 1.05 * len(clips) + 0.4
    figure = new_figure(width * len(tasks) + 3.4, 0.52 * len(rows) + 1.9)
    axes = figure.subplots(1, len(tasks), squeeze=False, sharey=True)[0]
    cmap = matplotlib.colormaps[HEAT_CMAP]
    image = None
    for ax, task in zip(axes, tasks, strict=True):
        part = configs[configs["task_label"] == task]
        grid = np.full((len(rows), len(clips)), np.nan)
        for _, config in part.iterrows():
            i, j = rows.index(config["model_label"]), clips.index(config["clip_label"])
            grid[i, j] = config["success_rate"]
            text = (
                f"{config['n_solved']}/{config['n_finished']} solved\n"
                f"{config['n_diverged']} diverged\n"
                f"loss/base {num(config['loss_ratio_median'], '.2g')}"
            )
            color = "white" if np.mean(to_rgb(cmap(config["success_rate"]))) < 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=color)
        for (i, j), value in np.ndenumerate(grid):
            if np.isnan(value):
                ax.text(j, i, "not run", ha="center", va="center", fontsize=6.5, color="#777777")
        ax.set_facecolor(MISSING)
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            cmap=cmap,
            vmin=0,
            vmax=1,
            aspect="auto",
            interpolation="nearest",
        )
        ax.set_xticks(range(len(clips)), clips, rotation=30, ha="right", fontsize="small")
        ax.set_yticks(range(len(rows)), rows, fontsize="small")
        ax.set_title(f"{task} ({budget_text(part)} steps)", fontsize="small")
        ax.set_xlabel("clipping mode (threshold)")
        ax.set_xticks(np.arange(-0.5, len(clips)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
    axes[0].set_ylabel("cell, activation variant")
    bar = figure.colorbar(image, ax=list(axes), shrink=0.8, location="right")
    bar.set_label("success rate (solved / finished seeds)")
    suptitle(
        figure,
        f"Grid {tables.name}: success rate per configuration (grey: not run; loss/base: median "
        "final held-out loss / memoryless baseline)",
    )
    return figure
