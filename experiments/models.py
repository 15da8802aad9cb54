"""A run spec -> the Keras model and optimizer it trains.

The model is the swappable recurrent layer(s) from `custom_layers` plus a head chosen by the task's
`output_kind`; the optimizer is Keras's own, with Keras's own clipping argument. Layers get fixed
names (`rnn_1`, ..., `head`) so variable names are the same in every run and every process.
"""

from __future__ import annotations

import keras

from custom_layers import IndRNN, SwappableGRU, SwappableLSTM, SwappableSimpleRNN
from experiments.config import RunSpec
from experiments.tasks import Task
from experiments.vocabulary import LSTM_CELLS, OPTIMIZERS

_OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
assert tuple(_OPTIMIZER_CLASSES) == OPTIMIZERS, "a vocabulary optimizer without its Keras class"


def recurrent_layer(spec: RunSpec, return_sequences: bool, name: str) -> keras.layers.Layer:
    """One recurrent layer of the spec's cell and activation scheme.

    The scheme's `gates` go to every gate, `candidate` to the candidate branch (the only
    activation of a simple RNN or IndRNN) and `output` to the LSTM's c_t -> h_t activation.
    """
    common = dict(return_sequences=return_sequences, name=name)
    if spec.cell in LSTM_CELLS:
        return SwappableLSTM(
            spec.units,
            activation=spec.candidate,
            recurrent_activation=spec.gates,
            cell_activation=spec.output,
            unit_forget_bias=spec.forget_bias == 1.0,
            recurrent_initializer=spec.recurrent_initializer,
            peephole=spec.cell == "peephole",
            coupled_input_forget=spec.cell == "cifg",
            **common,
        )
    if spec.cell == "gru":
        return SwappableGRU(
            spec.units,
            activation=spec.candidate,
            recurrent_activation=spec.gates,
            recurrent_initializer=spec.recurrent_initializer,
            **common,
        )
    if spec.cell == "simple_rnn":
        return SwappableSimpleRNN(
            spec.units,
            activation=spec.candidate,
            recurrent_initializer=spec.recurrent_initializer,
            **common,
        )
    if spec.cell == "indrnn":
        # Li et al. 2018 bound |u| by 2**(1/T) so no unit's gradient grows past 2x over T steps.
        return IndRNN(
            spec.units,
            activation=spec.candidate,
            recurrent_max_abs=2 ** (1 / spec.length),
            **common,
        )
    raise ValueError(f"Unknown cell {spec.cell!r}")


def build_model(spec: RunSpec, task: Task) -> keras.Model:
    """The model of a run: `depth` recurrent layers and a dense head.

    Input: `(batch, time, features)` with `(time, features) = task.input_shape`. Output:
    `(batch, 1)` for regression, `(batch, classes)` logits for classification, and
    `(batch, time, classes)` logits for sequence classification.
    """
    keras.utils.set_random_seed(spec.seed)
    sequence_output = task.output_kind == "sequence_classification"
    inputs = keras.Input(task.input_shape, name="x")
    h = inputs
    for depth in range(1, spec.depth + 1):
        last = depth == spec.depth
        h = recurrent_layer(
            spec, return_sequences=sequence_output or not last, name=f"rnn_{depth}"
        )(h)
    outputs = keras.layers.Dense(task.output_units, name="head")(h)
    return keras.Model(inputs, outputs, name=spec.cell)


def build_optimizer(spec: RunSpec) -> keras.optimizers.Optimizer:
    """Keras's optimizer with Keras's clipping argument named by `spec.clip`."""
    clipping = {} if spec.clip == "none" else {spec.clip: spec.clip_threshold}
    return _OPTIMIZER_CLASSES[spec.optimizer](learning_rate=spec.learning_rate, **clipping)


def build_loss(task: Task) -> keras.losses.Loss:
    """The task's loss as a Keras loss (mean over the batch and, for sequences, every step)."""
    if task.loss_name == "mse":
        return keras.losses.MeanSquaredError()
    if task.loss_name == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=task.from_logits)
    raise ValueError(f"Unknown loss {task.loss_name!r}")
