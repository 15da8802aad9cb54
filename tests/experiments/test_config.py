"""Tests of `experiments.grid.config` and the CLI's config handling: expansion, run ids, validation.

Bad grids go through the CLI entry point in-process (`experiments.__main__.main`): exit code 2, the
expected message on stderr, and nothing written to the out folder. `--dry-run`, `--only` and
`tasks` are checked here too (they train nothing), and `--seeds`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path

import pytest

from experiments.__main__ import EXIT_CONFIG_ERROR, main, parse_seeds
from experiments.grid.config import (
    ConfigError,
    RunSpec,
    equivalent_gate_bias,
    expand_grid,
    load_grid,
)
from experiments.vocabulary import BUILTIN_SCHEMES, CELLS, CLIP_MODES

CONFIGS = Path(__file__).parents[2] / "experiments" / "configs"

SWEEPS = """
[[sweep]]
cell = ["lstm", "gru"]
clip = ["none", "global_clipnorm"]

[[sweep]]
cell = "simple_rnn"
scheme = "relu"
"""


@pytest.fixture
def grid_text(tiny_base):
    return 'name = "tiny"\nseeds = [0, 1]\n' + tiny_base + SWEEPS


# --------------------------------------------------------------------------------------------------
# Expansion and run ids


def test_expansion_is_the_product_of_the_axes_per_seed(write_grid, grid_text):
    grid = load_grid(write_grid(grid_text))
    assert grid.name == "tiny"
    assert len(grid.runs) == (2 * 2 + 1) * 2
    assert {(s.cell, s.clip, s.seed) for s in grid.runs if s.cell != "simple_rnn"} == {
        (c, k, seed)
        for c in ("lstm", "gru")
        for k in ("none", "global_clipnorm")
        for seed in (0, 1)
    }
    for spec in grid.runs:
        assert spec.grid == "tiny"
        assert (spec.units, spec.length, spec.steps, spec.jit_compile) == (4, 6, 4, False)
        scheme = BUILTIN_SCHEMES[spec.scheme]
        assert (spec.gates, spec.candidate, spec.output) == (
            scheme["gates"],
            scheme["candidate"],
            scheme["output"],
        )
    ids = [s.run_id for s in grid.runs]
    assert len(set(ids)) == len(ids)
    for run_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+", run_id), run_id  # file-name safe
        assert run_id.startswith("adding6-")


def test_same_spec_same_id_and_any_change_a_new_id(write_grid, grid_text):
    first = load_grid(write_grid(grid_text, "a.toml"))
    again = load_grid(write_grid(grid_text, "b.toml"))
    assert [s.run_id for s in first.runs] == [s.run_id for s in again.runs]

    changed = load_grid(write_grid(grid_text.replace("units = 4", "units = 5"), "c.toml"))
    old_ids = {s.run_id for s in first.runs}
    assert old_ids.isdisjoint(s.run_id for s in changed.runs)

    spec = first.runs[0]
    assert RunSpec.from_dict(spec.to_dict()) == spec
    assert RunSpec.from_dict(spec.to_dict()).run_id == spec.run_id
    for change in ({"learning_rate": 0.002}, {"eval_size": 17}, {"jit_compile": True}):
        other = dataclasses.replace(spec, **change)
        assert other.run_id != spec.run_id
        assert other.run_id.rsplit("-", 1)[0] == spec.run_id.rsplit("-", 1)[0]  # same readable part


def test_custom_scheme_digits_length_and_float_values():
    grid = expand_grid(
        {
            "name": "x",
            "schemes": {"soft": {"gates": "hard_sigmoid", "candidate": "softsign"}},
            "base": {"learning_rate": 1, "clip_threshold": 2},
            "sweep": [{"task": "digits", "cell": "gru", "scheme": "soft"}],
        }
    )
    (spec,) = grid.runs
    assert (spec.gates, spec.candidate, spec.output) == ("hard_sigmoid", "softsign", "tanh")
    assert spec.length == 64  # digits: fixed by the task
    assert isinstance(spec.learning_rate, float) and isinstance(spec.clip_threshold, float)


# --------------------------------------------------------------------------------------------------
# Validation: exit code 2, the message, nothing written


def bad_grid(top: str = "", base: str = "", sweep: str = 'cell = "lstm"', extra: str = "") -> str:
    return (
        f'name = "bad"\nseeds = [0]\n{top}\n[base]\nlength = 6\nunits = 4\n{base}\n'
        f"{extra}\n[[sweep]]\n{sweep}\n"
    )


BAD = {
    "unknown top-level key seed": (bad_grid(top="seed = [0]"), "unknown key `seed`"),
    "unknown top-level key nmae": (bad_grid(top='nmae = "x"'), "unknown key `nmae`"),
    "unknown key in base": (bad_grid(base="unit = 8"), "[base]: unknown key `unit`"),
    "seed in base": (bad_grid(base="seed = 1"), "seeds are set by the top-level `seeds`"),
    "unknown key in sweep": (
        bad_grid(sweep='cels = ["lstm"]'),
        "[[sweep]] 1: unknown key `cels`",
    ),
    "unknown task": (bad_grid(sweep='task = "adder"'), "unknown task 'adder'"),
    "unknown cell": (bad_grid(sweep='cell = ["lstm", "lsmt"]'), "unknown cell 'lsmt'"),
    "unknown scheme": (bad_grid(sweep='scheme = "relu_all"'), "unknown scheme 'relu_all'"),
    "unknown activation in a scheme": (
        bad_grid(extra='[schemes.mine]\ngates = "rleu"', sweep='scheme = "mine"'),
        "[schemes.mine] gates: unknown activation 'rleu'",
    ),
    "unknown part in a scheme": (
        bad_grid(extra='[schemes.mine]\nforget = "relu"'),
        "[schemes.mine]: unknown key `forget`",
    ),
    "unknown optimizer": (bad_grid(base='optimizer = "sdg"'), "unknown optimizer 'sdg'"),
    "unknown clip mode": (bad_grid(sweep='clip = ["clip_norm"]'), "unknown clip 'clip_norm'"),
    "length 0": (bad_grid(sweep="length = 0"), "length: expected a positive integer, got 0"),
    "steps -5": (bad_grid(base="steps = -5"), "steps: expected a positive integer, got -5"),
    "batch_size 0": (
        bad_grid(base="batch_size = 0"),
        "batch_size: expected a positive integer, got 0",
    ),
    "learning_rate 0": (
        bad_grid(sweep="learning_rate = [0.1, 0]"),
        "learning_rate: expected a finite learning rate > 0, got 0",
    ),
    "clip_threshold 0": (
        bad_grid(sweep='clip = "clipnorm"\nclip_threshold = 0'),
        "clip_threshold: expected a finite clip threshold > 0, got 0",
    ),
    "clip_threshold -1": (
        bad_grid(base="clip_threshold = -1.0"),
        "clip_threshold: expected a finite clip threshold > 0, got -1.0",
    ),
    "clip_threshold inf": (
        bad_grid(base="clip_threshold = inf"),
        "clip_threshold: expected a finite clip threshold > 0, got inf",
    ),
    "negative seed": (
        'name = "bad"\nseeds = [0, -1]\n[[sweep]]\ncell = "lstm"\n',
        "expected a non-empty list of integers >= 0",
    ),
    "indrnn initializer": (
        bad_grid(sweep='cell = "indrnn"\nrecurrent_initializer = "identity"'),
        "`recurrent_initializer` 'identity' does not apply to indrnn, whose recurrent weight is "
        "a vector bounded by 2**(1/T); valid for indrnn: ['uniform', 'uniform_to_bound']",
    ),
    "uniform_to_bound on lstm": (
        bad_grid(sweep='cell = ["indrnn", "lstm"]\nrecurrent_initializer = "uniform_to_bound"'),
        "'uniform_to_bound' applies to indrnn only, not 'lstm'",
    ),
    "unknown kernel initializer": (
        bad_grid(base='kernel_initializer = "small_normall"'),
        "kernel_initializer: unknown initializer 'small_normall'",
    ),
    "momentum 1": (
        bad_grid(sweep='optimizer = "sgd"\nmomentum = [0.9, 1.0]'),
        "momentum: expected SGD's momentum, a number in [0, 1), got 1.0",
    ),
    "momentum -0.5": (bad_grid(base="momentum = -0.5"), "in [0, 1), got -0.5"),
    "unknown gate_init": (
        bad_grid(sweep='gate_init = "sigmoid"'),
        "unknown gate_init 'sigmoid'; valid: ['keras', 'matched']",
    ),
    "matched gates that never reach a sigmoid gate's value": (
        bad_grid(
            extra='[schemes.negative]\ngates = "log_sigmoid"',
            sweep='scheme = "negative"\ngate_init = "matched"',
        ),
        "gate_init 'matched' with scheme 'negative': gate activation 'log_sigmoid' never "
        "reaches 0.5",
    ),
    "timestep_every -1": (bad_grid(base="timestep_every = -1"), "expected an integer >= 0"),
    "jit_compile not a bool": (bad_grid(base='jit_compile = "yes"'), "expected true or false"),
    "list in base": (bad_grid(base='cell = ["lstm"]'), "expected a single value, got a list"),
    "empty list in sweep": (bad_grid(sweep="cell = []"), "cell: empty list"),
    "empty seeds": (bad_grid().replace("seeds = [0]", "seeds = []"), "`seeds`: expected"),
    "single [sweep] table": (
        bad_grid().replace("[[sweep]]", "[sweep]"),
        "expected one or more [[sweep]] tables",
    ),
    "length too short for the task": (
        bad_grid(sweep='task = "temporal_order"\nlength = 5'),
        "task 'temporal_order'",
    ),
    "invalid TOML": ('name = "bad"\n[base\nunits = 4\n', "not valid TOML"),
    "gated scheme on simple_rnn": (
        bad_grid(sweep='cell = ["lstm", "simple_rnn"]\nscheme = "relu_gates"'),
        "scheme 'relu_gates' sets the gates, which cell 'simple_rnn' does not have",
    ),
}


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("text", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_config_exits_2_and_writes_nothing(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", str(path), "--out", str(out)], capsys)
    assert code == 2
    assert message in stderr
    assert str(path) in stderr  # the message names the file
    assert not out.exists()
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_grid(path)


def test_missing_file_exits_2(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, stderr = run_cli(["run", str(tmp_path / "nope.toml"), "--out", str(out)], capsys)
    assert code == 2
    assert "nope.toml: no such file" in stderr
    assert not out.exists()


def test_several_problems_are_reported_at_once(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(bad_grid(top="nmae = 'x'", base="steps = -5", sweep='cell = "lsmt"'))
    out = tmp_path / "out"
    code, _, stderr = run_cli(["run", str(path), "--out", str(out)], capsys)
    assert code == 2
    assert "3 problem(s)" in stderr
    for message in ("unknown key `nmae`", "steps: expected a positive integer", "'lsmt'"):
        assert message in stderr
    assert not out.exists()
    with pytest.raises(ConfigError) as info:
        load_grid(path)
    assert len(info.value.problems) == 3


def test_schemes_not_a_table_is_a_config_error():
    with pytest.raises(ConfigError, match=r"\[schemes\]"):
        expand_grid({"schemes": 3})


def test_workers_below_one_exits_2(write_grid, grid_text, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, stderr = run_cli(
        ["run", str(write_grid(grid_text)), "--out", str(out), "--workers", "0"], capsys
    )
    assert code == 2 and "--workers" in stderr
    assert not out.exists()


# --------------------------------------------------------------------------------------------------
# --dry-run, --only, tasks


def test_dry_run_lists_every_run_and_an_estimate_and_writes_nothing(
    write_grid, grid_text, tmp_path, capsys
):
    path = write_grid(grid_text)
    grid = load_grid(path)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(["run", str(path), "--out", str(out), "--dry-run"], capsys)
    assert code == 0
    groups = {}
    for spec in grid.runs:
        line = rf"^{re.escape(spec.run_id)}\s+group (\d+) \((\d+) seeds, ~\d+ s\)$"
        match = re.search(line, stdout, re.MULTILINE)
        assert match, spec.run_id
        groups.setdefault(match[1], []).append((spec, int(match[2])))
    for members in groups.values():  # a group is one configuration's seeds, and says its size
        assert len({repr({**s.to_dict(), "seed": 0}) for s, _ in members}) == 1
        assert all(size == len(members) for _, size in members)
    assert len(groups) < len(grid.runs)
    assert re.search(
        rf"^{len(grid.runs)} runs in {len(groups)} seed group\(s\), about [\d.]+ min on one core",
        stdout,
        re.M,
    )
    assert not out.exists()


def test_dry_run_says_when_workers_outnumber_the_groups(write_grid, tmp_path, capsys):
    path = write_grid('name = "g"\nseeds = [0, 1, 2]\n[base]\nsteps = 2\n')
    args = ["run", str(path), "--out", str(tmp_path), "--dry-run", "--workers", "3"]
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0
    assert "1 seed group(s) for 3 workers" in stdout
    code, stdout, _ = run_cli([*args[:-1], "1"], capsys)
    assert "workers share groups" not in stdout


def test_only_filters_runs(write_grid, grid_text, tmp_path, capsys):
    path = write_grid(grid_text)
    grid = load_grid(path)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        ["run", str(path), "--out", str(out), "--dry-run", "--only=-gru-"], capsys
    )
    assert code == 0
    listed = [line.split()[0] for line in stdout.splitlines() if "~" in line]
    assert sorted(listed) == sorted(s.run_id for s in grid.runs if s.cell == "gru")
    assert len(listed) == 4
    assert "4 runs in 2 seed group(s), about" in stdout

    code, _, stderr = run_cli(["run", str(path), "--out", str(out), "--only", "xyz"], capsys)
    assert code == 2 and "xyz" in stderr
    assert not out.exists()


def test_tasks_command_lists_the_four_tasks(capsys):
    code, stdout, _ = run_cli(["tasks"], capsys)
    assert code == 0
    for name in ("adding", "copy", "temporal_order", "digits"):
        assert re.search(rf"^{name}\(", stdout, re.MULTILINE), name


@pytest.mark.parametrize("name", ["smoke", "default", "full"])
def test_shipped_grids_are_valid(name):
    """Every grid under experiments/configs loads; default.toml has what the issue asks of it."""
    grid = load_grid(Path(__file__).parents[2] / "experiments" / "configs" / f"{name}.toml")
    assert grid.name == name and grid.runs
    if name == "default":
        runs = grid.runs
        assert {"lstm", "gru", "simple_rnn", "indrnn"} <= {r.cell for r in runs}
        assert set(CLIP_MODES) <= {r.clip for r in runs}
        assert len({r.seed for r in runs}) >= 2
        assert "adding" in {r.task for r in runs}
        schemes = {r.scheme for r in runs if r.cell == "lstm"}
        assert {"standard", "relu_candidate", "relu_gates", "hard_sigmoid_gates"} <= schemes
        assert len({r.length for r in runs if r.task == "adding"}) >= 2
        # F8's ablations, F9's MUT1, F10's thresholds per clip mode under both optimizers
        assert {"nfg", "nog", "cifg", "peephole", "mut1"} <= {r.cell for r in runs}
        assert "linear_output" in schemes
        for optimizer in ("adam", "sgd"):
            for clip in CLIP_MODES:
                if clip != "none":
                    clipped = [r for r in runs if (r.optimizer, r.clip) == (optimizer, clip)]
                    assert len({r.clip_threshold for r in clipped}) >= 2, (optimizer, clip)
    if name == "full":  # copy memory: a budget only the full grid affords
        assert {"adding", "copy"} <= {r.task for r in grid.runs}
        assert set(CELLS) <= {r.cell for r in grid.runs}


# --------------------------------------------------------------------------------------------------
# seed_group


def test_seed_group_is_a_positive_scalar():
    grid = expand_grid({"seeds": [0, 1], "base": {"seed_group": 4}})
    assert {s.seed_group for s in grid.runs} == {4}
    for bad in (0, -2, 1.5, "8", True):
        with pytest.raises(ConfigError, match=r"\[base\] seed_group: expected a positive integer"):
            expand_grid({"base": {"seed_group": bad}})
    # A list would make runs that differ in nothing they compute (and share their run ids).
    with pytest.raises(ConfigError, match=r"seed_group: expected a single value, got a list"):
        expand_grid({"sweep": [{"seed_group": [1, 8]}]})


LATER_FIELDS = ("seed_group", "momentum", "gate_init", "kernel_initializer")


def test_seed_group_is_left_out_of_the_run_id():
    alone, grouped = RunSpec(seed_group=1), RunSpec(seed_group=32)
    assert alone.run_id == grouped.run_id and alone.to_dict() != grouped.to_dict()
    # The hash is the one of the spec's fields before seed_group (and the fields added after it)
    # existed: old grids resume.
    before = {k: v for k, v in RunSpec().to_dict().items() if k not in LATER_FIELDS}
    payload = json.dumps(before, sort_keys=True).encode()
    assert RunSpec(seed_group=7).spec_hash == hashlib.sha1(payload).hexdigest()[:8]
    assert RunSpec().spec_hash == "7e01734a"  # the default spec's hash since the first records


@pytest.mark.parametrize(
    "change",
    [{"momentum": 0.9, "optimizer": "sgd"}, {"gate_init": "matched", "gates": "relu"},
     {"kernel_initializer": "small_normal"}],
)  # fmt: skip
def test_a_later_field_counts_in_the_hash_only_when_set(change):
    base = RunSpec(optimizer=change.get("optimizer", "adam"), gates=change.get("gates", "sigmoid"))
    assert dataclasses.replace(base, **change).spec_hash != base.spec_hash
    # At its default, the field is left out: the hash of the spec without it.
    fields = {k: v for k, v in base.to_dict().items() if k not in LATER_FIELDS}
    payload = json.dumps(fields, sort_keys=True).encode()
    assert base.spec_hash == hashlib.sha1(payload).hexdigest()[:8]


# --------------------------------------------------------------------------------------------------
# Normalization: a setting with no effect makes no second run


@pytest.mark.parametrize(
    "sweep",
    [
        {"clip": "none", "clip_threshold": [0.1, 1.0]},
        {"cell": "gru", "forget_bias": [0.0, 1.0]},
        {"optimizer": "adam", "momentum": [0.0, 0.9]},
        {"cell": "lstm", "scheme": "standard", "gate_init": ["keras", "matched"]},
        {"cell": "simple_rnn", "gate_init": ["keras", "matched"]},
    ],
    ids=["clip none", "gru forget bias", "adam momentum", "sigmoid gates", "gate-less cell"],
)
def test_a_setting_without_effect_makes_one_run(sweep):
    (spec,) = expand_grid({"sweep": [sweep]}).runs
    assert spec == RunSpec(grid=spec.grid, cell=sweep.get("cell", "lstm"))


def test_indrnn_uniform_is_the_default_and_uniform_to_bound_a_new_run():
    def runs(**sweep):
        return expand_grid({"sweep": [{"cell": "indrnn", "scheme": "relu", **sweep}]}).runs

    (default,), (uniform,) = runs(), runs(recurrent_initializer="uniform")
    assert uniform == default and default.recurrent_initializer == RunSpec.recurrent_initializer
    (bounded,) = runs(recurrent_initializer="uniform_to_bound")
    assert bounded.run_id != default.run_id


def test_settings_with_an_effect_are_kept():
    sweep = {"cell": "lstm", "clip": "clipnorm", "clip_threshold": [0.1, 1.0],
             "optimizer": "sgd", "momentum": [0.0, 0.9], "scheme": ["standard", "relu_gates"],
             "gate_init": ["keras", "matched"], "forget_bias": [0.0, 1.0]}  # fmt: skip
    runs = expand_grid({"sweep": [sweep]}).runs
    # sigmoid gates: gate_init collapses (2 x 2 x 2 x 1 x 2); relu gates: it counts (x 2)
    assert len(runs) == 8 + 16
    assert {(s.momentum, s.gate_init) for s in runs} == {
        (m, g) for m in (0.0, 0.9) for g in ("keras", "matched")
    }
    assert all(isinstance(s.momentum, float) for s in runs)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_grids_expand_to_normalized_specs(path):
    """Every run of every grid under experiments/configs is its own normalization: no grid holds
    two runs that compute the same thing."""
    for spec in load_grid(path).runs:
        assert spec.normalized() == spec, spec.run_id


SIGMOID_1 = 1 / (1 + math.exp(-1))  # 0.731: a sigmoid forget gate's initial value at bias 1


@pytest.mark.parametrize(
    ("gates", "closed_form"),
    [
        ("sigmoid", lambda b: b),
        ("relu", lambda b: 1 / (1 + math.exp(-b))),
        ("hard_sigmoid", lambda b: 6 * (1 / (1 + math.exp(-b)) - 0.5)),  # relu6(x + 3) / 6
    ],
)
def test_matched_gate_bias_inverts_the_gate_activation(gates, closed_form):
    for bias in (0.0, 1.0):
        assert equivalent_gate_bias(gates, bias) == pytest.approx(closed_form(bias), abs=1e-9)
    assert equivalent_gate_bias("relu", 1.0) == pytest.approx(SIGMOID_1)


# --------------------------------------------------------------------------------------------------
# --seeds


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("4", [4]), ("8-11", [8, 9, 10, 11]), ("0,3,5-7", [0, 3, 5, 6, 7]), (" 2, 1-2", [1, 2])],
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


def test_seeds_option_replaces_the_grids_seeds(write_grid, grid_text, tmp_path, capsys):
    path = write_grid(grid_text)  # seeds = [0, 1]
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        ["run", str(path), "--out", str(out), "--dry-run", "--seeds", "8-10"], capsys
    )
    assert code == 0
    grid = load_grid(path, seeds=[8, 9, 10])
    assert {s.seed for s in grid.runs} == {8, 9, 10} and len(grid.runs) == 5 * 3
    listed = [line.split()[0] for line in stdout.splitlines() if "~" in line]
    assert sorted(listed) == sorted(s.run_id for s in grid.runs)
    # The seeds' runs are the grid's own runs of those seeds: the same ids.
    own = {s.run_id for s in load_grid(path).runs if s.seed == 1}
    assert own == {s.run_id for s in load_grid(path, seeds=[1]).runs}
    assert not out.exists()


@pytest.mark.parametrize("bad", ["7-3", "a", "-1", "", "1,,2", "3-"])
def test_a_bad_seeds_option_exits_2_before_anything_runs(
    write_grid, grid_text, tmp_path, capsys, bad
):
    out = tmp_path / "out"
    code, _, stderr = run_cli(
        ["run", str(write_grid(grid_text)), "--out", str(out), f"--seeds={bad}"], capsys
    )
    assert code == EXIT_CONFIG_ERROR
    assert f"--seeds {bad!r}" in stderr and "8-15" in stderr
    assert not out.exists()
