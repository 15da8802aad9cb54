"""Writing files so that a reader never sees half of one: a temporary name, then one rename.

Every file the suite writes (run records, `summary.csv`, plots, the report, `bench.csv`) goes
through `write_atomic`; a run's folder is made whole the same way, one level up
(`records.write_run`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from experiments.vocabulary import TMP_PREFIX


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Writes `data` to `path` through a temporary file beside it and one `os.replace`, creating
    the parent folders; an interrupted write leaves the old file (or none), never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def json_text(content: dict) -> str:
    """`content` as indented JSON (numpy scalars as plain numbers), ending in a newline."""
    return json.dumps(content, indent=2, default=_json_default) + "\n"


def csv_text(columns, rows) -> str:
    """A CSV table: the header `columns`, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def write_frame(frame, path: Path) -> Path:
    """Writes a pandas DataFrame as CSV (no index) atomically."""
    return write_atomic(path, frame.to_csv(index=False))


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serializable: {value!r}")
