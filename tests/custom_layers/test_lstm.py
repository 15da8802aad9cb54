"""Tests of `SwappableLSTMCell` / `SwappableLSTM`.

Three kinds of evidence that the cell computes what its docstring says:
- parity with `keras.layers.LSTM` when built with defaults (same weights, same outputs);
- an independent NumPy LSTM, written here from the docstring's equations, for every activation
  override and every variant (peephole, CIFG, layer norm) and their combinations;
- gradients against central finite differences in float64.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from custom_layers.lstm import SwappableLSTM, SwappableLSTMCell

UNITS = 4
FEATURES = 3
STEPS = 5
BATCH = 3

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
LAYER_NORM_EPSILON = 1e-3


def _np_layer_norm(x, gamma, beta=0.0):
    """Layer norm over the last axis with population variance, as Ba et al. (2016)."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + LAYER_NORM_EPSILON) * gamma + beta


def reference_lstm(x, w, h0, c0, *, acts, peephole=False, cifg=False, layer_norm=False):
    """Runs the LSTM of the `SwappableLSTMCell` docstring over `x (batch, time, features)`.

    Args:
        x: inputs, float64.
        w: weights by name (`kernel`, `recurrent_kernel`, optional `bias`, peepholes, norms).
        h0, c0: initial states `(batch, units)`.
        acts: NumPy activation names for `input`, `forget`, `output`, `candidate`, `cell`.

    Returns:
        `(hs (batch, time, units), h_T, c_T)`.
    """
    f_in, f_f, f_o = (NP_ACTIVATIONS[acts[k]] for k in ("input", "forget", "output"))
    f_g, f_c = NP_ACTIVATIONS[acts["candidate"]], NP_ACTIVATIONS[acts["cell"]]
    h, c = h0, c0
    hs = []
    for t in range(x.shape[1]):
        z_x = x[:, t] @ w["kernel"]
        z_h = h @ w["recurrent_kernel"]
        if layer_norm:
            z_x = _np_layer_norm(z_x, w["input_norm_gamma"])
            z_h = _np_layer_norm(z_h, w["recurrent_norm_gamma"])
        z = z_x + z_h + w.get("bias", 0.0)
        if cifg:
            z_f, z_g, z_o = np.split(z, 3, axis=-1)
        else:
            z_i, z_f, z_g, z_o = np.split(z, 4, axis=-1)
        if peephole:
            z_f = z_f + w["forget_peephole"] * c
        f = f_f(z_f)
        if cifg:
            i = 1.0 - f
        else:
            if peephole:
                z_i = z_i + w["input_peephole"] * c
            i = f_in(z_i)
        c = f * c + i * f_g(z_g)
        if peephole:
            z_o = z_o + w["output_peephole"] * c
        o = f_o(z_o)
        c_out = _np_layer_norm(c, w["cell_norm_gamma"], w["cell_norm_beta"]) if layer_norm else c
        h = o * f_c(c_out)
        hs.append(h)
    return np.stack(hs, axis=1), h, c


def random_weights(layer, rng, scale=0.5):
    """Non-trivial random values for every weight of a built LSTM layer, by weight name."""
    weights = {}
    for variable in layer.weights:
        shape = tuple(variable.shape)
        if variable.name.endswith("_gamma"):
            weights[variable.name] = rng.uniform(0.5, 1.5, size=shape)
        else:
            weights[variable.name] = rng.normal(scale=scale, size=shape)
    return weights


def set_named_weights(layer, weights):
    layer.set_weights([weights[v.name] for v in layer.weights])


def _data(rng, batch=BATCH, steps=STEPS, features=FEATURES):
    return rng.normal(size=(batch, steps, features)).astype("float32")


# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.LSTM.
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


@pytest.mark.parametrize("masking", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_defaults_match_keras_lstm(return_sequences, go_backwards, masking):
    rng = np.random.default_rng(0)
    options = dict(return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    builtin = _model(keras.layers.LSTM(UNITS, **options), masking)
    swappable = _model(SwappableLSTM(UNITS, **options), masking)
    swappable.set_weights(builtin.get_weights())
    x = _padded_data(rng)
    expected = builtin.predict_on_batch(x)
    got = swappable.predict_on_batch(x)
    assert len(got) == len(expected) == 3  # output, h, c
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=1e-5)


def test_defaults_match_keras_lstm_without_state_or_bias():
    rng = np.random.default_rng(1)
    builtin = keras.layers.LSTM(UNITS, use_bias=False, return_sequences=True)
    swappable = SwappableLSTM(UNITS, use_bias=False, return_sequences=True)
    x = _data(rng)
    builtin(x)
    swappable(x)
    swappable.set_weights(builtin.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


def test_weight_layout_matches_keras_lstm():
    x = _data(np.random.default_rng(2))
    builtin = keras.layers.LSTM(UNITS)
    swappable = SwappableLSTM(UNITS)
    builtin(x)
    swappable(x)
    names = [(v.name, tuple(v.shape)) for v in swappable.weights]
    assert names == [(v.name, tuple(v.shape)) for v in builtin.weights]
    assert names == [
        ("kernel", (FEATURES, 4 * UNITS)),
        ("recurrent_kernel", (UNITS, 4 * UNITS)),
        ("bias", (4 * UNITS,)),
    ]


def test_cell_set_weights_from_keras_cell():
    x = _data(np.random.default_rng(3))
    builtin = keras.layers.RNN(keras.layers.LSTMCell(UNITS), return_sequences=True)
    swappable = keras.layers.RNN(SwappableLSTMCell(UNITS), return_sequences=True)
    builtin(x)
    swappable(x)
    swappable.cell.set_weights(builtin.cell.get_weights())
    np.testing.assert_allclose(swappable(x), builtin(x), atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        (dict(peephole=True), ["input_peephole", "forget_peephole", "output_peephole"]),
        (dict(peephole=True, coupled_input_forget=True), ["forget_peephole", "output_peephole"]),
        (
            dict(layer_norm=True),
            ["input_norm_gamma", "recurrent_norm_gamma", "cell_norm_gamma", "cell_norm_beta"],
        ),
    ],
)
def test_variant_weights(kwargs, names):
    layer = SwappableLSTM(UNITS, **kwargs)
    layer(_data(np.random.default_rng(4)))
    gates = 3 if kwargs.get("coupled_input_forget") else 4
    shapes = {v.name: tuple(v.shape) for v in layer.weights}
    assert list(shapes) == ["kernel", "recurrent_kernel", "bias", *names]
    assert shapes["kernel"] == (FEATURES, gates * UNITS)
    assert shapes["recurrent_kernel"] == (UNITS, gates * UNITS)
    assert shapes["bias"] == (gates * UNITS,)
    for name in names:
        width = gates * UNITS if name in ("input_norm_gamma", "recurrent_norm_gamma") else UNITS
        assert shapes[name] == (width,)


@pytest.mark.parametrize("initializer", ["orthogonal", "identity"])
def test_peephole_with_matrix_only_kernel_initializer(initializer):
    layer = SwappableLSTM(UNITS, peephole=True, kernel_initializer=initializer)
    layer(_data(np.random.default_rng(4)))
    assert {v.name for v in layer.weights} >= {"input_peephole", "forget_peephole"}


# ----------------------------------------------------------------------------------------------
# Against the NumPy reference.
# ----------------------------------------------------------------------------------------------

PART_ARGUMENTS = {
    "input": "input_gate_activation",
    "forget": "forget_gate_activation",
    "output": "output_gate_activation",
    "candidate": "candidate_activation",
    "cell": "cell_activation",
}
GATES = ("input", "forget", "output")


def _expected_acts(kwargs):
    """The NumPy activation name of each part, following the defaults the docstring states."""
    gate = kwargs.get("recurrent_activation", "sigmoid")
    branch = kwargs.get("activation", "tanh")
    acts = {part: gate if part in GATES else branch for part in PART_ARGUMENTS}
    for part, argument in PART_ARGUMENTS.items():
        if argument in kwargs:
            acts[part] = kwargs[argument]
    return acts


def _check_against_reference(kwargs, seed=0):
    rng = np.random.default_rng(seed)
    x = _data(rng)
    h0 = rng.normal(scale=0.5, size=(BATCH, UNITS)).astype("float32")
    c0 = rng.normal(scale=0.5, size=(BATCH, UNITS)).astype("float32")
    layer = SwappableLSTM(UNITS, return_sequences=True, return_state=True, **kwargs)
    layer(x, initial_state=[h0, c0])
    weights = random_weights(layer, rng)
    set_named_weights(layer, weights)
    hs, h, c = (np.asarray(t) for t in layer(x, initial_state=[h0, c0]))
    want_hs, want_h, want_c = reference_lstm(
        x.astype("float64"),
        {k: v.astype("float32").astype("float64") for k, v in weights.items()},
        h0.astype("float64"),
        c0.astype("float64"),
        acts=_expected_acts(kwargs),
        peephole=kwargs.get("peephole", False),
        cifg=kwargs.get("coupled_input_forget", False),
        layer_norm=kwargs.get("layer_norm", False),
    )
    assert np.abs(want_hs).max() > 0.05  # the comparison is not vacuous
    np.testing.assert_allclose(hs, want_hs, atol=1e-5)
    np.testing.assert_allclose(h, want_h, atol=1e-5)
    np.testing.assert_allclose(c, want_c, atol=1e-5)


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
# unit_forget_bias.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cifg", [False, True], ids=["lstm", "cifg"])
def test_unit_forget_bias_sets_forget_block(cifg):
    layer = SwappableLSTM(UNITS, coupled_input_forget=cifg)
    layer(_data(np.random.default_rng(5)))
    blocks = np.split(np.asarray(layer.cell.bias), 3 if cifg else 4)
    forget = 0 if cifg else 1
    for index, block in enumerate(blocks):
        np.testing.assert_array_equal(block, 1.0 if index == forget else 0.0)


@pytest.mark.parametrize("cifg", [False, True], ids=["lstm", "cifg"])
def test_unit_forget_bias_keeps_other_blocks_initializer(cifg):
    layer = SwappableLSTM(UNITS, coupled_input_forget=cifg, bias_initializer="random_normal")
    layer(_data(np.random.default_rng(6)))
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
    layer(_data(np.random.default_rng(7)))
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), 0.0)


def test_unit_forget_bias_matches_keras():
    x = _data(np.random.default_rng(8))
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
}


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
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
    non_trainable = [v.value for v in layer.non_trainable_variables]

    @tf.function
    def loss(values):
        (hs, h, c), _ = layer.stateless_call(values, non_trainable, x)
        return tf.reduce_sum(hs * projection) + tf.reduce_sum(c**2)

    values = [tf.constant(np.asarray(v)) for v in layer.trainable_variables]
    with tf.GradientTape() as tape:
        tape.watch(values)
        value = loss(values)
    grads = [g.numpy() for g in tape.gradient(value, values)]
    names = [v.name for v in layer.trainable_variables]
    assert {"kernel", "recurrent_kernel"} <= set(names)

    eps = 1e-6
    for index, (name, grad) in enumerate(zip(names, grads, strict=True)):
        base = values[index].numpy()
        numeric = np.zeros_like(base)
        for position in np.ndindex(base.shape):
            shifted = [v for v in values]
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

ACTIVATION_ARGUMENTS = ["activation", "recurrent_activation", *PART_ARGUMENTS.values()]


@pytest.mark.parametrize("argument", ACTIVATION_ARGUMENTS)
def test_unknown_activation_name(argument):
    pattern = rf"`{argument}`: 'no_such_act' is not a Keras activation. Expected one of \[.*'relu'"
    with pytest.raises(ValueError, match=pattern):
        SwappableLSTMCell(UNITS, **{argument: "no_such_act"})


@pytest.mark.parametrize("argument", ACTIVATION_ARGUMENTS)
def test_unknown_activation_name_in_layer(argument):
    with pytest.raises(ValueError, match=rf"`{argument}`: 'no_such_act'"):
        SwappableLSTM(UNITS, **{argument: "no_such_act"})


@pytest.mark.parametrize("units", [0, -3, 2.5], ids=["zero", "negative", "float"])
def test_bad_units(units):
    message = f"argument `units`, expected a positive integer, got {units!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        SwappableLSTM(units)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("dropout", -0.1), ("dropout", 1.0), ("recurrent_dropout", 1.5)],
)
def test_bad_dropout(argument, value):
    message = f"argument `{argument}`, expected a float in [0, 1), got {value!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        SwappableLSTM(UNITS, **{argument: value})


def test_cifg_with_input_gate_activation():
    pattern = r"`coupled_input_forget=True`.*`input_gate_activation` must be None, got 'relu'"
    with pytest.raises(ValueError, match=pattern):
        SwappableLSTM(UNITS, coupled_input_forget=True, input_gate_activation="relu")


# ----------------------------------------------------------------------------------------------
# Dropout.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rates",
    [dict(dropout=0.5), dict(recurrent_dropout=0.5), dict(dropout=0.3, recurrent_dropout=0.3)],
    ids=["dropout", "recurrent_dropout", "both"],
)
def test_dropout_applies_only_in_training(rates):
    rng = np.random.default_rng(10)
    x = _data(rng)

    def make():
        layer = SwappableLSTM(UNITS, seed=1234, return_sequences=True, **rates)
        layer(x)
        return layer

    first, second = make(), make()
    plain = SwappableLSTM(UNITS, return_sequences=True)
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


def test_layer_with_activation_none_matches_keras_linear():
    """`activation=None` means linear, as it does for `keras.layers.LSTM`."""
    x = _data(np.random.default_rng(5))
    ours, theirs = SwappableLSTM(UNITS, activation=None), keras.layers.LSTM(UNITS, activation=None)
    ours(x), theirs(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
