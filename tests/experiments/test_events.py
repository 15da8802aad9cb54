"""TensorBoard event files (`experiments.records.events`), read back with TensorBoard's own reader and its
HParams plugin; `report` writing them for runs that lack them; `load_steps`.

Records are written without training (`write_fake_run`, through `records.write_run` as a grid
run writes them); `test_runner.py` checks a real grid's runs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from google.protobuf import struct_pb2
from tensorboard import context
from tensorboard.backend.event_processing import (
    data_provider,
    event_file_loader,
    plugin_event_multiplexer,
)
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups, metadata
from tensorboard.util import tensor_util
from test_analysis import write_fake_run, write_runs

from experiments.__main__ import main
from experiments.records import events
from experiments.results import analysis, exports
from experiments.vocabulary import EVAL_COLUMNS, STEP_COLUMNS

ROOT = Path(__file__).parents[2]
# Values that change at every step (a scalar written at another step does not match) and clip at
# some steps but not all (clip_fraction and grad_norm_clipped vary too).
VARIED = dict(grad_norms=np.linspace(0.25, 3.0, 40), clip="clipnorm", clip_threshold=1.0)


def read_events(folder: Path) -> dict:
    """The event file(s) of a run folder, read by TensorBoard's `EventAccumulator` (every event
    kept): tag -> (steps, values, wall times), and the HParams session's start and end."""
    accumulator = ea.EventAccumulator(str(folder), size_guidance={ea.TENSORS: 0})
    accumulator.Reload()
    scalars, session = {}, {}
    for tag in accumulator.Tags()["tensors"]:
        if tag.startswith("_hparams_/"):
            content = accumulator.SummaryMetadata(tag).plugin_data.content
            session[tag] = content
            continue
        found = accumulator.Tensors(tag)
        scalars[tag] = (
            [e.step for e in found],
            np.array([tensor_util.make_ndarray(e.tensor_proto).item() for e in found]),
            np.array([e.wall_time for e in found]),
        )
    start = metadata.parse_session_start_info_plugin_data(session[metadata.SESSION_START_INFO_TAG])
    end = metadata.parse_session_end_info_plugin_data(session[metadata.SESSION_END_INFO_TAG])
    return {"scalars": scalars, "start": start, "end": end}


def hparam_values(start) -> dict:
    """A session's hyperparameters as plain Python values."""
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}


def assert_events_hold_the_csvs(folder: Path) -> None:
    """Every column of steps.csv as train/<column> at every step, eval.csv as eval/<column> at
    each evaluation: the same steps, the same values (as float32, TensorBoard's scalar type)."""
    scalars = read_events(folder)["scalars"]
    for name, prefix, columns in (
        ("steps.csv", "train/", STEP_COLUMNS),
        ("eval.csv", "eval/", EVAL_COLUMNS),
    ):
        table = pd.read_csv(folder / name)
        for column in columns[1:]:
            if table.empty:  # e.g. no evaluation before the run diverged
                assert prefix + column not in scalars
                continue
            steps, values, _ = scalars[prefix + column]
            assert steps == table["step"].tolist(), (name, column)
            expected = table[column].to_numpy(np.float32).astype(float)
            np.testing.assert_array_equal(values, expected, err_msg=f"{name} {column}")


# --------------------------------------------------------------------------------------------------
# A run's event file


def test_a_run_s_events_hold_every_step_and_scalar_of_its_csvs(tmp_path):
    spec = write_fake_run(tmp_path, **VARIED)
    folder = tmp_path / "runs" / spec.run_id
    assert (folder / events.RUN_EVENTS_FILE).is_file()
    assert_events_hold_the_csvs(folder)
    scalars = read_events(folder)["scalars"]
    assert len(np.unique(scalars["train/clip_fraction"][1])) == 2  # the test data clips sometimes
    # Wall times: the run's start plus each step's `seconds`.
    seconds = pd.read_csv(folder / "steps.csv")["seconds"].to_numpy()
    _, _, wall = scalars["train/loss"]
    np.testing.assert_allclose(wall - wall[0], seconds - seconds[0], atol=1e-3)
    assert abs(wall[-1] - (folder / "summary.json").stat().st_mtime) < 60


def test_a_run_s_hparams_are_its_spec_and_its_final_metrics_its_summary(tmp_path):
    spec = write_fake_run(tmp_path, cell="gru", scheme="relu_gates", learning_rate=0.01, seed=3)
    folder = tmp_path / "runs" / spec.run_id
    found = read_events(folder)
    expected = {
        k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in spec.to_dict().items()
        if k not in ("grid", "seed_group")
    }
    assert hparam_values(found["start"]) == expected
    assert found["start"].group_name == spec.run_id  # one session group per run
    assert found["end"].status == api_pb2.STATUS_SUCCESS

    summary = json.loads((folder / "summary.json").read_text())
    scalars = found["scalars"]
    for tag, key in (("final/metric", "final_metric"), ("final/loss", "final_loss")):
        steps, values, _ = scalars[tag]
        assert steps == [spec.steps] and values[0] == np.float32(summary[key]), tag
    assert scalars["final/solved"][1].tolist() == [float(summary["solved"])] == [1.0]
    # The held-out metric's name (the task's) is in the scalar's description.
    accumulator = ea.EventAccumulator(str(folder))
    accumulator.Reload()
    assert "mse" in accumulator.SummaryMetadata("eval/metric").summary_description


def test_a_diverged_run_s_events_stop_where_it_diverged_and_a_failed_run_has_none(tmp_path):
    spec = write_fake_run(tmp_path, "diverged")
    folder = tmp_path / "runs" / spec.run_id
    assert_events_hold_the_csvs(folder)
    found = read_events(folder)
    steps, values, _ = found["scalars"]["train/grad_norm"]
    assert steps[-1] == spec.steps // 2 and math.isinf(values[-1])
    assert math.isnan(found["scalars"]["train/loss"][1][-1])
    assert found["end"].status == api_pb2.STATUS_FAILURE
    failed = write_fake_run(tmp_path, "error", seed=1)
    assert not events.has_events(tmp_path / "runs" / failed.run_id)


def test_run_events_are_in_step_order_with_the_summary_s_final_values(tmp_path):
    """TensorBoard drops what precedes a step that goes back, so the file is in step order (the
    evaluations merged into their steps); the final values are the summary's, each its own."""
    meta = {"run_id": "r", "spec": {"seed": 0}}
    summary = {
        "status": "completed",
        "steps_done": 3,
        "final_metric": 0.75,
        "final_loss": 0.25,
        "solved": True,
        "step_solved": 2,
    }
    steps = (("step", "loss"), [(1, 0.9), (2, 0.8), (3, 0.7)])
    evals = (("step", "loss", "metric"), [(2, 0.6, 0.5), (3, 0.55, 0.5)])
    path = tmp_path / events.RUN_EVENTS_FILE
    path.write_bytes(events.run_events(meta, summary, steps, evals, start_time=1000.0))
    order = [e.step for e in event_file_loader.EventFileLoader(str(path)).Load()]
    assert order == sorted(order) and order[-1] == 3
    scalars = read_events(tmp_path)["scalars"]
    for tag, value in (
        ("final/metric", 0.75),
        ("final/loss", 0.25),
        ("final/solved", 1.0),
        ("final/step_solved", 2.0),
    ):
        assert (scalars[tag][0], scalars[tag][1].tolist()) == ([3], [value]), tag
    assert (scalars["eval/metric"][0], scalars["train/loss"][0]) == ([2, 3], [1, 2, 3])


# --------------------------------------------------------------------------------------------------
# The grid: TensorBoard's HParams plugin lists and filters the runs


def session_groups(grid_dir: Path, **filters) -> dict:
    """What the HParams tab lists for `tensorboard --logdir grid_dir`: session group name ->
    (hparams, metric values), filtered by discrete hparam values (`cell=["gru"]`)."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(grid_dir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(grid_dir))
    tb_context = base_plugin.TBContext(data_provider=provider, logdir=str(grid_dir))
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0,
        slice_size=1000,
        aggregation_type=api_pb2.AGGREGATION_AVG,
        allowed_statuses=[api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE],
    )
    for name, values in filters.items():
        column = request.col_params.add(hparam=name)
        column.filter_discrete.values.extend(
            [
                struct_pb2.Value(string_value=v)
                if isinstance(v, str)
                else struct_pb2.Value(number_value=v)
                for v in values
            ]
        )
    response = list_session_groups.Handler(
        context.RequestContext(), backend_context.Context(tb_context), "", request
    ).run()
    return {
        group.name: (
            {k: getattr(v, v.WhichOneof("kind")) for k, v in group.hparams.items()},
            {m.name.tag: m.value for m in group.metric_values},
        )
        for group in response.session_groups
    }


@pytest.fixture
def grid(tmp_path) -> Path:
    """A fake grid with its summary written: 2 cells x 2 clip modes, a diverged and a failed run."""
    folder = tmp_path / "fake"
    write_runs(folder, ["solved", "failed"], clip="clipnorm")
    write_runs(folder, ["solved", "diverged"], cell="gru")
    write_fake_run(folder, "error", cell="gru", seed=5)
    exports.write_summary(folder)
    return folder


def test_tensorboard_lists_every_finished_run_with_its_hparams_and_final_metrics(grid):
    summary = pd.read_csv(grid / "summary.csv")
    finished = summary[summary["status"] != "failed"]
    groups = session_groups(grid)
    assert sorted(groups) == sorted(finished["run_id"])
    for run in finished.itertuples():
        hparams, metrics = groups[run.run_id]
        assert (hparams["cell"], hparams["clip"], hparams["seed"]) == (run.cell, run.clip, run.seed)
        assert set(metrics) == {"final/metric", "final/loss", "final/solved"}
        for tag, value in (("final/metric", run.final_metric), ("final/solved", float(run.solved))):
            if math.isnan(value):  # the diverged run's final metric
                assert math.isnan(metrics[tag])
            else:
                assert metrics[tag] == pytest.approx(value, rel=1e-6), (run.run_id, tag)


def test_tensorboard_filters_the_runs_by_any_hyperparameter(grid):
    gru = session_groups(grid, cell=["gru"])
    assert len(gru) == 2 and {h["cell"] for h, _ in gru.values()} == {"gru"}
    assert len(session_groups(grid, clip=["clipnorm"], seed=[0.0])) == 1


def test_the_grid_s_hparams_config_lists_each_hyperparameter_s_values(grid):
    accumulator = ea.EventAccumulator(str(grid), size_guidance={ea.TENSORS: 0})
    accumulator.Reload()
    content = accumulator.SummaryMetadata(metadata.EXPERIMENT_TAG).plugin_data.content
    experiment = metadata.parse_experiment_plugin_data(content)
    infos = {info.name: info for info in experiment.hparam_infos}
    domain = {
        name: sorted(getattr(v, v.WhichOneof("kind")) for v in info.domain_discrete.values)
        for name, info in infos.items()
    }
    assert domain["cell"] == ["gru", "lstm"] and infos["cell"].differs
    assert domain["clip"] == ["clipnorm", "none"]
    assert domain["seed"] == [0.0, 1.0]  # the failed run (seed 5) has no events
    assert domain["permuted"] == [False] and not infos["permuted"].differs
    assert "grid" not in infos and "seed_group" not in infos
    assert [m.name.tag for m in experiment.metric_infos] == list(events.FINAL_METRICS)


# --------------------------------------------------------------------------------------------------
# `report` writes the event files of runs that lack them


def test_report_writes_the_events_of_runs_without_them_and_leaves_the_others(tmp_path, capsys):
    grid = tmp_path / "old"
    old = write_fake_run(grid, **VARIED)
    kept = write_fake_run(grid, seed=1)
    # A run recorded before the event files existed, and before `momentum` was a spec field.
    old_folder, kept_folder = grid / "runs" / old.run_id, grid / "runs" / kept.run_id
    (old_folder / events.RUN_EVENTS_FILE).unlink()
    meta = json.loads((old_folder / "spec.json").read_text())
    del meta["spec"]["momentum"]
    (old_folder / "spec.json").write_text(json.dumps(meta))
    kept_bytes = (kept_folder / events.RUN_EVENTS_FILE).read_bytes()
    kept_time = (kept_folder / events.RUN_EVENTS_FILE).stat().st_mtime_ns

    assert main(["report", str(grid)]) == 0
    assert f"tensorboard --logdir {grid}" in capsys.readouterr().out
    assert_events_hold_the_csvs(old_folder)
    found = read_events(old_folder)
    assert hparam_values(found["start"])["momentum"] == 0.0  # what the run ran with
    assert hparam_values(found["start"])["clip"] == "clipnorm"
    assert found["scalars"]["final/solved"][1].tolist() == [1.0]
    assert (kept_folder / events.RUN_EVENTS_FILE).read_bytes() == kept_bytes
    assert (kept_folder / events.RUN_EVENTS_FILE).stat().st_mtime_ns == kept_time
    assert (grid / events.GRID_EVENTS_FILE).is_file()
    assert not [p for p in grid.rglob("*") if p.name.startswith(".tmp")]


# --------------------------------------------------------------------------------------------------
# load_steps


def test_load_steps_is_every_run_s_steps_with_its_spec(tmp_path):
    from experiments import load_steps

    specs = write_runs(tmp_path, ["solved", "diverged"], clip="clipnorm")
    specs.append(write_fake_run(tmp_path, cell="gru", seed=2))
    failed = write_fake_run(tmp_path, "error", seed=3)
    later = tmp_path / "runs" / specs[2].run_id / "spec.json"  # recorded before `gate_init`
    meta = json.loads(later.read_text())
    del meta["spec"]["gate_init"]
    later.write_text(json.dumps(meta))

    steps = load_steps(tmp_path)
    fields = [f for f in specs[0].to_dict() if f != "learning_rate"]  # a steps.csv column too
    assert list(steps.columns) == ["run_id", *fields, *STEP_COLUMNS]
    assert failed.run_id not in set(steps["run_id"])
    assert len(steps) == 40 + 20 + 40  # the diverged run stopped at half its budget
    for spec in specs:
        rows = steps[steps["run_id"] == spec.run_id].reset_index(drop=True)
        csv = pd.read_csv(tmp_path / "runs" / spec.run_id / "steps.csv")
        pd.testing.assert_frame_equal(rows[list(STEP_COLUMNS)], csv, check_dtype=False)
        for field, value in spec.to_dict().items():
            assert (rows[field] == value).all(), (spec.run_id, field)
    assert steps["gate_init"].notna().all()
    assert steps.groupby("cell")["step"].max().to_dict() == {"gru": 40, "lstm": 40}


def test_load_steps_errors_and_skips_like_load(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no such results folder"):
        analysis.load_steps(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no runs in"):
        analysis.load_steps(tmp_path)
    write_fake_run(tmp_path)
    (tmp_path / "runs" / "notes.txt").write_text("x")
    assert len(analysis.load_steps(tmp_path)) == 40
    assert "notes.txt: not a run folder" in capsys.readouterr().err


def test_events_and_load_steps_need_no_tensorflow(grid):
    """The results side writes the event files and loads the steps without TensorFlow."""
    (next((grid / "runs").iterdir()) / events.RUN_EVENTS_FILE).unlink()
    code = (
        "import sys; from pathlib import Path; from experiments import load_steps; "
        "from experiments.results import analysis, exports; "
        f"grid = Path({str(grid)!r}); assert len(exports.write_events(grid, "
        "analysis.load(grid))) == 1; load_steps(grid); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
