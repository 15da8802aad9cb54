"""What every swappable cell shares: its argument checks, its per-part activations, the dropout of
a step's inputs, and the per-sequence hook that `CellLayer` calls around its time loop.

Every cell family subclasses `CellMixin` before its Keras cell (`class SwappableLSTMCell(CellMixin,
keras.layers.LSTMCell)`), so the mixin adds behaviour without changing the weights, the config or
the registered name.
"""

from __future__ import annotations

from custom_layers import activations


def check_arguments(units, dropout, recurrent_dropout) -> None:
    """Validates the arguments every cell takes, with the standard messages (see `activations`).

    Raises:
        ValueError: `units` is not a positive integer, or a dropout rate is outside [0, 1).
    """
    activations.check_units(units)
    activations.check_rate(dropout, "dropout")
    activations.check_rate(recurrent_dropout, "recurrent_dropout")


class CellMixin:
    """The parts common to every swappable cell; the cell's Keras base class comes after it.

    Per-sequence hook: `CellLayer` calls `begin_sequence()` before its time loop and
    `end_sequence()` after it. In between, `_sequence_weights` holds what `sequence_weights()`
    returned (what each step would otherwise recompute from the weights); outside a loop, and in
    a plain `keras.layers.RNN`, it is None and `call` computes the same numbers step by step.
    """

    # What `sequence_weights()` returned, while `CellLayer` runs its time loop; None otherwise.
    _sequence_weights = None

    def sequence_weights(self):
        """What every step of a sequence can share, computed from the weights; None: nothing."""
        return None

    def begin_sequence(self):
        """Called by `CellLayer` before its time loop."""
        self._sequence_weights = self.sequence_weights()

    def end_sequence(self):
        """Called by `CellLayer` after its time loop (also when the loop fails)."""
        self._sequence_weights = None

    def apply_dropout(self, inputs, h_tm1, training):
        """`(inputs, h_tm1)` times the cell's dropout masks when training with a rate in (0, 1).

        Args:
            inputs: the step's input `(batch, features)`.
            h_tm1: the previous output `(batch, units)`.
            training: whether dropout is active.
        """
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        return inputs, h_tm1

    def keep_fused_path(self):
        """Keeps the one fused implementation of a gated cell: Keras switches to its split-kernel
        path (one mask per gate) under recurrent dropout; here one mask is shared by the gates."""
        self.implementation = 2
        self.dropout_mask_count = None

    def set_part_activations(self, parts):
        """Resolves per-part overrides (see `activations.resolve_parts`) and sets each part's
        effective activation as an attribute of the same name."""
        effective, self._overrides = activations.resolve_parts(parts)
        for name, fn in effective.items():
            setattr(self, name, fn)

    def part_activations_config(self):
        """The per-part overrides for `get_config`: unset ones stay None."""
        return {key: activations.serialize(value) for key, value in self._overrides.items()}
