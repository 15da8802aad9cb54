"""The adding problem (Hochreiter & Schmidhuber 1997): add the two marked numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from experiments.grid.tasks.base import Task, check_batch_args


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
        n = check_batch_args(rng, batch_size)
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
