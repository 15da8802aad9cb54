"""Loads run records into pandas and aggregates them. Pure functions: nothing here trains."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from experiments import records


def run_table(grid_dir: Path) -> pd.DataFrame:
    """One row per run folder: its spec columns, then its summary columns.

    Returns an empty frame when the grid has no finished run.
    """
    rows = []
    for folder in sorted(records.runs_dir(grid_dir).glob("*")):
        if folder.name.startswith(records.TMP_PREFIX):
            continue
        summary = records.read_summary(folder)
        if summary is None:
            continue
        spec = json.loads((folder / "spec.json").read_text())
        rows.append({"run_id": spec["run_id"], **spec["spec"], **summary})
    return pd.DataFrame(rows)


def write_summary(grid_dir: Path) -> Path:
    """Writes `<grid_dir>/summary.csv` (one row per run) atomically; returns its path."""
    table = run_table(grid_dir).drop(columns=["error"], errors="ignore")
    path = Path(grid_dir) / "summary.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path
