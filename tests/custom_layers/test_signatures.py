"""Each layer's signature names every argument of its cell, typed, with the cell's default.

The cell is the one source of the defaults: its `__init__` names its own arguments and hands the
rest (`use_bias`, initializers, ...) through `**kwargs` to its Keras base cell (`LSTMCell`, ...).
A layer (`SwappableLSTM`, ...) writes them all out in its signature, as `keras.layers.LSTM` does,
so they show in `help()` and an IDE; these tests hold that list to the cell's, so the two cannot
drift, and keep `**kwargs` for the `keras.layers.Layer` arguments alone.
"""

from __future__ import annotations

import inspect
import re
import typing

import keras
import pytest
from layer_checks import ROOT

import custom_layers
from custom_layers.rnn_layer import RNN_ARGUMENTS, CellLayer

LAYERS = [
    getattr(custom_layers, name)
    for name in custom_layers.__all__
    if isinstance(getattr(custom_layers, name), type)
    and issubclass(getattr(custom_layers, name), CellLayer)
]
# Arguments of a Keras base cell that the cell sets itself and does not take (MUT's GRU bias
# layout is always `reset_after=False`).
FIXED_BY_CELL = {"SwappableMUTCell": {"reset_after"}}


def _named(function):
    """The named parameters of `function`, without `self`, `*args` and `**kwargs`."""
    return [
        p
        for p in inspect.signature(function).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def cell_arguments(cell_class) -> dict[str, inspect.Parameter]:
    """Every argument `cell_class` takes, by name: its own `__init__`'s, then those it hands
    through `**kwargs` to the `__init__` of each base class up to (not including)
    `keras.layers.Layer`, less `FIXED_BY_CELL`. The first class to name an argument sets its
    default (IndRNN's `activation="relu"` over SimpleRNNCell's `"tanh"`)."""
    arguments = {}
    for cls in cell_class.__mro__:
        if cls is keras.layers.Layer:
            break
        if "__init__" not in vars(cls):
            continue
        for parameter in _named(cls.__init__):
            arguments.setdefault(parameter.name, parameter)
        kinds = [p.kind for p in inspect.signature(cls.__init__).parameters.values()]
        if inspect.Parameter.VAR_KEYWORD not in kinds:
            break
    for name in FIXED_BY_CELL.get(cell_class.__name__, ()):
        del arguments[name]
    return arguments


@pytest.fixture(params=LAYERS, ids=lambda layer: layer.__name__)
def layer(request):
    return request.param


def test_every_family_has_a_layer():
    assert {layer.__name__ for layer in LAYERS} == {
        "SwappableLSTM",
        "SwappableGRU",
        "SwappableSimpleRNN",
        "IndRNN",
        "SwappableMUT",
    }


def test_the_fixed_arguments_are_not_arguments_of_the_cell():
    cell = custom_layers.SwappableMUTCell
    assert "reset_after" not in cell(2).get_config()
    with pytest.raises(TypeError, match="reset_after"):
        cell(2, reset_after=True)


def test_layer_names_every_cell_argument_with_the_cells_default(layer):
    parameters = inspect.signature(layer.__init__).parameters
    for name, cell_parameter in cell_arguments(layer.cell_class).items():
        assert name in parameters, f"{layer.__name__} hides the cell's `{name}` in **kwargs"
        assert parameters[name].default == cell_parameter.default, name


def test_layer_names_only_cell_rnn_and_layer_arguments(layer):
    """The named parameters are the cell's and `keras.layers.RNN`'s; `**kwargs` takes the rest
    (`name`, `dtype`, `trainable`); no `*args`."""
    parameters = inspect.signature(layer.__init__).parameters
    named = {p.name for p in _named(layer.__init__)}
    assert named == set(cell_arguments(layer.cell_class)) | set(RNN_ARGUMENTS)
    assert [p.name for p in parameters.values() if p.kind is p.VAR_KEYWORD] == ["kwargs"]
    assert not [p for p in parameters.values() if p.kind is p.VAR_POSITIONAL]
    for name in RNN_ARGUMENTS:
        assert parameters[name].kind is parameters[name].KEYWORD_ONLY, name


def test_layer_takes_the_cells_positional_arguments_in_order(layer):
    """`SwappableLSTM(32, "relu")` means what `SwappableLSTMCell(32, "relu")` means; every
    other argument is a keyword."""

    def positional(function):
        return [p.name for p in _named(function) if p.kind is not p.KEYWORD_ONLY]

    assert positional(layer.__init__) == positional(layer.cell_class.__init__)


def test_every_parameter_is_annotated_and_resolves(layer):
    signature = inspect.signature(layer.__init__)
    for parameter in signature.parameters.values():
        if parameter.name == "self":
            continue
        assert parameter.annotation is not parameter.empty, parameter.name
    assert signature.return_annotation in (None, "None")
    hints = typing.get_type_hints(layer.__init__)  # the names in the annotations exist
    assert hints["return"] is type(None)
    assert hints["units"] is int


def test_docstring_lists_every_argument_once(layer):
    """`Args:` names each parameter exactly once (several may share an entry, `a, b: ...`)."""
    doc = inspect.getdoc(layer)
    args = doc.split("\nArgs:\n", 1)[1].split("\n\n", 1)[0]
    listed = []
    for line in args.splitlines():
        match = re.match(r"    (\*\*)?([\w, ]+):", line)  # an entry, not a continuation line
        if match and not line.startswith("     "):
            listed += [name.strip() for name in match.group(2).split(",")]
    names = [p.name for p in inspect.signature(layer.__init__).parameters.values()]
    assert sorted(listed) == sorted(name for name in names if name != "self")


def test_layer_hands_the_cell_its_defaults(layer):
    """A layer built with defaults records the cell's own defaults: the config is unchanged."""
    layer_config = layer(3).get_config()
    cell_config = layer.cell_class(3).get_config()
    for name in cell_arguments(layer.cell_class):
        assert layer_config[name] == cell_config[name], name


def test_py_typed_ships_with_the_package():
    tomllib = pytest.importorskip("tomllib")
    assert (ROOT / "custom_layers" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["custom_layers"]
