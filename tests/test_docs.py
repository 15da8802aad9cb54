"""The project's own docs name only files that exist (docs/architecture.md, results/README.md,
README.md): a renamed module or test must take its docs along."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ("docs/architecture.md", "results/README.md", "README.md")
TOP = ("custom_layers/", "experiments/", "tests/", "docs/", ".ci/")
SOURCE_DIRS = ("custom_layers", "experiments", "experiments/configs", "tests", "tests/experiments",
               "tests/custom_layers")  # fmt: skip


def named_paths(text: str) -> set[str]:
    """Project paths named in `code` spans or links: `dir/.../file` under a top folder, and bare
    `*.py` / `*.toml` module and config names."""
    spans = re.findall(r"`([^`\s]+)`", text) + re.findall(r"\]\(([^)\s#]+)", text)
    found = set()
    for span in spans:
        span = span.split(":")[0].lstrip("./")
        if "<" in span or "*" in span:
            continue  # a pattern such as runs/<run-id>/ or plots/*.png
        if span.startswith(TOP) or re.fullmatch(r"[\w]+\.(py|toml)", span):
            found.add(span)
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_a_doc_names_exists(doc):
    path = ROOT / doc
    paths = named_paths(path.read_text())
    assert paths, f"{doc} names no project file"
    missing = []
    for name in paths:
        where = (path.parent / name, ROOT / name, *(ROOT / d / name for d in SOURCE_DIRS))
        if not any(p.exists() for p in where):
            missing.append(name)
    assert not missing, f"{doc} names files that do not exist: {sorted(missing)}"


def test_named_paths_reads_spans_and_links():
    text = "see `experiments/x.py`, `lstm.py:10`, [a](../docs/y.md), `runs/<id>/`, `plots/*.png`"
    assert named_paths(text) == {"experiments/x.py", "lstm.py", "docs/y.md"}
