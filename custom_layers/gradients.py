"""Gradient clipping and gradient statistics with the rules of Keras's optimizer arguments.

One implementation serves every instrumented training step of the project: `GradientMonitor`
(a callback for any Keras model), the experiment engine's single-run step
(`experiments.engine.training`) and its seed-group step (`experiments.engine.group_training`), which holds S
seeds' weights along a seed axis and clips each seed alone. Written with `keras.ops` only, so it
runs on any backend.

`clip_gradients` computes what the optimizer's `clipvalue`, `clipnorm` or `global_clipnorm`
applies, with Keras's own arithmetic (`keras.src.optimizers.base_optimizer`: `_clip_by_norm`,
`clip_by_global_norm`); the tests check the result against the optimizer's update, so what is
logged is what was applied.
"""

from __future__ import annotations

import math

from keras import ops

# The clipping modes: the three Keras optimizer arguments, or none.
CLIP_MODES = ("none", "clipvalue", "clipnorm", "global_clipnorm")


def _others(rank: int, axis: int | None):
    """The axes a per-seed reduction sums over: every axis but the seed axis (None: all)."""
    return None if axis is None else tuple(i for i in range(rank) if i != axis)


def along(values, axis: int | None, rank: int):
    """`values (S,)` shaped to broadcast along the seed axis `axis` of a rank-`rank` tensor; a
    scalar (no seed axis) as it is."""
    if axis is None:
        return values
    shape = [1] * rank
    shape[axis] = -1
    return ops.reshape(values, shape)


def _axes(grads: list, seed_axes: list[int] | None) -> list[int | None]:
    if seed_axes is None:
        return [None] * len(grads)
    if len(seed_axes) != len(grads):
        raise ValueError(
            f"Received {len(seed_axes)} seed axes for {len(grads)} gradients; expected one per "
            "gradient."
        )
    return list(seed_axes)


def _reduce(fn, g, axis: int | None):
    """`fn` (a `keras.ops` reduction) over all of `g`, or over all but its seed axis."""
    return fn(g, axis=_others(len(g.shape), axis))


def sum_squares(grads: list, seed_axes: list[int] | None = None) -> list:
    """The sum of squares of each gradient: one scalar each, or `(S,)` each with `seed_axes`."""
    return [
        _reduce(ops.sum, ops.square(g), a)
        for g, a in zip(grads, _axes(grads, seed_axes), strict=True)
    ]


def global_norm(grads: list, seed_axes: list[int] | None = None):
    """The L2 norm of all gradients together: a scalar, or `(S,)` (each seed's own) with
    `seed_axes`."""
    return ops.sqrt(sum(sum_squares(grads, seed_axes)))


def clip_gradients(
    grads: list, mode: str, threshold: float, seed_axes: list[int] | None = None
) -> tuple[list, object]:
    """Clips gradients with the rule of the Keras optimizer argument `mode`.

    Args:
        grads: one gradient tensor per variable, each the shape of its variable.
        mode: `"none"`, `"clipvalue"` (each value into [-t, t]), `"clipnorm"` (each variable's
            gradient rescaled to norm <= t, Keras's per-variable rule) or `"global_clipnorm"`
            (all gradients rescaled together to global norm <= t; Pascanu et al. 2013).
        threshold: t, > 0.
        seed_axes: None for one model's gradients. For a seed group (S models' weights stacked
            along a seed axis, `experiments.engine.seed_axis`), the seed axis of each gradient: each
            seed is then clipped alone (its own per-variable norms, its own global norm), and
            its results equal those of its single run.

    Returns:
        `(clipped, clip_fraction)`: the clipped gradients (shapes as `grads`), and the fraction
        that clipping changed: of the values for `clipvalue`, of the variables for `clipnorm`,
        1 or 0 for `global_clipnorm` (whether the global norm exceeded t), 0 for `none`. A scalar
        tensor, or `(S,)` with `seed_axes`. A value or norm equal to t is not clipped.
    """
    if mode not in CLIP_MODES:
        raise ValueError(f"Unknown clipping mode {mode!r}; expected one of {CLIP_MODES}.")
    axes = _axes(grads, seed_axes)
    seeds = None if seed_axes is None else grads[0].shape[axes[0]]
    if mode == "none":
        return list(grads), ops.zeros(() if seeds is None else (seeds,))
    if mode == "clipvalue":
        clipped = [ops.clip(g, -threshold, threshold) for g in grads]
        changed = sum(
            _reduce(ops.sum, ops.cast(ops.abs(g) > threshold, "float32"), a)
            for g, a in zip(grads, axes, strict=True)
        )
        total = sum(math.prod(g.shape) for g in grads) // (seeds or 1)
        return clipped, changed / total
    sums = sum_squares(grads, seed_axes)
    if mode == "clipnorm":
        clipped = []
        for g, a, l2sum in zip(grads, axes, sums, strict=True):
            # Keras's `_clip_by_norm` (the same arithmetic as the TF backend's clip_by_norm):
            # g * t / max(||g||, t), with the two-sided `where` that keeps a zero gradient zero.
            positive = l2sum > 0
            l2norm = ops.where(positive, ops.sqrt(ops.where(positive, l2sum, 1.0)), l2sum)
            bound = along(ops.maximum(l2norm, threshold), a, len(g.shape))
            clipped.append(g * threshold / bound)
        changed = sum(ops.cast(ops.sqrt(s) > threshold, "float32") for s in sums)
        return clipped, changed / len(grads)
    norm = ops.sqrt(sum(sums))
    # keras.src.optimizers.base_optimizer.clip_by_global_norm's expression (NaN for a
    # non-finite norm, as the optimizer's).
    scale = threshold * ops.minimum(1.0 / norm, 1.0 / threshold) + (norm - norm)
    clipped = [g * along(scale, a, len(g.shape)) for g, a in zip(grads, axes, strict=True)]
    return clipped, ops.cast(norm > threshold, "float32")


def gradient_stats(grads: list, clipped: list, seed_axes: list[int] | None = None) -> dict:
    """The norms a training step logs, from the gradients before and after clipping.

    Args:
        grads: the gradients the loss gave, one per variable.
        clipped: the same after clipping (`clip_gradients`).
        seed_axes: as `clip_gradients`: None, or each gradient's seed axis (per-seed results).

    Returns:
        A dict of tensors; `V` is the number of variables, `S` the number of seeds:
        `variable_norms` and `variable_norms_clipped` `(V,)` (with seed axes `(S, V)`): each
        variable's gradient norm before and after clipping; `grad_norm` and `grad_norm_clipped`
        (scalars, or `(S,)`): the global norms; `max_abs_grad` (scalar, or `(S,)`): the largest
        absolute gradient value before clipping.
    """
    axes = _axes(grads, seed_axes)
    norms = ops.stack([ops.sqrt(s) for s in sum_squares(grads, seed_axes)], axis=-1)
    norms_clipped = ops.stack([ops.sqrt(s) for s in sum_squares(clipped, seed_axes)], axis=-1)
    top = ops.stack(
        [_reduce(ops.max, ops.abs(g), a) for g, a in zip(grads, axes, strict=True)], axis=-1
    )
    return {
        "variable_norms": norms,
        "variable_norms_clipped": norms_clipped,
        "grad_norm": ops.sqrt(ops.sum(ops.square(norms), axis=-1)),
        "grad_norm_clipped": ops.sqrt(ops.sum(ops.square(norms_clipped), axis=-1)),
        "max_abs_grad": ops.max(top, axis=-1),
    }


def timestep_norms(input_grad, seeds: bool = False):
    """||dL/dx_t|| for every time step t, over the batch and the features.

    Args:
        input_grad: dL/dx of a sequence input, `(batch, time, *features)`; with `seeds`,
            `(S, batch, time, *features)` (each seed's batch).

    Returns:
        `(time,)`, or `(S, time)` with `seeds`.
    """
    keep = (0, 2) if seeds else (1,)
    axes = tuple(i for i in range(len(input_grad.shape)) if i not in keep)
    return ops.sqrt(ops.sum(ops.square(input_grad), axis=axes))


def optimizer_clipping(optimizer) -> tuple[str, float]:
    """The clipping a Keras optimizer applies: `(mode, threshold)`, one of `CLIP_MODES` (Keras
    allows at most one of `clipnorm`, `clipvalue`, `global_clipnorm`; a value <= 0 is off). A
    `LossScaleOptimizer`'s clipping is its inner optimizer's."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    for mode in ("clipnorm", "global_clipnorm", "clipvalue"):  # the optimizer's own order
        value = getattr(optimizer, mode, None)
        if value and value > 0:
            return mode, float(value)
    return "none", 1.0


def variable_names(model) -> list[str]:
    """Stable names `layer/weight` of the model's trainable variables, in `trainable_variables`
    order (e.g. `rnn_1/kernel`). A name that would repeat (the forward and backward kernels of a
    `Bidirectional` layer are both `bidirectional/kernel`) is the variable's unique path instead
    (`bidirectional/forward_lstm/lstm_cell/kernel`)."""
    owner = {}
    for layer in model.layers:
        for v in layer.trainable_variables:
            owner[id(v)] = f"{layer.name}/{v.name}"
    variables = model.trainable_variables
    names = [owner.get(id(v), v.path) for v in variables]
    repeated = {n for n in names if names.count(n) > 1}
    return [v.path if n in repeated else n for n, v in zip(names, variables, strict=True)]
