"""TensorBoard event files of a grid, written without TensorFlow.

`tensorboard --logdir results/<grid>` shows every finished run as a TensorBoard run named
`runs/<run-id>`, from one event file in its folder, and compares them in the HParams tab:

    runs/<run-id>/events.out.tfevents.run   (RUN_EVENTS_FILE)
        train/<column>  every column of steps.csv but `step`, at every step (the training
                        batch's loss and metric, grad_norm, grad_norm_clipped, max_abs_grad,
                        clip_fraction, learning_rate, seconds)
        eval/loss, eval/metric   eval.csv: the held-out set, at each evaluation's step
        final/loss, final/metric, final/solved (1 or 0), final/step_solved (a solved run)
                        summary.json, at the last step: the HParams tab's metrics
        _hparams_/session_start_info   the run's hyperparameters: every spec field but `grid` and
                        `seed_group` (`HPARAMS_LEFT_OUT`), trial id = run id
        _hparams_/session_end_info     its status: completed SUCCESS, diverged FAILURE (`STATUS`)
    events.out.tfevents.hparams          (GRID_EVENTS_FILE, in the grid folder)
        _hparams_/experiment   every hyperparameter with its values in the grid (a discrete
                        domain, so the HParams tab filters by any of them) and the final/* metrics

The content is built from the records' own values (the protobufs of the `tensorboard` package,
framed as TFRecords by its `RecordWriter`), so a run's events can be written with its other files,
in one atomic rename (`records.write_run`), or later from its CSVs (`exports.write_summary`, for
grids run before the event files existed). Scalars are float32, as every TensorBoard scalar is.
Each file has a fixed name, so a run has one, written once.

Only the protobuf modules of `tensorboard` are imported here: its `EventFileWriter` and
`plugins.hparams.api` import TensorFlow, which the results side must not.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.record_writer import RecordWriter

from experiments.vocabulary import COMPLETED, DIVERGED

RUN_EVENTS_FILE = "events.out.tfevents.run"  # in each run's folder
GRID_EVENTS_FILE = "events.out.tfevents.hparams"  # in the grid's folder: the HParams config
# Spec fields that are not hyperparameters: the grid's name, and how seeds are batched.
HPARAMS_LEFT_OUT = ("grid", "seed_group")
TRAIN, EVAL, FINAL = "train/", "eval/", "final/"
# A run's status in the HParams tab's status filter: a diverged run (non-finite loss or gradient)
# is a FAILURE there. A failed run (an exception) has no event file.
STATUS = {COMPLETED: api_pb2.STATUS_SUCCESS, DIVERGED: api_pb2.STATUS_FAILURE}
# The HParams tab's metrics: tag -> description.
FINAL_METRICS = {
    "final/metric": "the held-out metric at the last evaluation (the task's metric)",
    "final/loss": "the held-out loss at the last evaluation",
    "final/solved": "1 if the run solved its task (the metric passed the task's rule at 2 "
    "consecutive evaluations), else 0",
    "final/step_solved": "the step from which the run solved its task (solved runs only)",
}


def has_events(folder: Path) -> bool:
    """Whether a run folder holds an event file (ours, or any `*tfevents*` file)."""
    return any(Path(folder).glob("*tfevents*"))


def hparams(spec: dict) -> dict:
    """The run's hyperparameters: its spec fields but `HPARAMS_LEFT_OUT`, as TensorBoard types
    (bool, float, str); a field of another type (None) is left out."""
    values = {}
    for name, value in spec.items():
        if name not in HPARAMS_LEFT_OUT and (plain := _hparam_value(value)) is not None:
            values[name] = plain
    return values


def run_events(
    meta: dict,
    summary: dict,
    steps: tuple[Sequence[str], Iterable[Sequence]],
    evals: tuple[Sequence[str], Iterable[Sequence]] | None,
    start_time: float,
) -> bytes:
    """The event file of one finished run (`RUN_EVENTS_FILE`), as bytes.

    Args:
        meta: `spec.json`'s content: `run_id`, `spec` and (optionally) `task` (its metric's name
            goes into the scalars' descriptions).
        summary: `summary.json`'s content (`final_loss`, `final_metric`, `solved`,
            `step_solved`, `steps_done`; a missing one is not written).
        steps, evals: `(columns, rows)` of `steps.csv` and `eval.csv` (the first column `step`);
            values are anything `float` takes (numbers, numpy scalars, CSV text).
        start_time: the run's start, seconds since the epoch: each step's wall time is
            `start_time + seconds` (its `seconds` column, when there is one).
    """
    task = meta.get("task") or {}
    metric = task.get("metric") or "metric"
    descriptions = {
        "train/loss": f"the training batch's loss ({task.get('loss') or 'loss'}) at each step",
        "train/metric": f"the training batch's {metric} at each step",
        "eval/loss": "the held-out loss at each evaluation",
        "eval/metric": f"the held-out {metric} at each evaluation",
        **FINAL_METRICS,
    }
    by_step: dict[int, list[tuple[str, float]]] = {}
    wall: dict[int, float] = {}
    for prefix, table in ((TRAIN, steps), (EVAL, evals)):
        if table is None:
            continue
        columns, rows = table
        for row in rows:
            step = int(_float(row[0]))
            values = by_step.setdefault(step, [])
            for column, value in zip(columns[1:], row[1:], strict=True):
                values.append((prefix + column, _float(value)))
                if prefix == TRAIN and column == "seconds":
                    wall[step] = start_time + _float(value)
    last = max(by_step, default=0)
    final = by_step.setdefault(int(summary.get("steps_done") or last), [])
    for key, tag in (("final_metric", "final/metric"), ("final_loss", "final/loss")):
        if key in summary:
            final.append((tag, _float(summary[key])))
    if "solved" in summary:
        final.append(("final/solved", float(bool(summary["solved"]))))
        if summary.get("step_solved") is not None:
            final.append(("final/step_solved", _float(summary["step_solved"])))

    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    writer.write(_file_version(start_time))
    session = hparams_summary.hparams_pb(
        hparams(meta.get("spec") or {}), trial_id=meta.get("run_id"), start_time_secs=start_time
    )
    writer.write(_event(session, step=0, wall_time=start_time))
    seen: set[str] = set()
    now = start_time
    for step in sorted(by_step):  # TensorBoard drops what precedes a step that goes back
        now = wall.get(step, now)
        values = []
        for tag, value in by_step[step]:
            values.append(_scalar(tag, value, None if tag in seen else descriptions.get(tag, "")))
            seen.add(tag)
        if values:
            writer.write(_event(summary_pb2.Summary(value=values), step=step, wall_time=now))
    status = STATUS.get(summary.get("status"), api_pb2.STATUS_UNKNOWN)
    end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=now)
    writer.write(
        _event(
            _hparams_summary(hparams_metadata.SESSION_END_INFO_TAG, end),
            step=max(by_step),
            wall_time=now,
        )
    )
    return buffer.getvalue()


def hparams_config(specs: Iterable[dict], time_created: float) -> bytes:
    """The grid's HParams experiment (`GRID_EVENTS_FILE`), as bytes: each hyperparameter of the
    runs' `specs` with the values it takes (a discrete domain; `differs` when it varies), and the
    `FINAL_METRICS`."""
    values: dict[str, set] = {}
    for spec in specs:
        for name, value in hparams(spec).items():
            values.setdefault(name, set()).add(value)
    infos = []
    for name, seen in values.items():
        info = api_pb2.HParamInfo(name=name, differs=len(seen) > 1)
        if len({type(v) for v in seen}) == 1:  # one type: a domain TensorBoard can filter on
            hparams_summary.Discrete(sorted(seen)).update_hparam_info(info)
        infos.append(info)
    metrics = [
        api_pb2.MetricInfo(name=api_pb2.MetricName(group="", tag=tag), description=text)
        for tag, text in FINAL_METRICS.items()
    ]
    experiment = api_pb2.Experiment(
        hparam_infos=infos, metric_infos=metrics, time_created_secs=time_created
    )
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    writer.write(_file_version(time_created))
    summary = _hparams_summary(hparams_metadata.EXPERIMENT_TAG, experiment)
    writer.write(_event(summary, step=0, wall_time=time_created))
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------


def _hparams_summary(tag: str, message) -> summary_pb2.Summary:
    """An HParams plugin summary (as `plugins.hparams.summary_v2` builds one): `message`, an
    `Experiment` or a `SessionEndInfo`, in the plugin's data, with an empty tensor."""
    field = "experiment" if isinstance(message, api_pb2.Experiment) else "session_end_info"
    data = plugin_data_pb2.HParamsPluginData(**{field: message})
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=tag,
        metadata=hparams_metadata.create_summary_metadata(data),
        tensor=hparams_metadata.NULL_TENSOR,
    )
    return summary


def _hparam_value(value):
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "item"):  # a numpy scalar
        return _hparam_value(value.item())
    return None


def _float(value) -> float:
    if isinstance(value, str) and not value.strip():
        return math.nan  # an empty CSV cell
    return float(value)


def _scalar(tag: str, value: float, description: str | None) -> summary_pb2.Summary.Value:
    """A scalar as `tensorboard.plugins.scalar.summary_v2.scalar_pb` writes it (a float32 tensor of
    shape []); the plugin's metadata only with a tag's first value, as TensorFlow's writer does."""
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        float_val=[value],
    )
    if description is None:
        return summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    meta = scalar_metadata.create_summary_metadata(display_name=None, description=description)
    return summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)


def _event(summary: summary_pb2.Summary, step: int, wall_time: float) -> bytes:
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary).SerializeToString()


def _file_version(wall_time: float) -> bytes:
    return event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString()
