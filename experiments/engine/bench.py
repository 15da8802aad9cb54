"""Benchmarks: ratios measured side by side in one process (`python -m experiments bench`).

Every comparison alternates A and B repeats after a warm-up and reports medians, so the load of a
shared machine falls on both sides alike. Speed lives here; correctness lives in the tests.

1. cells vs Keras built-ins: training steps/s of `SwappableLSTM` / `SwappableGRU` vs
   `keras.layers.LSTM` / `GRU` (default activations), and the ReLU-gate LSTM vs the default one;
2. instrumentation: the instrumented step (`experiments.engine.training`) vs a plain compiled Keras
   train step on the same model, with and without the gradient-through-time record every 50 steps;
   and `fit` with `GradientMonitor` vs a plain `fit` (Keras's LSTM);
3. seed groups: runs per hour of one configuration of the default grid's shape (adding, T = 50,
   32 units, batch 32, 600 steps) x 8 seeds, trained as one group against one seed at a time
   (`seed_group = 1`), each a fresh process, for LSTM and GRU;
4. grid throughput: runs per hour of `smoke.toml` with 1 and with 2 workers, each grid a fresh
   `python -m experiments run` process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from experiments.records.files import csv_text, write_atomic
from experiments.vocabulary import CELL_BLOCKS, RUNS_DIR, SUMMARY_FILE

PACKAGE = Path(__file__).parents[1]  # experiments/: its configs/, and beside it the checkout
ROOF_FLOPS = 160e9  # matmul roof measured on the 2-core machine (float32 GEMM)
FEATURES = 2  # input features, as in the adding task
COLUMNS = (
    "benchmark",
    "setting",
    "a",
    "b",
    "a_per_s",
    "b_per_s",
    "ratio",
    "target",
    "repeats",
    "a_roof_fraction",
)


@dataclass(frozen=True)
class Shape:
    batch: int
    time: int
    units: int

    def __str__(self) -> str:
        return f"batch {self.batch}, T {self.time}, units {self.units}"


SHAPES = (Shape(64, 100, 128), Shape(32, 50, 32))
QUICK_SHAPES = (Shape(4, 5, 4),)


def step_flops(shape: Shape, gates: int) -> float:
    """Matmul FLOPs of one training step of a one-layer RNN: forward + backward (~3x forward)."""
    return 3 * 2 * shape.batch * shape.time * (FEATURES + shape.units) * gates * shape.units


def alternate(a, b, steps: int, repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Median calls/s of `a()` and `b()`, timed in alternating blocks of `steps` calls."""
    for _ in range(warmup):
        a()
        b()
    rates = {"a": [], "b": []}
    for _ in range(repeats):
        for name, fn in (("a", a), ("b", b)):
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            rates[name].append(steps / (time.perf_counter() - start))
    return statistics.median(rates["a"]), statistics.median(rates["b"])


def _model(layer, shape: Shape, jit: bool):
    import keras

    model = keras.Sequential([keras.Input((shape.time, FEATURES)), layer, keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=jit)
    return model


def _fit_step(model, shape: Shape, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.random((shape.batch, shape.time, FEATURES), dtype="float32")
    y = rng.random((shape.batch, 1), dtype="float32")
    return lambda: model.train_on_batch(x, y)


def cell_rows(shapes, steps: int, repeats: int) -> list[dict]:
    """Swappable cells vs Keras built-ins, and ReLU gates vs the default, per shape and XLA."""
    import keras

    from custom_layers import SwappableGRU, SwappableLSTM

    pairs = (
        ("SwappableLSTM", "keras LSTM", 4, lambda u: SwappableLSTM(u),
         lambda u: keras.layers.LSTM(u, use_cudnn=False)),
        ("SwappableGRU", "keras GRU", 3, lambda u: SwappableGRU(u),
         lambda u: keras.layers.GRU(u, use_cudnn=False)),
        ("LSTM relu gates", "LSTM sigmoid gates", 4,
         lambda u: SwappableLSTM(u, recurrent_activation="relu"), lambda u: SwappableLSTM(u)),
    )  # fmt: skip
    rows = []
    for a_name, b_name, gates, make_a, make_b in pairs:
        for shape in shapes:
            for jit in (False, True):
                keras.utils.set_random_seed(0)
                step_a = _fit_step(_model(make_a(shape.units), shape, jit), shape)
                step_b = _fit_step(_model(make_b(shape.units), shape, jit), shape)
                a, b = alternate(step_a, step_b, steps, repeats)
                target = 1.0 if "keras" in b_name else None
                rows.append(
                    _row(
                        "cells",
                        f"{shape}, jit {'on' if jit else 'off'}",
                        a_name,
                        b_name,
                        a,
                        b,
                        target,
                        repeats,
                        step_flops(shape, gates),
                    )  # fmt: skip
                )
                keras.backend.clear_session()
    return rows


def instrumentation_rows(shape: Shape, steps: int, repeats: int) -> list[dict]:
    """The instrumented step vs a plain compiled Keras step, on the same model and batch."""
    import keras
    import numpy as np
    import tensorflow as tf

    from experiments.engine import models, training
    from experiments.grid.spec import RunSpec

    spec = RunSpec(units=shape.units, batch_size=shape.batch, clip="global_clipnorm")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((shape.batch, shape.time, FEATURES), dtype="float32"))
    y = tf.constant(rng.random((shape.batch, 1), dtype="float32"))
    rows = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        spec = replace(spec, jit_compile=jit)
        model = keras.Sequential(
            [
                keras.Input((shape.time, FEATURES)),
                models.recurrent_layer(spec, return_sequences=False, name="rnn_1"),
                keras.layers.Dense(1, name="head"),
            ]
        )
        loss = keras.losses.MeanSquaredError()
        optimizer = models.build_optimizer(spec)
        plain_model = keras.models.clone_model(model)
        plain_model.compile(optimizer=models.build_optimizer(spec), loss=loss, jit_compile=jit)

        def plain(plain_model=plain_model):
            plain_model.train_on_batch(x, y)

        step = training.make_train_step(model, optimizer, loss, spec, with_timesteps=False)
        with_t = training.make_train_step(model, optimizer, loss, spec, with_timesteps=True)
        counter = iter(range(10**9))

        def instrumented(step=step):
            float(step(x, y)["loss"])  # the loop reads the logged values every step

        def every_50(step=step, with_t=with_t, counter=counter):
            fn = with_t if next(counter) % 50 == 0 else step
            float(fn(x, y)["loss"])

        setting = f"{shape}, jit {'on' if jit else 'off'}"
        for name, fn, target in (
            ("instrumented", instrumented, 1.10),
            ("instrumented + dL/dx_t every 50", every_50, 1.20),
        ):
            a, b = alternate(fn, plain, max(steps, 50), repeats)
            # The ratio is time per step: instrumented / plain (lower is better).
            rows.append(_row("instrumentation", setting, name, "plain fit step", a, b, target,
                             repeats, step_flops(shape, 4), time_ratio=True))  # fmt: skip
        keras.backend.clear_session()
    return rows


def monitor_rows(shape: Shape, steps: int, repeats: int) -> list[dict]:
    """`fit` with `GradientMonitor` vs a plain `fit` of the same model (Keras's LSTM, Adam with
    `global_clipnorm`, MSE), time per step: each window is one `fit` call of `steps` batches."""
    import keras
    import numpy as np

    from custom_layers import GradientMonitor

    rng = np.random.default_rng(0)
    x = rng.random((shape.batch * steps, shape.time, FEATURES), dtype="float32")
    y = rng.random((shape.batch * steps, 1), dtype="float32")
    rows = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = _model(keras.layers.LSTM(shape.units, use_cudnn=False), shape, jit)
        plain_model = keras.models.clone_model(model)
        plain_model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1.0),
                            loss="mse", jit_compile=jit)  # fmt: skip
        model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1.0), loss="mse",
                      jit_compile=jit)  # fmt: skip
        watch = GradientMonitor()

        def monitored(model=model, watch=watch):
            model.fit(x, y, batch_size=shape.batch, shuffle=False, verbose=0, callbacks=[watch])

        def plain(plain_model=plain_model):
            plain_model.fit(x, y, batch_size=shape.batch, shuffle=False, verbose=0)

        a, b = alternate(monitored, plain, 1, repeats)
        rows.append(_row("instrumentation", f"{shape}, jit {'on' if jit else 'off'}",
                         "fit with GradientMonitor", "plain fit", a * steps, b * steps, 1.05,
                         repeats, step_flops(shape, 4), time_ratio=True))  # fmt: skip
        keras.backend.clear_session()
    return rows


def seed_group_spec(cell: str, steps: int, quick: bool = False):
    """One configuration of the default grid's shape (`configs/default.toml`), seed 0."""
    from experiments.grid.spec import RunSpec

    if quick:
        return RunSpec(task="adding", length=5, cell=cell, units=4, steps=steps, eval_every=2,
                       eval_size=8, timestep_every=2, clip="global_clipnorm")  # fmt: skip
    return RunSpec(task="adding", length=50, cell=cell, units=32, batch_size=32, steps=steps,
                   learning_rate=0.01, eval_every=100, eval_size=512, timestep_every=100,
                   clip="global_clipnorm")  # fmt: skip


def time_seeds(cell: str, seeds: int, seed_group: int, steps: int, quick: bool = False) -> dict:
    """Trains `seeds` seeds of `seed_group_spec` in this process, in groups of `seed_group`;
    returns the training seconds (from the first model build to the last record) and the
    process's peak resident memory in MiB."""
    from experiments.engine.execution import execute_group, seed_groups, set_threads

    set_threads(1)  # one worker's share on the 2-core machine with 2 workers
    base = replace(seed_group_spec(cell, steps, quick), seed_group=seed_group)
    start = time.perf_counter()
    for group in seed_groups([replace(base, seed=s) for s in range(seeds)]):
        for files in execute_group(group):
            if files[SUMMARY_FILE]["status"] != "completed":
                raise RuntimeError(f"{cell} seed group {seed_group}: {files[SUMMARY_FILE]}")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": _peak_mib()}


def _peak_mib() -> float:
    """This process's peak resident memory in MiB. Linux's `VmHWM` first: `ru_maxrss` carries the
    parent's peak across fork and exec, so a child of the big bench process would report it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed_group_rows(
    cells=("lstm", "gru"), seeds: int = 8, steps: int = 600, repeats: int = 3, quick: bool = False
) -> list[dict]:
    """Runs per hour of `seeds` seeds trained as one group vs one at a time (`seed_group = 1`),
    each arm a fresh process, alternating, medians; the grouped arm's peak memory in the
    setting."""
    rows = []
    for cell in cells:
        results: dict[int, list[dict]] = {seeds: [], 1: []}
        for _ in range(repeats):
            for group_size in (seeds, 1):
                code = (
                    "import json; from experiments.engine.bench import time_seeds; "
                    f"print(json.dumps(time_seeds({cell!r}, {seeds}, {group_size}, {steps}, "
                    f"{quick})))"
                )
                done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                      text=True, cwd=PACKAGE.parent)  # fmt: skip
                if done.returncode != 0:
                    raise RuntimeError(f"seed-group bench failed:\n{done.stderr[-3000:]}")
                results[group_size].append(json.loads(done.stdout.strip().splitlines()[-1]))
        per_hour = {
            size: seeds * 3600 / statistics.median(r["seconds"] for r in results[size])
            for size in results
        }
        peak = max(r["peak_mib"] for r in results[seeds])
        gates = CELL_BLOCKS[cell]
        spec = seed_group_spec(cell, steps, quick)
        shape = Shape(spec.batch_size, spec.length, spec.units)
        setting = (f"{cell}, {shape}, {steps} steps, {seeds} seeds, fresh process, "
                   f"peak {peak:.0f} MiB grouped")  # fmt: skip
        rows.append(_row("seed groups", setting, f"seed_group {seeds}", "seed_group 1",
                         per_hour[seeds], per_hour[1], 4.0, repeats,
                         steps * step_flops(shape, gates) / 3600, unit_hour=True))  # fmt: skip
    return rows


def grid_rows(workers_list=(1, 2), repeats: int = 3, only: str | None = None) -> list[dict]:
    """Runs per hour of smoke.toml with 1 and with 2 workers.

    Each grid is timed as a whole fresh `python -m experiments run --no-report` process, as a user
    runs it (interpreter start, TensorFlow import and helper start-up included), in alternating
    repeats, medians. `only` keeps the runs whose id contains it (the quick check).
    """
    from experiments.grid.config import load_grid

    config = PACKAGE / "configs" / "smoke.toml"
    grid = load_grid(config)
    runs = sum(1 for s in grid.runs if only is None or only in s.run_id)
    seconds: dict[int, list[float]] = {w: [] for w in workers_list}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for workers in workers_list:
                out = Path(tmp) / f"w{workers}-r{repeat}"
                command = [sys.executable, "-m", "experiments", "run", str(config),
                           "--workers", str(workers), "--out", str(out), "--no-report"]  # fmt: skip
                command += ["--only", only] if only else []
                start = time.perf_counter()
                done = subprocess.run(command, cwd=PACKAGE.parent, capture_output=True, text=True)
                seconds[workers].append(time.perf_counter() - start)
                finished = len(list((out / grid.name / RUNS_DIR).glob(f"*/{SUMMARY_FILE}")))
                if done.returncode != 0 or finished != runs:
                    raise RuntimeError(
                        f"{' '.join(command)} exited {done.returncode} with {finished}/{runs} "
                        f"runs finished:\n{done.stderr[-3000:]}"
                    )
    per_hour = {w: runs * 3600 / statistics.median(seconds[w]) for w in workers_list}
    many, one = workers_list[-1], workers_list[0]
    setting = f"smoke.toml, {runs} runs, fresh process"
    return [_row("grid", setting, f"{many} workers", f"{one} worker", per_hour[many],
                 per_hour[one], 1.6, repeats, None, unit_hour=True)]  # fmt: skip


def _row(benchmark, setting, a_name, b_name, a, b, target, repeats, flops, time_ratio=False,
         unit_hour=False) -> dict:  # fmt: skip
    ratio = b / a if time_ratio else a / b
    return {
        "benchmark": benchmark,
        "setting": setting,
        "a": a_name + (" (runs/h)" if unit_hour else ""),
        "b": b_name,
        "a_per_s": round(a, 3),
        "b_per_s": round(b, 3),
        "ratio": round(ratio, 3),
        "target": ("<= " if time_ratio else ">= ") + f"{target:g}" if target else "",
        "repeats": repeats,
        "a_roof_fraction": round(a * flops / ROOF_FLOPS, 3) if flops else "",
    }


def _meets(row: dict) -> str:
    if not row["target"]:
        return ""
    op, value = row["target"].split()
    ok = row["ratio"] <= float(value) if op == "<=" else row["ratio"] >= float(value)
    return "meets" if ok else "MISSES"


def run_bench(out_dir: Path, quick: bool = False, stream=sys.stdout) -> list[dict]:
    """Runs every benchmark, writes `<out_dir>/bench.csv` atomically, prints a table."""
    from experiments.engine.execution import set_threads

    set_threads(os.cpu_count() or 1)
    shapes = QUICK_SHAPES if quick else SHAPES
    steps, repeats = (2, 1) if quick else (10, 5)
    rows = cell_rows(shapes, steps, repeats)
    rows += instrumentation_rows(shapes[0], steps, repeats)
    rows += monitor_rows(shapes[0], steps, repeats)
    rows += (
        seed_group_rows(cells=("lstm",), seeds=2, steps=4, repeats=1, quick=True)
        if quick
        else seed_group_rows()
    )
    rows += grid_rows(repeats=1, only="adding12-lstm-standard") if quick else grid_rows()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "bench.csv", csv_text(COLUMNS, [[r[c] for c in COLUMNS] for r in rows]))
    print(format_table(rows), file=stream)
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table of the rows, with whether each meets its target."""
    lines = [
        "| benchmark | setting | A | B | A/s | B/s | ratio | target | | A, fraction of roof |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['benchmark']} | {r['setting']} | {r['a']} | {r['b']} | {r['a_per_s']} | "
            f"{r['b_per_s']} | {r['ratio']} | {r['target']} | {_meets(r)} | "
            f"{r['a_roof_fraction']} |"
        )
    return "\n".join(lines)
