"""Every plot kind drawn from real records of the smoke grid, and each PNG checked for content.

The records come from a subset of `experiments/configs/smoke.toml` (5 of its 16 runs, trained
once for the module, ~20 s) that still has every plot kind: two clipping modes, gated and ungated
cells, a loss-metric task (adding) and accuracy tasks (copy, temporal order).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from experiments import analysis, plots, report, runner
from experiments.config import load_grid

SMOKE = Path(__file__).parents[2] / "experiments" / "configs" / "smoke.toml"
SUBSET = (
    "adding12-lstm-standard-none",
    "adding12-lstm-standard-global_clipnorm1",
    "adding12-gru-relu_gates-none",
    "copy5-peephole-standard-clipnorm0.5",
    "temporal_order12-simple_rnn-relu_candidate-none",
)
KINDS = (
    "grid_overview",
    "loss_",
    "metric_",
    "grad_norm_",
    "gradient_through_time_",
    "variable_norms_",
)


@pytest.fixture(scope="module")
def smoke_tables(tmp_path_factory) -> analysis.Tables:
    grid = load_grid(SMOKE)
    runs = tuple(s for s in grid.runs if s.run_id.startswith(SUBSET))
    assert len(runs) == len(SUBSET)
    out = tmp_path_factory.mktemp("plots")
    result = runner.run_grid(replace(grid, runs=runs), out, workers=1, stream=io.StringIO())
    assert result.counts["completed"] == len(SUBSET)
    return analysis.load(out / grid.name)


@pytest.fixture(scope="module")
def drawn(smoke_tables, tmp_path_factory) -> dict[str, tuple[Figure, Path]]:
    """Every figure of the report, drawn and saved as the report saves it."""
    folder = tmp_path_factory.mktemp("png")
    figures = {}
    for plot in plots.plot_list(smoke_tables):
        figure = plot.make()
        figures[plot.name] = (figure, report.save_png(figure, folder / f"{plot.name}.png"))
    return figures


def test_every_plot_kind_is_drawn(drawn):
    names = set(drawn)
    for kind in KINDS:
        assert any(name.startswith(kind) for name in names), (kind, sorted(names))
    for task in ("adding12", "copy5", "temporal_order12"):
        for kind in ("loss_", "grad_norm_", "gradient_through_time_", "variable_norms_"):
            assert f"{kind}{task}" in names
    # a metric plot only where the metric is not the loss
    assert "metric_copy5" in names and "metric_adding12" not in names


def test_every_png_has_the_expected_size_and_real_content(drawn):
    for name, (figure, path) in drawn.items():
        assert 5_000 < path.stat().st_size < 300_000, name
        image = matplotlib.image.imread(path)
        width, height = figure.get_size_inches() * plots.DPI
        assert image.shape[:2] == (round(height), round(width)), name
        assert 400 <= image.shape[1] <= 2500 and 250 <= image.shape[0] <= 2000, name
        rgb = image[..., :3]
        assert rgb.std() > 0.05, f"{name}: blank"
        not_white = (rgb < 0.95).any(axis=-1).mean()
        assert not_white > 0.03, f"{name}: only {not_white:.1%} of the pixels are drawn"
        packed = (rgb * 255).astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
        colours = np.unique(packed)
        assert len(colours) > 20, f"{name}: {len(colours)} colours"


def test_every_figure_is_labelled(drawn):
    for name, (figure, _) in drawn.items():
        assert figure.get_suptitle(), name
        axes = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
        assert any(ax.get_xlabel() for ax in axes), name
        assert any(ax.get_ylabel() for ax in axes), name
        # legends sit outside the panels, never on an axes
        assert all(ax.get_legend() is None for ax in axes), name
        if not name.startswith(("grid_overview", "variable_norms")):
            assert figure.legends, name


def test_line_plots_draw_data(drawn):
    for name, (figure, _) in drawn.items():
        if name.startswith(("loss_", "grad_norm_", "gradient_through_time_", "metric_")):
            labelled = [
                line
                for ax in figure.axes
                for line in ax.get_lines()
                if not line.get_label().startswith("_") and len(line.get_xdata()) > 1
            ]
            assert labelled, name
            assert any(np.isfinite(np.asarray(line.get_ydata(), float)).any() for line in labelled)


def test_heat_maps_show_every_configuration(drawn, smoke_tables):
    figure, _ = drawn["grid_overview"]
    images = [ax.get_images()[0] for ax in figure.axes if ax.get_images()]
    assert len(images) == smoke_tables.runs["task_label"].nunique()
    shown = sum(int(np.isfinite(image.get_array().filled(np.nan)).sum()) for image in images)
    assert shown == len(smoke_tables.configs)
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert sum("solved" in t for t in texts) == len(smoke_tables.configs)


def test_same_configuration_same_colour_in_every_figure(drawn):
    colours = {}
    for figure, _ in drawn.values():
        for ax in figure.axes:
            for line in ax.get_lines():
                label = line.get_label()
                if label.startswith("_") or " " not in label:
                    continue
                colours.setdefault(label, set()).add(line.get_color())
    assert "lstm standard" in colours and "gru relu_gates" in colours
    for label, seen in colours.items():
        if label.startswith(("lstm", "gru", "peephole", "simple_rnn", "indrnn")):
            assert len(seen) == 1, (label, seen)
            assert seen <= set(plots.OKABE_ITO)


def test_styles_are_stable_and_distinct(smoke_tables):
    style = plots.styles(smoke_tables.runs)
    assert style == plots.styles(smoke_tables.runs.sample(frac=1, random_state=0))
    assert style.colors["standard"] == plots.OKABE_ITO[0]
    assert len(set(style.colors.values())) == len(style.colors)
    assert style.of("lstm", "standard") != style.of("gru", "standard")


def test_timestep_steps_picks_first_and_last():
    assert plots.timestep_steps([1, 100, 200, 300, 400, 500, 600]) == [1, 200, 400, 600]
    assert plots.timestep_steps([3, 1]) == [1, 3]
