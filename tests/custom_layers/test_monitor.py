"""Tests of `GradientMonitor`: what it logs is what the optimizer applied, and it changes nothing.

Every logged value is checked against an independent computation from the same batch and
weights: gradients from a fresh `tf.GradientTape`, clipping from a float64 numpy re-implementation
of Keras's rules, and the update read back from the weights of an SGD step with learning rate 1
(`old - new` is then the clipped gradient itself), as `tests/experiments/test_training.py` checks
the experiment engine's step (both use `custom_layers.gradients`). The weights after a monitored
step equal those after a plain `fit` step.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from custom_layers import (
    GradientMonitor,
    IndRNN,
    SwappableGRU,
    SwappableLSTM,
    gradients,
    monitor,
)

REPO = Path(__file__).resolve().parents[2]
LOGGED = ("grad_norm", "grad_norm_clipped", "max_abs_grad", "clip_fraction")
BATCH, TIME, FEATURES = 8, 5, 3


def batch(seed: int = 0, padded: bool = False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    if padded:  # the last step of every sequence, and the last two of some, are padding
        x[:, -1] = 0.0
        x[::2, -2] = 0.0
    return x, rng.normal(size=(BATCH, 1)).astype("float32")


def reference_clip(grads, mode: str, t: float):
    """Keras's clipping rules in float64 numpy: `(clipped, clip_fraction)`."""
    grads = [np.asarray(g, dtype=np.float64) for g in grads]
    norms = [np.linalg.norm(g) for g in grads]
    if mode == "none":
        return grads, 0.0
    if mode == "clipvalue":
        changed = sum(int((np.abs(g) > t).sum()) for g in grads)
        return [np.clip(g, -t, t) for g in grads], changed / sum(g.size for g in grads)
    if mode == "clipnorm":
        clipped = [g * t / max(n, t) for g, n in zip(grads, norms, strict=True)]
        return clipped, sum(n > t for n in norms) / len(grads)
    norm = math.sqrt(sum(n**2 for n in norms))
    return [g * t / max(norm, t) for g in grads], float(norm > t)


def threshold_for(mode: str, grads) -> float:
    """A threshold that clips some but not all values / variables (all for the global norm)."""
    norms = np.sort([np.linalg.norm(g) for g in grads])
    if mode == "clipvalue":
        return 0.5 * max(float(np.abs(g).max()) for g in grads)
    if mode == "clipnorm":
        middle = len(norms) // 2
        return float(np.sqrt(norms[middle - 1] * norms[middle]))
    return 0.5 * float(np.linalg.norm(norms))


def tape_gradients(model, x, y, sequence=None):
    """The loss's gradients (and dL/d sequence) on one batch from a fresh tape, MSE written out."""
    with tf.GradientTape() as tape:
        if sequence is not None:
            tape.watch(sequence)
        loss = tf.reduce_mean(tf.square(y - model(x, training=True)))
    targets = model.trainable_variables + ([sequence] if sequence is not None else [])
    grads = [g.numpy() for g in tape.gradient(loss, targets)]
    return float(loss), grads


def weights(model):
    return [v.numpy().astype(np.float64) for v in model.trainable_variables]


class Collect(keras.callbacks.Callback):
    """Every row the monitor logs, copied at each step (put after the monitor in `callbacks`):
    the monitor itself holds only the last write interval's."""

    def __init__(self, watch: GradientMonitor):
        super().__init__()
        self.watch = watch
        self.steps, self.variable_rows, self.timestep_rows = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        watch = self.watch
        step = watch.steps[-1]["step"]
        self.steps.append(dict(watch.steps[-1]))
        self.variable_rows += [r for r in watch.variable_rows if r[0] == step]
        self.timestep_rows += [r for r in watch.timestep_rows if r[0] == step]


def fit(model, x, y, callbacks=(), **kwargs):
    return model.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0, callbacks=list(callbacks),
                     **kwargs)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Logged == independent == applied, and the update is plain fit's


CASES = [(mode, jit) for mode in gradients.CLIP_MODES for jit in (False, True)]


@pytest.mark.parametrize(
    ("mode", "jit"), CASES, ids=[f"{m}-{'xla' if j else 'tf'}" for m, j in CASES]
)
def test_logged_clipping_is_the_applied_one_and_the_update_is_plain_fits(mode, jit):
    x, y = batch()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((TIME, FEATURES)), SwappableLSTM(4), keras.layers.Dense(1)]
    )
    plain = keras.models.clone_model(model)
    plain.set_weights(model.get_weights())
    loss, grads = tape_gradients(model, x, y)
    threshold = threshold_for(mode, grads)
    clipping = {} if mode == "none" else {mode: threshold}
    for m in (model, plain):
        m.compile(optimizer=keras.optimizers.SGD(1.0, **clipping), loss="mse", jit_compile=jit)

    old = weights(model)
    watch = GradientMonitor()
    history = fit(model, x, y, [watch])
    fit(plain, x, y)
    new = weights(model)

    # The monitor changes no update: the weights are plain fit's.
    for a, b in zip(new, weights(plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # ... and puts the model's own train function back.
    assert getattr(model.train_function, "__self__", None) is not watch

    (row,) = watch.steps
    assert row["step"] == 1 and row["loss"] == pytest.approx(loss, rel=1e-5)
    # In fit's logs under exactly these names: History holds the step's values.
    for name in LOGGED:
        assert history.history[name] == [pytest.approx(row[name], rel=1e-6)]

    # Before clipping: the independent tape's gradients.
    norms = [np.linalg.norm(g.astype(np.float64)) for g in grads]
    assert row["grad_norm"] == pytest.approx(np.linalg.norm(norms), rel=1e-5)
    assert row["max_abs_grad"] == pytest.approx(max(np.abs(g).max() for g in grads), rel=1e-6)
    # After clipping: the numpy reference, and the update SGD(lr=1) applied (old - new).
    expected, fraction = reference_clip(grads, mode, threshold)
    assert row["clip_fraction"] == pytest.approx(fraction, abs=1e-7)
    assert (0 < fraction < 1) if mode in ("clipvalue", "clipnorm") else fraction == (mode != "none")
    expected_norm = np.linalg.norm([np.linalg.norm(g) for g in expected])
    assert row["grad_norm_clipped"] == pytest.approx(expected_norm, rel=1e-5)
    applied = np.linalg.norm([np.linalg.norm(o - n) for o, n in zip(old, new, strict=True)])
    assert row["grad_norm_clipped"] == pytest.approx(applied, rel=1e-4)
    per_variable = [(r[2], r[3]) for r in watch.variable_rows]
    np.testing.assert_allclose(per_variable, [(n, np.linalg.norm(e)) for n, e in
                                              zip(norms, expected, strict=True)], rtol=1e-5)  # fmt: skip


SCALED = {
    "loss_scale_optimizer": lambda: keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(1.0, global_clipnorm=0.01)
    ),
    "loss_scale_factor": lambda: keras.optimizers.SGD(
        1.0, global_clipnorm=0.01, loss_scale_factor=128.0
    ),
}


@pytest.mark.parametrize("optimizer", SCALED)
def test_a_scaled_loss_is_unscaled_as_the_optimizer_does(optimizer):
    """Gradients of a scaled loss are divided by the scale before clipping, as the optimizer
    divides them: the logged norms are the true ones."""
    x, y = batch()
    keras.utils.set_random_seed(0)
    model = sequential()
    _, grads = tape_gradients(model, x, y)
    model.compile(optimizer=SCALED[optimizer](), loss="mse")
    old = weights(model)
    watch = GradientMonitor()
    fit(model, x, y, [watch])
    (row,) = watch.steps
    norm = np.linalg.norm([np.linalg.norm(g.astype(np.float64)) for g in grads])
    assert row["grad_norm"] == pytest.approx(norm, rel=1e-5) and norm > 0.01
    applied = np.linalg.norm(
        [np.linalg.norm(o - n) for o, n in zip(old, weights(model), strict=True)]
    )
    assert row["grad_norm_clipped"] == pytest.approx(0.01, rel=1e-5)
    assert applied == pytest.approx(0.01, rel=1e-4)


# ----------------------------------------------------------------------------------------------
# Every kind of model


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.rnn = IndRNN(4)
        self.head = keras.layers.Dense(1)

    def call(self, x, training=False):
        return self.head(self.rnn(x, training=training))


def sequential():
    return keras.Sequential([keras.Input((TIME, FEATURES)), SwappableGRU(4), keras.layers.Dense(1)])


def functional():
    """Two inputs by name; the sequence is `seq`. Keras's own LSTM."""
    seq = keras.Input((TIME, FEATURES), name="seq")
    aux = keras.Input((2,), name="aux")
    hidden = keras.layers.Concatenate()([keras.layers.LSTM(4, use_cudnn=False)(seq), aux])
    return keras.Model({"seq": seq, "aux": aux}, keras.layers.Dense(1)(hidden))


def bidirectional_masked():
    return keras.Sequential(
        [
            keras.Input((TIME, FEATURES)),
            keras.layers.Masking(0.0),
            keras.layers.Bidirectional(SwappableLSTM(4)),
            keras.layers.Dense(1),
        ]
    )


MODELS = {
    "sequential": sequential,
    "functional": functional,
    "subclassed": Subclassed,
    "bidirectional_masked": bidirectional_masked,
}


@pytest.mark.parametrize("kind", MODELS)
def test_every_kind_of_model_logs_its_gradients_and_dl_dx_t(kind):
    x, y = batch(padded=kind == "bidirectional_masked")
    inputs = x
    if kind == "functional":
        inputs = {"seq": x, "aux": np.ones((BATCH, 2), dtype="float32")}
    keras.utils.set_random_seed(0)
    model = MODELS[kind]()
    model(inputs)  # built, so the tape below sees the weights fit will train
    sequence = tf.constant(x)
    tape_inputs = (
        {"seq": sequence, "aux": tf.constant(inputs["aux"])} if kind == "functional" else sequence
    )
    _, grads = tape_gradients(model, tape_inputs, y, sequence=sequence)
    grads, input_grad = grads[:-1], grads[-1]
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=0.01), loss="mse")

    watch = GradientMonitor(
        variables=True, timesteps=1, timestep_input="seq" if kind == "functional" else None
    )
    rows = Collect(watch)
    history = fit(model, inputs, y, [watch, rows], epochs=2)

    assert [r["step"] for r in rows.steps] == [1, 2]
    first = rows.steps[0]
    norms = [np.linalg.norm(g.astype(np.float64)) for g in grads]
    assert first["grad_norm"] == pytest.approx(np.linalg.norm(norms), rel=1e-5)
    assert first["grad_norm_clipped"] < first["grad_norm"] and first["clip_fraction"] > 0
    # One unique name per trainable variable, and its norms in the logs.
    names = watch.variable_names
    assert len(names) == len(set(names)) == len(model.trainable_variables)
    for name, norm in zip(names, norms, strict=True):
        assert history.history[f"grad_norm/{name}"][0] == pytest.approx(norm, rel=1e-5)
        assert f"grad_norm_clipped/{name}" in history.history
    # ||dL/dx_t|| at both steps (K = 1), the first from the same weights as the tape's.
    expected = np.sqrt((input_grad.astype(np.float64) ** 2).sum(axis=(0, 2)))
    got = np.array([r[2] for r in rows.timestep_rows if r[0] == 1])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)
    assert sorted({r[0] for r in rows.timestep_rows}) == [1, 2]
    if kind == "bidirectional_masked":
        assert got[-1] == 0 and got[:-2].min() > 0  # a masked step has no gradient
        assert any("forward" in n for n in names) and any("backward" in n for n in names)


# ----------------------------------------------------------------------------------------------
# steps_per_execution, the CSV files, what it refuses


def test_steps_per_execution_logs_the_last_step_of_each_execution(tmp_path):
    """5 batches, 3 steps per execution: executions of steps 1-3 and 4-5; each logs its last
    step, with the values a one-step-per-execution fit logs at that step."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5 * BATCH, TIME, FEATURES)).astype("float32")
    y = rng.normal(size=(5 * BATCH, 1)).astype("float32")
    rows = {}
    for spe in (1, 3):
        keras.utils.set_random_seed(0)
        model = sequential()
        model.compile(optimizer=keras.optimizers.SGD(0.1, clipvalue=0.01), loss="mse",
                      steps_per_execution=spe)  # fmt: skip
        watch = GradientMonitor(timesteps=2)
        logger = keras.callbacks.CSVLogger(str(tmp_path / f"log{spe}.csv"))
        fit(model, x, y, [watch, logger])
        rows[spe] = watch.steps
        timesteps = sorted({r[0] for r in watch.timestep_rows})
        with open(tmp_path / f"log{spe}.csv") as f:
            assert set(LOGGED) <= set(next(csv.reader(f)))  # CSVLogger saw them
    assert [r["step"] for r in rows[1]] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in rows[3]] == [3, 5]
    assert timesteps == [3, 5]  # executions holding step 1 and steps 2, 4: their last steps
    for row in rows[3]:
        single = rows[1][row["step"] - 1]
        for name in ("loss", *LOGGED):
            assert row[name] == pytest.approx(single[name], rel=1e-5), name


def test_csv_files_have_a_grid_runs_columns(tmp_path):
    from experiments import vocabulary

    assert monitor.STEP_COLUMNS == vocabulary.STEP_COLUMNS
    assert monitor.VARIABLE_COLUMNS == vocabulary.VARIABLE_COLUMNS
    assert monitor.TIMESTEP_COLUMNS == vocabulary.TIMESTEP_COLUMNS
    files = {
        monitor.STEPS_FILE: vocabulary.STEPS_FILE,
        monitor.VARIABLES_FILE: vocabulary.VARIABLES_FILE,
        monitor.TIMESTEPS_FILE: vocabulary.TIMESTEPS_FILE,
    }
    assert all(a == b for a, b in files.items())

    x, y = batch()
    keras.utils.set_random_seed(0)
    model = sequential()
    model.compile(optimizer="adam", loss="mse")
    watch = GradientMonitor(timesteps=2, csv_dir=tmp_path / "run")
    fit(model, x, y, [watch], epochs=3)
    tables = {}
    for name in files:
        with open(tmp_path / "run" / name) as f:
            tables[name] = list(csv.DictReader(f))
    assert list(tables["steps.csv"][0]) == list(vocabulary.STEP_COLUMNS)
    assert [int(r["step"]) for r in tables["steps.csv"]] == [1, 2, 3]
    assert all(math.isnan(float(r["metric"])) for r in tables["steps.csv"])
    assert float(tables["steps.csv"][-1]["grad_norm"]) == watch.steps[-1]["grad_norm"]
    assert len(tables["variables.csv"]) == 3 * len(model.trainable_variables)
    assert list(tables["variables.csv"][0]) == list(vocabulary.VARIABLE_COLUMNS)
    assert [(int(r["step"]), int(r["t"])) for r in tables["timesteps.csv"]] == [
        (s, t) for s in (1, 2) for t in range(TIME)
    ]
    assert not list((tmp_path / "run").glob(".tmp-*"))

    # Another fit: new rows, the step count continued, the compiled step reused (no new trace).
    functions = watch._functions
    fit(model, x, y, [watch])
    assert [r["step"] for r in watch.steps] == [4] and watch._functions is functions


def batches(n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n * BATCH, TIME, FEATURES)).astype("float32")
    return x, rng.normal(size=(n * BATCH, 1)).astype("float32")


def read_tables(folder: Path) -> dict:
    """Each record file as a DataFrame, and its header lines counted in the raw text."""
    import pandas as pd

    tables = {}
    for name, columns in ((monitor.STEPS_FILE, monitor.STEP_COLUMNS),
                          (monitor.VARIABLES_FILE, monitor.VARIABLE_COLUMNS),
                          (monitor.TIMESTEPS_FILE, monitor.TIMESTEP_COLUMNS)):  # fmt: skip
        lines = (folder / name).read_text().splitlines()
        assert lines.count(",".join(columns)) == 1 and lines[0] == ",".join(columns), name
        tables[name] = pd.read_csv(folder / name)
    return tables


@pytest.mark.parametrize("write_every", [1000, 2])
def test_csv_files_after_several_epochs_equal_the_logged_rows(tmp_path, write_every):
    """4 epochs of 3 steps, written at each epoch's end (and every 2 steps): each file read back
    is every row the monitor logged, in order, under one header."""
    import pandas as pd

    x, y = batches(3)
    keras.utils.set_random_seed(0)
    model = sequential()
    model.compile(optimizer="adam", loss="mse")
    watch = GradientMonitor(timesteps=2, csv_dir=tmp_path, write_every=write_every)
    rows = Collect(watch)
    fit(model, x, y, [watch, rows], epochs=4)

    tables = read_tables(tmp_path)
    expected = {
        monitor.STEPS_FILE: pd.DataFrame(rows.steps, columns=list(monitor.STEP_COLUMNS)),
        monitor.VARIABLES_FILE: pd.DataFrame(rows.variable_rows,
                                             columns=list(monitor.VARIABLE_COLUMNS)),
        monitor.TIMESTEPS_FILE: pd.DataFrame(rows.timestep_rows,
                                             columns=list(monitor.TIMESTEP_COLUMNS)),
    }  # fmt: skip
    assert tables[monitor.STEPS_FILE]["step"].tolist() == list(range(1, 13))
    assert sorted(set(tables[monitor.TIMESTEPS_FILE]["step"])) == [1, 2, 4, 6, 8, 10, 12]
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, expected[name], check_exact=True, obj=name)


def test_memory_holds_one_write_interval_while_the_files_grow(tmp_path):
    """5 epochs of 3 steps, `write_every=2`: at every step and epoch end the monitor holds at
    most 2 steps' rows, while `steps.csv` holds every step so far."""
    x, y = batches(3)
    keras.utils.set_random_seed(0)
    model = sequential()
    model.compile(optimizer="adam", loss="mse")
    watch = GradientMonitor(variables=True, timesteps=1, csv_dir=tmp_path, write_every=2)

    class Probe(keras.callbacks.Callback):
        held, written = [], []

        def on_train_batch_end(self, batch, logs=None):
            self.held.append((len(watch.steps), len(watch.variable_rows), len(watch.timestep_rows)))

        def on_epoch_end(self, epoch, logs=None):
            self.on_train_batch_end(None)
            lines = (tmp_path / monitor.STEPS_FILE).read_text().splitlines()
            self.written.append(len(lines) - 1)

    fit(model, x, y, [watch, Probe()], epochs=5)
    n = len(model.trainable_variables)
    assert max(Probe.held) == (2, 2 * n, 2 * TIME) and len(Probe.held) == 5 * 3 + 5
    assert Probe.written == [3, 6, 9, 12, 15]
    assert [r["step"] for r in watch.steps] == [15]  # the last interval's rows, written


def test_a_second_fit_replaces_or_appends_as_csvlogger(tmp_path):
    """`append=False`: each fit replaces the files (an earlier run's too); `append=True`: a fit
    appends below them, the header once; to a file of other columns it refuses."""
    x, y = batch()
    keras.utils.set_random_seed(0)
    model = sequential()
    model.compile(optimizer="adam", loss="mse")
    (tmp_path / monitor.STEPS_FILE).write_text("an,earlier,run\n1,2,3\n")

    def steps():
        return read_tables(tmp_path)[monitor.STEPS_FILE]["step"].tolist()

    watch = GradientMonitor(csv_dir=tmp_path)
    fit(model, x, y, [watch], epochs=2)
    assert steps() == [1, 2]
    fit(model, x, y, [watch])
    assert steps() == [3]
    fit(model, x, y, [GradientMonitor(csv_dir=tmp_path, append=True)], epochs=2)
    assert steps() == [3, 4, 5]
    assert read_tables(tmp_path)[monitor.VARIABLES_FILE]["step"].tolist() == [
        s for s in (3, 4, 5) for _ in model.trainable_variables
    ]

    (tmp_path / monitor.STEPS_FILE).write_text("an,earlier,run\n")
    with pytest.raises(ValueError, match="has the columns"):
        fit(model, x, y, [GradientMonitor(csv_dir=tmp_path, append=True)])
    with pytest.raises(ValueError, match="write_every"):
        GradientMonitor(write_every=0)


def test_the_engine_and_the_monitor_share_one_implementation():
    from experiments.engine import group_training, training

    assert training.clip_gradients is gradients.clip_gradients
    assert group_training.clip_gradients is gradients.clip_gradients
    assert training.gradient_stats is group_training.gradient_stats is gradients.gradient_stats


def test_refuses_what_it_cannot_reproduce():
    class OwnStep(keras.Sequential):
        def train_step(self, data):
            return super().train_step(data)

    model = OwnStep([keras.Input((TIME, FEATURES)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(NotImplementedError, match="overrides `train_step`"):
        fit(model, *batch(), [GradientMonitor()])
    with pytest.raises(ValueError, match="timesteps"):
        GradientMonitor(timesteps=-1)


def test_another_backend_is_named_in_a_clear_error():
    pytest.importorskip("jax")
    code = (
        "from custom_layers import GradientMonitor\n"
        "try:\n    GradientMonitor()\nexcept NotImplementedError as e:\n    print('ERROR', e)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ERROR" in done.stdout and "'jax' backend" in done.stdout
    assert "TensorFlow backend only" in done.stdout
