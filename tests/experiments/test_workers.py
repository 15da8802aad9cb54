"""The helper processes of the local executor (`experiments.engine.workers`).

- the module imports no TensorFlow, so `run` can start the helpers before it imports TensorFlow;
- `close` stops a run in flight between two steps (its future gives None), instead of waiting for
  it to end or killing the helper while it may be sending records;
- with `--workers 2` the driver trains runs itself beside one helper process.
"""

from __future__ import annotations

import io
import multiprocessing
import subprocess
import sys
import threading
import time

from run_helpers import REPO

from experiments.engine import runner, workers
from experiments.grid.config import load_grid


def test_workers_module_imports_no_tensorflow():
    code = (
        "import sys, experiments.engine.workers; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_threads_per_worker_shares_the_cores(monkeypatch):
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 8)
    assert [workers.threads_per_worker(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]


def test_close_stops_a_run_in_flight(make_spec):
    long_run = make_spec(steps=1_000_000, eval_every=100_000, timestep_every=0)  # hours
    helpers = workers.HelperPool(1, threads=1)
    future = helpers.submit([long_run.to_dict()])
    time.sleep(8)  # TensorFlow imported, the run traced and training (or about to be)
    start = time.monotonic()
    helpers.close(grace_seconds=120)
    assert future.result(timeout=0) is None  # stopped by the event, not killed (that would raise)
    assert time.monotonic() - start < 60
    assert not multiprocessing.active_children()


def test_two_workers_are_the_driver_and_one_helper(tmp_path, write_grid, tiny_base):
    path = write_grid(
        f'name = "two"\nseeds = [0, 1]\n{tiny_base}\n[[sweep]]\ncell = ["lstm", "gru"]\n'
    )
    helper_pids: set[int] = set()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            helper_pids.update(p.pid for p in multiprocessing.active_children())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = runner.run_grid(load_grid(path), tmp_path, workers=2, stream=io.StringIO())
    finally:
        stop.set()
        watcher.join()
    assert result.counts["completed"] == 4
    assert len(helper_pids) == 1  # one spawned helper; the other worker is this process
