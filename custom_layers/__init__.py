"""Keras recurrent cells whose gate, candidate and output activations can each be swapped.

With default arguments every cell equals its Keras built-in (same weights, same outputs).
`GradientMonitor` logs the gradients of any Keras model's `fit` (TensorFlow backend).
"""

from custom_layers.activations import builtin_names as activation_names
from custom_layers.gru import SwappableGRU, SwappableGRUCell
from custom_layers.indrnn import IndRNN, IndRNNCell, MaxAbs
from custom_layers.lstm import SwappableLSTM, SwappableLSTMCell
from custom_layers.monitor import GradientMonitor
from custom_layers.simple_rnn import ScaledIdentity, SwappableSimpleRNN, SwappableSimpleRNNCell

__all__ = [
    "GradientMonitor",
    "IndRNN",
    "IndRNNCell",
    "MaxAbs",
    "ScaledIdentity",
    "SwappableGRU",
    "SwappableGRUCell",
    "SwappableLSTM",
    "SwappableLSTMCell",
    "SwappableSimpleRNN",
    "SwappableSimpleRNNCell",
    "activation_names",
]
