"""Long-dependency tasks: data, loss, metric, memoryless baseline and "solved" rule.

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

Use `make_task(name, **params)` to build a task from a config and `describe_tasks()` for a listing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from experiments import solving

__all__ = [
    "EVAL_STREAM",
    "AddingTask",
    "CopyTask",
    "DigitsTask",
    "TASKS",
    "Task",
    "TemporalOrderTask",
    "describe_tasks",
    "make_task",
]

EVAL_STREAM = 1  # eval_set(seed, ...) draws from default_rng([seed, EVAL_STREAM])
DEFAULT_EVAL_SIZE = 1000  # eval_set size of the synthetic tasks when none is given


# --------------------------------------------------------------------------------------------------
# Validation and numpy helpers


def _invalid(task: str, argument: str, value, expected: str) -> ValueError:
    return ValueError(
        f"Received an invalid value for argument `{argument}` of task '{task}', expected "
        f"{expected}, got {value!r}."
    )


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(task: str, argument: str, value, minimum: int, why: str = "") -> int:
    """Returns `value` as an `int`, or raises a `ValueError` naming the argument."""
    if not _is_int(value) or value < minimum:
        expected = f"an integer >= {minimum}" + (f" ({why})" if why else "")
        raise _invalid(task, argument, value, expected)
    return int(value)


def _check_batch_args(rng, batch_size) -> int:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"Expected `rng` to be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}."
        )
    if not _is_int(batch_size) or batch_size <= 0:
        raise ValueError(
            "Received an invalid value for argument `batch_size`, expected a positive integer, "
            f"got {batch_size!r}."
        )
    return int(batch_size)


def _check_shape(array: np.ndarray, shape: tuple, argument: str) -> None:
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


def _cross_entropy(y_true: np.ndarray, logits: np.ndarray) -> float:
    """Mean sparse cross-entropy over every position of `y_true`, from logits."""
    log_probs = _log_softmax(logits)
    picked = np.take_along_axis(log_probs, y_true.astype(np.int64)[..., None], axis=-1)
    return float(-picked.mean())


def _accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
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
        length = _check_int(self.name, "length", self.length, self.min_length, self.length_hint)
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
# Adding


@dataclass(frozen=True)
class AddingTask(Task):
    """The adding problem: add the two marked numbers of a long sequence.

    Each step carries two features: a value drawn from U(0, 1) and a marker in {0, 1}. Exactly two
    steps are marked, one uniformly in the first half `[0, T//2)` and one uniformly in the second
    half `[T//2, T)`. The target is the sum of the two marked values.

    Predicting 1 (the mean of the sum) whatever the input gives an MSE of Var(U1 + U2) = 2/12 = 1/6:
    that is the memoryless baseline. Solved at a held-out MSE <= 0.01. The metric is the MSE
    itself, i.e. the loss.

    Shapes: inputs float32 `(batch, T, 2)` (feature 0 the value, feature 1 the marker); targets
    float32 `(batch, 1)`.

    Source: Hochreiter & Schmidhuber 1997 (Long Short-Term Memory, experiment 4), in the form of
    Le et al. 2015 (IRNN), Arjovsky et al. 2016 (uRNN) and Li et al. 2018 (IndRNN).

    Args:
        length: T, the number of time steps (>= 2).
    """

    name: ClassVar[str] = "adding"
    source: ClassVar[str] = (
        "Hochreiter & Schmidhuber 1997; as in Le et al. 2015, Arjovsky et al. 2016, Li et al. 2018"
    )
    output_kind: ClassVar[str] = "regression"
    loss_name: ClassVar[str] = "mse"
    from_logits: ClassVar[bool] = False
    metric_name: ClassVar[str] = "mse"
    higher_is_better: ClassVar[bool] = False
    solved_threshold: ClassVar[float] = 0.01
    baseline_kind: ClassVar[str] = "metric"
    baseline_note: ClassVar[str] = "MSE (= loss) of always predicting 1, Var(U1 + U2) = 2/12 = 1/6"
    min_length: ClassVar[int] = 2
    length_hint: ClassVar[str] = "one marker in each half of the sequence"

    length: int = 100  # T

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.length, 2)

    @property
    def output_units(self) -> int:
        return 1

    @property
    def baseline(self) -> float:
        return 1.0 / 6.0

    @property
    def metric_baseline(self) -> float:
        return 1.0 / 6.0

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """See `Task.batch`. Returns inputs float32 `(batch, T, 2)`, targets `(batch, 1)`."""
        n = _check_batch_args(rng, batch_size)
        half = self.length // 2
        values = rng.random((n, self.length)).astype(np.float32)
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, self.length, size=n)
        rows = np.arange(n)
        markers = np.zeros((n, self.length), dtype=np.float32)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        inputs = np.stack([values, markers], axis=-1)
        targets = (values[rows, first] + values[rows, second]).astype(np.float32)[:, None]
        return inputs, targets

    def numpy_loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Mean squared error. Shapes: `(batch, 1)` or `(batch,)`, both alike."""
        y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
        y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"Expected `y_true` and `y_pred` with one value per sequence, got {y_true.size} "
                f"and {y_pred.size} values."
            )
        return float(np.mean((y_true - y_pred) ** 2))

    def numpy_metric(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """The MSE, the same as `numpy_loss`. Shapes: `(batch, 1)` or `(batch,)`."""
        return self.numpy_loss(y_true, y_pred)


# --------------------------------------------------------------------------------------------------
# Copy memory


@dataclass(frozen=True)
class CopyTask(Task):
    """The copy memory problem: recall 10 symbols after a delay of T steps.

    The alphabet has 10 input symbols: 0 blank, 1..8 the data categories, 9 the delimiter. An input
    sequence has T + 20 steps: 10 symbols drawn uniformly from 1..8, then T - 1 blanks, then the
    delimiter (at step T + 9, 0-based), then 10 blanks. The target sequence has the same T + 20
    steps: blank (0) everywhere except the last 10 steps, which are the 10 symbols in order.

    The model outputs one prediction per input step (`return_sequences=True`, a
    `TimeDistributed(Dense(9))` head: 9 classes, blank + 8 symbols, as Arjovsky et al.; the
    delimiter is never a target). Outputs are scored as follows:
    - loss: mean cross-entropy over all T + 20 steps (and the batch), from logits, which is what
      Keras's `sparse_categorical_crossentropy` computes on `(batch, T + 20)` targets;
    - metric `recall_accuracy`: accuracy on the last 10 steps only (the recalled symbols), the
      mean over the batch and those 10 steps.

    Memoryless baseline: blank everywhere but a uniform guess over the 8 symbols on the last 10
    steps, a loss of 10 log(8) / (T + 20) and a recall accuracy of 1/8. Solved at a held-out
    recall accuracy >= 0.99.

    Shapes: inputs float32 one-hot `(batch, T + 20, 10)`; targets int32 `(batch, T + 20)`.

    Source: Hochreiter & Schmidhuber 1997 (experiment 2); defined as here by Arjovsky et al. 2016
    (Unitary Evolution RNNs), also used by Henaff et al. 2016.

    Args:
        length: T, the delay between the last data symbol and the first recall step (>= 1).
    """

    name: ClassVar[str] = "copy"
    source: ClassVar[str] = "Arjovsky et al. 2016 (after Hochreiter & Schmidhuber 1997)"
    output_kind: ClassVar[str] = "sequence_classification"
    loss_name: ClassVar[str] = "sparse_categorical_crossentropy"
    from_logits: ClassVar[bool] = True
    metric_name: ClassVar[str] = "recall_accuracy"
    higher_is_better: ClassVar[bool] = True
    solved_threshold: ClassVar[float] = 0.99
    baseline_kind: ClassVar[str] = "loss"
    baseline_note: ClassVar[str] = (
        "cross-entropy 10*log(8)/(T+20) of predicting blank, then uniform over the 8 symbols on "
        "the last 10 steps (recall accuracy 1/8)"
    )
    min_length: ClassVar[int] = 1
    length_hint: ClassVar[str] = "the delay T; a sequence has T + 20 steps"

    n_copy: ClassVar[int] = 10  # symbols to remember and recall
    n_categories: ClassVar[int] = 8  # data symbols 1..8
    blank: ClassVar[int] = 0
    delimiter: ClassVar[int] = 9
    n_input_symbols: ClassVar[int] = 10  # one-hot width: blank, 8 categories, delimiter

    length: int = 100  # T, the delay

    @property
    def sequence_length(self) -> int:
        """T + 20, the number of input (and output) steps."""
        return self.length + 2 * self.n_copy

    @property
    def delimiter_step(self) -> int:
        """0-based step of the delimiter, T + 9."""
        return self.length + self.n_copy - 1

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.sequence_length, self.n_input_symbols)

    @property
    def output_units(self) -> int:
        return self.n_categories + 1

    @property
    def baseline(self) -> float:
        return self.n_copy * math.log(self.n_categories) / self.sequence_length

    @property
    def metric_baseline(self) -> float:
        return 1.0 / self.n_categories

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """See `Task.batch`. Returns inputs `(batch, T+20, 10)` float32, targets `(batch, T+20)`
        int32."""
        n = _check_batch_args(rng, batch_size)
        symbols = rng.integers(1, self.n_categories + 1, size=(n, self.n_copy))
        sequence = np.zeros((n, self.sequence_length), dtype=np.int64)
        sequence[:, : self.n_copy] = symbols
        sequence[:, self.delimiter_step] = self.delimiter
        inputs = np.eye(self.n_input_symbols, dtype=np.float32)[sequence]
        targets = np.zeros((n, self.sequence_length), dtype=np.int32)
        targets[:, -self.n_copy :] = symbols
        return inputs, targets

    def _check(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        _check_shape(y_true, (None, self.sequence_length), "y_true")
        _check_shape(y_pred, (y_true.shape[0], self.sequence_length, None), "y_pred")
        return y_true, y_pred

    def numpy_loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Mean cross-entropy over all T + 20 steps and the batch.

        Args:
            y_true: int class ids `(batch, T + 20)`.
            y_pred: logits `(batch, T + 20, C)`.
        """
        y_true, y_pred = self._check(y_true, y_pred)
        return _cross_entropy(y_true, y_pred)

    def numpy_metric(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Recall accuracy: the fraction of the last 10 steps whose argmax is the right symbol.

        Args:
            y_true: int class ids `(batch, T + 20)`.
            y_pred: logits or probabilities `(batch, T + 20, C)`.
        """
        y_true, y_pred = self._check(y_true, y_pred)
        return _accuracy(y_true[:, -self.n_copy :], y_pred[:, -self.n_copy :])


# --------------------------------------------------------------------------------------------------
# Classification tasks (one label per sequence)


class _LastStepClassification:
    """Loss and metric of the tasks that classify a whole sequence from its last step."""

    output_units: int

    def _check(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        _check_shape(y_true, (None,), "y_true")
        _check_shape(y_pred, (y_true.shape[0], self.output_units), "y_pred")
        return y_true, y_pred

    def numpy_loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Mean cross-entropy from logits. Shapes: `y_true` `(batch,)`, `y_pred` `(batch, C)`."""
        y_true, y_pred = self._check(y_true, y_pred)
        return _cross_entropy(y_true, y_pred)

    def numpy_metric(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Accuracy of the argmax. Shapes: `y_true` `(batch,)`, `y_pred` `(batch, C)` logits or
        probabilities."""
        y_true, y_pred = self._check(y_true, y_pred)
        return _accuracy(y_true, y_pred)


@dataclass(frozen=True)
class TemporalOrderTask(_LastStepClassification, Task):
    """The temporal order problem: classify the order of two relevant symbols among distractors.

    Symbols (one-hot index): a, b, c, d (0-3, distractors), X, Y (4, 5, relevant), E (6, start),
    B (7, end). A sequence of T steps starts with E (t = 0) and ends with B (t = T - 1); every other
    step is a distractor drawn uniformly from a..d, except two steps that hold X or Y (each drawn
    uniformly): t1 uniform in [T/10, 2T/10] and t2 uniform in [5T/10, 6T/10] (integers in those
    closed ranges, see `first_range` and `second_range`; [10, 20] and [50, 60] at T = 100 as in the
    paper). The class is the order: 0 XX, 1 XY, 2 YX, 3 YY (the paper's Q, R, S, U).

    The four classes are equally likely, so the memoryless baseline accuracy is 25%. Solved at a
    held-out accuracy >= 0.99.

    Shapes: inputs float32 one-hot `(batch, T, 8)`; targets int32 `(batch,)`.

    Source: Hochreiter & Schmidhuber 1997 (Long Short-Term Memory), experiment 6a, with the
    positions scaled to the fixed length T.

    Args:
        length: T, the number of time steps (>= 10, so that t1 >= 1).
    """

    name: ClassVar[str] = "temporal_order"
    source: ClassVar[str] = "Hochreiter & Schmidhuber 1997, experiment 6a"
    output_kind: ClassVar[str] = "classification"
    loss_name: ClassVar[str] = "sparse_categorical_crossentropy"
    from_logits: ClassVar[bool] = True
    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    solved_threshold: ClassVar[float] = 0.99
    baseline_kind: ClassVar[str] = "metric"
    baseline_note: ClassVar[str] = "accuracy of a guess among 4 equally likely classes"
    min_length: ClassVar[int] = 10
    length_hint: ClassVar[str] = "t1 >= T/10 must come after the start marker at t = 0"

    symbols: ClassVar[tuple[str, ...]] = ("a", "b", "c", "d", "X", "Y", "E", "B")
    classes: ClassVar[tuple[str, ...]] = ("XX", "XY", "YX", "YY")
    n_distractors: ClassVar[int] = 4
    x_symbol: ClassVar[int] = 4  # Y is x_symbol + 1
    start_symbol: ClassVar[int] = 6
    end_symbol: ClassVar[int] = 7

    length: int = 100  # T

    @property
    def first_range(self) -> tuple[int, int]:
        """Inclusive range `(low, high)` of t1: the integers in [T/10, 2T/10]."""
        return (-(-self.length // 10), 2 * self.length // 10)

    @property
    def second_range(self) -> tuple[int, int]:
        """Inclusive range `(low, high)` of t2: the integers in [5T/10, 6T/10]."""
        return (-(-5 * self.length // 10), 6 * self.length // 10)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.length, len(self.symbols))

    @property
    def output_units(self) -> int:
        return len(self.classes)

    @property
    def baseline(self) -> float:
        return 1.0 / len(self.classes)

    @property
    def metric_baseline(self) -> float:
        return 1.0 / len(self.classes)

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """See `Task.batch`. Returns inputs `(batch, T, 8)` float32, targets `(batch,)` int32."""
        n = _check_batch_args(rng, batch_size)
        sequence = rng.integers(0, self.n_distractors, size=(n, self.length))
        sequence[:, 0] = self.start_symbol
        sequence[:, -1] = self.end_symbol
        low1, high1 = self.first_range
        low2, high2 = self.second_range
        t1 = rng.integers(low1, high1 + 1, size=n)
        t2 = rng.integers(low2, high2 + 1, size=n)
        first_is_y = rng.integers(0, 2, size=n)
        second_is_y = rng.integers(0, 2, size=n)
        rows = np.arange(n)
        sequence[rows, t1] = self.x_symbol + first_is_y
        sequence[rows, t2] = self.x_symbol + second_is_y
        inputs = np.eye(len(self.symbols), dtype=np.float32)[sequence]
        targets = (2 * first_is_y + second_is_y).astype(np.int32)
        return inputs, targets


@functools.lru_cache(maxsize=1)
def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, scaled to [0, 1], split 80/20 per class with a fixed seed.

    Returns:
        `(x_train, y_train, x_test, y_test)`, read-only: x float32 `(n, 64)`, y int32 `(n,)`.
    """
    from sklearn.datasets import load_digits  # ships with scikit-learn, no download

    digits = load_digits()
    x = (np.asarray(digits.data, dtype=np.float32) / 16.0).astype(np.float32)
    y = np.asarray(digits.target, dtype=np.int32)
    rng = np.random.default_rng(DigitsTask.split_seed)
    test = []
    for label in range(10):
        members = np.flatnonzero(y == label)
        n_test = round(DigitsTask.holdout_fraction * members.size)
        test.append(rng.permutation(members)[:n_test])
    test_index = np.sort(np.concatenate(test))
    train_index = np.setdiff1d(np.arange(y.size), test_index)
    arrays = (x[train_index], y[train_index], x[test_index], y[test_index])
    for array in arrays:
        array.setflags(write=False)
    return arrays


@dataclass(frozen=True)
class DigitsTask(_LastStepClassification, Task):
    """Pixel-by-pixel digits: classify an 8x8 digit image read as a 64-step sequence.

    scikit-learn's `load_digits` (1797 images, shipped with the package, no download), each image
    read row by row, one pixel per step, scaled to [0, 1] by /16. With `permuted=True` the 64
    pixels are read in a fixed order drawn from `default_rng(permutation_seed)` (the same order on
    every call), which spreads the strokes over the whole sequence. A fixed held-out 20% of each
    class (seed `split_seed`, independent of any batch rng) is kept for `eval_set`; `batch` draws
    from the other 80%.

    Ten balanced classes: the memoryless (majority-class) baseline accuracy is about 10%. Solved
    at a held-out accuracy >= 0.9.

    Shapes: inputs float32 `(batch, 64, 1)`; targets int32 `(batch,)`.

    Source: a small stand-in for pixel MNIST and permuted pixel MNIST (Le et al. 2015; Arjovsky
    et al. 2016), on the UCI optical digits (Alpaydin & Kaynak 1998) as scikit-learn ships them.

    Args:
        length: must be 64 (the number of pixels); any other value is rejected.
        permuted: read the pixels in a fixed random order instead of row by row.
        permutation_seed: seed of that order (>= 0); ignored unless `permuted`.
    """

    name: ClassVar[str] = "digits"
    source: ClassVar[str] = (
        "pixel / permuted-pixel digits after Le et al. 2015; scikit-learn load_digits (UCI)"
    )
    output_kind: ClassVar[str] = "classification"
    loss_name: ClassVar[str] = "sparse_categorical_crossentropy"
    from_logits: ClassVar[bool] = True
    metric_name: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    solved_threshold: ClassVar[float] = 0.9
    baseline_kind: ClassVar[str] = "metric"
    baseline_note: ClassVar[str] = "accuracy of predicting the majority class, ~1/10"
    min_length: ClassVar[int] = 64
    length_hint: ClassVar[str] = "the 8x8 pixels; the length is fixed"

    n_pixels: ClassVar[int] = 64
    split_seed: ClassVar[int] = 0
    holdout_fraction: ClassVar[float] = 0.2

    length: int = 64  # fixed: the 64 pixels of an 8x8 image
    permuted: bool = False  # read pixels in a fixed random order
    permutation_seed: int = 0  # seed of that order

    def __post_init__(self) -> None:
        if not _is_int(self.length) or self.length != self.n_pixels:
            raise _invalid(self.name, "length", self.length, f"64 ({self.length_hint})")
        object.__setattr__(self, "length", int(self.length))
        if not isinstance(self.permuted, (bool, np.bool_)):
            raise _invalid(self.name, "permuted", self.permuted, "a bool")
        object.__setattr__(self, "permuted", bool(self.permuted))
        object.__setattr__(
            self,
            "permutation_seed",
            _check_int(self.name, "permutation_seed", self.permutation_seed, 0),
        )

    @property
    def permutation(self) -> np.ndarray | None:
        """The pixel order, int `(64,)`: step t reads pixel `permutation[t]`; None if unpermuted."""
        if not self.permuted:
            return None
        return np.random.default_rng(self.permutation_seed).permutation(self.n_pixels)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.n_pixels, 1)

    @property
    def output_units(self) -> int:
        return 10

    @property
    def baseline(self) -> float:
        return 0.1

    @property
    def metric_baseline(self) -> float:
        return 0.1

    def _sequences(self, pixels: np.ndarray) -> np.ndarray:
        order = self.permutation
        if order is not None:
            pixels = pixels[:, order]
        return np.ascontiguousarray(pixels[:, :, None], dtype=np.float32)

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """See `Task.batch`: `batch_size` distinct training images drawn uniformly.

        Returns:
            inputs float32 `(batch, 64, 1)`, targets int32 `(batch,)`.
        """
        n = _check_batch_args(rng, batch_size)
        x_train, y_train, _, _ = _digits_split()
        if n > y_train.size:
            raise ValueError(
                f"Received an invalid value for argument `batch_size`, expected at most "
                f"{y_train.size} (the training images of task 'digits'), got {n}."
            )
        index = rng.choice(y_train.size, size=n, replace=False)
        return self._sequences(x_train[index]), y_train[index].copy()

    def eval_set(self, seed: int = 0, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The held-out images: all of them in a fixed order, or a seeded subset.

        Args:
            seed: picks the subset when `size` is given (from `default_rng([seed, EVAL_STREAM])`);
                unused otherwise.
            size: number of images, at most the held-out size (360); `None` means all of them.

        Returns:
            inputs float32 `(size, 64, 1)`, targets int32 `(size,)`.
        """
        _, _, x_test, y_test = _digits_split()
        if size is None:
            return self._sequences(x_test), y_test.copy()
        if not _is_int(size) or not 0 < size <= y_test.size:
            raise ValueError(
                f"Received an invalid value for argument `size`, expected an integer in "
                f"[1, {y_test.size}] (the held-out images of task 'digits') or None, got {size!r}."
            )
        rng = np.random.default_rng([seed, EVAL_STREAM])
        index = rng.choice(y_test.size, size=int(size), replace=False)
        return self._sequences(x_test[index]), y_test[index].copy()


# --------------------------------------------------------------------------------------------------
# Registry


TASKS: dict[str, type[Task]] = {
    task.name: task for task in (AddingTask, CopyTask, TemporalOrderTask, DigitsTask)
}


def make_task(name: str, **params) -> Task:
    """Builds a task from its registry name and parameters.

    Args:
        name: one of `TASKS` ("adding", "copy", "temporal_order", "digits").
        **params: the task's parameters (its dataclass fields); omitted ones take their defaults.

    Returns:
        The task instance.

    Raises:
        ValueError: an unknown task name or parameter, or an invalid parameter value; the message
            names the offender and what is expected.
    """
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; expected one of: {', '.join(sorted(TASKS))}.")
    cls = TASKS[name]
    known = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {', '.join(map(repr, unknown))} for task {name!r}; expected "
            f"one of: {', '.join(known)}."
        )
    return cls(**params)


def describe_tasks() -> str:
    """A human-readable listing of every task at its default parameters (for the CLI)."""
    blocks = [task().describe() for task in TASKS.values()]
    header = "Tasks, shown with their parameters at the defaults (baselines at those values):"
    return header + "\n\n" + "\n\n".join(blocks)
