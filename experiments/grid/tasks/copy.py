"""The copy memory problem (Arjovsky et al. 2016): recall 10 symbols after a delay of T steps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from experiments.grid.tasks.base import Task, accuracy, check_batch_args, check_shape, cross_entropy


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
        n = check_batch_args(rng, batch_size)
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
        check_shape(y_true, (None, self.sequence_length), "y_true")
        check_shape(y_pred, (y_true.shape[0], self.sequence_length, None), "y_pred")
        return y_true, y_pred

    def numpy_loss(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Mean cross-entropy over all T + 20 steps and the batch.

        Args:
            y_true: int class ids `(batch, T + 20)`.
            y_pred: logits `(batch, T + 20, C)`.
        """
        y_true, y_pred = self._check(y_true, y_pred)
        return cross_entropy(y_true, y_pred)

    def numpy_metric(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Recall accuracy: the fraction of the last 10 steps whose argmax is the right symbol.

        Args:
            y_true: int class ids `(batch, T + 20)`.
            y_pred: logits or probabilities `(batch, T + 20, C)`.
        """
        y_true, y_pred = self._check(y_true, y_pred)
        return accuracy(y_true[:, -self.n_copy :], y_pred[:, -self.n_copy :])
