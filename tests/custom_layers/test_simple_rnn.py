"""Tests of `SwappableSimpleRNNCell` / `SwappableSimpleRNN`, and of the IRNN setting.

- parity with `keras.layers.SimpleRNN` when built with defaults (same weights, same outputs);
- an independent NumPy Elman RNN, written here from the docstring's equation, for each activation
  and for the IRNN (Le et al. 2015: identity recurrent initialization, ReLU);
- gradients against central finite differences in float64.
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

import custom_layers.simple_rnn
from custom_layers.simple_rnn import SwappableSimpleRNN, SwappableSimpleRNNCell

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


def reference_rnn(x, w, h0, *, activation):
    """Runs `h_t = activation(x_t W + h_{t-1} U + b)` over `x (batch, time, features)`.

    Returns:
        `(hs (batch, time, units), h_T)`.
    """
    f = NP_ACTIVATIONS[activation]
    h = h0
    hs = []
    for t in range(x.shape[1]):
        h = f(x[:, t] @ w["kernel"] + h @ w["recurrent_kernel"] + w.get("bias", 0.0))
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
    result = doctest.testmod(custom_layers.simple_rnn, extraglobs=globs)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.SimpleRNN.
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


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(return_sequences=True, masking=True),
        dict(return_state=True, go_backwards=True, masking=True),
        dict(return_sequences=True, return_state=True, go_backwards=True),
        dict(return_sequences=True, return_state=True, masking=True),
    ],
    ids=["last", "seq_mask", "state_bwd_mask", "seq_state_bwd", "seq_state_mask"],
)
def test_defaults_match_keras_simple_rnn(options, activation):
    rng = np.random.default_rng(0)
    options = dict(options)
    masking = options.pop("masking", False)
    builtin = _model(keras.layers.SimpleRNN(UNITS, activation=activation, **options), masking)
    swappable = _model(SwappableSimpleRNN(UNITS, activation=activation, **options), masking)
    builtin.set_weights([rng.normal(scale=0.5, size=w.shape) for w in builtin.get_weights()])
    swappable.set_weights(builtin.get_weights())
    x = _padded_data(rng)
    expected = builtin.predict_on_batch(x)
    got = swappable.predict_on_batch(x)
    if options.get("return_state"):
        assert len(got) == len(expected) == 2  # output, h
    else:
        got, expected = [got], [expected]
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=1e-5)


def test_weight_layout_matches_keras_simple_rnn():
    x = _data(np.random.default_rng(2))
    builtin = keras.layers.SimpleRNN(UNITS)
    swappable = SwappableSimpleRNN(UNITS)
    builtin(x)
    swappable(x)
    names = [(v.name, tuple(v.shape)) for v in swappable.weights]
    assert names == [(v.name, tuple(v.shape)) for v in builtin.weights]
    assert names == [
        ("kernel", (FEATURES, UNITS)),
        ("recurrent_kernel", (UNITS, UNITS)),
        ("bias", (UNITS,)),
    ]


def test_cell_set_weights_from_keras_cell():
    rng = np.random.default_rng(3)
    x = _data(rng)
    builtin = keras.layers.RNN(keras.layers.SimpleRNNCell(UNITS), return_sequences=True)
    swappable = keras.layers.RNN(SwappableSimpleRNNCell(UNITS), return_sequences=True)
    builtin(x)
    swappable(x)
    builtin.cell.set_weights([rng.normal(size=w.shape) for w in builtin.cell.get_weights()])
    swappable.cell.set_weights(builtin.cell.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Against the NumPy reference.
# ----------------------------------------------------------------------------------------------


def _check_against_reference(layer, rng, weights=None, expect_nonzero=0.05):
    x = _data(rng)
    h0 = rng.normal(scale=0.5, size=(BATCH, UNITS)).astype("float32")
    layer(x, initial_state=[h0])
    if weights is None:
        weights = {v.name: np.asarray(v) for v in layer.weights}
    set_named_weights(layer, weights)
    hs, h = (np.asarray(t) for t in layer(x, initial_state=[h0]))
    want_hs, want_h = reference_rnn(
        x.astype("float64"),
        {k: np.asarray(v).astype("float32").astype("float64") for k, v in weights.items()},
        h0.astype("float64"),
        activation=keras.activations.serialize(layer.cell.activation),
    )
    assert np.abs(want_hs).max() > expect_nonzero  # the comparison is not vacuous
    np.testing.assert_allclose(hs, want_hs, atol=1e-5)
    np.testing.assert_allclose(h, want_h, atol=1e-5)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
def test_activation_matches_reference(activation, use_bias):
    rng = np.random.default_rng(4)
    layer = SwappableSimpleRNN(
        UNITS, activation=activation, use_bias=use_bias, return_sequences=True, return_state=True
    )
    layer(_data(rng))
    _check_against_reference(layer, rng, random_weights(layer, rng))


@pytest.mark.parametrize(
    ("initializer", "gain"),
    [("identity", 1.0), (keras.initializers.Identity(gain=0.5), 0.5)],
    ids=["identity", "scaled_identity"],
)
def test_irnn_matches_reference(initializer, gain):
    """The IRNN (Le et al. 2015) at initialization: U = gain * I, b = 0, ReLU."""
    rng = np.random.default_rng(5)
    layer = SwappableSimpleRNN(
        UNITS,
        activation="relu",
        recurrent_initializer=initializer,
        return_sequences=True,
        return_state=True,
    )
    layer(_data(rng))
    np.testing.assert_array_equal(np.asarray(layer.cell.recurrent_kernel), gain * np.eye(UNITS))
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), 0.0)
    _check_against_reference(layer, rng)  # with the initial weights


def test_irnn_with_zero_input_keeps_its_state():
    """With U = I, b = 0 and ReLU, a non-negative state is carried forward unchanged."""
    layer = SwappableSimpleRNN(
        UNITS, activation="relu", recurrent_initializer="identity", return_sequences=True
    )
    h0 = np.abs(np.random.default_rng(6).normal(size=(BATCH, UNITS))).astype("float32")
    hs = np.asarray(layer(np.zeros((BATCH, 50, FEATURES), "float32"), initial_state=[h0]))
    np.testing.assert_allclose(hs, np.broadcast_to(h0[:, None], hs.shape), atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64).
# ----------------------------------------------------------------------------------------------

GRADIENT_CONFIGS = {
    "tanh": {},
    "relu": dict(activation="relu"),
    "irnn": dict(activation="relu", recurrent_initializer="identity"),
    "hard_sigmoid": dict(activation="hard_sigmoid"),
}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
@pytest.mark.parametrize("kwargs", list(GRADIENT_CONFIGS.values()), ids=list(GRADIENT_CONFIGS))
def test_gradients_match_finite_differences(kwargs):
    import tensorflow as tf

    rng = np.random.default_rng(9)
    units, features, steps, batch = 3, 2, 5, 2
    x = rng.normal(size=(batch, steps, features))
    layer = SwappableSimpleRNN(units, return_sequences=True, dtype="float64", **kwargs)
    layer.build(x.shape)
    weights = {v.name: np.asarray(v) + rng.normal(scale=0.3, size=v.shape) for v in layer.weights}
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
        SwappableSimpleRNNCell(UNITS, activation="no_such_act")
    with pytest.raises(ValueError, match=pattern):
        SwappableSimpleRNN(UNITS, activation="no_such_act")


@pytest.mark.parametrize("units", [0, -3, 2.5], ids=["zero", "negative", "float"])
def test_bad_units(units):
    message = f"argument `units`, expected a positive integer, got {units!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        SwappableSimpleRNN(units)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("dropout", -0.1), ("dropout", 1.0), ("recurrent_dropout", 1.5)],
)
def test_bad_dropout(argument, value):
    message = f"argument `{argument}`, expected a float in [0, 1), got {value!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        SwappableSimpleRNNCell(UNITS, **{argument: value})


# ----------------------------------------------------------------------------------------------
# Dropout.
# ----------------------------------------------------------------------------------------------


def test_dropout_applies_only_in_training():
    x = _data(np.random.default_rng(10))

    def make():
        layer = SwappableSimpleRNN(
            UNITS, dropout=0.5, recurrent_dropout=0.5, seed=1234, return_sequences=True
        )
        layer(x)
        return layer

    first, second = make(), make()
    plain = SwappableSimpleRNN(UNITS, return_sequences=True)
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
    activation="relu",
    use_bias=True,
    recurrent_initializer=keras.initializers.Identity(gain=0.9),
    kernel_regularizer=keras.regularizers.L2(1e-3),
    recurrent_constraint=keras.constraints.MaxNorm(1.5),
    dropout=0.25,
    recurrent_dropout=0.125,
    seed=7,
    return_sequences=True,
    return_state=True,
    go_backwards=True,
)


def test_layer_config_round_trip():
    x = _data(np.random.default_rng(11))
    layer = SwappableSimpleRNN(UNITS, **NON_DEFAULT)
    layer(x)
    config = layer.get_config()
    assert config["activation"] == "relu"
    restored = SwappableSimpleRNN.from_config(json.loads(json.dumps(config)))
    restored(x)
    assert restored.get_config() == config
    np.testing.assert_allclose(np.asarray(restored.cell.recurrent_kernel), 0.9 * np.eye(UNITS))
    restored.set_weights(layer.get_weights())
    for a, b in zip(layer(x), restored(x), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_cell_config_round_trip():
    x = _data(np.random.default_rng(12))
    cell = SwappableSimpleRNNCell(
        UNITS, activation="hard_sigmoid", recurrent_initializer="identity"
    )
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer(x)
    restored = keras.layers.RNN(
        SwappableSimpleRNNCell.from_config(cell.get_config()), return_sequences=True
    )
    restored(x)
    assert restored.cell.get_config() == cell.get_config()
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(layer(x)), atol=1e-6)


def test_keras_file_round_trip(tmp_path):
    x = _data(np.random.default_rng(13))
    inputs = keras.Input((STEPS, FEATURES))
    outputs = SwappableSimpleRNN(
        UNITS, activation="relu", recurrent_initializer="identity", return_sequences=True
    )(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "simple_rnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)


# ----------------------------------------------------------------------------------------------
# JAX backend.
# ----------------------------------------------------------------------------------------------

_JAX_SCRIPT = """
import json, sys
import numpy as np
import keras
import custom_layers.simple_rnn
data = np.load(sys.argv[1])
layer = keras.saving.deserialize_keras_object(json.loads(sys.argv[2]))
layer(data["x"])
layer.set_weights([data[f"w{i}"] for i in range(len(layer.weights))])
np.save(sys.argv[3], keras.ops.convert_to_numpy(layer(data["x"])))
"""


def test_same_outputs_on_jax_backend(tmp_path):
    pytest.importorskip("jax")
    rng = np.random.default_rng(14)
    x = _data(rng)
    layer = SwappableSimpleRNN(UNITS, activation="hard_sigmoid", return_sequences=True)
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


def test_identity_gain_survives_saving(tmp_path):
    """Keras 3's own `Identity` forgets its gain in `get_config`; the cell keeps it."""
    from custom_layers.simple_rnn import ScaledIdentity

    x = _data(np.random.default_rng(15))
    layer = SwappableSimpleRNN(
        UNITS, activation="relu", recurrent_initializer=keras.initializers.Identity(gain=0.25)
    )
    assert isinstance(layer.cell.recurrent_initializer, ScaledIdentity)
    assert layer.get_config()["recurrent_initializer"]["config"] == {"gain": 0.25}
    inputs = keras.Input((STEPS, FEATURES))
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / "irnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    config = loaded.layers[-1].get_config()
    fresh = SwappableSimpleRNN.from_config(config)
    fresh(x)
    np.testing.assert_array_equal(np.asarray(fresh.cell.recurrent_kernel), 0.25 * np.eye(UNITS))
