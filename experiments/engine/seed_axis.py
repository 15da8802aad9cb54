"""Layers that hold S independent copies of their weights, one per seed, and run them as one.

A seed group (`experiments.engine.group_training`) trains S runs that differ only in their seed. Its model
is built from the same layer classes as a single run's, each subclassed here (`stacked`) so that
every weight gets a leading seed axis and every call sees its batch split by seed. The cell's own
`call` then runs unchanged: its equations are written with `ops.matmul` (which batches over leading
axes), last-axis splits and broadcasting adds, so one implementation serves one seed and S seeds.
Nothing here is public: `SwappableLSTM(32)` and the other layers are untouched for a user.

Layout. The group's input is the seeds' batches one after another, `(S * batch, ...)`, so Keras's
time loop and states see an ordinary batch. Inside a stacked layer, every tensor is viewed as
`(S, batch, ...)` and each weight is stored so that it broadcasts against that view:

    matrix (a, b)            -> (S, a, b)       batched matmul: seed s multiplies its own matrix
    vector (n,)              -> (S, 1, n)       added to (S, batch, n)
    rows of vectors (k, n)   -> (k, S, 1, n)    GRU's `bias` under reset_after: bias[0] is a vector

`seed_axis` says where the seed axis of a stored weight is; `stack_weights` and
`unstack_weights` move between the per-seed arrays of single runs and the stored values.
"""

from __future__ import annotations

import numpy as np
from keras import ops

# Weights of rank 2 that are rows of vectors (indexed `w[0]`, `w[1]`), not matrices.
_VECTOR_ROWS = ("bias",)


def _is_vector_rows(shape: tuple, name: str) -> bool:
    return len(shape) == 2 and name in _VECTOR_ROWS


def stored_shape(shape: tuple, seeds: int, name: str) -> tuple:
    """The stored shape of the weight `name` of single-run `shape` in a layer of `seeds` seeds."""
    shape = tuple(shape)
    if len(shape) == 1:
        return (seeds, 1, *shape)
    if _is_vector_rows(shape, name):
        return (shape[0], seeds, 1, shape[1])
    return (seeds, *shape)


def seed_axis(shape: tuple, name: str) -> int:
    """The seed axis of the stored weight `name` whose single-run shape is `shape`."""
    return 1 if _is_vector_rows(tuple(shape), name) else 0


def stack_weights(per_seed: list[np.ndarray], name: str) -> np.ndarray:
    """The stored value of the weight `name` from its single-run values, one per seed, in seed
    order."""
    shape = per_seed[0].shape
    stacked = np.stack(per_seed, axis=seed_axis(shape, name))
    return stacked.reshape(stored_shape(shape, len(per_seed), name))


def unstack_weights(value: np.ndarray, seed: int, shape: tuple, name: str) -> np.ndarray:
    """Seed number `seed`'s single-run value (of `shape`) of the weight `name`, from its stored
    value."""
    return np.take(value, seed, axis=seed_axis(shape, name)).reshape(shape)


class SeedAxis:
    """Mixin, before a Keras layer class: S copies of the layer's weights, used seed by seed.

    `seeds` is set on the subclass by `stacked`. `add_weight` stores each weight with a seed axis
    (zeros: the values are copied in from single runs, `stack_weights`); `call` views its inputs
    and states as `(S, batch, ...)`, runs the layer's own `call`, and returns `(S * batch, ...)`.
    """

    seeds: int

    def add_weight(self, shape=None, initializer=None, *args, name=None, **kwargs):
        return super().add_weight(
            stored_shape(shape, self.seeds, name), "zeros", *args, name=name, **kwargs
        )

    def _by_seed(self, x):
        """`(S * batch, *rest)` -> `(S, batch * ..., last)`: every seed's rows together."""
        return ops.reshape(x, (self.seeds, -1, x.shape[-1]))

    def _flat(self, x, like):
        """The inverse of `_by_seed`, back to the shape of `like` with x's last axis."""
        return ops.reshape(x, (-1, *like.shape[1:-1], x.shape[-1]))


class _SeedAxisCell(SeedAxis):
    def get_initial_state(self, batch_size=None):
        """States `(S, batch, size)`: they keep the seed view through the time loop, so a step
        reshapes only its input and its output (a symbolic batch gets the plain layout)."""
        if batch_size is None or not isinstance(batch_size, int):
            return super().get_initial_state(batch_size)
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        shape = (self.seeds, batch_size // self.seeds)
        return [ops.zeros((*shape, size), dtype=self.compute_dtype) for size in sizes]

    def call(self, inputs, states, training=False):
        is_list = isinstance(states, (list, tuple))
        first = states[0] if is_list else states
        if len(first.shape) == 3:  # already `(S, batch, size)` (see get_initial_state)
            output, new_states = super().call(self._by_seed(inputs), states, training=training)
            return self._flat(output, inputs), new_states
        seeded = [self._by_seed(s) for s in states] if is_list else self._by_seed(states)
        output, new_states = super().call(self._by_seed(inputs), seeded, training=training)
        if isinstance(new_states, (list, tuple)):
            new_states = [self._flat(s, first) for s in new_states]
        else:
            new_states = self._flat(new_states, first)
        return self._flat(output, first), new_states


class _SeedAxisDense(SeedAxis):
    def call(self, inputs, training=None):
        return self._flat(super().call(self._by_seed(inputs)), inputs)


def stacked(layer_class: type, seeds: int) -> type:
    """`layer_class` (a `custom_layers` recurrent layer, or `keras.layers.Dense`) for `seeds`
    seeds: same arguments, same weights and names, each weight with a seed axis.

    Inputs and outputs are `(seeds * batch, ...)`: rows `s * batch` to `(s + 1) * batch - 1` are
    seed s's batch, computed with seed s's weights only.
    """
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    attributes = {"seeds": seeds, "__module__": __name__}
    cell_class = getattr(layer_class, "cell_class", None)
    if cell_class is None:
        return type(f"Seeds{layer_class.__name__}", (_SeedAxisDense, layer_class), attributes)
    cell = type(f"Seeds{cell_class.__name__}", (_SeedAxisCell, cell_class), attributes)
    return type(f"Seeds{layer_class.__name__}", (layer_class,), {**attributes, "cell_class": cell})
