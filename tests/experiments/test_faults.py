"""A runner that survives faults, and the Ray executor.

- a worker process killed mid-run (SIGKILL) is retried and the grid completes; with no retries
  left the run is `failed`;
- Ctrl-C stops cleanly (exit 130, no half-written folder) and running again resumes;
- a second `run` on a grid folder in use is refused (exit 3) and changes nothing;
- `deterministic = true` gives identical records for the same spec and seed;
- the Ray executor gives the same summaries as the local one.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from run_helpers import REPO, assert_complete, cli, run_folders, summary

from experiments.__main__ import main
from experiments.engine import runner
from experiments.grid.config import expand_grid, load_grid

# Runs long enough (a few seconds each) that a kill or a Ctrl-C lands mid-run.
SLOW_BASE = {
    "task": "adding",
    "length": 10,
    "units": 8,
    "batch_size": 8,
    "steps": 1000,  # ~3 s a run with 2 workers
    "eval_every": 50,
    "eval_size": 16,
    "timestep_every": 50,
    "jit_compile": False,
}


def slow_grid(name: str, cells: list[str], **extra):
    return expand_grid(
        {"name": name, "seeds": [0], "base": {**SLOW_BASE, **extra}, "sweep": [{"cell": cells}]}
    )


def kill_first_worker_when_busy(stop: threading.Event, killed: list) -> None:
    """Waits until a pool worker has lived 5 s (TensorFlow imported, a run in flight), kills it."""
    seen: dict[int, float] = {}
    while not stop.is_set():
        for child in multiprocessing.active_children():
            seen.setdefault(child.pid, time.monotonic())
            if time.monotonic() - seen[child.pid] > 5 and not killed:
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)
                return
        time.sleep(0.1)


def run_with_a_kill(grid, out: Path, retries: int):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_first_worker_when_busy, args=(stop, killed))
    killer.start()
    try:
        result = runner.run_grid(
            grid, out, workers=2, retries=retries, stream=open(os.devnull, "w")
        )
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed: the test did not exercise the fault"
    return result


def test_killed_worker_is_retried_and_the_grid_completes(tmp_path):
    grid = slow_grid("kill", ["lstm", "gru", "simple_rnn"])
    result = run_with_a_kill(grid, tmp_path, retries=2)
    assert result.counts["completed"] == 3 and result.failed == 0
    folders = run_folders(tmp_path / "kill")
    assert len(folders) == 3
    for folder in folders:
        assert_complete(folder)
    attempts = sorted(summary(f)["attempts"] for f in folders)
    assert attempts[-1] == 2, attempts  # the killed run (and any beside it) ran again
    assert not list((tmp_path / "kill" / "runs").glob(".tmp-*"))


def test_killed_worker_with_no_retries_left_is_failed(tmp_path):
    grid = slow_grid("no-retry", ["lstm", "gru"])
    result = run_with_a_kill(grid, tmp_path, retries=0)
    assert result.failed >= 1
    failed = [summary(f) for f in run_folders(tmp_path / "no-retry")]
    failed = [s for s in failed if s["status"] == "failed"]
    assert failed and "worker process running this run died 1 time(s)" in failed[0]["error"]

    # The next `run` tries the failed run again and completes it.
    again = runner.run_grid(grid, tmp_path, workers=1, stream=open(os.devnull, "w"))
    assert again.counts["completed"] == result.failed


def wait_for_first_run(grid_dir: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list((grid_dir / "runs").glob("*/summary.json")):
        assert process.poll() is None, "the grid ended before the test could interrupt it"
        assert time.monotonic() < deadline, "no run finished in time"
        time.sleep(0.2)


def write_toml(path: Path, grid_name: str, cells: list[str]) -> Path:
    base = "\n".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in SLOW_BASE.items()
    )
    cells_toml = ", ".join(f'"{c}"' for c in cells)
    path.write_text(
        f'name = "{grid_name}"\nseeds = [0, 1]\n\n[base]\n{base}\n\n'
        f"[[sweep]]\ncell = [{cells_toml}]\n"
    )
    return path


def test_ctrl_c_stops_cleanly_and_running_again_resumes(tmp_path):
    path = write_toml(tmp_path / "grid.toml", "ctrlc", ["lstm", "gru", "simple_rnn", "indrnn"])
    out, grid_dir = tmp_path / "out", tmp_path / "out" / "ctrlc"
    with (tmp_path / "log").open("w") as log:
        process = cli("run", str(path), "--out", str(out), "--workers", "2", stdout=log, stderr=log)
        wait_for_first_run(grid_dir, process)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        code = process.wait(timeout=60)
    text = (tmp_path / "log").read_text()
    assert code == 130, text
    assert "interrupted" in text
    finished = list((grid_dir / "runs").iterdir())
    assert finished and not [f for f in finished if f.name.startswith(".tmp-")]
    for folder in finished:
        assert_complete(folder)
    assert len(finished) < 8, "the grid finished before Ctrl-C: the test proved nothing"

    done = subprocess.run(
        [sys.executable, "-m", "experiments", "run", str(path), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(finished)} already finished" in done.stderr
    assert len(list((grid_dir / "runs").iterdir())) == 8


def test_a_second_run_on_a_grid_in_use_is_refused(tmp_path, capsys):
    path = write_toml(tmp_path / "grid.toml", "busy", ["lstm"])
    grid_dir = tmp_path / "out" / "busy"
    lock = runner._lock(grid_dir)  # what a first `run` holds while it works
    try:
        assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 3
        assert "in use by another `run`" in capsys.readouterr().err
        assert not (grid_dir / "runs").exists()
        with pytest.raises(runner.GridLocked, match=f"pid {os.getpid()}"):
            runner.run_grid(load_grid(path), tmp_path / "out")
    finally:
        lock.release()


def test_two_run_commands_at_once_leave_one_whole_grid(tmp_path):
    path = write_toml(tmp_path / "grid.toml", "twice", ["lstm", "gru"])
    out = tmp_path / "out"
    logs = [tmp_path / f"log{i}" for i in range(2)]
    handles = [log.open("w") for log in logs]
    processes = [cli("run", str(path), "--out", str(out), stdout=f, stderr=f) for f in handles]
    codes = sorted(p.wait(timeout=300) for p in processes)
    for f in handles:
        f.close()
    # One works; the other is refused at once, or, if it started after the first finished,
    # finds nothing left to do.
    assert codes in ([0, 0], [0, 3]), [log.read_text() for log in logs]
    folders = list((out / "twice" / "runs").iterdir())
    assert len(folders) == 4
    for folder in folders:
        assert_complete(folder)


DETERMINISTIC_SCRIPT = """
import sys
from pathlib import Path
from experiments.engine import runner
from experiments.grid.config import expand_grid
grid = expand_grid({"name": "det", "seeds": [3, 4], "base": {**%r, "deterministic": True},
                    "sweep": [{"cell": ["lstm", "gru"], "clip": "global_clipnorm"}]})
runner.run_grid(grid, Path(sys.argv[1]), workers=1)
"""


def test_deterministic_runs_give_identical_records(tmp_path):
    base = {**SLOW_BASE, "steps": 30, "eval_every": 10, "timestep_every": 10}
    for out in ("a", "b"):  # two processes: nothing shared but the spec and the seed
        subprocess.run(
            [sys.executable, "-c", DETERMINISTIC_SCRIPT % base, str(tmp_path / out)],
            cwd=REPO,
            check=True,
            capture_output=True,
            timeout=300,
        )
    runs_a = sorted((tmp_path / "a" / "det" / "runs").iterdir())
    runs_b = sorted((tmp_path / "b" / "det" / "runs").iterdir())
    assert [f.name for f in runs_a] == [f.name for f in runs_b] and len(runs_a) == 4
    for a, b in zip(runs_a, runs_b, strict=True):
        assert json.loads((a / "summary.json").read_text())["group_size"] == 2  # grouped
        steps_a, steps_b = pd.read_csv(a / "steps.csv"), pd.read_csv(b / "steps.csv")
        # `seconds` is the wall clock; every logged value must be identical to the bit.
        pd.testing.assert_frame_equal(
            steps_a.drop(columns="seconds"), steps_b.drop(columns="seconds"), check_exact=True
        )
        for name in ("eval.csv", "variables.csv", "timesteps.csv"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_ray_and_local_executors_give_the_same_summaries(tmp_path):
    pytest.importorskip("ray")
    path = REPO / "experiments" / "configs" / "smoke.toml"
    grid = load_grid(path)
    # Two seeds per configuration: each Ray task trains a seed group of 2.
    grid = dataclasses.replace(
        grid, runs=tuple(dataclasses.replace(s, seed=k) for s in grid.runs for k in (0, 1))
    )
    only = "adding12-lstm"
    devnull = open(os.devnull, "w")
    runner.run_grid(grid, tmp_path / "local", workers=2, only=only, stream=devnull)
    result = runner.run_grid(
        grid, tmp_path / "ray", executor="ray", cpus_per_run=1, only=only, stream=devnull
    )
    assert result.counts["completed"] == 8
    local = sorted((tmp_path / "local" / "smoke" / "runs").iterdir())
    remote = sorted((tmp_path / "ray" / "smoke" / "runs").iterdir())
    assert [f.name for f in local] == [f.name for f in remote]
    for a, b in zip(local, remote, strict=True):
        assert_complete(b)
        sa, sb = summary(a), summary(b)
        assert (sa["status"], sa["solved"]) == (sb["status"], sb["solved"])
        assert sa["group_size"] == sb["group_size"] == 2
        for key in ("final_loss", "final_metric", "final_train_loss"):
            assert sa[key] == pytest.approx(sb[key], rel=1e-6), (a.name, key)
        steps_a, steps_b = pd.read_csv(a / "steps.csv"), pd.read_csv(b / "steps.csv")
        pd.testing.assert_frame_equal(
            steps_a.drop(columns="seconds"), steps_b.drop(columns="seconds"), rtol=1e-6
        )
