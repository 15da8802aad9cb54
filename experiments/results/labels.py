"""The labels of runs and configurations, and the suite's order of tasks, cells, schemes and clip
modes, which every table and figure follows.

    with_labels(runs, spec_keys)   # adds task_label, model_label, variant, clip_label, config_label
    sort_key(frame), rank(values, order), ordered(values, order)   # the suite's order
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.vocabulary import CELLS, CLIP_MODES, SCHEMES, TASK_NAMES

# The spec fields that name a configuration in the tables and plots (task x model x clipping);
# other fields that vary within a task are appended to the model label (e.g. `forget_bias=0`).
TASK_FIELDS = ("task", "length", "permuted")
MODEL_FIELDS = ("cell", "scheme", "gates", "candidate", "output")
CLIP_FIELDS = ("clip", "clip_threshold")
NOT_CONFIG = ("seed", "grid", "seed_group")  # spec fields that do not define a configuration


def task_label(task: str, length: int, permuted: bool = False) -> str:
    """`adding50`, `digits64p`: the task part of a run id."""
    return f"{task}{int(length)}" + ("p" if permuted else "")


def clip_label(clip: str, threshold: float) -> str:
    """`none` or e.g. `global_clipnorm 1`."""
    return "none" if clip == "none" else f"{clip} {float(threshold):g}"


def with_labels(runs: pd.DataFrame, spec_keys: list[str]) -> pd.DataFrame:
    """Adds `task_label`, `model_label`, `clip_label` and `config_label`, and sorts the runs.

    The model label is `cell scheme`, plus `field=value` for every other spec field that varies
    within the run's task and whose value there is not the most common one (`forget_bias=0`).
    """
    runs = runs.copy()
    runs["task_label"] = [
        task_label(t, n, p)
        for t, n, p in zip(runs["task"], runs["length"], runs["permuted"], strict=True)
    ]
    runs["clip_label"] = [
        clip_label(c, t) for c, t in zip(runs["clip"], runs["clip_threshold"], strict=True)
    ]
    fixed = {*TASK_FIELDS, *MODEL_FIELDS, *CLIP_FIELDS, *NOT_CONFIG}
    others = [k for k in spec_keys if k not in fixed]
    extras = [[] for _ in range(len(runs))]
    for _, group in runs.groupby("task_label", sort=False):
        for key in others:
            values = group[key]
            if values.nunique(dropna=False) < 2:
                continue
            common = values.mode().iloc[0]
            for i, value in zip(group.index, values, strict=True):  # a RangeIndex: positions
                if value != common:
                    extras[i].append(f"{key}={_format(value)}")
    runs["model_label"] = [
        " ".join([c, s, *e]) for c, s, e in zip(runs["cell"], runs["scheme"], extras, strict=True)
    ]
    runs["variant"] = [" ".join([s, *e]) for s, e in zip(runs["scheme"], extras, strict=True)]
    runs["config_label"] = runs["task_label"] + " " + runs["model_label"] + " " + runs["clip_label"]
    order = sort_key(runs)
    return runs.iloc[np.lexsort(order[::-1])].reset_index(drop=True)


def _format(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def rank(values, order: tuple) -> list:
    """The position of each value in `order`; values not in it rank after all of it."""
    return [order.index(v) if v in order else len(order) for v in values]


def sort_key(frame: pd.DataFrame) -> list:
    """Sort keys (most significant first) putting tasks, cells, schemes and clip modes in the
    suite's order: what every table and figure uses."""
    return [
        rank(frame["task"], TASK_NAMES),
        frame["task"].to_numpy(),
        frame["length"].to_numpy(),
        frame["task_label"].to_numpy(),
        rank(frame["cell"], CELLS),
        frame["cell"].to_numpy(),
        rank(frame["scheme"], SCHEMES),
        frame["model_label"].to_numpy(),
        rank(frame["clip"], CLIP_MODES),
        frame["clip_label"].to_numpy(),
        frame["seed"].to_numpy() if "seed" in frame else np.zeros(len(frame)),
    ]


def ordered(values, order: tuple) -> list:
    """The distinct `values` in `order`, unknown ones after, alphabetically."""
    distinct = list(dict.fromkeys(values))
    return sorted(distinct, key=lambda v: (rank([v], order)[0], str(v)))
