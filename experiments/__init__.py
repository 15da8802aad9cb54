"""The experiment suite: grids of cells x activation schemes x clipping modes x seeds.

The training step is TensorFlow's (`tf.GradientTape` in a `tf.function`), so this package pins the
Keras backend to TensorFlow; `custom_layers` itself stays backend-agnostic.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up banner out of the logs
