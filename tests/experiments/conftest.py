"""Shared fixtures of the experiment-suite tests: tiny specs, grid files, the smoke grid run once.

Everything here is sized to keep `tests/experiments` within a few minutes on two cores: units 4,
sequences of 6 steps, a handful of steps, and `jit_compile = false` (XLA compiles slower) except
where XLA itself is under test.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from experiments.engine import runner
from experiments.grid.config import load_grid
from experiments.grid.spec import RunSpec

SMOKE_TOML = Path(__file__).parents[2] / "experiments" / "configs" / "smoke.toml"

# A tiny run: a few seconds, mostly tracing the step functions.
TINY = dict(
    grid="tiny",
    task="adding",
    length=6,
    cell="lstm",
    units=4,
    batch_size=8,
    steps=4,
    eval_every=2,
    eval_size=16,
    timestep_every=2,
    jit_compile=False,
    seed=0,
)

# The [base] table of tiny grids written by the tests (TOML).
TINY_BASE = """
[base]
task = "adding"
length = 6
units = 4
batch_size = 8
steps = 4
eval_every = 2
eval_size = 16
timestep_every = 2
jit_compile = false
"""


@pytest.fixture
def tiny_base() -> str:
    """The TOML `[base]` table of a tiny grid (add `name`, `seeds` and `[[sweep]]`s)."""
    return TINY_BASE


@pytest.fixture
def make_spec():
    """`make_spec(**overrides)`: a tiny `RunSpec`."""

    def make(**overrides) -> RunSpec:
        return dataclasses.replace(RunSpec(**TINY), **overrides)

    return make


@pytest.fixture
def write_grid(tmp_path):
    """`write_grid(text, name="grid.toml")`: writes a grid file under tmp_path, returns its path."""

    def write(text: str, name: str = "grid.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """`experiments/configs/smoke.toml` run once, in-process: `(grid, grid_dir, result, log)`."""
    out = tmp_path_factory.mktemp("smoke")
    grid = load_grid(SMOKE_TOML)
    stream = io.StringIO()
    result = runner.run_grid(grid, out, workers=1, stream=stream)
    return grid, out / grid.name, result, stream.getvalue()
