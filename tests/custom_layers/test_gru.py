"""Tests of `SwappableGRUCell` / `SwappableGRU`.

Three kinds of evidence that the cell computes what its docstring says:
- parity with `keras.layers.GRU` (both `reset_after` modes) when built with defaults;
- an independent NumPy GRU, written here from the docstring's equations, for every activation in
  every gate and the candidate;
- gradients against central finite differences in float64.
"""

from __future__ import annotations

import doctest
import functools
import json

import keras
import numpy as np
import pytest
from layer_checks import (
    BAD_RATES,
    BAD_UNITS,
    FEATURES,
    NP_ACTIVATIONS,
    UNITS,
    assert_doctests_pass,
    assert_dropout_only_in_training,
    assert_gradients_match_finite_differences,
    assert_keras_file_round_trip,
    assert_matches_reference,
    assert_rejects_rate,
    assert_rejects_units,
    assert_same_outputs,
    assert_same_predictions,
    assert_same_weight_layout,
    data,
    expected_acts,
    functional_model,
    outputs_under_jax,
    padded_data,
    random_state,
    random_weights,
    randomize,
    requires_tensorflow,
    set_named_weights,
    unknown_activation_pattern,
)

import custom_layers.gru
from custom_layers.gru import SwappableGRU, SwappableGRUCell

# ----------------------------------------------------------------------------------------------
# The NumPy reference.
# ----------------------------------------------------------------------------------------------


def reference_gru(x, w, h0, *, acts, reset_after):
    """Runs the GRU of the `SwappableGRUCell` docstring over `x (batch, time, features)`.

    Args:
        x: inputs, float64.
        w: weights by name (`kernel`, `recurrent_kernel`, optional `bias`).
        h0: initial state `(batch, units)`.
        acts: NumPy activation names for `update`, `reset`, `candidate`.
        reset_after: the reset-gate convention.

    Returns:
        `(hs (batch, time, units), h_T)`.
    """
    f_z, f_r, f_c = (NP_ACTIVATIONS[acts[k]] for k in ("update", "reset", "candidate"))
    kernel, recurrent = w["kernel"], w["recurrent_kernel"]
    units = recurrent.shape[0]
    bias = w.get("bias")
    if bias is None:
        b_x, b_h = 0.0, 0.0
    elif reset_after:
        b_x, b_h = bias[0], bias[1]
    else:
        b_x, b_h = bias, 0.0
    u_z, u_r, u_c = (recurrent[:, i * units : (i + 1) * units] for i in range(3))
    h = h0
    hs = []
    for t in range(x.shape[1]):
        x_z, x_r, x_c = np.split(x[:, t] @ kernel + b_x, 3, axis=-1)
        r_z, r_r, r_c = np.split(np.broadcast_to(b_h, (3 * units,)), 3)
        z = f_z(x_z + h @ u_z + r_z)
        r = f_r(x_r + h @ u_r + r_r)
        if reset_after:
            candidate = f_c(x_c + r * (h @ u_c + r_c))
        else:
            candidate = f_c(x_c + (r * h) @ u_c)
        h = z * h + (1.0 - z) * candidate
        hs.append(h)
    return np.stack(hs, axis=1), h


def test_docstring_examples_run():
    assert_doctests_pass(custom_layers.gru, optionflags=doctest.ELLIPSIS)


# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.GRU.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False], ids=["after", "before"])
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
def test_defaults_match_keras_gru(options, reset_after):
    rng = np.random.default_rng(0)
    options = dict(options)
    masking = options.pop("masking", False)
    builtin = functional_model(keras.layers.GRU(UNITS, reset_after=reset_after, **options), masking)
    swappable = functional_model(SwappableGRU(UNITS, reset_after=reset_after, **options), masking)
    randomize(builtin, rng)  # Keras initializes the GRU bias to zeros
    swappable.set_weights(builtin.get_weights())
    num_outputs = 2 if options.get("return_state") else 1  # output, h
    assert_same_predictions(builtin, swappable, padded_data(rng), num_outputs)


@pytest.mark.parametrize("reset_after", [True, False], ids=["after", "before"])
def test_defaults_match_keras_gru_without_bias(reset_after):
    x = data(np.random.default_rng(1))
    builtin = keras.layers.GRU(
        UNITS, use_bias=False, reset_after=reset_after, return_sequences=True
    )
    swappable = SwappableGRU(UNITS, use_bias=False, reset_after=reset_after, return_sequences=True)
    builtin(x)
    swappable(x)
    swappable.set_weights(builtin.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


@pytest.mark.parametrize(
    ("reset_after", "bias_shape"),
    [(True, (2, 3 * UNITS)), (False, (3 * UNITS,))],
    ids=["after", "before"],
)
def test_weight_layout_matches_keras_gru(reset_after, bias_shape):
    x = data(np.random.default_rng(2))
    builtin = keras.layers.GRU(UNITS, reset_after=reset_after)
    swappable = SwappableGRU(UNITS, reset_after=reset_after)
    names = assert_same_weight_layout(builtin, swappable, x)
    assert names == [
        ("kernel", (FEATURES, 3 * UNITS)),
        ("recurrent_kernel", (UNITS, 3 * UNITS)),
        ("bias", bias_shape),
    ]


def test_cell_set_weights_from_keras_cell():
    rng = np.random.default_rng(3)
    x = data(rng)
    builtin = keras.layers.RNN(keras.layers.GRUCell(UNITS), return_sequences=True)
    swappable = keras.layers.RNN(SwappableGRUCell(UNITS), return_sequences=True)
    builtin(x)
    swappable(x)
    randomize(builtin.cell, rng, scale=1.0)
    swappable.cell.set_weights(builtin.cell.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Against the NumPy reference.
# ----------------------------------------------------------------------------------------------

PART_ARGUMENTS = {
    "update": "update_gate_activation",
    "reset": "reset_gate_activation",
    "candidate": "candidate_activation",
}
GATES = ("update", "reset")


def _check_against_reference(kwargs, seed=0):
    rng = np.random.default_rng(seed)
    x = data(rng)
    h0 = random_state(rng)
    layer = SwappableGRU(UNITS, return_sequences=True, return_state=True, **kwargs)
    layer(x, initial_state=[h0])
    reference = functools.partial(
        reference_gru,
        acts=expected_acts(kwargs, PART_ARGUMENTS, GATES),
        reset_after=kwargs.get("reset_after", True),
    )
    assert_matches_reference(layer, x, [h0], random_weights(layer, rng), reference)


@pytest.mark.parametrize("reset_after", [True, False], ids=["after", "before"])
@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
@pytest.mark.parametrize("part", list(PART_ARGUMENTS))
def test_each_part_activation_matches_reference(part, activation, reset_after):
    _check_against_reference({PART_ARGUMENTS[part]: activation, "reset_after": reset_after})


@pytest.mark.parametrize("reset_after", [True, False], ids=["after", "before"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(activation="relu"),
        dict(recurrent_activation="hard_sigmoid"),
        dict(activation="sigmoid", recurrent_activation="relu", reset_gate_activation="tanh"),
        dict(
            update_gate_activation="relu",
            reset_gate_activation="hard_sigmoid",
            candidate_activation="sigmoid",
        ),
        dict(
            update_gate_activation="hard_sigmoid",
            reset_gate_activation="relu",
            candidate_activation="relu",
            use_bias=False,
        ),
    ],
    ids=["defaults", "activation", "recurrent_activation", "override_wins", "all", "no_bias"],
)
def test_activation_defaults_and_overrides_match_reference(kwargs, reset_after):
    _check_against_reference({**kwargs, "reset_after": reset_after}, seed=1)


# ----------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64).
# ----------------------------------------------------------------------------------------------

GRADIENT_CONFIGS = {
    "defaults_after": {},
    "defaults_before": dict(reset_after=False),
    "relu_gates_after": dict(recurrent_activation="relu", candidate_activation="relu"),
    "relu_update_hard_sigmoid_reset_before": dict(
        update_gate_activation="relu",
        reset_gate_activation="hard_sigmoid",
        activation="relu",
        reset_after=False,
    ),
}


@requires_tensorflow
@pytest.mark.parametrize("kwargs", list(GRADIENT_CONFIGS.values()), ids=list(GRADIENT_CONFIGS))
def test_gradients_match_finite_differences(kwargs):
    import tensorflow as tf

    rng = np.random.default_rng(9)
    units, features, steps, batch = 2, 2, 4, 2
    x = rng.normal(size=(batch, steps, features))
    layer = SwappableGRU(units, return_sequences=True, dtype="float64", **kwargs)
    layer.build(x.shape)
    weights = random_weights(layer, rng, scale=0.8)
    weights["bias"] += 0.5  # most ReLU gates open, so few gradients are exactly zero
    set_named_weights(layer, weights)
    projection = rng.normal(size=(batch, steps, units))
    assert [v.name for v in layer.trainable_variables] == ["kernel", "recurrent_kernel", "bias"]
    assert_gradients_match_finite_differences(layer, x, lambda hs: tf.reduce_sum(hs * projection))


# ----------------------------------------------------------------------------------------------
# Bad arguments.
# ----------------------------------------------------------------------------------------------

ACTIVATION_ARGUMENTS = ["activation", "recurrent_activation", *PART_ARGUMENTS.values()]


@pytest.mark.parametrize("argument", ACTIVATION_ARGUMENTS)
def test_unknown_activation_name(argument):
    pattern = unknown_activation_pattern(argument)
    with pytest.raises(ValueError, match=pattern):
        SwappableGRUCell(UNITS, **{argument: "no_such_act"})


@pytest.mark.parametrize("argument", ACTIVATION_ARGUMENTS)
def test_unknown_activation_name_in_layer(argument):
    with pytest.raises(ValueError, match=rf"`{argument}`: 'no_such_act'"):
        SwappableGRU(UNITS, **{argument: "no_such_act"})


@pytest.mark.parametrize("units", list(BAD_UNITS.values()), ids=list(BAD_UNITS))
def test_bad_units(units):
    assert_rejects_units(SwappableGRU, units)


@pytest.mark.parametrize(("argument", "value"), BAD_RATES)
def test_bad_dropout(argument, value):
    assert_rejects_rate(lambda **kwargs: SwappableGRUCell(UNITS, **kwargs), argument, value)


# ----------------------------------------------------------------------------------------------
# Dropout.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False], ids=["after", "before"])
def test_dropout_applies_only_in_training(reset_after):
    x = data(np.random.default_rng(10))

    def make(**kwargs):
        return SwappableGRU(UNITS, reset_after=reset_after, return_sequences=True, **kwargs)

    assert_dropout_only_in_training(make, x, dropout=0.5, recurrent_dropout=0.5)


# ----------------------------------------------------------------------------------------------
# Config round trip and saving.
# ----------------------------------------------------------------------------------------------

NON_DEFAULT = dict(
    activation="relu",
    recurrent_activation="hard_sigmoid",
    update_gate_activation="sigmoid",
    candidate_activation="tanh",
    reset_after=False,
    kernel_initializer="he_normal",
    recurrent_regularizer=keras.regularizers.L2(1e-3),
    bias_constraint=keras.constraints.MaxNorm(2.0),
    dropout=0.25,
    recurrent_dropout=0.125,
    seed=7,
    return_sequences=True,
    return_state=True,
    go_backwards=True,
)


def test_layer_config_round_trip():
    x = data(np.random.default_rng(11))
    layer = SwappableGRU(UNITS, **NON_DEFAULT)
    layer(x)
    config = layer.get_config()
    assert config["reset_gate_activation"] is None  # unset overrides stay unset
    assert config["update_gate_activation"] == "sigmoid"
    assert config["reset_after"] is False
    restored = SwappableGRU.from_config(json.loads(json.dumps(config)))
    restored(x)
    assert restored.get_config() == config
    assert restored.cell.reset_gate_activation is keras.activations.hard_sigmoid
    assert restored.cell.candidate_activation is keras.activations.tanh
    assert_same_outputs(layer, restored, x)


def test_cell_config_round_trip():
    x = data(np.random.default_rng(12))
    cell = SwappableGRUCell(UNITS, reset_gate_activation="relu", candidate_activation="sigmoid")
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer(x)
    restored = keras.layers.RNN(
        SwappableGRUCell.from_config(cell.get_config()), return_sequences=True
    )
    restored(x)
    assert restored.cell.get_config() == cell.get_config()
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(layer(x)), atol=1e-6)


def test_keras_file_round_trip(tmp_path):
    x = data(np.random.default_rng(13))
    layer = SwappableGRU(
        UNITS, update_gate_activation="relu", reset_after=False, return_sequences=True
    )
    assert_keras_file_round_trip(layer, x, tmp_path / "gru.keras")


# ----------------------------------------------------------------------------------------------
# JAX backend.
# ----------------------------------------------------------------------------------------------


def test_same_outputs_on_jax_backend(tmp_path):
    pytest.importorskip("jax")
    rng = np.random.default_rng(14)
    x = data(rng)
    layer = SwappableGRU(
        UNITS,
        update_gate_activation="relu",
        reset_gate_activation="hard_sigmoid",
        return_sequences=True,
    )
    layer(x)
    set_named_weights(layer, random_weights(layer, rng))
    np.testing.assert_allclose(
        outputs_under_jax(layer, x, tmp_path), np.asarray(layer(x)), atol=1e-5
    )
