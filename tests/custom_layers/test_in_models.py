"""Every swappable layer family inside Keras models: stacking, `Bidirectional`, states, masking,
statefulness, unrolling, XLA and training. Outputs are checked against the NumPy references of
`layer_checks` (from the cells' docstring equations) run with the layers' weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from layer_checks import reference_for

import custom_layers

UNITS = 4
FEATURES = 3
STEPS = 6
BATCH = 3

# case: (family, layer class name, number of states, non-default arguments exercised in models)
FAMILIES = {
    "lstm": (
        "lstm",
        "SwappableLSTM",
        2,
        dict(candidate_activation="relu", forget_gate_activation="hard_sigmoid", peephole=True),
    ),
    "lstm_cifg_ln": (
        "lstm",
        "SwappableLSTM",
        2,
        dict(coupled_input_forget=True, layer_norm=True, cell_activation="relu"),
    ),
    "gru": (
        "gru",
        "SwappableGRU",
        1,
        dict(reset_gate_activation="hard_sigmoid", candidate_activation="relu"),
    ),
    "gru_reset_before": ("gru", "SwappableGRU", 1, dict(reset_after=False)),
    "simple_rnn": ("simple_rnn", "SwappableSimpleRNN", 1, dict(activation="relu")),
    "indrnn": (
        "indrnn",
        "IndRNN",
        1,
        dict(
            recurrent_max_abs=2 ** (1 / STEPS),
            # u near the bound, seeded: with a small u a ReLU state can decay to exactly 0 in a few
            # steps, and the stateful test would see no carried state.
            recurrent_initializer=keras.initializers.RandomUniform(0.8, 1.0, seed=1),
            kernel_initializer=keras.initializers.GlorotUniform(seed=2),
        ),
    ),
}


class Family:
    """One layer family: `make(**overrides)` builds a layer with the family's arguments, and
    `expected(layer, x)` is what the layer should compute, from the NumPy reference."""

    def __init__(self, name):
        family, class_name, self.num_states, self.kwargs = FAMILIES[name]
        self.cls = getattr(custom_layers, class_name)  # a missing export fails
        self.reference = reference_for(family, self.kwargs)
        # Layer norm scales float32 rounding by up to 1/sqrt(epsilon) where a pre-activation
        # varies little across units (a float64 layer matches the reference to 1e-15).
        self.atol = 1e-4 if self.kwargs.get("layer_norm") else 1e-5

    def make(self, units=UNITS, **overrides):
        return self.cls(units, **{**self.kwargs, **overrides})

    def expected(self, layer, x, initial_state=None, go_backwards=False):
        """`[hs (batch, time, units), *final_states]` of the reference with `layer`'s weights,
        from `initial_state` (zeros by default); time reversed with `go_backwards`, as Keras
        returns it."""
        x = np.asarray(x, "float64")
        if go_backwards:
            x = x[:, ::-1]
        if initial_state is None:
            initial_state = [np.zeros((x.shape[0], layer.units))] * self.num_states
        weights = {v.name: np.asarray(v, "float64") for v in layer.weights}
        states = [np.asarray(s, "float64") for s in initial_state]
        return list(self.reference(x, weights, *states))


def _dense(dense, h):
    """A `keras.layers.Dense` (linear) applied in NumPy."""
    kernel, bias = (np.asarray(w, "float64") for w in dense.weights)
    return h @ kernel + bias


@pytest.fixture(params=list(FAMILIES))
def family(request):
    # Seeded: with some unseeded draws a ReLU state decays to exactly 0 within the few steps here
    # (about 1 start in 20 for the ReLU simple RNN), and the stateful test would see no state.
    keras.utils.set_random_seed(0)
    return Family(request.param)


def _data(seed, batch=BATCH, steps=STEPS):
    return np.random.default_rng(seed).normal(size=(batch, steps, FEATURES)).astype("float32")


def _copy_weights(source, target):
    target.set_weights(source.get_weights())


def test_import_from_package():
    for name in ("SwappableLSTM", "SwappableGRU", "SwappableSimpleRNN", "IndRNN"):
        assert name in custom_layers.__all__, name
        assert issubclass(getattr(custom_layers, name), keras.layers.RNN)


def test_stacked(family):
    x = _data(0)
    first, second = family.make(return_sequences=True), family.make(3)
    dense = keras.layers.Dense(1)
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), first, second, dense])
    out = model.predict_on_batch(x)
    assert tuple(first.output.shape) == (None, STEPS, UNITS)
    hs, *_ = family.expected(first, x)
    _, h, *_ = family.expected(second, hs)
    np.testing.assert_allclose(out, _dense(dense, h), atol=family.atol)


def test_bidirectional(family):
    x = _data(1)
    bidirectional = keras.layers.Bidirectional(family.make(return_sequences=True))
    out = np.asarray(bidirectional(x))
    assert out.shape == (BATCH, STEPS, 2 * UNITS)
    forward, backward = bidirectional.forward_layer, bidirectional.backward_layer
    # The backward layer is a clone made through get_config/from_config: same class and arguments.
    assert type(backward) is family.cls
    assert backward.go_backwards and not forward.go_backwards
    forward_config, backward_config = forward.get_config(), backward.get_config()
    for config in (forward_config, backward_config):
        config.pop("name")
        config.pop("go_backwards")
    assert backward_config == forward_config
    np.testing.assert_allclose(out[..., :UNITS], family.expected(forward, x)[0], atol=family.atol)
    backward_hs = family.expected(backward, x, go_backwards=True)[0]
    np.testing.assert_allclose(out[..., UNITS:], np.flip(backward_hs, axis=1), atol=family.atol)


def test_bidirectional_return_state(family):
    x = _data(2)
    bidirectional = keras.layers.Bidirectional(family.make(return_state=True))
    outputs = [np.asarray(t) for t in bidirectional(x)]
    assert len(outputs) == 1 + 2 * family.num_states
    _, *forward = family.expected(bidirectional.forward_layer, x)
    _, *backward = family.expected(bidirectional.backward_layer, x, go_backwards=True)
    # The output concatenates the last outputs (the first states); then every state of each.
    np.testing.assert_allclose(
        outputs[0], np.concatenate([forward[0], backward[0]], axis=-1), atol=family.atol
    )
    for got, want in zip(outputs[1:], forward + backward, strict=True):
        assert got.shape == (BATCH, UNITS)
        np.testing.assert_allclose(got, want, atol=family.atol)


def test_return_state_feeds_initial_state(family):
    rng = np.random.default_rng(3)
    encoder_in = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    decoder_in = rng.normal(size=(BATCH, 4, 2)).astype("float32")
    encoder = family.make(return_state=True)
    decoder = family.make(return_sequences=True)
    source, target = keras.Input((STEPS, FEATURES)), keras.Input((4, 2))
    encoded = encoder(source)
    assert len(encoded) == 1 + family.num_states
    model = keras.Model([source, target], decoder(target, initial_state=encoded[1:]))

    out = model.predict_on_batch([encoder_in, decoder_in])
    _, *states = family.expected(encoder, encoder_in)
    want, *_ = family.expected(decoder, decoder_in, initial_state=states)
    np.testing.assert_allclose(out, want, atol=family.atol)
    # The states carry information: another encoder input changes the decoder output.
    other = model.predict_on_batch([encoder_in[::-1], decoder_in])
    assert np.abs(other - out).max() > 1e-4
    # The last output of a layer is its (first) state.
    last, *encoder_states = (np.asarray(t) for t in encoder(encoder_in))
    np.testing.assert_allclose(last, encoder_states[0], atol=1e-6)
    for got, want in zip(encoder_states, states, strict=True):
        np.testing.assert_allclose(got, want, atol=family.atol)


def test_stateful(family):
    x = _data(4)
    layer = family.make(stateful=True, return_sequences=True)
    first = np.asarray(layer(x))
    second = np.asarray(layer(x))
    assert np.abs(second - first).max() > 1e-4

    # The second call continues from the states the first left: one pass over both sequences.
    hs, *_ = family.expected(layer, np.concatenate([x, x], axis=1))
    np.testing.assert_allclose(first, hs[:, :STEPS], atol=family.atol)
    np.testing.assert_allclose(second, hs[:, STEPS:], atol=family.atol)

    layer.reset_states()
    np.testing.assert_allclose(np.asarray(layer(x)), first, atol=1e-6)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
def test_unroll_matches_reference(family, go_backwards):
    x = _data(5)
    options = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    looped = family.make(**options)
    unrolled = family.make(unroll=True, **options)
    looped(x)
    unrolled(x)
    _copy_weights(looped, unrolled)
    want = family.expected(looped, x, go_backwards=go_backwards)
    for layer in (looped, unrolled):
        outputs = layer(x)
        assert len(outputs) == len(want)
        for got, expected in zip(outputs, want, strict=True):
            np.testing.assert_allclose(np.asarray(got), expected, atol=family.atol)


def test_masked_padding_matches_truncated_sequence(family):
    x = _data(6)
    padded = x.copy()
    padded[1, -2:] = 0.0  # sample 1 has STEPS - 2 real steps
    layer = family.make(return_state=True)
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.Masking(0.0), layer])
    outputs = model.predict_on_batch(padded)
    _, *full = family.expected(layer, x)
    _, *truncated = family.expected(layer, x[1:2, :-2])
    assert len(outputs) == 1 + family.num_states
    np.testing.assert_allclose(
        outputs[0], full[0] * [[1], [0], [1]] + truncated[0] * [[0], [1], [0]], atol=family.atol
    )
    for got, whole, cut in zip(outputs[1:], full, truncated, strict=True):
        np.testing.assert_allclose(got[[0, 2]], whole[[0, 2]], atol=family.atol)
        np.testing.assert_allclose(got[1:2], cut, atol=family.atol)


def _regression(seed=0, samples=48, steps=STEPS):
    """A fixed tiny regression problem: y is a weighted sum of the first feature over time."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, steps, 2)).astype("float32")
    weights = np.linspace(1.0, 0.2, steps, dtype="float32")
    y = (x[:, :, 0] * weights).sum(axis=1, keepdims=True) / np.sqrt(steps)
    y += 0.5 * x[:, -1, 1:2]
    return x, y.astype("float32")


def _model(family, steps=STEPS):
    return keras.Sequential([keras.Input((steps, 2)), family.make(8), keras.layers.Dense(1)])


def test_jit_compiled_fit(family):
    keras.utils.set_random_seed(0)
    x, y = _regression(samples=16)
    model = _model(family)
    initial = [np.asarray(w) for w in model.get_weights()]
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    layer, dense = model.layers
    assert all(np.abs(w - w0).max() > 0 for w, w0 in zip(model.get_weights(), initial, strict=True))
    # The compiled model computes, with the trained weights, what the reference computes.
    _, h, *_ = family.expected(layer, x)
    np.testing.assert_allclose(model.predict_on_batch(x), _dense(dense, h), atol=family.atol)


def test_fit_reduces_loss(family):
    keras.utils.set_random_seed(0)
    x, y = _regression()
    model = _model(family)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    initial = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    final = model.evaluate(x, y, verbose=0)
    assert np.isfinite(final)
    assert final < 0.5 * initial, (initial, final)
