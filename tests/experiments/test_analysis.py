"""Loading records and aggregating over seeds: known numbers in, known aggregates out.

`write_fake_run` writes the records of a run without training (with `records.write_run`, so the
format is the real one); `test_findings.py` and `test_report.py` use it too.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_helpers import VARIANTS, variant_runs

from experiments.grid.spec import RunSpec, task_for
from experiments.records import writer as records
from experiments.records.files import write_frame
from experiments.results import analysis, compare, measures
from experiments.vocabulary import BUILTIN_SCHEMES, STEP_COLUMNS, TMP_PREFIX

ROOT = Path(__file__).parents[2]
BASE = dict(
    grid="fake",
    task="adding",
    length=10,
    units=4,
    steps=40,
    eval_every=20,
    timestep_every=20,
    eval_size=16,
    batch_size=8,
)
# RunSpec fields that do not make another configuration.
NOT_A_SETTING = {"seed", "grid", "seed_group"}
# Final held-out losses of the adding task (baseline 1/6) giving each outcome.
OUTCOMES = {"solved": 0.002, "learned": 0.05, "failed": 0.16}


def write_fake_run(
    grid_dir: Path,
    outcome: str = "solved",
    *,
    final_loss: float | None = None,
    losses=None,
    grad_norms=None,
    clip_fractions=None,
    decay: float = 1.0,
    **overrides,
) -> RunSpec:
    """Writes the records of one run with known numbers; returns its spec.

    Args:
        outcome: "solved", "learned", "failed" (completed, final loss from `OUTCOMES` unless
            `final_loss` is given), "diverged" (stops at half the budget) or "error" (a run that
            raised: only spec.json and summary.json).
        losses: the training loss per step (default: from the baseline down to the final loss).
        grad_norms: the pre-clip global gradient norm per step (default 2.0).
        clip_fractions: the share of the gradient clipping changed, per step (default: 1 where
            the gradient norm exceeds the threshold, as global_clipnorm; 0 unclipped).
        decay: ||dL/dx_t|| falls by this many orders of magnitude from t = T-1 back to t = 0.
        **overrides: RunSpec fields (a built-in `scheme` also sets its activations).
    """
    scheme = overrides.get("scheme", "standard")
    spec = RunSpec(**{**BASE, **BUILTIN_SCHEMES.get(scheme, {}), **overrides})
    task = task_for(spec)
    if outcome == "error":
        summary = records.failure_summary("Traceback ...\nValueError: boom", 0.1)
        files = {"spec.json": {"run_id": spec.run_id, "spec": spec.to_dict()}}
        records.write_run(grid_dir, spec, {**files, "summary.json": summary})
        return spec
    diverged = outcome == "diverged"
    n = spec.steps // 2 if diverged else spec.steps
    final = OUTCOMES.get(outcome, 0.16) if final_loss is None else final_loss
    if losses is None:
        losses = np.geomspace(task.baseline, final, n)
    losses = np.asarray(losses, dtype=float)[:n].copy()
    grads = np.full(n, 2.0) if grad_norms is None else np.asarray(grad_norms, float)[:n].copy()
    if diverged:
        losses[-1], grads[-1] = math.nan, math.inf
    clipped = grads if spec.clip == "none" else np.minimum(grads, spec.clip_threshold)
    fraction = (grads > spec.clip_threshold).astype(float) if spec.clip != "none" else np.zeros(n)
    if clip_fractions is not None:
        fraction = np.asarray(clip_fractions, dtype=float)[:n]
    step_rows = [
        [s + 1, losses[s], losses[s], grads[s], clipped[s], grads[s], fraction[s], 0.001, 0.01 * s]
        for s in range(n)
    ]
    # held-out loss and metric (the metric is taken equal to the loss, as for adding's MSE)
    eval_rows = [
        [s, losses[s - 1], losses[s - 1]] for s in range(spec.eval_every, n, spec.eval_every)
    ]
    if not diverged:  # converged by its last two evaluations: both at the final loss
        eval_rows[-1:] = [[eval_rows[-1][0], final, final]] if eval_rows else []
        eval_rows.append([spec.steps, final, final])
    T = task.input_shape[0]
    every = spec.timestep_every
    logged = [1] + list(range(every, n + 1, every)) if every else []
    timestep_rows = [
        (s, t, 0.5 * 10 ** (-decay * (T - 1 - t) / (T - 1))) for s in logged for t in range(T)
    ]
    names = ("rnn_1/kernel", "rnn_1/recurrent_kernel", "rnn_1/bias", "head/kernel", "head/bias")
    variable_rows = [
        (s + 1, name, grads[s] / (i + 1), clipped[s] / (i + 1))
        for s in range(n)
        for i, name in enumerate(names)
    ]
    last = eval_rows[-1] if eval_rows else [0, math.nan, math.nan]
    summary = {
        "status": "diverged" if diverged else "completed",
        "steps_done": n,
        "final_loss": last[1],
        "final_metric": last[2],
        "final_train_loss": losses[-1],
        "solved": (not diverged) and bool(task.solved(last[2])),
        "step_solved": None,
        "step_diverged": n if diverged else None,
        "wall_seconds": 1.5,
    }
    files = {
        "spec.json": {
            "run_id": spec.run_id,
            "spec": spec.to_dict(),
            "task": records.task_rules(task),
            "environment": {"python": "3.x", "cpu_count": 2, "packages": {"keras": "3.x"}},
        },
        "steps.csv": (STEP_COLUMNS, step_rows),
        "eval.csv": (("step", "loss", "metric"), eval_rows),
        "variables.csv": (("step", "variable", "grad_norm", "grad_norm_clipped"), variable_rows),
        "timesteps.csv": (("step", "t", "grad_norm"), timestep_rows),
        "summary.json": summary,
    }
    records.write_run(grid_dir, spec, files)
    return spec


def write_runs(grid_dir: Path, outcomes, **overrides) -> list[RunSpec]:
    """One run per outcome, seeds 0, 1, ...; the same settings otherwise."""
    return [
        write_fake_run(grid_dir, outcome, seed=seed, **overrides)
        for seed, outcome in enumerate(outcomes)
    ]


# --------------------------------------------------------------------------------------------------
# Wilson intervals and baselines


@pytest.mark.parametrize(
    "successes, trials, expected",
    [
        (0, 2, (0.0, 0.6576)),
        (2, 2, (0.3424, 1.0)),
        (5, 10, (0.2366, 0.7634)),
        (1, 4, (0.0456, 0.6994)),
        (8, 8, (0.6756, 1.0)),
    ],
)
def test_wilson_interval_known_values(successes, trials, expected):
    low, high = measures.wilson_interval(successes, trials)
    assert low == pytest.approx(expected[0], abs=1e-4)
    assert high == pytest.approx(expected[1], abs=1e-4)
    # symmetric under swapping successes and failures
    mirror = measures.wilson_interval(trials - successes, trials)
    assert mirror == pytest.approx((1 - high, 1 - low))


def test_wilson_interval_of_no_trials_is_nan():
    assert all(math.isnan(v) for v in measures.wilson_interval(0, 0))


@pytest.mark.parametrize(
    "task, params, expected",
    [
        ("adding", {"length": 10}, 1 / 6),
        ("copy", {"length": 5}, 10 * math.log(8) / 25),
        ("temporal_order", {"length": 20}, math.log(4)),
        ("digits", {"length": 64}, math.log(10)),
    ],
)
def test_loss_baseline_of_every_task(task, params, expected):
    spec = RunSpec(task=task, **params)
    assert measures.loss_baseline(records.task_rules(task_for(spec))) == pytest.approx(expected)
    assert math.isnan(measures.loss_baseline({}))


# --------------------------------------------------------------------------------------------------
# Per-run measures and aggregates with known numbers


def test_step_half_baseline_is_the_first_smoothed_step_below_half(tmp_path):
    baseline = 1 / 6
    first_low = 41  # steps 1..40 at the baseline, then far below it
    losses = [baseline] * (first_low - 1) + [0.001] * 40
    write_fake_run(tmp_path, losses=losses, final_loss=0.001, steps=80)
    run = analysis.load(tmp_path).runs.iloc[0]
    # the moving median over W steps falls below half once more than half the window is low
    assert run["step_half_baseline"] == first_low + measures.SMOOTH_STEPS // 2
    write_fake_run(tmp_path, "failed", seed=1, losses=[baseline] * 80, steps=80)
    never = analysis.load(tmp_path).runs.set_index("seed").loc[1]
    assert math.isnan(never["step_half_baseline"])


def test_aggregates_over_seeds(tmp_path):
    # one configuration, four seeds: solved, solved, learned, diverged; and a failed run
    write_fake_run(tmp_path, final_loss=0.001, seed=0, grad_norms=[1.0] * 39 + [7.0])
    write_fake_run(tmp_path, final_loss=0.004, seed=1)
    write_fake_run(tmp_path, "learned", seed=2)
    write_fake_run(tmp_path, "diverged", seed=3)
    write_fake_run(tmp_path, "error", seed=4)
    tables = analysis.load(tmp_path)
    assert len(tables.runs) == 5
    assert len(tables.configs) == 1
    config = tables.configs.iloc[0]
    assert config["seeds"] == 5
    assert config["n_finished"] == 4
    assert (config["n_solved"], config["n_diverged"], config["n_failed"]) == (2, 1, 1)
    assert config["n_learned"] == 3
    assert config["success_rate"] == pytest.approx(0.5)
    assert (config["success_low"], config["success_high"]) == pytest.approx(
        measures.wilson_interval(2, 4)
    )
    assert config["divergence_rate"] == pytest.approx(0.25)
    assert config["learned_rate"] == pytest.approx(0.75)
    # final metric (adding: the MSE) over the completed runs: 0.001, 0.004, 0.05
    assert config["metric_median"] == pytest.approx(0.004)
    assert (config["metric_min"], config["metric_max"]) == pytest.approx((0.001, 0.05))
    assert config["loss_ratio_median"] == pytest.approx(0.004 * 6)
    assert config["config_label"] == "adding10 lstm standard none"

    runs = tables.runs.set_index("seed")
    assert runs.loc[0, "max_grad_norm"] == 7.0
    assert runs.loc[3, "loss_ratio"] == math.inf  # diverged: the worst
    assert math.isnan(runs.loc[4, "loss_ratio"])  # failed: no result
    assert not runs.loc[3, "solved"] and not runs.loc[3, "learned"]
    assert runs.loc[2, "learned"] and not runs.loc[2, "solved"]


def test_clip_measures(tmp_path):
    grads = [0.5] * 30 + [4.0] * 10  # clipped at 10 of 40 steps
    write_fake_run(tmp_path, clip="global_clipnorm", grad_norms=grads)
    run = analysis.load(tmp_path).runs.iloc[0]
    assert run["clipped_steps"] == pytest.approx(0.25)
    assert run["median_clip_fraction"] == 0.0
    assert run["max_grad_norm"] == 4.0
    assert run["clip_label"] == "global_clipnorm 1"


@pytest.mark.parametrize("clip", ["clipvalue", "clipnorm"])
def test_clipped_steps_is_the_share_of_steps_with_any_clipping_not_the_mean_fraction(
    tmp_path, clip
):
    """Clipping by value or per variable changes a part of a step's gradient (a fraction in
    (0, 1)): a step counts as clipped when any of it was, however small the part."""
    # Seed 0: clipped at 3 steps of every 8, the smallest by a thousandth (mean fraction 0.094);
    # seed 1: at 1 of every 4 (mean 0.025); seed 2: never.
    fractions = {
        0: [0.5, 0.0, 0.25, 0.0, 0.001, 0.0, 0.0, 0.0] * 5,
        1: [0.1, 0.0, 0.0, 0.0] * 10,
        2: [0.0] * 40,
    }
    for seed, values in fractions.items():
        write_fake_run(tmp_path, clip=clip, clip_threshold=0.5, clip_fractions=values, seed=seed)
    tables = analysis.load(tmp_path)
    runs = tables.runs.set_index("seed")
    assert runs.loc[0, "clipped_steps"] == pytest.approx(3 / 8)
    assert runs.loc[1, "clipped_steps"] == pytest.approx(1 / 4)
    assert runs.loc[2, "clipped_steps"] == 0.0
    assert (runs["median_clip_fraction"] == 0.0).all()
    # ...and the seeds' median share (not their mean, 5/24), in the configuration's row and in
    # F10's threshold table.
    assert tables.configs.iloc[0]["clipped_steps_median"] == pytest.approx(1 / 4)
    table = compare.threshold_table(tables.runs)
    assert table["clipped_steps"].tolist() == pytest.approx([1 / 4])


def test_a_configuration_holds_the_runs_equal_but_for_their_seed(tmp_path):
    """Over runs that differ in each RunSpec field in turn, a configuration's row (`configs`)
    gathers the runs that differ only in seed (and grid, and seed_group, which compute nothing
    else): two learning rates or two clip modes are two rows, never one median."""
    specs = [spec for name in VARIANTS for runs in variant_runs(name) for spec in runs[:2]]
    specs = list(dict.fromkeys(specs))
    for spec in specs:
        write_fake_run(tmp_path, **spec.to_dict())
    tables = analysis.load(tmp_path)
    fields = [f.name for f in dataclasses.fields(RunSpec) if f.name not in NOT_A_SETTING]

    def configuration(values) -> tuple:
        return tuple(values[name] for name in fields)

    expected = collections.Counter(configuration(spec.to_dict()) for spec in specs)
    counts = {configuration(row): row["seeds"] for _, row in tables.configs.iterrows()}
    assert counts == dict(expected)
    assert sorted(set(expected.values())) == [2, 4]  # the two grids' runs are one configuration


def test_model_label_names_a_setting_that_varies_within_a_task(tmp_path):
    write_fake_run(tmp_path, forget_bias=1.0)
    write_fake_run(tmp_path, forget_bias=1.0, seed=1)
    write_fake_run(tmp_path, forget_bias=0.0)
    write_fake_run(tmp_path, cell="gru")
    tables = analysis.load(tmp_path)
    labels = dict(zip(tables.runs["run_id"], tables.runs["model_label"], strict=True))
    assert sorted(set(labels.values())) == [
        "gru standard",
        "lstm standard",
        "lstm standard forget_bias=0",
    ]
    assert len(tables.configs) == 3
    # the suite's order: lstm before gru
    assert list(tables.configs["model_label"]) == [
        "lstm standard",
        "lstm standard forget_bias=0",
        "gru standard",
    ]


def test_summary_csv_has_one_row_per_run_and_the_issue_columns(tmp_path):
    write_runs(tmp_path, ["solved", "diverged"])
    write_fake_run(tmp_path, "error", cell="gru")
    path = write_frame(analysis.summary_table(analysis.load(tmp_path).runs), tmp_path / "s.csv")
    table = pd.read_csv(path)
    assert len(table) == 3
    for column in (
        "run_id",
        "task",
        "length",
        "cell",
        "scheme",
        "clip",
        "seed",
        "status",
        "final_loss",
        "final_metric",
        "solved",
        "step_solved",
        "step_diverged",
        "max_grad_norm",
        "median_clip_fraction",
        "wall_seconds",
    ):
        assert column in table.columns, column
    assert "error" not in table.columns
    assert sorted(table["status"]) == ["completed", "diverged", "failed"]
    assert not list(tmp_path.glob(".tmp-*"))


def test_load_skips_temporary_folders_and_rejects_empty_grids(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such results folder"):
        analysis.load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no runs in"):
        analysis.load(tmp_path)
    write_fake_run(tmp_path)
    (tmp_path / "runs" / f"{TMP_PREFIX}half-written").mkdir()
    tables = analysis.load(tmp_path)
    assert len(tables.runs) == 1 and tables.skipped == ()


def test_describe_grid(tmp_path):
    write_runs(tmp_path, ["solved", "failed"], clip="none")
    write_runs(tmp_path, ["solved", "solved"], clip="clipnorm")
    info = analysis.describe_grid(analysis.load(tmp_path))
    assert info["runs"] == 4 and info["configurations"] == 2
    assert info["seeds"] == [0, 1]
    assert info["axes"] == {"clip": ["none", "clipnorm"]}
    assert info["fixed"]["task"] == "adding" and info["fixed"]["steps"] == 40
    assert info["status"] == {"completed": 4}


def test_a_run_without_evaluations_loads_as_numbers(tmp_path):
    """A run that diverged before its first evaluation has an empty eval.csv."""
    write_fake_run(tmp_path, "diverged", eval_every=30)
    write_fake_run(tmp_path, seed=1)
    tables = analysis.load(tmp_path)
    assert tables.evals["run_id"].nunique() == 1
    assert tables.evals["metric"].dtype == float and tables.steps["loss"].dtype == float
