"""Tests of `IndRNNCell` / `IndRNN` (Li et al. 2018) and the `MaxAbs` constraint.

- parity with `keras.layers.SimpleRNN` whose recurrent kernel is `diag(u)` (the IndRNN is that
  special case), with masking, `go_backwards`, `return_state`;
- an independent NumPy IndRNN, written here from the docstring's equation;
- gradients against central finite differences in float64;
- `recurrent_max_abs`: the bound holds at initialization and after optimizer updates, composes
  with a user constraint, and survives `get_config` and `.keras` saving.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import custom_layers.indrnn
from custom_layers.indrnn import IndRNN, IndRNNCell, MaxAbs

UNITS = 4
FEATURES = 3
STEPS = 5
BATCH = 3
ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------------------------
# The NumPy reference.
# ----------------------------------------------------------------------------------------------

NP_ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    # Keras 3: hard_sigmoid(x) = relu6(x + 3) / 6.
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}


def reference_indrnn(x, w, h0, *, activation):
    """Runs `h_t = activation(x_t W + u * h_{t-1} + b)` over `x (batch, time, features)`.

    Returns:
        `(hs (batch, time, units), h_T)`.
    """
    f = NP_ACTIVATIONS[activation]
    h = h0
    hs = []
    for t in range(x.shape[1]):
        h = f(x[:, t] @ w["kernel"] + w["recurrent_kernel"] * h + w.get("bias", 0.0))
        hs.append(h)
    return np.stack(hs, axis=1), h


def random_weights(layer, rng, scale=0.5):
    """Non-trivial random values for every weight of a built layer, by weight name."""
    return {v.name: rng.normal(scale=scale, size=tuple(v.shape)) for v in layer.weights}


def set_named_weights(layer, weights):
    layer.set_weights([weights[v.name] for v in layer.weights])


def _data(rng, batch=BATCH, steps=STEPS, features=FEATURES):
    return rng.normal(size=(batch, steps, features)).astype("float32")


def test_docstring_examples_run():
    globs = {"keras": keras, "np": np}
    result = doctest.testmod(custom_layers.indrnn, extraglobs=globs)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------------
# Weights.
# ----------------------------------------------------------------------------------------------


def test_weight_layout():
    layer = IndRNN(UNITS)
    layer(_data(np.random.default_rng(0)))
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == [
        ("kernel", (FEATURES, UNITS)),
        ("recurrent_kernel", (UNITS,)),
        ("bias", (UNITS,)),
    ]
    u = np.asarray(layer.cell.recurrent_kernel)
    assert np.all((u >= 0.0) & (u <= 1.0)) and np.ptp(u) > 0  # default: uniform in [0, 1]
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), 0.0)


def test_weight_layout_without_bias():
    layer = IndRNN(UNITS, use_bias=False)
    layer(_data(np.random.default_rng(1)))
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == [
        ("kernel", (FEATURES, UNITS)),
        ("recurrent_kernel", (UNITS,)),
    ]


# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.SimpleRNN over diag(u).
# ----------------------------------------------------------------------------------------------


def _padded_data(rng):
    """Inputs with padded (all-zero) steps: sample 1 post-padded, sample 2 pre-padded."""
    x = _data(rng)
    x[1, -2:] = 0.0
    x[2, :2] = 0.0
    return x


def _model(layer, masking):
    inputs = keras.Input((STEPS, FEATURES))
    hidden = keras.layers.Masking(mask_value=0.0)(inputs) if masking else inputs
    return keras.Model(inputs, layer(hidden))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(return_sequences=True, masking=True),
        dict(return_state=True, go_backwards=True, masking=True),
        dict(return_sequences=True, return_state=True, go_backwards=True),
    ],
    ids=["last", "seq_mask", "state_bwd_mask", "seq_state_bwd"],
)
def test_matches_keras_simple_rnn_with_diagonal_recurrence(options, activation):
    rng = np.random.default_rng(2)
    options = dict(options)
    masking = options.pop("masking", False)
    builtin = _model(keras.layers.SimpleRNN(UNITS, activation=activation, **options), masking)
    indrnn = _model(IndRNN(UNITS, activation=activation, **options), masking)
    kernel = rng.normal(scale=0.5, size=(FEATURES, UNITS))
    u = rng.uniform(-1.2, 1.2, size=UNITS)
    bias = rng.normal(scale=0.5, size=UNITS)
    builtin.set_weights([kernel, np.diag(u), bias])
    indrnn.set_weights([kernel, u, bias])
    x = _padded_data(rng)
    expected = builtin.predict_on_batch(x)
    got = indrnn.predict_on_batch(x)
    if options.get("return_state"):
        assert len(got) == len(expected) == 2  # output, h
    else:
        got, expected = [got], [expected]
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Against the NumPy reference.
# ----------------------------------------------------------------------------------------------


def _check_against_reference(layer, rng, weights=None):
    x = _data(rng)
    h0 = rng.normal(scale=0.5, size=(BATCH, UNITS)).astype("float32")
    layer(x, initial_state=[h0])
    if weights is None:
        weights = {v.name: np.asarray(v) for v in layer.weights}
    set_named_weights(layer, weights)
    hs, h = (np.asarray(t) for t in layer(x, initial_state=[h0]))
    want_hs, want_h = reference_indrnn(
        x.astype("float64"),
        {k: np.asarray(v).astype("float32").astype("float64") for k, v in weights.items()},
        h0.astype("float64"),
        activation=keras.activations.serialize(layer.cell.activation),
    )
    assert np.abs(want_hs).max() > 0.05  # the comparison is not vacuous
    np.testing.assert_allclose(hs, want_hs, atol=1e-5)
    np.testing.assert_allclose(h, want_h, atol=1e-5)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
def test_activation_matches_reference(activation, use_bias):
    rng = np.random.default_rng(3)
    layer = IndRNN(
        UNITS, activation=activation, use_bias=use_bias, return_sequences=True, return_state=True
    )
    layer(_data(rng))
    weights = random_weights(layer, rng)
    weights["recurrent_kernel"] = rng.uniform(-1.5, 1.5, size=UNITS)
    _check_against_reference(layer, rng, weights)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_default_initialization_matches_reference(activation):
    rng = np.random.default_rng(4)
    layer = IndRNN(UNITS, activation=activation, return_sequences=True, return_state=True)
    _check_against_reference(layer, rng)  # with the initial weights


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_recurrent_max_abs_initial_values_match_reference(activation):
    """The initial u is clipped into the bound, and the cell runs with those values."""
    rng = np.random.default_rng(5)
    bound = 0.5
    layer = IndRNN(
        UNITS,
        activation=activation,
        recurrent_initializer=keras.initializers.RandomUniform(-3.0, 3.0, seed=1),
        recurrent_max_abs=bound,
        return_sequences=True,
        return_state=True,
    )
    layer(_data(rng))
    u = np.asarray(layer.cell.recurrent_kernel)
    assert np.abs(u).max() <= bound
    assert np.isclose(np.abs(u), bound).any()  # some values were clipped
    _check_against_reference(layer, rng)


# ----------------------------------------------------------------------------------------------
# recurrent_max_abs and MaxAbs.
# ----------------------------------------------------------------------------------------------


def test_max_abs_clips_and_serializes():
    constraint = MaxAbs(0.75)
    clipped = keras.ops.convert_to_numpy(constraint(np.array([-2.0, -0.5, 0.0, 0.7, 9.0])))
    np.testing.assert_allclose(clipped, [-0.75, -0.5, 0.0, 0.7, 0.75])
    assert constraint.get_config() == {"max_value": 0.75}
    config = json.loads(json.dumps(keras.constraints.serialize(constraint)))
    restored = keras.constraints.deserialize(config)
    assert isinstance(restored, MaxAbs) and restored.max_value == 0.75


def _sgd_step(layer, gradients, learning_rate=1.0):
    """One plain SGD update with the given gradients; Keras then applies the constraints."""
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    variables = layer.trainable_variables
    optimizer.apply_gradients(
        [(gradients.get(v.name, np.zeros(v.shape)), v) for v in variables],
    )


def test_recurrent_max_abs_holds_after_optimizer_update():
    """The paper clips after each update: u <- clip(u - lr * g, -bound, bound)."""
    rng = np.random.default_rng(6)
    bound = 2 ** (1 / STEPS)
    layer = IndRNN(UNITS, recurrent_max_abs=bound)
    layer(_data(rng))
    before = np.asarray(layer.cell.recurrent_kernel).copy()
    gradient = np.array([3.0, -3.0, 0.1, -0.2], "float32")
    _sgd_step(layer, {"recurrent_kernel": gradient})
    after = np.asarray(layer.cell.recurrent_kernel)
    np.testing.assert_allclose(after, np.clip(before - gradient, -bound, bound), atol=1e-6)
    assert after[0] == pytest.approx(-bound) and after[1] == pytest.approx(bound)


def test_recurrent_max_abs_composes_with_recurrent_constraint():
    """The user constraint runs first, then the bound: NonNeg + MaxAbs gives u in [0, bound]."""
    rng = np.random.default_rng(7)
    layer = IndRNN(UNITS, recurrent_max_abs=0.5, recurrent_constraint="non_neg")
    layer(_data(rng))
    _sgd_step(layer, {"recurrent_kernel": np.array([5.0, -5.0, 0.0, -0.1], "float32")})
    after = np.asarray(layer.cell.recurrent_kernel)
    assert after[0] == 0.0 and after[1] == 0.5
    assert np.all((after >= 0.0) & (after <= 0.5))


def test_without_recurrent_max_abs_no_clipping():
    layer = IndRNN(UNITS)
    layer(_data(np.random.default_rng(8)))
    assert layer.cell.recurrent_kernel.constraint is None
    _sgd_step(layer, {"recurrent_kernel": np.full(UNITS, -5.0, "float32")})
    assert np.asarray(layer.cell.recurrent_kernel).min() >= 5.0


def test_recurrent_max_abs_in_training_loop():
    rng = np.random.default_rng(9)
    bound = 0.9
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            IndRNN(UNITS, recurrent_max_abs=bound),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=50.0), loss="mse")
    x = _data(rng, batch=16)
    y = rng.normal(size=(16, 1)).astype("float32") * 10
    for _ in range(3):
        model.train_on_batch(x, y)
    u = np.asarray(model.layers[0].cell.recurrent_kernel)
    assert np.abs(u).max() <= bound + 1e-7


# ----------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64).
# ----------------------------------------------------------------------------------------------

GRADIENT_CONFIGS = {
    "relu": {},
    "tanh": dict(activation="tanh"),
    "relu_max_abs": dict(recurrent_max_abs=0.8),
}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
@pytest.mark.parametrize("kwargs", list(GRADIENT_CONFIGS.values()), ids=list(GRADIENT_CONFIGS))
def test_gradients_match_finite_differences(kwargs):
    import tensorflow as tf

    rng = np.random.default_rng(10)
    units, features, steps, batch = 3, 2, 6, 2
    x = rng.normal(size=(batch, steps, features))
    layer = IndRNN(units, return_sequences=True, dtype="float64", **kwargs)
    layer.build(x.shape)
    weights = random_weights(layer, rng, scale=0.8)
    weights["recurrent_kernel"] = rng.uniform(-0.8, 0.8, size=units)
    weights["bias"] += 0.5  # most ReLU units active, so few gradients are exactly zero
    set_named_weights(layer, weights)
    projection = rng.normal(size=(batch, steps, units))
    non_trainable = [v.value for v in layer.non_trainable_variables]

    @tf.function
    def loss(values):
        hs, _ = layer.stateless_call(values, non_trainable, x)
        return tf.reduce_sum(hs * projection)

    values = [tf.constant(np.asarray(v)) for v in layer.trainable_variables]
    with tf.GradientTape() as tape:
        tape.watch(values)
        value = loss(values)
    grads = [g.numpy() for g in tape.gradient(value, values)]
    names = [v.name for v in layer.trainable_variables]
    assert names == ["kernel", "recurrent_kernel", "bias"]

    eps = 1e-6
    for index, (name, grad) in enumerate(zip(names, grads, strict=True)):
        base = values[index].numpy()
        numeric = np.zeros_like(base)
        for position in np.ndindex(base.shape):
            shifted = list(values)
            plus, minus = base.copy(), base.copy()
            plus[position] += eps
            minus[position] -= eps
            shifted[index] = tf.constant(plus)
            up = loss(shifted).numpy()
            shifted[index] = tf.constant(minus)
            down = loss(shifted).numpy()
            numeric[position] = (up - down) / (2 * eps)
        assert np.abs(numeric).max() > 1e-3, name  # the check is not vacuous
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


# ----------------------------------------------------------------------------------------------
# Bad arguments.
# ----------------------------------------------------------------------------------------------


def test_unknown_activation_name():
    pattern = r"`activation`: 'no_such_act' is not a Keras activation. Expected one of \[.*'relu'"
    with pytest.raises(ValueError, match=pattern):
        IndRNNCell(UNITS, activation="no_such_act")
    with pytest.raises(ValueError, match=pattern):
        IndRNN(UNITS, activation="no_such_act")


@pytest.mark.parametrize("units", [0, -3, 2.5], ids=["zero", "negative", "float"])
def test_bad_units(units):
    message = f"argument `units`, expected a positive integer, got {units!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        IndRNN(units)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("dropout", -0.1), ("dropout", 1.0), ("recurrent_dropout", 1.5)],
)
def test_bad_dropout(argument, value):
    message = f"argument `{argument}`, expected a float in [0, 1), got {value!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        IndRNNCell(UNITS, **{argument: value})


@pytest.mark.parametrize("value", [0, -1.0, 0.0, float("inf"), float("nan"), "1", True])
def test_bad_recurrent_max_abs(value):
    message = f"argument `recurrent_max_abs`, expected a finite float > 0, got {value!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        IndRNN(UNITS, recurrent_max_abs=value)


@pytest.mark.parametrize("value", [0, -0.5])
def test_bad_max_abs_constraint(value):
    message = f"argument `max_value`, expected a finite float > 0, got {value!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        MaxAbs(value)


# ----------------------------------------------------------------------------------------------
# Dropout.
# ----------------------------------------------------------------------------------------------


def test_dropout_applies_only_in_training():
    x = _data(np.random.default_rng(11))

    def make():
        layer = IndRNN(
            UNITS,
            activation="tanh",
            dropout=0.5,
            recurrent_dropout=0.5,
            seed=1234,
            return_sequences=True,
        )
        layer(x)
        return layer

    first, second = make(), make()
    plain = IndRNN(UNITS, activation="tanh", return_sequences=True)
    plain(x)
    second.set_weights(first.get_weights())
    plain.set_weights(first.get_weights())

    inference = np.asarray(first(x, training=False))
    np.testing.assert_allclose(inference, np.asarray(plain(x)), atol=1e-6)
    training = np.asarray(first(x, training=True))
    assert np.abs(training - inference).max() > 1e-3
    # The same seed and the same calls give the same masks (Keras advances the seed generator
    # on every call, inference included, so `second` repeats `first`'s calls).
    second(x, training=False)
    np.testing.assert_allclose(np.asarray(second(x, training=True)), training, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Config round trip and saving.
# ----------------------------------------------------------------------------------------------

NON_DEFAULT = dict(
    activation="tanh",
    recurrent_initializer=keras.initializers.RandomUniform(-1.0, 1.0),
    recurrent_max_abs=0.75,
    recurrent_constraint="non_neg",
    kernel_regularizer=keras.regularizers.L2(1e-3),
    bias_initializer="ones",
    dropout=0.25,
    recurrent_dropout=0.125,
    seed=7,
    return_sequences=True,
    return_state=True,
    go_backwards=True,
)


def _assert_bound_enforced(layer, bound, non_neg):
    """An SGD update pushing u far out of range is clipped back by the layer's constraint."""
    _sgd_step(layer, {"recurrent_kernel": np.array([9.0, -9.0, 9.0, -9.0], "float32")})
    u = np.asarray(layer.cell.recurrent_kernel)
    np.testing.assert_allclose(u, [0.0 if non_neg else -bound, bound] * 2)


def test_layer_config_round_trip():
    x = _data(np.random.default_rng(12))
    layer = IndRNN(UNITS, **NON_DEFAULT)
    layer(x)
    config = layer.get_config()
    assert config["recurrent_max_abs"] == 0.75
    assert config["recurrent_constraint"]["class_name"] == "NonNeg"  # the user's, not composed
    restored = IndRNN.from_config(json.loads(json.dumps(config)))
    restored(x)
    assert restored.get_config() == config
    restored.set_weights(layer.get_weights())
    for a, b in zip(layer(x), restored(x), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    _assert_bound_enforced(restored, 0.75, non_neg=True)


def test_cell_config_round_trip_with_max_abs_constraint():
    """`MaxAbs` passed as `recurrent_constraint` is serialized like any Keras constraint."""
    x = _data(np.random.default_rng(13))
    cell = IndRNNCell(UNITS, activation="hard_sigmoid", recurrent_constraint=MaxAbs(0.3))
    config = json.loads(json.dumps(cell.get_config()))
    assert config["recurrent_constraint"]["registered_name"] == "custom_layers>MaxAbs"
    restored = keras.layers.RNN(IndRNNCell.from_config(config), return_sequences=True)
    restored(x)
    assert isinstance(restored.cell.recurrent_constraint, MaxAbs)
    assert restored.cell.recurrent_constraint.max_value == 0.3
    _assert_bound_enforced(restored, 0.3, non_neg=False)


def test_keras_file_round_trip(tmp_path):
    x = _data(np.random.default_rng(14))
    inputs = keras.Input((STEPS, FEATURES))
    outputs = IndRNN(UNITS, recurrent_max_abs=0.6, return_sequences=True)(
        keras.layers.Masking(0.0)(inputs)
    )
    model = keras.Model(inputs, outputs)
    path = tmp_path / "indrnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)
    layer = loaded.layers[-1]
    assert layer.cell.recurrent_max_abs == 0.6
    _assert_bound_enforced(layer, 0.6, non_neg=False)


# ----------------------------------------------------------------------------------------------
# JAX backend.
# ----------------------------------------------------------------------------------------------

_JAX_SCRIPT = """
import json, sys
import numpy as np
import keras
import custom_layers.indrnn
data = np.load(sys.argv[1])
layer = keras.saving.deserialize_keras_object(json.loads(sys.argv[2]))
layer(data["x"])
layer.set_weights([data[f"w{i}"] for i in range(len(layer.weights))])
np.save(sys.argv[3], keras.ops.convert_to_numpy(layer(data["x"])))
"""


def test_same_outputs_on_jax_backend(tmp_path):
    pytest.importorskip("jax")
    rng = np.random.default_rng(15)
    x = _data(rng)
    layer = IndRNN(UNITS, recurrent_max_abs=0.9, return_sequences=True)
    layer(x)
    set_named_weights(layer, random_weights(layer, rng))
    weights = {f"w{i}": w for i, w in enumerate(layer.get_weights())}
    np.savez(tmp_path / "data.npz", x=x, **weights)
    config = json.dumps(keras.saving.serialize_keras_object(layer))
    out = tmp_path / "out.npy"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, str(tmp_path / "data.npz"), config, str(out)],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    np.testing.assert_allclose(np.load(out), np.asarray(layer(x)), atol=1e-5)


def test_bound_is_applied_after_recurrent_constraint():
    """Whatever the user constraint does, the bound has the last word."""
    layer = IndRNN(UNITS, recurrent_max_abs=0.5, recurrent_constraint=lambda w: w + 10.0)
    layer(_data(np.random.default_rng(16)))
    _sgd_step(layer, {"recurrent_kernel": np.zeros(UNITS, "float32")})
    np.testing.assert_allclose(np.asarray(layer.cell.recurrent_kernel), 0.5)
