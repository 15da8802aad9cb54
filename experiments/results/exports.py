"""The grid's exports for other tools, rebuilt from the records: `summary.csv` (one row per run)
and the TensorBoard files (`experiments.records.events`).

    write_summary(grid_dir)          # summary.csv, the missing event files, the HParams file
    write_events(grid_dir, tables)   # the event file of each finished run that lacks one

`run --no-report` writes these alone; `report.write_report` writes them before the report.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from experiments.records import events
from experiments.records.files import write_atomic, write_frame
from experiments.records.reader import LATER_FIELDS
from experiments.results import analysis
from experiments.vocabulary import FINISHED, RUNS_DIR, SPEC_FILE, SUMMARY_CSV, SUMMARY_FILE


def write_events(grid_dir: Path, tables: analysis.Tables) -> list[Path]:
    """Writes the TensorBoard event file of each finished run of `tables` whose folder has none
    (a grid run before the event files existed), from its records; leaves the others as they
    are. Returns the files written.

    The final metrics are the tables' (`solved`, `step_solved` recomputed by the sustained rule);
    the wall times start at the run's end (its `summary.json`'s time) less its last `seconds`.
    """
    grid_dir = Path(grid_dir)
    finished = tables.runs[tables.runs["status"].isin(FINISHED)]
    lacking = [
        run
        for run in finished.itertuples(index=False)
        if not events.has_events(grid_dir / RUNS_DIR / run.run_id)
    ]
    if not lacking:  # every report after the first: no table is split
        return []
    ids = {run.run_id for run in lacking}
    steps = dict(tuple(tables.steps[tables.steps["run_id"].isin(ids)].groupby("run_id")))
    evals = dict(tuple(tables.evals[tables.evals["run_id"].isin(ids)].groupby("run_id")))
    written = []
    for run in lacking:
        folder = grid_dir / RUNS_DIR / run.run_id
        meta = json.loads((folder / SPEC_FILE).read_text())
        meta["spec"] = {**LATER_FIELDS, **meta.get("spec", {})}
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        summary["solved"] = bool(run.solved)
        summary["step_solved"] = None if math.isnan(run.step_solved) else int(run.step_solved)
        columns, rows = run_steps = _rows(steps.get(run.run_id))
        elapsed = float(rows[-1][columns.index("seconds")]) if rows else 0.0
        end = (folder / SUMMARY_FILE).stat().st_mtime
        content = events.run_events(
            meta,
            summary,
            run_steps,
            _rows(evals.get(run.run_id)),
            start_time=end - (elapsed if math.isfinite(elapsed) else 0.0),
        )
        written.append(write_atomic(folder / events.RUN_EVENTS_FILE, content))
    return written


def _rows(frame) -> tuple[tuple[str, ...], list[tuple]]:
    """A stacked record frame's rows of one run as `(columns, rows)`, without `run_id`."""
    if frame is None:
        return (), []
    frame = frame.drop(columns="run_id")
    return tuple(frame.columns), list(frame.itertuples(index=False, name=None))


def write_summary(grid_dir: Path, tables: analysis.Tables | None = None) -> analysis.Tables:
    """Writes `summary.csv` and the TensorBoard files of `grid_dir`: the event files of finished
    runs that lack them (`write_events`) and the grid's HParams configuration
    (`events.GRID_EVENTS_FILE`, every hyperparameter's values in the grid); returns the tables.

    Raises:
        FileNotFoundError: `grid_dir` does not exist or has no run records.
    """
    grid_dir = Path(grid_dir)
    tables = analysis.load(grid_dir) if tables is None else tables
    write_frame(analysis.summary_table(tables.runs), grid_dir / SUMMARY_CSV)
    write_events(grid_dir, tables)
    specs = _specs(tables)
    write_atomic(grid_dir / events.GRID_EVENTS_FILE, events.hparams_config(specs, time.time()))
    return tables


def _specs(tables: analysis.Tables) -> list[dict]:
    """Each finished run's spec, as `runs` holds it (older runs' later fields filled in)."""
    runs = tables.runs[tables.runs["status"].isin(FINISHED)]
    columns = [c for c in ("grid", "seed", *tables.spec_columns) if c in runs]
    return [
        {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
        for row in runs[columns].to_dict("records")
    ]
