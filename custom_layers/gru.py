"""GRU cell and layer whose gate and candidate activations can each be swapped.

With default arguments `SwappableGRUCell` computes exactly what `keras.layers.GRUCell` computes,
with the same weights (`kernel (input_dim, 3*units)`, `recurrent_kernel (units, 3*units)`, `bias
(3*units,)`, or `(2, 3*units)` with `reset_after=True`, gates in the order z, r, h), so
`set_weights(keras_cell.get_weights())` works.
"""

from __future__ import annotations

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


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableGRUCell(CellMixin, keras.layers.GRUCell):
    """A GRU cell (Cho et al. 2014) with a separate activation for each gate and the candidate.

    Equations, with `x_z, x_r, x_h = x_t W + b_x` and `h_z, h_r, h_h = h_{t-1} U + b_h` split into
    the three blocks (`b_h` only with `reset_after=True`):

        z_t = update_gate_activation(x_z + h_z)
        r_t = reset_gate_activation(x_r + h_r)
        h~_t = candidate_activation(x_h + r_t * h_h)                 # reset_after=True
        h~_t = candidate_activation(x_h + (r_t * h_{t-1}) U_h)       # reset_after=False
        h_t = z_t * h_{t-1} + (1 - z_t) * h~_t

    `reset_after=True` (the default, cuDNN-compatible) follows Keras and cuDNN; `reset_after=False`
    is the formulation of Cho et al. (arXiv:1406.1078v3).

    Args:
        units: positive int, dimensionality of the output space.
        activation: default of `candidate_activation`. Default `"tanh"`.
        recurrent_activation: default of the two gate activations. Default `"sigmoid"`.
        update_gate_activation: activation of z_t; `None` means `recurrent_activation`.
        reset_gate_activation: activation of r_t; `None` means `recurrent_activation`.
        candidate_activation: activation of the candidate h~_t; `None` means `activation`.
        reset_after: whether the reset gate multiplies the recurrent projection of the candidate
            after the matrix multiplication (`True`, separate input and recurrent biases, bias
            shape `(2, 3*units)`) or h_{t-1} before it (`False`, bias shape `(3*units,)`).
        **kwargs: every other argument of `keras.layers.GRUCell` (`use_bias`, initializers,
            regularizers, constraints, `dropout`, `recurrent_dropout`, `seed`).

    Call arguments:
        inputs: `(batch, features)`, one time step.
        states: `[h_{t-1}]`, `(batch, units)`.
        training: whether dropout is active.

    Returns:
        `h_t (batch, units)` and the new states `[h_t]`.

    Example:

    >>> layer = keras.layers.RNN(SwappableGRUCell(8, update_gate_activation="hard_sigmoid"))
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        *,
        update_gate_activation=None,
        reset_gate_activation=None,
        candidate_activation=None,
        reset_after=True,
        dropout=0.0,
        recurrent_dropout=0.0,
        **kwargs,
    ):
        check_arguments(units, dropout, recurrent_dropout)
        kwargs.pop("implementation", None)  # one fused implementation only
        super().__init__(
            units,
            activation=activations.resolve(activation, "activation"),
            recurrent_activation=activations.resolve(recurrent_activation, "recurrent_activation"),
            reset_after=bool(reset_after),
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            **kwargs,
        )
        self.keep_fused_path()
        gate, branch = self.recurrent_activation, self.activation
        self.set_part_activations(
            {
                "update_gate_activation": (update_gate_activation, gate),
                "reset_gate_activation": (reset_gate_activation, gate),
                "candidate_activation": (candidate_activation, branch),
            }
        )

    def sequence_weights(self):
        """`(input_bias, recurrent_bias, recurrent_kernel, candidate_kernel)`, sliced once per
        sequence (see `CellMixin`) rather than at every step: the biases of x_t W and h_{t-1} U
        (None where absent), the recurrent kernel of the blocks multiplied by h_{t-1}, and with
        `reset_after=False` the candidate block of U (None otherwise)."""
        input_bias = recurrent_bias = None
        if self.use_bias:
            if self.reset_after:
                input_bias, recurrent_bias = self.bias[0], self.bias[1]
            else:
                input_bias = self.bias
        if self.reset_after:
            return input_bias, recurrent_bias, self.recurrent_kernel, None
        split = 2 * self.units
        return (
            input_bias,
            recurrent_bias,
            # `...`, not `:`: the same slices serve kernels with a leading seed axis
            # (experiments/seed_axis.py).
            self.recurrent_kernel[..., :split],
            self.recurrent_kernel[..., split:],
        )

    def call(self, inputs, states, training=False):
        is_list = isinstance(states, (list, tuple))
        h_tm1 = states[0] if is_list else states
        # h_in is what the recurrent kernel sees; the mixing below uses h_tm1 itself.
        inputs, h_in = self.apply_dropout(inputs, h_tm1, training)
        weights = self._sequence_weights
        if weights is None:
            weights = self.sequence_weights()
        input_bias, recurrent_bias, recurrent_kernel, candidate_kernel = weights

        # `ops.add` of a vector is a fusable bias add (TensorFlow: MatMul + BiasAdd).
        z_x = ops.matmul(inputs, self.kernel)
        if input_bias is not None:
            z_x = ops.add(z_x, input_bias)
        x_z, x_r, x_h = ops.split(z_x, 3, axis=-1)
        z_h = ops.matmul(h_in, recurrent_kernel)
        if recurrent_bias is not None:
            z_h = ops.add(z_h, recurrent_bias)
        if self.reset_after:
            h_z, h_r, h_h = ops.split(z_h, 3, axis=-1)
        else:
            h_z, h_r = ops.split(z_h, 2, axis=-1)

        z = self.update_gate_activation(x_z + h_z)
        r = self.reset_gate_activation(x_r + h_r)
        if self.reset_after:
            h_h = r * h_h
        else:
            h_h = ops.matmul(r * h_in, candidate_kernel)
        candidate = self.candidate_activation(x_h + h_h)
        h = z * h_tm1 + (1.0 - z) * candidate
        return h, [h] if is_list else h

    def get_config(self):
        config = self.part_activations_config()
        base_config = super().get_config()
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableGRU(CellLayer):
    """`keras.layers.RNN` over a `SwappableGRUCell`: a drop-in for `keras.layers.GRU`.

    Its arguments are the cell's (same names, same defaults; the cell documents the equations)
    plus those of `keras.layers.RNN`. Unlike `keras.layers.GRU` it never dispatches to cuDNN, so
    it computes the same thing on every device.

    Args:
        units: positive int, dimensionality of the output space.
        activation: default of `candidate_activation`. Default `"tanh"`.
        recurrent_activation: default of the two gate activations. Default `"sigmoid"`.
        update_gate_activation, reset_gate_activation: activation of z_t, r_t; `None` means
            `recurrent_activation`.
        candidate_activation: activation of the candidate h~_t; `None` means `activation`.
        reset_after: whether r_t multiplies h_{t-1} U_h (`True`, Keras and cuDNN, bias
            `(2, 3*units)`) or h_{t-1} before U_h (`False`, Cho et al., bias `(3*units,)`).
        use_bias: whether to add the biases.
        kernel_initializer: initializer of `kernel (input_dim, 3*units)`.
        recurrent_initializer: initializer of `recurrent_kernel (units, 3*units)`.
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

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((20, 2)),
    ...     SwappableGRU(16, reset_gate_activation="hard_sigmoid", candidate_activation="relu"),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.zeros((4, 20, 2), "float32")).shape)
    (4, 1)
    """

    cell_class = SwappableGRUCell

    def __init__(
        self,
        units: int,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        *,
        update_gate_activation: Activation = None,
        reset_gate_activation: Activation = None,
        candidate_activation: Activation = None,
        reset_after: bool = True,
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
