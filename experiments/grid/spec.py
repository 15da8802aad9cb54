"""A run spec: every setting of one training run, its readable, stable id, and its task.

`RunSpec` is what a grid expands to (`experiments.grid.config`), what the engine trains and what a
run's `spec.json` records. Its id hashes the settings that change what a run computes; a setting
without effect on a run (`clip_threshold` under `clip = "none"`, ...) is reset before
(`RunSpec.normalized`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from experiments.grid.tasks import Task, make_task
from experiments.vocabulary import CELL_TABLE, GATED_CELLS

# Seeds trained together by default (`seed_group`): what `make bench` measured fastest on the
# 2-core machine; see the README's Performance section.
DEFAULT_SEED_GROUP = 32
# Fields that change how a run is executed, not its result: left out of its hash.
_EXECUTION_FIELDS = ("seed_group",)
# Fields added after runs were recorded: hashed only when they differ from their default, so a run
# recorded before they existed keeps its id (and an old grid resumes).
_HASHED_WHEN_SET = ("momentum", "gate_init", "kernel_initializer")


@dataclass(frozen=True)
class RunSpec:
    """Everything one training run depends on. Its hash names the run's folder."""

    grid: str = "grid"  # the grid this run belongs to
    task: str = "adding"  # a name from experiments.grid.tasks.TASKS
    length: int = 50  # sequence length T (the delay for copy)
    permuted: bool = False  # digits only: a fixed seeded pixel permutation
    cell: str = "lstm"  # one of CELLS
    units: int = 32  # units per recurrent layer
    depth: int = 1  # stacked recurrent layers
    scheme: str = "standard"  # the activation scheme's name
    gates: str = "sigmoid"  # resolved from the scheme
    candidate: str = "tanh"  # resolved from the scheme
    output: str = "tanh"  # resolved from the scheme
    forget_bias: float = 1.0  # LSTM forget-gate bias at init: 1.0 (Jozefowicz et al. 2015) or 0.0
    # Gate biases at init, one of GATE_INITS: "keras", the cell's own (0; the LSTM forget gate
    # `forget_bias`); "matched", each gate's bias b' = g^-1(sigmoid(b)) for those b and the gate
    # activation g, so every gate starts at the value a sigmoid gate starts at (ReLU: 0.5, forget
    # 0.731). GRU: z and r; the candidate's bias is untouched either way.
    gate_init: str = "keras"
    # Input weights of every recurrent layer: a Keras initializer name, or "small_normal" for
    # N(0, 0.001) (Le et al. 2015 IRNN; Li et al. 2018 IndRNN).
    kernel_initializer: str = "glorot_uniform"
    # A Keras initializer name ("identity" with simple_rnn + relu: IRNN). indrnn: the default means
    # its u_n ~ U(0, 1) (written "uniform" in a grid), or "uniform_to_bound": U(0, 2**(1/T)).
    recurrent_initializer: str = "orthogonal"
    optimizer: str = "adam"  # one of OPTIMIZERS
    learning_rate: float = 1e-3
    momentum: float = 0.0  # SGD's momentum, 0 <= m < 1 (0 for the other optimizers)
    batch_size: int = 32
    steps: int = 300  # optimizer steps (one fresh batch each)
    clip: str = "none"  # one of CLIP_MODES
    clip_threshold: float = 1.0  # the value passed to Keras's clipping argument
    eval_every: int = 50  # held-out evaluation every E steps (and at the last step)
    eval_size: int = 512  # held-out examples
    timestep_every: int = 50  # record ||dL/dx_t|| every K steps (0: never)
    jit_compile: bool = False  # XLA for the step: its compile time outweighs it on short runs
    deterministic: bool = False  # TF op determinism (turns XLA off)
    seed_group: int = DEFAULT_SEED_GROUP  # at most this many seeds train as one group (1: alone)
    seed: int = 0

    @property
    def run_id(self) -> str:
        """A readable, file-name-safe id plus a short hash of the full spec."""
        clip = self.clip if self.clip == "none" else f"{self.clip}{self.clip_threshold:g}"
        task = f"{self.task}{self.length}" + ("p" if self.permuted else "")
        return f"{task}-{self.cell}-{self.scheme}-{clip}-s{self.seed}-{self.spec_hash}"

    @property
    def spec_hash(self) -> str:
        # `seed_group` says how the run is executed, not what it computes (a grouped seed equals
        # its single run within float32 rounding), so a grid resumes across a change of it; the
        # fields added later count only when set (`_HASHED_WHEN_SET`).
        identity = {
            k: v
            for k, v in self.to_dict().items()
            if k not in _EXECUTION_FIELDS and not (k in _HASHED_WHEN_SET and v == _DEFAULTS[k])
        }
        payload = json.dumps(identity, sort_keys=True).encode()
        return hashlib.sha1(payload).hexdigest()[:8]

    def normalized(self) -> RunSpec:
        """The same run with every field that has no effect on it at its default, so that specs
        that compute the same thing have one run id:

        - `clip_threshold` when `clip` is "none";
        - `forget_bias` of a cell without an LSTM forget gate (not LSTM-family, or NFG);
        - `momentum` of an optimizer other than "sgd";
        - `gate_init` of sigmoid gates (matching a sigmoid changes nothing) or a gate-less cell;
        - `recurrent_initializer` "uniform" of an indrnn, the cell's own default: the default.
        """
        reset = []
        if self.clip == "none":
            reset.append("clip_threshold")
        if self.cell not in CELL_TABLE or "f" not in CELL_TABLE[self.cell].gates:
            reset.append("forget_bias")  # no forget gate (GRU, MUT, NFG, gate-less cells)
        if self.optimizer != "sgd":
            reset.append("momentum")
        if self.cell not in GATED_CELLS or self.gates == "sigmoid":
            reset.append("gate_init")
        if self.cell == "indrnn" and self.recurrent_initializer == "uniform":
            reset.append("recurrent_initializer")
        changes = {k: _DEFAULTS[k] for k in reset if getattr(self, k) != _DEFAULTS[k]}
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec)}


def task_params(settings: dict) -> dict:
    """The task parameters of a run's settings (a `RunSpec.to_dict()` or a sweep point)."""
    if settings.get("task", RunSpec.task) == "digits":
        return {"permuted": settings.get("permuted", RunSpec.permuted)}
    return {"length": settings.get("length", RunSpec.length)}


def task_for(spec: RunSpec) -> Task:
    """The task a run trains on."""
    return make_task(spec.task, **task_params(spec.to_dict()))
