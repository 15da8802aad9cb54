"""A run spec -> the Keras model and optimizer it trains.

The model is the swappable recurrent layer(s) from `custom_layers` plus a head chosen by the task's
`output_kind`; the optimizer is Keras's own, with Keras's own clipping argument. Layers get fixed
names (`rnn_1`, ..., `head`) so variable names are the same in every run and every process.
With `gate_init = "matched"` the gate biases are set after the layers are built
(`set_matched_gate_biases`).
"""

from __future__ import annotations

import keras

from custom_layers import IndRNN, SwappableGRU, SwappableLSTM, SwappableMUT, SwappableSimpleRNN
from experiments.engine import seed_axis
from experiments.grid.config import equivalent_gate_bias
from experiments.grid.spec import RunSpec
from experiments.grid.tasks import Task
from experiments.vocabulary import CELL_TABLE, GATED_CELLS, OPTIMIZERS, SMALL_NORMAL

_OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
assert tuple(_OPTIMIZER_CLASSES) == OPTIMIZERS, "a vocabulary optimizer without its Keras class"


def _seeded(layer_class: type, seeds: int | None) -> type:
    """`layer_class`, or its seed-group variant for `seeds` seeds (`experiments.engine.seed_axis`)."""
    return layer_class if seeds is None else seed_axis.stacked(layer_class, seeds)


def kernel_initializer(spec: RunSpec):
    """The initializer of the input weights: Keras's of that name, or N(0, 0.001) for
    "small_normal" (Le et al. 2015; a new instance per layer)."""
    if spec.kernel_initializer == SMALL_NORMAL:
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.001)
    return spec.kernel_initializer


def indrnn_recurrent_initializer(spec: RunSpec):
    """An IndRNN's u: None (the cell's U(0, 1)) for the RunSpec default or "uniform", U(0, 2**(1/T))
    for "uniform_to_bound" (Li et al. 2018: units start up to the bound, keeping their state)."""
    if spec.recurrent_initializer in (RunSpec.recurrent_initializer, "uniform"):
        return None
    if spec.recurrent_initializer == "uniform_to_bound":
        return keras.initializers.RandomUniform(minval=0.0, maxval=2 ** (1 / spec.length))
    raise ValueError(f"recurrent_initializer {spec.recurrent_initializer!r} is not one of indrnn's")


def _lstm(spec: RunSpec) -> tuple[type, dict]:
    return SwappableLSTM, dict(
        activation=spec.candidate,
        recurrent_activation=spec.gates,
        cell_activation=spec.output,
        unit_forget_bias=spec.forget_bias == 1.0,
        recurrent_initializer=spec.recurrent_initializer,
    )


def _gru(spec: RunSpec) -> tuple[type, dict]:
    return SwappableGRU, dict(
        activation=spec.candidate,
        recurrent_activation=spec.gates,
        recurrent_initializer=spec.recurrent_initializer,
    )


def _mut(spec: RunSpec) -> tuple[type, dict]:
    return SwappableMUT, _gru(spec)[1]


def _simple_rnn(spec: RunSpec) -> tuple[type, dict]:
    return SwappableSimpleRNN, dict(
        activation=spec.candidate, recurrent_initializer=spec.recurrent_initializer
    )


def _indrnn(spec: RunSpec) -> tuple[type, dict]:
    # Li et al. 2018 bound |u| by 2**(1/T) so no unit's gradient grows past 2x over T steps.
    return IndRNN, dict(
        activation=spec.candidate,
        recurrent_initializer=indrnn_recurrent_initializer(spec),
        recurrent_max_abs=2 ** (1 / spec.length),
    )


# One builder per cell family (`vocabulary.CELL_TABLE[cell].family`): the layer class and the
# arguments a spec gives it; the table row adds the cell's fixed options (CIFG, NFG, MUT2, ...).
FAMILY_BUILDERS = {
    "lstm": _lstm,
    "gru": _gru,
    "mut": _mut,
    "simple_rnn": _simple_rnn,
    "indrnn": _indrnn,
}


def recurrent_layer(
    spec: RunSpec, return_sequences: bool, name: str, seeds: int | None = None
) -> keras.layers.Layer:
    """One recurrent layer of the spec's cell and activation scheme.

    The scheme's `gates` go to every gate, `candidate` to the candidate branch (the only
    activation of a simple RNN or IndRNN) and `output` to the LSTM's c_t -> h_t activation.
    With `seeds`, the layer holds that many copies of its weights (see `build_model`).
    """
    if spec.cell not in CELL_TABLE:
        raise ValueError(f"Unknown cell {spec.cell!r}; valid cells: {', '.join(CELL_TABLE)}")
    cell = CELL_TABLE[spec.cell]
    layer_class, arguments = FAMILY_BUILDERS[cell.family](spec)
    return _seeded(layer_class, seeds)(
        spec.units,
        **arguments,
        **dict(cell.options),
        return_sequences=return_sequences,
        name=name,
        kernel_initializer=kernel_initializer(spec),
    )


def build_model(spec: RunSpec, task: Task, seeds: int | None = None) -> keras.Model:
    """The model of a run: `depth` recurrent layers and a dense head.

    Input: `(batch, time, features)` with `(time, features) = task.input_shape`. Output:
    `(batch, 1)` for regression, `(batch, classes)` logits for classification, and
    `(batch, time, classes)` logits for sequence classification.

    With `seeds` = S, the model of a seed group: every weight has a seed axis (zeros until the
    seeds' own initial weights are copied in, `gate_init` included) and `batch` is S batches one
    after another, each computed with its own seed's weights (`experiments.engine.seed_axis`).
    """
    keras.utils.set_random_seed(spec.seed)
    sequence_output = task.output_kind == "sequence_classification"
    inputs = keras.Input(task.input_shape, name="x")
    h = inputs
    for depth in range(1, spec.depth + 1):
        last = depth == spec.depth
        h = recurrent_layer(
            spec, return_sequences=sequence_output or not last, name=f"rnn_{depth}", seeds=seeds
        )(h)
    outputs = _seeded(keras.layers.Dense, seeds)(task.output_units, name="head")(h)
    model = keras.Model(inputs, outputs, name=spec.cell)
    if spec.gate_init == "matched" and spec.cell in GATED_CELLS and seeds is None:
        set_matched_gate_biases(model, spec)
    return model


def gate_bias_values(spec: RunSpec) -> dict[str, float]:
    """`gate_init = "matched"`: each gate's initial bias b' = g^-1(sigmoid(b)), with b what a
    sigmoid gate gets (0; the LSTM forget gate `forget_bias`) and g the gate activation.
    Keys: the cell's gate blocks (`CELL_TABLE[cell].gates`): i, f, o of the LSTM family less a
    removed gate's, z, r of the GRU and MUT1-3."""
    gates = CELL_TABLE[spec.cell].gates
    if not gates:
        raise ValueError(f"cell {spec.cell!r} has no gates")
    sigmoid_bias = {"f": spec.forget_bias} if CELL_TABLE[spec.cell].family == "lstm" else {}
    return {gate: equivalent_gate_bias(spec.gates, sigmoid_bias.get(gate, 0.0)) for gate in gates}


def set_matched_gate_biases(model: keras.Model, spec: RunSpec) -> None:
    """Sets the gate biases of every recurrent layer of a built model to `gate_bias_values`.

    Bias layouts (blocks of `units`): `CELL_TABLE[cell].blocks` (the LSTM family's [i, f, c, o]
    less CIFG's input block and each removed gate's, GRU and MUT1-3 [z, r, h]); a GRU with `reset_after` has
    a `(2, 3*units)` bias, input row then recurrent row, whose sum is the gate's pre-activation:
    b' goes in the input row, 0 in the recurrent row. The candidate's block (c, h) keeps its value.
    """
    values = gate_bias_values(spec)
    n = spec.units
    for depth in range(1, spec.depth + 1):
        cell = model.get_layer(f"rnn_{depth}").cell
        blocks = CELL_TABLE[spec.cell].blocks
        bias_variable = cell.bias
        bias = bias_variable.numpy()
        for index, block in enumerate(blocks):
            if block in values:
                if bias.ndim == 2:  # GRU, reset_after
                    bias[0, index * n : (index + 1) * n] = values[block]
                    bias[1, index * n : (index + 1) * n] = 0.0
                else:
                    bias[index * n : (index + 1) * n] = values[block]
        bias_variable.assign(bias)


def build_optimizer(spec: RunSpec, clipping: bool = True) -> keras.optimizers.Optimizer:
    """Keras's optimizer (SGD with `spec.momentum`) with Keras's clipping argument named by
    `spec.clip`; with `clipping=False` without it (a seed group clips each seed's gradients
    itself)."""
    options = {} if spec.clip == "none" or not clipping else {spec.clip: spec.clip_threshold}
    if spec.optimizer == "sgd":
        options["momentum"] = spec.momentum
    return _OPTIMIZER_CLASSES[spec.optimizer](learning_rate=spec.learning_rate, **options)


def build_loss(task: Task, per_example: bool = False) -> keras.losses.Loss:
    """The task's loss as a Keras loss (mean over the batch and, for sequences, every step); with
    `per_example`, unreduced: `(batch,)`, or `(batch, time)` for sequences."""
    reduction = {"reduction": None} if per_example else {}
    if task.loss_name == "mse":
        return keras.losses.MeanSquaredError(**reduction)
    if task.loss_name == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=task.from_logits, **reduction)
    raise ValueError(f"Unknown loss {task.loss_name!r}")
