"""IndRNN cell and layer (Li et al. 2018), and the `MaxAbs` constraint that bounds its recurrence.

Each unit sees only its own previous state, through one scalar recurrent weight:
`h_t = activation(x_t W + u * h_{t-1} + b)`, so the weights are `kernel (input_dim, units)`,
`recurrent_kernel (units,)` (the vector u) and `bias (units,)`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

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


def _check_max_abs(value, argument: str) -> float:
    """Validates a bound on absolute values: a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"Received an invalid value for argument `{argument}`, expected a finite float > 0, "
            f"got {value!r}."
        )
    return float(value)


@keras.saving.register_keras_serializable(package="custom_layers")
class MaxAbs(keras.constraints.Constraint):
    """Clips every weight into `[-max_value, max_value]`.

    Keras optimizers apply a variable's constraint after each update, which is how Li et al. 2018
    bound the IndRNN recurrent weights (clip after the update).

    Args:
        max_value: float > 0, the largest absolute value a weight may take.

    Example:

    >>> keras.ops.convert_to_numpy(MaxAbs(0.5)(np.array([-2.0, 0.25, 3.0]))).tolist()
    [-0.5, 0.25, 0.5]
    """

    def __init__(self, max_value):
        self.max_value = _check_max_abs(max_value, "max_value")

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        return ops.clip(w, -self.max_value, self.max_value)

    def get_config(self):
        return {"max_value": self.max_value}


def _chain(first, then):
    """The constraint applying `first`, then `then`."""

    def constraint(w):
        return then(first(w))

    return constraint


@keras.saving.register_keras_serializable(package="custom_layers")
class IndRNNCell(CellMixin, keras.layers.SimpleRNNCell):
    """An independently recurrent cell (Li et al. 2018, "Independently Recurrent Neural Network
    (IndRNN): Building A Longer and Deeper RNN").

    Equation, with `*` the element-wise product and u a vector (one recurrent weight per unit):

        h_t = activation(x_t W + u * h_{t-1} + b)

    The gradient through time of unit n is a product of `u_n * activation'(.)` terms, so bounding
    |u_n| controls exploding and vanishing gradients. For ReLU and sequences of length T, Li et al.
    keep |u_n| <= 2**(1/T) (`recurrent_max_abs=2 ** (1 / T)`), so that the recurrent factor
    |u_n|**T of a gradient carried over the whole sequence stays at most 2.

    Args:
        units: positive int, dimensionality of the output space.
        activation: the activation of h_t. Default `"relu"`, as in the paper.
        use_bias: whether to add the bias b.
        kernel_initializer: initializer of `kernel (input_dim, units)`. Default
            `"glorot_uniform"`.
        recurrent_initializer: initializer of `recurrent_kernel (units,)`. `None` (the default)
            means `keras.initializers.RandomUniform(0.0, 1.0)`: each u_n uniform in [0, 1], as in
            common IndRNN implementations; with a ReLU this starts every unit between forgetting
            and keeping its state. To initialize inside a bound, e.g. uniform in
            [0, 2**(1/T)], pass `keras.initializers.RandomUniform(0.0, 2 ** (1 / T))`.
        bias_initializer: initializer of `bias (units,)`. Default `"zeros"`.
        recurrent_max_abs: float > 0 or `None`. When set, |u_n| <= recurrent_max_abs is enforced
            by a `MaxAbs` constraint on `recurrent_kernel`: on the initial values, and by Keras
            optimizers after every update (as the paper clips after each update). It is applied
            after `recurrent_constraint`, if both are given. The paper uses `2 ** (1 / T)` with
            ReLU.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: regularizers of the weights.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints of the weights.
        dropout: float in [0, 1), the fraction of inputs x_t dropped (one mask for the whole
            sequence).
        recurrent_dropout: float in [0, 1), the fraction of h_{t-1} dropped before `u *`
            (one mask for the whole sequence).
        seed: random seed of the dropout masks.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, features)`, one time step.
        states: `[h_{t-1}]`, `(batch, units)`.
        training: whether dropout is active.

    Returns:
        `h_t (batch, units)` and the new states `[h_t]`.

    Example:

    >>> cell = IndRNNCell(8, recurrent_max_abs=2 ** (1 / 5))
    >>> layer = keras.layers.RNN(cell)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    >>> tuple(cell.recurrent_kernel.shape)
    (8,)
    """

    def __init__(
        self,
        units,
        activation="relu",
        *,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer=None,
        bias_initializer="zeros",
        recurrent_max_abs=None,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        check_arguments(units, dropout, recurrent_dropout)
        if recurrent_max_abs is not None:
            recurrent_max_abs = _check_max_abs(recurrent_max_abs, "recurrent_max_abs")
        if recurrent_initializer is None:
            recurrent_initializer = keras.initializers.RandomUniform(minval=0.0, maxval=1.0)
        super().__init__(
            units,
            activation=activations.resolve(activation, "activation"),
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            **kwargs,
        )
        self.recurrent_max_abs = recurrent_max_abs

    def _recurrent_kernel_constraint(self):
        """`recurrent_constraint` followed by the `recurrent_max_abs` bound (either may be None)."""
        if self.recurrent_max_abs is None:
            return self.recurrent_constraint
        bound = MaxAbs(self.recurrent_max_abs)
        if self.recurrent_constraint is None:
            return bound
        return _chain(self.recurrent_constraint, bound)

    def _recurrent_kernel_initializer(self):
        """`recurrent_initializer`, its values clipped to `recurrent_max_abs` when that is set."""
        if self.recurrent_max_abs is None:
            return self.recurrent_initializer
        bound = MaxAbs(self.recurrent_max_abs)

        def initializer(shape, *args, **kwargs):
            return bound(self.recurrent_initializer(shape, *args, **kwargs))

        return initializer

    def build(self, input_shape):
        keras.layers.Layer.build(self, input_shape)
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units,),
            name="recurrent_kernel",
            initializer=self._recurrent_kernel_initializer(),
            regularizer=self.recurrent_regularizer,
            constraint=self._recurrent_kernel_constraint(),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs, states, training=False):
        is_list = isinstance(states, (list, tuple))
        h_tm1 = states[0] if is_list else states
        inputs, h_tm1 = self.apply_dropout(inputs, h_tm1, training)
        z_x = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            # `ops.add` of a vector is a fusable bias add (TensorFlow: MatMul + BiasAdd), and
            # adding it to x_t W keeps it off the path from h_{t-1} to h_t.
            z_x = ops.add(z_x, self.bias)
        h = self.activation(z_x + self.recurrent_kernel * h_tm1)
        return h, [h] if is_list else h

    def get_config(self):
        config = {"recurrent_max_abs": self.recurrent_max_abs}
        base_config = super().get_config()
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="custom_layers")
class IndRNN(CellLayer):
    """`keras.layers.RNN` over an `IndRNNCell` (Li et al. 2018).

    Its arguments are the cell's (same names, same defaults; the cell documents the equation and
    the bound) plus those of `keras.layers.RNN`.

    Args:
        units: positive int, dimensionality of the output space.
        activation: the activation of h_t. Default `"relu"`, as in the paper.
        use_bias: whether to add the bias `(units,)`.
        kernel_initializer: initializer of `kernel (input_dim, units)`.
        recurrent_initializer: initializer of `recurrent_kernel (units,)`; `None` means
            `keras.initializers.RandomUniform(0.0, 1.0)`.
        bias_initializer: initializer of `bias`.
        recurrent_max_abs: float > 0 or `None`: when set, |u_n| <= recurrent_max_abs (a `MaxAbs`
            constraint on `recurrent_kernel`, after `recurrent_constraint`).
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

    Example, a two-layer IndRNN for sequences of 100 steps, |u| <= 2**(1/100):

    >>> model = keras.Sequential([
    ...     keras.Input((100, 2)),
    ...     IndRNN(16, recurrent_max_abs=2 ** (1 / 100), return_sequences=True),
    ...     IndRNN(16, recurrent_max_abs=2 ** (1 / 100)),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.zeros((4, 100, 2), "float32")).shape)
    (4, 1)
    """

    cell_class = IndRNNCell

    def __init__(
        self,
        units: int,
        activation: Activation = "relu",
        *,
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer | None = None,
        bias_initializer: Initializer = "zeros",
        recurrent_max_abs: float | None = None,
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
