"""Helper processes of the local executor: started early, stopped between steps.

A spawned process spends about 3.5 s importing TensorFlow before its first run, longer than a small
run takes. So this module imports only the standard library: `python -m experiments run` starts
the helpers before it imports TensorFlow itself (to check the grid file), and the imports overlap.
The driver process is one of the `--workers` (it has TensorFlow loaded already), so N workers are
the driver plus N - 1 helpers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor, wait

_STOP = None  # in a helper: the pool's stop event, set by the driver to end the runs in flight


def threads_per_worker(workers: int) -> int:
    """CPU threads for each of `workers` runs at once: an equal share of the machine's cores."""
    return max(1, (os.cpu_count() or 1) // workers)


class HelperPool:
    """`processes` spawned helper processes, started now, each importing TensorFlow and the
    model code with `threads` CPU threads, so they are ready when the first run is handed out."""

    def __init__(self, processes: int, threads: int):
        context = multiprocessing.get_context("spawn")  # TensorFlow's runtime is not fork-safe
        self.stop_event = context.Event()
        self.pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=context,
            initializer=_init_helper,
            initargs=(threads, self.stop_event),
        )
        self.in_flight: set[Future] = set()
        for _ in range(processes):  # a spawned pool starts a process per task it cannot place
            self.pool.submit(int)

    def submit(self, spec_dicts: list[dict]) -> Future:
        """Trains the seed group of `spec_dicts` (`RunSpec.to_dict()` each) in a helper; the
        future's result is each run's record files, or None if `close` stopped it first."""
        future = self.pool.submit(_train_in_helper, spec_dicts)
        self.in_flight.add(future)
        future.add_done_callback(self.in_flight.discard)
        return future

    def close(self, grace_seconds: float = 10.0) -> None:
        """Stops the runs in flight after their current step, then kills the helpers.

        Runs are stopped rather than killed because a helper killed while it sends a finished
        run's records leaves half a message in the pool's pipe, and the pool then waits for the
        rest forever. Once no run is in flight a helper only waits for work, and killing it is
        safe and quicker than its TensorFlow teardown (about a second). A helper still in a run
        after `grace_seconds` (inside a long compile) is killed as well.
        """
        self.stop_event.set()
        wait(list(self.in_flight), timeout=grace_seconds)
        for process in list((self.pool._processes or {}).values()):  # no public API for them
            process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)


def _init_helper(threads: int, stop_event) -> None:
    global _STOP
    # Ctrl-C reaches the whole process group; the driver alone decides what to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop_event
    from experiments.engine import execution, group_training, models  # noqa: F401  the imports warm up

    execution.set_threads(threads)


def _train_in_helper(spec_dicts: list[dict]) -> list[dict] | None:
    from experiments.engine import execution
    from experiments.grid.spec import RunSpec

    try:
        group = tuple(RunSpec.from_dict(d) for d in spec_dicts)
        return execution.execute_group(group, stop=_STOP)
    except execution.Stopped:
        return None
