"""Keras recurrent cells whose gate, candidate and output activations can each be swapped.

With default arguments the LSTM, GRU and simple RNN cells equal their Keras built-ins (same
weights, same outputs); IndRNN and MUT1-3 (Jozefowicz et al. 2015) have no built-in.
`GradientMonitor` logs the gradients of any Keras model's `fit` (TensorFlow backend).
"""

from custom_layers.activations import builtin_names as activation_names
from custom_layers.gru import SwappableGRU, SwappableGRUCell
from custom_layers.indrnn import IndRNN, IndRNNCell, MaxAbs
from custom_layers.lstm import SwappableLSTM, SwappableLSTMCell
from custom_layers.monitor import GradientMonitor
from custom_layers.mut import SwappableMUT, SwappableMUTCell
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
    "SwappableMUT",
    "SwappableMUTCell",
    "SwappableSimpleRNN",
    "SwappableSimpleRNNCell",
    "activation_names",
]
