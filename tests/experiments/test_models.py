"""Tests of `experiments.engine.models`: every field of a run spec that reaches the layers reaches them.

Each test builds the layer, model or optimizer of a spec and reads back what the spec set: the
activation of each scheme part (as the cell's attribute and in a one-step forward pass against a
closed form), the LSTM forget-gate bias, the peephole / CIFG weights, the recurrent initializer,
the IndRNN bound, the depth, the head, the loss, the optimizer and its clipping argument. A field
dropped or hard-coded in `models.py` (a GRU whose gates are sigmoid whatever the scheme, a forget
bias always 1) fails one of them.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from custom_layers import MaxAbs
from experiments.engine import models
from experiments.grid.spec import RunSpec, task_for
from experiments.vocabulary import (
    BUILTIN_SCHEMES,
    CELL_BLOCKS,
    CELL_TABLE,
    CELLS,
    CLIP_MODES,
    GATED_CELLS,
    LSTM_CELLS,
    MUT_CELLS,
    OPTIMIZERS,
)

UNITS = 3
FEATURES = 2  # the adding task's input features
# A tiny adding run; each test replaces what it checks.
BASE = RunSpec(task="adding", length=5, units=UNITS)

# The built-in schemes never give the candidate and the output different activations, so a
# scheme with all three parts distinct is added: it tells a swapped candidate / output apart.
SCHEMES = {
    **BUILTIN_SCHEMES,
    "distinct": {"gates": "hard_sigmoid", "candidate": "relu", "output": "softsign"},
}
# Gate-less cells take only schemes with the default gates (as the grid validation requires).
SCHEME_CASES = [
    (cell, scheme)
    for cell in CELLS
    for scheme, parts in SCHEMES.items()
    if cell in GATED_CELLS or parts["gates"] == "sigmoid"
]

NP_ACTIVATIONS = {
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,  # Keras 3: relu6(x + 3) / 6
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "linear": lambda x: x,
}


def make_spec(**overrides) -> RunSpec:
    """A tiny spec; `scheme=NAME` also sets the scheme's three parts."""
    if "scheme" in overrides:
        overrides = {**SCHEMES[overrides["scheme"]], **overrides}
    return dataclasses.replace(BASE, **overrides)


def built_layer(spec: RunSpec, return_sequences: bool = False) -> keras.layers.Layer:
    """The spec's recurrent layer, built on `(batch, 1, FEATURES)` inputs."""
    layer = models.recurrent_layer(spec, return_sequences=return_sequences, name="rnn_1")
    layer.build((None, 1, FEATURES))
    return layer


def weight_shapes(layer) -> dict[str, tuple]:
    return {w.name: tuple(w.shape) for w in layer.weights}


# --------------------------------------------------------------------------------------------------
# The activation scheme


@pytest.mark.parametrize(("cell", "scheme"), SCHEME_CASES)
def test_each_scheme_part_is_the_activation_of_its_cell_part(cell, scheme):
    spec = make_spec(cell=cell, scheme=scheme)
    layer_cell = built_layer(spec).cell
    gates = keras.activations.get(spec.gates)
    candidate = keras.activations.get(spec.candidate)
    output = keras.activations.get(spec.output)
    if cell in LSTM_CELLS:
        actual = {
            "input_gate_activation": layer_cell.input_gate_activation,
            "forget_gate_activation": layer_cell.forget_gate_activation,
            "output_gate_activation": layer_cell.output_gate_activation,
            "candidate_activation": layer_cell.candidate_activation,
            "cell_activation": layer_cell.cell_activation,
        }
        expected = {
            "input_gate_activation": gates,
            "forget_gate_activation": gates,
            "output_gate_activation": gates,
            "candidate_activation": candidate,
            "cell_activation": output,
        }
    elif cell == "gru" or cell in MUT_CELLS:
        actual = {
            "update_gate_activation": layer_cell.update_gate_activation,
            "reset_gate_activation": layer_cell.reset_gate_activation,
            "candidate_activation": layer_cell.candidate_activation,
        }
        expected = {
            "update_gate_activation": gates,
            "reset_gate_activation": gates,
            "candidate_activation": candidate,
        }
    else:  # simple_rnn, indrnn: the candidate is their only activation
        actual, expected = {"activation": layer_cell.activation}, {"activation": candidate}
    assert actual == expected


def one_step_output(cell: str, gates, candidate, output, a: float) -> float:
    """h_1 of `cell` from a zero state when every pre-activation is `a` (closed form).

    With h_0 = c_0 = 0 and zero recurrent weights, biases and peepholes, the recurrent terms
    vanish: an LSTM gives c_1 = i * candidate(a) and h_1 = o * output(c_1) (a removed gate is 1;
    the forget gate does not act on c_0 = 0), a GRU h_1 = (1 - z) * candidate(a), a MUT cell
    h_1 = z * candidate(a) (MUT1: candidate(tanh(a)), its input term tanh(x_t P)), a simple RNN
    or IndRNN h_1 = candidate(a).
    """
    if cell == "gru":
        return (1.0 - gates(a)) * candidate(a)
    if cell in MUT_CELLS:
        return gates(a) * candidate(np.tanh(a) if cell == "mut1" else a)
    if cell in ("simple_rnn", "indrnn"):
        return candidate(a)
    i = {"cifg": 1.0 - gates(a), "nig": 1.0}.get(cell, gates(a))
    o = 1.0 if cell == "nog" else gates(a)
    return o * output(i * candidate(a))


@pytest.mark.parametrize(("cell", "scheme"), SCHEME_CASES)
def test_each_scheme_part_computes_the_cell_output(cell, scheme):
    """The layer's output after one step equals the closed form with the spec's activations.

    Every input weight (a MUT cell's input projection too) is w and the input is all ones, so
    each pre-activation is a = 2 * w = 2,
    where the activations all differ (sigmoid 0.88, hard sigmoid 0.83, relu 2, tanh 0.96,
    softsign 0.67). ReLU gates reach 2: an LSTM output above 1, a GRU output of the opposite sign
    to its candidate, neither possible with gates in (0, 1).
    """
    spec = make_spec(cell=cell, scheme=scheme)
    layer = built_layer(spec)
    w = 1.0
    layer.set_weights(
        [
            np.full(v.shape, w if v.name in ("kernel", "input_projection") else 0.0, "float32")
            for v in layer.weights
        ]
    )
    h = keras.ops.convert_to_numpy(layer(np.ones((1, 1, FEATURES), "float32")))
    acts = [NP_ACTIVATIONS[name] for name in (spec.gates, spec.candidate, spec.output)]
    expected = one_step_output(cell, *acts, a=FEATURES * w)
    np.testing.assert_allclose(h, np.full((1, UNITS), expected), rtol=1e-5)
    if spec.gates == "relu" and cell in LSTM_CELLS and cell not in ("cifg", "nog"):
        assert h.min() > 1.0
    if spec.gates == "relu" and cell == "gru":
        assert h.max() < 0.0


# --------------------------------------------------------------------------------------------------
# LSTM variants: forget bias, peephole, CIFG; weight layout of every cell


LSTM_ORDERS = {"cifg": "fco", "nig": "fco", "nfg": "ico", "nog": "ifc"}


@pytest.mark.parametrize("forget_bias", [1.0, 0.0])
@pytest.mark.parametrize("cell", LSTM_CELLS)
def test_lstm_forget_gate_bias_starts_at_the_spec_forget_bias(cell, forget_bias):
    spec = make_spec(cell=cell, forget_bias=forget_bias)
    layer = models.build_model(spec, task_for(spec)).get_layer("rnn_1")
    # Gate blocks in the order i, f, c, o, less a removed one: CIFG and NIG f, c, o; NFG i, c, o.
    order = LSTM_ORDERS.get(cell, "ifco")
    assert [b[0] for b in layer.cell.blocks] == list(order)
    blocks = dict(zip(order, layer.cell.bias.numpy().reshape(len(order), UNITS), strict=True))
    if cell != "nfg":  # no forget gate, no forget bias
        assert blocks["f"].tolist() == [forget_bias] * UNITS
    for gate in set(order) - {"f"}:
        assert blocks[gate].tolist() == [0.0] * UNITS


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("lstm", {"kernel": (FEATURES, 4 * UNITS), "recurrent_kernel": (UNITS, 4 * UNITS),
                  "bias": (4 * UNITS,)}),
        ("peephole", {"kernel": (FEATURES, 4 * UNITS), "recurrent_kernel": (UNITS, 4 * UNITS),
                      "bias": (4 * UNITS,), "input_peephole": (UNITS,),
                      "forget_peephole": (UNITS,), "output_peephole": (UNITS,)}),
        ("cifg", {"kernel": (FEATURES, 3 * UNITS), "recurrent_kernel": (UNITS, 3 * UNITS),
                  "bias": (3 * UNITS,)}),
        *[(cell, {"kernel": (FEATURES, 3 * UNITS), "recurrent_kernel": (UNITS, 3 * UNITS),
                  "bias": (3 * UNITS,)}) for cell in ("nig", "nfg", "nog")],
        ("gru", {"kernel": (FEATURES, 3 * UNITS), "recurrent_kernel": (UNITS, 3 * UNITS),
                 "bias": (2, 3 * UNITS)}),
        ("mut1", {"kernel": (FEATURES, 2 * UNITS), "recurrent_kernel": (UNITS, 2 * UNITS),
                  "bias": (3 * UNITS,), "input_projection": (FEATURES, UNITS)}),
        ("mut2", {"kernel": (FEATURES, 2 * UNITS), "recurrent_kernel": (UNITS, 3 * UNITS),
                  "bias": (3 * UNITS,), "input_projection": (FEATURES, UNITS)}),
        ("mut3", {"kernel": (FEATURES, 3 * UNITS), "recurrent_kernel": (UNITS, 3 * UNITS),
                  "bias": (3 * UNITS,)}),
        ("simple_rnn", {"kernel": (FEATURES, UNITS), "recurrent_kernel": (UNITS, UNITS),
                        "bias": (UNITS,)}),
        ("indrnn", {"kernel": (FEATURES, UNITS), "recurrent_kernel": (UNITS,),
                    "bias": (UNITS,)}),
    ],
)  # fmt: skip
def test_each_cell_has_its_weights(cell, expected):
    """Units reach the layer; a peephole LSTM adds three peephole vectors; CIFG and the gate
    ablations drop a gate's blocks (3 * units wide, not 4); MUT1 and MUT2 project 2 input
    features to the units their raw x_t term needs."""
    spec = make_spec(cell=cell)
    layer = models.build_model(spec, task_for(spec)).get_layer("rnn_1")
    assert layer.units == UNITS
    assert weight_shapes(layer) == expected
    if cell in LSTM_CELLS:
        assert layer.cell.peephole == (cell == "peephole")
        assert layer.cell.coupled_input_forget == (cell == "cifg")
        removed = {"nig": "input_gate", "nfg": "forget_gate", "nog": "output_gate"}.get(cell)
        for gate in ("input_gate", "forget_gate", "output_gate"):
            assert getattr(layer.cell, gate) == (gate != removed), gate
    if cell in MUT_CELLS:
        assert layer.cell.variant == cell


# --------------------------------------------------------------------------------------------------
# Recurrent initializer and the IndRNN bound


@pytest.mark.parametrize("initializer", ["identity", "orthogonal"])
@pytest.mark.parametrize("cell", ["lstm", "peephole", "cifg", "gru", "simple_rnn"])
def test_recurrent_kernel_starts_as_the_spec_initializer(cell, initializer):
    spec = make_spec(cell=cell, recurrent_initializer=initializer)
    kernel = models.build_model(spec, task_for(spec)).get_layer("rnn_1").cell.recurrent_kernel
    kernel = kernel.numpy()
    identity = np.eye(*kernel.shape)  # (units, gates * units): the first block is the identity
    if initializer == "identity":
        assert kernel.tolist() == identity.tolist()
    else:  # orthonormal rows, and not the identity
        np.testing.assert_allclose(kernel @ kernel.T, np.eye(UNITS), atol=1e-5)
        assert not np.allclose(kernel, identity)


@pytest.mark.parametrize("length", [2, 5, 50])
def test_indrnn_recurrent_weights_are_bounded_by_two_to_the_one_over_length(length):
    """|u| <= 2**(1/T) holds at init and after an update that pushes every u far past it (Keras
    applies the bound as the variable's constraint after each optimizer step)."""
    spec = make_spec(cell="indrnn", length=length)
    layer = models.build_model(spec, task_for(spec)).get_layer("rnn_1")
    bound = 2 ** (1 / length)
    assert layer.cell.recurrent_max_abs == pytest.approx(bound)
    u = layer.cell.recurrent_kernel
    assert isinstance(u.constraint, MaxAbs) and u.constraint.max_value == pytest.approx(bound)
    assert np.abs(u.numpy()).max() <= np.float32(bound)

    keras.optimizers.SGD(learning_rate=1.0).apply([np.full(u.shape, -10.0, "float32")], [u])
    np.testing.assert_allclose(u.numpy(), np.full(u.shape, bound), rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# Depth, head, loss


TASKS = {  # task -> (spec fields, output shape of a batch of 2, loss class, from_logits)
    "adding": (dict(task="adding", length=5), (2, 1), keras.losses.MeanSquaredError, None),
    "temporal_order": (dict(task="temporal_order", length=10), (2, 4),
                       keras.losses.SparseCategoricalCrossentropy, True),
    "digits": (dict(task="digits", length=64), (2, 10),
               keras.losses.SparseCategoricalCrossentropy, True),
    "copy": (dict(task="copy", length=3), (2, 3 + 20, 9),
             keras.losses.SparseCategoricalCrossentropy, True),
}  # fmt: skip


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("task", list(TASKS))
def test_model_has_depth_layers_and_the_task_head(task, depth):
    fields, output_shape, loss_class, from_logits = TASKS[task]
    spec = make_spec(depth=depth, **fields)
    task_ = task_for(spec)
    model = models.build_model(spec, task_)
    assert [layer.name for layer in model.layers] == (
        ["x"] + [f"rnn_{d}" for d in range(1, depth + 1)] + ["head"]
    )
    sequence_output = task_.output_kind == "sequence_classification"
    recurrent = model.layers[1:-1]
    # Every layer but the last passes its whole sequence on; the last only for a sequence task.
    assert [layer.return_sequences for layer in recurrent] == (
        [True] * (depth - 1) + [sequence_output]
    )
    # Stacked layers read the previous layer's units.
    assert [tuple(layer.cell.kernel.shape)[0] for layer in recurrent] == (
        [task_.input_shape[-1]] + [UNITS] * (depth - 1)
    )
    assert model.get_layer("head").units == task_.output_units
    x, _ = task_.batch(np.random.default_rng(0), 2)
    assert tuple(model(x).shape) == output_shape

    loss = models.build_loss(task_)
    assert type(loss) is loss_class
    if from_logits is not None:
        assert loss.get_config()["from_logits"] is from_logits


# --------------------------------------------------------------------------------------------------
# Optimizer


OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


@pytest.mark.parametrize("clip", CLIP_MODES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizer_has_the_spec_learning_rate_and_clipping_argument(optimizer, clip):
    spec = make_spec(optimizer=optimizer, learning_rate=0.03, clip=clip, clip_threshold=0.25)
    built = models.build_optimizer(spec)
    assert type(built) is OPTIMIZER_CLASSES[optimizer]
    assert float(built.learning_rate) == pytest.approx(0.03)
    for argument in CLIP_MODES[1:]:  # clipvalue, clipnorm, global_clipnorm
        assert getattr(built, argument) == (0.25 if argument == clip else None), argument


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_sgd_has_the_spec_momentum(optimizer):
    built = models.build_optimizer(make_spec(optimizer=optimizer, momentum=0.9))
    if optimizer == "sgd":
        assert built.momentum == pytest.approx(0.9)
        assert models.build_optimizer(make_spec(optimizer="sgd")).momentum == 0.0
    else:
        assert not hasattr(built, "momentum") or built.momentum != 0.9


# --------------------------------------------------------------------------------------------------
# Gate initialisation, input weights, the IndRNN's recurrent initializer


def gate_blocks(cell: str, bias: np.ndarray) -> dict[str, np.ndarray]:
    """The bias of each gate block; a GRU's two rows (input, recurrent) are summed: the gate's
    pre-activation at zero input and state."""
    order = {**LSTM_ORDERS, **dict.fromkeys(("gru", *MUT_CELLS), "zrh")}.get(cell, "ifco")
    if bias.ndim == 2:
        bias = bias.sum(axis=0)
    return dict(zip(order, bias.reshape(len(order), UNITS), strict=True))


@pytest.mark.parametrize("forget_bias", [1.0, 0.0])
@pytest.mark.parametrize("gates", ["relu", "hard_sigmoid"])
@pytest.mark.parametrize("cell", GATED_CELLS)
def test_matched_gates_start_where_sigmoid_gates_start(cell, gates, forget_bias):
    """gate_init "matched": at zero input and state every gate of every layer has the value a
    sigmoid gate has at init (0.5; the LSTM forget gate sigmoid(forget_bias)); the candidate's
    bias is untouched (0)."""
    spec = make_spec(cell=cell, gates=gates, gate_init="matched", forget_bias=forget_bias, depth=2)
    model = models.build_model(spec, task_for(spec))
    g, sigmoid = NP_ACTIVATIONS[gates], NP_ACTIVATIONS["sigmoid"]
    for depth in (1, 2):
        bias = model.get_layer(f"rnn_{depth}").cell.bias.numpy()
        blocks = gate_blocks(cell, bias)
        for gate, values in blocks.items():
            if gate in "ch":
                assert values.tolist() == [0.0] * UNITS, gate
                continue
            b = forget_bias if gate == "f" else 0.0
            np.testing.assert_allclose(g(values), sigmoid(b), rtol=1e-6, err_msg=gate)
        if cell == "gru":  # b' in the input row, 0 in the recurrent row
            assert bias[1].tolist() == [0.0] * 3 * UNITS
    # "keras" keeps the cell's own biases: the forget gate at forget_bias, whatever the gates.
    keras_bias = models.build_model(dataclasses.replace(spec, gate_init="keras"), task_for(spec))
    blocks = gate_blocks(cell, keras_bias.get_layer("rnn_1").cell.bias.numpy())
    if cell in LSTM_CELLS and cell != "nfg":
        assert blocks["f"].tolist() == [forget_bias] * UNITS


@pytest.mark.parametrize("cell", CELLS)
def test_kernel_initializer_sets_every_layers_input_weights(cell):
    spec = make_spec(cell=cell, units=8, depth=2, kernel_initializer="small_normal")
    model = models.build_model(spec, task_for(spec))
    kernels = [model.get_layer(f"rnn_{d}").cell.kernel.numpy() for d in (1, 2)]
    for kernel in kernels:  # N(0, 0.001); glorot_uniform's are ~100x larger
        assert 0 < np.abs(kernel).max() < 0.006 and 0.0004 < kernel.std() < 0.002
    assert not np.allclose(kernels[0][:, :8], kernels[1][:2, :8])  # one draw per layer
    spec = make_spec(cell=cell, kernel_initializer="zeros")  # any Keras name
    assert not models.build_model(spec, task_for(spec)).get_layer("rnn_1").cell.kernel.numpy().any()


def test_indrnn_uniform_to_bound_starts_up_to_the_bound():
    """The default: u_n ~ U(0, 1); "uniform_to_bound": U(0, 2**(1/T)), units above 1 included."""
    bound = 2 ** (1 / 4)
    weights = {}
    for initializer in (RunSpec.recurrent_initializer, "uniform", "uniform_to_bound"):
        spec = make_spec(cell="indrnn", length=4, units=64, recurrent_initializer=initializer)
        layer = models.build_model(spec, task_for(spec)).get_layer("rnn_1")
        weights[initializer] = layer.cell.recurrent_kernel.numpy()
    default, bounded = weights[RunSpec.recurrent_initializer], weights["uniform_to_bound"]
    np.testing.assert_array_equal(weights["uniform"], default)
    assert default.min() >= 0 and default.max() <= 1
    assert bounded.min() >= 0 and bounded.max() <= np.float32(bound) and (bounded > 1).sum() > 3


# --------------------------------------------------------------------------------------------------
# The cell table


@pytest.mark.parametrize("name", CELLS)
def test_the_cell_table_describes_the_layer_it_builds(name):
    """`CELL_TABLE[cell].blocks` is the layer's bias layout (the bench's work per step, the
    matched gate biases' block positions): as many `units`-wide blocks, in the cell's order."""
    row = CELL_TABLE[name]
    layer = built_layer(make_spec(cell=name))
    assert type(layer).__name__ == row.layer
    assert layer.cell.bias.shape[-1] == len(row.blocks) * BASE.units
    assert CELL_BLOCKS[name] == len(row.blocks)
    if row.family == "lstm":
        assert "".join(block[0] for block in layer.cell.blocks) == row.blocks
    if row.gates:
        assert set(models.gate_bias_values(make_spec(cell=name))) == set(row.gates)
    else:
        with pytest.raises(ValueError, match="has no gates"):
            models.gate_bias_values(make_spec(cell=name))
