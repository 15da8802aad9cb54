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
import pandas as pd
import pytest
from matplotlib.figure import Figure

from experiments.engine import runner
from experiments.grid.config import load_grid
from experiments.results import analysis, plots, report
from experiments.results.plots import style as plot_style

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
    "time_to_solve_",
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
        kinds = (
            "loss_",
            "time_to_solve_",
            "grad_norm_",
            "gradient_through_time_",
            "variable_norms_",
        )
        for kind in kinds:
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
        if name.startswith(
            ("loss_", "grad_norm_", "gradient_through_time_", "metric_", "time_to_solve_")
        ):
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


def test_styles_stay_distinct_past_the_eight_colour_blind_safe_colours(smoke_tables):
    runs = pd.concat([smoke_tables.runs.iloc[:1]] * 12, ignore_index=True)
    runs["variant"] = [f"variant {i}" for i in range(12)]
    colours = plots.styles(runs).colors
    assert len(set(colours.values())) == 12


def test_a_long_legend_widens_the_figure_rather_than_the_panels():
    figure, _ = plot_style.panel_figure(1, 2, 3.0, 2.0)
    width = figure.get_figwidth()
    plot_style.legend(figure, [plot_style.handle({}, "short")])
    assert figure.get_figwidth() == width
    long_label = "indrnn relu depth=2 kernel_initializer=small_normal learning_rate=0.003"
    plot_style.legend(figure, [plot_style.handle({}, long_label)])
    assert figure.get_figwidth() > width + 1


# --------------------------------------------------------------------------------------------------
# Figures read back from synthetic tables (no training)


def fake_run(run_id: str, **columns) -> dict:
    """One row of `Tables.runs` with the columns the figures read (an adding task, an lstm)."""
    row = {
        "run_id": run_id,
        "task": "adding",
        "length": 10,
        "task_label": "adding10",
        "cell": "lstm",
        "scheme": "standard",
        "variant": "standard",
        "clip": "none",
        "clip_threshold": 0.0,
        "clip_label": "none",
        "status": "completed",
        "steps": 400,
        "solved": False,
        "step_solved": np.nan,
        "solved_rule": "mse <= 0.04",
    }
    return {**row, **columns}


def fake_tables(runs: list[dict], timesteps: list[tuple] = ()) -> analysis.Tables:
    """Tables holding `runs` and `timesteps` rows (run_id, step, t, grad_norm) only."""
    empty = pd.DataFrame(columns=["run_id"])
    return analysis.Tables(
        grid_dir=Path("fake"),
        runs=pd.DataFrame(runs),
        configs=empty,
        steps=empty,
        evals=empty,
        variables=empty,
        timesteps=pd.DataFrame(timesteps, columns=["run_id", "step", "t", "grad_norm"]),
    )


def data_lines(ax) -> list:
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def value_at(line, step: float) -> float:
    """The value of a `steps-post` line at `step`: the y of its last corner at or before it."""
    assert line.get_drawstyle() == "steps-post"
    x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    return float(y[np.searchsorted(x, step, side="right") - 1])


def test_time_to_solve_is_the_fraction_of_finished_seeds_solved_by_each_step():
    runs = [
        fake_run("a0", solved=True, step_solved=100.0),
        fake_run("a1", solved=True, step_solved=200.0, status="diverged"),
        fake_run("a2"),
        fake_run("a3", status="diverged"),
        fake_run("a4", status="failed"),  # a bug, not a result: not a seed of the curve
        # another clipping mode: its own panel, every seed solved at step 50
        *(
            fake_run(f"b{i}", clip="clipnorm", clip_threshold=1.0, clip_label="clipnorm 1")
            | {"solved": True, "step_solved": 50.0}
            for i in range(2)
        ),
    ]
    figure = plots.time_to_solve(fake_tables(runs), "adding10")
    axes = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["clip: none", "clip: clipnorm 1"]
    (line,) = data_lines(axes[0])
    assert line.get_label() == "lstm standard (n=4)"
    assert line.get_xdata()[0] == 0 and line.get_xdata()[-1] == 400  # from 0 to the budget
    expected = {0: 0, 99: 0, 100: 0.25, 150: 0.25, 199: 0.25, 200: 0.5, 399: 0.5, 400: 0.5}
    assert {s: value_at(line, s) for s in expected} == expected
    (other,) = data_lines(axes[1])
    assert other.get_label() == "lstm standard (n=2)"
    assert (value_at(other, 49), value_at(other, 50), value_at(other, 400)) == (0, 1, 1)
    assert "two consecutive" in figure.get_suptitle()


def test_time_to_solve_counts_a_step_only_for_solved_runs():
    # a run not solved counts as unsolved whatever its step_solved holds
    runs = [fake_run("a0", solved=True, step_solved=100.0), fake_run("a1", step_solved=300.0)]
    (line,) = data_lines(plots.time_to_solve(fake_tables(runs), "adding10").axes[0])
    assert value_at(line, 400) == 0.5


def test_solved_fraction_with_ties_and_no_solved_seed():
    x, y = plots.solved_fraction([300, np.nan, 300, 100], 500)
    assert x.tolist() == [0, 100, 300, 500] and y.tolist() == [0, 0.25, 0.75, 0.75]
    x, y = plots.solved_fraction([np.nan, np.nan], 500)
    assert x.tolist() == [0, 500] and y.tolist() == [0, 0]


def profile(run_id: str, step: int, scale: float, T: int = 5) -> list[tuple]:
    """Timestep rows of one logged step: ||dL/dx_t|| = scale^(T-1-t), 1 at the last input."""
    return [(run_id, step, t, 0.3 * scale ** (T - 1 - t)) for t in range(T)]


def test_gradient_through_time_shows_step_one_and_each_runs_last_step():
    runs = [fake_run(f"a{i}", status="completed") for i in range(3)]
    runs[2]["status"] = "diverged"
    runs.append(fake_run("g0", cell="gru"))  # logged at step 1 only
    timesteps = [
        # step 1: median scale 0.5; middle steps never shown; last steps: median scale 0.9
        *profile("a0", 1, 0.4),
        *profile("a1", 1, 0.5),
        *profile("a2", 1, 0.6),
        *profile("a0", 200, 0.1),
        *profile("a1", 200, 0.1),
        *profile("a0", 400, 0.8),
        *profile("a1", 400, 0.9),
        *profile("a2", 200, 2.0),  # a2 diverged: its last finite record is at step 200
        *[("a2", 250, t, np.inf) for t in range(5)],
        *profile("g0", 1, 0.2),
    ]
    figure = plots.gradient_through_time(fake_tables(runs, timesteps), "adding10")
    axes = np.array(figure.axes).reshape(2, 2)  # rows lstm, gru; columns first, last step
    assert axes[0, 0].get_title() == "at initialisation (step 1)"
    assert axes[0, 1].get_title() == "at the end of training (step 200/400)"
    t = np.arange(5)
    (first,) = data_lines(axes[0, 0])
    (last,) = data_lines(axes[0, 1])
    np.testing.assert_allclose(first.get_xdata(), t)
    np.testing.assert_allclose(first.get_ydata(), 0.5 ** (4 - t))
    np.testing.assert_allclose(last.get_ydata(), 0.9 ** (4 - t))
    # a run logged once is drawn at initialisation, and its end-of-training panel says why not
    (gru,) = data_lines(axes[1, 0])
    np.testing.assert_allclose(gru.get_ydata(), 0.2 ** (4 - t))
    assert not data_lines(axes[1, 1])
    assert [text.get_text() for text in axes[1, 1].texts] == ["one logged step only"]
    assert not axes[0, 0].texts and not axes[0, 1].texts
    title = figure.get_suptitle()
    assert "at initialisation (step 1)" in title and "end of training (step 200/400)" in title


def test_clip_rate_plots_the_outcome_against_the_share_of_steps_clipped():
    from tests.experiments.test_findings import SOLVED, U, run_rows, tables_of

    relu = dict(scheme="relu_candidate", clip="global_clipnorm")
    tables = tables_of(
        run_rows(SOLVED, clipped_steps=0.6, clip_threshold=0.1, **relu),  # clips often
        run_rows([U] * 4 + [500] * 4, clipped_steps=0.1, clip_threshold=4.0, **relu),
        run_rows([U] * 8, scheme="relu_candidate", clip="none"),
    )
    figure = plots.clip_rate(tables)
    solved_ax, step_ax = (ax for ax in figure.axes if ax.get_xlim()[1] == 1.05)
    assert solved_ax.get_title() == "optimizer: adam"
    assert "adding50 lstm relu_candidate" in solved_ax.get_ylabel()
    (solved,) = data_lines(solved_ax)
    assert solved.get_label() == "global_clipnorm"
    # from unclipped (share 0) through the high threshold to the low one, in order of clip rate
    assert list(solved.get_xdata()) == [0.0, 0.1, 0.6]
    assert list(solved.get_ydata()) == [0.0, 0.5, 1.0]
    (step,) = data_lines(step_ax)
    assert np.isnan(step.get_ydata()[0]) and list(step.get_ydata()[1:]) == [500.0, 300.0]
    labels = [text.get_text() for text in solved_ax.texts]
    assert labels == ["none", "4", "0.1"]
    names = [plot.name for plot in plots.plot_list(tables)]
    assert "clip_rate" in names


def test_plots_take_their_data_from_compare_and_analysis_not_from_the_findings():
    from tests.test_imports import import_graph

    graph = import_graph()
    modules = [name for name in graph if name.startswith("experiments.results.plots")]
    assert "experiments.results.plots.style" in modules
    for name in modules:
        assert not any(dep.startswith("experiments.results.findings") for dep in graph[name]), name


def test_the_plot_table_names_each_kind_once(drawn):
    stems = [kind.stem for kind in plots.PLOTS]
    assert len(set(stems)) == len(stems)
    # every drawn figure comes from a row: the stem itself, or the stem and a task label
    for name in drawn:
        assert any(name == s or name.startswith(f"{s}_") for s in stems), name
