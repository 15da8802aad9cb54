"""Tests of `SwappableMUTCell` / `SwappableMUT` (MUT1-3, Jozefowicz, Zaremba & Sutskever 2015).

MUT has no Keras built-in, so the evidence that the cell computes what its docstring says is:
- an independent NumPy MUT1 / MUT2 / MUT3 (`reference_mut` below), written from the docstring's
  equations and weight layout, for inputs of `units` features (the paper's raw x_t) and of another
  width (the input projection), for swapped activations, under masking and in `Bidirectional`;
- gradients against central finite differences in float64;
- the seed axis of the experiments' seed groups (`experiments.engine.seed_axis.stacked`): each seed of a
  stacked layer computes what a single layer with its weights computes;
- `.keras` files of all three variants loading in a fresh process with `safe_mode=True`.

Shared checks (shapes, arguments, config round trips, dropout, JAX): `test_contract.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from layer_checks import (
    BATCH,
    FEATURES,
    GRU_GATES,
    GRU_PARTS,
    NP_ACTIVATIONS,
    ROOT,
    STEPS,
    UNITS,
    assert_gradients_match_finite_differences,
    assert_matches_reference,
    data,
    expected_acts,
    random_state,
    random_weights,
    randomize,
    requires_tensorflow,
    set_named_weights,
)

from custom_layers import SwappableMUT, SwappableMUTCell

VARIANTS = ("mut1", "mut2", "mut3")
# Input widths: the paper's (x_t has `units` features) and another (x_t goes through a projection).
WIDTHS = {"paper_width": UNITS, "projected": FEATURES}
assert FEATURES != UNITS

# ----------------------------------------------------------------------------------------------
# The NumPy reference, from the docstring (float64).
# ----------------------------------------------------------------------------------------------

# The blocks of `kernel` and `recurrent_kernel` by variant, as the docstring lists them.
KERNEL_BLOCKS = {"mut1": ("z", "r"), "mut2": ("z", "h"), "mut3": ("z", "r", "h")}
RECURRENT_BLOCKS = {"mut1": ("r", "h"), "mut2": ("z", "r", "h"), "mut3": ("z", "r", "h")}


def reference_mut(x, w, h0, *, variant, acts):
    """Runs the MUT `variant` of the `SwappableMUTCell` docstring over `x (batch, time, features)`.

    Args:
        x: inputs, float64.
        w: weights by name (`kernel`, `recurrent_kernel`, optional `bias`, `input_projection`).
        h0: the initial state `(batch, units)`.
        acts: NumPy activation names for `update`, `reset`, `candidate`.

    Returns:
        `(hs (batch, time, units), h_T)`.
    """
    f_z, f_r, f_c = (NP_ACTIVATIONS[acts[k]] for k in ("update", "reset", "candidate"))
    units = h0.shape[-1]

    def blocks(weight, names):
        return dict(zip(names, np.split(weight, len(names), axis=-1), strict=True))

    W = blocks(w["kernel"], KERNEL_BLOCKS[variant])
    U = blocks(w["recurrent_kernel"], RECURRENT_BLOCKS[variant])
    b = blocks(w.get("bias", np.zeros(3 * units)), "zrh")
    projection = w.get("input_projection")

    def raw(x_t):
        """The paper's raw x_t (MUT1's tanh(x_t), MUT2's r), projected when it is not `units`
        wide."""
        if projection is None:
            assert x_t.shape[-1] == units
            return x_t
        return x_t @ projection

    h = h0
    hs = []
    for t in range(x.shape[1]):
        x_t = x[:, t]
        if variant == "mut1":
            z = f_z(x_t @ W["z"] + b["z"])
            r = f_r(x_t @ W["r"] + h @ U["r"] + b["r"])
            candidate = f_c((r * h) @ U["h"] + np.tanh(raw(x_t)) + b["h"])
        elif variant == "mut2":
            z = f_z(x_t @ W["z"] + h @ U["z"] + b["z"])
            r = f_r(raw(x_t) + h @ U["r"] + b["r"])
            candidate = f_c((r * h) @ U["h"] + x_t @ W["h"] + b["h"])
        else:
            z = f_z(x_t @ W["z"] + np.tanh(h) @ U["z"] + b["z"])
            r = f_r(x_t @ W["r"] + h @ U["r"] + b["r"])
            candidate = f_c((r * h) @ U["h"] + x_t @ W["h"] + b["h"])
        h = candidate * z + h * (1.0 - z)
        hs.append(h)
    return np.stack(hs, axis=1), h


def reference(kwargs):
    """`reference_mut` for a layer built with `kwargs`, its activations following the docstring's
    defaults (gates: `recurrent_activation`, candidate: `activation`, each override wins)."""

    def run(x, w, h0):
        acts = expected_acts(kwargs, GRU_PARTS, GRU_GATES)
        return reference_mut(x, w, h0, variant=kwargs.get("variant", "mut1"), acts=acts)

    return run


def _check_against_reference(kwargs, features, seed=0):
    rng = np.random.default_rng(seed)
    x = data(rng, features=features)
    h0 = random_state(rng)
    layer = SwappableMUT(UNITS, return_sequences=True, return_state=True, **kwargs)
    layer(x, initial_state=[h0])
    assert_matches_reference(layer, x, [h0], random_weights(layer, rng), reference(kwargs))


# ----------------------------------------------------------------------------------------------
# Weights and forward pass.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_weight_layout(variant, width):
    features = WIDTHS[width]
    layer = SwappableMUT(UNITS, variant=variant)
    layer.build((None, STEPS, features))
    k, m = len(KERNEL_BLOCKS[variant]), len(RECURRENT_BLOCKS[variant])
    expected = [
        ("kernel", (features, k * UNITS)),
        ("recurrent_kernel", (UNITS, m * UNITS)),
        ("bias", (3 * UNITS,)),
    ]
    if variant != "mut3" and features != UNITS:
        expected.append(("input_projection", (features, UNITS)))
    assert [(v.name, tuple(v.shape)) for v in layer.weights] == expected
    assert layer.variant == layer.cell.variant == variant


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_reference(variant, width):
    _check_against_reference(dict(variant=variant), WIDTHS[width])


SWAPS = {
    "relu_candidate_hard_sigmoid_gates": dict(
        candidate_activation="relu", recurrent_activation="hard_sigmoid"
    ),
    "each_part_no_bias": dict(
        activation="relu",  # overridden
        update_gate_activation="hard_sigmoid",
        reset_gate_activation="relu",
        candidate_activation="sigmoid",
        use_bias=False,
    ),
}


@pytest.mark.parametrize("swap", list(SWAPS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_swapped_activations_match_reference(variant, swap):
    _check_against_reference({"variant": variant, **SWAPS[swap]}, FEATURES, seed=1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_masked_step_keeps_the_state(variant):
    rng = np.random.default_rng(2)
    x = data(rng)
    mask = np.ones((BATCH, STEPS), bool)
    mask[1, 2] = False  # a step in the middle
    mask[2, -2:] = False  # the last two steps
    layer = SwappableMUT(UNITS, variant=variant, return_sequences=True, return_state=True)
    layer(x)
    weights = random_weights(layer, rng)
    set_named_weights(layer, weights)
    hs, h_last = (np.asarray(t) for t in layer(x, mask=mask))

    run = reference(dict(variant=variant))
    w = {k: np.asarray(v, "float32").astype("float64") for k, v in weights.items()}
    for sample in range(BATCH):
        keep = mask[sample]
        kept, final = run(x[sample : sample + 1, keep].astype("float64"), w, np.zeros((1, UNITS)))
        np.testing.assert_allclose(h_last[sample], final[0], atol=1e-5)
        np.testing.assert_allclose(hs[sample, keep], kept[0], atol=1e-5)
        for t in np.flatnonzero(~keep):  # a masked step repeats the previous output
            np.testing.assert_array_equal(hs[sample, t], hs[sample, t - 1])
    assert np.abs(h_last).max() > 0.05  # the comparison is not vacuous


@pytest.mark.parametrize("variant", VARIANTS)
def test_bidirectional_matches_reference(variant):
    rng = np.random.default_rng(3)
    x = data(rng)
    layer = keras.layers.Bidirectional(SwappableMUT(UNITS, variant=variant, return_sequences=True))
    layer(x)
    randomize(layer, rng)
    run = reference(dict(variant=variant))
    h0 = np.zeros((BATCH, UNITS))

    def weights(direction):
        return {v.name: np.asarray(v, "float64") for v in direction.weights}

    forward, _ = run(x.astype("float64"), weights(layer.forward_layer), h0)
    backward, _ = run(x[:, ::-1].astype("float64"), weights(layer.backward_layer), h0)
    expected = np.concatenate([forward, backward[:, ::-1]], axis=-1)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_layer_equals_its_cell_step_by_step(variant):
    """The layer's per-sequence joint kernel (`sequence_weights` once per sequence) computes
    what the cell computes step by step in a plain `keras.layers.RNN`."""
    rng = np.random.default_rng(4)
    x = data(rng)
    options = dict(return_sequences=True, go_backwards=True)
    fast = SwappableMUT(UNITS, variant=variant, **options)
    step = keras.layers.RNN(SwappableMUTCell(UNITS, variant=variant), **options)
    fast(x)
    step(x)
    randomize(fast, rng)
    step.set_weights(fast.get_weights())
    mask = np.ones((BATCH, STEPS), bool)
    mask[0, -1] = False
    np.testing.assert_allclose(
        np.asarray(fast(x, mask=mask)), np.asarray(step(x, mask=mask)), atol=1e-6
    )


# ----------------------------------------------------------------------------------------------
# Gradients against central finite differences (float64).
# ----------------------------------------------------------------------------------------------


@requires_tensorflow
@pytest.mark.parametrize("features", [2, 3], ids=["paper_width", "projected"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_match_finite_differences(variant, features):
    import tensorflow as tf

    rng = np.random.default_rng(5)
    units, steps, batch = 2, 3, 2
    x = rng.normal(size=(batch, steps, features))
    layer = SwappableMUT(units, variant=variant, return_sequences=True, dtype="float64")
    layer.build(x.shape)
    set_named_weights(layer, random_weights(layer, rng, scale=0.8))
    names = ["kernel", "recurrent_kernel", "bias"]
    if variant != "mut3" and features != units:
        names.append("input_projection")
    assert [v.name for v in layer.trainable_variables] == names
    projection = rng.normal(size=(batch, steps, units))
    assert_gradients_match_finite_differences(layer, x, lambda hs: tf.reduce_sum(hs * projection))


# ----------------------------------------------------------------------------------------------
# Seed groups: a leading seed axis on every weight (experiments/seed_axis.py).
# ----------------------------------------------------------------------------------------------


@requires_tensorflow
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_each_seed_of_a_stacked_layer_computes_its_single_layer(variant, width):
    """What `tests/experiments/test_seed_groups.py` checks for the grid's cells, on the layer
    alone: outputs and gradients of S = 3 seeds held along a seed axis equal those of three
    single layers with the same weights (the `stored_shape` layout: matrix (S, a, b), vector
    (S, 1, n))."""
    import tensorflow as tf

    from experiments.engine import seed_axis

    seeds, features = 3, WIDTHS[width]
    rng = np.random.default_rng(6)
    xs = [data(rng, features=features) for _ in range(seeds)]
    singles = []
    for x in xs:
        single = SwappableMUT(UNITS, variant=variant, return_sequences=True)
        single(x)
        set_named_weights(single, random_weights(single, rng))
        singles.append(single)
    group = seed_axis.stacked(SwappableMUT, seeds)(UNITS, variant=variant, return_sequences=True)
    x_group = np.concatenate(xs)
    group(x_group)
    assert [v.name for v in group.weights] == [v.name for v in singles[0].weights]
    for i, variable in enumerate(group.weights):
        per_seed = [single.get_weights()[i] for single in singles]
        variable.assign(seed_axis.stack_weights(per_seed, variable.name))

    projection = rng.normal(size=(seeds * BATCH, STEPS, UNITS)).astype("float32")

    def outputs_and_grads(layer, x, projection):
        with tf.GradientTape() as tape:
            hs = layer(x)
            loss = tf.reduce_sum(hs * projection)
        return np.asarray(hs), [g.numpy() for g in tape.gradient(loss, layer.trainable_variables)]

    hs_group, grads_group = outputs_and_grads(group, x_group, projection)
    for s, (single, x) in enumerate(zip(singles, xs, strict=True)):
        rows = slice(s * BATCH, (s + 1) * BATCH)
        hs, grads = outputs_and_grads(single, x, projection[rows])
        np.testing.assert_allclose(hs_group[rows], hs, rtol=1e-5, atol=1e-6)
        for variable, g_group, g in zip(single.weights, grads_group, grads, strict=True):
            got = seed_axis.unstack_weights(g_group, s, g.shape, variable.name)
            np.testing.assert_allclose(got, g, rtol=1e-4, atol=1e-6, err_msg=variable.name)


# ----------------------------------------------------------------------------------------------
# Arguments and config.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [SwappableMUTCell, SwappableMUT], ids=["cell", "layer"])
@pytest.mark.parametrize("variant", ["mut4", "MUT1", "gru", "", None, 1])
def test_bad_variant(target, variant):
    message = (
        "Received an invalid value for argument `variant`, expected one of "
        f"('mut1', 'mut2', 'mut3'), got {variant!r}."
    )
    with pytest.raises(ValueError) as error:
        target(UNITS, variant=variant)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "argument",
    ["activation", "recurrent_activation", *GRU_PARTS.values()],
)
def test_bad_activation_names_the_argument(argument):
    with pytest.raises(ValueError, match=rf"`{argument}`: 'sigmoidd' is not a Keras activation"):
        SwappableMUT(UNITS, variant="mut3", **{argument: "sigmoidd"})


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_round_trip(variant):
    kwargs = dict(
        variant=variant,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        reset_gate_activation="tanh",
        return_sequences=True,
    )
    rng = np.random.default_rng(7)
    x = data(rng)
    layer = SwappableMUT(UNITS, **kwargs)
    layer(x)
    randomize(layer, rng)
    config = layer.get_config()
    assert config["variant"] == variant
    assert "reset_after" not in config  # a GRUCell argument that the MUT does not take
    assert (config["activation"], config["recurrent_activation"]) == ("relu", "hard_sigmoid")
    assert (config["update_gate_activation"], config["reset_gate_activation"]) == (None, "tanh")
    assert config["candidate_activation"] is None
    restored = SwappableMUT.from_config(json.loads(json.dumps(config)))
    restored(x)
    assert restored.get_config() == config
    assert restored.cell.candidate_activation is keras.activations.relu
    assert restored.cell.update_gate_activation is keras.activations.hard_sigmoid
    assert restored.cell.reset_gate_activation is keras.activations.tanh
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(layer(x)), atol=1e-6)
    cell = SwappableMUTCell.from_config(layer.cell.get_config())
    assert (cell.variant, cell.get_config()) == (variant, layer.cell.get_config())


LOAD_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import keras
    import numpy as np

    import custom_layers  # registers the layers; nothing else is imported from the tests

    path, inputs, predictions, config = sys.argv[1:]
    model = keras.saving.load_model(path, safe_mode=True)
    np.save(predictions, model.predict_on_batch(np.load(inputs)))
    with open(config, "w") as file:
        json.dump(model.get_config(), file)
    print("loaded", [layer.cell.variant for layer in model.layers[:3]])
    """
)


def test_every_variant_loads_from_a_keras_file_in_a_fresh_process(tmp_path):
    """One model with the three variants (MUT1 with a projection, MUT2 at the paper's width,
    MUT3), saved, then loaded with `safe_mode=True` in a new interpreter: the same predictions
    and config."""
    model = keras.Sequential(
        [
            keras.Input((STEPS, FEATURES)),
            SwappableMUT(UNITS, "mut1", candidate_activation="relu", return_sequences=True),
            SwappableMUT(
                UNITS, "mut2", update_gate_activation="hard_sigmoid", return_sequences=True
            ),
            SwappableMUT(3, "mut3", recurrent_activation="hard_sigmoid", go_backwards=True),
            keras.layers.Dense(1),
        ]
    )
    assert model.layers[0].cell.input_projection is not None  # 3 features, 4 units
    assert model.layers[1].cell.input_projection is None  # 4 features, 4 units
    rng = np.random.default_rng(8)
    randomize(model, rng, scale=0.4)
    x = data(rng, batch=4)
    expected = model.predict_on_batch(x)

    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "inputs.npy", x)
    files = [tmp_path / name for name in ("inputs.npy", "predictions.npy", "config.json")]
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(path), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded ['mut1', 'mut2', 'mut3']" in result.stdout
    np.testing.assert_allclose(np.load(files[1]), expected, rtol=1e-6, atol=1e-6)
    assert json.loads(files[2].read_text()) == json.loads(json.dumps(model.get_config()))
