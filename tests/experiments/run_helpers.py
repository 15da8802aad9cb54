"""Helpers shared by the runner and fault tests (grid files, run folders, the CLI as a process),
and runs that differ in each RunSpec field in turn (seed groups, configurations)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from experiments.grid.config import RunSpec, expand_grid

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parents[2]

# What docs/architecture.md promises.
RUN_FILES = ("spec.json", "steps.csv", "eval.csv", "variables.csv", "timesteps.csv", "summary.json")


def copy_grid(name: str, folder: Path) -> Path:
    target = Path(folder) / name
    shutil.copy(DATA / name, target)
    return target


def run_folders(grid_dir: Path) -> list[Path]:
    runs = Path(grid_dir) / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def assert_complete(folder: Path) -> None:
    missing = [name for name in RUN_FILES if not (Path(folder) / name).is_file()]
    assert not missing, f"{folder.name} lacks {missing}"


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


def summary(folder: Path) -> dict:
    return json.loads((Path(folder) / "summary.json").read_text())


def cli(*args: str, **kwargs) -> subprocess.Popen:
    """`python -m experiments ...` in its own process group, output to files under kwargs."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", *args],
        cwd=REPO,
        env=env,
        start_new_session=True,
        **kwargs,
    )


# A run where every setting has its effect (`RunSpec.normalized` keeps each), and per RunSpec
# field a variant of it that differs in that field alone: `(context, change)`, the change made on
# the run with `context` (a field that applies only beside another setting gets it in both).
SCHEMES = {
    "gated": {"gates": "relu"},  # non-sigmoid gates: `gate_init` counts
    "gated_too": {"gates": "relu"},  # the same activations under another name
    "gated_candidate": {"gates": "relu", "candidate": "relu"},
    "gated_output": {"gates": "relu", "output": "relu"},
    "gated_hard": {"gates": "hard_sigmoid"},
}
EVERY_SETTING = dict(task="adding", length=6, cell="lstm", units=4, scheme="gated",
                     gate_init="matched", optimizer="sgd", momentum=0.5, learning_rate=0.01,
                     clip="clipvalue", clip_threshold=0.5, batch_size=4, steps=3, eval_every=3,
                     eval_size=8, timestep_every=1, seed_group=3)  # fmt: skip
VARIANTS = {
    "grid": ({}, {}),  # the same settings in another grid (`variant_runs` names it)
    "task": ({}, {"task": "copy"}),
    "length": ({}, {"length": 7}),
    "permuted": ({"task": "digits"}, {"permuted": True}),
    "cell": ({}, {"cell": "gru"}),
    "units": ({}, {"units": 5}),
    "depth": ({}, {"depth": 2}),
    "scheme": ({}, {"scheme": "gated_too"}),
    "gates": ({}, {"scheme": "gated_hard"}),  # with `scheme`: the parts come from a scheme
    "candidate": ({}, {"scheme": "gated_candidate"}),
    "output": ({}, {"scheme": "gated_output"}),
    "forget_bias": ({}, {"forget_bias": 0.0}),
    "gate_init": ({}, {"gate_init": "keras"}),
    "kernel_initializer": ({}, {"kernel_initializer": "small_normal"}),
    "recurrent_initializer": ({}, {"recurrent_initializer": "identity"}),
    "optimizer": ({"momentum": 0.0}, {"optimizer": "rmsprop"}),
    "learning_rate": ({}, {"learning_rate": 0.001}),
    "momentum": ({}, {"momentum": 0.9}),
    "batch_size": ({}, {"batch_size": 5}),
    "steps": ({}, {"steps": 4}),
    "clip": ({}, {"clip": "clipnorm"}),
    "clip_threshold": ({}, {"clip_threshold": 0.25}),
    "eval_every": ({}, {"eval_every": 2}),
    "eval_size": ({}, {"eval_size": 9}),
    "timestep_every": ({}, {"timestep_every": 0}),
    "jit_compile": ({}, {"jit_compile": True}),
    "deterministic": ({}, {"deterministic": True}),
}
# Not a run's setting: `seed` is what a group varies, `seed_group` only how many train together.
NOT_VARIED = {"seed", "seed_group"}


def grid_runs(settings: dict, name: str = "groups") -> tuple[RunSpec, ...]:
    """The runs (seeds 0, 1, 2) of a one-point grid: validated and normalized by the loader."""
    data = {"name": name, "schemes": SCHEMES, "base": {**EVERY_SETTING, **settings}}
    return expand_grid(data, seeds=[0, 1, 2]).runs


def variant_runs(field: str) -> tuple[tuple[RunSpec, ...], tuple[RunSpec, ...]]:
    """The runs of `VARIANTS[field]`'s context, and those of its variant."""
    context, change = VARIANTS[field]
    other = grid_runs({**context, **change}, name="groups_too" if field == "grid" else "groups")
    return grid_runs(context), other
