"""The task interface `Task` and the helpers the tasks share (validation, cross-entropy, accuracy).

Every task is a frozen dataclass whose fields are its parameters (at least `length`, the number of
time steps T that the dependency spans). Class attributes describe what a model builder and a
training loop need to know, so that nothing downstream special-cases a task by name:

- `input_shape` -> `(time, features)`; inputs are always float32 of shape `(batch, time, features)`.
- `output_kind` and `output_units` say which head to put on the recurrent layer:
  - `"regression"`: `Dense(1)` on the last step; targets float32 `(batch, 1)`.
  - `"classification"`: `Dense(C)` logits on the last step; targets int32 class ids `(batch,)`.
  - `"sequence_classification"`: `TimeDistributed(Dense(C))` logits at every input step
    (`return_sequences=True`); targets int32 `(batch, time)`, one class id per input step.
- `loss_name` (with `from_logits`) is the Keras loss: `"mse"` or `"sparse_categorical_crossentropy"`
  (from logits, mean over the batch and, for sequences, over every time step).
- `metric_name`, `higher_is_better`, `solved_threshold` and `solved(metric)` define success;
  `numpy_metric(y_true, y_pred)` computes the metric from numpy predictions (logits for the
  classification kinds), so the training loop and the tests compute it the same way;
  `numpy_loss(y_true, y_pred)` does the same for the loss.
- `baseline` is the value reached by a memoryless model and `baseline_kind` says whether it is a
  `"loss"` or a `"metric"` value; `metric_baseline` is always the metric of that model.

Data are pure functions of a `numpy.random.Generator`: `batch(rng, batch_size)` draws a fresh
training batch, and `eval_set(seed, size)` returns a fixed held-out set drawn from its own stream,
`numpy.random.default_rng([seed, 1])`, so a training stream seeded with `default_rng(seed)` or
`default_rng([seed, 0])` never overlaps it. Nothing is computed at import time; the digits data are
loaded (from scikit-learn's package, no download) on first use and cached.

The tasks themselves are one module each beside this one; `experiments.grid.tasks` holds the
registry `TASKS`, `make_task(name, **params)` and `describe_tasks()`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from experiments import solving

EVAL_STREAM = 1  # eval_set(seed, ...) draws from default_rng([seed, EVAL_STREAM])
DEFAULT_EVAL_SIZE = 1000  # eval_set size of the synthetic tasks when none is given


# --------------------------------------------------------------------------------------------------
# Validation and numpy helpers


def invalid(task: str, argument: str, value, expected: str) -> ValueError:
    return ValueError(
        f"Received an invalid value for argument `{argument}` of task '{task}', expected "
        f"{expected}, got {value!r}."
    )


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(task: str, argument: str, value, minimum: int, why: str = "") -> int:
    """Returns `value` as an `int`, or raises a `ValueError` naming the argument."""
    if not is_int(value) or value < minimum:
        expected = f"an integer >= {minimum}" + (f" ({why})" if why else "")
        raise invalid(task, argument, value, expected)
    return int(value)


def check_batch_args(rng, batch_size) -> int:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"Expected `rng` to be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}."
        )
    if not is_int(batch_size) or batch_size <= 0:
        raise ValueError(
            "Received an invalid value for argument `batch_size`, expected a positive integer, "
            f"got {batch_size!r}."
        )
    return int(batch_size)


def check_shape(array: np.ndarray, shape: tuple, argument: str) -> None:
    """Checks `array.shape` against `shape`, where `None` matches any size."""
    ok = array.ndim == len(shape) and all(
        s is None or s == a for s, a in zip(shape, array.shape, strict=True)
    )
    if not ok:
        expected = "(" + ", ".join("batch" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"Expected `{argument}` of shape {expected}, got {array.shape}.")


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy(y_true: np.ndarray, logits: np.ndarray) -> float:
    """Mean sparse cross-entropy over every position of `y_true`, from logits."""
    log_probs = _log_softmax(logits)
    picked = np.take_along_axis(log_probs, y_true.astype(np.int64)[..., None], axis=-1)
    return float(-picked.mean())


def accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    return float((np.argmax(scores, axis=-1) == y_true).mean())


# --------------------------------------------------------------------------------------------------
# The task interface


@dataclass(frozen=True)
class Task:
    """Base class of the tasks; see the module docstring for the interface.

    Subclasses are frozen dataclasses whose fields are the task's parameters, and set the class
    attributes below.
    """

    name: ClassVar[str]
    source: ClassVar[str]  # the papers that define the task
    output_kind: ClassVar[str]  # "regression" | "classification" | "sequence_classification"
    loss_name: ClassVar[str]  # a Keras loss name
    from_logits: ClassVar[bool]  # whether the loss takes logits (classification kinds)
    metric_name: ClassVar[str]
    higher_is_better: ClassVar[bool]
    solved_threshold: ClassVar[float]
    baseline_kind: ClassVar[str]  # "loss" or "metric": what `baseline` is a value of
    baseline_note: ClassVar[str]  # how the baseline is derived
    min_length: ClassVar[int]
    length_hint: ClassVar[str]  # why `min_length`, for the error message

    length: int

    # --- interface implemented by each task ---

    @property
    def input_shape(self) -> tuple[int, int]:
        """`(time, features)` of one input sequence."""
        raise NotImplementedError

    @property
    def output_units(self) -> int:
        """Units of the output layer: 1 for regression, the number of classes otherwise."""
        raise NotImplementedError

    @property
    def baseline(self) -> float:
        """The loss or metric (see `baseline_kind`) of the best memoryless model."""
        raise NotImplementedError

    @property
    def metric_baseline(self) -> float:
        """The metric of the best memoryless model."""
        raise NotImplementedError

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Draws a fresh batch; a pure function of the state of `rng`.

        Args:
            rng: the random generator; the same seed gives the same sequence of batches.
            batch_size: number of sequences, a positive integer.

        Returns:
            `(inputs, targets)`: inputs float32 `(batch_size, *input_shape)`; targets float32
            `(batch_size, 1)` for regression, int32 `(batch_size,)` for classification, int32
            `(batch_size, time)` for sequence classification.
        """
        raise NotImplementedError

    def numpy_loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """The task's loss (as the Keras loss `loss_name` computes it) from numpy predictions."""
        raise NotImplementedError

    def numpy_metric(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """The task's metric `metric_name` from numpy predictions (logits or probabilities)."""
        raise NotImplementedError

    # --- shared ---

    def __post_init__(self) -> None:
        length = check_int(self.name, "length", self.length, self.min_length, self.length_hint)
        object.__setattr__(self, "length", length)

    @property
    def params(self) -> dict:
        """The task's parameters, as `make_task(task.name, **task.params)` takes them."""
        return dataclasses.asdict(self)

    @property
    def metric_is_loss(self) -> bool:
        """Whether the metric is the loss itself (adding: both are the MSE)."""
        return self.metric_name == self.loss_name

    def solved(self, metric: float) -> bool:
        """Whether a held-out metric value counts as solving the task (NaN never does)."""
        return solving.passes(metric, self.solved_threshold, self.higher_is_better)

    @property
    def solved_rule(self) -> str:
        """The solved rule in words, e.g. `"accuracy >= 0.99"`."""
        return (
            f"{self.metric_name} {'>=' if self.higher_is_better else '<='} {self.solved_threshold}"
        )

    def eval_set(self, seed: int, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """A fixed held-out set: the batch drawn from `default_rng([seed, EVAL_STREAM])`.

        Args:
            seed: the run's seed; the set depends only on `seed`, `size` and the task parameters.
            size: number of sequences; `None` means `DEFAULT_EVAL_SIZE`.

        Returns:
            `(inputs, targets)` with the shapes and dtypes of `batch`.
        """
        size = DEFAULT_EVAL_SIZE if size is None else size
        return self.batch(np.random.default_rng([seed, EVAL_STREAM]), size)

    def describe(self) -> str:
        """A few lines: parameters with values, output head, loss, metric, baseline, solved rule."""
        params = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        loss = self.loss_name + (" (from logits)" if self.from_logits else "")
        return "\n".join(
            [
                f"{self.name}({params})",
                f"  input    {self.input_shape} (time, features), float32",
                f"  output   {self.output_kind}, {self.output_units} unit(s)",
                f"  loss     {loss}",
                f"  metric   {self.metric_name} ({'higher' if self.higher_is_better else 'lower'}"
                " is better)",
                f"  baseline {self.baseline_kind} {self.baseline:.4g}: {self.baseline_note}",
                f"  solved   {self.solved_rule}",
                f"  source   {self.source}",
            ]
        )


# --------------------------------------------------------------------------------------------------
# Shared by the tasks that classify a whole sequence (one label per sequence)


class LastStepClassification:
    """Loss and metric of the tasks that classify a whole sequence from its last step."""

    output_units: int

    def _check(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        check_shape(y_true, (None,), "y_true")
        check_shape(y_pred, (y_true.shape[0], self.output_units), "y_pred")
        return y_true, y_pred

    def numpy_loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Mean cross-entropy from logits. Shapes: `y_true` `(batch,)`, `y_pred` `(batch, C)`."""
        y_true, y_pred = self._check(y_true, y_pred)
        return cross_entropy(y_true, y_pred)

    def numpy_metric(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Accuracy of the argmax. Shapes: `y_true` `(batch,)`, `y_pred` `(batch, C)` logits or
        probabilities."""
        y_true, y_pred = self._check(y_true, y_pred)
        return accuracy(y_true, y_pred)
