"""Every swappable layer family inside Keras models: stacking, `Bidirectional`, states, masking,
statefulness, unrolling, XLA and training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

UNITS = 4
FEATURES = 3
STEPS = 6
BATCH = 3

# family: (module, layer class, number of states, non-default arguments exercised in models)
FAMILIES = {
    "lstm": (
        "custom_layers.lstm",
        "SwappableLSTM",
        2,
        dict(candidate_activation="relu", forget_gate_activation="hard_sigmoid", peephole=True),
    ),
    "lstm_cifg_ln": (
        "custom_layers.lstm",
        "SwappableLSTM",
        2,
        dict(coupled_input_forget=True, layer_norm=True, cell_activation="relu"),
    ),
    "gru": (
        "custom_layers.gru",
        "SwappableGRU",
        1,
        dict(reset_gate_activation="hard_sigmoid", candidate_activation="relu"),
    ),
    "gru_reset_before": ("custom_layers.gru", "SwappableGRU", 1, dict(reset_after=False)),
    "simple_rnn": ("custom_layers.simple_rnn", "SwappableSimpleRNN", 1, dict(activation="relu")),
    "indrnn": (
        "custom_layers.indrnn",
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
    """One layer family: `make(**overrides)` builds a layer with the family's arguments."""

    def __init__(self, name):
        module, class_name, self.num_states, self.kwargs = FAMILIES[name]
        self.cls = getattr(pytest.importorskip(module), class_name)

    def make(self, units=UNITS, **overrides):
        return self.cls(units, **{**self.kwargs, **overrides})


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
    import custom_layers

    for name in ("SwappableLSTM", "SwappableGRU", "SwappableSimpleRNN", "IndRNN"):
        if not hasattr(custom_layers, name):
            pytest.skip(f"custom_layers does not export {name} yet")
        assert issubclass(getattr(custom_layers, name), keras.layers.RNN)


def test_stacked(family):
    x = _data(0)
    first = family.make(return_sequences=True)
    model = keras.Sequential(
        [keras.Input((STEPS, FEATURES)), first, family.make(3), keras.layers.Dense(1)]
    )
    out = model.predict_on_batch(x)
    assert out.shape == (BATCH, 1)
    assert np.all(np.isfinite(out))
    assert tuple(first.output.shape) == (None, STEPS, UNITS)


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
    np.testing.assert_allclose(out[..., :UNITS], np.asarray(forward(x)), atol=1e-6)
    np.testing.assert_allclose(
        out[..., UNITS:], np.flip(np.asarray(backward(x)), axis=1), atol=1e-6
    )


def test_bidirectional_return_state(family):
    x = _data(2)
    bidirectional = keras.layers.Bidirectional(family.make(return_state=True))
    outputs = bidirectional(x)
    assert len(outputs) == 1 + 2 * family.num_states
    assert tuple(outputs[0].shape) == (BATCH, 2 * UNITS)
    for state in outputs[1:]:
        assert tuple(state.shape) == (BATCH, UNITS)


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
    assert out.shape == (BATCH, 4, UNITS)
    states = [np.asarray(s) for s in encoder(encoder_in)[1:]]
    np.testing.assert_allclose(
        out, np.asarray(decoder(decoder_in, initial_state=states)), atol=1e-5
    )
    # The states carry information: another encoder input changes the decoder output.
    other = model.predict_on_batch([encoder_in[::-1], decoder_in])
    assert np.abs(other - out).max() > 1e-4
    # The last output of a layer is its (first) state.
    np.testing.assert_allclose(np.asarray(encoder(encoder_in)[0]), states[0], atol=1e-6)


def test_stateful(family):
    x = _data(4)
    layer = family.make(stateful=True)
    first = np.asarray(layer(x))
    second = np.asarray(layer(x))
    assert np.abs(second - first).max() > 1e-4

    # The second call continues from the first: the same as one pass over both sequences.
    plain = family.make()
    plain(x)
    _copy_weights(layer, plain)
    np.testing.assert_allclose(second, np.asarray(plain(np.concatenate([x, x], axis=1))), atol=1e-5)

    layer.reset_states()
    np.testing.assert_allclose(np.asarray(layer(x)), first, atol=1e-6)


def test_unroll_matches_loop(family):
    x = _data(5)
    looped = family.make(return_sequences=True, return_state=True)
    unrolled = family.make(return_sequences=True, return_state=True, unroll=True)
    looped(x)
    unrolled(x)
    _copy_weights(looped, unrolled)
    for want, got in zip(looped(x), unrolled(x), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def test_masked_padding_matches_truncated_sequence(family):
    x = _data(6)
    padded = x.copy()
    padded[1, -2:] = 0.0  # sample 1 has STEPS - 2 real steps
    layer = family.make(return_state=True)
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.Masking(0.0), layer])
    outputs = model.predict_on_batch(padded)
    plain = family.make(return_state=True)
    plain(x)
    _copy_weights(layer, plain)
    truncated = plain(x[1:2, :-2])
    for got, want in zip(outputs, truncated, strict=True):
        np.testing.assert_allclose(got[1:2], np.asarray(want), atol=1e-5)


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
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert np.all(np.isfinite(model.predict_on_batch(x)))


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
