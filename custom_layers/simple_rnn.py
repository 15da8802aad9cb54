"""Simple (Elman) RNN cell and layer with a swappable activation; the IRNN is one setting of it.

With default arguments `SwappableSimpleRNNCell` computes exactly what `keras.layers.SimpleRNNCell`
computes, with the same weights (`kernel (input_dim, units)`, `recurrent_kernel (units, units)`,
`bias (units,)`), so `set_weights(keras_cell.get_weights())` works.
"""

from __future__ import annotations

from typing import Any

import keras

from custom_layers import activations
from custom_layers.cell import CellMixin, check_arguments
from custom_layers.rnn_layer import (
    Activation,
    CellLayer,
    Constraint,
    Initializer,
    Regularizer,
    named_arguments,
)


@keras.saving.register_keras_serializable(package="custom_layers")
class ScaledIdentity(keras.initializers.Identity):
    """`keras.initializers.Identity` whose `gain` survives `get_config`/`from_config`.

    Keras 3's `Identity` does not save its `gain` (its config is empty), so a scaled-identity
    IRNN would come back from a config or a `.keras` file with gain 1. `SwappableSimpleRNNCell`
    swaps a `keras.initializers.Identity` argument for this class; use it directly elsewhere.

    Args:
        gain: the multiple of the identity matrix to generate.

    Example:

    >>> keras.ops.convert_to_numpy(ScaledIdentity(gain=0.5)((2, 2))).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """

    def get_config(self):
        return {"gain": self.gain}


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableSimpleRNNCell(CellMixin, keras.layers.SimpleRNNCell):
    """A fully connected recurrent cell (Elman 1990): `h_t = activation(x_t W + h_{t-1} U + b)`.

    The IRNN of Le et al. 2015 ("A Simple Way to Initialize Recurrent Networks of Rectified
    Linear Units") is this cell with `activation="relu"`, `recurrent_initializer="identity"` (or
    `keras.initializers.Identity(gain=...)` for a scaled identity) and zero biases (the
    default): at initialization each unit copies its state forward, so neither the state nor its
    gradient decays over time. A `keras.initializers.Identity` argument is stored as the
    equivalent `ScaledIdentity`, whose gain survives saving (Keras's own forgets it).

    Args:
        units: positive int, dimensionality of the output space.
        activation: the activation of h_t: a Keras built-in name, a registered name or a
            callable. Default `"tanh"`.
        recurrent_initializer: initializer of `recurrent_kernel (units, units)`. Default
            `"orthogonal"`; `"identity"`, `keras.initializers.Identity(gain=g)` or
            `ScaledIdentity(gain=g)` give the IRNN.
        **kwargs: every other argument of `keras.layers.SimpleRNNCell` (`use_bias`,
            `kernel_initializer`, `bias_initializer`, regularizers, constraints, `dropout`,
            `recurrent_dropout`, `seed`).

    Call arguments:
        inputs: `(batch, features)`, one time step.
        states: `[h_{t-1}]`, `(batch, units)`.
        training: whether dropout is active.

    Returns:
        `h_t (batch, units)` and the new states `[h_t]`.

    Example, an IRNN:

    >>> cell = SwappableSimpleRNNCell(8, activation="relu", recurrent_initializer="identity")
    >>> layer = keras.layers.RNN(cell)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    """

    def __init__(
        self,
        units,
        activation="tanh",
        *,
        recurrent_initializer="orthogonal",
        dropout=0.0,
        recurrent_dropout=0.0,
        **kwargs,
    ):
        check_arguments(units, dropout, recurrent_dropout)
        if type(recurrent_initializer) is keras.initializers.Identity:
            # Keras's Identity forgets its gain when serialized; keep it.
            recurrent_initializer = ScaledIdentity(gain=recurrent_initializer.gain)
        super().__init__(
            units,
            activation=activations.resolve(activation, "activation"),
            recurrent_initializer=recurrent_initializer,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            **kwargs,
        )

    def call(self, inputs, states, training=False):
        # Keras's step, under the step input's name in every family (Keras calls it `sequence`).
        return super().call(inputs, states, training=training)


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableSimpleRNN(CellLayer):
    """`keras.layers.RNN` over a `SwappableSimpleRNNCell`: a drop-in for `keras.layers.SimpleRNN`.

    Its arguments are the cell's (same names, same defaults) plus those of `keras.layers.RNN`.

    Args:
        units: positive int, dimensionality of the output space.
        activation: the activation of h_t. Default `"tanh"`.
        use_bias: whether to add the bias `(units,)`.
        kernel_initializer: initializer of `kernel (input_dim, units)`.
        recurrent_initializer: initializer of `recurrent_kernel (units, units)`; `"identity"`,
            `keras.initializers.Identity(gain=g)` or `ScaledIdentity(gain=g)` give the IRNN.
        bias_initializer: initializer of `bias`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: regularizers of the weights.
        activity_regularizer: regularizer of the layer's output.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints of the weights.
        dropout: float in [0, 1), the fraction of x_t dropped (one mask per sequence).
        recurrent_dropout: float in [0, 1), the fraction of h_{t-1} dropped (one mask per
            sequence).
        seed: random seed of the dropout masks.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            the arguments of `keras.layers.RNN` (see `CellLayer`).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        sequences: `(batch, time, features)`; mask: optional `(batch, time)` bools.

    Returns:
        `(batch, units)`, or `(batch, time, units)` with `return_sequences`; with `return_state`,
        followed by the last `h (batch, units)`.

    Example, an IRNN (Le et al. 2015) with a scaled identity:

    >>> model = keras.Sequential([
    ...     keras.Input((20, 2)),
    ...     SwappableSimpleRNN(
    ...         16,
    ...         activation="relu",
    ...         recurrent_initializer=keras.initializers.Identity(gain=0.9),
    ...     ),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.zeros((4, 20, 2), "float32")).shape)
    (4, 1)
    """

    cell_class = SwappableSimpleRNNCell

    def __init__(
        self,
        units: int,
        activation: Activation = "tanh",
        *,
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer = "orthogonal",
        bias_initializer: Initializer = "zeros",
        kernel_regularizer: Regularizer = None,
        recurrent_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        activity_regularizer: Regularizer = None,
        kernel_constraint: Constraint = None,
        recurrent_constraint: Constraint = None,
        bias_constraint: Constraint = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**named_arguments(locals()))
