"""The layers' fast path computes what the cell computes step by step.

`CellLayer` runs Keras's time loop between the cell's `begin_sequence()` and `end_sequence()`, which
hold `sequence_weights()` in `_sequence_weights` meanwhile: the LSTM then does one matmul per step
with its joint `[U; W]` kernel, the GRU uses biases and kernel blocks sliced once per sequence.
The reference is the same cell in a plain `keras.layers.RNN`, which makes no such calls, with the
same weights: every output, state and gradient must agree,
under every RNN option (masking, `go_backwards`, `unroll`, `stateful`, `return_state`, initial
states, `Bidirectional`), with dropout, and for every variant of the cells.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from layer_checks import BATCH, FEATURES, STEPS, UNITS, data, random_state, randomize

from custom_layers import (
    IndRNN,
    IndRNNCell,
    SwappableGRU,
    SwappableGRUCell,
    SwappableLSTM,
    SwappableLSTMCell,
    SwappableSimpleRNN,
    SwappableSimpleRNNCell,
)

# name: (layer class, cell class, cell arguments, number of states)
CASES = {
    "lstm": (SwappableLSTM, SwappableLSTMCell, {}, 2),
    "lstm_relu_gates": (SwappableLSTM, SwappableLSTMCell, dict(recurrent_activation="relu"), 2),
    "lstm_peephole": (SwappableLSTM, SwappableLSTMCell, dict(peephole=True), 2),
    "lstm_cifg": (SwappableLSTM, SwappableLSTMCell, dict(coupled_input_forget=True), 2),
    "lstm_layer_norm": (SwappableLSTM, SwappableLSTMCell, dict(layer_norm=True), 2),
    "lstm_peephole_cifg_no_bias": (
        SwappableLSTM,
        SwappableLSTMCell,
        dict(peephole=True, coupled_input_forget=True, use_bias=False),
        2,
    ),
    "gru": (SwappableGRU, SwappableGRUCell, {}, 1),
    "gru_reset_before": (SwappableGRU, SwappableGRUCell, dict(reset_after=False), 1),
    "gru_no_bias": (SwappableGRU, SwappableGRUCell, dict(use_bias=False), 1),
    "gru_reset_before_no_bias": (
        SwappableGRU,
        SwappableGRUCell,
        dict(reset_after=False, use_bias=False, candidate_activation="relu"),
        1,
    ),
    "simple_rnn": (SwappableSimpleRNN, SwappableSimpleRNNCell, dict(activation="relu"), 1),
    "indrnn": (IndRNN, IndRNNCell, {}, 1),
}
GATED = [name for name in CASES if name.startswith(("lstm", "gru"))]
ATOL = 1e-5


def make_pair(case, rng, x, cell_kwargs=None, **rnn_kwargs):
    """`(fast, step)`: the family's layer and the same cell in a plain `keras.layers.RNN`, built
    on `x` and holding the same random weights."""
    layer_cls, cell_cls, kwargs, _ = CASES[case]
    kwargs = {**kwargs, **(cell_kwargs or {})}
    fast = layer_cls(UNITS, **kwargs, **rnn_kwargs)
    step = keras.layers.RNN(cell_cls(UNITS, **kwargs), **rnn_kwargs)
    fast(x)
    step(x)
    randomize(fast, rng)
    step.set_weights(fast.get_weights())
    return fast, step


def assert_all_close(got, want, atol=ATOL):
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=atol)


OPTIONS = {
    "last": dict(),
    "sequences_and_states": dict(return_sequences=True, return_state=True),
    "backwards": dict(return_sequences=True, go_backwards=True),
    "unroll": dict(return_sequences=True, return_state=True, unroll=True),
}


@pytest.mark.parametrize("options", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("case", list(CASES))
def test_outputs_match_step_path(case, options):
    rng = np.random.default_rng(0)
    x = data(rng)
    fast, step = make_pair(case, rng, x, **OPTIONS[options])
    assert_all_close(fast(x), step(x))


@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("case", GATED)
def test_masked_steps_match_step_path(case, go_backwards):
    rng = np.random.default_rng(1)
    x = data(rng)
    mask = np.ones((BATCH, STEPS), bool)
    mask[1, -2:] = False  # post-padded
    mask[2, :2] = False  # pre-padded
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    fast, step = make_pair(case, rng, x, **options)
    assert_all_close(fast(x, mask=mask), step(x, mask=mask))


@pytest.mark.parametrize("case", GATED)
def test_initial_state_matches_step_path(case):
    rng = np.random.default_rng(2)
    x = data(rng)
    states = [random_state(rng) for _ in range(CASES[case][3])]
    fast, step = make_pair(case, rng, x, return_sequences=True, return_state=True)
    assert_all_close(fast(x, initial_state=states), step(x, initial_state=states))


@pytest.mark.parametrize("case", GATED)
def test_dropout_matches_step_path(case):
    """With the same seed both draw the same masks (one per batch, shared by all time steps)."""
    rng = np.random.default_rng(3)
    x = data(rng)
    rates = dict(dropout=0.3, recurrent_dropout=0.4, seed=1234)
    fast, step = make_pair(case, rng, x, cell_kwargs=rates, return_sequences=True)
    training = fast(x, training=True)
    assert_all_close(training, step(x, training=True))
    assert np.abs(np.asarray(training) - np.asarray(fast(x, training=False))).max() > 1e-3


@pytest.mark.parametrize("case", GATED)
def test_stateful_matches_step_path(case):
    rng = np.random.default_rng(4)
    x = data(rng)
    fast, step = make_pair(case, rng, x, stateful=True, return_sequences=True)
    for layer in (fast, step):
        layer.reset_state()
    first = fast(x)
    assert_all_close(first, step(x))
    second = fast(x)  # starts from the state the first call left
    assert_all_close(second, step(x))
    assert np.abs(np.asarray(first) - np.asarray(second)).max() > 1e-4


@pytest.mark.parametrize("case", ["lstm", "lstm_layer_norm", "gru", "gru_reset_before"])
def test_bidirectional_matches_step_path(case):
    rng = np.random.default_rng(5)
    x = data(rng)
    layer_cls, cell_cls, kwargs, _ = CASES[case]
    fast = keras.layers.Bidirectional(
        layer_cls(UNITS, return_sequences=True, return_state=True, **kwargs)
    )
    step = keras.layers.Bidirectional(
        keras.layers.RNN(cell_cls(UNITS, **kwargs), return_sequences=True, return_state=True)
    )
    fast(x)
    step(x)
    randomize(fast, rng)
    step.set_weights(fast.get_weights())
    assert_all_close(fast(x), step(x))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="uses tf.GradientTape")
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_match_step_path(case, jit_compile):
    """The gradients with respect to every weight and to the inputs agree, in a compiled
    `tf.function` (the setting of the training loop), with and without XLA."""
    import tensorflow as tf

    rng = np.random.default_rng(6)
    x = tf.constant(data(rng))
    fast, step = make_pair(case, rng, x, return_sequences=True, return_state=True)
    projection = tf.constant(rng.normal(size=(BATCH, STEPS, UNITS)).astype("float32"))

    def gradients(layer):
        @tf.function(jit_compile=jit_compile)
        def run(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                outputs = layer(x, training=True)
                loss = tf.reduce_sum(outputs[0] * projection) + tf.reduce_sum(outputs[-1] ** 2)
            return tape.gradient(loss, [*layer.trainable_variables, x])

        return run(x)

    want = gradients(step)
    got = gradients(fast)
    assert [v.name for v in fast.trainable_variables] == [v.name for v in step.trainable_variables]
    assert max(float(np.abs(np.asarray(g)).max()) for g in want) > 1e-3  # not vacuous
    assert_all_close(got, want, atol=1e-4)


def test_lstm_fast_path_is_one_matmul_per_step():
    """Inside `SwappableLSTM`'s loop the cell holds the joint kernel; outside it holds none, and a
    plain `keras.layers.RNN` never asks for one."""
    x = data(np.random.default_rng(7))
    layer = SwappableLSTM(UNITS)
    seen = []
    original = SwappableLSTMCell.call

    def spy(cell, *args, **kwargs):
        seen.append(cell._sequence_weights is not None)
        return original(cell, *args, **kwargs)

    SwappableLSTMCell.call = spy
    try:
        layer(x)
        assert seen and all(seen)
        assert layer.cell._sequence_weights is None
        assert tuple(layer.cell.kernel.shape) == (FEATURES, 4 * UNITS)  # the layout is Keras's
        seen.clear()
        keras.layers.RNN(SwappableLSTMCell(UNITS))(x)
        assert seen and not any(seen)
        seen.clear()
        SwappableLSTM(UNITS, layer_norm=True)(x)  # layer norm keeps the two products apart
        assert seen and not any(seen)
    finally:
        SwappableLSTMCell.call = original


@pytest.mark.parametrize("layer_cls", [SwappableLSTM, SwappableGRU])
def test_sequence_state_is_cleared_when_the_loop_fails(layer_cls, monkeypatch):
    x = data(np.random.default_rng(8))
    layer = layer_cls(UNITS)
    layer(x)

    def fail(*args, **kwargs):
        assert layer.cell._sequence_weights is not None  # set for the loop
        raise RuntimeError("loop failed")

    monkeypatch.setattr(keras.layers.RNN, "inner_loop", fail)
    with pytest.raises(RuntimeError, match="loop failed"):
        layer(x)
    assert layer.cell._sequence_weights is None
