"""Helpers shared by the runner and fault tests: grid files, run folders, the CLI as a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

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
