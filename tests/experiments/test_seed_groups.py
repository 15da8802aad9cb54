"""Seed groups: S seeds trained as one model compute what their S single runs compute.

Tolerance. Each seed of a group does the single run's arithmetic in float32, but the batched
matmul and the per-seed reductions add the same terms in another order, so values differ by a few
units in the last place (float32 epsilon 1.2e-7) per operation. Over 20 steps of T recurrent
steps those differences compound (Adam divides by the root of tiny second moments, which
magnifies them). Measured on every family with every clip mode (24 combinations, this module's
`tiny` runs), they stay under 1e-4 relative; the largest, 9e-5, is CIFG with clipvalue.
`RTOL = 5e-4` leaves 5x room and is still 20x smaller than any effect of a real mistake (another
seed's data, weights or clipping changes values at the 1e-2 level or more), and `ATOL` covers
values that are themselves at rounding level (a gradient of ~1e-8).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from run_helpers import NOT_VARIED, VARIANTS, variant_runs

from experiments.engine import group_training, models, training
from experiments.engine.execution import execute_group, seed_groups
from experiments.grid.spec import RunSpec, task_for
from experiments.vocabulary import (
    CELLS,
    CLIP_MODES,
    COMPLETED,
    DIVERGED,
    EVAL_FILE,
    GATED_CELLS,
    SCHEME_PARTS,
    STEP_COLUMNS,
    STEPS_FILE,
    SUMMARY_FILE,
    TIMESTEPS_FILE,
    VARIABLES_FILE,
)

RTOL, ATOL = 5e-4, 1e-6
LOGGED = ("loss", "metric", "grad_norm", "grad_norm_clipped", "max_abs_grad", "clip_fraction")
SEEDS = (0, 1, 2)


def tiny(**overrides) -> RunSpec:
    values = dict(task="adding", length=6, units=4, steps=20, eval_every=10, eval_size=16,
                  timestep_every=5, learning_rate=0.01, clip_threshold=0.05)  # fmt: skip
    return RunSpec(**{**values, **overrides})


def single_run(spec: RunSpec):
    """A run trained alone, as `seed_group = 1` trains it: its log and final weights."""
    keras.backend.clear_session()
    task = task_for(spec)
    model = models.build_model(spec, task)
    log = training.train(spec, task, model, models.build_optimizer(spec), models.build_loss(task))
    return log, [v.numpy() for v in model.trainable_variables]


def grouped_runs(specs: list[RunSpec], prepare=None):
    """The runs trained as one group: their logs and each seed's final weights."""
    keras.backend.clear_session()
    task = task_for(specs[0])
    group = group_training.build_group(specs, task)
    if prepare is not None:
        prepare(group)
    logs = group_training.train_group(specs, task, group=group)
    return logs, [group.seed_weights(i) for i in range(len(specs))]


def steps_table(log) -> np.ndarray:
    return np.array([[row[c] for c in LOGGED] for row in log.steps], dtype=float)


def assert_same_run(grouped, single, rtol=RTOL, atol=ATOL):
    (g_log, g_weights), (s_log, s_weights) = grouped, single
    assert (g_log.status, g_log.step_diverged) == (s_log.status, s_log.step_diverged)
    assert [r["step"] for r in g_log.steps] == [r["step"] for r in s_log.steps]
    np.testing.assert_allclose(steps_table(g_log), steps_table(s_log), rtol=rtol, atol=atol)
    assert [r[:2] for r in g_log.variable_rows] == [r[:2] for r in s_log.variable_rows]
    np.testing.assert_allclose(
        [r[2:] for r in g_log.variable_rows], [r[2:] for r in s_log.variable_rows], rtol, atol
    )
    assert [r[:2] for r in g_log.timestep_rows] == [r[:2] for r in s_log.timestep_rows]
    np.testing.assert_allclose(
        [r[2] for r in g_log.timestep_rows], [r[2] for r in s_log.timestep_rows], rtol, atol
    )
    assert [r["step"] for r in g_log.eval_rows] == [r["step"] for r in s_log.eval_rows]
    np.testing.assert_allclose(
        [[r["loss"], r["metric"]] for r in g_log.eval_rows],
        [[r["loss"], r["metric"]] for r in s_log.eval_rows],
        rtol,
        atol,
    )
    assert [w.shape for w in g_weights] == [w.shape for w in s_weights]
    for g, s in zip(g_weights, s_weights, strict=True):
        np.testing.assert_allclose(g, s, rtol=rtol, atol=atol)


# A covering design, one case per family (the full product would add minutes to `make test`):
# every family, both depths, every clip mode (clipnorm and clipvalue at both depths), and the
# three kinds of output: a regression on the last step, a class on the last step, a class at
# every step. The GRU's case clips the global norm: its bias is the one weight whose seed axis is
# second (`seed_axis.stored_shape`), and the global norm sums over every weight. The last item of
# a case is what else differs from `tiny()`: SGD with momentum (its velocity is optimizer state
# with a seed axis), and matched gate biases (`gate_init`, set on each seed's single-run model and
# copied into the group) under non-sigmoid gates.
MOMENTUM = {"optimizer": "sgd", "momentum": 0.9}
MATCHED = {"scheme": "hard_sigmoid_gates", "gates": "hard_sigmoid", "gate_init": "matched"}
EQUIVALENCE_CASES = [
    ("lstm", "none", 1, {}),
    ("peephole", "clipvalue", 2, {}),
    ("cifg", "clipnorm", 1, MATCHED),
    ("nig", "global_clipnorm", 1, {}),
    ("nfg", "clipvalue", 1, {}),
    ("nog", "none", 2, {}),
    ("gru", "global_clipnorm", 2, {}),
    ("mut1", "clipnorm", 1, {}),
    ("mut2", "global_clipnorm", 2, MATCHED),
    ("mut3", "clipvalue", 1, {}),
    ("simple_rnn", "clipnorm", 2, MOMENTUM),
    ("indrnn", "clipvalue", 1, {}),
]
SEQUENCE_TASKS = {("gru", 2): "copy", ("lstm", 1): "temporal_order"}


@pytest.mark.parametrize("cell, clip, depth, other", EQUIVALENCE_CASES)
def test_a_group_of_three_seeds_equals_their_three_single_runs(cell, clip, depth, other):
    # IndRNN runs the grid's "relu" scheme (a ReLU candidate); the others the standard one.
    scheme = {"scheme": "relu", "candidate": "relu"} if cell == "indrnn" else {}
    task = SEQUENCE_TASKS.get((cell, depth), "adding")
    length = {"adding": 6, "copy": 3, "temporal_order": 10}[task]  # temporal order: T >= 10
    # ||dL/dx_t|| (a second traced step) in the cases at depth 1 only, to save time.
    base = tiny(task=task, length=length, cell=cell, clip=clip, depth=depth,
                timestep_every=5 * (depth == 1), **scheme, **other)  # fmt: skip
    specs = [dataclasses.replace(base, seed=s) for s in SEEDS]
    logs, weights = grouped_runs(specs)
    for spec, log, final in zip(specs, logs, weights, strict=True):
        assert_same_run((log, final), single_run(spec))
    # The clipping really ran: at threshold 0.05 every mode changed some gradients.
    fractions = [row["clip_fraction"] for row in logs[0].steps]
    assert (max(fractions) > 0) == (clip != "none")


def test_the_cases_cover_every_family_clip_mode_depth_and_output_kind():
    assert [c for c, _, _, _ in EQUIVALENCE_CASES] == list(CELLS)
    assert {k for _, k, _, _ in EQUIVALENCE_CASES} == set(CLIP_MODES)
    assert {d for _, _, d, _ in EQUIVALENCE_CASES} == {1, 2}
    assert set(SEQUENCE_TASKS) <= {(c, d) for c, _, d, _ in EQUIVALENCE_CASES}
    others = [tiny(cell=c, **o) for c, _, _, o in EQUIVALENCE_CASES]
    assert any(s.optimizer == "sgd" and s.momentum > 0 for s in others)
    assert any(
        s.gate_init == "matched" and s.gates != "sigmoid" and s.cell in GATED_CELLS for s in others
    )
    for s in others:  # each setting has its effect (normalization keeps it)
        assert (s.normalized().momentum, s.normalized().gate_init) == (s.momentum, s.gate_init)
    assert {task_for(tiny(task=t, length=10)).output_kind for t in SEQUENCE_TASKS.values()} == {
        "classification",
        "sequence_classification",
    }


def test_a_group_starts_from_its_seeds_matched_gate_biases():
    """`gate_init = "matched"` is set on each seed's single-run model; the group copies it."""
    specs = [tiny(cell="gru", gates="relu", gate_init="matched", seed=s, depth=2) for s in (0, 1)]
    keras.backend.clear_session()
    task = task_for(specs[0])
    group = group_training.build_group(specs, task)
    biases = [i for i, name in enumerate(group.names) if name.endswith("/bias") and "rnn" in name]
    assert len(biases) == 2
    for seed, spec in enumerate(specs):
        single = [v.numpy() for v in models.build_model(spec, task).trainable_variables]
        for i in biases:
            bias = group.seed_weights(seed)[i]
            np.testing.assert_array_equal(bias, single[i])
            units = spec.units
            assert bias[0, : 2 * units].tolist() == [0.5] * 2 * units  # relu(b') = sigmoid(0)


def test_each_seed_has_its_own_weights_and_data():
    specs = [tiny(seed=s) for s in (0, 0, 1)]  # seed 0 twice: identical, seed 1 apart
    logs, weights = grouped_runs(specs)
    np.testing.assert_array_equal(steps_table(logs[0]), steps_table(logs[1]))
    assert not np.allclose(steps_table(logs[0]), steps_table(logs[2]), rtol=1e-2)
    assert not np.allclose(weights[0][0], weights[2][0], rtol=1e-2)


def poison_seed(index: int):
    """Sets one seed's head kernel to huge values: its loss overflows to inf at step 1."""

    def prepare(group):
        head = group.names.index("head/kernel")
        variable = group.model.trainable_variables[head]
        value = variable.numpy()
        axis = group.axes[head]
        index_tuple = (slice(None),) * axis + (index,)
        value[index_tuple] = 1e30
        variable.assign(value)

    return prepare


def test_a_diverging_seed_leaves_the_others_exactly_as_without_it():
    specs = [tiny(seed=s) for s in SEEDS]
    clean_logs, clean_weights = grouped_runs(specs)
    logs, weights = grouped_runs(specs, prepare=poison_seed(1))
    assert (logs[1].status, logs[1].step_diverged, len(logs[1].steps)) == (DIVERGED, 1, 1)
    assert logs[1].eval_rows == [] and len(logs[1].variable_rows) == len(logs[1].variables)
    for i in (0, 2):
        assert logs[i].status == clean_logs[i].status != DIVERGED
        # Nothing crosses the seed axis: the same numbers, to the bit.
        np.testing.assert_array_equal(steps_table(logs[i]), steps_table(clean_logs[i]))
        assert logs[i].variable_rows == clean_logs[i].variable_rows
        assert logs[i].timestep_rows == clean_logs[i].timestep_rows
        assert logs[i].eval_rows == clean_logs[i].eval_rows
        for a, b in zip(weights[i], clean_weights[i], strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_diverged_seed_is_frozen_at_its_last_finite_weights():
    specs = [tiny(seed=s) for s in SEEDS]
    initial = {}

    def prepare(group):
        poison_seed(1)(group)
        initial["weights"] = group.seed_weights(1)

    logs, weights = grouped_runs(specs, prepare=prepare)
    assert logs[1].step_diverged == 1
    for before, after in zip(initial["weights"], weights[1], strict=True):
        np.testing.assert_array_equal(after, before)  # not NaN: no update after step 0
    assert all(np.isfinite(w).all() for w in weights[0] + weights[2])  # the others trained on


def test_a_diverged_seeds_record_files_stop_at_its_divergence_step(monkeypatch):
    """Its steps.csv, variables.csv and timesteps.csv (||dL/dx_t||) end at the step it diverged
    at, as its single run's do, while the seed beside it records to the end."""
    build = group_training.build_group

    def build_poisoned(specs, task):
        group = build(specs, task)
        poison_seed(1)(group)
        return group

    monkeypatch.setattr(group_training, "build_group", build_poisoned)
    specs = tuple(tiny(seed=s, steps=4, eval_every=2, timestep_every=2) for s in (0, 1))
    kept, diverged = execute_group(specs)
    step = diverged[SUMMARY_FILE]["step_diverged"]
    assert (diverged[SUMMARY_FILE]["status"], step) == (DIVERGED, 1)
    assert kept[SUMMARY_FILE]["status"] == COMPLETED
    for name in (STEPS_FILE, VARIABLES_FILE, TIMESTEPS_FILE):
        assert max(row[0] for row in diverged[name][1]) == step, name  # its last step's, no more
        assert max(row[0] for row in kept[name][1]) == specs[0].steps, name
    assert diverged[EVAL_FILE][1] == [] and len(kept[EVAL_FILE][1]) == 2


# --------------------------------------------------------------------------------------------------
# Grouping the runs of a grid


def test_seed_groups_gather_the_seeds_of_a_configuration_in_order():
    a = [tiny(seed=s, seed_group=2) for s in range(5)]
    b = [tiny(seed=s, cell="gru", seed_group=2) for s in range(2)]
    groups = seed_groups([a[0], b[0], a[1], a[2], b[1], a[3], a[4]])
    assert groups == [(a[0], a[1]), (a[2], a[3]), (a[4],), (b[0], b[1])]


def test_the_variants_cover_every_field_of_a_run_and_differ_in_it_alone():
    assert set(VARIANTS) == {f.name for f in dataclasses.fields(RunSpec)} - NOT_VARIED
    for name in VARIANTS:
        (a, *_), (b, *_) = variant_runs(name)
        differ = {k for k, v in a.to_dict().items() if b.to_dict()[k] != v}
        # a scheme's parts come with its name; every other field differs alone
        assert differ == ({name, "scheme"} if name in SCHEME_PARTS else {name}), name


def test_a_seed_group_holds_runs_equal_but_for_their_seed():
    """Over runs that differ in each RunSpec field in turn (two learning rates, two clip modes,
    ...), every group's runs are one configuration's seeds: a group trains under its first run's
    settings, so a run grouped with another configuration would train under the wrong one."""
    runs = [spec for name in VARIANTS for runs in variant_runs(name) for spec in runs]
    runs = list(dict.fromkeys(runs))  # the shared base run once
    runs.sort(key=lambda spec: spec.seed)  # a configuration's seeds far apart
    groups = seed_groups(runs)
    grouped = [spec for group in groups for spec in group]
    assert len(grouped) == len(runs) and set(grouped) == set(runs)
    for group in groups:
        assert {dataclasses.replace(spec, seed=0) for spec in group} == {
            dataclasses.replace(group[0], seed=0)
        }
        assert len({spec.seed for spec in group}) == len(group)
        # and a configuration's seeds are not scattered: all three together (XLA: alone)
        assert len(group) == (1 if group[0].jit_compile else len(SEEDS))


def test_seed_group_1_and_xla_train_alone():
    assert seed_groups([tiny(seed=s, seed_group=1) for s in range(3)]) == [
        (tiny(seed=s, seed_group=1),) for s in range(3)
    ]
    xla = [tiny(seed=s, jit_compile=True) for s in range(3)]
    assert seed_groups(xla) == [(s,) for s in xla]


def test_seed_group_does_not_change_a_runs_id():
    assert tiny(seed_group=1).run_id == tiny(seed_group=16).run_id
    assert tiny(seed=1).run_id != tiny(seed=2).run_id


def test_execute_group_returns_each_runs_files_with_the_group_size():
    specs = tuple(tiny(seed=s, steps=4, eval_every=2) for s in (3, 5))
    files = execute_group(specs)
    assert len(files) == 2
    for spec, run in zip(specs, files, strict=True):
        assert run["spec.json"]["spec"]["seed"] == spec.seed
        summary = run[SUMMARY_FILE]
        assert summary["status"] == "completed" and summary["group_size"] == 2
        assert summary["wall_seconds"] == pytest.approx(summary["group_wall_seconds"] / 2)
        columns, rows = run["steps.csv"]
        assert tuple(columns) == STEP_COLUMNS and [r[0] for r in rows] == [1, 2, 3, 4]


def test_a_group_that_raises_fails_every_run(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no model today")

    monkeypatch.setattr(models, "build_model", broken)
    files = execute_group(tuple(tiny(seed=s) for s in (0, 1)))
    assert [f[SUMMARY_FILE]["status"] for f in files] == ["failed", "failed"]
    assert all("no model today" in f[SUMMARY_FILE]["error"] for f in files)
