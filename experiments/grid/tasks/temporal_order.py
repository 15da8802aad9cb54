"""The temporal order problem (Hochreiter & Schmidhuber 1997, experiment 6a)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from experiments.grid.tasks.base import LastStepClassification, Task, check_batch_args


@dataclass(frozen=True)
class TemporalOrderTask(LastStepClassification, Task):
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
        n = check_batch_args(rng, batch_size)
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
