"""The contract every cell family keeps, checked once for all of them.

After Keras's `lstm_test.py`, which declares one contract (`run_layer_test(layers.LSTM,
init_kwargs=..., input_shape=...)`): each family and its notable variants give the output and state
shapes asked for, have the weights they document (all trainable), add a loss per regularizer,
reject bad arguments with a message that names the argument and the value, survive
`get_config`/`from_config` (cell and layer) and `.keras` saving with the same outputs, apply dropout
in training only, and compute the same under the JAX backend. What is particular to one family
(its equations, its parity with a Keras built-in, its own arguments) is tested in its own file.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import inspect
import json

import keras
import numpy as np
import pytest
from layer_checks import (
    BAD_RATES,
    BAD_UNITS,
    BATCH,
    FEATURES,
    GRU_PARTS,
    LSTM_PARTS,
    STEPS,
    UNITS,
    assert_doctests_pass,
    assert_dropout_only_in_training,
    assert_keras_file_round_trip,
    assert_rejects_rate,
    assert_rejects_units,
    assert_same_outputs,
    data,
    outputs_under_jax,
    random_weights,
    set_named_weights,
    unknown_activation_pattern,
)

import custom_layers


@keras.saving.register_keras_serializable(package="contract")
def lecun_tanh(x):
    """A registered custom activation (`"contract>lecun_tanh"`)."""
    return 1.7159 * keras.ops.tanh(2.0 / 3.0 * x)


@dataclasses.dataclass(frozen=True)
class Family:
    """One cell family: its module, layer and cell classes, states and activation arguments."""

    module: str
    layer: type
    cell: type
    num_states: int
    parts: tuple[str, ...] = ()  # the per-part activation overrides; None in a config when unset

    @property
    def activation_arguments(self):
        if not self.parts:
            return ("activation",)
        return ("activation", "recurrent_activation", *self.parts)


FAMILIES = {
    "lstm": Family(
        "custom_layers.lstm",
        custom_layers.SwappableLSTM,
        custom_layers.SwappableLSTMCell,
        2,
        tuple(LSTM_PARTS.values()),
    ),
    "gru": Family(
        "custom_layers.gru",
        custom_layers.SwappableGRU,
        custom_layers.SwappableGRUCell,
        1,
        tuple(GRU_PARTS.values()),
    ),
    "simple_rnn": Family(
        "custom_layers.simple_rnn",
        custom_layers.SwappableSimpleRNN,
        custom_layers.SwappableSimpleRNNCell,
        1,
    ),
    "indrnn": Family("custom_layers.indrnn", custom_layers.IndRNN, custom_layers.IndRNNCell, 1),
    "mut": Family(
        "custom_layers.mut",
        custom_layers.SwappableMUT,
        custom_layers.SwappableMUTCell,
        1,
        tuple(GRU_PARTS.values()),  # the same part arguments as the GRU's
    ),
}

F, U = FEATURES, UNITS
PEEPHOLES = [(f"{gate}_peephole", (U,)) for gate in ("input", "forget", "output")]


def _norms(width):
    return [
        ("input_norm_gamma", (width,)),
        ("recurrent_norm_gamma", (width,)),
        ("cell_norm_gamma", (U,)),
        ("cell_norm_beta", (U,)),
    ]


# case: (family, the variant's arguments, its weights `(name, shape)` for F features, U units)
CASES = {
    "lstm": (
        "lstm",
        dict(candidate_activation="relu", forget_gate_activation="hard_sigmoid"),
        [("kernel", (F, 4 * U)), ("recurrent_kernel", (U, 4 * U)), ("bias", (4 * U,))],
    ),
    "lstm_peephole_layer_norm": (
        "lstm",
        dict(peephole=True, layer_norm=True, output_gate_activation="relu"),
        [
            ("kernel", (F, 4 * U)),
            ("recurrent_kernel", (U, 4 * U)),
            ("bias", (4 * U,)),
            *PEEPHOLES,
            *_norms(4 * U),
        ],
    ),
    "lstm_cifg_peephole_layer_norm": (
        "lstm",
        dict(peephole=True, coupled_input_forget=True, layer_norm=True),
        [
            ("kernel", (F, 3 * U)),
            ("recurrent_kernel", (U, 3 * U)),
            ("bias", (3 * U,)),
            *PEEPHOLES[1:],
            *_norms(3 * U),
        ],
    ),
    "gru": (
        "gru",
        dict(reset_gate_activation="hard_sigmoid", candidate_activation="relu"),
        [("kernel", (F, 3 * U)), ("recurrent_kernel", (U, 3 * U)), ("bias", (2, 3 * U))],
    ),
    "gru_reset_before": (
        "gru",
        dict(reset_after=False, update_gate_activation="relu"),
        [("kernel", (F, 3 * U)), ("recurrent_kernel", (U, 3 * U)), ("bias", (3 * U,))],
    ),
    "simple_rnn_irnn": (
        "simple_rnn",
        dict(activation="relu", recurrent_initializer=keras.initializers.Identity(gain=0.9)),
        [("kernel", (F, U)), ("recurrent_kernel", (U, U)), ("bias", (U,))],
    ),
    "simple_rnn_hard_sigmoid_no_bias": (
        "simple_rnn",
        dict(activation="hard_sigmoid", use_bias=False),
        [("kernel", (F, U)), ("recurrent_kernel", (U, U))],
    ),
    "indrnn": (
        "indrnn",
        dict(activation="tanh", recurrent_max_abs=0.8),
        [("kernel", (F, U)), ("recurrent_kernel", (U,)), ("bias", (U,))],
    ),
    # F != U: MUT1 and MUT2 project x_t for their raw-input terms.
    "mut1": (
        "mut",
        dict(variant="mut1", candidate_activation="relu", update_gate_activation="hard_sigmoid"),
        [
            ("kernel", (F, 2 * U)),
            ("recurrent_kernel", (U, 2 * U)),
            ("bias", (3 * U,)),
            ("input_projection", (F, U)),
        ],
    ),
    "mut2": (
        "mut",
        dict(variant="mut2", reset_gate_activation="hard_sigmoid"),
        [
            ("kernel", (F, 2 * U)),
            ("recurrent_kernel", (U, 3 * U)),
            ("bias", (3 * U,)),
            ("input_projection", (F, U)),
        ],
    ),
    "mut3_no_bias": (
        "mut",
        dict(variant="mut3", activation="relu", use_bias=False),
        [("kernel", (F, 3 * U)), ("recurrent_kernel", (U, 3 * U))],
    ),
}


@pytest.fixture(params=list(CASES))
def case(request):
    """`(family, kwargs, weights)` of one case."""
    family, kwargs, weights = CASES[request.param]
    return FAMILIES[family], kwargs, weights


@pytest.fixture(params=list(FAMILIES))
def family(request):
    return FAMILIES[request.param]


def _make_built(family, kwargs, rng, **options):
    """The family's layer with `kwargs` and `options`, built on random inputs, random weights."""
    layer = family.layer(UNITS, **kwargs, **options)
    x = data(rng)
    layer(x)
    set_named_weights(layer, random_weights(layer, rng))
    return layer, x


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


# ----------------------------------------------------------------------------------------------
# Docstrings, shapes and weights.
# ----------------------------------------------------------------------------------------------


def test_docstring_examples_run(family):
    assert_doctests_pass(importlib.import_module(family.module), optionflags=doctest.ELLIPSIS)


@pytest.mark.parametrize("return_state", [False, True], ids=["output", "state"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "seq"])
def test_output_and_state_shapes(case, return_sequences, return_state):
    family, kwargs, _ = case
    layer = family.layer(
        UNITS, return_sequences=return_sequences, return_state=return_state, **kwargs
    )
    x = data(np.random.default_rng(0))
    mask = np.ones((BATCH, STEPS), bool)
    mask[1, -2:] = False
    outputs = _as_list(layer(x, mask=mask))  # masking is supported
    output_shape = (BATCH, STEPS, UNITS) if return_sequences else (BATCH, UNITS)
    state_shapes = [(BATCH, UNITS)] * family.num_states if return_state else []
    assert [tuple(t.shape) for t in outputs] == [output_shape, *state_shapes]
    assert all(np.all(np.isfinite(np.asarray(t))) for t in outputs)


def test_weights(case):
    family, kwargs, weights = case
    layer = family.layer(UNITS, **kwargs)
    layer(data(np.random.default_rng(1)))
    assert [(v.name, tuple(v.shape)) for v in layer.trainable_weights] == weights
    assert layer.non_trainable_weights == []
    assert [v.name for v in layer.cell.weights] == [name for name, _ in weights]
    assert layer.units == layer.cell.units == UNITS


def test_regularizers_add_losses(case):
    family, kwargs, weights = case
    regularizers = dict(kernel_regularizer="l2", recurrent_regularizer="l2", bias_regularizer="l1")
    layer = family.layer(
        UNITS, **{**kwargs, **regularizers, "use_bias": True}, bias_initializer="ones"
    )
    layer(data(np.random.default_rng(2)))
    # The MUT's input projection is regularized as the kernel.
    assert len(layer.losses) == 3 + sum(name == "input_projection" for name, _ in weights)
    assert all(float(loss) > 0.0 for loss in layer.losses)


def test_step_input_and_sequence_hook(family):
    """One name for the step input, and the same per-sequence hook, in every family."""
    assert list(inspect.signature(family.cell.call).parameters)[:4] == [
        "self",
        "inputs",
        "states",
        "training",
    ]
    layer = family.layer(UNITS)
    layer(data(np.random.default_rng(3)))
    for hook in ("begin_sequence", "end_sequence", "sequence_weights"):
        assert callable(getattr(layer.cell, hook)), hook
    assert layer.cell._sequence_weights is None  # outside the loop


# ----------------------------------------------------------------------------------------------
# Bad arguments: the message names the argument and the value.
# ----------------------------------------------------------------------------------------------

TARGETS = ["cell", "layer"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("units", list(BAD_UNITS.values()), ids=list(BAD_UNITS))
def test_bad_units(family, target, units):
    assert_rejects_units(getattr(family, target), units)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("argument", "value"), BAD_RATES)
def test_bad_dropout(family, target, argument, value):
    cls = getattr(family, target)
    assert_rejects_rate(lambda **kwargs: cls(UNITS, **kwargs), argument, value)


@pytest.mark.parametrize("target", TARGETS)
def test_unknown_activation_name(family, target):
    cls = getattr(family, target)
    for argument in family.activation_arguments:
        with pytest.raises(ValueError, match=unknown_activation_pattern(argument)):
            cls(UNITS, **{argument: "no_such_act"})


# ----------------------------------------------------------------------------------------------
# Config round trips.
# ----------------------------------------------------------------------------------------------


def test_layer_config_round_trip(case):
    """Through JSON: the same config, the same activations, the same outputs and states."""
    family, kwargs, _ = case
    options = dict(return_sequences=True, return_state=True, go_backwards=True)
    layer, x = _make_built(family, kwargs, np.random.default_rng(4), **options)
    config = layer.get_config()
    for part in family.parts:
        assert config[part] == kwargs.get(part), part  # unset overrides stay unset (None)
    restored = family.layer.from_config(json.loads(json.dumps(config)))
    restored(x)
    assert type(restored.cell) is family.cell
    assert restored.get_config() == config
    for argument in family.activation_arguments:
        assert getattr(restored.cell, argument) is getattr(layer.cell, argument), argument
    assert_same_outputs(layer, restored, x)


def test_cell_config_round_trip(case):
    family, kwargs, _ = case
    rng = np.random.default_rng(5)
    x = data(rng)
    cell = family.cell(UNITS, **kwargs)
    layer = keras.layers.RNN(cell, return_sequences=True)
    layer(x)
    set_named_weights(layer, random_weights(layer, rng))
    restored = keras.layers.RNN(
        family.cell.from_config(json.loads(json.dumps(cell.get_config()))), return_sequences=True
    )
    restored(x)
    assert restored.cell.get_config() == cell.get_config()
    restored.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(layer(x)), atol=1e-6)


def test_keras_file_round_trip(case, tmp_path):
    family, kwargs, _ = case
    rng = np.random.default_rng(6)
    layer = family.layer(UNITS, return_sequences=True, **kwargs)
    loaded = assert_keras_file_round_trip(layer, data(rng), tmp_path / "layer.keras")
    assert loaded.layers[-1].get_config() == layer.get_config()


# Every argument of a family at a value that is not its default.
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
        "lstm",
        dict(
            activation="relu",
            recurrent_activation="hard_sigmoid",
            input_gate_activation="tanh",
            forget_gate_activation="sigmoid",
            output_gate_activation="relu",
            candidate_activation="contract>lecun_tanh",
            cell_activation="linear",
            peephole=True,
            layer_norm=True,
            unit_forget_bias=False,
        ),
    ),
    "lstm_cifg": (
        "lstm",
        dict(coupled_input_forget=True, forget_gate_activation="hard_sigmoid", peephole=True),
    ),
    "gru": (
        "gru",
        dict(
            activation="relu",
            recurrent_activation="hard_sigmoid",
            update_gate_activation="tanh",
            reset_gate_activation="sigmoid",
            candidate_activation="contract>lecun_tanh",
            reset_after=False,
        ),
    ),
    "simple_rnn": ("simple_rnn", dict(activation="relu")),
    "indrnn": ("indrnn", dict(activation="contract>lecun_tanh", recurrent_max_abs=0.9)),
    "mut": (
        "mut",
        dict(
            variant="mut3",
            activation="relu",
            recurrent_activation="hard_sigmoid",
            update_gate_activation="tanh",
            reset_gate_activation="sigmoid",
            candidate_activation="contract>lecun_tanh",
        ),
    ),
}


@pytest.mark.parametrize("name", list(ROUND_TRIPS))
def test_config_round_trips_every_argument(name):
    family_name, own = ROUND_TRIPS[name]
    cls = FAMILIES[family_name].layer
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


def test_config_names_every_constructor_argument(family):
    """Each named argument of the cell and the layer appears in the layer's config."""
    # `keras.layers.Layer` records `activity_regularizer` only when it is set.
    config = family.layer(2, activity_regularizer="l2").get_config()
    assert family.layer.cell_class is family.cell
    for function in (family.cell.__init__, family.layer.__init__):
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name == "self" or parameter.kind is parameter.VAR_KEYWORD:
                continue
            assert parameter.name in config, parameter.name


# ----------------------------------------------------------------------------------------------
# Dropout.
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rates",
    [dict(dropout=0.5), dict(recurrent_dropout=0.5), dict(dropout=0.3, recurrent_dropout=0.3)],
    ids=["dropout", "recurrent_dropout", "both"],
)
def test_dropout_applies_only_in_training(case, rates):
    family, kwargs, _ = case
    x = data(np.random.default_rng(7))

    def make(**options):
        return family.layer(UNITS, return_sequences=True, **kwargs, **options)

    assert_dropout_only_in_training(make, x, **rates)


# ----------------------------------------------------------------------------------------------
# JAX backend: every case rebuilt from its config, in one subprocess.
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jax_outputs(tmp_path_factory):
    """`{case: (outputs under the test backend, outputs under JAX)}`, same config and weights."""
    pytest.importorskip("jax")
    rng = np.random.default_rng(8)
    layers, inputs = [], []
    for family_name, kwargs, _ in CASES.values():
        layer, x = _make_built(
            FAMILIES[family_name], kwargs, rng, return_sequences=True, return_state=True
        )
        layers.append(layer)
        inputs.append(x)
    got = outputs_under_jax(layers, inputs, tmp_path_factory.mktemp("jax"))
    want = [[np.asarray(t) for t in layer(x)] for layer, x in zip(layers, inputs, strict=True)]
    return dict(zip(CASES, zip(want, got, strict=True), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_same_outputs_on_jax_backend(jax_outputs, name):
    want, got = jax_outputs[name]
    assert len(got) == len(want) == 1 + FAMILIES[CASES[name][0]].num_states
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
