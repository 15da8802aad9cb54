"""Tests of `IndRNNCell` / `IndRNN` (Li et al. 2018) and the `MaxAbs` constraint.

- parity with `keras.layers.SimpleRNN` whose recurrent kernel is `diag(u)` (the IndRNN is that
  special case), with masking, `go_backwards`, `return_state`;
- an independent NumPy IndRNN (`layer_checks.reference_indrnn`), from the docstring's equation;
- gradients against central finite differences in float64;
- `recurrent_max_abs`: the bound holds at initialization and after optimizer updates, composes
  with a user constraint, and survives `get_config` and `.keras` saving.

Shared checks (shapes, arguments, saving, dropout, JAX): `test_contract.py`.
"""

from __future__ import annotations

import functools
import json
import re

import keras
import numpy as np
import pytest
from layer_checks import (
    FEATURES,
    NP_ACTIVATIONS,
    STEPS,
    UNITS,
    assert_gradients_match_finite_differences,
    assert_keras_file_round_trip,
    assert_matches_reference,
    assert_same_predictions,
    data,
    functional_model,
    padded_data,
    random_state,
    random_weights,
    reference_indrnn,
    requires_tensorflow,
    set_named_weights,
)

from custom_layers.indrnn import IndRNN, IndRNNCell, MaxAbs

# ----------------------------------------------------------------------------------------------
# Weights.
# ----------------------------------------------------------------------------------------------


def test_default_initialization():
    """The layout (`kernel (F, U)`, `recurrent_kernel (U,)`, `bias (U,)`) is in the contract."""
    layer = IndRNN(UNITS)
    layer(data(np.random.default_rng(0)))
    u = np.asarray(layer.cell.recurrent_kernel)
    assert np.all((u >= 0.0) & (u <= 1.0)) and np.ptp(u) > 0  # default: uniform in [0, 1]
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), 0.0)


def test_weight_layout_without_bias():
    layer = IndRNN(UNITS, use_bias=False)
    layer(data(np.random.default_rng(1)))
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == [
        ("kernel", (FEATURES, UNITS)),
        ("recurrent_kernel", (UNITS,)),
    ]


# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.SimpleRNN over diag(u).
# ----------------------------------------------------------------------------------------------


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
    builtin = functional_model(
        keras.layers.SimpleRNN(UNITS, activation=activation, **options), masking
    )
    indrnn = functional_model(IndRNN(UNITS, activation=activation, **options), masking)
    kernel = rng.normal(scale=0.5, size=(FEATURES, UNITS))
    u = rng.uniform(-1.2, 1.2, size=UNITS)
    bias = rng.normal(scale=0.5, size=UNITS)
    builtin.set_weights([kernel, np.diag(u), bias])
    indrnn.set_weights([kernel, u, bias])
    num_outputs = 2 if options.get("return_state") else 1  # output, h
    assert_same_predictions(builtin, indrnn, padded_data(rng), num_outputs)


# ----------------------------------------------------------------------------------------------
# Against the NumPy reference.
# ----------------------------------------------------------------------------------------------


def _check_against_reference(layer, rng, weights=None):
    x = data(rng)
    h0 = random_state(rng)
    layer(x, initial_state=[h0])
    if weights is None:
        weights = {v.name: np.asarray(v) for v in layer.weights}
    reference = functools.partial(
        reference_indrnn, activation=keras.activations.serialize(layer.cell.activation)
    )
    assert_matches_reference(layer, x, [h0], weights, reference)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
def test_activation_matches_reference(activation, use_bias):
    rng = np.random.default_rng(3)
    layer = IndRNN(
        UNITS, activation=activation, use_bias=use_bias, return_sequences=True, return_state=True
    )
    layer(data(rng))
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
    layer(data(rng))
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
    layer(data(rng))
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
    layer(data(rng))
    _sgd_step(layer, {"recurrent_kernel": np.array([5.0, -5.0, 0.0, -0.1], "float32")})
    after = np.asarray(layer.cell.recurrent_kernel)
    assert after[0] == 0.0 and after[1] == 0.5
    assert np.all((after >= 0.0) & (after <= 0.5))


def test_without_recurrent_max_abs_no_clipping():
    layer = IndRNN(UNITS)
    layer(data(np.random.default_rng(8)))
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
    x = data(rng, batch=16)
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


@requires_tensorflow
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
    assert [v.name for v in layer.trainable_variables] == ["kernel", "recurrent_kernel", "bias"]
    assert_gradients_match_finite_differences(layer, x, lambda hs: tf.reduce_sum(hs * projection))


# ----------------------------------------------------------------------------------------------
# Bad arguments.
# ----------------------------------------------------------------------------------------------


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
    x = data(np.random.default_rng(12))
    layer = IndRNN(UNITS, **NON_DEFAULT)
    layer(x)
    config = layer.get_config()
    assert config["recurrent_max_abs"] == 0.75
    assert config["recurrent_constraint"]["class_name"] == "NonNeg"  # the user's, not composed
    restored = IndRNN.from_config(json.loads(json.dumps(config)))  # outputs: see the contract
    restored(x)
    _assert_bound_enforced(restored, 0.75, non_neg=True)


def test_cell_config_round_trip_with_max_abs_constraint():
    """`MaxAbs` passed as `recurrent_constraint` is serialized like any Keras constraint."""
    x = data(np.random.default_rng(13))
    cell = IndRNNCell(UNITS, activation="hard_sigmoid", recurrent_constraint=MaxAbs(0.3))
    config = json.loads(json.dumps(cell.get_config()))
    assert config["recurrent_constraint"]["registered_name"] == "custom_layers>MaxAbs"
    restored = keras.layers.RNN(IndRNNCell.from_config(config), return_sequences=True)
    restored(x)
    assert isinstance(restored.cell.recurrent_constraint, MaxAbs)
    assert restored.cell.recurrent_constraint.max_value == 0.3
    _assert_bound_enforced(restored, 0.3, non_neg=False)


def test_keras_file_round_trip(tmp_path):
    x = data(np.random.default_rng(14))
    layer = IndRNN(UNITS, recurrent_max_abs=0.6, return_sequences=True)
    loaded = assert_keras_file_round_trip(layer, x, tmp_path / "indrnn.keras")
    layer = loaded.layers[-1]
    assert layer.cell.recurrent_max_abs == 0.6
    _assert_bound_enforced(layer, 0.6, non_neg=False)


# ----------------------------------------------------------------------------------------------
# recurrent_max_abs after recurrent_constraint.
# ----------------------------------------------------------------------------------------------


def test_bound_is_applied_after_recurrent_constraint():
    """Whatever the user constraint does, the bound has the last word."""
    layer = IndRNN(UNITS, recurrent_max_abs=0.5, recurrent_constraint=lambda w: w + 10.0)
    layer(data(np.random.default_rng(16)))
    _sgd_step(layer, {"recurrent_kernel": np.zeros(UNITS, "float32")})
    np.testing.assert_allclose(np.asarray(layer.cell.recurrent_kernel), 0.5)
