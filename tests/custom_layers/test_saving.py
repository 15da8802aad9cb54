"""Saving: `.keras` files load in a fresh process with `safe_mode=True`, and every argument
round-trips through `get_config` / `from_config`."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from layer_checks import randomize

REPO = Path(__file__).resolve().parents[2]
STEPS, FEATURES, BATCH = 5, 3, 4


@keras.saving.register_keras_serializable(package="tests")
def lecun_tanh(x):
    """A registered custom activation; the loading process registers the same function."""
    return 1.7159 * keras.ops.tanh(2.0 / 3.0 * x)


def _layer_class(module, name):
    return getattr(pytest.importorskip(module), name)


# ----------------------------------------------------------------------------------------------
# .keras files in a fresh process.
# ----------------------------------------------------------------------------------------------

LOAD_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import keras
    import numpy as np

    import custom_layers  # registers the layers; nothing else is imported from the tests


    @keras.saving.register_keras_serializable(package="tests")
    def lecun_tanh(x):
        return 1.7159 * keras.ops.tanh(2.0 / 3.0 * x)


    path, inputs, predictions, config = sys.argv[1:]
    model = keras.saving.load_model(path, safe_mode=True)
    np.save(predictions, model.predict_on_batch(np.load(inputs)))
    with open(config, "w") as file:
        json.dump(model.get_config(), file)
    print("loaded", keras.backend.backend())
    """
)


def _load_in_fresh_process(model, tmp_path, x):
    """Saves `model`, loads it in a new interpreter; returns its predictions and config there."""
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "inputs.npy", x)
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            str(path),
            str(tmp_path / "inputs.npy"),
            str(tmp_path / "predictions.npy"),
            str(tmp_path / "config.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded" in result.stdout
    loaded_config = json.loads((tmp_path / "config.json").read_text())
    return np.load(tmp_path / "predictions.npy"), loaded_config


def _json(config):
    return json.loads(json.dumps(config))


def test_stacked_bidirectional_model_loads_in_fresh_process(tmp_path):
    from custom_layers.lstm import SwappableLSTM

    SwappableGRU = _layer_class("custom_layers.gru", "SwappableGRU")
    inputs = keras.Input((STEPS, FEATURES))
    hidden = keras.layers.Masking(0.0)(inputs)
    hidden = keras.layers.Bidirectional(
        SwappableLSTM(
            4,
            candidate_activation="relu",
            forget_gate_activation="hard_sigmoid",
            peephole=True,
            layer_norm=True,
            return_sequences=True,
        )
    )(hidden)
    hidden = keras.layers.Bidirectional(
        SwappableGRU(3, candidate_activation="relu", return_sequences=True)
    )(hidden)
    try:
        IndRNN = _layer_class("custom_layers.indrnn", "IndRNN")
    except pytest.skip.Exception:
        hidden = keras.layers.GlobalAveragePooling1D()(hidden)
    else:
        hidden = IndRNN(3, recurrent_max_abs=2 ** (1 / STEPS))(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    rng = np.random.default_rng(0)
    randomize(model, rng, scale=0.4)  # norm gains != 1, peepholes, biases != 0

    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    x[1, -2:] = 0.0  # padded steps
    expected = model.predict_on_batch(x)
    predictions, loaded_config = _load_in_fresh_process(model, tmp_path, x)
    np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-6)
    assert loaded_config == _json(model.get_config())


def test_every_variant_and_registered_activation_load_in_fresh_process(tmp_path):
    import custom_layers

    layers = [
        custom_layers.SwappableLSTM(
            3,
            coupled_input_forget=True,
            peephole=True,
            cell_activation="tests>lecun_tanh",
            output_gate_activation="relu",
            return_sequences=True,
        ),
        custom_layers.SwappableLSTM(3, activation=lecun_tanh, return_sequences=True),
    ]
    for name, kwargs in [
        ("SwappableGRU", dict(reset_after=False, update_gate_activation="hard_sigmoid")),
        ("SwappableSimpleRNN", dict(activation="tests>lecun_tanh")),
        ("IndRNN", dict(activation="tanh", recurrent_max_abs=0.9)),
    ]:
        if hasattr(custom_layers, name):
            layers.append(getattr(custom_layers, name)(3, return_sequences=True, **kwargs))
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), *layers, keras.layers.Dense(1)])
    rng = np.random.default_rng(1)
    randomize(model, rng, scale=0.4)  # norm gains != 1, peepholes, biases != 0
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    expected = model.predict_on_batch(x)
    predictions, loaded_config = _load_in_fresh_process(model, tmp_path, x)
    np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-6)
    assert loaded_config == _json(model.get_config())


# ----------------------------------------------------------------------------------------------
# get_config / from_config.
# ----------------------------------------------------------------------------------------------

COMMON = dict(
    use_bias=False,
    kernel_initializer="he_normal",
    recurrent_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=3),
    bias_initializer="ones",
    kernel_regularizer="l2",
    recurrent_regularizer=keras.regularizers.L1(0.02),
    bias_regularizer="l1",
    kernel_constraint="non_neg",
    recurrent_constraint=keras.constraints.MaxNorm(2.0),
    bias_constraint="unit_norm",
    dropout=0.1,
    recurrent_dropout=0.2,
    seed=7,
    return_sequences=True,
    return_state=True,
    go_backwards=True,
    stateful=True,
    unroll=True,
    zero_output_for_mask=True,
    activity_regularizer="l2",
    name="round_trip",
    trainable=False,
)

ROUND_TRIPS = {
    "lstm": (
        "custom_layers.lstm",
        "SwappableLSTM",
        dict(
            activation="relu",
            recurrent_activation="hard_sigmoid",
            input_gate_activation="tanh",
            forget_gate_activation="sigmoid",
            output_gate_activation="relu",
            candidate_activation="tests>lecun_tanh",
            cell_activation="linear",
            peephole=True,
            layer_norm=True,
            unit_forget_bias=False,
        ),
    ),
    "lstm_cifg": (
        "custom_layers.lstm",
        "SwappableLSTM",
        dict(coupled_input_forget=True, forget_gate_activation="hard_sigmoid", peephole=True),
    ),
    "gru": (
        "custom_layers.gru",
        "SwappableGRU",
        dict(
            activation="relu",
            recurrent_activation="hard_sigmoid",
            update_gate_activation="tanh",
            reset_gate_activation="sigmoid",
            candidate_activation="tests>lecun_tanh",
            reset_after=False,
        ),
    ),
    "simple_rnn": ("custom_layers.simple_rnn", "SwappableSimpleRNN", dict(activation="relu")),
    "indrnn": (
        "custom_layers.indrnn",
        "IndRNN",
        dict(activation="tests>lecun_tanh", recurrent_max_abs=0.9),
    ),
}


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_config_round_trips_every_argument(case):
    module, name, own = ROUND_TRIPS[case]
    cls = _layer_class(module, name)
    kwargs = {**COMMON, **own}
    layer = cls(5, **kwargs)
    config = layer.get_config()
    default_config = cls(1).get_config()

    # Every argument is recorded, with its non-default value.
    assert config["units"] == 5
    for key in kwargs:
        assert key in config, key
        assert config[key] != default_config.get(key), key
    for key, value in own.items():
        if isinstance(value, (bool, float)):
            assert config[key] == value, key

    # from_config gives a layer with the same config, in memory and through JSON.
    assert cls.from_config(config).get_config() == config
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    restored = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(restored) is cls
    assert restored.get_config() == config
    assert type(restored.cell) is type(layer.cell)
    for key in own:
        if key.endswith("activation"):
            assert getattr(restored.cell, key) is getattr(layer.cell, key), key


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_config_names_every_constructor_argument(case):
    """Each named argument of the cell and the layer appears in the layer's config."""
    module, name, _ = ROUND_TRIPS[case]
    cls = _layer_class(module, name)
    config = cls(2).get_config()
    for function in (cls.cell_class.__init__, cls.__init__):
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name == "self" or parameter.kind is parameter.VAR_KEYWORD:
                continue
            assert parameter.name in config, parameter.name


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_config_round_trip_computes_the_same(case):
    """A layer rebuilt from its config, given the same weights, gives the same outputs."""
    module, name, own = ROUND_TRIPS[case]
    cls = _layer_class(module, name)
    x = np.random.default_rng(2).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    layer = cls(3, return_sequences=True, **own)
    layer(x)
    clone = cls.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(layer(x)), atol=1e-6)
