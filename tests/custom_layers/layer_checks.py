"""Helpers shared by the tests of the recurrent layers (`from layer_checks import ...`).

The pieces of evidence the cell tests have in common: a NumPy version of each activation for the
independent references, random weights set by name, parity scaffolding against the Keras
built-ins, a float64 finite-difference gradient check, dropout and saving round trips, and a run of
the same layer under the JAX backend in a subprocess.
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

UNITS = 4
FEATURES = 3
STEPS = 5
BATCH = 3
ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------------------------
# NumPy activations for the references.
# ----------------------------------------------------------------------------------------------

NP_ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    # Keras 3: hard_sigmoid(x) = relu6(x + 3) / 6.
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}


def expected_acts(kwargs, part_arguments, gates):
    """The NumPy activation name of each part, following the defaults the docstrings state.

    Gates follow `recurrent_activation` (default `"sigmoid"`), the other parts `activation`
    (default `"tanh"`); a part's own argument, when given, wins.

    Args:
        kwargs: the layer's keyword arguments.
        part_arguments: the argument naming each part's activation, by part.
        gates: the parts that are gates.
    """
    gate = kwargs.get("recurrent_activation", "sigmoid")
    branch = kwargs.get("activation", "tanh")
    acts = {part: gate if part in gates else branch for part in part_arguments}
    for part, argument in part_arguments.items():
        if argument in kwargs:
            acts[part] = kwargs[argument]
    return acts


# ----------------------------------------------------------------------------------------------
# Inputs and weights.
# ----------------------------------------------------------------------------------------------


def data(rng, batch=BATCH, steps=STEPS, features=FEATURES):
    """Random float32 inputs `(batch, steps, features)`."""
    return rng.normal(size=(batch, steps, features)).astype("float32")


def padded_data(rng):
    """Inputs with padded (all-zero) steps: sample 1 post-padded, sample 2 pre-padded."""
    x = data(rng)
    x[1, -2:] = 0.0
    x[2, :2] = 0.0
    return x


def random_state(rng, batch=BATCH, units=UNITS):
    """A random float32 initial state `(batch, units)`."""
    return rng.normal(scale=0.5, size=(batch, units)).astype("float32")


def random_value(variable, rng, scale=0.5):
    """A non-trivial random value for one weight: norm gains (`*_gamma`) in [0.5, 1.5], others
    normal with standard deviation `scale`."""
    shape = tuple(variable.shape)
    if variable.name.endswith("_gamma"):
        return rng.uniform(0.5, 1.5, size=shape)
    return rng.normal(scale=scale, size=shape)


def random_weights(layer, rng, scale=0.5):
    """Non-trivial random values for every weight of a built layer, by weight name."""
    return {v.name: random_value(v, rng, scale) for v in layer.weights}


def randomize(model, rng, scale=0.5):
    """Sets non-trivial random values in every weight of a built layer or model, in order (names
    may repeat across the layers of a model)."""
    model.set_weights([random_value(v, rng, scale) for v in model.weights])


def set_named_weights(layer, weights):
    """Sets the weights of a built layer from a dict by weight name."""
    layer.set_weights([weights[v.name] for v in layer.weights])


# ----------------------------------------------------------------------------------------------
# Parity and references.
# ----------------------------------------------------------------------------------------------


def assert_doctests_pass(module, optionflags=0):
    """The examples in `module`'s docstrings run and give what they show."""
    globs = {"keras": keras, "np": np}
    result = doctest.testmod(module, extraglobs=globs, optionflags=optionflags)
    assert result.attempted > 0 and result.failed == 0


def functional_model(layer, masking, steps=STEPS, features=FEATURES):
    """`keras.Model` of `layer` on `(steps, features)` inputs, behind `Masking(0.0)` if asked."""
    inputs = keras.Input((steps, features))
    hidden = keras.layers.Masking(mask_value=0.0)(inputs) if masking else inputs
    return keras.Model(inputs, layer(hidden))


def assert_same_predictions(expected_model, model, x, num_outputs=1):
    """`model` predicts what `expected_model` does on `x`, output by output (shapes included).

    Args:
        num_outputs: how many outputs each model gives (1: a single array).
    """
    expected = expected_model.predict_on_batch(x)
    got = model.predict_on_batch(x)
    if num_outputs > 1:
        assert len(got) == len(expected) == num_outputs
    else:
        got, expected = [got], [expected]
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, atol=1e-5)


def assert_same_weight_layout(builtin, swappable, x):
    """Builds both layers on `x`; their weights have the same names and shapes, which are
    returned as `[(name, shape), ...]`."""
    builtin(x)
    swappable(x)
    names = [(v.name, tuple(v.shape)) for v in swappable.weights]
    assert names == [(v.name, tuple(v.shape)) for v in builtin.weights]
    return names


def assert_matches_reference(layer, x, states, weights, reference, min_peak=0.05):
    """Sets `weights` (by name) in the built `layer` and compares its outputs on `x` from
    `states` with those of a float64 NumPy `reference`.

    Args:
        layer: a built layer with `return_sequences=True, return_state=True`.
        x: float32 inputs.
        states: the float32 initial states.
        weights: the values to set, by weight name.
        reference: `reference(x, weights, *states)` in float64, returning the layer's outputs
            `(hs, *final_states)`.
        min_peak: the reference's sequence output must exceed this somewhere, so that the
            comparison is not vacuous.
    """
    set_named_weights(layer, weights)
    got = [np.asarray(t) for t in layer(x, initial_state=list(states))]
    want = reference(
        x.astype("float64"),
        {k: np.asarray(v).astype("float32").astype("float64") for k, v in weights.items()},
        *(s.astype("float64") for s in states),
    )
    assert np.abs(want[0]).max() > min_peak  # the comparison is not vacuous
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64, TensorFlow).
# ----------------------------------------------------------------------------------------------

requires_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape"
)


def assert_gradients_match_finite_differences(layer, x, objective, eps=1e-6):
    """The `tf.GradientTape` gradients of `objective(layer outputs)` with respect to each
    trainable weight of the float64 `layer` match central finite differences.

    Args:
        layer: a built float64 layer.
        x: float64 inputs.
        objective: maps the layer's outputs on `x` to a scalar (TensorFlow ops).
        eps: the finite-difference step.
    """
    import tensorflow as tf

    non_trainable = [v.value for v in layer.non_trainable_variables]

    @tf.function
    def loss(values):
        outputs, _ = layer.stateless_call(values, non_trainable, x)
        return objective(outputs)

    values = [tf.constant(np.asarray(v)) for v in layer.trainable_variables]
    with tf.GradientTape() as tape:
        tape.watch(values)
        value = loss(values)
    grads = [g.numpy() for g in tape.gradient(value, values)]
    names = [v.name for v in layer.trainable_variables]

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

BAD_UNITS = {"zero": 0, "negative": -3, "float": 2.5}
BAD_RATES = [("dropout", -0.1), ("dropout", 1.0), ("recurrent_dropout", 1.5)]


def unknown_activation_pattern(argument):
    """The start of the error for an unknown activation name in `argument`, as a regex."""
    return rf"`{argument}`: 'no_such_act' is not a Keras activation. Expected one of \[.*'relu'"


def assert_rejects_units(make, units):
    """`make(units)` raises the error for a units value that is not a positive integer."""
    message = f"argument `units`, expected a positive integer, got {units!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        make(units)


def assert_rejects_rate(make, argument, value):
    """`make(**{argument: value})` raises the error for a dropout rate outside [0, 1)."""
    message = f"argument `{argument}`, expected a float in [0, 1), got {value!r}."
    with pytest.raises(ValueError, match=re.escape(message)):
        make(**{argument: value})


# ----------------------------------------------------------------------------------------------
# Dropout.
# ----------------------------------------------------------------------------------------------


def assert_dropout_only_in_training(make, x, **rates):
    """Dropout (the `rates`) changes outputs in training only, and is reproducible by seed.

    Args:
        make: `make(**kwargs)` returns a new layer with `return_sequences=True` and `kwargs`.
        x: the inputs.
        rates: `dropout` and / or `recurrent_dropout`.
    """

    def dropped():
        layer = make(seed=1234, **rates)
        layer(x)
        return layer

    first, second = dropped(), dropped()
    plain = make()
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


def assert_same_outputs(first, second, x):
    """Given `first`'s weights, `second` gives the same outputs (`return_state` layers)."""
    second.set_weights(first.get_weights())
    for a, b in zip(first(x), second(x), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def assert_keras_file_round_trip(layer, x, path):
    """A model of `layer` behind `Masking(0.0)`, saved to `path` and loaded with
    `safe_mode=True`, predicts the same on `x`; returns the loaded model."""
    inputs = keras.Input((STEPS, FEATURES))
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)
    return loaded


# ----------------------------------------------------------------------------------------------
# JAX backend.
# ----------------------------------------------------------------------------------------------

_JAX_SCRIPT = """
import importlib, json, sys
import numpy as np
import keras
importlib.import_module(sys.argv[4])
data = np.load(sys.argv[1])
layer = keras.saving.deserialize_keras_object(json.loads(sys.argv[2]))
layer(data["x"])
layer.set_weights([data[f"w{i}"] for i in range(len(layer.weights))])
np.save(sys.argv[3], keras.ops.convert_to_numpy(layer(data["x"])))
"""


def outputs_under_jax(layer, x, tmp_path):
    """The outputs on `x` of `layer` rebuilt from its config, with its weights, in a subprocess
    under the JAX backend (on CPU); the module that defines the layer's class is imported there.
    """
    weights = {f"w{i}": w for i, w in enumerate(layer.get_weights())}
    np.savez(tmp_path / "data.npz", x=x, **weights)
    config = json.dumps(keras.saving.serialize_keras_object(layer))
    out = tmp_path / "out.npy"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    subprocess.run(
        [
            sys.executable,
            "-c",
            _JAX_SCRIPT,
            str(tmp_path / "data.npz"),
            config,
            str(out),
            type(layer).__module__,
        ],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    return np.load(out)
