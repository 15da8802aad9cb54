"""Tests of `SwappableGRUCell` / `SwappableGRU`.

Three kinds of evidence that the cell computes what its docstring says:
- parity with `keras.layers.GRU` (both `reset_after` modes) when built with defaults;
- an independent NumPy GRU (`layer_checks.reference_gru`), from the docstring's equations,
  for every activation in every gate and the candidate;
- gradients against central finite differences in float64.

Shared checks (shapes, arguments, saving, dropout, JAX): `test_contract.py`.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from layer_checks import (
    FEATURES,
    GRU_PARTS,
    NP_ACTIVATIONS,
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
    reference_for,
    requires_tensorflow,
    set_named_weights,
)

from custom_layers.gru import SwappableGRU, SwappableGRUCell

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

PART_ARGUMENTS = GRU_PARTS


def _check_against_reference(kwargs, seed=0):
    rng = np.random.default_rng(seed)
    x = data(rng)
    h0 = random_state(rng)
    layer = SwappableGRU(UNITS, return_sequences=True, return_state=True, **kwargs)
    layer(x, initial_state=[h0])
    reference = reference_for("gru", kwargs)  # `reference_gru`, defaults from the docstring
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
