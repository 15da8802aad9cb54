"""`GradientMonitor`: the gradients of any Keras model's `fit`, as its optimizer applied them.

    model.fit(x, y, callbacks=[GradientMonitor()])

Keras builds the train function before it calls `on_train_begin`; the monitor then installs its
own train function on the model, built by the model's own machinery (the TensorFlow trainer's
`_make_function`, so the model's `jit_compile`, `steps_per_execution` and `run_eagerly` hold),
around a step that is Keras's `train_step` plus the statistics: the same forward pass, the same
`GradientTape`, the same gradients handed to the same `optimizer.apply_gradients`, so the update
is exactly a plain `fit`'s. `on_train_end` puts the model's original train function back.

The clipping and the norms are `custom_layers.gradients`, the code the experiment engine's steps
use; the clipped values are computed with the optimizer's own argument (`clipvalue`, `clipnorm`
or `global_clipnorm`) and rule, from the gradients it receives (unscaled first when it scales the
loss), and a test checks them against the update it applied.

TensorFlow backend only: the step needs `tf.GradientTape` (TensorFlow is imported when a step is
traced, so importing this module needs no TensorFlow).
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
import time
from pathlib import Path

import keras
from keras import ops

from custom_layers import gradients

# The record files and their columns, as a grid run's (`experiments.vocabulary`; a test checks
# that the two agree: this package imports nothing of `experiments`).
STEPS_FILE = "steps.csv"
VARIABLES_FILE = "variables.csv"
TIMESTEPS_FILE = "timesteps.csv"
STEP_COLUMNS = (
    "step",
    "loss",
    "metric",
    "grad_norm",
    "grad_norm_clipped",
    "max_abs_grad",
    "clip_fraction",
    "learning_rate",
    "seconds",
)
VARIABLE_COLUMNS = ("step", "variable", "grad_norm", "grad_norm_clipped")
TIMESTEP_COLUMNS = ("step", "t", "grad_norm")

# The scalars added to fit's logs at every step.
LOGGED = ("grad_norm", "grad_norm_clipped", "max_abs_grad", "clip_fraction")
# The key under which the step returns what does not go to the logs (vectors, the batch loss);
# the monitor's train function takes it out before Keras sees the logs.
_EXTRAS = "_gradient_monitor"


class GradientMonitor(keras.callbacks.Callback):
    """Logs the gradients of every training step of `fit`: before clipping, after it, per variable,
    and through time.

    Per step, from the gradients of the step's own backward pass (the ones the optimizer
    receives), it adds to fit's `logs` (so `History`, `CSVLogger`, `keras.callbacks.TensorBoard`
    and any callback see them; an epoch's logs hold its last step's values):

    - `grad_norm`: the global L2 norm of the gradients, before clipping;
    - `grad_norm_clipped`: the same after the optimizer's own clipping (its `clipvalue`,
      `clipnorm` or `global_clipnorm`): the norm of what it applied; equal to `grad_norm` without
      clipping;
    - `max_abs_grad`: the largest absolute gradient value, before clipping;
    - `clip_fraction`: what clipping changed: the fraction of values (`clipvalue`), of variables
      (`clipnorm`), 1 or 0 (`global_clipnorm`: whether the global norm exceeded the threshold);
    - with `variables=True`, `grad_norm/<variable>` and `grad_norm_clipped/<variable>` for each
      trainable variable (`<variable>` is `layer/weight`, e.g. `lstm/kernel`; the variable's path
      where that would repeat, as in a `Bidirectional` layer).

    With `timesteps=K` it also computes ||dL/dx_t|| (over the batch and the features) for every
    time step t of a sequence input `x (batch, time, *features)`, at the first step and every K-th
    step, in the same backward pass (a second compiled variant of the step, used only then).

    Each step makes rows with the columns of a grid run's record files (`STEP_COLUMNS`, ...):
    `step` counts the optimizer's updates (a second `fit` continues the count); `loss` is the
    batch's own loss (fit's `logs["loss"]` is Keras's running mean over the epoch); `metric` is
    empty (NaN): a Keras model has no single task metric (its compiled metrics are in the logs);
    `learning_rate` is the optimizer's after the step; `seconds` is the time since the fit began.

    Memory stays bounded however long the `fit`: the rows are written out at every epoch's end,
    every `write_every` steps within an epoch, and at the end of the fit, and are then dropped.
    With `csv_dir` they are appended (as by Keras's `CSVLogger`) to `steps.csv`, `variables.csv`
    and `timesteps.csv` there; without it they are only dropped. The monitor's `steps`,
    `variable_rows` and `timestep_rows` hold the rows of the last such interval only (the current
    epoch's so far; after the fit, the last epoch's, or its last `write_every` steps'): the whole
    record is the files (or, per epoch, `History`).

    Each `fit` writes the header when it creates the files. With `append=False` (the default, as
    `CSVLogger`'s) a `fit` starts the files afresh, replacing those of an earlier `fit` or run;
    with `append=True` it appends its rows below theirs (the header once: a file that exists
    already keeps its own, and one with other columns is refused).

    With `steps_per_execution = n > 1`, one call of the train function runs n steps inside one
    compiled loop and Keras sees only the last one's logs: the monitor logs and records the last
    step of each execution (its `step` is that step's number), and computes ||dL/dx_t|| in an
    execution that contains the first or a K-th step, at its last step.

    Under `jit_compile=True` the instrumented step is compiled with XLA as the plain one is.

    Args:
        variables: also log each variable's gradient norm before and after clipping.
        timesteps: K > 0: record ||dL/dx_t|| at the first and every K-th step; 0: never.
        timestep_input: which input is the sequence, when the model has several: its index (a
            list or tuple of inputs) or name (a dict of inputs); None: the only one (or the
            first of a list). It must be floating point, `(batch, time, *features)`.
        csv_dir: a folder to write the three CSV files to; None: write none.
        append: with `csv_dir`, append to files that exist (from an earlier `fit` or run)
            instead of replacing them.
        write_every: write out (and drop) the rows at the latest every this many logged steps,
            besides every epoch's end: at most this many steps' rows are held in memory.

    Raises:
        NotImplementedError: on a backend other than TensorFlow, for a model with its own
            `train_step`, an optimizer with `gradient_accumulation_steps`, or a distribution
            strategy with more than one replica.

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.Adam(global_clipnorm=1.0), loss="mse")
    history = model.fit(x, y, epochs=2, callbacks=[GradientMonitor(timesteps=10)])
    history.history["grad_norm_clipped"]  # the last step's of each epoch
    ```
    """

    def __init__(
        self,
        variables: bool = False,
        timesteps: int = 0,
        timestep_input: int | str | None = None,
        csv_dir: str | os.PathLike | None = None,
        append: bool = False,
        write_every: int = 1000,
    ):
        super().__init__()
        backend = keras.backend.backend()
        if backend != "tensorflow":
            raise NotImplementedError(
                f"GradientMonitor supports the TensorFlow backend only; Keras is running the "
                f"{backend!r} backend. Set KERAS_BACKEND=tensorflow before importing keras."
            )
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 0:
            raise ValueError(
                "Received an invalid value for argument `timesteps`, expected an integer >= 0 "
                f"(0: never), got {timesteps!r}."
            )
        if timestep_input is not None and not isinstance(timestep_input, (int, str)):
            raise ValueError(
                "Received an invalid value for argument `timestep_input`, expected an index, a "
                f"name or None, got {timestep_input!r}."
            )
        if isinstance(write_every, bool) or not isinstance(write_every, int) or write_every < 1:
            raise ValueError(
                "Received an invalid value for argument `write_every`, expected a positive "
                f"integer, got {write_every!r}."
            )
        self.variables = bool(variables)
        self.timesteps = timesteps
        self.timestep_input = timestep_input
        self.csv_dir = None if csv_dir is None else Path(csv_dir)
        self.append = bool(append)
        self.write_every = write_every
        self.variable_names: list[str] = []
        self.steps: list[dict] = []
        self.variable_rows: list[tuple] = []
        self.timestep_rows: list[tuple] = []
        self._written = False  # whether the rows held were written out (dropped at the next step)
        self._original = None
        self._cache = None

    # ------------------------------------------------------------------------------------------
    # Installing and removing the instrumented train function

    def on_train_begin(self, logs=None):
        model = self.model
        _check_model(model)
        self._clipping = gradients.optimizer_clipping(model.optimizer)
        self.variable_names = gradients.variable_names(model)
        self._drop()
        self._start_files()
        # Built (and traced) once per model and compiled train function: another `fit` of the
        # same model reuses them, as Keras reuses its own until the model is compiled again.
        key = (model, model.train_function)
        if self._cache is None or any(a is not b for a, b in zip(self._cache[0], key, strict=True)):
            plain = model._make_function(functools.partial(self._train_step, timesteps=False))
            timed = (
                model._make_function(functools.partial(self._train_step, timesteps=True))
                if self.timesteps
                else None
            )
            self._cache = (key, {False: plain, True: timed})
        self._functions = self._cache[1]
        self._original = model.train_function
        model.train_function = self._train_function
        self._step = int(model.optimizer.iterations.numpy())
        self._start = time.perf_counter()
        self._due = False
        self._extras = None

    def on_train_end(self, logs=None):
        if self._original is not None:
            self.model.train_function = self._original
            self._original = None
        self._write()

    def on_epoch_end(self, epoch, logs=None):
        self._write()

    # ------------------------------------------------------------------------------------------
    # Per step

    def on_train_batch_begin(self, batch, logs=None):
        if self.timesteps:
            first = self._step + 1
            last = self._step + int(self.model.steps_per_execution)
            # Due: the first step, or a multiple of K among this execution's steps.
            self._due = first == 1 or last // self.timesteps > (first - 1) // self.timesteps

    def _train_function(self, iterator):
        """The model's train function while fitting: the compiled step (with ||dL/dx_t|| when
        due), its extras taken out of the logs."""
        logs = dict(self._functions[self._due](iterator))
        extras = {k: ops.convert_to_numpy(v) for k, v in logs.pop(_EXTRAS).items()}
        if self.variables:
            names = self.variable_names
            for prefix, key in (("grad_norm", "variable_norms"),
                                ("grad_norm_clipped", "variable_norms_clipped")):  # fmt: skip
                for name, value in zip(names, extras[key].tolist(), strict=True):
                    logs[f"{prefix}/{name}"] = value
        self._extras = extras
        return logs

    def on_train_batch_end(self, batch, logs=None):
        extras, self._extras = self._extras, None
        if extras is None:
            return
        if self._written:
            self._drop()
        # The optimizer's count after the execution: exact where Keras's `batch` is nominal (an
        # epoch's last execution may run fewer than `steps_per_execution` steps).
        step = self._step = int(extras["iterations"])
        row = {
            "step": step,
            "loss": float(extras["loss"]),
            "metric": math.nan,
            **{name: float(extras[name]) for name in LOGGED},
            "learning_rate": float(extras["learning_rate"]),
            "seconds": time.perf_counter() - self._start,
        }
        self.steps.append(row)
        self.variable_rows.extend(
            zip(
                [step] * len(self.variable_names),
                self.variable_names,
                extras["variable_norms"].tolist(),
                extras["variable_norms_clipped"].tolist(),
                strict=True,
            )
        )
        if "timestep_norms" in extras:
            self.timestep_rows.extend(
                (step, t, norm) for t, norm in enumerate(extras["timestep_norms"].tolist())
            )
        if len(self.steps) >= self.write_every:
            self._write()

    # ------------------------------------------------------------------------------------------
    # The instrumented step

    def _train_step(self, data, timesteps: bool):
        """Keras's `TensorFlowTrainer.train_step` (keras/src/backend/tensorflow/trainer.py, Keras
        3), line for line, plus the gradient statistics.

        Returns:
            The step's logs: the model's metrics, the `LOGGED` scalars, and under `_EXTRAS`:
            `loss` (the batch's, a scalar), `learning_rate`, `iterations` (the optimizer's
            count after this step), `variable_norms` and
            `variable_norms_clipped` `(num_variables,)`, `grad_norm`, ... again (the logs'
            values are Keras's to convert), with `timesteps` `timestep_norms (time,)`.
        """
        import tensorflow as tf
        from keras.src.losses import loss as loss_module

        model = self.model
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        sequence = self._sequence_input(x) if timesteps else None
        with tf.GradientTape() as tape:
            if sequence is not None:
                tape.watch(sequence)
            if model._call_has_training_arg:
                y_pred = model(x, training=True)
            else:
                y_pred = model(x)
            loss = model._compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            model._loss_tracker.update_state(
                loss_module.unscale_loss_for_distribution(loss),
                sample_weight=tf.shape(next(i for i in keras.tree.flatten(x) if i is not None))[0],
            )
            batch_loss = loss
            loss = model.optimizer.scale_loss(loss)

        variables = list(model.trainable_weights)
        if not variables:
            raise ValueError("GradientMonitor: the model has no trainable weights to monitor.")
        self.variable_names = gradients.variable_names(model)  # complete once traced
        targets = variables + ([sequence] if sequence is not None else [])
        all_grads = tape.gradient(loss, targets)
        grads = all_grads[: len(variables)]
        # What the optimizer clips: the gradients unscaled (when it scales the loss), a missing
        # one left out (zero here), sparse ones as dense.
        unscaled = _unscaled(grads, variables, model.optimizer)
        clipped, clip_fraction = gradients.clip_gradients(unscaled, *self._clipping)
        stats = gradients.gradient_stats(unscaled, clipped)
        model.optimizer.apply_gradients(zip(grads, variables, strict=True))

        logs = dict(model.compute_metrics(x, y, y_pred, sample_weight=sample_weight))
        scalars = {
            "grad_norm": stats["grad_norm"],
            "grad_norm_clipped": stats["grad_norm_clipped"],
            "max_abs_grad": stats["max_abs_grad"],
            "clip_fraction": clip_fraction,
        }
        logs.update(scalars)
        extras = {
            **scalars,
            "loss": batch_loss,
            "learning_rate": ops.convert_to_tensor(model.optimizer.learning_rate, "float32"),
            "iterations": ops.convert_to_tensor(model.optimizer.iterations),
            "variable_norms": stats["variable_norms"],
            "variable_norms_clipped": stats["variable_norms_clipped"],
        }
        if sequence is not None:
            if all_grads[-1] is None:
                raise ValueError(
                    "GradientMonitor(timesteps=...): the loss does not depend on the chosen "
                    "input; choose the sequence input with `timestep_input`."
                )
            extras["timestep_norms"] = gradients.timestep_norms(
                ops.convert_to_tensor(all_grads[-1])
            )
        logs[_EXTRAS] = extras
        return logs

    def _sequence_input(self, x):
        """The input whose dL/dx_t is recorded: `(batch, time, *features)`, floating point."""
        key = self.timestep_input
        if isinstance(x, dict):
            if key is None and len(x) != 1:
                raise ValueError(
                    f"GradientMonitor(timesteps=...): the model has inputs {sorted(x)}; name the "
                    "sequence input with `timestep_input`."
                )
            chosen = x[next(iter(x)) if key is None else key]
        elif isinstance(x, (list, tuple)):
            chosen = x[key or 0]
        else:
            if key not in (None, 0):
                raise ValueError(
                    f"GradientMonitor: `timestep_input={key!r}`, but the model has one input."
                )
            chosen = x
        dtype = keras.backend.standardize_dtype(chosen.dtype)
        if len(chosen.shape) < 3 or "float" not in dtype:
            raise ValueError(
                "GradientMonitor(timesteps=...) needs a floating-point sequence input "
                f"(batch, time, *features); the chosen input is {dtype} of shape "
                f"{tuple(chosen.shape)} (integer token ids have no gradient: record after the "
                "embedding with a model of your own)."
            )
        return chosen

    # ------------------------------------------------------------------------------------------
    # Files

    def _tables(self):
        """`(file name, columns, rows held)` of each record file."""
        return (
            (STEPS_FILE, STEP_COLUMNS, [[r[c] for c in STEP_COLUMNS] for r in self.steps]),
            (VARIABLES_FILE, VARIABLE_COLUMNS, self.variable_rows),
            (TIMESTEPS_FILE, TIMESTEP_COLUMNS, self.timestep_rows),
        )

    def _start_files(self):
        """At a fit's start: each file created with its header, or with `append` an existing one
        kept (its header checked)."""
        if self.csv_dir is None:
            return
        for name, columns, _ in self._tables():
            path = self.csv_dir / name
            if self.append and path.exists() and path.stat().st_size > 0:
                with open(path, newline="") as f:
                    header = next(csv.reader(f), [])
                if tuple(header) != columns:
                    raise ValueError(
                        f"GradientMonitor(append=True): {path} has the columns {header}, not "
                        f"{list(columns)}; append to a file this monitor wrote, or set "
                        "`append=False` to replace it."
                    )
            else:
                _create_csv(path, columns)

    def _write(self):
        """Appends the rows held to the files (once: they stay held, marked written, until the
        next step drops them)."""
        if self._written or not self.steps:
            return
        if self.csv_dir is not None:
            for name, _, rows in self._tables():
                _append_csv(self.csv_dir / name, rows)
        self._written = True

    def _drop(self):
        self.steps, self.variable_rows, self.timestep_rows = [], [], []
        self._written = False


def _check_model(model) -> None:
    """Raises if the monitor cannot reproduce this model's training step exactly."""
    if type(model).train_step is not keras.Model.train_step:
        raise NotImplementedError(
            f"GradientMonitor runs Keras's own train_step with the statistics added; "
            f"{type(model).__name__} overrides `train_step`, which it would bypass."
        )
    if not hasattr(model, "_make_function"):
        raise NotImplementedError(
            f"GradientMonitor needs the TensorFlow trainer's `_make_function` (Keras 3); this "
            f"Keras ({keras.__version__}) has none."
        )
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    if getattr(optimizer, "gradient_accumulation_steps", None):
        raise NotImplementedError(
            "GradientMonitor: an optimizer with `gradient_accumulation_steps` clips the "
            "accumulated gradients, not each step's; not supported."
        )
    if model.distribute_strategy.num_replicas_in_sync > 1:
        raise NotImplementedError(
            "GradientMonitor: with several replicas each holds a part of the batch's gradient; "
            "not supported."
        )


def _unscaled(grads: list, variables: list, optimizer) -> list:
    """The gradients as the optimizer clips them: divided by its loss scale (a
    `LossScaleOptimizer`'s dynamic scale, or `loss_scale_factor`), dense, zero where missing."""
    import tensorflow as tf

    if hasattr(optimizer, "inner_optimizer"):  # LossScaleOptimizer
        if not optimizer.built:  # its scale is a variable of its own; built as `apply` does
            with keras.name_scope(optimizer.name, caller=optimizer):
                optimizer.build(variables)
            optimizer.built = True
        scale = ops.convert_to_tensor(optimizer.dynamic_scale)
    else:
        scale = optimizer.loss_scale_factor
    dense = [
        ops.zeros_like(v) if g is None else tf.convert_to_tensor(g)
        for g, v in zip(grads, variables, strict=True)
    ]
    return dense if scale is None else [g / scale for g in dense]


def _csv_text(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _append_csv(path: Path, rows) -> None:
    """Appends whole CSV lines to `path` in one write call, flushed at once.

    An append cannot go through a temporary file and a rename (as `_create_csv` does) without
    copying the whole file, which is the cost appending avoids. The trade-off: a reader sees the
    file end at a row boundary (rows are only ever added, whole, in one write of the joined
    lines) except while that write runs, and a crash during it may leave the last line torn;
    every line written before stays intact.
    """
    text = _csv_text(rows)
    if not text:
        return
    with open(path, "a", newline="") as f:
        f.write(text)
        f.flush()


def _create_csv(path: Path, columns) -> None:
    """Creates (or replaces) a CSV file holding only its header, through a temporary file and
    one rename (as `experiments.records.files` writes a whole table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        tmp.write_text(_csv_text([columns]))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
