"""Property-based tests of the grid loader: any grid a user can write is either a valid grid or a
`ConfigError` that names the problem (exit 2 from the command line), never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.__main__ import EXIT_CONFIG_ERROR, main
from experiments.grid.config import ConfigError, expand_grid, load_grid
from experiments.vocabulary import NAME_PATTERN

SMOKE = Path(__file__).parents[2] / "experiments" / "configs" / "smoke.toml"
VALID = tomllib.loads(SMOKE.read_text())

# Every kind of value TOML can hold (datetimes aside), and the names and values a grid uses, so
# that mutations hit the loader's real keys as well as foreign ones.
KNOWN_KEYS = sorted(
    {"name", "seeds", "base", "schemes", "sweep", "task", "length", "cell", "scheme", "clip",
     "clip_threshold", "units", "depth", "steps", "optimizer", "learning_rate", "forget_bias",
     "recurrent_initializer", "permuted", "timestep_every", "eval_every", "gates", "candidate",
     "output", "seed", "relu", "standard", "momentum", "gate_init", "kernel_initializer"}
)  # fmt: skip
KNOWN_STRINGS = ["adding", "copy", "digits", "lstm", "gru", "indrnn", "relu", "tanh", "sigmoid",
                 "none", "clipnorm", "adam", "identity", "../../x", "<img src=x>", "a/b", ".", "",
                 "sgd", "matched", "keras", "small_normal", "uniform", "uniform_to_bound",
                 "relu_gates", "log_sigmoid", "softmax", "glu"]  # fmt: skip
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(KNOWN_STRINGS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def mutated_grids(draw) -> dict:
    """The smoke grid with a few of its tables' keys set, replaced or removed at random."""
    grid = {k: (dict(v) if isinstance(v, dict) else v) for k, v in VALID.items()}
    grid["sweep"] = [dict(s) for s in VALID["sweep"]]
    for _ in range(draw(st.integers(1, 4))):
        sweeps = grid.get("sweep") if isinstance(grid.get("sweep"), list) else []
        tables = [grid, *[t for t in [*grid.values(), *sweeps] if isinstance(t, dict)]]
        table = draw(st.sampled_from(tables))
        key = draw(keys)
        if draw(st.booleans()) or key not in table:
            table[key] = draw(values)
        else:
            del table[key]
    return grid


def assert_valid_or_named_error(data) -> None:
    try:
        grid = expand_grid(data, "fuzz.toml")
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
        assert "fuzz.toml" in str(e)
        return
    assert grid.runs, "a valid grid has runs"
    for spec in grid.runs:  # every name that becomes a path is safe
        assert re.fullmatch(NAME_PATTERN, spec.grid) and re.fullmatch(NAME_PATTERN, spec.scheme)
        assert "/" not in spec.run_id and not spec.run_id.startswith(".")


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated_grids())
def test_a_mutated_grid_is_valid_or_a_config_error(data):
    assert_valid_or_named_error(data)


@FUZZ
@given(st.dictionaries(keys, values, max_size=5))
def test_a_random_grid_is_valid_or_a_config_error(data):
    assert_valid_or_named_error(data)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_any_file_content_loads_or_is_a_config_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("fuzz") / "grid.toml"
    path.write_bytes(content)
    try:
        load_grid(path)
    except ConfigError as e:
        assert e.problems


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('name = "../../x"', "`name`"),
        ('name = "<img src=x onerror=alert(1)>"', "`name`"),
        ('[schemes."../../x"]\ngates = "relu"', "[schemes.../../x]"),
        ('[schemes."<img src=x onerror=alert(1)>"]\ncandidate = "relu"', "[schemes.<img"),
        ('[schemes.".hidden"]\ncandidate = "relu"', "[schemes..hidden]"),
        ('[schemes."a b"]\ncandidate = "relu"', "[schemes.a b]"),
    ],
)
def test_names_that_become_paths_are_checked_at_load(tmp_path, capsys, text, key):
    """A grid or scheme name with a '/', markup or a leading dot is refused before anything runs:
    exit 2, the key and the allowed characters named, nothing written."""
    path = tmp_path / "grid.toml"
    path.write_text(f'{text}\nseeds = [0]\n[base]\nsteps = 2\n[[sweep]]\ncell = "lstm"\n')
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == EXIT_CONFIG_ERROR
    err = capsys.readouterr().err
    assert key in err and "letters, digits, '_', '.' and '-'" in err
    assert not out.exists()


def test_a_grid_file_named_unsafely_needs_a_name(tmp_path):
    path = tmp_path / "my grid.toml"
    path.write_text('seeds = [0]\n[[sweep]]\ncell = "lstm"\n')
    with pytest.raises(ConfigError, match=r"`name`: .*'my grid'"):
        load_grid(path)
    path.write_text('name = "mine"\nseeds = [0]\n[[sweep]]\ncell = "lstm"\n')
    assert load_grid(path).name == "mine"
