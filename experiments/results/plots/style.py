"""The look every figure shares: the palette, one line style per configuration (`Styles`), and the
figure, title and legend helpers.

The colour names the activation variant (scheme, plus e.g. `forget_bias=0`) from the
colour-blind-safe Okabe-Ito palette, the line style names the cell (`vocabulary.CELL_TABLE`), and
both are fixed per grid by `styles(runs)`. Figures are `matplotlib.figure.Figure`s on the Agg canvas
(no pyplot, no global backend switch, nothing shown), laid out automatically, with the legend
outside the panels on the right.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from experiments.results.labels import ordered, rank
from experiments.vocabulary import CELL_TABLE, CELLS, SCHEMES

DPI = 100
# Okabe & Ito (2008), ordered so that the first colours differ most; yellow is last (pale on white).
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
# After the 8 colour-blind-safe ones, for grids with more variants (the default grid has 11):
# matplotlib's tab10 colours that differ most from them.
MORE_COLOURS = ("#8C564B", "#7F7F7F", "#9467BD", "#17BECF", "#BCBD22", "#E377C2")
PALETTE = OKABE_ITO + MORE_COLOURS
CELL_LINESTYLES = {name: cell.linestyle for name, cell in CELL_TABLE.items()}
REFERENCE = "#555555"  # baselines, thresholds
MISSING = "#DDDDDD"  # heat-map cells with no runs
DIVERGED_OUTLINE = "#D55E00"  # outline of heat-map rows where a seed diverged (vermillion)
HEAT_CMAP = "cividis"  # perceptually uniform and colour-vision-deficiency friendly
LEGEND_ROOM = 2.6  # inches `panel_figure` keeps for the legend on the right
LEGEND_CHAR = 0.07  # inches per character of a legend label (fontsize "small")


@dataclass(frozen=True)
class Styles:
    """A fixed line style per configuration: colour by variant, line style by cell."""

    colors: dict
    linestyles: dict

    def of(self, cell: str, variant: str) -> dict:
        return {"color": self.colors[variant], "linestyle": self.linestyles.get(cell, "-")}


def styles(runs: pd.DataFrame) -> Styles:
    """The styles of a grid: every variant (in the suite's scheme order) gets the next colour of
    `PALETTE` (distinct up to its 14 colours)."""
    frame = runs.drop_duplicates("variant")
    ranks = rank(frame["scheme"], SCHEMES)
    variants = [v for _, v in sorted(zip(ranks, frame["variant"], strict=True))]
    colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(variants)}
    cells = ordered(runs["cell"], CELLS)
    extra = [c for c in cells if c not in CELL_LINESTYLES]
    linestyles = {**CELL_LINESTYLES, **{c: (0, (1, 1 + i)) for i, c in enumerate(extra)}}
    return Styles(colors, linestyles)


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches on the Agg canvas (PNG), laid out automatically."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def panel_figure(rows: int, cols: int, width: float, height: float, **kwargs):
    """A figure of `rows` x `cols` panels of `width` x `height` inches, room for a legend; returns
    the figure and its 2-D array of axes (`subplots` keyword arguments such as `sharex` pass on)."""
    figure = new_figure(width * cols + LEGEND_ROOM, height * rows + 0.9)
    axes = figure.subplots(rows, cols, squeeze=False, **kwargs)
    return figure, axes


def suptitle(figure: Figure, text: str) -> None:
    """The figure's title, wrapped to the figure's width."""
    chars = max(40, int(figure.get_figwidth() * 13))
    figure.suptitle(textwrap.fill(text, chars), fontsize="medium")


def legend(figure: Figure, handles: list, title: str | None = None) -> None:
    """A legend outside the panels, on the right (never over data). The figure widens when the
    labels need more than `LEGEND_ROOM` (long model labels such as an IndRNN's settings), so
    the panels keep their width."""
    unique = {h.get_label(): h for h in handles}
    longest = max((len(label) for label in [*unique, title or ""]), default=0)
    extra = LEGEND_CHAR * longest + 0.5 - LEGEND_ROOM
    if extra > 0:
        figure.set_figwidth(figure.get_figwidth() + extra)
    figure.legend(
        list(unique.values()),
        list(unique),
        loc="outside right center",
        title=title,
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )


def handle(style: dict, label: str, **kwargs) -> Line2D:
    """A legend entry drawn nowhere: a line of `style` (colour, line style, marker...)."""
    return Line2D([], [], label=label, **{**style, **kwargs})


def mark_empty(axes, text: str) -> None:
    """Writes `text` in the panels that have no data line (only reference lines)."""
    for ax in axes.flat:
        if all(line.get_label().startswith("_") for line in ax.get_lines()):
            ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#777")


def label_panels(axes, rows: list[str], cols: list[str], xlabel: str, ylabel: str) -> None:
    """Column titles, x labels under the last row, y labels naming each row; "not run" in the
    panels without data."""
    mark_empty(axes, "not run")
    for j, col in enumerate(cols):
        axes[0, j].set_title(f"clip: {col}", fontsize="small")
        axes[-1, j].set_xlabel(xlabel)
    for i, row in enumerate(rows):
        axes[i, 0].set_ylabel(f"{row}\n{ylabel}", fontsize="small")
