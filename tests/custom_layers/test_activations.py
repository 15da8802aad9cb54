"""Tests of `custom_layers.activations`: resolving, validating and serializing activations."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from custom_layers import activations


@keras.saving.register_keras_serializable(package="tests")
def scaled_tanh(x):
    """A custom activation, registered so that it can be named (`"tests>scaled_tanh"`)."""
    return 1.7159 * keras.ops.tanh(2.0 / 3.0 * x)


def test_builtin_names():
    names = activations.builtin_names()
    assert names == sorted(names)
    assert {"tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "elu", "softsign"} <= set(names)
    assert not {"get", "serialize", "deserialize"} & set(names)
    assert not any(name.startswith("_") for name in names)
    assert all(callable(getattr(keras.activations, name)) for name in names)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear", "elu"])
def test_resolve_builtin_name(name):
    assert activations.resolve(name, "activation") is keras.activations.get(name)


def test_resolve_every_builtin_name():
    for name in activations.builtin_names():
        assert callable(activations.resolve(name, "activation"))


@pytest.mark.parametrize(
    "function",
    [keras.activations.relu, np.tanh, lambda x: x * 2, scaled_tanh],
    ids=["keras_relu", "np_tanh", "lambda", "scaled_tanh"],
)
def test_resolve_callable_passes_through(function):
    assert activations.resolve(function, "cell_activation") is function


def test_resolve_registered_name():
    resolved = activations.resolve("tests>scaled_tanh", "candidate_activation")
    assert resolved is scaled_tanh
    x = np.array([-1.0, 0.0, 2.0], "float32")
    np.testing.assert_allclose(resolved(x), 1.7159 * np.tanh(2.0 / 3.0 * x), rtol=1e-6)


def test_resolve_serialized_registered_function():
    """`get_config` writes a registered function as a dict; resolving it gives the function."""
    serialized = activations.serialize(scaled_tanh)
    assert isinstance(serialized, dict)
    assert activations.resolve(serialized, "activation") is scaled_tanh


def test_serialize():
    assert activations.serialize(None) is None
    assert activations.serialize(keras.activations.get("hard_sigmoid")) == "hard_sigmoid"
    assert activations.serialize(keras.activations.relu) == "relu"


@pytest.mark.parametrize("name", ["hard_sigmoid", "relu", "tanh", "tests>scaled_tanh"])
def test_serialize_round_trip(name):
    resolved = activations.resolve(name, "activation")
    assert activations.resolve(activations.serialize(resolved), "activation") is resolved


@pytest.mark.parametrize(
    "identifier",
    ["no_such_activation", "Tanh", "tests>not_registered", "", 3, ["relu"]],
    ids=repr,
)
def test_resolve_rejects(identifier):
    message = f"argument `forget_gate_activation`: {identifier!r} is not a Keras activation."
    with pytest.raises(ValueError, match=re.escape(message)):
        activations.resolve(identifier, "forget_gate_activation")


def test_resolve_error_lists_valid_names():
    with pytest.raises(ValueError) as info:
        activations.resolve("nope", "activation")
    message = str(info.value)
    assert f"Expected one of {activations.builtin_names()}" in message
    for name in ("'tanh'", "'sigmoid'", "'hard_sigmoid'", "'relu'"):
        assert name in message
    assert "register_keras_serializable" in message
    assert "or a callable" in message


# ----------------------------------------------------------------------------------------------
# resolve_parts
# ----------------------------------------------------------------------------------------------


def test_resolve_parts_unset_follow_defaults():
    sigmoid, tanh = keras.activations.sigmoid, keras.activations.tanh
    effective, overrides = activations.resolve_parts(
        {"forget_gate_activation": (None, sigmoid), "cell_activation": (None, tanh)}
    )
    assert effective == {"forget_gate_activation": sigmoid, "cell_activation": tanh}
    assert overrides == {"forget_gate_activation": None, "cell_activation": None}


def test_resolve_parts_set_values_are_resolved():
    sigmoid, tanh = keras.activations.sigmoid, keras.activations.tanh
    effective, overrides = activations.resolve_parts(
        {
            "forget_gate_activation": ("hard_sigmoid", sigmoid),
            "candidate_activation": ("tests>scaled_tanh", tanh),
            "cell_activation": (np.tanh, tanh),
            "output_gate_activation": (None, sigmoid),
        }
    )
    assert effective == {
        "forget_gate_activation": keras.activations.hard_sigmoid,
        "candidate_activation": scaled_tanh,
        "cell_activation": np.tanh,
        "output_gate_activation": sigmoid,
    }
    assert overrides == {
        "forget_gate_activation": keras.activations.hard_sigmoid,
        "candidate_activation": scaled_tanh,
        "cell_activation": np.tanh,
        "output_gate_activation": None,
    }


def test_resolve_parts_names_the_bad_part():
    with pytest.raises(ValueError, match=r"argument `cell_activation`: 'nope'"):
        activations.resolve_parts(
            {
                "forget_gate_activation": ("relu", keras.activations.sigmoid),
                "cell_activation": ("nope", keras.activations.tanh),
            }
        )


def test_resolve_parts_empty():
    assert activations.resolve_parts({}) == ({}, {})


# ----------------------------------------------------------------------------------------------
# check_units / check_rate
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("units", [1, 7, 128])
def test_check_units_accepts(units):
    assert activations.check_units(units) == units


@pytest.mark.parametrize("units", [0, -3, 2.5, 4.0, True, "4", None], ids=repr)
def test_check_units_rejects(units):
    message = (
        "Received an invalid value for argument `units`, expected a positive integer, "
        f"got {units!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        activations.check_units(units)


@pytest.mark.parametrize("rate", [0, 0.0, 0.25, 0.999])
def test_check_rate_accepts(rate):
    result = activations.check_rate(rate, "dropout")
    assert result == rate and isinstance(result, float)


@pytest.mark.parametrize("rate", [-0.1, 1, 1.0, 1.5, True, "0.1", None], ids=repr)
def test_check_rate_rejects(rate):
    message = (
        "Received an invalid value for argument `recurrent_dropout`, expected a float in [0, 1), "
        f"got {rate!r}."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        activations.check_rate(rate, "recurrent_dropout")


def test_none_is_linear_as_in_keras():
    assert activations.resolve(None, "activation") is keras.activations.linear


@pytest.mark.parametrize("units", [np.int64(4), np.int32(4)], ids=repr)
def test_check_units_accepts_numpy_integers(units):
    result = activations.check_units(units)
    assert result == 4 and type(result) is int


def test_check_rate_accepts_numpy_floats():
    assert activations.check_rate(np.float32(0.25), "dropout") == 0.25
