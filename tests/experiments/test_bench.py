"""The benchmark code runs and writes what it prints (no timing assertions: speed is not tested)."""

from __future__ import annotations

import csv
import io
import math
import re

from experiments.engine import bench


def test_quick_bench_writes_every_comparison(tmp_path):
    stream = io.StringIO()
    rows = bench.run_bench(tmp_path, quick=True, stream=stream)
    with (tmp_path / "bench.csv").open() as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == list(bench.COLUMNS)
    # 3 cell pairs x 2 XLA settings + 2 x 2 instrumented + 2 monitored + seed groups + the grid
    assert len(written) == len(rows) == 14
    pairs = {(r["a"], r["b"]) for r in written}
    assert ("SwappableLSTM", "keras LSTM") in pairs and ("SwappableGRU", "keras GRU") in pairs
    assert ("instrumented + dL/dx_t every 50", "plain fit step") in pairs
    monitored = [
        r for r in written if (r["a"], r["b"]) == ("fit with GradientMonitor", "plain fit")
    ]
    assert [r["target"] for r in monitored] == ["<= 1.05"] * 2
    group = written[-2]
    assert (group["a"], group["b"]) == ("seed_group 2 (runs/h)", "seed_group 1")
    assert group["setting"].startswith("lstm, batch 32, T 5, units 4, 4 steps, 2 seeds")
    assert group["target"] == ">= 4" and float(group["a_roof_fraction"]) >= 0
    assert re.search(r"peak \d+ MiB grouped$", group["setting"])
    grid = written[-1]
    assert (grid["a"], grid["b"]) == ("2 workers (runs/h)", "1 worker")
    assert grid["setting"] == "smoke.toml, 2 runs, fresh process" and grid["target"] == ">= 1.6"
    # Two runs in one fresh process each: start-up alone keeps it far below 2 runs/s.
    assert 0 < float(grid["a_per_s"]) < 7200 and 0 < float(grid["b_per_s"]) < 7200
    for row in written:
        a, b, ratio = float(row["a_per_s"]), float(row["b_per_s"]), float(row["ratio"])
        assert a > 0 and b > 0 and math.isfinite(ratio)
        # Throughput ratios are A/B; instrumentation ratios are time per step, B/A.
        expected = b / a if row["benchmark"] == "instrumentation" else a / b
        assert ratio == round(expected, 3) or abs(ratio - expected) < 2e-3
    table = stream.getvalue()
    # One line per row plus 2 header lines.
    assert table.strip().count("\n") == len(rows) + 1 and "instrumented" in table


def test_step_flops_counts_the_gate_matmuls():
    shape = bench.Shape(batch=64, time=100, units=128)
    # forward: 2*B*T*(F+U)*4U; forward + backward ~ 3x.
    assert bench.step_flops(shape, 4) == 3 * 2 * 64 * 100 * (bench.FEATURES + 128) * 4 * 128
