"""The experiment suite: grids of cells x activation schemes x clipping modes x seeds.

The training step is TensorFlow's (`tf.GradientTape` in a `tf.function`), so this package pins the
Keras backend to TensorFlow; `custom_layers` itself stays backend-agnostic.

`from experiments import load_steps` (`experiments.results.analysis.load_steps`: every run's steps of a
grid as one pandas DataFrame) imports pandas on first use, and no TensorFlow.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up banner out of the logs

__all__ = ["load_steps"]


def __getattr__(name: str):
    # Imported on first use, so that `import experiments` (every command, every helper process)
    # does not load pandas.
    if name == "load_steps":
        from experiments.results.analysis import load_steps

        return load_steps
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
