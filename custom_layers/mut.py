"""MUT1, MUT2 and MUT3 cells and layer: the three GRU-like architectures that Jozefowicz, Zaremba &
Sutskever found by evolutionary search ("An Empirical Exploration of Recurrent Network
Architectures", ICML 2015), with swappable gate and candidate activations.

Weights (blocks of `units` columns, in this order; d input features, u units):

    variant  kernel (d, k*u)     recurrent_kernel (u, m*u)  bias (3*u,)      input_projection
    mut1     [W_xz, W_xr]        [W_hr, W_hh]               [b_z, b_r, b_h]  (d, u) if d != u
    mut2     [W_xz, W_xh]        [W_hz, W_hr, W_hh]         [b_z, b_r, b_h]  (d, u) if d != u
    mut3     [W_xz, W_xr, W_xh]  [W_hz, W_hr, W_hh]         [b_z, b_r, b_h]  none

The bias blocks are those of `keras.layers.GRU` with `reset_after=False` (z, r, h).
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

VARIANTS = ("mut1", "mut2", "mut3")
# The blocks of `kernel` (input weights) and `recurrent_kernel`, by variant, in their order.
INPUT_BLOCKS = {"mut1": ("z", "r"), "mut2": ("z", "h"), "mut3": ("z", "r", "h")}
RECURRENT_BLOCKS = {"mut1": ("r", "h"), "mut2": ("z", "r", "h"), "mut3": ("z", "r", "h")}
# The variants with a raw x_t term (MUT1's tanh(x_t), MUT2's x_t in r), which needs `units` inputs.
RAW_INPUT_VARIANTS = ("mut1", "mut2")


def check_variant(variant) -> str:
    """Validates the `variant` argument: one of `VARIANTS`."""
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(
            f"Received an invalid value for argument `variant`, expected one of {VARIANTS}, "
            f"got {variant!r}."
        )
    return variant


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableMUTCell(CellMixin, keras.layers.GRUCell):
    """A MUT1, MUT2 or MUT3 cell (Jozefowicz, Zaremba & Sutskever 2015, "An Empirical
    Exploration of Recurrent Network Architectures", ICML), with a separate activation for each
    gate and the candidate.

    The paper's equations, with h_t the state, x_t the input and `*` the element-wise product
    (`sigm` is a gate activation, the outer `tanh` the candidate activation):

        MUT1: z = sigm(W_xz x_t + b_z)
              r = sigm(W_xr x_t + W_hr h_t + b_r)
              h_{t+1} = tanh(W_hh (r * h_t) + tanh(x_t) + b_h) * z + h_t * (1 - z)
        MUT2: z = sigm(W_xz x_t + W_hz h_t + b_z)
              r = sigm(x_t + W_hr h_t + b_r)
              h_{t+1} = tanh(W_hh (r * h_t) + W_xh x_t + b_h) * z + h_t * (1 - z)
        MUT3: z = sigm(W_xz x_t + W_hz tanh(h_t) + b_z)
              r = sigm(W_xr x_t + W_hr h_t + b_r)
              h_{t+1} = tanh(W_hh (r * h_t) + W_xh x_t + b_h) * z + h_t * (1 - z)

    Here z is `update_gate_activation`, r `reset_gate_activation` and the outer tanh
    `candidate_activation`. Unlike Keras's GRU, z weighs the candidate and 1 - z the old state,
    as in the paper. The inner tanh(x_t) of MUT1 and tanh(h_t) of MUT3 belong to the architecture:
    they stay tanh whatever the activation arguments.

    Input width. MUT1's tanh(x_t) and MUT2's x_t (in r) add the input to `units`-wide terms: the
    paper's inputs were embeddings of that width. When the input has exactly `units` features,
    x_t is used as in the paper. Otherwise the cell learns `input_projection (input_dim, units)`
    (no bias; initialized, regularized and constrained as `kernel`) and uses x_t P in place of
    x_t in those terms only (MUT1: tanh(x_t P); MUT2: r = sigm(x_t P + W_hr h_t + b_r)). MUT3 has
    no such term and never has a projection.

    Weights (blocks of `units` columns, in this order):
    - `kernel (input_dim, k*units)`: MUT1 [W_xz, W_xr], MUT2 [W_xz, W_xh], MUT3 [W_xz, W_xr,
      W_xh];
    - `recurrent_kernel (units, m*units)`: MUT1 [W_hr, W_hh], MUT2 and MUT3 [W_hz, W_hr, W_hh];
    - `bias (3*units,)`: [b_z, b_r, b_h] (with `use_bias`);
    - `input_projection (input_dim, units)`: MUT1 and MUT2 when `input_dim != units`.
    A W here multiplies from the left as in the paper; in the weights it is stored transposed,
    as Keras stores kernels (x_t W).

    A step does two matmuls: one of `[x_t, h_t]` (MUT3: `[x_t, tanh(h_t), h_t]`) by a joint
    kernel that `sequence_weights` assembles once per sequence from the blocks above (zeros where
    a term is absent), giving every term that does not depend on r, and then `(r * h_t) W_hh`.

    Args:
        units: positive int, dimensionality of the output space.
        variant: `"mut1"`, `"mut2"` or `"mut3"`. Default `"mut1"`.
        activation: default of `candidate_activation`. Default `"tanh"`.
        recurrent_activation: default of the two gate activations. Default `"sigmoid"`.
        update_gate_activation: activation of z; `None` means `recurrent_activation`.
        reset_gate_activation: activation of r; `None` means `recurrent_activation`.
        candidate_activation: the outer activation of the candidate; `None` means `activation`.
        dropout: float in [0, 1), the fraction of x_t dropped (one mask for the whole sequence).
        recurrent_dropout: float in [0, 1), the fraction of h_t dropped where the weights see it
            (W_hz, W_hr, W_hh and MUT3's tanh(h_t)); the mixing with 1 - z uses h_t itself.
        **kwargs: every other argument of `keras.layers.GRUCell` but `reset_after` (`use_bias`,
            initializers, regularizers, constraints, `seed`).

    Call arguments:
        inputs: `(batch, features)`, one time step.
        states: `[h_t]`, `(batch, units)`.
        training: whether dropout is active.

    Returns:
        `h_{t+1} (batch, units)` and the new states `[h_{t+1}]`.

    Example:

    >>> cell = SwappableMUTCell(8, "mut2", reset_gate_activation="hard_sigmoid")
    >>> layer = keras.layers.RNN(cell)
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)
    >>> [w.name for w in cell.weights]  # 3 features, 8 units: a projection
    ['kernel', 'recurrent_kernel', 'bias', 'input_projection']
    >>> tuple(cell.input_projection.shape)
    (3, 8)
    """

    def __init__(
        self,
        units,
        variant="mut1",
        activation="tanh",
        recurrent_activation="sigmoid",
        *,
        update_gate_activation=None,
        reset_gate_activation=None,
        candidate_activation=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        **kwargs,
    ):
        check_arguments(units, dropout, recurrent_dropout)
        variant = check_variant(variant)
        kwargs.pop("implementation", None)  # one fused implementation only
        super().__init__(
            units,
            activation=activations.resolve(activation, "activation"),
            recurrent_activation=activations.resolve(recurrent_activation, "recurrent_activation"),
            reset_after=False,  # not an argument here: GRUCell's bias shape (3*units,)
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            **kwargs,
        )
        self.variant = variant
        self.keep_fused_path()
        gate, branch = self.recurrent_activation, self.activation
        self.set_part_activations(
            {
                "update_gate_activation": (update_gate_activation, gate),
                "reset_gate_activation": (reset_gate_activation, gate),
                "candidate_activation": (candidate_activation, branch),
            }
        )

    def build(self, input_shape):
        keras.layers.Layer.build(self, input_shape)
        input_dim, units = input_shape[-1], self.units
        self.kernel = self.add_weight(
            shape=(input_dim, len(INPUT_BLOCKS[self.variant]) * units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(units, len(RECURRENT_BLOCKS[self.variant]) * units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(3 * units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.input_projection = None
        if self.variant in RAW_INPUT_VARIANTS and input_dim != units:
            self.input_projection = self.add_weight(
                shape=(input_dim, units),
                name="input_projection",
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )

    def sequence_weights(self):
        """`(joint_kernel, candidate_kernel, biases)`, assembled once per sequence (see
        `CellMixin`) rather than at every step.

        `joint_kernel` multiplies `[x_t, h_t]` (MUT3: `[x_t, tanh(h_t), h_t]`) and gives, in
        blocks of `units`: MUT1 [z, r] (and [x_t P] with a projection); MUT2 [z, r, h] (the
        r block holds x_t P with a projection, nothing of x_t without one); MUT3 [z, r, h]. Its
        rows for x_t are `kernel`'s blocks (and P), its rows for h_t the recurrent blocks, and
        zeros where a term is absent. `candidate_kernel` is W_hh, for `(r * h_t) W_hh`;
        `biases` `(b_z, b_r, b_h)`, or None without `use_bias`.
        """
        n = self.units
        # `...` and axis -1 / -2, never axis 0: the same lines serve weights with a leading seed
        # axis (experiments/seed_axis.py).
        kernel, recurrent = self.kernel, self.recurrent_kernel
        projection = self.input_projection
        h_zero = ops.zeros_like(recurrent[..., :n])  # (units, units)
        if self.variant == "mut1":
            x_row = [kernel] if projection is None else [kernel, projection]
            h_row = [h_zero, recurrent[..., :n]] + ([] if projection is None else [h_zero])
            rows = [x_row, h_row]
        elif self.variant == "mut2":
            x_r = ops.zeros_like(kernel[..., :n]) if projection is None else projection
            rows = [
                [kernel[..., :n], x_r, kernel[..., n:]],
                [recurrent[..., : 2 * n], h_zero],
            ]
        else:  # mut3: the z block sees tanh(h_t), the r block h_t
            rows = [
                [kernel],
                [recurrent[..., :n], h_zero, h_zero],
                [h_zero, recurrent[..., n : 2 * n], h_zero],
            ]
        joint = ops.concatenate([ops.concatenate(row, axis=-1) for row in rows], axis=-2)
        biases = None if self.bias is None else ops.split(self.bias, 3, axis=-1)
        return joint, recurrent[..., -n:], biases

    def call(self, inputs, states, training=False):
        is_list = isinstance(states, (list, tuple))
        h_tm1 = states[0] if is_list else states
        # h_in is what the weights see; the mixing below uses h_tm1 itself.
        inputs, h_in = self.apply_dropout(inputs, h_tm1, training)
        weights = self._sequence_weights
        if weights is None:
            weights = self.sequence_weights()
        joint_kernel, candidate_kernel, biases = weights

        if self.variant == "mut3":
            left = [inputs, ops.tanh(h_in), h_in]  # tanh(h_t): the architecture's, not swappable
        else:
            left = [inputs, h_in]
        joint = ops.matmul(ops.concatenate(left, axis=-1), joint_kernel)
        blocks = ops.split(joint, joint_kernel.shape[-1] // self.units, axis=-1)
        a_z, a_r = blocks[0], blocks[1]
        if self.variant == "mut1":
            # tanh(x_t) (or tanh(x_t P)): the architecture's, not swappable.
            a_h = ops.tanh(inputs if self.input_projection is None else blocks[2])
        else:
            a_h = blocks[2]
            if self.variant == "mut2" and self.input_projection is None:
                a_r = a_r + inputs  # the paper's raw x_t
        if biases is not None:
            b_z, b_r, b_h = biases
            a_z, a_r, a_h = ops.add(a_z, b_z), ops.add(a_r, b_r), ops.add(a_h, b_h)

        z = self.update_gate_activation(a_z)
        r = self.reset_gate_activation(a_r)
        candidate = self.candidate_activation(ops.matmul(r * h_in, candidate_kernel) + a_h)
        h = candidate * z + h_tm1 * (1.0 - z)
        return h, [h] if is_list else h

    def get_config(self):
        config = {"variant": self.variant, **self.part_activations_config()}
        base_config = super().get_config()
        del base_config["reset_after"]  # always False here, not an argument
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableMUT(CellLayer):
    """`keras.layers.RNN` over a `SwappableMUTCell`: MUT1, MUT2 or MUT3 (Jozefowicz et al. 2015).

    Its arguments are the cell's (same names, same defaults, `variant` second: `SwappableMUT(32,
    "mut2")`; the cell documents the equations and the weights) plus those of `keras.layers.RNN`.

    Args:
        units: positive int, dimensionality of the output space.
        variant: `"mut1"`, `"mut2"` or `"mut3"`. Default `"mut1"`.
        activation: default of `candidate_activation`. Default `"tanh"`.
        recurrent_activation: default of the two gate activations. Default `"sigmoid"`.
        update_gate_activation, reset_gate_activation: activation of z, r; `None` means
            `recurrent_activation`.
        candidate_activation: the outer activation of the candidate; `None` means `activation`.
        use_bias: whether to add the bias `(3*units,)`.
        kernel_initializer: initializer of `kernel (input_dim, k*units)` and of
            `input_projection (input_dim, units)`.
        recurrent_initializer: initializer of `recurrent_kernel (units, m*units)`.
        bias_initializer: initializer of `bias`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: regularizers of the weights.
        activity_regularizer: regularizer of the layer's output.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints of the weights.
        dropout: float in [0, 1), the fraction of x_t dropped (one mask per sequence).
        recurrent_dropout: float in [0, 1), the fraction of h_t dropped where the weights see it
            (one mask per sequence).
        seed: random seed of the dropout masks.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            the arguments of `keras.layers.RNN` (see `CellLayer`).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        sequences: `(batch, time, features)`; mask: optional `(batch, time)` bools.

    Returns:
        `(batch, units)`, or `(batch, time, units)` with `return_sequences`; with `return_state`,
        followed by the last `h (batch, units)`.

    Example, MUT3 with a ReLU candidate and hard-sigmoid gates:

    >>> model = keras.Sequential([
    ...     keras.Input((20, 2)),
    ...     SwappableMUT(
    ...         16, variant="mut3", recurrent_activation="hard_sigmoid", candidate_activation="relu"
    ...     ),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.zeros((4, 20, 2), "float32")).shape)
    (4, 1)
    """

    cell_class = SwappableMUTCell

    def __init__(
        self,
        units: int,
        variant: str = "mut1",
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        *,
        update_gate_activation: Activation = None,
        reset_gate_activation: Activation = None,
        candidate_activation: Activation = None,
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

    @property
    def variant(self):
        return self.cell.variant
