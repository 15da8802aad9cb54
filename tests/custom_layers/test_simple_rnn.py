"""Tests of `SwappableSimpleRNNCell` / `SwappableSimpleRNN`, and of the IRNN setting.

- parity with `keras.layers.SimpleRNN` when built with defaults (same weights, same outputs);
- an independent NumPy Elman RNN (`layer_checks.reference_rnn`), from the docstring's equation,
  for each activation and for the IRNN (Le et al. 2015: identity recurrent initialization, ReLU);
- gradients against central finite differences in float64.

Shared checks (shapes, arguments, saving, dropout, JAX): `test_contract.py`.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from layer_checks import (
    BATCH,
    FEATURES,
    NP_ACTIVATIONS,
    STEPS,
    UNITS,
    assert_gradients_match_finite_differences,
    assert_matches_reference,
    assert_same_predictions,
    assert_same_weight_layout,
    data,
    functional_model,
    padded_data,
    random_state,
    random_weights,
    randomize,
    reference_rnn,
    requires_tensorflow,
    set_named_weights,
)

from custom_layers.simple_rnn import SwappableSimpleRNN, SwappableSimpleRNNCell

# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.SimpleRNN.
# ----------------------------------------------------------------------------------------------


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
    builtin = functional_model(
        keras.layers.SimpleRNN(UNITS, activation=activation, **options), masking
    )
    swappable = functional_model(
        SwappableSimpleRNN(UNITS, activation=activation, **options), masking
    )
    randomize(builtin, rng)
    swappable.set_weights(builtin.get_weights())
    num_outputs = 2 if options.get("return_state") else 1  # output, h
    assert_same_predictions(builtin, swappable, padded_data(rng), num_outputs)


def test_weight_layout_matches_keras_simple_rnn():
    x = data(np.random.default_rng(2))
    builtin = keras.layers.SimpleRNN(UNITS)
    swappable = SwappableSimpleRNN(UNITS)
    names = assert_same_weight_layout(builtin, swappable, x)
    assert names == [
        ("kernel", (FEATURES, UNITS)),
        ("recurrent_kernel", (UNITS, UNITS)),
        ("bias", (UNITS,)),
    ]


def test_cell_set_weights_from_keras_cell():
    rng = np.random.default_rng(3)
    x = data(rng)
    builtin = keras.layers.RNN(keras.layers.SimpleRNNCell(UNITS), return_sequences=True)
    swappable = keras.layers.RNN(SwappableSimpleRNNCell(UNITS), return_sequences=True)
    builtin(x)
    swappable(x)
    randomize(builtin.cell, rng, scale=1.0)
    swappable.cell.set_weights(builtin.cell.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Against the NumPy reference.
# ----------------------------------------------------------------------------------------------


def _check_against_reference(layer, rng, weights=None, expect_nonzero=0.05):
    x = data(rng)
    h0 = random_state(rng)
    layer(x, initial_state=[h0])
    if weights is None:
        weights = {v.name: np.asarray(v) for v in layer.weights}
    reference = functools.partial(
        reference_rnn, activation=keras.activations.serialize(layer.cell.activation)
    )
    assert_matches_reference(layer, x, [h0], weights, reference, min_peak=expect_nonzero)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
def test_activation_matches_reference(activation, use_bias):
    rng = np.random.default_rng(4)
    layer = SwappableSimpleRNN(
        UNITS, activation=activation, use_bias=use_bias, return_sequences=True, return_state=True
    )
    layer(data(rng))
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
    layer(data(rng))
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


@requires_tensorflow
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
    assert [v.name for v in layer.trainable_variables] == ["kernel", "recurrent_kernel", "bias"]
    assert_gradients_match_finite_differences(layer, x, lambda hs: tf.reduce_sum(hs * projection))


# ----------------------------------------------------------------------------------------------
# Saving.
# ----------------------------------------------------------------------------------------------


def test_identity_gain_survives_saving(tmp_path):
    """Keras 3's own `Identity` forgets its gain in `get_config`; the cell keeps it."""
    from custom_layers.simple_rnn import ScaledIdentity

    x = data(np.random.default_rng(15))
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
