"""Tests of `SwappableLSTMCell` / `SwappableLSTM`.

Three kinds of evidence that the cell computes what its docstring says:
- parity with `keras.layers.LSTM` when built with defaults (same weights, same outputs);
- an independent NumPy LSTM (`layer_checks.reference_lstm`), from the docstring's equations, for
  every activation override and every variant (peephole, CIFG, layer norm, Greff et al. 2017's
  NIG / NFG / NOG / NIAF / NOAF) and their combinations;
- gradients against central finite differences in float64.

Shared checks (shapes, arguments, saving, dropout, JAX): `test_contract.py`.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from layer_checks import (
    FEATURES,
    LSTM_PARTS,
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
    predictions_in_fresh_process,
    random_state,
    random_weights,
    randomize,
    reference_for,
    requires_tensorflow,
    set_named_weights,
)

from custom_layers.lstm import SwappableLSTM, SwappableLSTMCell

# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.LSTM.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("masking", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_defaults_match_keras_lstm(return_sequences, go_backwards, masking):
    rng = np.random.default_rng(0)
    options = dict(return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    builtin = functional_model(keras.layers.LSTM(UNITS, **options), masking)
    swappable = functional_model(SwappableLSTM(UNITS, **options), masking)
    swappable.set_weights(builtin.get_weights())
    assert_same_predictions(builtin, swappable, padded_data(rng), num_outputs=3)  # output, h, c


def test_defaults_match_keras_lstm_without_state_or_bias():
    rng = np.random.default_rng(1)
    builtin = keras.layers.LSTM(UNITS, use_bias=False, return_sequences=True)
    swappable = SwappableLSTM(UNITS, use_bias=False, return_sequences=True)
    x = data(rng)
    builtin(x)
    swappable(x)
    swappable.set_weights(builtin.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


def test_weight_layout_matches_keras_lstm():
    x = data(np.random.default_rng(2))
    builtin = keras.layers.LSTM(UNITS)
    swappable = SwappableLSTM(UNITS)
    names = assert_same_weight_layout(builtin, swappable, x)
    assert names == [
        ("kernel", (FEATURES, 4 * UNITS)),
        ("recurrent_kernel", (UNITS, 4 * UNITS)),
        ("bias", (4 * UNITS,)),
    ]


def test_cell_set_weights_from_keras_cell():
    x = data(np.random.default_rng(3))
    builtin = keras.layers.RNN(keras.layers.LSTMCell(UNITS), return_sequences=True)
    swappable = keras.layers.RNN(SwappableLSTMCell(UNITS), return_sequences=True)
    builtin(x)
    swappable(x)
    swappable.cell.set_weights(builtin.cell.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


@pytest.mark.parametrize("initializer", ["orthogonal", "identity"])
def test_peephole_with_matrix_only_kernel_initializer(initializer):
    layer = SwappableLSTM(UNITS, peephole=True, kernel_initializer=initializer)
    layer(data(np.random.default_rng(4)))
    assert {v.name for v in layer.weights} >= {"input_peephole", "forget_peephole"}


# ----------------------------------------------------------------------------------------------
# Against the NumPy reference.
# ----------------------------------------------------------------------------------------------

PART_ARGUMENTS = LSTM_PARTS


def _check_against_reference(kwargs, seed=0):
    rng = np.random.default_rng(seed)
    x = data(rng)
    h0 = random_state(rng)
    c0 = random_state(rng)
    layer = SwappableLSTM(UNITS, return_sequences=True, return_state=True, **kwargs)
    layer(x, initial_state=[h0, c0])
    reference = reference_for("lstm", kwargs)  # `reference_lstm`, defaults from the docstring
    assert_matches_reference(layer, x, [h0, c0], random_weights(layer, rng), reference)


@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
@pytest.mark.parametrize("part", list(PART_ARGUMENTS))
def test_each_part_activation_matches_reference(part, activation):
    _check_against_reference({PART_ARGUMENTS[part]: activation})


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        dict(activation="relu"),
        dict(recurrent_activation="hard_sigmoid"),
        dict(activation="sigmoid", recurrent_activation="tanh", cell_activation="relu"),
        dict(
            input_gate_activation="relu",
            forget_gate_activation="hard_sigmoid",
            output_gate_activation="tanh",
            candidate_activation="relu",
            cell_activation="sigmoid",
        ),
    ],
    ids=["defaults", "activation", "recurrent_activation", "override_wins", "all_parts"],
)
def test_activation_defaults_and_overrides_match_reference(kwargs):
    _check_against_reference(kwargs, seed=1)


VARIANTS = {
    "peephole": dict(peephole=True),
    "cifg": dict(coupled_input_forget=True),
    "layer_norm": dict(layer_norm=True),
    "peephole_cifg": dict(peephole=True, coupled_input_forget=True),
    "peephole_layer_norm": dict(peephole=True, layer_norm=True),
    "cifg_layer_norm": dict(coupled_input_forget=True, layer_norm=True),
    "peephole_cifg_layer_norm": dict(peephole=True, coupled_input_forget=True, layer_norm=True),
    "all_with_activations": dict(
        peephole=True,
        coupled_input_forget=True,
        layer_norm=True,
        forget_gate_activation="hard_sigmoid",
        output_gate_activation="relu",
        candidate_activation="relu",
        cell_activation="sigmoid",
    ),
    "peephole_layer_norm_relu_gates": dict(
        peephole=True, layer_norm=True, recurrent_activation="relu", activation="relu"
    ),
    "peephole_no_bias": dict(peephole=True, use_bias=False),
    "layer_norm_no_bias": dict(layer_norm=True, use_bias=False),
}


@pytest.mark.parametrize("kwargs", list(VARIANTS.values()), ids=list(VARIANTS))
def test_variants_match_reference(kwargs):
    _check_against_reference(kwargs, seed=2)


@pytest.mark.parametrize("activation", sorted(NP_ACTIVATIONS))
@pytest.mark.parametrize("part", ["forget", "output", "candidate", "cell"])
def test_cifg_part_activation_matches_reference(part, activation):
    _check_against_reference(
        {"coupled_input_forget": True, "peephole": True, PART_ARGUMENTS[part]: activation}, seed=3
    )


# ----------------------------------------------------------------------------------------------
# Greff et al. (2017) ablations: NIG, NFG, NOG (a gate removed: the constant 1, and no weights),
# NIAF, NOAF (a linear candidate / cell activation).
# ----------------------------------------------------------------------------------------------

NO_GATES = dict(input_gate=False, forget_gate=False, output_gate=False)

ABLATIONS = {
    "nig": dict(input_gate=False),
    "nfg": dict(forget_gate=False),
    "nog": dict(output_gate=False),
    "niaf": dict(candidate_activation="linear"),
    "noaf": dict(cell_activation="linear"),
    "nig_peephole_layer_norm": dict(input_gate=False, peephole=True, layer_norm=True),
    "nfg_peephole": dict(forget_gate=False, peephole=True),
    "nog_peephole": dict(output_gate=False, peephole=True),
    "nog_cifg_peephole": dict(output_gate=False, coupled_input_forget=True, peephole=True),
    "nfg_nog_layer_norm_relu": dict(
        forget_gate=False, output_gate=False, layer_norm=True, input_gate_activation="relu"
    ),
    "no_gates": NO_GATES,
}


@pytest.mark.parametrize("kwargs", list(ABLATIONS.values()), ids=list(ABLATIONS))
def test_ablations_match_reference(kwargs):
    _check_against_reference(kwargs, seed=10)


# name: (arguments, the blocks of the gate weights, the gates with a peephole)
LAYOUTS = {
    "nig": (dict(input_gate=False), ("forget", "candidate", "output"), ("forget", "output")),
    "nfg": (dict(forget_gate=False), ("input", "candidate", "output"), ("input", "output")),
    "nog": (dict(output_gate=False), ("input", "forget", "candidate"), ("input", "forget")),
    "nog_cifg": (
        dict(output_gate=False, coupled_input_forget=True),
        ("forget", "candidate"),
        ("forget",),
    ),
    "no_gates": (NO_GATES, ("candidate",), ()),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_removed_gates_have_no_weights(name):
    kwargs, blocks, peepholes = LAYOUTS[name]
    x = data(np.random.default_rng(11))
    layer = SwappableLSTM(UNITS, peephole=True, layer_norm=True, **kwargs)
    standard = SwappableLSTM(UNITS, peephole=True, layer_norm=True)
    layer(x)
    standard(x)
    width = len(blocks) * UNITS
    assert layer.cell.blocks == blocks
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == [
        ("kernel", (FEATURES, width)),
        ("recurrent_kernel", (UNITS, width)),
        ("bias", (width,)),
        *[(f"{gate}_peephole", (UNITS,)) for gate in peepholes],
        ("input_norm_gamma", (width,)),
        ("recurrent_norm_gamma", (width,)),
        ("cell_norm_gamma", (UNITS,)),
        ("cell_norm_beta", (UNITS,)),
    ]
    # Each removed block: its kernel, recurrent kernel, bias and two norm gains; and peepholes.
    removed = (4 - len(blocks)) * UNITS * (FEATURES + UNITS + 3) + (3 - len(peepholes)) * UNITS
    assert layer.count_params() == standard.count_params() - removed < standard.count_params()


@pytest.mark.parametrize(
    "kwargs, forget",
    [(dict(input_gate=False), 0), (dict(output_gate=False), 1), (dict(forget_gate=False), None)],
    ids=["nig", "nog", "nfg"],
)
def test_unit_forget_bias_with_removed_gates(kwargs, forget):
    """The forget block, where it is, starts at ones; without a forget gate, nothing does."""
    layer = SwappableLSTM(UNITS, **kwargs)
    layer(data(np.random.default_rng(12)))
    for index, block in enumerate(np.split(np.asarray(layer.cell.bias), 3)):
        np.testing.assert_array_equal(block, 1.0 if index == forget else 0.0)


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (
            dict(coupled_input_forget=True, forget_gate=False),
            r"`coupled_input_forget=True` sets i_t = 1 - f_t, which is 0 with `forget_gate=False`",
        ),
        (
            dict(coupled_input_forget=True, input_gate=False),
            r"`coupled_input_forget=True` already removes the input gate \(i_t = 1 - f_t\), and "
            r"`input_gate=False` would set i_t = 1 instead",
        ),
        (
            dict(input_gate=False, input_gate_activation="relu"),
            r"`input_gate=False` removes the input gate \(i_t = 1\), so `input_gate_activation` "
            r"must be None, got 'relu'",
        ),
        (
            dict(forget_gate=False, forget_gate_activation="hard_sigmoid"),
            r"`forget_gate=False` removes the forget gate \(f_t = 1\), so "
            r"`forget_gate_activation` must be None, got 'hard_sigmoid'",
        ),
        (
            dict(output_gate=False, output_gate_activation="tanh"),
            r"`output_gate=False` removes the output gate \(o_t = 1\), so "
            r"`output_gate_activation` must be None, got 'tanh'",
        ),
        (
            dict(forget_gate="sigmoid"),
            r"argument `forget_gate`, expected a bool, got 'sigmoid'",
        ),
    ],
    ids=["cifg_nfg", "cifg_nig", "nig_activation", "nfg_activation", "nog_activation", "not_bool"],
)
def test_removed_gate_contradictions(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        SwappableLSTMCell(UNITS, **kwargs)


def test_ablations_load_in_fresh_process(tmp_path):
    """One model holding every ablation, saved and loaded with `safe_mode=True` elsewhere."""
    saved = [
        dict(input_gate=False, peephole=True),
        dict(forget_gate=False, layer_norm=True),
        dict(output_gate=False, coupled_input_forget=True, peephole=True),
        dict(candidate_activation="linear"),
        dict(cell_activation="linear"),
        NO_GATES,
    ]
    layers = [SwappableLSTM(3, return_sequences=True, **kwargs) for kwargs in saved]
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), *layers, keras.layers.Dense(1)])
    rng = np.random.default_rng(13)
    randomize(model, rng, scale=0.4)
    x = data(rng)
    predictions, config = predictions_in_fresh_process(model, x, tmp_path)
    np.testing.assert_allclose(predictions, model.predict_on_batch(x), rtol=1e-6, atol=1e-6)
    loaded = [
        layer["config"] for layer in config["layers"] if layer["class_name"] == "SwappableLSTM"
    ]
    for kwargs, layer_config in zip(saved, loaded, strict=True):
        expected = {"input_gate": True, "forget_gate": True, "output_gate": True, **kwargs}
        assert {key: layer_config[key] for key in expected} == expected


# ----------------------------------------------------------------------------------------------
# unit_forget_bias.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cifg", [False, True], ids=["lstm", "cifg"])
def test_unit_forget_bias_sets_forget_block(cifg):
    layer = SwappableLSTM(UNITS, coupled_input_forget=cifg)
    layer(data(np.random.default_rng(5)))
    blocks = np.split(np.asarray(layer.cell.bias), 3 if cifg else 4)
    forget = 0 if cifg else 1
    for index, block in enumerate(blocks):
        np.testing.assert_array_equal(block, 1.0 if index == forget else 0.0)


@pytest.mark.parametrize("cifg", [False, True], ids=["lstm", "cifg"])
def test_unit_forget_bias_keeps_other_blocks_initializer(cifg):
    layer = SwappableLSTM(UNITS, coupled_input_forget=cifg, bias_initializer="random_normal")
    layer(data(np.random.default_rng(6)))
    blocks = np.split(np.asarray(layer.cell.bias), 3 if cifg else 4)
    forget = 0 if cifg else 1
    for index, block in enumerate(blocks):
        if index == forget:
            np.testing.assert_array_equal(block, 1.0)
        else:
            assert np.all(block != 0.0) and np.all(block != 1.0)


@pytest.mark.parametrize("cifg", [False, True], ids=["lstm", "cifg"])
def test_unit_forget_bias_off(cifg):
    layer = SwappableLSTM(UNITS, coupled_input_forget=cifg, unit_forget_bias=False)
    layer(data(np.random.default_rng(7)))
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), 0.0)


def test_unit_forget_bias_matches_keras():
    x = data(np.random.default_rng(8))
    builtin = keras.layers.LSTM(UNITS)
    swappable = SwappableLSTM(UNITS)
    builtin(x)
    swappable(x)
    np.testing.assert_array_equal(np.asarray(swappable.cell.bias), np.asarray(builtin.cell.bias))


# ----------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64).
# ----------------------------------------------------------------------------------------------

GRADIENT_CONFIGS = {
    "defaults": {},
    "relu_gates": dict(recurrent_activation="relu", candidate_activation="relu"),
    "relu_everywhere_peephole": dict(activation="relu", recurrent_activation="relu", peephole=True),
    "hard_sigmoid_peephole_layer_norm": dict(
        forget_gate_activation="hard_sigmoid", peephole=True, layer_norm=True
    ),
    "cifg_peephole_layer_norm": dict(coupled_input_forget=True, peephole=True, layer_norm=True),
    # Greff et al. (2017): no input gate, no forget gate, no output gate.
    "nig": dict(input_gate=False),
    "nfg_peephole": dict(forget_gate=False, peephole=True),
    "nog_layer_norm": dict(output_gate=False, layer_norm=True),
}


@requires_tensorflow
@pytest.mark.parametrize("kwargs", list(GRADIENT_CONFIGS.values()), ids=list(GRADIENT_CONFIGS))
def test_gradients_match_finite_differences(kwargs):
    import tensorflow as tf

    rng = np.random.default_rng(9)
    units, features, steps, batch = 2, 2, 4, 2
    x = rng.normal(size=(batch, steps, features))
    layer = SwappableLSTM(
        units, return_sequences=True, return_state=True, dtype="float64", **kwargs
    )
    layer.build(x.shape)
    weights = random_weights(layer, rng, scale=0.8)
    if "bias" in weights:
        weights["bias"] += 1.0  # most ReLU gates open, so few gradients are exactly zero
    set_named_weights(layer, weights)
    projection = rng.normal(size=(batch, steps, units))
    assert {"kernel", "recurrent_kernel"} <= {v.name for v in layer.trainable_variables}

    def objective(outputs):
        hs, _, c = outputs
        return tf.reduce_sum(hs * projection) + tf.reduce_sum(c**2)

    assert_gradients_match_finite_differences(layer, x, objective)


# ----------------------------------------------------------------------------------------------
# Arguments.
# ----------------------------------------------------------------------------------------------


def test_cifg_with_input_gate_activation():
    pattern = r"`coupled_input_forget=True`.*`input_gate_activation` must be None, got 'relu'"
    with pytest.raises(ValueError, match=pattern):
        SwappableLSTM(UNITS, coupled_input_forget=True, input_gate_activation="relu")


def test_layer_with_activation_none_matches_keras_linear():
    """`activation=None` means linear, as it does for `keras.layers.LSTM`."""
    x = data(np.random.default_rng(5))
    ours, theirs = SwappableLSTM(UNITS, activation=None), keras.layers.LSTM(UNITS, activation=None)
    ours(x), theirs(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
