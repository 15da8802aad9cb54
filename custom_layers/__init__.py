"""Keras recurrent cells whose gate, candidate and output activations can each be swapped.

With default arguments every cell equals its Keras built-in (same weights, same outputs).
"""

from custom_layers.activations import builtin_names as activation_names
from custom_layers.lstm import SwappableLSTM, SwappableLSTMCell

__all__ = [
    "SwappableLSTM",
    "SwappableLSTMCell",
    "activation_names",
]
