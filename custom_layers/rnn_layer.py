"""The `keras.layers.RNN` wrapper shared by every swappable cell family.

Each family's layer (`SwappableLSTM`, ...) is this class with its `cell_class` set and an explicit,
typed `__init__` that names every argument of its cell (with the cell's defaults) plus the RNN
ones, as `keras.layers.LSTM` does, and hands them on with `named_arguments(locals())`: the layer
builds the cell and saves one flat config (the cell's arguments beside the RNN's). The cell's
signature is the one source of the defaults; `tests/custom_layers/test_signatures.py` holds each
layer's signature to it.

Around its time loop the layer calls the cell's `begin_sequence()` and `end_sequence()` (the hook
of `custom_layers.cell.CellMixin`): the cell computes there, once per sequence, what every step
would otherwise recompute from its weights (the LSTM's joint `[recurrent_kernel; kernel]`), so
each step does less work. A cell in a plain `keras.layers.RNN` gets no such calls and computes the
same numbers step by step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

# The types of the arguments the layers name (what `keras.activations.get`,
# `keras.initializers.get`, ... accept): a name, a config dict, an object or a callable.
Activation = str | Callable[..., Any] | None
Initializer = str | dict[str, Any] | keras.initializers.Initializer | Callable[..., Any]
Regularizer = str | dict[str, Any] | keras.regularizers.Regularizer | None
Constraint = str | dict[str, Any] | keras.constraints.Constraint | None

# The arguments that belong to `keras.layers.RNN` (or `Layer`), not to the cell.
RNN_ARGUMENTS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
    "activity_regularizer",
)
_LAYER_ARGUMENTS = ("name", "trainable", "dtype", "input_shape", "batch_input_shape", "input_dim")


def named_arguments(local_names: dict[str, Any]) -> dict[str, Any]:
    """The arguments a layer's `__init__` was given, from its `locals()` taken first thing: each
    named parameter, then what `**kwargs` holds (`name`, `dtype`, ...).

    Lets a layer name its cell's arguments once, in its signature, and pass them all on:
    `super().__init__(**named_arguments(locals()))`.
    """
    named = {
        key: value
        for key, value in local_names.items()
        if key not in ("self", "__class__", "kwargs")  # `__class__`: zero-argument `super()`
    }
    return {**named, **local_names.get("kwargs", {})}


class CellLayer(keras.layers.RNN):
    """A `keras.layers.RNN` over one `cell_class` cell; subclasses set `cell_class`.

    Args:
        units: positive int, the dimensionality of the output space.
        return_sequences: whether to return the whole output sequence `(batch, time, units)`
            rather than the last output `(batch, units)`.
        return_state: whether to return the last state(s) in addition to the output.
        go_backwards: whether to process the input sequence backwards.
        stateful: whether the last state of each sample is the initial state of the same sample
            in the next batch.
        unroll: whether to unroll the time loop (faster for short sequences, more memory).
        **kwargs: the cell's arguments (see the cell class) and `keras.layers.Layer` arguments.

    Call arguments:
        sequences: float tensor `(batch, time, features)`.
        initial_state: optional list of state tensors, each `(batch, state_size)`.
        mask: optional bool tensor `(batch, time)`; masked steps keep the previous state.
        training: whether dropout is active.
    """

    cell_class: type[keras.layers.Layer]

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        **kwargs,
    ):
        layer_kwargs = {k: kwargs.pop(k) for k in _LAYER_ARGUMENTS + RNN_ARGUMENTS if k in kwargs}
        cell = self.cell_class(
            units,
            dtype=layer_kwargs.get("dtype"),
            trainable=layer_kwargs.get("trainable", True),
            **kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **layer_kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """Keras's loop over the time steps, between the cell's `begin_sequence` and
        `end_sequence` (masking, `go_backwards`, `unroll` and the states are Keras's)."""
        begin = getattr(self.cell, "begin_sequence", None)
        if begin is None:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        begin()
        try:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        finally:
            self.cell.end_sequence()

    @property
    def units(self):
        return self.cell.units

    @property
    def activation(self):
        return self.cell.activation

    def get_config(self):
        base_config = super().get_config()
        del base_config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**base_config, **cell_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
