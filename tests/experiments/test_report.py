"""The report: files written, HTML self-contained with decodable images, Markdown links that
resolve, every finding with a verdict and its budget, and the CLI (`report`, and `run` ending
with the report)."""

from __future__ import annotations

import base64
import io
import re
import shutil

import matplotlib.image
import pandas as pd
import pytest
from test_analysis import write_fake_run, write_runs

from experiments.__main__ import main
from experiments.records import events
from experiments.results import findings, render, report


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory):
    """A fake grid with a report written: two tasks, clipping modes, diverged and failed runs."""
    folder = tmp_path_factory.mktemp("grid") / "fake"
    for clip in ("none", "global_clipnorm"):
        write_runs(folder, ["solved", "learned"], clip=clip)
        write_runs(folder, ["failed", "diverged"], cell="gru", scheme="relu_gates", clip=clip)
    write_runs(folder, ["solved", "solved"], cell="simple_rnn", decay=4.0)
    write_fake_run(folder, "failed", task="copy", length=5, clip="clipnorm")
    # diverged before its first evaluation: an empty eval.csv
    write_fake_run(folder, "diverged", task="copy", length=5, clip="clipnorm", seed=1)
    write_fake_run(folder, "error", task="copy", length=5, cell="gru")
    path = report.write_report(folder)
    assert path == folder / "report.md"
    return folder


def test_every_output_is_written(grid_dir):
    table = pd.read_csv(grid_dir / "summary.csv")
    folders = sorted(p.name for p in (grid_dir / "runs").iterdir())
    assert sorted(table["run_id"]) == folders and len(folders) == 13
    assert table["status"].value_counts().to_dict() == {"completed": 9, "diverged": 3, "failed": 1}
    assert (grid_dir / "report.md").read_text().startswith("# Report: grid `fake`")
    assert (grid_dir / "report.html").read_text().startswith("<!DOCTYPE html>")
    pngs = sorted(p.name for p in (grid_dir / "plots").glob("*.png"))
    assert "grid_overview.png" in pngs
    for kind in ("loss", "grad_norm", "gradient_through_time", "variable_norms"):
        assert f"{kind}_adding10.png" in pngs and f"{kind}_copy5.png" in pngs
    assert "metric_copy5.png" in pngs  # copy's metric is not its loss
    # TensorBoard: the HParams configuration, and an event file per finished run
    assert (grid_dir / events.GRID_EVENTS_FILE).is_file()
    finished = set(table.loc[table["status"] != "failed", "run_id"])
    assert {p.parent.name for p in grid_dir.glob(f"runs/*/{events.RUN_EVENTS_FILE}")} == finished
    assert not [p for p in grid_dir.rglob("*") if p.name.startswith(".") and "tmp" in p.name]


def test_html_is_self_contained_and_every_image_decodes(grid_dir):
    text = (grid_dir / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == len(list((grid_dir / "plots").glob("*.png")))
    assert not re.search(r'(href|src)="(?!data:|#)', text)  # nothing loaded from elsewhere
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        data = base64.b64decode(source.removeprefix("data:image/png;base64,"), validate=True)
        image = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        assert image[..., :3].std() > 0.05
    assert "<h2>Findings</h2>" in text


def test_markdown_links_resolve(grid_dir):
    text = (grid_dir / "report.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text)
    assert images and set(images) <= set(links)
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', text))
    assert {f"f{i}" for i in range(1, 8)} <= anchors
    for link in links:
        if link.startswith("#"):  # a finding's section, from "What to choose" and the table
            assert link[1:] in anchors, link
        else:
            assert (grid_dir / link).is_file(), link
    drawn = {f"plots/{p.name}" for p in (grid_dir / "plots").glob("*.png")}
    assert set(images) == drawn


def test_report_sections_and_findings(grid_dir):
    text = (grid_dir / "report.md").read_text()
    headings = ("## What to choose", "## Grid", "## Findings", "## Summary tables", "## Plots")
    for heading in (*headings, "## Environment"):
        assert f"\n{heading}\n" in text, heading
    assert text.index("## What to choose") < text.index("## Grid")  # the answer comes first
    advice = text[text.index("## What to choose") : text.index("## Grid")]
    assert "**Gates:**" in advice and "(#f2)" in advice
    findings_part = text[text.index("## Findings") : text.index("## Summary tables")]
    for key in (f"F{n}" for n in range(1, len(findings.FINDINGS) + 1)):
        match = re.search(rf"### {key}: .*\n\n\*\*Verdict: ([^.]+)\.\*\*", findings_part)
        assert match, key
        assert match.group(1) in findings.VERDICTS
    assert "Rule: " in findings_part and "Evidence:" in findings_part
    # which grid decides what: a row per finding, in order
    assert list(findings.SCOPE) == [f"F{n}" for n in range(1, len(findings.FINDINGS) + 1)]
    scope = findings_part[findings_part.index("Which grid decides what") :]
    assert "| [F10](#f10) | thresholds 0.25 and 1 for the ReLU-candidate LSTM" in scope
    # the verdict table states the step budget beside every verdict
    verdict_table = findings_part[: findings_part.index("Which grid decides what")]
    rows = [line for line in verdict_table.splitlines() if re.match(r"\| \[F\d+\]", line)]
    assert len(rows) == len(findings.FINDINGS) == 10
    verdicts = [row.split(" | ")[2] for row in rows]
    for row, verdict in zip(rows, verdicts, strict=True):
        if verdict != f"**{findings.NOT_TESTED}**":
            assert "adding10 40" in row, row
    # this grid has a simple RNN but no ReLU-candidate LSTM: F1 is not tested
    assert verdicts[0] == f"**{findings.NOT_TESTED}**"
    assert "needs ReLU-candidate LSTM runs with and without clipping" in findings_part


def test_report_tables_environment_and_failures(grid_dir):
    text = (grid_dir / "report.md").read_text()
    assert "| lstm standard | none | 1/2 [9%-91%] | 0 |" in text  # solved + learned
    assert "| gru relu_gates | none | 0/2 [0%-66%] | 1 |" in text
    assert "### copy5: recall_accuracy, solved at recall_accuracy >= 0.99, 40 steps" in text
    assert "| keras | 3.x |" in text and "| matplotlib |" in text
    assert "## Failed runs" in text and "ValueError: boom" in text


def test_html_escapes_text():
    blocks = [report._h(1, "a <b> & `c`"), report._p("**x** <script>")]
    text = render.to_html(blocks, {})
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<code>c</code>" in text and "<strong>x</strong>" in text


# --------------------------------------------------------------------------------------------------
# CLI


def test_cli_report_rebuilds_deterministically_and_removes_stale_plots(grid_dir, tmp_path, capsys):
    copy = tmp_path / "fake"
    shutil.copytree(grid_dir, copy)
    (copy / "plots" / "old_figure.png").write_bytes(b"stale")
    (copy / "report.html").unlink()
    assert main(["report", str(copy)]) == 0
    assert f"report: {copy / 'report.md'}" in capsys.readouterr().out
    assert (copy / "report.html").is_file()
    assert not (copy / "plots" / "old_figure.png").exists()
    before = (grid_dir / "report.md").read_text().replace(str(grid_dir), "GRID")
    after = (copy / "report.md").read_text().replace(str(copy), "GRID")
    assert before == after


def test_cli_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such results folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "no runs in" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_run_ends_with_the_report(tmp_path, write_grid, tiny_base, capsys):
    path = write_grid('name = "tiny"\n' + tiny_base + '[[sweep]]\ncell = "lstm"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    grid = tmp_path / "out" / "tiny"
    assert f"report: {grid / 'report.md'}" in capsys.readouterr().out
    [run] = pd.read_csv(grid / "summary.csv").to_dict("records")
    assert run["cell"] == "lstm" and run["status"] == "completed" and run["steps_done"] == 4
    assert "1 runs (1 completed)" in (grid / "report.md").read_text()
    assert (grid / "plots" / "grid_overview.png").stat().st_size > 1000
    assert "data:image/png;base64," in (grid / "report.html").read_text()


# --------------------------------------------------------------------------------------------------
# Corrupt and foreign run folders


def _truncate(folder, name):
    text = (folder / name).read_text()
    (folder / name).write_text(text[: len(text) // 2 + 3])


CORRUPTIONS = {
    "truncated steps.csv": lambda f: _truncate(f, "steps.csv"),
    "truncated variables.csv": lambda f: _truncate(f, "variables.csv"),
    "unreadable summary.json": lambda f: (f / "summary.json").write_text('{"status": "compl'),
    "summary.json not an object": lambda f: (f / "summary.json").write_text("[1, 2]"),
    "no spec.json": lambda f: (f / "spec.json").unlink(),
    "foreign columns": lambda f: (f / "eval.csv").write_text("epoch,accuracy\n1,0.5\n"),
    "unknown status": lambda f: (f / "summary.json").write_text('{"status": "running"}'),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_report_names_and_skips_a_corrupt_run_folder(grid_dir, tmp_path, capsys, corruption):
    copy = tmp_path / "fake"
    shutil.copytree(grid_dir, copy)
    bad = sorted((copy / "runs").iterdir())[3]
    CORRUPTIONS[corruption](bad)
    assert main(["report", str(copy)]) == 0
    err = capsys.readouterr().err
    assert f"skipped {bad}" in err and err.count("skipped ") == 1
    table = pd.read_csv(copy / "summary.csv")
    assert len(table) == 12 and bad.name not in set(table["run_id"])
    text = (copy / "report.md").read_text()
    assert "## Skipped folders" in text and f"`{bad.name}`" in text
    assert "12 runs" in text


def test_report_skips_stray_files_and_foreign_folders_together(grid_dir, tmp_path, capsys):
    copy = tmp_path / "fake"
    shutil.copytree(grid_dir, copy)
    (copy / "runs" / "notes.txt").write_text("my notes")
    (copy / "runs" / "from-another-tool").mkdir()
    ((copy / "runs" / "from-another-tool") / "data.bin").write_bytes(b"\x00\x01")
    assert main(["report", str(copy)]) == 0
    err = capsys.readouterr().err
    assert "notes.txt: not a run folder (a stray file)" in err
    assert "from-another-tool: no spec.json" in err
    assert len(pd.read_csv(copy / "summary.csv")) == 13
    text = (copy / "report.md").read_text()
    assert "`notes.txt`" in text and "`from-another-tool`" in text


def test_a_grid_of_only_corrupt_folders_is_an_error(tmp_path, capsys):
    runs = tmp_path / "g" / "runs"
    runs.mkdir(parents=True)
    (runs / "stray.txt").write_text("x")
    assert main(["report", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err
    assert "stray.txt" in err and "no runs in" in err and "1 unreadable folder(s) skipped" in err
    assert not (tmp_path / "g" / "report.md").exists()
