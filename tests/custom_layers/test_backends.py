"""The cells are backend-agnostic: parity with the Keras built-ins holds under JAX too, and no cell
module uses TensorFlow. (Every family and variant computing the same under JAX as under the test
backend is part of `test_contract.py`.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "custom_layers"

# ----------------------------------------------------------------------------------------------
# Static check.
# ----------------------------------------------------------------------------------------------

TENSORFLOW = re.compile(r"\btf\.|^\s*import\s+tensorflow|^\s*from\s+tensorflow", re.MULTILINE)


# The one module that needs TensorFlow: `GradientMonitor` runs a `tf.GradientTape` step (it
# imports TensorFlow when a step is traced, and says so on another backend: test_monitor.py).
TENSORFLOW_MODULES = {"monitor.py"}


def test_cell_modules_do_not_use_tensorflow():
    sources = sorted(p for p in PACKAGE.glob("*.py") if p.name not in TENSORFLOW_MODULES)
    assert PACKAGE / "lstm.py" in sources and PACKAGE / "gradients.py" in sources
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
    print("REPORT " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """Runs `JAX_SCRIPT` once; returns its report."""
    pytest.importorskip("jax")
    work = tmp_path_factory.mktemp("jax")
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
    return json.loads(lines[0][len("REPORT ") :])


def test_subprocess_runs_jax(jax_run):
    assert jax_run["backend"] == "jax"


@pytest.mark.parametrize("name", ["lstm", "gru_reset_after", "gru_reset_before", "simple_rnn"])
def test_parity_with_builtin_under_jax(jax_run, name):
    diffs = jax_run["parity"][name]
    assert len(diffs) == 4  # see COMBINATIONS
    bad = {key: diff for key, diff in diffs.items() if not diff < 1e-5}
    assert not bad, bad
