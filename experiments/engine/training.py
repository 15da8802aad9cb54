"""The instrumented training loop: one compiled step that logs every gradient norm.

Each step computes the loss and the gradients once (`tf.GradientTape` inside one `tf.function`)
and returns, beside the loss, the gradient norms before and after clipping. Clipping is computed
for the log with Keras's own rule (`custom_layers.gradients.clip_gradients`, the code
`GradientMonitor` and the seed-group step share), and by the Keras optimizer, configured with the
same clipping argument, for the update; a test proves the two are equal, so what is logged is
exactly what the optimizer applied.

At the first step, every `timestep_every` steps and at the last step, a second compiled variant of
the step also differentiates the loss with respect to the input sequence, in the same backward
pass, and returns ||dL/dx_t|| for every t: the vanishing / exploding picture through time, at
initialisation and after training.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from custom_layers.gradients import (
    clip_gradients,
    gradient_stats,
    timestep_norms,
    variable_names,
)
from experiments.grid.spec import RunSpec
from experiments.vocabulary import COMPLETED, DIVERGED


def make_train_step(model, optimizer, loss_fn, spec: RunSpec, with_timesteps: bool):
    """Compiles one instrumented training step.

    Returns:
        `step(x, y) -> dict` with `x (batch, time, features)`, `y` the task's targets. The dict
        holds scalar tensors `loss, grad_norm, grad_norm_clipped, max_abs_grad, clip_fraction`,
        `predictions` (the model output), `variable_norms` and `variable_norms_clipped`
        `(num_variables,)`, and with `with_timesteps` also `timestep_norms (time,)`: the norm of
        dL/dx_t over the batch and features.
    """
    variables = model.trainable_variables

    def step(x, y):
        with tf.GradientTape() as tape:
            if with_timesteps:
                tape.watch(x)
            predictions = model(x, training=True)
            loss = loss_fn(y, predictions)
        targets = variables + [x] if with_timesteps else variables
        all_grads = tape.gradient(loss, targets)
        grads = all_grads[: len(variables)]
        clipped, clip_fraction = clip_gradients(grads, spec.clip, spec.clip_threshold)
        optimizer.apply(grads, variables)
        out = {
            "loss": loss,
            **gradient_stats(grads, clipped),
            "clip_fraction": clip_fraction,
            "predictions": predictions,
        }
        if with_timesteps:
            out["timestep_norms"] = timestep_norms(all_grads[-1])
        return out

    return tf.function(step, jit_compile=spec.jit_compile and not spec.deterministic)


def timesteps_due(spec: RunSpec, step: int) -> bool:
    """Whether step `step` records ||dL/dx_t||: the first step (the gradient through time at
    initialisation), every `timestep_every`, and the last (after training); never when
    `timestep_every` is 0."""
    return bool(spec.timestep_every) and (
        step in (1, spec.steps) or step % spec.timestep_every == 0
    )


def eval_due(spec: RunSpec, step: int) -> bool:
    """Whether the held-out set is evaluated after step `step`: every `eval_every`, and last."""
    return step % spec.eval_every == 0 or step == spec.steps


@dataclass
class TrainingLog:
    """What one run logged, row by row; `records` writes it to CSV."""

    variables: list[str]
    steps: list[dict] = field(default_factory=list)
    variable_rows: list[tuple] = field(default_factory=list)
    timestep_rows: list[tuple] = field(default_factory=list)
    eval_rows: list[dict] = field(default_factory=list)
    status: str = COMPLETED
    step_diverged: int | None = None


def train(spec: RunSpec, task, model, optimizer, loss_fn, on_step=None) -> TrainingLog:
    """Trains `model` for `spec.steps` steps on fresh batches of `task`, logging every step.

    A non-finite loss or gradient norm stops the run as `diverged` at that step; what was logged
    before it is kept. `on_step(step)` is called after each step (progress reporting).
    """
    rng = np.random.default_rng([spec.seed, 0])  # [seed, 1] is the task's held-out stream
    x_eval, y_eval = task.eval_set(spec.seed, spec.eval_size)
    log = TrainingLog(variables=variable_names(model))
    plain_step = make_train_step(model, optimizer, loss_fn, spec, with_timesteps=False)
    timestep_step = (
        make_train_step(model, optimizer, loss_fn, spec, with_timesteps=True)
        if spec.timestep_every
        else None
    )
    predict = tf.function(
        lambda x: model(x, training=False), jit_compile=spec.jit_compile and not spec.deterministic
    )
    start = time.perf_counter()
    for step in range(1, spec.steps + 1):
        x, y = task.batch(rng, spec.batch_size)
        with_timesteps = timesteps_due(spec, step)
        out = (timestep_step if with_timesteps else plain_step)(tf.constant(x), tf.constant(y))
        loss = float(out["loss"])
        grad_norm = float(out["grad_norm"])
        metric = (
            task.numpy_metric(y, out["predictions"].numpy()) if math.isfinite(loss) else math.nan
        )
        log.steps.append(
            {
                "step": step,
                "loss": loss,
                "metric": metric,
                "grad_norm": grad_norm,
                "grad_norm_clipped": float(out["grad_norm_clipped"]),
                "max_abs_grad": float(out["max_abs_grad"]),
                "clip_fraction": float(out["clip_fraction"]),
                "learning_rate": float(optimizer.learning_rate),
                "seconds": time.perf_counter() - start,
            }
        )
        for name, norm, clipped in zip(
            log.variables,
            out["variable_norms"].numpy(),
            out["variable_norms_clipped"].numpy(),
            strict=True,
        ):
            log.variable_rows.append((step, name, float(norm), float(clipped)))
        if with_timesteps:
            for t, norm in enumerate(out["timestep_norms"].numpy()):
                log.timestep_rows.append((step, t, float(norm)))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            log.status, log.step_diverged = DIVERGED, step
            break
        if eval_due(spec, step):
            predictions = predict(tf.constant(x_eval)).numpy()
            log.eval_rows.append(
                {
                    "step": step,
                    "loss": task.numpy_loss(y_eval, predictions),
                    "metric": task.numpy_metric(y_eval, predictions),
                }
            )
        if on_step is not None:
            on_step(step)
    return log
