"""The cells are backend-agnostic: parity with the Keras built-ins holds under JAX too, every variant
computes the same under JAX as under the test backend, and no cell module uses TensorFlow."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from layer_checks import randomize

import custom_layers

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "custom_layers"

# ----------------------------------------------------------------------------------------------
# Static check.
# ----------------------------------------------------------------------------------------------

TENSORFLOW = re.compile(r"\btf\.|^\s*import\s+tensorflow|^\s*from\s+tensorflow", re.MULTILINE)


def test_cell_modules_do_not_use_tensorflow():
    sources = sorted(PACKAGE.glob("*.py"))
    assert PACKAGE / "lstm.py" in sources
    offenders = {
        path.name: TENSORFLOW.findall(path.read_text())
        for path in sources
        if TENSORFLOW.search(path.read_text())
    }
    assert not offenders, f"TensorFlow used in custom_layers (use keras.ops): {offenders}"


def test_static_check_detects_tensorflow():
    assert TENSORFLOW.search("import tensorflow as tf\n")
    assert TENSORFLOW.search("x = tf.matmul(a, b)")
    assert TENSORFLOW.search("    from tensorflow import keras")
    assert not TENSORFLOW.search("x = ops.matmul(a, b)  # keras.ops, not tf")


# ----------------------------------------------------------------------------------------------
# Under JAX, in a subprocess (the backend is fixed when keras is first imported).
# ----------------------------------------------------------------------------------------------

JAX_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path

    import keras
    import numpy as np

    import custom_layers

    work = Path(sys.argv[1])
    report = {"backend": keras.backend.backend(), "parity": {}}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    x[1, -2:] = 0.0  # padded steps for the masked runs
    x[2, :1] = 0.0

    def outputs(layer, masking):
        hidden = keras.layers.Masking(0.0)(x) if masking else x
        return [keras.ops.convert_to_numpy(t) for t in layer(hidden)]

    PARITY = [
        ("lstm", "LSTM", "SwappableLSTM", {}),
        ("gru_reset_after", "GRU", "SwappableGRU", {"reset_after": True}),
        ("gru_reset_before", "GRU", "SwappableGRU", {"reset_after": False}),
        ("simple_rnn", "SimpleRNN", "SwappableSimpleRNN", {}),
    ]
    # (return_sequences, go_backwards, masking): each setting on and off, at a few seconds a run.
    COMBINATIONS = [
        (False, False, False),
        (True, True, False),
        (True, False, True),
        (False, True, True),
    ]
    for name, builtin_name, swappable_name, kwargs in PARITY:
        if not hasattr(custom_layers, swappable_name):
            continue
        diffs = {}
        for return_sequences, go_backwards, masking in COMBINATIONS:
            options = dict(
                return_sequences=return_sequences,
                go_backwards=go_backwards,
                return_state=True,
                **kwargs,
            )
            builtin = getattr(keras.layers, builtin_name)(4, **options)
            swappable = getattr(custom_layers, swappable_name)(4, **options)
            builtin.build(x.shape)
            swappable.build(x.shape)
            builtin.set_weights(
                [rng.normal(scale=0.5, size=w.shape) for w in builtin.get_weights()]
            )
            swappable.set_weights(builtin.get_weights())
            want, got = outputs(builtin, masking), outputs(swappable, masking)
            assert len(want) == len(got)
            key = f"seq={return_sequences},back={go_backwards},mask={masking}"
            diffs[key] = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
        report["parity"][name] = diffs

    # Variants: the same weights and inputs as the parent process; outputs written back.
    cases = json.loads((work / "cases.json").read_text())
    inputs = np.load(work / "inputs.npy")
    for index, case in enumerate(cases):
        layer = getattr(custom_layers, case["class"])(**case["kwargs"])
        layer.build(inputs.shape)
        weights = np.load(work / f"weights_{index}.npz")
        layer.set_weights([weights[f"w{i}"] for i in range(len(weights.files))])
        np.savez(
            work / f"outputs_{index}.npz",
            *[keras.ops.convert_to_numpy(t) for t in layer(inputs)],
        )
    print("REPORT " + json.dumps(report))
    """
)

VARIANTS = [
    ("SwappableLSTM", dict(candidate_activation="relu", forget_gate_activation="hard_sigmoid")),
    ("SwappableLSTM", dict(peephole=True, layer_norm=True, output_gate_activation="relu")),
    ("SwappableLSTM", dict(peephole=True, coupled_input_forget=True, layer_norm=True)),
    ("SwappableGRU", dict(reset_gate_activation="hard_sigmoid", candidate_activation="relu")),
    ("SwappableGRU", dict(reset_after=False, update_gate_activation="relu")),
    ("SwappableSimpleRNN", dict(activation="relu")),
    ("IndRNN", dict(activation="tanh", recurrent_max_abs=0.8)),
]


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """Runs `JAX_SCRIPT` once; returns its report and the TF-side expectations of the variants."""
    pytest.importorskip("jax")
    work = tmp_path_factory.mktemp("jax")
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(2, 6, 3)).astype("float32")
    np.save(work / "inputs.npy", inputs)
    cases, expected = [], []
    for class_name, kwargs in VARIANTS:
        if not hasattr(custom_layers, class_name):
            continue
        kwargs = dict(units=4, return_sequences=True, return_state=True, **kwargs)
        layer = getattr(custom_layers, class_name)(**kwargs)
        layer(inputs)
        randomize(layer, rng, scale=0.4)
        weights = [keras.ops.convert_to_numpy(v) for v in layer.weights]  # after constraints
        np.savez(work / f"weights_{len(cases)}.npz", **{f"w{i}": w for i, w in enumerate(weights)})
        cases.append({"class": class_name, "kwargs": kwargs})
        expected.append([keras.ops.convert_to_numpy(t) for t in layer(inputs)])
    (work / "cases.json").write_text(json.dumps(cases))
    (work / "load.py").write_text(JAX_SCRIPT)

    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, str(work / "load.py"), str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert len(lines) == 1, result.stdout[-3000:]
    report = json.loads(lines[0][len("REPORT ") :])
    return report, cases, expected, work


def test_subprocess_runs_jax(jax_run):
    report, *_ = jax_run
    assert report["backend"] == "jax"


@pytest.mark.parametrize("name", ["lstm", "gru_reset_after", "gru_reset_before", "simple_rnn"])
def test_parity_with_builtin_under_jax(jax_run, name):
    report, *_ = jax_run
    family = {"lstm": "SwappableLSTM", "simple_rnn": "SwappableSimpleRNN"}.get(name, "SwappableGRU")
    if not hasattr(custom_layers, family):
        pytest.skip(f"custom_layers does not export {family} yet")
    diffs = report["parity"][name]
    assert len(diffs) == 4  # see COMBINATIONS
    bad = {key: diff for key, diff in diffs.items() if not diff < 1e-5}
    assert not bad, bad


def test_variants_match_between_backends(jax_run):
    _, cases, expected, work = jax_run
    assert cases, "no variant ran"
    for index, (case, want) in enumerate(zip(cases, expected, strict=True)):
        got = np.load(work / f"outputs_{index}.npz")
        assert len(got.files) == len(want), case
        for i, w in enumerate(want):
            np.testing.assert_allclose(
                got[f"arr_{i}"], w, rtol=1e-5, atol=1e-5, err_msg=f"{case}, output {i}"
            )
