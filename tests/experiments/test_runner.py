"""Tests of `experiments.engine.runner`, `experiments.records.writer` and the `run` command end to end.

- the smoke grid (`experiments/configs/smoke.toml`) completes, run once per session in-process,
  and its records have the columns, rows and names docs/architecture.md promises;
- a diverging run is a result (`diverged`, exit 0), a raising run a failure (`failed` with its
  traceback, the grid goes on, exit 1, tried again on the next `run`);
- a grid killed with SIGKILL resumes without redoing finished runs and leaves no half-written
  folder; `--workers 2` goes through the process pool.

The grids are in `data/`; subprocesses run `python -m experiments` as a user would.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import time

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from run_helpers import (  # noqa: E402
    RUN_FILES,
    assert_complete,
    cli,
    copy_grid,
    read_csv,
    run_folders,
    summary,
)
from test_events import assert_events_hold_the_csvs, hparam_values, read_events

from experiments.__main__ import main
from experiments.engine import models, runner
from experiments.engine.execution import set_threads, train_run
from experiments.grid.config import load_grid
from experiments.grid.spec import RunSpec, task_for
from experiments.records import events
from experiments.records import writer as records
from experiments.results import analysis

STEP_COLUMNS = [
    "step",
    "loss",
    "metric",
    "grad_norm",
    "grad_norm_clipped",
    "max_abs_grad",
    "clip_fraction",
    "learning_rate",
    "seconds",
]


# --------------------------------------------------------------------------------------------------
# The smoke grid and the records it leaves


def test_smoke_grid_completes(smoke_run):
    grid, grid_dir, result, log = smoke_run
    assert result.total == len(grid.runs) == 16
    assert result.skipped == 0
    assert result.counts == {"completed": 16, "diverged": 0, "failed": 0}, log
    folders = run_folders(grid_dir)
    assert [f.name for f in folders] == sorted(s.run_id for s in grid.runs)
    for folder in folders:
        assert_complete(folder)
        assert summary(folder)["status"] == "completed"

    table = analysis.summary_table(analysis.load(grid_dir).runs)
    assert len(table) == len(grid.runs)
    assert sorted(table["run_id"]) == sorted(s.run_id for s in grid.runs)
    assert (table["status"] == "completed").all()
    assert "error" not in table.columns


def test_smoke_records_content(smoke_run):
    grid, grid_dir, _, _ = smoke_run
    variables_by_cell = {}
    for spec in grid.runs:
        folder = grid_dir / "runs" / spec.run_id
        meta = json.loads((folder / "spec.json").read_text())
        assert meta["run_id"] == spec.run_id
        assert RunSpec.from_dict(meta["spec"]) == spec
        assert "keras" in meta["environment"]["packages"]

        steps = read_csv(folder / "steps.csv")
        assert list(steps.columns) == STEP_COLUMNS
        assert steps["step"].tolist() == list(range(1, spec.steps + 1))
        assert np.isfinite(steps[STEP_COLUMNS[1:]].to_numpy()).all()
        assert steps["loss"].nunique() == spec.steps  # a value per step
        assert (steps["grad_norm_clipped"] <= steps["grad_norm"] * (1 + 1e-6)).all()
        assert steps["clip_fraction"].between(0, 1).all()
        if spec.clip == "none":
            assert (steps["clip_fraction"] == 0).all()
            np.testing.assert_allclose(steps["grad_norm_clipped"], steps["grad_norm"], rtol=1e-6)

        evals = read_csv(folder / "eval.csv")
        assert list(evals.columns) == ["step", "loss", "metric"]
        assert evals["step"].tolist() == [3, 6]  # eval_every = 3, steps = 6

        times = read_csv(folder / "timesteps.csv")
        assert list(times.columns) == ["step", "t", "grad_norm"]
        time_steps = task_for(spec).input_shape[0]
        assert sorted(times["step"].unique()) == [1, 3, 6]  # step 1, then every 3
        for _, rows in times.groupby("step"):
            assert rows["t"].tolist() == list(range(time_steps))
        assert np.isfinite(times["grad_norm"]).all()

        variables = read_csv(folder / "variables.csv")
        assert list(variables.columns) == ["step", "variable", "grad_norm", "grad_norm_clipped"]
        names = variables.loc[variables["step"] == 1, "variable"].tolist()
        assert all(name.count("/") == 1 for name in names), names
        assert names[0] == "rnn_1/kernel" and names[-2:] == ["head/kernel", "head/bias"]
        assert len(variables) == spec.steps * len(names)
        for _, rows in variables.groupby("step"):
            assert rows["variable"].tolist() == names
        # The per-variable norms make up the global one.
        first = variables[variables["step"] == 1]
        assert math.sqrt((first["grad_norm"] ** 2).sum()) == pytest.approx(
            steps["grad_norm"].iloc[0], rel=1e-5
        )
        variables_by_cell.setdefault(spec.cell, []).append(names)

        # TensorBoard: steps.csv and eval.csv as scalars, the spec as hyperparameters.
        assert_events_hold_the_csvs(folder)
        found = read_events(folder)
        hparams = hparam_values(found["start"])
        assert (hparams["cell"], hparams["clip"], hparams["seed"]) == (
            spec.cell,
            spec.clip,
            spec.seed,
        )
        assert hparams["clip_threshold"] == spec.clip_threshold and "grid" not in hparams

        result = summary(folder)
        assert result["status"] == "completed"
        assert result["steps_done"] == spec.steps and result["step_diverged"] is None
        assert result["final_loss"] == pytest.approx(evals["loss"].iloc[-1])
        assert result["final_metric"] == pytest.approx(evals["metric"].iloc[-1])
        assert result["wall_seconds"] > 0
    # Identical names across runs of one cell (4 LSTM runs on the adding task, 2 GRU runs, ...).
    assert len(variables_by_cell["lstm"]) == 4
    for runs in variables_by_cell.values():
        assert all(names == runs[0] for names in runs)


def test_smoke_first_loss_is_the_initial_models_loss_on_the_first_batch(smoke_run):
    """steps.csv holds per-step values: step 1 is the initial model on the first training batch,
    drawn from `np.random.default_rng([seed, 0])`."""
    grid, grid_dir, _, _ = smoke_run
    for spec in [s for s in grid.runs if s.cell == "lstm"][:1] + [
        s for s in grid.runs if s.task == "copy"
    ][:1]:
        task = task_for(spec)
        keras.backend.clear_session()
        model = models.build_model(spec, task)
        x, y = task.batch(np.random.default_rng([spec.seed, 0]), spec.batch_size)
        expected = task.numpy_loss(y, model(x, training=False).numpy())
        steps = read_csv(grid_dir / "runs" / spec.run_id / "steps.csv")
        assert steps["loss"].iloc[0] == pytest.approx(expected, rel=1e-5)
        assert steps["loss"].iloc[1] != pytest.approx(steps["loss"].iloc[0], rel=1e-6)


def test_rerunning_a_finished_grid_runs_nothing(smoke_run):
    grid, grid_dir, _, _ = smoke_run
    mtimes = {f.name: (f / "summary.json").stat().st_mtime_ns for f in run_folders(grid_dir)}
    stream = io.StringIO()
    result = runner.run_grid(grid, grid_dir.parent, workers=1, stream=stream)
    assert result.skipped == 16 and sum(result.counts.values()) == 0
    assert "16 runs, 16 already finished, 0 to run" in stream.getvalue()
    assert mtimes == {
        f.name: (f / "summary.json").stat().st_mtime_ns for f in run_folders(grid_dir)
    }


# --------------------------------------------------------------------------------------------------
# Outcomes: diverged is a result, failed a failure


def test_diverged_run_is_a_result_through_two_workers(tmp_path):
    """The `run` command with `--workers 2`: one run explodes, the others complete, exit 0."""
    path = copy_grid("outcomes.toml", tmp_path)
    out = tmp_path / "out"
    with (tmp_path / "stdout").open("w") as stdout, (tmp_path / "stderr").open("w") as stderr:
        process = cli(
            "run", str(path), "--out", str(out), "--workers", "2", stdout=stdout, stderr=stderr
        )
        code = process.wait(timeout=300)
    log = (tmp_path / "stdout").read_text() + (tmp_path / "stderr").read_text()
    assert code == 0, log
    assert "on 2 worker(s)" in log

    grid = load_grid(path)
    grid_dir = out / "outcomes"
    assert [f.name for f in run_folders(grid_dir)] == sorted(s.run_id for s in grid.runs)
    statuses = {}
    for spec in grid.runs:
        folder = grid_dir / "runs" / spec.run_id
        assert_complete(folder)
        result = summary(folder)
        statuses[spec.cell] = result["status"]
        if spec.cell != "lstm":
            continue
        # The exploding run: kept up to the step it diverged at.
        assert result["status"] == "diverged"
        assert result["solved"] is False
        step = result["step_diverged"]
        assert isinstance(step, int) and 1 <= step < spec.steps
        assert result["steps_done"] == step
        steps = read_csv(folder / "steps.csv")
        assert steps["step"].tolist() == list(range(1, step + 1))
        last = steps.iloc[-1]
        assert not (math.isfinite(last["loss"]) and math.isfinite(last["grad_norm"]))
        assert np.isfinite(steps["loss"].iloc[:-1]).all()
    assert statuses == {"lstm": "diverged", "gru": "completed", "simple_rnn": "completed"}

    table = analysis.summary_table(analysis.load(grid_dir).runs)
    assert sorted(table["status"]) == ["completed", "completed", "diverged"]
    assert table.loc[table["cell"] == "lstm", "step_diverged"].iloc[0] >= 1


def test_failed_run_is_recorded_and_the_cli_exits_1(tmp_path, capsys, monkeypatch):
    path = copy_grid("failing.toml", tmp_path)
    out = tmp_path / "out"
    real_build = models.build_model

    def build_or_fail(spec, task):
        if spec.cell == "gru":
            raise RuntimeError("no_such_initializer: a run that raises while building")
        return real_build(spec, task)

    monkeypatch.setattr(models, "build_model", build_or_fail)
    assert main(["run", str(path), "--out", str(out)]) == 1
    assert "1 run(s) failed" in capsys.readouterr().err

    grid = load_grid(path)
    by_cell = {s.cell: out / "failing" / "runs" / s.run_id for s in grid.runs}
    failed = summary(by_cell["gru"])
    assert failed["status"] == "failed"
    assert "Traceback (most recent call last)" in failed["error"]
    assert "no_such_initializer" in failed["error"]
    assert json.loads((by_cell["gru"] / "spec.json").read_text())["run_id"] == by_cell["gru"].name
    assert_complete(by_cell["lstm"])
    assert summary(by_cell["lstm"])["status"] == "completed"  # the grid went on

    table = pd.read_csv(out / "failing" / "summary.csv")
    assert sorted(table["status"]) == ["completed", "failed"]


def test_failed_run_goes_on_and_is_tried_again(tmp_path, write_grid, tiny_base, monkeypatch):
    """A run that raises (here: model building, patched in-process) is `failed`; the next `run`
    tries it again and replaces its folder, and skips the finished ones."""
    grid = load_grid(
        write_grid('name = "retry"\n' + tiny_base + '[[sweep]]\ncell = ["gru", "lstm"]\n')
    )
    real_build = models.build_model

    def build_or_fail(spec, task):
        if spec.cell == "gru":
            raise RuntimeError("boom while building")
        return real_build(spec, task)

    monkeypatch.setattr(models, "build_model", build_or_fail)
    stream = io.StringIO()
    result = runner.run_grid(grid, tmp_path, workers=1, stream=stream)
    assert result.counts["failed"] == 1 and result.counts["completed"] == 1
    gru = next(s for s in grid.runs if s.cell == "gru")
    folder = tmp_path / "retry" / "runs" / gru.run_id
    failed = summary(folder)
    assert failed["status"] == "failed" and "RuntimeError: boom while building" in failed["error"]
    assert not records.is_finished(tmp_path / "retry", gru)

    monkeypatch.setattr(models, "build_model", real_build)
    stream = io.StringIO()
    result = runner.run_grid(grid, tmp_path, workers=1, stream=stream)
    assert "2 runs, 1 already finished, 1 to run" in stream.getvalue()
    assert result.counts["completed"] == 1 and result.failed == 0
    assert_complete(folder)
    assert summary(folder)["status"] == "completed" and "error" not in summary(folder)
    assert not [f for f in run_folders(tmp_path / "retry") if f.name.startswith(".tmp-")]


# --------------------------------------------------------------------------------------------------
# Resume after SIGKILL


def test_killed_grid_resumes_without_redoing_finished_runs(tmp_path):
    path = copy_grid("resume.toml", tmp_path)
    out = tmp_path / "out"
    grid = load_grid(path)
    grid_dir = out / grid.name
    with (tmp_path / "log").open("w") as log:
        process = cli("run", str(path), "--out", str(out), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        try:
            while not list(grid_dir.glob("runs/*/summary.json")):
                assert process.poll() is None, (tmp_path / "log").read_text()
                assert time.monotonic() < deadline, "no run finished in time"
                time.sleep(0.05)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    finished = {
        f.name: (f / "summary.json").stat().st_mtime_ns
        for f in run_folders(grid_dir)
        if (f / "summary.json").is_file()
    }
    assert 1 <= len(finished) < len(grid.runs), "the kill must land in the middle of the grid"
    for name in finished:
        assert_complete(grid_dir / "runs" / name)
    # What a kill during the final write would leave: a temporary folder, to be cleaned up.
    stale = grid_dir / "runs" / f".tmp-{grid.runs[-1].run_id}-99999"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "steps.csv").write_text("step,loss\n1,0.5\n")

    stream = io.StringIO()
    result = runner.run_grid(grid, out, workers=1, stream=stream)
    n = len(finished)
    assert f"{len(grid.runs)} runs, {n} already finished, {len(grid.runs) - n} to run" in (
        stream.getvalue()
    )
    assert result.skipped == n and result.counts["completed"] == len(grid.runs) - n
    folders = run_folders(grid_dir)
    assert [f.name for f in folders] == sorted(s.run_id for s in grid.runs)  # no .tmp-* left
    for folder in folders:
        assert_complete(folder)
        assert summary(folder)["status"] == "completed"
    for name, mtime in finished.items():  # finished runs were not redone
        assert (grid_dir / "runs" / name / "summary.json").stat().st_mtime_ns == mtime

    # Same spec -> same folder (nothing to run); a changed spec -> a new folder beside the old.
    stream = io.StringIO()
    runner.run_grid(grid, out, workers=1, stream=stream)
    assert f"{len(grid.runs)} already finished, 0 to run" in stream.getvalue()
    changed_path = tmp_path / "changed.toml"
    changed_path.write_text(path.read_text().replace("steps = 20", "steps = 3"))
    changed = load_grid(changed_path)
    stream = io.StringIO()
    runner.run_grid(changed, out, workers=1, only="-lstm-", stream=stream)
    assert "1 runs, 0 already finished, 1 to run" in stream.getvalue()
    (new,) = [s for s in changed.runs if s.cell == "lstm"]
    (old,) = [s for s in grid.runs if s.cell == "lstm"]
    assert new.run_id != old.run_id
    names = {f.name for f in run_folders(grid_dir)}
    assert names == {s.run_id for s in grid.runs} | {new.run_id}
    assert_complete(grid_dir / "runs" / new.run_id)
    assert len(read_csv(grid_dir / "runs" / new.run_id / "steps.csv")) == 3


@pytest.mark.parametrize("dies_at", (*RUN_FILES, events.RUN_EVENTS_FILE))
def test_a_write_interrupted_at_any_file_leaves_no_run_folder(
    tmp_path, make_spec, monkeypatch, dies_at
):
    """`write_run` writes under a temporary name: dying while writing any of a run's files leaves
    no folder with the run's name (so the run is not finished), and the next `run` removes the
    leftover."""
    spec = make_spec()
    files = {
        "spec.json": {"run_id": spec.run_id, "spec": spec.to_dict()},
        "steps.csv": (("step", "loss"), [(1, 0.5)]),
        "eval.csv": (("step", "loss", "metric"), [(1, 0.5, 0.5)]),
        "variables.csv": (("step", "variable", "grad_norm", "grad_norm_clipped"), []),
        "timesteps.csv": (("step", "t", "grad_norm"), []),
        "summary.json": {"status": "completed"},
    }
    write_file = records._write_file

    def dies_writing(path, content):
        if path.name == dies_at:
            raise KeyboardInterrupt  # as if killed while writing this file
        write_file(path, content)

    monkeypatch.setattr(records, "_write_file", dies_writing)
    with pytest.raises(KeyboardInterrupt):
        records.write_run(tmp_path, spec, files)
    monkeypatch.undo()

    assert not records.run_dir(tmp_path, spec).exists()
    assert not records.is_finished(tmp_path, spec)
    (leftover,) = run_folders(tmp_path)
    assert leftover.name.startswith(".tmp-")
    with pytest.raises(FileNotFoundError, match="no runs in"):
        analysis.load(tmp_path)
    assert records.remove_stale(tmp_path) == [leftover]
    assert run_folders(tmp_path) == []

    records.write_run(tmp_path, spec, files)
    assert records.is_finished(tmp_path, spec)
    assert [f.name for f in run_folders(tmp_path)] == [spec.run_id]
    written = sorted(p.name for p in records.run_dir(tmp_path, spec).iterdir())
    assert written == sorted([*files, events.RUN_EVENTS_FILE])


# --------------------------------------------------------------------------------------------------
# Known bug


def test_in_process_grid_after_tensorflow_started(tmp_path, write_grid, tiny_base):
    """A grid run from a process whose TensorFlow runtime is already running (a notebook, an
    earlier grid) keeps the thread pools as they are and trains every run."""
    tf.constant(1.0) + 1.0  # TensorFlow's runtime is running
    current = tf.config.threading.get_intra_op_parallelism_threads()
    set_threads(current + 1)  # what run_grid does: must not raise once TF has started
    assert tf.config.threading.get_intra_op_parallelism_threads() == current
    grid = load_grid(write_grid(f'name = "late"\nseeds = [0, 1]\n{tiny_base}\n[[sweep]]\n'))
    result = runner.run_grid(grid, tmp_path, workers=1, stream=io.StringIO())
    assert result.counts == {"completed": 2, "diverged": 0, "failed": 0}
    for folder in run_folders(tmp_path / "late"):
        assert_complete(folder)
        assert summary(folder)["steps_done"] == grid.runs[0].steps


def test_a_run_that_raises_is_recorded_as_failed(tmp_path, make_spec, monkeypatch):
    def broken(spec, task):
        raise ValueError("cannot build")

    monkeypatch.setattr(models, "build_model", broken)
    spec = make_spec()
    files = train_run(spec)
    result = files["summary.json"]
    assert result["status"] == "failed" and "ValueError: cannot build" in result["error"]
    records.write_run(tmp_path, spec, files)
    folder = records.run_dir(tmp_path, spec)
    assert sorted(p.name for p in folder.iterdir()) == ["spec.json", "summary.json"]
    with (folder / "summary.json").open() as f:
        assert json.load(f)["error"] == result["error"]


def test_no_report_trains_and_writes_the_summary_but_no_report(
    tmp_path, write_grid, tiny_base, capsys
):
    path = write_grid(f'name = "bare"\nseeds = [0]\n{tiny_base}\n[[sweep]]\ncell = ["gru"]\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-report"]) == 0
    grid_dir = tmp_path / "out" / "bare"
    [folder] = run_folders(grid_dir)
    assert_complete(folder)
    assert not (grid_dir / "report.md").exists() and not (grid_dir / "plots").exists()
    [row] = pd.read_csv(grid_dir / "summary.csv").to_dict("records")
    assert row["run_id"] == folder.name and row["status"] == "completed"
    assert (folder / events.RUN_EVENTS_FILE).is_file()
    assert (grid_dir / events.GRID_EVENTS_FILE).is_file()  # the HParams tab's configuration
    out = capsys.readouterr().out
    assert f"report: python -m experiments report {grid_dir}" in out
    assert f"TensorBoard: tensorboard --logdir {grid_dir}" in out


# --------------------------------------------------------------------------------------------------
# Seed groups


def test_a_group_with_2_of_4_seeds_finished_resumes_by_training_only_the_other_2(
    tmp_path, write_grid, tiny_base
):
    # What a grid stopped after its first group of 2 leaves: seeds 0 and 1 finished, 2 and 3 not.
    done_first = write_grid(f'name = "g"\nseeds = [0, 1]\n{tiny_base}', "first.toml")
    runner.run_grid(load_grid(done_first), tmp_path / "out", stream=io.StringIO())
    grid_dir = tmp_path / "out" / "g"
    finished = {f.name: (f / "summary.json").stat().st_mtime_ns for f in run_folders(grid_dir)}
    assert len(finished) == 2

    grid = load_grid(write_grid(f'name = "g"\nseeds = [0, 1, 2, 3]\n{tiny_base}seed_group = 4\n'))
    stream = io.StringIO()
    result = runner.run_grid(grid, tmp_path / "out", stream=stream)
    assert "4 runs, 2 already finished, 2 to run in 1 seed group(s)" in stream.getvalue()
    assert result.skipped == 2 and result.counts["completed"] == 2
    for name, mtime in finished.items():  # not trained again
        assert (grid_dir / "runs" / name / "summary.json").stat().st_mtime_ns == mtime
    new = [f for f in run_folders(grid_dir) if f.name not in finished]
    assert sorted(json.loads((f / "spec.json").read_text())["spec"]["seed"] for f in new) == [2, 3]
    for folder in new:
        assert_complete(folder)
        assert summary(folder)["group_size"] == 2  # the two trained together
    for name in finished:
        assert "group_size" in summary(grid_dir / "runs" / name)  # seeds 0 and 1 were a group


def test_a_grouped_run_writes_what_its_single_run_writes(tmp_path, make_spec):
    specs = [make_spec(seed=s) for s in (0, 1)]
    grouped = runner.execute_group(tuple(specs))
    for spec, files in zip(specs, grouped, strict=True):
        single = train_run(spec)
        assert set(files) == set(single)
        for name in ("steps.csv", "variables.csv", "timesteps.csv", "eval.csv"):
            (g_columns, g_rows), (s_columns, s_rows) = files[name], single[name]
            assert g_columns == s_columns and len(g_rows) == len(s_rows)
            assert [r[:1] for r in g_rows] == [r[:1] for r in s_rows]
        assert files["spec.json"]["spec"] == single["spec.json"]["spec"]
        assert files["spec.json"]["task"] == single["spec.json"]["task"]
