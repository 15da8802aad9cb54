"""Tests of `experiments.grid.tasks`: targets recomputed from the inputs, baselines, seeding, errors.

The shared checks (shapes and dtypes, seeding, the held-out set, the memoryless baseline, the loss
against Keras) run over the registry `TASKS`, so a new task is checked without an edit here; the
task-specific tests follow them.
"""

import math

import numpy as np
import pytest

from experiments.grid import tasks
from experiments.grid.tasks import (
    TASKS,
    AddingTask,
    CopyTask,
    DigitsTask,
    TemporalOrderTask,
    describe_tasks,
    make_task,
)
from experiments.vocabulary import TASK_NAMES

# Shorter sequences than the defaults keep the suite fast; a task not named here runs at its defaults.
SMALL = {
    "adding": {"length": 20},
    "copy": {"length": 15},
    "temporal_order": {"length": 30},
}
EVERY_TASK = pytest.mark.parametrize("name", list(TASKS))


def small(name: str, **params):
    return make_task(name, **{**SMALL.get(name, {}), **params})


# --------------------------------------------------------------------------------------------------
# Registry


def test_registry_names_are_the_vocabulary():
    assert tuple(TASKS) == TASK_NAMES  # the same names, in the order of the tables
    for name, cls in TASKS.items():
        assert cls.name == name
        assert isinstance(make_task(name), cls)
    assert set(SMALL) <= set(TASKS)


# --------------------------------------------------------------------------------------------------
# Shared checks, over every task of the registry


@EVERY_TASK
def test_shapes_dtypes_and_descriptions(name):
    task = small(name)
    x, y = task.batch(np.random.default_rng(0), 7)
    assert x.dtype == np.float32
    assert x.shape == (7, *task.input_shape)
    assert task.output_kind in {"regression", "classification", "sequence_classification"}
    if task.output_kind == "regression":
        assert y.dtype == np.float32 and y.shape == (7, 1)
        assert task.output_units == 1 and task.loss_name == "mse" and not task.from_logits
    elif task.output_kind == "classification":
        assert y.dtype == np.int32 and y.shape == (7,)
        assert 0 <= y.min() and y.max() < task.output_units
    else:
        assert y.dtype == np.int32 and y.shape == (7, task.input_shape[0])
        assert 0 <= y.min() and y.max() < task.output_units
    if task.output_kind != "regression":
        assert task.loss_name == "sparse_categorical_crossentropy" and task.from_logits
    assert task.baseline_kind in {"loss", "metric"}
    assert isinstance(task.baseline, float) and isinstance(task.metric_baseline, float)
    assert isinstance(task.solved_threshold, float) and isinstance(task.higher_is_better, bool)
    assert task.__doc__ and task.source
    assert make_task(task.name, **task.params) == task


@EVERY_TASK
def test_same_seed_same_batches_different_seeds_differ(name):
    task = small(name)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(2):  # the stream, not just the first batch
        xa, ya = task.batch(rng_a, 16)
        xb, yb = task.batch(rng_b, 16)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    x4, _ = task.batch(np.random.default_rng(4), 16)
    x3, _ = task.batch(np.random.default_rng(3), 16)
    assert not np.array_equal(x3, x4)


@EVERY_TASK
def test_eval_set_fixed_and_distinct_from_training_streams(name):
    task = small(name)
    xa, ya = task.eval_set(5, 64)
    xb, yb = task.eval_set(5, 64)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(xa, task.eval_set(6, 64)[0])
    for train_rng in (np.random.default_rng(5), np.random.default_rng([5, 0])):
        assert not np.array_equal(xa, task.batch(train_rng, 64)[0])
    if type(task).eval_set is tasks.Task.eval_set:  # digits keeps its own held-out images
        assert task.eval_set(5)[0].shape[0] == tasks.DEFAULT_EVAL_SIZE


def _target_chunks(task, seed: int, chunks: int = 16, size: int = 250) -> list[np.ndarray]:
    """Training targets in `chunks` batches of `size` (a batch may not exceed a finite data set)."""
    rng = np.random.default_rng(seed)
    return [task.batch(rng, size)[1] for _ in range(chunks)]


def _memoryless_prediction(task, y_fit: np.ndarray, n: int) -> np.ndarray:
    """The best input-independent prediction learned from the targets `y_fit`, for `n` sequences:
    the mean target (regression), or logits of each position's class frequencies."""
    if task.output_kind == "regression":
        return np.broadcast_to(y_fit.mean(axis=0), (n, *y_fit.shape[1:]))
    frequencies = (y_fit[..., None] == np.arange(task.output_units)).mean(axis=0)
    return np.broadcast_to(np.log(frequencies + 1e-12), (n, *frequencies.shape))


def _assert_estimates(values: list[float], expected: float, what: str) -> None:
    """The mean of per-chunk estimates is `expected` within 4 standard errors and 1%."""
    mean = float(np.mean(values))
    tolerance = 4 * np.std(values, ddof=1) / math.sqrt(len(values)) + 0.01 * abs(expected)
    assert abs(mean - expected) <= tolerance, (
        f"{what}: measured {mean:.4g}, declared {expected:.4g}"
    )


@EVERY_TASK
def test_baseline_is_what_a_memoryless_model_reaches(name):
    """A model that ignores its input, fitted on one sample and scored on another, reaches the
    declared `metric_baseline` (and `baseline`, when that is a loss)."""
    task = small(name)
    y_fit = np.concatenate(_target_chunks(task, seed=0))
    chunks = _target_chunks(task, seed=1)
    predictions = [_memoryless_prediction(task, y_fit, len(y)) for y in chunks]
    metrics = [task.numpy_metric(y, p) for y, p in zip(chunks, predictions, strict=True)]
    _assert_estimates(metrics, task.metric_baseline, "metric_baseline")
    if task.baseline_kind == "metric":
        assert task.baseline == task.metric_baseline
    else:
        losses = [task.numpy_loss(y, p) for y, p in zip(chunks, predictions, strict=True)]
        _assert_estimates(losses, task.baseline, "baseline (a loss)")
    if task.output_kind != "regression":  # an accuracy
        assert 0.0 < task.metric_baseline < 1.0
    assert not task.solved(task.metric_baseline)


@EVERY_TASK
def test_numpy_loss_matches_keras_loss(name):
    keras = pytest.importorskip("keras")
    task = small(name)
    _, y = task.batch(np.random.default_rng(0), 8)
    shape = y.shape if task.output_kind == "regression" else (*y.shape, task.output_units)
    y_pred = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    loss = keras.losses.get(task.loss_name)
    assert loss.__name__ in {"mean_squared_error", "sparse_categorical_crossentropy"}
    options = {"from_logits": True} if task.from_logits else {}
    value = float(np.mean(keras.ops.convert_to_numpy(loss(y, y_pred, **options))))
    assert value == pytest.approx(task.numpy_loss(y, y_pred), rel=1e-5)


# --------------------------------------------------------------------------------------------------
# Adding


def test_adding_targets_recomputed_from_markers():
    task = AddingTask(length=21)
    x, y = task.batch(np.random.default_rng(0), 500)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(np.unique(markers)) == {0.0, 1.0}
    half = 21 // 2
    assert (markers[:, :half].sum(axis=1) == 1).all()
    assert (markers[:, half:].sum(axis=1) == 1).all()
    expected = (values * markers).sum(axis=1, dtype=np.float64)
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-6)


def test_adding_marker_positions_cover_each_half():
    task = AddingTask(length=10)
    x, _ = task.batch(np.random.default_rng(1), 5000)
    positions = np.argwhere(x[..., 1] == 1)[:, 1].reshape(-1, 2)
    assert set(positions[:, 0]) == set(range(5))
    assert set(positions[:, 1]) == set(range(5, 10))


def test_adding_baseline_is_one_sixth():
    task = AddingTask(length=10)
    _, y = task.batch(np.random.default_rng(0), 100_000)
    mse_of_one = task.numpy_metric(y, np.ones_like(y))
    assert task.baseline == pytest.approx(1 / 6)
    assert mse_of_one == pytest.approx(1 / 6, abs=0.003)
    assert task.baseline_kind == "metric" and task.metric_is_loss
    assert not task.solved(mse_of_one)


def test_adding_metric_and_solved_rule():
    task = AddingTask()
    y_true = np.array([[1.0], [0.5], [1.5]], dtype=np.float32)
    y_pred = np.array([[1.0], [1.5], [1.0]], dtype=np.float32)
    assert task.numpy_metric(y_true, y_pred) == pytest.approx((0 + 1 + 0.25) / 3)
    assert task.numpy_metric(y_true[:, 0], y_pred) == pytest.approx((0 + 1 + 0.25) / 3)
    assert task.numpy_loss(y_true, y_pred) == task.numpy_metric(y_true, y_pred)
    with pytest.raises(ValueError, match="one value per sequence"):
        task.numpy_metric(y_true, y_pred[:2])
    assert task.solved(0.01) and task.solved(0.0)
    assert not task.solved(0.0101) and not task.solved(float("nan"))
    assert task.solved_rule == "mse <= 0.01"


# --------------------------------------------------------------------------------------------------
# Copy


def test_copy_layout_and_targets_recomputed_from_inputs():
    T = 15
    task = CopyTask(length=T)
    x, y = task.batch(np.random.default_rng(0), 300)
    assert x.shape == (300, T + 20, 10) and task.input_shape == (T + 20, 10)
    assert (x.sum(axis=-1) == 1).all()  # one-hot
    symbols = x.argmax(axis=-1)
    first = symbols[:, :10]
    assert ((first >= 1) & (first <= 8)).all()
    assert set(np.unique(first)) == set(range(1, 9))
    assert (symbols[:, 10 : T + 9] == 0).all()  # T - 1 blanks
    assert (symbols[:, T + 9] == 9).all() and task.delimiter_step == T + 9
    assert (symbols[:, T + 10 :] == 0).all()  # 10 blanks
    assert (np.flatnonzero(symbols[0] == 9) == [T + 9]).all()
    np.testing.assert_array_equal(y[:, -10:], first)
    assert (y[:, :-10] == 0).all()
    assert task.output_units == 9 and y.max() <= 8


def test_copy_memoryless_baseline_formula():
    T = 15
    task = CopyTask(length=T)
    _, y = task.batch(np.random.default_rng(0), 2000)
    logits = np.full((2000, T + 20, 9), -1e9)
    logits[:, :-10, 0] = 0.0  # blank for certain
    logits[:, -10:, 1:] = 0.0  # uniform over the 8 symbols
    expected = 10 * math.log(8) / (T + 20)
    assert task.baseline == pytest.approx(expected)
    assert task.baseline_kind == "loss"
    assert task.numpy_loss(y, logits) == pytest.approx(expected, rel=1e-9)
    # Its recall accuracy (ties pick symbol 1) is the chance rate 1/8.
    assert task.numpy_metric(y, logits) == pytest.approx(1 / 8, abs=0.01)
    assert task.metric_baseline == 1 / 8
    assert CopyTask(length=100).baseline == pytest.approx(10 * math.log(8) / 120)


def test_copy_metric_scores_only_the_last_ten_steps():
    task = CopyTask(length=1)  # 21 steps
    y_true = np.zeros((2, 21), dtype=np.int32)
    y_true[:, -10:] = np.arange(1, 11) % 8 + 1
    perfect = np.eye(9)[y_true] * 5.0
    assert task.numpy_metric(y_true, perfect) == 1.0
    wrong_blanks = perfect.copy()
    wrong_blanks[:, :-10] = np.eye(9)[3] * 5.0  # errors outside the recall window do not count
    assert task.numpy_metric(y_true, wrong_blanks) == 1.0
    three_wrong = perfect.copy()
    three_wrong[0, -3:] = np.eye(9)[0] * 5.0  # blank instead of the symbol
    assert task.numpy_metric(y_true, three_wrong) == pytest.approx(17 / 20)
    with pytest.raises(ValueError, match="y_pred"):
        task.numpy_metric(y_true, perfect[:, :-1])
    assert task.solved(0.99) and not task.solved(0.989) and not task.solved(float("nan"))


# --------------------------------------------------------------------------------------------------
# Temporal order


def _decode_temporal_order(task, x):
    symbols = x.argmax(axis=-1)
    relevant = np.isin(symbols, [task.x_symbol, task.x_symbol + 1])
    positions = np.argwhere(relevant)[:, 1].reshape(-1, 2)
    rows = np.arange(len(x))[:, None]
    is_y = symbols[rows, positions] == task.x_symbol + 1
    return symbols, positions, 2 * is_y[:, 0] + is_y[:, 1]


@pytest.mark.parametrize("length", [10, 30, 100])
def test_temporal_order_targets_recomputed_from_inputs(length):
    task = TemporalOrderTask(length=length)
    x, y = task.batch(np.random.default_rng(0), 2000)
    assert (x.sum(axis=-1) == 1).all()
    symbols, positions, classes = _decode_temporal_order(task, x)
    assert task.symbols[task.start_symbol] == "E" and task.symbols[task.end_symbol] == "B"
    assert (symbols[:, 0] == task.start_symbol).all()
    assert (symbols[:, -1] == task.end_symbol).all()
    middle = symbols[:, 1:-1]
    assert (middle <= 5).all()  # distractors a..d, X or Y: no E or B inside
    assert ((middle >= 4).sum(axis=1) == 2).all()
    (low1, high1), (low2, high2) = task.first_range, task.second_range
    assert low1 >= length / 10 and high1 <= 2 * length / 10 and low1 >= 1
    assert low2 >= 5 * length / 10 and high2 <= 6 * length / 10
    assert set(positions[:, 0]) == set(range(low1, high1 + 1))
    assert set(positions[:, 1]) == set(range(low2, high2 + 1))
    np.testing.assert_array_equal(y, classes)


def test_temporal_order_ranges_follow_the_paper():
    assert TemporalOrderTask(length=100).first_range == (10, 20)
    assert TemporalOrderTask(length=100).second_range == (50, 60)
    assert TemporalOrderTask(length=30).first_range == (3, 6)  # no float rounding at 0.1 * 30
    assert TemporalOrderTask(length=30).second_range == (15, 18)


def test_temporal_order_classes_are_balanced():
    task = TemporalOrderTask(length=20)
    _, y = task.batch(np.random.default_rng(0), 40_000)
    frequencies = np.bincount(y, minlength=4) / y.size
    np.testing.assert_allclose(frequencies, 0.25, atol=0.01)
    assert task.baseline == 0.25 and task.baseline_kind == "metric"
    assert task.classes == ("XX", "XY", "YX", "YY")


def test_classification_metric_and_loss_by_hand():
    task = TemporalOrderTask()
    y_true = np.array([0, 1, 2, 3], dtype=np.int32)
    logits = np.array(
        [[2.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 0, 1.0], [0, 0, 0, 0.5]], dtype=np.float32
    )
    assert task.numpy_metric(y_true, logits) == 0.75
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert task.numpy_metric(y_true, probabilities) == 0.75
    expected = -np.mean(np.log(probabilities[np.arange(4), y_true]))
    assert task.numpy_loss(y_true, logits) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match=r"y_pred.*\(4, 4\)"):
        task.numpy_metric(y_true, logits[:, :3])
    assert task.solved(0.99) and not task.solved(0.98)


# --------------------------------------------------------------------------------------------------
# Digits


def test_digits_split_and_batches():
    task = DigitsTask()
    x_test, y_test = task.eval_set()
    assert x_test.shape == (len(y_test), 64, 1) and x_test.dtype == np.float32
    assert y_test.dtype == np.int32
    x, y = task.batch(np.random.default_rng(0), 64)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0
    train_size = 1797 - len(y_test)
    assert len(y_test) == pytest.approx(0.2 * 1797, abs=5)
    x_all, _ = task.batch(np.random.default_rng(0), train_size)  # distinct images: all of them
    assert x_all.shape[0] == train_size
    np.testing.assert_array_equal(task.eval_set(seed=9)[1], y_test)  # fixed, whatever the seed
    x_sub, y_sub = task.eval_set(seed=1, size=50)
    assert x_sub.shape == (50, 64, 1)
    np.testing.assert_array_equal(task.eval_set(seed=1, size=50)[0], x_sub)
    with pytest.raises(ValueError, match="batch_size"):
        task.batch(np.random.default_rng(0), train_size + 1)
    with pytest.raises(ValueError, match="size"):
        task.eval_set(size=len(y_test) + 1)


def test_digits_majority_class_baseline():
    task = DigitsTask()
    _, y_test = task.eval_set()
    _, y_train = task.batch(np.random.default_rng(0), 500)
    for labels in (y_test, y_train):
        majority = np.bincount(labels, minlength=10).argmax()
        assert np.mean(labels == majority) == pytest.approx(0.1, abs=0.03)
    assert set(np.unique(y_test)) == set(range(10))
    assert task.baseline == 0.1 and task.solved_threshold == 0.9
    assert task.solved(0.9) and not task.solved(0.89)


def test_digits_permutation_is_fixed_and_applied():
    plain = DigitsTask()
    permuted = DigitsTask(permuted=True)
    assert plain.permutation is None
    order = permuted.permutation
    assert sorted(order) == list(range(64)) and not np.array_equal(order, np.arange(64))
    np.testing.assert_array_equal(order, DigitsTask(permuted=True).permutation)
    assert not np.array_equal(order, DigitsTask(permuted=True, permutation_seed=1).permutation)
    x_plain, y_plain = plain.batch(np.random.default_rng(2), 32)
    x_perm, y_perm = permuted.batch(np.random.default_rng(2), 32)
    np.testing.assert_array_equal(y_plain, y_perm)
    assert not np.array_equal(x_plain, x_perm)
    np.testing.assert_array_equal(x_perm, x_plain[:, order])
    x_perm2, _ = permuted.batch(np.random.default_rng(2), 32)  # same order on every call
    np.testing.assert_array_equal(x_perm, x_perm2)
    np.testing.assert_array_equal(permuted.eval_set()[0], plain.eval_set()[0][:, order])


# --------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("name", "params", "fragments"),
    [
        ("adding", {"length": 0}, ["`length`", "'adding'", ">= 2", "got 0"]),
        ("adding", {"length": -5}, ["`length`", "got -5"]),
        ("adding", {"length": 1.5}, ["`length`", "integer", "got 1.5"]),
        ("adding", {"length": True}, ["`length`", "got True"]),
        ("copy", {"length": 0}, ["`length`", "'copy'", ">= 1", "got 0"]),
        ("temporal_order", {"length": 9}, ["`length`", "'temporal_order'", ">= 10", "got 9"]),
        ("digits", {"length": 100}, ["`length`", "'digits'", "64", "got 100"]),
        ("digits", {"permuted": "yes"}, ["`permuted`", "bool", "got 'yes'"]),
        ("digits", {"permutation_seed": -1}, ["`permutation_seed`", ">= 0", "got -1"]),
        ("adding", {"lenght": 10}, ["'lenght'", "'adding'", "length"]),
        ("copy", {"length": 10, "delay": 3}, ["'delay'", "'copy'", "length"]),
    ],
)
def test_bad_parameters_raise_value_error(name, params, fragments):
    with pytest.raises(ValueError) as info:
        make_task(name, **params)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unknown_task_names_the_valid_ones():
    with pytest.raises(ValueError) as info:
        make_task("addition", length=10)
    message = str(info.value)
    assert "'addition'" in message
    for name in TASKS:
        assert name in message


def test_bad_batch_arguments():
    task = AddingTask(length=10)
    with pytest.raises(ValueError, match="`batch_size`.*got 0"):
        task.batch(np.random.default_rng(0), 0)
    with pytest.raises(TypeError, match="Generator"):
        task.batch(0, 4)


def test_numpy_integer_parameters_are_accepted():
    task = make_task("adding", length=np.int64(12))
    assert task.length == 12 and type(task.length) is int


# --------------------------------------------------------------------------------------------------
# Listing


def test_describe_tasks_lists_everything():
    text = describe_tasks()
    for cls in TASKS.values():
        task = cls()
        for fragment in (task.name, task.source, task.solved_rule, task.loss_name):
            assert fragment in text
    assert "length=100" in text and "permutation_seed=0" in text
    assert "0.1667" in text  # adding baseline
