"""Pixel-by-pixel (and permuted) 8x8 digits: a small stand-in for pixel MNIST."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from experiments.grid.tasks.base import (
    EVAL_STREAM,
    LastStepClassification,
    Task,
    check_batch_args,
    check_int,
    invalid,
    is_int,
)


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
class DigitsTask(LastStepClassification, Task):
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
        if not is_int(self.length) or self.length != self.n_pixels:
            raise invalid(self.name, "length", self.length, f"64 ({self.length_hint})")
        object.__setattr__(self, "length", int(self.length))
        if not isinstance(self.permuted, (bool, np.bool_)):
            raise invalid(self.name, "permuted", self.permuted, "a bool")
        object.__setattr__(self, "permuted", bool(self.permuted))
        object.__setattr__(
            self,
            "permutation_seed",
            check_int(self.name, "permutation_seed", self.permutation_seed, 0),
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
        n = check_batch_args(rng, batch_size)
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
        if not is_int(size) or not 0 < size <= y_test.size:
            raise ValueError(
                f"Received an invalid value for argument `size`, expected an integer in "
                f"[1, {y_test.size}] (the held-out images of task 'digits') or None, got {size!r}."
            )
        rng = np.random.default_rng([seed, EVAL_STREAM])
        index = rng.choice(y_test.size, size=int(size), replace=False)
        return self._sequences(x_test[index]), y_test[index].copy()
