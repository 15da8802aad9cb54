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
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from experiments.results import analysis, compare
from experiments.results.formatting import num
from experiments.vocabulary import CELL_TABLE, CELLS, CLIP_MODES, FINISHED, SCHEMES

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
DIVERGED = "#D55E00"  # outline of heat-map rows where a seed diverged
HEAT_CMAP = "cividis"  # perceptually uniform and colour-vision-deficiency friendly


# --------------------------------------------------------------------------------------------------
# Styles


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
    ranks = analysis.rank(frame["scheme"], SCHEMES)
    variants = [v for _, v in sorted(zip(ranks, frame["variant"], strict=True))]
    colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(variants)}
    cells = analysis.ordered(runs["cell"], CELLS)
    extra = [c for c in cells if c not in CELL_LINESTYLES]
    linestyles = {**CELL_LINESTYLES, **{c: (0, (1, 1 + i)) for i, c in enumerate(extra)}}
    return Styles(colors, linestyles)


# --------------------------------------------------------------------------------------------------
# Helpers


def _figure(rows: int, cols: int, width: float, height: float, **kwargs):
    """A figure of `rows` x `cols` panels of `width` x `height` inches, room for a legend."""
    figure = _new_figure(width * cols + LEGEND_ROOM, height * rows + 0.9)
    axes = figure.subplots(rows, cols, squeeze=False, **kwargs)
    return figure, axes


def _new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches on the Agg canvas (PNG), laid out automatically."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _title(figure: Figure, text: str) -> None:
    """The figure's title, wrapped to the figure's width."""
    chars = max(40, int(figure.get_figwidth() * 13))
    figure.suptitle(textwrap.fill(text, chars), fontsize="medium")


LEGEND_ROOM = 2.6  # inches `_figure` keeps for the legend on the right
LEGEND_CHAR = 0.07  # inches per character of a legend label (fontsize "small")


def _legend(figure: Figure, handles: list, title: str | None = None) -> None:
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


def _handle(style: dict, label: str, **kwargs) -> Line2D:
    return Line2D([], [], label=label, **{**style, **kwargs})


def _task_runs(tables, task_label: str) -> pd.DataFrame:
    runs = tables.runs
    return runs[(runs["task_label"] == task_label) & (runs["status"] != "failed")]


def _loss_unit(run: pd.Series) -> str:
    return "MSE" if run["loss_name"] == "mse" else "cross-entropy, nats"


def _clip_labels(frame: pd.DataFrame) -> list[str]:
    """The clipping labels of `frame` in the suite's order (none, clipvalue, clipnorm, global)."""
    order = frame.drop_duplicates("clip_label")
    ranks = analysis.rank(order["clip"], CLIP_MODES)
    return [
        label
        for _, _, label in sorted(
            zip(ranks, order["clip_threshold"], order["clip_label"], strict=True)
        )
    ]


def _panel_grid(runs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The rows (cells) and columns (clipping labels) of a task's small multiples."""
    return analysis.ordered(runs["cell"], CELLS), _clip_labels(runs)


def _budget(runs: pd.DataFrame) -> str:
    steps = sorted(int(s) for s in runs["steps"].unique())
    return "/".join(str(s) for s in steps)


def _steps_text(steps, most: int = 3) -> str:
    """Training steps in words: `400`, `250/400`, or `120-400` for more than `most` of them."""
    steps = sorted({int(s) for s in steps})
    if len(steps) > most:
        return f"{steps[0]}-{steps[-1]}"
    return "/".join(str(s) for s in steps)


def _wide(frame: pd.DataFrame, runs: pd.DataFrame, value: str, index: str = "step"):
    """`value` per `index` (rows) and run (columns) for the given runs."""
    part = frame[frame["run_id"].isin(runs["run_id"])]
    return part.pivot_table(index=index, columns="run_id", values=value, aggfunc="first")


def _median(wide: pd.DataFrame, log: bool) -> pd.Series:
    """The median over runs (columns); with `log`, taken of the log10 values (for a log axis: with
    two seeds it is then their geometric mean, centred between them on the plot)."""
    values = analysis.finite(wide.astype(float))
    if not log:
        return values.median(axis=1)
    return 10 ** np.log10(values.where(values > 0)).median(axis=1)


def _band(ax, wide: pd.DataFrame, style: dict, label: str, log: bool = True) -> Line2D:
    """The median over runs (columns) as a line (see `_median`) and their min-max as a band."""
    x = wide.index.to_numpy()
    values = analysis.finite(wide.astype(float))
    (line,) = ax.plot(x, _median(values, log), label=label, linewidth=1.4, **style)
    if values.shape[1] > 1:
        low, high = values.min(axis=1), values.max(axis=1)
        ax.fill_between(x, low, high, color=style["color"], alpha=0.18, linewidth=0)
    return line


def _configurations(runs: pd.DataFrame):
    """(cell, clip_label, variant, runs) per configuration of `runs`, in order."""
    for (cell, clip, variant), group in runs.groupby(["cell", "clip_label", "variant"], sort=False):
        yield cell, clip, variant, group


# --------------------------------------------------------------------------------------------------
# 1. Training loss (and held-out metric) vs step


def loss_curves(tables, task_label: str, style: Styles | None = None) -> Figure:
    """Training loss vs step per configuration of one task: a row per cell, a column per clipping
    mode, a line per variant (median over seeds of the `analysis.smooth`ed loss, min-max band);
    log scale; the memoryless baseline and (when the metric is the loss) the solved threshold as
    lines; an x where a run diverged."""
    style = style or styles(tables.runs)
    runs = _task_runs(tables, task_label)
    cells, clips = _panel_grid(runs)
    rules = runs.iloc[0]
    figure, axes = _figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    steps = tables.steps[tables.steps["run_id"].isin(runs["run_id"])].copy()
    steps["smooth"] = steps.groupby("run_id", sort=False)["loss"].transform(
        analysis.smooth, partial=True
    )
    handles = []
    for cell, clip, variant, group in _configurations(runs):
        ax = axes[cells.index(cell), clips.index(clip)]
        wide = _wide(steps, group, "smooth")
        if wide.empty:
            continue
        handles.append(_band(ax, wide, style.of(cell, variant), f"{cell} {variant}"))
        for run_id in group.loc[group["status"] == "diverged", "run_id"]:
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
    reference.append(_handle({"color": REFERENCE, "linestyle": "--"}, "memoryless baseline"))
    if rules["metric_is_loss"]:
        reference.append(
            _handle({"color": REFERENCE, "linestyle": ":"}, f"solved: {rules['solved_rule']}")
        )
    reference.append(_handle({"color": "k", "linestyle": "none"}, "diverged", marker="x"))
    _label_panels(axes, cells, clips, "training step", f"training loss ({_loss_unit(rules)})")
    _title(
        figure,
        f"{task_label}: training loss vs step ({analysis.SMOOTH_STEPS}-step moving median; line: "
        f"median over seeds on the log scale, band: min-max; budget {_budget(runs)} steps)",
    )
    _legend(figure, handles + reference, "cell, activations")
    return figure


def metric_curves(tables, task_label: str, style: Styles | None = None) -> Figure:
    """The held-out metric vs step (eval.csv) with the metric baseline and solved threshold: for
    the tasks whose metric is not the loss (accuracies)."""
    style = style or styles(tables.runs)
    runs = _task_runs(tables, task_label)
    cells, clips = _panel_grid(runs)
    rules = runs.iloc[0]
    figure, axes = _figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    handles = []
    for cell, clip, variant, group in _configurations(runs):
        wide = _wide(tables.evals, group, "metric")
        if not wide.empty:
            ax = axes[cells.index(cell), clips.index(clip)]
            line = _band(ax, wide, style.of(cell, variant), f"{cell} {variant}", log=False)
            line.set_marker(".")
            handles.append(line)
    for ax in axes.flat:
        if rules["metric_name"].endswith("accuracy"):
            ax.set_ylim(0, 1.02)
        ax.axhline(rules["metric_baseline"], color=REFERENCE, linestyle="--", linewidth=1)
        ax.axhline(rules["solved_threshold"], color=REFERENCE, linestyle=":", linewidth=1)
        ax.grid(True, alpha=0.3)
    reference = [
        _handle({"color": REFERENCE, "linestyle": "--"}, "memoryless baseline"),
        _handle({"color": REFERENCE, "linestyle": ":"}, f"solved: {rules['solved_rule']}"),
    ]
    _label_panels(axes, cells, clips, "training step", f"held-out {rules['metric_name']}")
    _title(
        figure,
        f"{task_label}: held-out {rules['metric_name']} vs step (line: median over seeds, band: "
        f"min-max; budget {_budget(runs)} steps)",
    )
    _legend(figure, handles + reference, "cell, activations")
    return figure


def _mark_empty(axes, text: str) -> None:
    """Writes `text` in the panels that have no data line (only reference lines)."""
    for ax in axes.flat:
        if all(line.get_label().startswith("_") for line in ax.get_lines()):
            ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#777")


def _label_panels(axes, rows: list[str], cols: list[str], xlabel: str, ylabel: str) -> None:
    """Column titles, x labels under the last row, y labels naming each row; "not run" in the
    panels without data."""
    _mark_empty(axes, "not run")
    for j, col in enumerate(cols):
        axes[0, j].set_title(f"clip: {col}", fontsize="small")
        axes[-1, j].set_xlabel(xlabel)
    for i, row in enumerate(rows):
        axes[i, 0].set_ylabel(f"{row}\n{ylabel}", fontsize="small")


# --------------------------------------------------------------------------------------------------
# 1b. Fraction of seeds solved vs step (time to solve)


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
    evaluations, a first passage, so the curve at s is the verdict a budget of s steps would give."""
    style = style or styles(tables.runs)
    runs = _task_runs(tables, task_label)
    runs = runs[runs["status"].isin(FINISHED)]
    cells, clips = _panel_grid(runs)
    rules = runs.iloc[0]
    figure, axes = _figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    handles = []
    for cell, clip, variant, group in _configurations(runs):
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
    _label_panels(axes, cells, clips, "training step", "fraction of seeds solved")
    _title(
        figure,
        f"{task_label}: fraction of finished seeds solved by step s (solved: "
        f"{rules['solved_rule']} at two consecutive held-out evaluations, counted from the first; "
        f"budget {_budget(runs)} steps)",
    )
    _legend(figure, handles, "cell, activations (seeds)")
    return figure


# --------------------------------------------------------------------------------------------------
# 2. Global gradient norm vs step, before and after clipping


def grad_norms(tables, task_label: str, style: Styles | None = None) -> Figure:
    """The global gradient norm before clipping (thin, median over seeds) and after it (thick,
    faint) vs step, log scale, with the clip threshold drawn: where explosions happen and what
    clipping does to them. A row per cell, a column per clipping mode."""
    style = style or styles(tables.runs)
    runs = _task_runs(tables, task_label)
    cells, clips = _panel_grid(runs)
    figure, axes = _figure(len(cells), len(clips), 3.2, 2.3, sharex=True, sharey=True)
    handles = []
    for cell, clip, variant, group in _configurations(runs):
        ax = axes[cells.index(cell), clips.index(clip)]
        config_style = style.of(cell, variant)
        pre = analysis.finite(_wide(tables.steps, group, "grad_norm"))
        if pre.empty:
            continue
        (line,) = ax.plot(
            pre.index,
            _median(pre, log=True),
            linewidth=0.9,
            label=f"{cell} {variant}",
            **config_style,
        )
        handles.append(line)
        if group["clip"].iloc[0] != "none":
            post = _wide(tables.steps, group, "grad_norm_clipped")
            ax.plot(
                post.index,
                _median(post, log=True),
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
        _handle({"color": "#777777", "linewidth": 2.2, "alpha": 0.35}, "after clipping"),
        _handle(
            {"color": "k", "linestyle": ":"},
            "clip threshold t",
        ),
    ]
    _label_panels(axes, cells, clips, "training step", "gradient norm ||g||2")
    _title(
        figure,
        f"{task_label}: global gradient norm before clipping (line) and after (faint, thick), "
        f"median over seeds per step",
    )
    _legend(figure, handles + reference, "cell, activations")
    return figure


# --------------------------------------------------------------------------------------------------
# 3. Gradient through time


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
    runs = _task_runs(tables, task_label)
    runs = runs[runs["run_id"].isin(tables.timesteps["run_id"])]
    unclipped = runs.groupby(["cell", "variant"])["clip"].transform(lambda c: (c == "none").any())
    runs = runs[~unclipped | (runs["clip"] == "none")]
    frame = tables.timesteps[tables.timesteps["run_id"].isin(runs["run_id"])].copy()
    last_t = frame.groupby(["run_id", "step"])["t"].transform("max")
    reference = (
        frame[frame["t"] == last_t].set_index(["run_id", "step"])["grad_norm"].rename("reference")
    )
    frame = frame.join(reference, on=["run_id", "step"])
    frame["relative"] = analysis.finite(frame["grad_norm"] / frame["reference"])
    frame.loc[frame["relative"] <= 0, "relative"] = np.nan
    ends = _first_and_last(frame)
    cells = analysis.ordered(runs["cell"], CELLS)
    figure, axes = _figure(len(cells), len(ends), 3.0, 2.3, sharex=True, sharey=True)
    handles = []
    for (cell, variant), group in runs.groupby(["cell", "variant"], sort=False):
        for col, step_of_run in enumerate(ends):
            at_step = frame[frame["step"] == frame["run_id"].map(step_of_run)]
            wide = _wide(at_step, group, "relative", index="t")
            if wide.empty:
                continue
            handles.append(
                _band(
                    axes[cells.index(cell), col], wide, style.of(cell, variant), f"{cell} {variant}"
                )
            )
    for ax in axes.flat:
        ax.set_yscale("log")
        ax.axhline(1.0, color=REFERENCE, linewidth=0.8)
        ax.grid(True, which="major", alpha=0.3)
    first, last = (_steps_text(steps.dropna()) for steps in ends)
    titles = (
        f"at initialisation (step {first})",
        f"at the end of training (step {last})" if last else "at the end of training",
    )
    for col, title in enumerate(titles):
        axes[0, col].set_title(title, fontsize="small")
        axes[-1, col].set_xlabel("input position t (time step)")
    _mark_empty(axes[:, 1:], "one logged step only")
    _mark_empty(axes[:, :1], "no record")
    for row, cell in enumerate(cells):
        axes[row, 0].set_ylabel(f"{cell}\n||dL/dx_t|| / ||dL/dx_T-1||", fontsize="small")
    length = runs["length"].iloc[0]
    _title(
        figure,
        f"{task_label}: gradient through time at initialisation (step {first}) and at the end of "
        f"training (step {last or 'not logged'}), ||dL/dx_t|| relative to the last input (T = "
        f"{length}); median over seeds on the log scale, band: min-max; runs without clipping",
    )
    _legend(figure, handles, "cell, activations")
    return figure


# --------------------------------------------------------------------------------------------------
# 4. Grid overview


def grid_overview(tables) -> Figure:
    """A heat map per task: rows cell x activation variant, columns clipping mode; colour the
    success rate (solved / finished seeds); each cell annotated with solved and diverged counts
    and the median final loss / baseline. Grey: not run."""
    configs = tables.configs
    configs = configs[configs["n_finished"] > 0]
    tasks = list(dict.fromkeys(configs["task_label"]))
    rows = list(dict.fromkeys(configs["model_label"]))
    clips = _clip_labels(configs)
    width = 1.05 * len(clips) + 0.4
    figure = _new_figure(width * len(tasks) + 3.4, 0.52 * len(rows) + 1.9)
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
        ax.set_title(f"{task} ({_budget(part)} steps)", fontsize="small")
        ax.set_xlabel("clipping mode (threshold)")
        ax.set_xticks(np.arange(-0.5, len(clips)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
    axes[0].set_ylabel("cell, activation variant")
    bar = figure.colorbar(image, ax=list(axes), shrink=0.8, location="right")
    bar.set_label("success rate (solved / finished seeds)")
    _title(
        figure,
        f"Grid {tables.name}: success rate per configuration (grey: not run; loss/base: median "
        "final held-out loss / memoryless baseline)",
    )
    return figure


# --------------------------------------------------------------------------------------------------
# 4b. Outcome against the share of steps clipped (F10: which threshold to choose)


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
    figure, axes = _figure(2 * len(rows), len(optimizers), 3.4, 2.0, sharex=True)
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
            handles.append(_handle(style, clip))
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
    _mark_empty(axes, "not run")
    _title(
        figure,
        f"Grid {tables.name}: outcome against how often clipping fired, per clip mode through its "
        f"thresholds (labels; none: unclipped); budget {_budget(pd.concat([swept, unclipped]))} "
        "steps",
    )
    _legend(figure, handles, "clip mode")
    return figure


# --------------------------------------------------------------------------------------------------
# 5. Per-variable gradient norms


def variable_norms(tables, task_label: str) -> Figure:
    """Which weights explode: per clipping mode, a heat map of rows cell x activation variant and
    columns variables (layer/weight); colour log10 of the peak (max over steps) per-variable
    gradient norm before clipping, median over seeds."""
    runs = _task_runs(tables, task_label)
    frame = tables.variables[tables.variables["run_id"].isin(runs["run_id"])]
    peak = (
        frame.assign(grad_norm=analysis.finite(frame["grad_norm"]))
        .groupby(["run_id", "variable"])["grad_norm"]
        .max()
        .rename("peak")
        .reset_index()
        .merge(runs[["run_id", "model_label", "clip_label"]], on="run_id")
    )
    variables = list(dict.fromkeys(frame["variable"]))
    rows = list(dict.fromkeys(runs["model_label"]))
    _, clips = _panel_grid(runs)
    table = peak.groupby(["clip_label", "model_label", "variable"])["peak"].median()
    values = np.log10(table.where(table > 0))
    vmin, vmax = np.nanmin(values), np.nanmax(values)
    if not vmax > vmin:
        vmin, vmax = vmin - 1, vmax + 1
    width = 0.65 * len(variables) + 0.3
    figure = _new_figure(width * len(clips) + 3.4, 0.42 * len(rows) + 2.4)
    axes = figure.subplots(1, len(clips), squeeze=False, sharey=True)[0]
    cmap = matplotlib.colormaps["viridis"]
    image = None
    diverged = runs[runs["status"] == "diverged"].groupby(["clip_label", "model_label"]).size()
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
                        edgecolor=DIVERGED,
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
    _title(
        figure,
        f"{task_label}: peak per-variable gradient norm before clipping (max over the finite "
        "steps, median over seeds; annotated in linear units; outlined in vermillion: a seed "
        "diverged, and its last, non-finite step is left out)",
    )
    return figure


# --------------------------------------------------------------------------------------------------
# What the report draws


@dataclass(frozen=True)
class Plot:
    """One figure of the report: its file stem, a caption and how to draw it."""

    name: str
    caption: str
    make: Callable[[], Figure]


def plot_list(tables) -> list[Plot]:
    """Every figure the records of `tables` allow, in report order, with one style for all."""
    style = styles(tables.runs)
    finished = tables.runs[tables.runs["status"] != "failed"]
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
