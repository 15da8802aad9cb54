"""Reads one run folder's records back: the reader beside `writer.py`, so the record format has one
home (bsuite keeps `csv_logging.py` and `csv_load.py` side by side).

Imports no TensorFlow (nor anything of `experiments.grid`): the record names come from
`experiments.vocabulary`, so the results side reads records without the engine.

    run_folders(grid_dir)     # the entries of `runs/`, runs still being written left out
    read_run(folder)          # (run_id, spec.json, spec, summary, CSV frames); or UnreadableRun
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from experiments.vocabulary import (
    CSV_FILES,
    FAILED,
    RUNS_DIR,
    SPEC_FILE,
    STATUSES,
    STEPS_FILE,
    SUMMARY_FILE,
    TMP_PREFIX,
)

# Spec fields added after runs were recorded, with the value older runs computed with.
LATER_FIELDS = {"momentum": 0.0, "gate_init": "keras", "kernel_initializer": "glorot_uniform"}


def run_folders(grid_dir: Path) -> list[Path]:
    """The entries of a grid's `runs/` folder other than runs still being written, sorted by name:
    the run folders, and anything foreign that `load` names and skips."""
    runs = Path(grid_dir) / RUNS_DIR
    if not runs.is_dir():
        return []
    return [entry for entry in sorted(runs.iterdir()) if not entry.name.startswith(TMP_PREFIX)]


class UnreadableRun(ValueError):
    """A run folder that cannot be read as a run's records (why, in words)."""


# Spec fields every table and figure needs.
_REQUIRED_SPEC = ("task", "length", "cell", "scheme", "clip", "clip_threshold", "steps", "seed")


def read_run(folder: Path) -> tuple[str, dict, dict, dict, dict[str, pd.DataFrame | None]]:
    """One run folder's records: `(run_id, spec.json, spec, summary, csv frames by file name)`.

    Raises:
        UnreadableRun: the folder is not a whole run's records: a stray file, a missing or
            unreadable `spec.json` / `summary.json`, or a CSV that is truncated or has other
            columns than the records' (see `experiments.vocabulary.CSV_FILES`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UnreadableRun("not a run folder (a stray file)")
    meta, summary = read_json(folder / SPEC_FILE), read_json(folder / SUMMARY_FILE)
    spec, run_id = meta.get("spec"), meta.get("run_id")
    if not isinstance(spec, dict) or not isinstance(run_id, str):
        raise UnreadableRun(f"{SPEC_FILE} has no `run_id` and `spec`")
    if missing := [key for key in _REQUIRED_SPEC if key not in spec]:
        raise UnreadableRun(f"{SPEC_FILE}: the spec lacks {missing}")
    if summary.get("status") not in STATUSES:
        raise UnreadableRun(
            f"{SUMMARY_FILE}: status {summary.get('status')!r} is none of {list(STATUSES)}"
        )
    frames = {name: read_csv(folder / name, columns, run_id) for name, columns in CSV_FILES.items()}
    steps = frames[STEPS_FILE]
    steps_done = summary.get("steps_done") or 0
    if (
        summary["status"] != FAILED
        and steps_done
        and (steps is None or steps["step"].max() != steps_done)
    ):
        raise UnreadableRun(f"{STEPS_FILE} does not reach step {steps_done} of {SUMMARY_FILE}")
    return run_id, meta, spec, summary, frames


def read_json(path: Path) -> dict:
    """A record's JSON object (`spec.json`, `summary.json`).

    Raises:
        UnreadableRun: the file is missing, not readable JSON, or not a JSON object.
    """
    if not path.is_file():
        raise UnreadableRun(f"no {path.name}")
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UnreadableRun(f"{path.name} is not readable JSON ({e})") from None
    if not isinstance(content, dict):
        raise UnreadableRun(f"{path.name} holds {type(content).__name__}, not a JSON object")
    return content


def read_csv(path: Path, columns: tuple[str, ...], run_id: str) -> pd.DataFrame | None:
    """A record CSV with a `run_id` column first; None if the run has no such file or no rows.

    Raises:
        UnreadableRun: the file is truncated, not a readable CSV, has other `columns`, or has
            rows without a step number.
    """
    if not path.is_file():
        return None
    try:
        text = path.read_text()
    except (OSError, ValueError) as e:
        raise UnreadableRun(f"{path.name} is not readable ({e})") from None
    if not text.endswith("\n"):  # every record file ends its last line; a cut one does not
        raise UnreadableRun(f"{path.name} is truncated (its last line is cut)")
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as e:
        raise UnreadableRun(f"{path.name} is not a readable CSV ({e})") from None
    if tuple(frame.columns) != columns:
        raise UnreadableRun(f"{path.name} has columns {list(frame.columns)}, not {list(columns)}")
    if frame.empty:  # e.g. eval.csv of a run that diverged before its first evaluation
        return None
    for column in frame.columns:
        if column != "variable":
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if frame["step"].isna().any():
        raise UnreadableRun(f"{path.name} has rows without a step number")
    frame.insert(0, "run_id", run_id)
    return frame
