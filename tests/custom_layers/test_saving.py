"""Saving: `.keras` files of stacked models with every family and variant load in a fresh process
with `safe_mode=True` and predict the same. (Each family's config and `.keras` round trips in
this process are in `test_contract.py`.)"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
from layer_checks import randomize

REPO = Path(__file__).resolve().parents[2]
STEPS, FEATURES, BATCH = 5, 3, 4


@keras.saving.register_keras_serializable(package="tests")
def lecun_tanh(x):
    """A registered custom activation; the loading process registers the same function."""
    return 1.7159 * keras.ops.tanh(2.0 / 3.0 * x)


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
    from custom_layers import IndRNN, SwappableGRU, SwappableLSTM

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
        layers.append(getattr(custom_layers, name)(3, return_sequences=True, **kwargs))
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), *layers, keras.layers.Dense(1)])
    rng = np.random.default_rng(1)
    randomize(model, rng, scale=0.4)  # norm gains != 1, peepholes, biases != 0
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    expected = model.predict_on_batch(x)
    predictions, loaded_config = _load_in_fresh_process(model, tmp_path, x)
    np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-6)
    assert loaded_config == _json(model.get_config())
