"""Which clipping threshold to choose (F10): the outcome against how often clipping fired."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from experiments.results import compare
from experiments.results.plots.panels import budget_text
from experiments.results.plots.style import (
    PALETTE,
    REFERENCE,
    handle,
    legend,
    mark_empty,
    panel_figure,
    suptitle,
)
from experiments.vocabulary import CLIP_MODES


def clip_rate(tables) -> Figure:
    """Which threshold to choose: for every configuration run at two clipping thresholds or more
    (F10), the fraction of seeds solved (top row of a pair) and the median step solved (bottom)
    against the median share of training steps on which clipping changed the gradient, a line per
    clip mode through its thresholds, starting from the same runs unclipped (share 0); a column
    per optimizer, a pair of rows per task, cell and activation variant. Each point is labelled
    with its threshold."""
    swept, unclipped = compare.threshold_runs(tables)
    table = compare.threshold_table(pd.concat([swept, unclipped]))
    table["row"] = table["task_label"] + " " + table["cell"] + " " + table["scheme"]
    rows = list(dict.fromkeys(table["row"]))
    optimizers = list(dict.fromkeys(table["optimizer"]))
    figure, axes = panel_figure(2 * len(rows), len(optimizers), 3.4, 2.0, sharex=True)
    colours = dict(zip(CLIP_MODES[1:], PALETTE, strict=False))
    handles = []
    for (row, optimizer), part in table.groupby(["row", "optimizer"], sort=False):
        i, j = 2 * rows.index(row), optimizers.index(optimizer)
        start = part[part["clip"] == "none"]
        for clip, group in part[part["clip"] != "none"].groupby("clip", sort=False):
            group = pd.concat([start, group]).sort_values("clipped_steps")
            x = group["clipped_steps"].to_numpy(dtype=float)
            style = {"color": colours.get(clip, REFERENCE), "marker": "o", "linewidth": 1.4}
            for offset, value in ((0, "solved"), (1, "step_solved")):
                ax = axes[i + offset, j]
                ax.plot(x, group[value].to_numpy(dtype=float), label=clip, **style)
                for xi, yi, threshold in zip(x, group[value], group["threshold"], strict=True):
                    if pd.notna(yi):
                        text = f"{threshold:g}" if threshold else "none"
                        ax.annotate(
                            text, (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=6.5
                        )
            handles.append(handle(style, clip))
    for ax in axes.flat:
        ax.set_xlim(-0.05, 1.05)
        ax.grid(True, alpha=0.3)
    for i, row in enumerate(rows):
        for j in range(len(optimizers)):
            axes[2 * i, j].set_ylim(-0.05, 1.05)
        axes[2 * i, 0].set_ylabel(f"{row}\nfraction solved", fontsize="small")
        axes[2 * i + 1, 0].set_ylabel("median step solved", fontsize="small")
    for j, optimizer in enumerate(optimizers):
        axes[0, j].set_title(f"optimizer: {optimizer}", fontsize="small")
        axes[-1, j].set_xlabel("share of steps clipped (median over seeds)")
    mark_empty(axes, "not run")
    suptitle(
        figure,
        f"Grid {tables.name}: outcome against how often clipping fired, per clip mode through its "
        f"thresholds (labels; none: unclipped); budget "
        f"{budget_text(pd.concat([swept, unclipped]))} steps",
    )
    legend(figure, handles, "clip mode")
    return figure
