"""Helpers shared by the tests of the recurrent layers (`from layer_checks import ...`).

The pieces of evidence the cell tests have in common: a NumPy version of each activation for the
independent references, random weights set by name, parity scaffolding against the Keras
built-ins, a float64 finite-difference gradient check, dropout and saving round trips, and a run of
the same layer under the JAX backend in a subprocess.
"""

from __future__ import annotations

import doctest
import functools
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
# NumPy references, written from the cells' docstring equations (float64).
# ----------------------------------------------------------------------------------------------

# The argument naming each part's activation, and the parts that are gates, by family.
LSTM_PARTS = {
    "input": "input_gate_activation",
    "forget": "forget_gate_activation",
    "output": "output_gate_activation",
    "candidate": "candidate_activation",
    "cell": "cell_activation",
}
LSTM_GATES = ("input", "forget", "output")
# What the references can compute: the swept activations, and linear (Greff et al.'s NIAF, NOAF).
REFERENCE_ACTIVATIONS = {**NP_ACTIVATIONS, "linear": lambda x: x}
GRU_PARTS = {
    "update": "update_gate_activation",
    "reset": "reset_gate_activation",
    "candidate": "candidate_activation",
}
GRU_GATES = ("update", "reset")

LAYER_NORM_EPSILON = 1e-3


def _np_layer_norm(x, gamma, beta=0.0):
    """Layer norm over the last axis with population variance, as Ba et al. (2016)."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + LAYER_NORM_EPSILON) * gamma + beta


def reference_lstm(
    x,
    w,
    h0,
    c0,
    *,
    acts,
    peephole=False,
    cifg=False,
    layer_norm=False,
    input_gate=True,
    forget_gate=True,
    output_gate=True,
):
    """Runs the LSTM of the `SwappableLSTMCell` docstring over `x (batch, time, features)`.

    Args:
        x: inputs, float64.
        w: weights by name (`kernel`, `recurrent_kernel`, optional `bias`, peepholes, norms).
        h0, c0: initial states `(batch, units)`.
        acts: NumPy activation names for `input`, `forget`, `output`, `candidate`, `cell`.
        input_gate, forget_gate, output_gate: False: that gate is the constant 1 and has no block
            in the weights nor peephole (Greff et al. 2017's NIG, NFG, NOG).

    Returns:
        `(hs (batch, time, units), h_T, c_T)`.
    """
    f_in, f_f, f_o = (REFERENCE_ACTIVATIONS[acts[k]] for k in ("input", "forget", "output"))
    f_g, f_c = REFERENCE_ACTIVATIONS[acts["candidate"]], REFERENCE_ACTIVATIONS[acts["cell"]]
    # The blocks of the gate weights, in Keras's order, less the gates the cell does not have.
    present = {
        "i": input_gate and not cifg,
        "f": forget_gate,
        "g": True,
        "o": output_gate,
    }
    blocks = [block for block in "ifgo" if present[block]]
    h, c = h0, c0
    hs = []
    for t in range(x.shape[1]):
        z_x = x[:, t] @ w["kernel"]
        z_h = h @ w["recurrent_kernel"]
        if layer_norm:
            z_x = _np_layer_norm(z_x, w["input_norm_gamma"])
            z_h = _np_layer_norm(z_h, w["recurrent_norm_gamma"])
        z = z_x + z_h + w.get("bias", 0.0)
        z = dict(zip(blocks, np.split(z, len(blocks), axis=-1), strict=True))
        f = 1.0
        if forget_gate:
            z_f = z["f"] + w["forget_peephole"] * c if peephole else z["f"]
            f = f_f(z_f)
        if cifg:
            i = 1.0 - f
        elif input_gate:
            z_i = z["i"] + w["input_peephole"] * c if peephole else z["i"]
            i = f_in(z_i)
        else:
            i = 1.0
        c = f * c + i * f_g(z["g"])
        o = 1.0
        if output_gate:
            z_o = z["o"] + w["output_peephole"] * c if peephole else z["o"]
            o = f_o(z_o)
        c_out = _np_layer_norm(c, w["cell_norm_gamma"], w["cell_norm_beta"]) if layer_norm else c
        h = o * f_c(c_out)
        hs.append(h)
    return np.stack(hs, axis=1), h, c


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


def reference_rnn(x, w, h0, *, activation, diagonal=False):
    """Runs `h_t = activation(x_t W + h_{t-1} U + b)` over `x (batch, time, features)`; with
    `diagonal`, the IndRNN's `h_t = activation(x_t W + u * h_{t-1} + b)` (U is the vector u).

    Returns:
        `(hs (batch, time, units), h_T)`.
    """
    f = NP_ACTIVATIONS[activation]
    recurrent = w["recurrent_kernel"]
    h = h0
    hs = []
    for t in range(x.shape[1]):
        h_u = recurrent * h if diagonal else h @ recurrent
        h = f(x[:, t] @ w["kernel"] + h_u + w.get("bias", 0.0))
        hs.append(h)
    return np.stack(hs, axis=1), h


reference_indrnn = functools.partial(reference_rnn, diagonal=True)


def reference_for(family, kwargs):
    """The NumPy reference of a `family` layer built with `kwargs`, following the defaults the
    docstrings state: `reference(x, w, *states) -> (hs, *final_states)`, in float64.

    Args:
        family: `"lstm"`, `"gru"`, `"simple_rnn"` or `"indrnn"`.
        kwargs: the layer's keyword arguments.
    """
    if family == "lstm":
        return functools.partial(
            reference_lstm,
            acts=expected_acts(kwargs, LSTM_PARTS, LSTM_GATES),
            peephole=kwargs.get("peephole", False),
            cifg=kwargs.get("coupled_input_forget", False),
            layer_norm=kwargs.get("layer_norm", False),
            input_gate=kwargs.get("input_gate", True),
            forget_gate=kwargs.get("forget_gate", True),
            output_gate=kwargs.get("output_gate", True),
        )
    if family == "gru":
        return functools.partial(
            reference_gru,
            acts=expected_acts(kwargs, GRU_PARTS, GRU_GATES),
            reset_after=kwargs.get("reset_after", True),
        )
    if family == "simple_rnn":
        return functools.partial(reference_rnn, activation=kwargs.get("activation", "tanh"))
    if family == "indrnn":
        return functools.partial(reference_indrnn, activation=kwargs.get("activation", "relu"))
    raise ValueError(f"Unknown family {family!r}.")


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


_LOAD_SCRIPT = """
import json, sys
import numpy as np
import keras
import custom_layers  # registers the layers; nothing else is imported from the tests
path, inputs, predictions, config = sys.argv[1:]
model = keras.saving.load_model(path, safe_mode=True)
np.save(predictions, model.predict_on_batch(np.load(inputs)))
with open(config, "w") as file:
    json.dump(model.get_config(), file)
print("loaded", keras.backend.backend())
"""


def predictions_in_fresh_process(model, x, work):
    """Saves `model` to a `.keras` file in `work` and loads it in a new interpreter (which imports
    `custom_layers` only) with `safe_mode=True`.

    Returns:
        `(predictions, config)`: the loaded model's predictions on `x` and its config (as JSON
        gives it back), in that process.
    """
    path = work / "model.keras"
    model.save(path)
    np.save(work / "inputs.npy", x)
    paths = [path, work / "inputs.npy", work / "predictions.npy", work / "config.json"]
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_SCRIPT, *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded" in result.stdout
    return np.load(work / "predictions.npy"), json.loads((work / "config.json").read_text())


# ----------------------------------------------------------------------------------------------
# JAX backend.
# ----------------------------------------------------------------------------------------------

_JAX_SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
import keras
import custom_layers  # registers the layers
work = Path(sys.argv[1])
print("backend", keras.backend.backend())
for index, config in enumerate(json.loads((work / "configs.json").read_text())):
    data = np.load(work / f"data_{index}.npz")
    layer = keras.saving.deserialize_keras_object(config)
    layer(data["x"])
    layer.set_weights([data[f"w{i}"] for i in range(len(layer.weights))])
    outputs = layer(data["x"])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    np.savez(work / f"out_{index}.npz", *[keras.ops.convert_to_numpy(t) for t in outputs])
"""


def outputs_under_jax(layers, inputs, work):
    """The outputs of each layer on its inputs, rebuilt from its config with its weights, in one
    subprocess under the JAX backend (on CPU), which imports `custom_layers` only.

    Args:
        layers: built layers.
        inputs: one array of inputs per layer.
        work: an empty folder for the files exchanged with the subprocess.

    Returns:
        For each layer, the list of its outputs (one array, or the output and the states).
    """
    configs = [keras.saving.serialize_keras_object(layer) for layer in layers]
    (work / "configs.json").write_text(json.dumps(configs))
    for index, (layer, x) in enumerate(zip(layers, inputs, strict=True)):
        weights = {f"w{i}": w for i, w in enumerate(layer.get_weights())}
        np.savez(work / f"data_{index}.npz", x=x, **weights)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, str(work)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "backend jax" in result.stdout
    outputs = []
    for index in range(len(layers)):
        saved = np.load(work / f"out_{index}.npz")
        outputs.append([saved[f"arr_{i}"] for i in range(len(saved.files))])
    return outputs
