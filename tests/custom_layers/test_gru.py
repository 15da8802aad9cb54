"""Tests of `SwappableGRUCell` / `SwappableGRU`.

Three kinds of evidence that the cell computes what its docstring says:
- parity with `keras.layers.GRU` (both `reset_after` modes) when built with defaults;
- an independent NumPy GRU, written here from the docstring's equations, for every activation in
  every gate and the candidate;
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

import custom_layers.gru
from custom_layers.gru import SwappableGRU, SwappableGRUCell

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


def random_weights(layer, rng, scale=0.5):
    """Non-trivial random values for every weight of a built layer, by weight name."""
    return {v.name: rng.normal(scale=scale, size=tuple(v.shape)) for v in layer.weights}


def set_named_weights(layer, weights):
    layer.set_weights([weights[v.name] for v in layer.weights])


def _data(rng, batch=BATCH, steps=STEPS, features=FEATURES):
    return rng.normal(size=(batch, steps, features)).astype("float32")


def test_docstring_examples_run():
    globs = {"keras": keras, "np": np}
    result = doctest.testmod(custom_layers.gru, extraglobs=globs, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------------
# Parity with keras.layers.GRU.
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


def _randomize(model, rng):
    """Random weights everywhere (Keras initializes the GRU bias to zeros)."""
    model.set_weights([rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()])


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
    builtin = _model(keras.layers.GRU(UNITS, reset_after=reset_after, **options), masking)
    swappable = _model(SwappableGRU(UNITS, reset_after=reset_after, **options), masking)
    _randomize(builtin, rng)
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


@pytest.mark.parametrize("reset_after", [True, False], ids=["after", "before"])
def test_defaults_match_keras_gru_without_bias(reset_after):
    x = _data(np.random.default_rng(1))
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
    x = _data(np.random.default_rng(2))
    builtin = keras.layers.GRU(UNITS, reset_after=reset_after)
    swappable = SwappableGRU(UNITS, reset_after=reset_after)
    builtin(x)
    swappable(x)
    names = [(v.name, tuple(v.shape)) for v in swappable.weights]
    assert names == [(v.name, tuple(v.shape)) for v in builtin.weights]
    assert names == [
        ("kernel", (FEATURES, 3 * UNITS)),
        ("recurrent_kernel", (UNITS, 3 * UNITS)),
        ("bias", bias_shape),
    ]


def test_cell_set_weights_from_keras_cell():
    rng = np.random.default_rng(3)
    x = _data(rng)
    builtin = keras.layers.RNN(keras.layers.GRUCell(UNITS), return_sequences=True)
    swappable = keras.layers.RNN(SwappableGRUCell(UNITS), return_sequences=True)
    builtin(x)
    swappable(x)
    builtin.cell.set_weights([rng.normal(size=w.shape) for w in builtin.cell.get_weights()])
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
    layer = SwappableGRU(UNITS, return_sequences=True, return_state=True, **kwargs)
    layer(x, initial_state=[h0])
    weights = random_weights(layer, rng)
    set_named_weights(layer, weights)
    hs, h = (np.asarray(t) for t in layer(x, initial_state=[h0]))
    want_hs, want_h = reference_gru(
        x.astype("float64"),
        {k: v.astype("float32").astype("float64") for k, v in weights.items()},
        h0.astype("float64"),
        acts=_expected_acts(kwargs),
        reset_after=kwargs.get("reset_after", True),
    )
    assert np.abs(want_hs).max() > 0.05  # the comparison is not vacuous
    np.testing.assert_allclose(hs, want_hs, atol=1e-5)
    np.testing.assert_allclose(h, want_h, atol=1e-5)


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


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
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

ACTIVATION_ARGUMENTS = ["activation", "recurrent_activation", *PART_ARGUMENTS.values()]


@pytest.mark.parametrize("argument", ACTIVATION_ARGUMENTS)
def test_unknown_activation_name(argument):
    pattern = rf"`{argument}`: 'no_such_act' is not a Keras activation. Expected one of \[.*'relu'"
    with pytest.raises(ValueError, match=pattern):
        SwappableGRUCell(UNITS, **{argument: "no_such_act"})


@pytest.mark.parametrize("argument", ACTIVATION_ARGUMENTS)
def test_unknown_activation_name_in_layer(argument):
    with pytest.raises(ValueError, match=rf"`{argument}`: 'no_such_act'"):
        SwappableGRU(UNITS, **{argument: "no_such_act"})


@pytest.mark.parametrize("units", [0, -3, 2.5], ids=["zero", "negative", "float"])
def test_bad_units(units):
    message = f"argument `units`, expected a positive integer, got {units!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        SwappableGRU(units)


@pytest.mark.parametrize(
    ("argument", "value"),
    [("dropout", -0.1), ("dropout", 1.0), ("recurrent_dropout", 1.5)],
)
def test_bad_dropout(argument, value):
    message = f"argument `{argument}`, expected a float in [0, 1), got {value!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        SwappableGRUCell(UNITS, **{argument: value})


# ----------------------------------------------------------------------------------------------
# Dropout.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False], ids=["after", "before"])
def test_dropout_applies_only_in_training(reset_after):
    x = _data(np.random.default_rng(10))
    options = dict(reset_after=reset_after, return_sequences=True)

    def make():
        layer = SwappableGRU(UNITS, dropout=0.5, recurrent_dropout=0.5, seed=1234, **options)
        layer(x)
        return layer

    first, second = make(), make()
    plain = SwappableGRU(UNITS, **options)
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


def _same_outputs(first, second, x):
    second.set_weights(first.get_weights())
    for a, b in zip(first(x), second(x), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_layer_config_round_trip():
    x = _data(np.random.default_rng(11))
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
    _same_outputs(layer, restored, x)


def test_cell_config_round_trip():
    x = _data(np.random.default_rng(12))
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
    x = _data(np.random.default_rng(13))
    inputs = keras.Input((STEPS, FEATURES))
    outputs = SwappableGRU(
        UNITS, update_gate_activation="relu", reset_after=False, return_sequences=True
    )(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "gru.keras"
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
import custom_layers.gru
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
    layer = SwappableGRU(
        UNITS,
        update_gate_activation="relu",
        reset_gate_activation="hard_sigmoid",
        return_sequences=True,
    )
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
