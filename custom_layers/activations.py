"""Resolving, validating and serializing activation arguments.

Every cell resolves its activation arguments here, once, in `__init__`, so that a bad name fails at
construction with one standard message, and every cell saves its activations the same way.

An activation argument is one of:
- the name of a Keras built-in activation (`"tanh"`, `"sigmoid"`, `"hard_sigmoid"`, `"relu"`, ...);
- the registered name of a callable decorated with
  `keras.saving.register_keras_serializable` (e.g. `"my_package>scaled_tanh"`);
- a callable (it survives `.keras` saving only if it is a built-in or registered).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import keras


def builtin_names() -> list[str]:
    """The names of Keras's built-in activations, sorted."""
    names = []
    for name in dir(keras.activations):
        if name.startswith("_") or name in {"get", "serialize", "deserialize"}:
            continue
        if callable(getattr(keras.activations, name)):
            names.append(name)
    return sorted(names)


def resolve(identifier: str | Callable | None, argument: str) -> Callable:
    """Turns an activation argument into a callable, or raises a `ValueError`.

    Args:
        identifier: a built-in name, a registered name, or a callable; `None` means linear, as
            in Keras (a per-part override's `None`, "use the default", is handled by
            `resolve_parts` before it gets here).
        argument: the name of the cell argument being resolved, used in the error message.

    Returns:
        The activation function: a callable mapping a tensor to a tensor of the same shape.
    """
    if identifier is None:
        return keras.activations.linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):  # a serialized registered object, as `get_config` writes it
        return keras.activations.get(identifier)
    if isinstance(identifier, str):
        if identifier in builtin_names():
            return keras.activations.get(identifier)
        registered = keras.saving.get_registered_object(identifier)
        if callable(registered):
            return registered
    raise ValueError(
        f"Received an invalid value for argument `{argument}`: {identifier!r} is not a Keras "
        f"activation. Expected one of {builtin_names()}, the name of a callable registered with "
        "`keras.saving.register_keras_serializable`, or a callable."
    )


def resolve_parts(parts: dict) -> tuple[dict, dict]:
    """Resolves per-part overrides such as `{"forget_gate_activation": (value, default)}`.

    Args:
        parts: maps each override argument to `(value, default)`, where `value` is what the user
            passed (`None` when unset) and `default` the resolved callable it falls back to.

    Returns:
        `(effective, overrides)`: the callable each part uses, and the resolved overrides with
        unset ones left `None`, so a saved config still follows its defaults when loaded.
    """
    overrides = {
        name: None if value is None else resolve(value, name) for name, (value, _) in parts.items()
    }
    effective = {
        name: parts[name][1] if value is None else value for name, value in overrides.items()
    }
    return effective, overrides


def serialize(activation: Callable | None):
    """Serializes an activation for `get_config`; `None` (an unset override) stays `None`."""
    return None if activation is None else keras.activations.serialize(activation)


def check_units(units) -> int:
    """Validates the `units` argument shared by every cell (NumPy integers welcome, as in Keras)."""
    if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument `units`, expected a positive integer, "
            f"got {units!r}."
        )
    return int(units)


def check_rate(value, argument: str) -> float:
    """Validates a dropout rate: a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`, expected a float in [0, 1), "
            f"got {value!r}."
        )
    return float(value)
