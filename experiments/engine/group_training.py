"""Training a seed group: the runs of one configuration that differ only in their seed, together.

The group's model holds every seed's weights along a seed axis (`experiments.engine.seed_axis`), so one
model build, one trace and one compiled step serve all S seeds, and each step runs one batched
matmul per time step instead of S small ones. Each seed keeps exactly what its single run has:

- its initial weights, copied from the model a single run of that seed builds (bit-identical);
- its data: its own training stream `default_rng([seed, 0])` and held-out set;
- its loss, the mean over its own batch; the step differentiates the sum of the seeds' losses,
  whose gradient with respect to seed s's weights is seed s's own gradient;
- its clipping, computed per seed with the rules of Keras's optimizer arguments
  (`custom_layers.gradients.clip_gradients` along the seed axes; the group's optimizer is built
  without them): `clipnorm` per variable per seed, `global_clipnorm` over that
  seed's gradients alone, `clipvalue` elementwise;
- its optimizer state: Adam, SGD with momentum and RMSprop update elementwise.

No reduction runs across the seed axis, so no norm, statistic or NaN crosses from one seed to
another. A seed whose loss or gradient norm is not finite is recorded `diverged` at that step, as a
single run is, and its weights are frozen at their last finite values (the step restores them
after the update) while the others train on.

Per step, all seeds' scalars and per-variable norms come back in one tensor; the CSV rows are built
once, at the end, from the stacked arrays.

Why a single run keeps its own loop (`experiments.engine.training.train`) rather than running as a
group of one: the group's build (each seed's single-run model for its initial weights, then the
seed-axis model) and its per-seed clipping and freezing cost more than they save at S = 1. Measured
2026-12-05 on the 2-core development machine, the default grid's shape (adding T = 50, 32 units,
batch 32, 300 steps, global_clipnorm), three alternating repeats, model build included: a group of
one took 1.57x the single run's wall time (median 5.4 s vs 3.5 s). The two loops are kept in
agreement by `tests/experiments/test_seed_groups.py`, which compares every seed of a group with
its single run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from keras import ops

from custom_layers.gradients import along, clip_gradients, gradient_stats, timestep_norms
from experiments.engine import models, seed_axis
from experiments.engine.training import TrainingLog, eval_due, timesteps_due, variable_names
from experiments.grid.spec import RunSpec
from experiments.vocabulary import DIVERGED

# The per-seed scalars of `stats`, in column order; the variable norms and their clipped values
# follow, one column per variable each.
SCALARS = ("loss", "grad_norm", "grad_norm_clipped", "max_abs_grad", "clip_fraction")


def make_group_step(model, optimizer, loss_fn, spec: RunSpec, axes: list[int], timesteps: bool):
    """Compiles one instrumented training step of a seed group of S seeds.

    Args:
        model: the group's model (`models.build_model(..., seeds=S)`).
        optimizer: built without clipping (the step clips per seed).
        loss_fn: the task's loss, unreduced (`models.build_loss(task, per_example=True)`).
        axes: the seed axis of each trainable variable.
        timesteps: also return ||dL/dx_t|| per seed.

    Returns:
        `step(x, y, alive) -> dict` with `x (S * batch, time, features)` (the seeds' batches one
        after another), `y` their targets likewise, `alive (S,)` bools (a seed that is not alive,
        or whose loss or gradient norm is not finite at this step, keeps its weights). The dict
        holds `stats (S, 6 + 2 * num_variables)`: the `SCALARS`, the learning rate, each
        variable's gradient norm and its clipped norm; `predictions` (the model output,
        `(S * batch, ...)`); with `timesteps`, `timestep_norms (S, time)`.
    """
    variables = model.trainable_variables

    def step(x, y, alive):
        seeds = alive.shape[0]
        with tf.GradientTape() as tape:
            if timesteps:
                tape.watch(x)
            predictions = model(x, training=True)
            losses = ops.mean(ops.reshape(loss_fn(y, predictions), (seeds, -1)), axis=1)
            total = ops.sum(losses)
        targets = variables + [x] if timesteps else variables
        all_grads = tape.gradient(total, targets)
        grads = all_grads[: len(variables)]
        clipped, clip_fraction = clip_gradients(grads, spec.clip, spec.clip_threshold, axes)
        stats = gradient_stats(grads, clipped, axes)  # per seed: (S,) and (S, num_variables)
        grad_norm = stats["grad_norm"]
        # A seed that was not alive, or diverges at this step, keeps its weights: frozen at its
        # last finite values (a single run's weights after its diverging step are never used).
        keep = ops.logical_and(alive, ops.isfinite(losses) & ops.isfinite(grad_norm))
        # Snapshots taken before the update, and the update ordered after them.
        before = [tf.identity(v.value) for v in variables]
        with tf.control_dependencies(before):
            optimizer.apply(clipped, variables)
        for v, old, a in zip(variables, before, axes, strict=True):
            v.assign(ops.where(along(keep, a, len(old.shape)), v, old))
        scalars = [
            losses,
            grad_norm,
            stats["grad_norm_clipped"],
            stats["max_abs_grad"],
            clip_fraction,
            ops.zeros((seeds,)) + ops.cast(optimizer.learning_rate, "float32"),
        ]
        norms, norms_clipped = stats["variable_norms"], stats["variable_norms_clipped"]
        out = {
            "stats": ops.concatenate([ops.stack(scalars, axis=1), norms, norms_clipped], axis=1),
            "predictions": predictions,
        }
        if timesteps:
            by_seed = ops.reshape(all_grads[-1], (seeds, -1, *x.shape[1:]))
            out["timestep_norms"] = timestep_norms(by_seed, seeds=True)
        return out

    return tf.function(step, jit_compile=spec.jit_compile and not spec.deterministic)


@dataclass
class GroupModel:
    """A seed group's model and what a single run would call its variables."""

    model: object  # the keras.Model of `models.build_model(..., seeds=S)`
    names: list[str]  # `layer/weight` per trainable variable, as `training.variable_names`
    shapes: list[tuple]  # each variable's single-run shape
    weight_names: list[str]  # each variable's own name (`kernel`, `bias`, ...)

    @property
    def axes(self) -> list[int]:
        """The seed axis of each trainable variable."""
        return [
            seed_axis.seed_axis(s, n) for s, n in zip(self.shapes, self.weight_names, strict=True)
        ]

    def seed_weights(self, seed_index: int) -> list[np.ndarray]:
        """The trainable weights of the group's `seed_index`-th seed, as its single run has them."""
        return [
            seed_axis.unstack_weights(v.numpy(), seed_index, shape, name)
            for v, shape, name in zip(
                self.model.trainable_variables, self.shapes, self.weight_names, strict=True
            )
        ]


def build_group(specs: list[RunSpec], task) -> GroupModel:
    """The group's model with every seed's own initial weights.

    Each seed's weights come from the model its single run builds (`models.build_model(spec)`),
    so they are the same numbers.
    """
    singles = []
    for spec in specs:
        single = models.build_model(spec, task)
        singles.append([v.numpy() for v in single.trainable_variables])
    group = GroupModel(
        model=models.build_model(specs[0], task, seeds=len(specs)),
        names=variable_names(single),
        shapes=[tuple(v.shape) for v in single.trainable_variables],
        weight_names=[v.name for v in single.trainable_variables],
    )
    for i, variable in enumerate(group.model.trainable_variables):
        variable.assign(seed_axis.stack_weights([w[i] for w in singles], group.weight_names[i]))
    return group


def train_group(
    specs: list[RunSpec], task, group: GroupModel | None = None, on_step=None
) -> list[TrainingLog]:
    """Trains the runs `specs` (equal but for `seed`) as one seed group; one log per spec.

    Each seed's log holds what its single run (`training.train`) would log, within float32
    rounding: the batched matmul adds in another order. `seconds` is the group's elapsed time.

    Args:
        group: the group's model (`build_group(specs, task)`), built here when None; pass it to
            read the trained weights afterwards (`group.seed_weights`).
        on_step: called with the step number after each step (progress, stopping).
    """
    spec = specs[0]
    seeds = len(specs)
    group = group or build_group(specs, task)
    model, names, axes = group.model, group.names, group.axes
    optimizer = models.build_optimizer(spec, clipping=False)
    loss_fn = models.build_loss(task, per_example=True)
    plain_step = make_group_step(model, optimizer, loss_fn, spec, axes, timesteps=False)
    timestep_step = (
        make_group_step(model, optimizer, loss_fn, spec, axes, timesteps=True)
        if spec.timestep_every
        else None
    )
    predict = tf.function(
        lambda x: model(x, training=False), jit_compile=spec.jit_compile and not spec.deterministic
    )
    rngs = [np.random.default_rng([s.seed, 0]) for s in specs]  # as training.train
    held_out = [task.eval_set(s.seed, spec.eval_size) for s in specs]
    x_eval = tf.constant(np.concatenate([x for x, _ in held_out]))
    alive = np.ones(seeds, dtype=bool)
    step_diverged: list[int | None] = [None] * seeds
    stats, metrics, seconds, timestep_norms = [], [], [], []
    eval_rows: list[list[dict]] = [[] for _ in specs]
    start = time.perf_counter()
    for step in range(1, spec.steps + 1):
        batches = [task.batch(rng, spec.batch_size) for rng in rngs]
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        with_timesteps = timesteps_due(spec, step)
        out = (timestep_step if with_timesteps else plain_step)(
            tf.constant(x), tf.constant(y), tf.constant(alive)
        )
        row = out["stats"].numpy()
        predictions = _by_seed(out["predictions"].numpy(), seeds)
        metrics.append(
            [
                task.numpy_metric(b[1], p) if math.isfinite(row[i, 0]) and alive[i] else math.nan
                for i, (b, p) in enumerate(zip(batches, predictions, strict=True))
            ]
        )
        stats.append(row)
        seconds.append(time.perf_counter() - start)
        if with_timesteps:
            timestep_norms.append((step, out["timestep_norms"].numpy()))
        finite = np.isfinite(row[:, 0]) & np.isfinite(row[:, 1])
        for i in np.flatnonzero(alive & ~finite):
            alive[i], step_diverged[i] = False, step
        if not alive.any():
            break
        if eval_due(spec, step):
            predicted = _by_seed(predict(x_eval).numpy(), seeds)
            for i in np.flatnonzero(alive):
                y_eval, p = held_out[i][1], predicted[i]
                eval_rows[i].append(
                    {
                        "step": step,
                        "loss": task.numpy_loss(y_eval, p),
                        "metric": task.numpy_metric(y_eval, p),
                    }
                )
        if on_step is not None:
            on_step(step)
    stats = np.stack(stats)  # (steps run, S, columns)
    return [
        _seed_log(
            names,
            stats[: step_diverged[i] or len(stats), i],
            [m[i] for m in metrics],
            seconds,
            [(step, norms[i]) for step, norms in timestep_norms],
            eval_rows[i],
            step_diverged[i],
        )
        for i in range(seeds)
    ]


def _by_seed(values: np.ndarray, seeds: int) -> np.ndarray:
    """`(S * n, ...)` -> `(S, n, ...)`."""
    return values.reshape(seeds, -1, *values.shape[1:])


def _seed_log(names, stats, metrics, seconds, timestep_norms, eval_rows, step_diverged):
    """One seed's `TrainingLog` from its rows of the group's arrays: `stats (steps, columns)`,
    `timestep_norms` a list of `(step, norms (time,))`."""
    log = TrainingLog(variables=names, eval_rows=eval_rows)
    count = len(names)
    scalars = stats[:, : len(SCALARS) + 1].tolist()
    norms = stats[:, len(SCALARS) + 1 : len(SCALARS) + 1 + count].tolist()
    clipped = stats[:, len(SCALARS) + 1 + count :].tolist()
    for index, values in enumerate(scalars):
        step = index + 1
        log.steps.append(
            {
                "step": step,
                **dict(zip(SCALARS, values[: len(SCALARS)], strict=True)),
                "metric": metrics[index],
                "learning_rate": values[len(SCALARS)],
                "seconds": seconds[index],
            }
        )
        log.variable_rows.extend(
            zip([step] * count, names, norms[index], clipped[index], strict=True)
        )
    last = len(scalars)
    log.timestep_rows = [
        (step, t, norm)
        for step, norms in timestep_norms
        if step <= last
        for t, norm in enumerate(norms.tolist())
    ]
    if step_diverged is not None:
        log.status, log.step_diverged = DIVERGED, step_diverged
    return log
