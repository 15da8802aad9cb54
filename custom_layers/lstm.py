"""LSTM cell and layer whose every gate and branch activation can be swapped.

With default arguments `SwappableLSTMCell` computes exactly what `keras.layers.LSTMCell` computes,
with the same weights (`kernel (input_dim, 4*units)`, `recurrent_kernel (units, 4*units)`,
`bias (4*units,)`, gates in the order i, f, c, o), so `set_weights(keras_cell.get_weights())` works.
A variant without some gate (CIFG, or Greff et al.'s NIG / NFG / NOG) drops that gate's block and
keeps the others in the same order.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
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

# Keras LayerNormalization's default epsilon.
LAYER_NORM_EPSILON = 1e-3

# The `units`-wide blocks of the gate weights, in Keras's order (i, f, c, o); a cell without some
# gate drops its block (`SwappableLSTMCell.blocks`).
BLOCKS = ("input", "forget", "candidate", "output")
# The gates that `input_gate`, `forget_gate`, `output_gate` can remove, and the symbol of each.
GATES = {"input": "i_t", "forget": "f_t", "output": "o_t"}


def _layer_norm(x, gamma, beta=None):
    """Normalizes `x (batch, n)` over its last axis, scales by `gamma (n,)`, shifts by `beta`."""
    mean = ops.mean(x, axis=-1, keepdims=True)
    variance = ops.var(x, axis=-1, keepdims=True)
    x = (x - mean) * ops.rsqrt(variance + LAYER_NORM_EPSILON) * gamma
    return x if beta is None else x + beta


def _check_gates(present, coupled_input_forget, gate_activations):
    """Validates the gate switches against CIFG and the gate activations.

    Args:
        present: `input_gate`, `forget_gate`, `output_gate` by gate name.
        coupled_input_forget: the CIFG switch.
        gate_activations: each gate's activation argument as given (None when unset).

    Raises:
        ValueError: a switch is not a bool, CIFG is combined with `input_gate=False` or
            `forget_gate=False`, or an activation is given for a removed gate.
    """
    for gate, value in present.items():
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(
                f"Received an invalid value for argument `{gate}_gate`, expected a bool, got "
                f"{value!r}."
            )
    if coupled_input_forget and not present["forget"]:
        raise ValueError(
            "Received contradictory arguments: `coupled_input_forget=True` sets i_t = 1 - f_t, "
            "which is 0 with `forget_gate=False` (f_t = 1): the cell would never write. Use "
            "`coupled_input_forget=False` with `forget_gate=False` (NFG)."
        )
    if coupled_input_forget and not present["input"]:
        raise ValueError(
            "Received contradictory arguments: `coupled_input_forget=True` already removes the "
            "input gate (i_t = 1 - f_t), and `input_gate=False` would set i_t = 1 instead. Pass "
            "`coupled_input_forget=True` (CIFG) or `input_gate=False` (NIG), not both."
        )
    for gate, activation in gate_activations.items():
        if activation is None:
            continue
        if gate == "input" and coupled_input_forget:
            removed = "`coupled_input_forget=True` removes the input gate (i_t = 1 - f_t)"
        elif not present[gate]:
            removed = f"`{gate}_gate=False` removes the {gate} gate ({GATES[gate]} = 1)"
        else:
            continue
        raise ValueError(
            f"Received contradictory arguments: {removed}, so `{gate}_gate_activation` must be "
            f"None, got {activation!r}."
        )


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableLSTMCell(CellMixin, keras.layers.LSTMCell):
    """An LSTM cell (Hochreiter & Schmidhuber 1997) with per-gate activations and variants.

    Equations, with `z = x_t W + h_{t-1} U + b` split into the pre-activations of the blocks
    present (i, f, c, o by default; `blocks`):

        i_t = input_gate_activation(z_i [+ p_i * c_{t-1}])    1 if `input_gate=False`
        f_t = forget_gate_activation(z_f [+ p_f * c_{t-1}])   1 if `forget_gate=False`
        c_t = f_t * c_{t-1} + i_t * candidate_activation(z_c)
        o_t = output_gate_activation(z_o [+ p_o * c_t])       1 if `output_gate=False`
        h_t = o_t * cell_activation(c_t)

    The variants of Greff et al. (2017, "LSTM: A Search Space Odyssey", IEEE TNNLS 28(10)) are
    settings of this cell (their "vanilla" LSTM is `peephole=True`):

        NIG   no input gate             input_gate=False
        NFG   no forget gate            forget_gate=False
        NOG   no output gate            output_gate=False
        NIAF  no input activation       candidate_activation="linear"
        NOAF  no output activation      cell_activation="linear"
        NP    no peepholes              peephole=False (the default)
        CIFG  coupled input and forget  coupled_input_forget=True

    (Their FGR, full gate recurrence, is not offered.)

    Args:
        units: positive int, dimensionality of the output space.
        activation: default of `candidate_activation` and `cell_activation`. Default `"tanh"`.
        recurrent_activation: default of the three gate activations. Default `"sigmoid"`.
        input_gate_activation: activation of i_t; `None` means `recurrent_activation`.
        forget_gate_activation: activation of f_t; `None` means `recurrent_activation`.
        output_gate_activation: activation of o_t; `None` means `recurrent_activation`.
        candidate_activation: activation of the candidate branch (g, C~); `None` means
            `activation`.
        cell_activation: activation applied to c_t before the output gate; `None` means
            `activation`.
        peephole: diagonal peephole connections (Gers & Schmidhuber 2000): the input and
            forget gates see c_{t-1}, the output gate sees c_t. Adds `input_peephole`,
            `forget_peephole`, `output_peephole` weights, each `(units,)`, initialized by
            `peephole_initializer` (default `"glorot_uniform"`, as TensorFlow Addons'
            `PeepholeLSTMCell`; a separate argument because matrix-only kernel initializers such
            as `"orthogonal"` cannot fill a vector).
        coupled_input_forget: CIFG (Greff et al. 2017, "LSTM: A Search Space Odyssey"): no input
            gate, i_t = 1 - f_t. The gate weights are then `3*units` wide, in the order f, c, o.
            Cannot be combined with `input_gate=False` (CIFG already has no input gate of its
            own) nor with `forget_gate=False` (i_t would be 0).
        input_gate, forget_gate, output_gate: bools, default True. False removes that gate as
            Greff et al. (2017) do in NIG / NFG / NOG: the gate is the constant 1, and its block
            of `kernel`, `recurrent_kernel`, `bias` and of the layer-norm gains, and its peephole
            weight, are not created (fewer parameters, less compute); the other blocks keep the
            order i, f, c, o. The removed gate's `*_gate_activation` must then be None. Without a
            forget gate, `unit_forget_bias` has no block to set and does nothing.
        layer_norm: layer normalization (Ba et al. 2016): the input and recurrent pre-activations
            are normalized separately (gains `input_norm_gamma`, `recurrent_norm_gamma`), and
            c_t is normalized (gain and shift `cell_norm_gamma`, `cell_norm_beta`) before
            `cell_activation`; the carried state stays un-normalized.
        **kwargs: every argument of `keras.layers.LSTMCell` (`use_bias`, `unit_forget_bias`,
            initializers, regularizers, constraints, `dropout`, `recurrent_dropout`, `seed`).

    Call arguments:
        inputs: `(batch, features)`, one time step.
        states: `[h_{t-1}, c_{t-1}]`, each `(batch, units)`.
        training: whether dropout is active.

    Returns:
        `h_t (batch, units)` and the new states `[h_t, c_t]`.

    Example:

    >>> layer = keras.layers.RNN(SwappableLSTMCell(8, candidate_activation="relu"))
    >>> tuple(layer(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)

    Greff et al.'s NFG with peepholes: the blocks i, c, o, and no forget peephole.

    >>> cell = SwappableLSTMCell(8, forget_gate=False, peephole=True)
    >>> _ = keras.layers.RNN(cell)(np.zeros((2, 5, 3), "float32"))
    >>> cell.blocks
    ('input', 'candidate', 'output')
    >>> [(w.name, tuple(w.shape)) for w in cell.weights]  # doctest: +NORMALIZE_WHITESPACE
    [('kernel', (3, 24)), ('recurrent_kernel', (8, 24)), ('bias', (24,)),
     ('input_peephole', (8,)), ('output_peephole', (8,))]
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        *,
        input_gate_activation=None,
        forget_gate_activation=None,
        output_gate_activation=None,
        candidate_activation=None,
        cell_activation=None,
        peephole=False,
        coupled_input_forget=False,
        input_gate=True,
        forget_gate=True,
        output_gate=True,
        layer_norm=False,
        peephole_initializer="glorot_uniform",
        dropout=0.0,
        recurrent_dropout=0.0,
        **kwargs,
    ):
        check_arguments(units, dropout, recurrent_dropout)
        present = {"input": input_gate, "forget": forget_gate, "output": output_gate}
        _check_gates(
            present,
            coupled_input_forget,
            {
                "input": input_gate_activation,
                "forget": forget_gate_activation,
                "output": output_gate_activation,
            },
        )
        kwargs.pop("implementation", None)  # one fused implementation only
        super().__init__(
            units,
            activation=activations.resolve(activation, "activation"),
            recurrent_activation=activations.resolve(recurrent_activation, "recurrent_activation"),
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            **kwargs,
        )
        self.keep_fused_path()
        gate, branch = self.recurrent_activation, self.activation
        self.set_part_activations(
            {
                "input_gate_activation": (input_gate_activation, gate),
                "forget_gate_activation": (forget_gate_activation, gate),
                "output_gate_activation": (output_gate_activation, gate),
                "candidate_activation": (candidate_activation, branch),
                "cell_activation": (cell_activation, branch),
            }
        )
        self.peephole = bool(peephole)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)
        self.coupled_input_forget = bool(coupled_input_forget)
        self.input_gate = bool(input_gate)
        self.forget_gate = bool(forget_gate)
        self.output_gate = bool(output_gate)
        self.layer_norm = bool(layer_norm)

    @property
    def blocks(self):
        """The `units`-wide blocks of the gate weights, in order: `("input", "forget",
        "candidate", "output")`, less the input block under CIFG and each gate removed."""
        present = {
            "input": self.input_gate and not self.coupled_input_forget,
            "forget": self.forget_gate,
            "candidate": True,
            "output": self.output_gate,
        }
        return tuple(block for block in BLOCKS if present[block])

    @property
    def num_gates(self):
        """How many `units`-wide blocks the fused kernel has: 4 (i, f, c, o), 3 (CIFG, NIG, NFG,
        NOG), down to 1 (the candidate alone)."""
        return len(self.blocks)

    def build(self, input_shape):
        keras.layers.Layer.build(self, input_shape)
        width = self.units * self.num_gates
        self.kernel = self.add_weight(
            shape=(input_shape[-1], width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(width,),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        if self.peephole:
            for gate in (block for block in self.blocks if block in GATES):
                setattr(
                    self,
                    f"{gate}_peephole",
                    self.add_weight(
                        shape=(self.units,),
                        name=f"{gate}_peephole",
                        initializer=self.peephole_initializer,
                    ),
                )
        if self.layer_norm:
            self.input_norm_gamma = self.add_weight(
                shape=(width,), name="input_norm_gamma", initializer="ones"
            )
            self.recurrent_norm_gamma = self.add_weight(
                shape=(width,), name="recurrent_norm_gamma", initializer="ones"
            )
            self.cell_norm_gamma = self.add_weight(
                shape=(self.units,), name="cell_norm_gamma", initializer="ones"
            )
            self.cell_norm_beta = self.add_weight(
                shape=(self.units,), name="cell_norm_beta", initializer="zeros"
            )

    def _bias_initializer(self):
        """The bias initializer, with the forget block set to ones under `unit_forget_bias`."""
        if not self.unit_forget_bias or "forget" not in self.blocks:
            return self.bias_initializer
        forget_block = self.blocks.index("forget")

        def initializer(_, *args, **kwargs):
            blocks = [
                self.bias_initializer((self.units,), *args, **kwargs) for _ in range(self.num_gates)
            ]
            blocks[forget_block] = keras.initializers.get("ones")((self.units,), *args, **kwargs)
            return ops.concatenate(blocks)

        return initializer

    def sequence_weights(self):
        """`[recurrent_kernel; kernel]`, `(units + input_dim, width)`, stacked once per sequence
        (see `CellMixin`), so that each step does one matmul, `[h_{t-1}, x_t] [U; W]`, where the
        plain step does two and adds them (fewer ops per step: 7-20% faster under XLA, about even
        without). None with layer norm, which normalizes the two products apart."""
        if self.layer_norm:
            return None
        # axis -2, not 0: the same line stacks kernels that carry a leading seed axis
        # (experiments/seed_axis.py).
        return ops.concatenate([self.recurrent_kernel, self.kernel], axis=-2)

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        inputs, h_tm1 = self.apply_dropout(inputs, h_tm1, training)
        joint_kernel = self._sequence_weights
        if joint_kernel is not None:
            # One matmul, [h_{t-1}, x_t] [U; W] (h first: its gradient is an aligned slice).
            z = ops.matmul(ops.concatenate([h_tm1, inputs], axis=-1), joint_kernel)
            if self.use_bias:
                z = ops.add(z, self.bias)
        else:
            z_x = ops.matmul(inputs, self.kernel)
            z_h = ops.matmul(h_tm1, self.recurrent_kernel)
            if self.layer_norm:
                z_x = _layer_norm(z_x, self.input_norm_gamma)
                z_h = _layer_norm(z_h, self.recurrent_norm_gamma)
            if self.use_bias:
                # `ops.add` of a vector is a fusable bias add (TensorFlow: MatMul + BiasAdd), and
                # adding it to x_t W keeps it off the path from h_{t-1} to h_t.
                z_x = ops.add(z_x, self.bias)
            z = ops.add(z_x, z_h)
        blocks = self.blocks
        z_blocks = ops.split(z, len(blocks), axis=-1) if len(blocks) > 1 else [z]
        z = dict(zip(blocks, z_blocks, strict=True))  # the pre-activation of each block
        # A removed gate is the constant 1: its product is skipped (x * 1 is x exactly).
        f = None
        if self.forget_gate:
            z_f = z["forget"]
            if self.peephole:
                z_f = z_f + self.forget_peephole * c_tm1
            f = self.forget_gate_activation(z_f)
        i = None
        if self.coupled_input_forget:
            i = 1.0 - f
        elif self.input_gate:
            z_i = z["input"]
            if self.peephole:
                z_i = z_i + self.input_peephole * c_tm1
            i = self.input_gate_activation(z_i)
        g = self.candidate_activation(z["candidate"])
        c = (c_tm1 if f is None else f * c_tm1) + (g if i is None else i * g)
        c_out = _layer_norm(c, self.cell_norm_gamma, self.cell_norm_beta) if self.layer_norm else c
        h = self.cell_activation(c_out)
        if self.output_gate:
            z_o = z["output"]
            if self.peephole:
                z_o = z_o + self.output_peephole * c
            h = self.output_gate_activation(z_o) * h
        return h, [h, c]

    def get_config(self):
        config = self.part_activations_config()
        config.update(
            peephole=self.peephole,
            coupled_input_forget=self.coupled_input_forget,
            input_gate=self.input_gate,
            forget_gate=self.forget_gate,
            output_gate=self.output_gate,
            layer_norm=self.layer_norm,
            peephole_initializer=keras.initializers.serialize(self.peephole_initializer),
        )
        base_config = super().get_config()
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="custom_layers")
class SwappableLSTM(CellLayer):
    """`keras.layers.RNN` over a `SwappableLSTMCell`: a drop-in for `keras.layers.LSTM`.

    Its arguments are the cell's (same names, same defaults; the cell documents the equations and
    the variants of Greff et al. 2017) plus those of `keras.layers.RNN`.

    Args:
        units: positive int, dimensionality of the output space.
        activation: default of `candidate_activation` and `cell_activation`. Default `"tanh"`.
        recurrent_activation: default of the three gate activations. Default `"sigmoid"`.
        input_gate_activation, forget_gate_activation, output_gate_activation: activation of
            i_t, f_t, o_t; `None` means `recurrent_activation`.
        candidate_activation: activation of the candidate branch; `None` means `activation`.
        cell_activation: activation of c_t before the output gate; `None` means `activation`.
        peephole: diagonal peephole connections (Gers & Schmidhuber 2000), weights `(units,)`.
        coupled_input_forget: CIFG, i_t = 1 - f_t (no input gate).
        input_gate, forget_gate, output_gate: False removes that gate (NIG / NFG / NOG).
        layer_norm: layer normalization of the pre-activations and of c_t (Ba et al. 2016).
        use_bias: whether to add the bias `(num_gates*units,)`.
        kernel_initializer: initializer of `kernel (input_dim, num_gates*units)`.
        recurrent_initializer: initializer of `recurrent_kernel (units, num_gates*units)`.
        bias_initializer: initializer of `bias`.
        peephole_initializer: initializer of the peephole weights `(units,)`.
        unit_forget_bias: whether the forget block of the bias starts at 1.
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
        followed by the last `h (batch, units)` and `c (batch, units)`.

    Example:

    >>> model = keras.Sequential([
    ...     keras.Input((20, 2)),
    ...     SwappableLSTM(16, forget_gate_activation="hard_sigmoid", candidate_activation="relu"),
    ...     keras.layers.Dense(1),
    ... ])
    >>> tuple(model(np.zeros((4, 20, 2), "float32")).shape)
    (4, 1)
    """

    cell_class = SwappableLSTMCell

    def __init__(
        self,
        units: int,
        activation: Activation = "tanh",
        recurrent_activation: Activation = "sigmoid",
        *,
        input_gate_activation: Activation = None,
        forget_gate_activation: Activation = None,
        output_gate_activation: Activation = None,
        candidate_activation: Activation = None,
        cell_activation: Activation = None,
        peephole: bool = False,
        coupled_input_forget: bool = False,
        input_gate: bool = True,
        forget_gate: bool = True,
        output_gate: bool = True,
        layer_norm: bool = False,
        use_bias: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        recurrent_initializer: Initializer = "orthogonal",
        bias_initializer: Initializer = "zeros",
        peephole_initializer: Initializer = "glorot_uniform",
        unit_forget_bias: bool = True,
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
