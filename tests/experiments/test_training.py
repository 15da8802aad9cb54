"""Tests of `experiments.engine.training`: the logged gradients are the ones the optimizer applied.

Every logged quantity is checked against an independent computation: gradients from a separate
`tf.GradientTape`, clipping from a numpy re-implementation of Keras's rules and from Keras's own
optimizer, and the update read back from the weights of a plain SGD step with learning rate 1
(`old - new` is then the clipped gradient itself).
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments.engine import models, training
from experiments.grid.tasks import make_task

MODES = ("clipvalue", "clipnorm", "global_clipnorm")


# --------------------------------------------------------------------------------------------------
# Independent references


def reference_clip(grads: list[np.ndarray], mode: str, t: float) -> tuple[list, float]:
    """Keras's clipping rules in float64 numpy, with the clip fraction the docstring defines."""
    grads = [np.asarray(g, dtype=np.float64) for g in grads]
    if mode == "none":
        return grads, 0.0
    if mode == "clipvalue":
        changed = sum(int((np.abs(g) > t).sum()) for g in grads)
        return [np.clip(g, -t, t) for g in grads], changed / sum(g.size for g in grads)
    if mode == "clipnorm":
        norms = [np.linalg.norm(g) for g in grads]
        clipped = [g * t / max(n, t) for g, n in zip(grads, norms, strict=True)]
        return clipped, sum(n > t for n in norms) / len(grads)
    if mode == "global_clipnorm":
        norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
        return [g * t / max(norm, t) for g in grads], float(norm > t)
    raise ValueError(mode)


def norms(arrays) -> np.ndarray:
    return np.array([np.linalg.norm(np.asarray(a, dtype=np.float64)) for a in arrays])


def global_norm(arrays) -> float:
    return float(np.linalg.norm(norms(arrays)))


def threshold_for(mode: str, grads: list[np.ndarray], active: bool) -> float:
    """A threshold that clips some but not all (active) or nothing (inactive)."""
    if mode == "clipvalue":
        top = max(float(np.abs(g).max()) for g in grads)
        return 0.5 * top if active else 2.0 * top
    if mode == "clipnorm":
        sorted_norms = np.sort(norms(grads))
        if not active:
            return 2.0 * float(sorted_norms[-1])
        middle = len(sorted_norms) // 2  # between two norms: some variables clipped, some not
        return float(np.sqrt(sorted_norms[middle - 1] * sorted_norms[middle]))
    if mode == "global_clipnorm":
        return (0.5 if active else 2.0) * global_norm(grads)
    return 1.0


def mse(y, predictions):
    return tf.reduce_mean(tf.square(tf.cast(y, tf.float32) - predictions))


def tape_gradients(model, x, y, wrt_inputs=False):
    """Loss, weight gradients (and dL/dx) of `model` on one batch, from a fresh tape (adding task,
    MSE written out here rather than Keras's loss)."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = mse(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables + [x])
    weight_grads = [g.numpy() for g in grads[:-1]]
    if wrt_inputs:
        return float(loss), weight_grads, grads[-1].numpy()
    return float(loss), weight_grads


def weights(model) -> list[np.ndarray]:
    return [v.numpy().copy() for v in model.trainable_variables]


@pytest.fixture
def setup(make_spec):
    """A fresh tiny LSTM on the adding task, a fixed batch, plain SGD with learning rate 1."""
    keras.backend.clear_session()
    spec = make_spec(optimizer="sgd", learning_rate=1.0, clip="none")
    task = make_task("adding", length=spec.length)
    model = models.build_model(spec, task)
    x, y = task.batch(np.random.default_rng(0), spec.batch_size)
    return spec, task, model, x, y


# --------------------------------------------------------------------------------------------------
# clip_gradients on its own


GRADS = [
    np.array([0.5, -2.0, 3.0], dtype=np.float32),  # norm 3.64: above 1
    np.array([[0.1, -0.2], [0.05, 0.0]], dtype=np.float32),  # norm 0.23: below 1
    np.array([[-1.5]], dtype=np.float32),  # norm 1.5: above 1
]


@pytest.mark.parametrize(
    ("mode", "threshold", "fraction"),
    [
        ("none", 1.0, 0.0),
        ("clipvalue", 1.0, 3 / 8),  # values: -2.0, 3.0, -1.5 of 8
        ("clipvalue", 5.0, 0.0),
        ("clipnorm", 1.0, 2 / 3),  # variables: the first and the last of 3
        ("clipnorm", 0.1, 1.0),
        ("clipnorm", 4.0, 0.0),
        ("global_clipnorm", 1.0, 1.0),  # global norm 3.95 > 1: clipped (1), not a fraction
        ("global_clipnorm", 4.0, 0.0),
    ],
)
def test_clip_gradients_matches_keras_optimizer(mode, threshold, fraction):
    clipped, clip_fraction = training.clip_gradients(
        [tf.constant(g) for g in GRADS], mode, threshold
    )
    assert float(clip_fraction) == pytest.approx(fraction, abs=1e-7)

    # What Keras's SGD applies with the same clipping argument, read from fresh zero variables.
    clipping = {} if mode == "none" else {mode: threshold}
    variables = [keras.Variable(np.zeros_like(g)) for g in GRADS]
    keras.optimizers.SGD(learning_rate=1.0, **clipping).apply(
        [tf.constant(g) for g in GRADS], variables
    )
    applied = [-v.numpy() for v in variables]
    expected, expected_fraction = reference_clip(GRADS, mode, threshold)
    assert expected_fraction == pytest.approx(fraction)
    for ours, keras_applied, reference in zip(clipped, applied, expected, strict=True):
        np.testing.assert_allclose(ours.numpy(), keras_applied, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-6, atol=1e-7)


def test_clip_gradients_none_returns_the_gradients_and_rejects_unknown_modes():
    grads = [tf.constant(g) for g in GRADS]
    clipped, fraction = training.clip_gradients(grads, "none", 1.0)
    assert all(c is g for c, g in zip(clipped, grads, strict=True))
    assert float(fraction) == 0.0
    with pytest.raises(ValueError, match="clip_by_magic"):
        training.clip_gradients(grads, "clip_by_magic", 1.0)


# --------------------------------------------------------------------------------------------------
# The instrumented step: logged == independent == applied


CASES = [("none", False, False)]
CASES += [(mode, active, False) for mode in MODES for active in (True, False)]
CASES += [("global_clipnorm", True, True), ("clipnorm", True, True)]  # XLA-compiled steps


@pytest.mark.parametrize(
    ("mode", "active", "jit"),
    CASES,
    ids=[f"{m}-{'active' if a else 'inactive'}{'-xla' if j else ''}" for m, a, j in CASES],
)
def test_logged_gradients_are_the_applied_ones(setup, mode, active, jit):
    spec, task, model, x, y = setup
    loss, grads = tape_gradients(model, x, y)
    threshold = threshold_for(mode, grads, active)
    spec = dataclasses.replace(spec, clip=mode, clip_threshold=threshold, jit_compile=jit)
    optimizer = models.build_optimizer(spec)
    assert isinstance(optimizer, keras.optimizers.SGD) and float(optimizer.learning_rate) == 1.0
    step = training.make_train_step(model, optimizer, models.build_loss(task), spec, False)

    old = weights(model)
    out = step(tf.constant(x), tf.constant(y))
    new = weights(model)
    applied = [o.astype(np.float64) - n.astype(np.float64) for o, n in zip(old, new, strict=True)]
    expected, expected_fraction = reference_clip(grads, mode, threshold)

    # Pre-clip: the independent tape's gradients.
    assert float(out["loss"]) == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(out["variable_norms"].numpy(), norms(grads), rtol=1e-5)
    assert float(out["grad_norm"]) == pytest.approx(global_norm(grads), rel=1e-5)
    top = max(float(np.abs(g).max()) for g in grads)
    assert float(out["max_abs_grad"]) == pytest.approx(top, rel=1e-6)

    # What clipping did, and that it was (in)active as intended.
    assert float(out["clip_fraction"]) == pytest.approx(expected_fraction, abs=1e-7)
    if active:
        assert float(out["clip_fraction"]) > 0
        if mode != "global_clipnorm":
            assert float(out["clip_fraction"]) < 1  # some values / variables left alone
    else:
        assert float(out["clip_fraction"]) == 0

    # The update SGD(lr=1) applied is the clipped gradient, up to the rounding of old - g.
    for done, reference, before in zip(applied, expected, old, strict=True):
        ulp = float(np.spacing(np.abs(before).max().astype(np.float32)))
        np.testing.assert_allclose(done, reference, rtol=1e-5, atol=2 * ulp)
    # ... and its norms are the logged post-clip norms.
    np.testing.assert_allclose(out["variable_norms_clipped"].numpy(), norms(expected), rtol=1e-5)
    assert float(out["grad_norm_clipped"]) == pytest.approx(global_norm(expected), rel=1e-5)
    for done, logged, before in zip(
        applied, out["variable_norms_clipped"].numpy(), old, strict=True
    ):
        ulp = float(np.spacing(np.abs(before).max().astype(np.float32)))
        np.testing.assert_allclose(
            np.linalg.norm(done), logged, rtol=1e-5, atol=2 * ulp * math.sqrt(done.size)
        )
    if mode == "none" or not active:
        np.testing.assert_allclose(
            out["variable_norms_clipped"].numpy(), out["variable_norms"].numpy(), rtol=1e-6
        )
        assert float(out["grad_norm_clipped"]) == pytest.approx(float(out["grad_norm"]), rel=1e-6)
    else:
        assert float(out["grad_norm_clipped"]) < float(out["grad_norm"]) * (1 - 1e-3)


def test_timestep_norms_are_input_gradients_and_the_update_is_unchanged(setup):
    spec, task, model, x, y = setup
    spec = dataclasses.replace(spec, learning_rate=0.5, clip="clipnorm", clip_threshold=0.05)
    _, grads, input_grads = tape_gradients(model, x, y, wrt_inputs=True)
    # ||dL/dx_t|| over the batch and the features, for each t.
    expected = np.sqrt((input_grads.astype(np.float64) ** 2).sum(axis=(0, 2)))
    assert expected.shape == (spec.length,)

    optimizer = models.build_optimizer(spec)
    loss_fn = models.build_loss(task)
    plain = training.make_train_step(model, optimizer, loss_fn, spec, with_timesteps=False)
    timed = training.make_train_step(model, optimizer, loss_fn, spec, with_timesteps=True)
    start = weights(model)

    out = timed(tf.constant(x), tf.constant(y))
    after_timed = weights(model)
    np.testing.assert_allclose(out["timestep_norms"].numpy(), expected, rtol=1e-5, atol=1e-9)

    model.set_weights(start)
    out_plain = plain(tf.constant(x), tf.constant(y))
    after_plain = weights(model)
    assert "timestep_norms" not in out_plain
    for a, b in zip(after_timed, after_plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for key in ("loss", "grad_norm", "grad_norm_clipped", "clip_fraction"):
        assert float(out[key]) == pytest.approx(float(out_plain[key]), rel=1e-6)
    np.testing.assert_allclose(out["variable_norms"], out_plain["variable_norms"], rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# Variable names and the training loop


def test_variable_names_are_stable_layer_slash_weight(make_spec):
    spec = make_spec(depth=2)
    task = make_task("adding", length=spec.length)
    names = []
    for _ in range(2):
        keras.backend.clear_session()  # fresh layer-name counters must not change the names
        names.append(training.variable_names(models.build_model(spec, task)))
    expected = [f"rnn_{d}/{w}" for d in (1, 2) for w in ("kernel", "recurrent_kernel", "bias")]
    assert names[0] == expected + ["head/kernel", "head/bias"]
    assert names[1] == names[0]


def test_train_logs_per_step_values(make_spec):
    """Row k of the log is the loss of the model after k - 1 updates on the k-th batch (not a
    running mean); eval rows at every `eval_every` steps and the last; time steps when due."""
    spec = make_spec(optimizer="sgd", learning_rate=0.5, steps=5, eval_every=2, timestep_every=3)
    task = make_task("adding", length=spec.length)

    keras.backend.clear_session()
    model = models.build_model(spec, task)
    log = training.train(spec, task, model, models.build_optimizer(spec), models.build_loss(task))

    # Replay the first two steps by hand: batches from default_rng([seed, 0]), plain SGD.
    keras.backend.clear_session()
    replay = models.build_model(spec, task)
    rng = np.random.default_rng([spec.seed, 0])
    x1, y1 = task.batch(rng, spec.batch_size)
    x2, y2 = task.batch(rng, spec.batch_size)
    loss1, grads1 = tape_gradients(replay, x1, y1)
    replay.set_weights(
        [w - spec.learning_rate * g for w, g in zip(weights(replay), grads1, strict=True)]
    )
    loss2, grads2 = tape_gradients(replay, x2, y2)

    assert [row["step"] for row in log.steps] == [1, 2, 3, 4, 5]
    assert log.steps[0]["loss"] == pytest.approx(loss1, rel=1e-5)
    assert log.steps[1]["loss"] == pytest.approx(loss2, rel=1e-4)
    assert log.steps[1]["loss"] != pytest.approx((loss1 + loss2) / 2, rel=1e-3)  # not a mean
    assert log.steps[0]["grad_norm"] == pytest.approx(global_norm(grads1), rel=1e-5)
    assert log.steps[1]["grad_norm"] == pytest.approx(global_norm(grads2), rel=1e-4)
    for row in log.steps:
        assert row["metric"] == pytest.approx(row["loss"], rel=1e-5)  # adding: metric is the MSE
        assert row["learning_rate"] == pytest.approx(spec.learning_rate)
        assert row["clip_fraction"] == 0.0
        assert row["grad_norm_clipped"] == pytest.approx(row["grad_norm"])
    seconds = [row["seconds"] for row in log.steps]
    assert seconds == sorted(seconds) and seconds[0] > 0

    assert log.status == "completed" and log.step_diverged is None
    assert [row["step"] for row in log.eval_rows] == [2, 4, 5]
    n_vars = len(log.variables)
    assert len(log.variable_rows) == 5 * n_vars
    assert [r[1] for r in log.variable_rows[:n_vars]] == log.variables
    assert sorted({r[0] for r in log.timestep_rows}) == [1, 3, 5]  # first, every 3rd, last
    assert [r[1] for r in log.timestep_rows if r[0] == 3] == list(range(spec.length))


@pytest.mark.parametrize(
    ("steps", "every", "due"),
    [(10, 4, [1, 4, 8, 10]), (8, 4, [1, 4, 8]), (1, 5, [1]), (10, 0, [])],
)
def test_timesteps_are_recorded_at_the_first_step_every_kth_and_the_last(
    make_spec, steps, every, due
):
    """||dL/dx_t|| at initialisation and at the end of training (issue 12, F3); never with 0."""
    spec = make_spec(steps=steps, timestep_every=every)
    assert [s for s in range(1, steps + 1) if training.timesteps_due(spec, s)] == due


def test_train_stops_at_divergence(make_spec):
    spec = make_spec(
        cell="simple_rnn", scheme="relu", candidate="relu", output="relu", optimizer="sgd",
        learning_rate=1e8, steps=30,
    )  # fmt: skip
    task = make_task("adding", length=spec.length)
    keras.backend.clear_session()
    model = models.build_model(spec, task)
    log = training.train(spec, task, model, models.build_optimizer(spec), models.build_loss(task))
    assert log.status == "diverged"
    assert log.step_diverged is not None and log.step_diverged < spec.steps
    assert [row["step"] for row in log.steps] == list(range(1, log.step_diverged + 1))
    last = log.steps[-1]
    assert not (math.isfinite(last["loss"]) and math.isfinite(last["grad_norm"]))
    assert all(math.isfinite(row["loss"]) for row in log.steps[:-1])
    assert all(row["step"] < log.step_diverged for row in log.eval_rows)
    # variables.csv and timesteps.csv (||dL/dx_t||) end at the diverging step too
    assert {row[0] for row in log.variable_rows} == set(range(1, log.step_diverged + 1))
    assert log.timestep_rows and max(row[0] for row in log.timestep_rows) <= log.step_diverged


@pytest.mark.parametrize(
    ("mode", "grads", "threshold", "fraction"),
    [
        # |-4| equals t: kept; only 5 is clipped.
        ("clipvalue", [[3.0, -4.0, 5.0]], 4.0, 1 / 3),
        # Norms 5 (= t, kept) and 10 (clipped).
        ("clipnorm", [[3.0, 4.0], [6.0, 8.0]], 5.0, 1 / 2),
        # Global norm sqrt(9 + 16) = 5 = t: nothing clipped.
        ("global_clipnorm", [[3.0], [4.0]], 5.0, 0.0),
    ],
    ids=["clipvalue", "clipnorm", "global_clipnorm"],
)
def test_clip_gradients_at_exactly_the_threshold_is_not_clipping(mode, grads, threshold, fraction):
    """A value or norm equal to t is not clipped (Keras clips what exceeds t): the clip fraction
    leaves it out. The values and norms are exact in float32."""
    grads = [np.array(g, dtype=np.float32) for g in grads]
    clipped, clip_fraction = training.clip_gradients(
        [tf.constant(g) for g in grads], mode, threshold
    )
    assert float(clip_fraction) == pytest.approx(fraction, abs=1e-7)
    expected, expected_fraction = reference_clip(grads, mode, threshold)
    assert expected_fraction == pytest.approx(fraction)
    for ours, reference in zip(clipped, expected, strict=True):
        np.testing.assert_allclose(ours.numpy(), reference, rtol=1e-6)
