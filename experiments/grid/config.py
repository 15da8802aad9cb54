"""A TOML grid -> validated, expanded run specs.

A grid file looks like this (see `configs/default.toml`):

    name = "default"              # results go to <out>/<name>/
    seeds = [0, 1]                # every run of the grid is repeated per seed

    [base]                        # what every run shares unless a sweep says otherwise
    units = 32
    steps = 300
    seed_group = 32               # a configuration's seeds train together, up to 32 at once

    [schemes.relu_everything]     # optional: activation schemes beside the built-in ones
    gates = "relu"
    candidate = "relu"
    output = "relu"

    [[sweep]]                     # a sweep: lists are axes (their product is taken),
    task = "adding"               # scalars are fixed; the grid is the union of its sweeps
    length = [30, 100]
    cell = ["lstm", "gru"]
    scheme = ["standard", "relu_gates"]
    clip = ["none", "global_clipnorm"]

Everything is checked before anything runs: every problem is collected into one `ConfigError` that
names the file and the key, so a user fixes a grid in one go.

A setting that has no effect on a run does not make a second run: each spec is normalized
(`RunSpec.normalized`) before its id is computed, so `clip_threshold` under `clip = "none"`,
`forget_bias` of a cell without a forget gate, `momentum` of an optimizer other than SGD, and so on
collapse into one run.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tomllib

from custom_layers.activations import builtin_names as activation_names
from custom_layers.activations import resolve as resolve_activation
from experiments.grid.spec import RunSpec, task_params
from experiments.grid.tasks import TASKS, make_task
from experiments.vocabulary import (
    BUILTIN_SCHEMES,
    CELLS,
    CLIP_MODES,
    GATE_INITS,
    GATED_CELLS,
    INDRNN_RECURRENT_INITIALIZERS,
    LSTM_CELLS,
    NAME_CHARACTERS,
    NAME_PATTERN,
    OPTIMIZERS,
    SCHEME_PARTS,
    SMALL_NORMAL,
    STANDARD,
)


@dataclass(frozen=True)
class Grid:
    """A validated grid: its name, its file and the expanded runs."""

    name: str
    path: Path
    runs: tuple[RunSpec, ...] = field(default_factory=tuple)


class ConfigError(ValueError):
    """Every problem found in a grid file, one per line."""

    def __init__(self, path, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  {path}: {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the grid config:\n{lines}")


_SPEC_FIELDS = {f.name: f for f in dataclasses.fields(RunSpec)}
# Fields a grid may not set directly: they are resolved from other keys.
_DERIVED = {"grid", "seed", *SCHEME_PARTS}
_SETTABLE = sorted(set(_SPEC_FIELDS) - _DERIVED)
_TOP_KEYS = ("name", "seeds", "base", "schemes", "sweep")
_POSITIVE_INTS = (
    "length",
    "units",
    "depth",
    "batch_size",
    "steps",
    "eval_every",
    "eval_size",
    "seed_group",
)
_SCALAR_ONLY = ("seed_group",)  # a list would give runs that differ in nothing they compute
_POSITIVE_FLOATS = ("learning_rate", "clip_threshold")
_FLOATS = (*_POSITIVE_FLOATS, "forget_bias", "momentum")  # stored as floats (TOML may write 1)
MAX_RUNS = 100_000  # a bigger product of axes is a typo, not a grid (and would not fit in memory)


def load_grid(path: str | Path, seeds: list[int] | None = None) -> Grid:
    """Reads, validates and expands a grid file; `seeds`, when given, replace its `seeds`.

    Raises:
        ConfigError: listing every problem (file, key, bad value, valid choices).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, ["no such file"])
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(path, [f"not valid TOML (UTF-8 text): {e}"]) from e
    return expand_grid(data, path, seeds=seeds)


def expand_grid(data: dict, path: str | Path = "grid.toml", seeds: list[int] | None = None) -> Grid:
    """Validates a parsed grid and expands it into run specs (see the module docstring).

    Args:
        seeds: when given, the seeds of every run instead of the grid's top-level `seeds`.
    """
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(path, [f"expected a table of {list(_TOP_KEYS)}, got {data!r}"])
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"unknown key `{key}`; valid top-level keys: {list(_TOP_KEYS)}")
    name = data.get("name", Path(path).stem)
    if problem := _check_name(name):
        problems.append(f"`name`: {problem}")
        name = "grid"
    seeds = data.get("seeds", [0]) if seeds is None else list(seeds)
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        problems.append(f"`seeds`: expected a non-empty list of integers >= 0, got {seeds!r}")
        seeds = [0]

    schemes = dict(BUILTIN_SCHEMES)
    user_schemes = data.get("schemes", {})
    if not isinstance(user_schemes, dict):
        problems.append(f"[schemes]: expected tables [schemes.NAME], got {user_schemes!r}")
        user_schemes = {}
    for scheme_name, parts in user_schemes.items():
        where = f"[schemes.{scheme_name}]"
        if problem := _check_name(scheme_name):
            problems.append(f"{where}: the scheme's name {problem}")
        if not isinstance(parts, dict):
            problems.append(f"{where}: expected a table of {list(SCHEME_PARTS)}")
            continue
        for part, value in parts.items():
            if part not in SCHEME_PARTS:
                problems.append(f"{where}: unknown key `{part}`; valid: {list(SCHEME_PARTS)}")
            elif value not in activation_names():
                problems.append(
                    f"{where} {part}: unknown activation {value!r}; valid: {activation_names()}"
                )
        schemes[scheme_name] = {**STANDARD, **parts}

    base = data.get("base", {})
    if not isinstance(base, dict):
        problems.append("[base]: expected a table")
        base = {}
    problems += _check_values(base, "[base]", schemes, allow_lists=False)

    sweeps = data.get("sweep", [{}])
    if not isinstance(sweeps, list) or not sweeps:
        problems.append("[[sweep]]: expected one or more [[sweep]] tables")
        sweeps = []
    runs: dict[str, RunSpec] = {}
    for number, sweep in enumerate(sweeps, start=1):
        where = f"[[sweep]] {number}"
        sweep_problems = _check_values(sweep, where, schemes, allow_lists=True)
        problems += sweep_problems
        if sweep_problems or problems:
            continue
        axes = {k: v if isinstance(v, list) else [v] for k, v in {**base, **sweep}.items()}
        keys = list(axes)
        points = math.prod(len(v) for v in axes.values()) * len(seeds)
        if points > MAX_RUNS:
            problems.append(f"{where}: {points} runs; a grid holds at most {MAX_RUNS}")
            continue
        for values in itertools.product(*(axes[k] for k in keys)):
            settings = dict(zip(keys, values, strict=True))
            problem = _check_combination(settings, schemes)
            if problem:
                problems.append(f"{where}: {problem}")
                break
            for seed in seeds:
                spec = _resolve(settings, schemes, grid=name, seed=seed)
                runs.setdefault(spec.run_id, spec)
    if problems:
        raise ConfigError(path, problems)
    return Grid(name=name, path=Path(path), runs=tuple(runs.values()))


def _check_name(name) -> str | None:
    """The problem with a user-chosen name that becomes part of a folder name (the grid's, a
    scheme's in every run id), or None."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        return f"expected a name of {NAME_CHARACTERS}, got {name!r}"
    return None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_values(table: dict, where: str, schemes: dict, allow_lists: bool) -> list[str]:
    """The problems with each key and value of a [base] or [[sweep]] table."""
    if not isinstance(table, dict):
        return [f"{where}: expected a table"]
    problems = []
    for key, value in table.items():
        if key not in _SETTABLE:
            hint = " (seeds are set by the top-level `seeds`)" if key == "seed" else ""
            problems.append(f"{where}: unknown key `{key}`{hint}; valid keys: {_SETTABLE}")
            continue
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and key in _SCALAR_ONLY:
            problems.append(f"{where} {key}: expected a single value, got a list")
            continue
        if isinstance(value, list) and (not allow_lists or not value):
            problems.append(
                f"{where} {key}: "
                + ("expected a single value, got a list" if not allow_lists else "empty list")
            )
            continue
        for v in values:
            problem = _check_value(key, v, schemes)
            if problem:
                problems.append(f"{where} {key}: {problem}")
    return problems


def _check_value(key: str, value, schemes: dict) -> str | None:
    """One value's problem, or None."""
    choices = {
        "task": sorted(TASKS),
        "cell": list(CELLS),
        "optimizer": list(OPTIMIZERS),
        "clip": list(CLIP_MODES),
        "scheme": sorted(schemes),
        "gate_init": list(GATE_INITS),
    }
    if key in choices:
        if value not in choices[key]:
            return f"unknown {key} {value!r}; valid: {choices[key]}"
        return None
    if key in _POSITIVE_INTS:
        if not _is_int(value) or value <= 0:
            return f"expected a positive integer, got {value!r}"
        return None
    if key == "timestep_every":
        if not _is_int(value) or value < 0:
            return f"expected an integer >= 0 (0: never), got {value!r}"
        return None
    if key in _POSITIVE_FLOATS:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 < value < math.inf
        ):
            what = "clip threshold" if key == "clip_threshold" else key.replace("_", " ")
            return f"expected a finite {what} > 0, got {value!r}"
        return None
    if key == "momentum":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            return f"expected SGD's momentum, a number in [0, 1), got {value!r}"
        return None
    if key == "forget_bias":
        if value not in (0, 1, 0.0, 1.0) or isinstance(value, bool):
            return f"expected 1.0 (unit forget bias) or 0.0, got {value!r}"
        return None
    if key in ("permuted", "jit_compile", "deterministic"):
        if not isinstance(value, bool):
            return f"expected true or false, got {value!r}"
        return None
    if key in ("recurrent_initializer", "kernel_initializer"):
        # Beside Keras's names, one of the project's (checked per cell in _check_combination).
        ours = INDRNN_RECURRENT_INITIALIZERS if key == "recurrent_initializer" else (SMALL_NORMAL,)
        if value in ours:
            return None
        try:
            if not isinstance(value, str):
                raise TypeError(value)
            keras.initializers.get(value)
        except (ValueError, TypeError):
            examples = ["orthogonal", "identity", *ours]
            return f"unknown initializer {value!r}; a Keras initializer name or one of {examples}"
        return None
    return None


def _check_combination(settings: dict, schemes: dict) -> str | None:
    """A problem with one run's combination of settings (valid values, wrong together)."""
    cell = settings.get("cell", RunSpec.cell)
    scheme_name = settings.get("scheme", RunSpec.scheme)
    scheme = schemes[scheme_name]
    if cell not in GATED_CELLS and scheme["gates"] != "sigmoid":
        return (
            f"scheme {scheme_name!r} sets the gates, which cell {cell!r} does not "
            "have; put gate-less cells in a [[sweep]] of their own"
        )
    initializer = settings.get("recurrent_initializer")
    if cell == "indrnn" and "recurrent_initializer" in settings:
        if initializer not in INDRNN_RECURRENT_INITIALIZERS:
            return (
                f"`recurrent_initializer` {initializer!r} does not apply to indrnn, whose "
                "recurrent weight is a vector bounded by 2**(1/T); valid for indrnn: "
                f"{list(INDRNN_RECURRENT_INITIALIZERS)} (U(0, 1), the default, or U(0, 2**(1/T)))"
            )
    elif initializer == "uniform_to_bound":
        return f"`recurrent_initializer` 'uniform_to_bound' applies to indrnn only, not {cell!r}"
    if settings.get("gate_init") == "matched" and cell in GATED_CELLS:
        gates = scheme["gates"]
        forget_bias = settings.get("forget_bias", RunSpec.forget_bias)
        for bias in {0.0, float(forget_bias)} if cell in LSTM_CELLS else {0.0}:
            try:
                equivalent_gate_bias(gates, bias)
            except ValueError as e:
                return f"gate_init 'matched' with scheme {scheme_name!r}: {e}"
    task_name = settings.get("task", RunSpec.task)
    if settings.get("permuted") and task_name != "digits":
        return f"`permuted` applies to the digits task only, not {task_name!r}"
    try:
        make_task(task_name, **task_params(settings))
    except (TypeError, ValueError) as e:
        return f"task {task_name!r}: {e}"
    return None


def _resolve(settings: dict, schemes: dict, grid: str, seed: int) -> RunSpec:
    scheme = schemes[settings.get("scheme", RunSpec.scheme)]
    values = {**settings, **{part: scheme[part] for part in SCHEME_PARTS}}
    if values.get("task") == "digits":
        values["length"] = 64
    for key in _FLOATS:
        if key in values:
            values[key] = float(values[key])
    return RunSpec(**values, grid=grid, seed=seed).normalized()


_SEARCH_BOUND = 1e3  # equivalent_gate_bias looks for b' in [-bound, bound]


def equivalent_gate_bias(activation: str, sigmoid_bias: float) -> float:
    """The bias b' at which a gate of `activation` g starts where a sigmoid gate of bias b does:
    g(b') = sigmoid(b) (`gate_init = "matched"`), at zero input and state.

    Found numerically (bisection), so any monotone activation works: ReLU gives sigmoid(b),
    Keras's hard_sigmoid (x/6 + 1/2 on [-3, 3]) 6 * (sigmoid(b) - 1/2), sigmoid b itself.

    Raises:
        ValueError: g never takes the value sigmoid(b) on [-1000, 1000] (it is named).
    """
    return _inverse(activation, 1.0 / (1.0 + math.exp(-float(sigmoid_bias))))


@functools.lru_cache(maxsize=64)
def _inverse(activation: str, target: float) -> float:
    """An x in [-_SEARCH_BOUND, _SEARCH_BOUND] with g(x) = target: the first crossing on a grid
    of 65 points, then 64-fold refinements of its bracket (6 bisection steps each) down to 1e-12."""
    unreachable = ValueError(
        f"gate activation {activation!r} never reaches {target:.4g}, a sigmoid gate's initial "
        "value it should start at"
    )
    try:
        g = resolve_activation(activation, "gates")

        def excess(x: np.ndarray) -> np.ndarray:
            with warnings.catch_warnings():  # softmax's over an axis of size 1, say
                warnings.simplefilter("ignore")
                y = g(keras.ops.convert_to_tensor(x[:, None], "float64"))
            return np.asarray(keras.ops.convert_to_numpy(y), np.float64).reshape(len(x)) - target

        low, high = -_SEARCH_BOUND, _SEARCH_BOUND
        while high - low > 1e-12 * max(1.0, abs(low)):
            x = np.linspace(low, high, 65)
            y = excess(x)
            if (exact := np.flatnonzero(y == 0)).size:
                return float(x[exact[0]])
            crossings = np.flatnonzero(np.sign(y[:-1]) * np.sign(y[1:]) < 0)
            if not crossings.size:
                raise unreachable
            low, high = x[crossings[0]], x[crossings[0] + 1]
    except ValueError:
        raise unreachable from None
    except Exception as e:  # an activation that is not elementwise (softmax, glu, ...)
        raise ValueError(
            f"gate activation {activation!r} cannot be inverted elementwise ({type(e).__name__})"
        ) from None
    return float((low + high) / 2)
