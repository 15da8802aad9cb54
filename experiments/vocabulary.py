"""The suite's vocabulary: the names a grid can use and the names its records are written under.

One home for them, imported by the TensorFlow engine (config, models, training, records, runner)
and by the TF-free results side (analysis, findings, plots, report) alike, so it imports nothing but
the standard library. Where a tuple's order matters it is the order every table and figure uses.
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------------
# What a grid can name


@dataclass(frozen=True)
class Cell:
    """What the suite knows of one grid cell: the layer that builds it and the facts the grid,
    the engine, the bench and the plots read (the one table of them: `CELL_TABLE`).

    Attributes:
        family: "lstm", "gru", "mut", "simple_rnn" or "indrnn"; `experiments.engine.models` has one
            builder per family, which passes the scheme's activations to the layer.
        layer: the name of the `custom_layers` class that the family's builder uses.
        blocks: the `units`-wide blocks of the layer's bias, in order (LSTM i, f, c, o less each
            removed gate; GRU and MUT z, r, h; one candidate block h for the gate-less cells): the
            work per step is about proportional to their number.
        options: the layer's fixed arguments that make this cell of its family (e.g. CIFG's
            `coupled_input_forget=True`), as (name, value) pairs.
        linestyle: its matplotlib line style in every figure.
    """

    family: str
    layer: str
    blocks: str
    options: tuple[tuple[str, object], ...] = ()
    linestyle: str | tuple = "-"

    @property
    def candidate(self) -> str:
        """The candidate block (the LSTM's c, the others' h); every other block is a gate."""
        return "c" if self.family == "lstm" else "h"

    @property
    def gates(self) -> str:
        """The gate blocks, in bias order ("" for a gate-less cell)."""
        return self.blocks.replace(self.candidate, "")


# Adding a cell: one row here (a new family also needs its builder in `engine/models.py`).
_LSTM, _MUT = "SwappableLSTM", "SwappableMUT"
CELL_TABLE = {
    "lstm": Cell("lstm", _LSTM, "ifco", linestyle="-"),
    # LSTM with peephole connections (Gers & Schmidhuber 2000)
    "peephole": Cell("lstm", _LSTM, "ifco", (("peephole", True),), (0, (5, 1))),
    # coupled input and forget gates, i = 1 - f (Greff et al. 2017)
    "cifg": Cell("lstm", _LSTM, "fco", (("coupled_input_forget", True),), (0, (3, 1, 1, 1, 1, 1))),
    # Greff et al. 2017's gate ablations: no input (i = 1), forget (f = 1) or output gate (o = 1),
    # the gate's weights dropped (NIAF / NOAF, their activation ablations, are schemes below)
    "nig": Cell("lstm", _LSTM, "fco", (("input_gate", False),), (0, (8, 2))),
    "nfg": Cell("lstm", _LSTM, "ico", (("forget_gate", False),), (0, (1, 2))),
    "nog": Cell("lstm", _LSTM, "ifc", (("output_gate", False),), (0, (8, 2, 1, 2))),
    "gru": Cell("gru", "SwappableGRU", "zrh", linestyle="--"),
    # Jozefowicz et al. 2015's evolved cells (gates z, r and a candidate, as a GRU)
    "mut1": Cell("mut", _MUT, "zrh", (("variant", "mut1"),), (0, (4, 2, 4, 2, 1, 2))),
    "mut2": Cell("mut", _MUT, "zrh", (("variant", "mut2"),), (0, (2, 1))),
    "mut3": Cell("mut", _MUT, "zrh", (("variant", "mut3"),), (0, (6, 1, 1, 1))),
    # Elman RNN; with ReLU and `recurrent_initializer = "identity"`: IRNN (Le et al. 2015)
    "simple_rnn": Cell("simple_rnn", "SwappableSimpleRNN", "h", linestyle=":"),
    "indrnn": Cell("indrnn", "IndRNN", "h", linestyle="-."),  # Li et al. 2018
}
CELLS = tuple(CELL_TABLE)
CELL_BLOCKS = {name: len(cell.blocks) for name, cell in CELL_TABLE.items()}
LSTM_CELLS = tuple(name for name, cell in CELL_TABLE.items() if cell.family == "lstm")
MUT_CELLS = tuple(name for name, cell in CELL_TABLE.items() if cell.family == "mut")
GATED_CELLS = tuple(name for name, cell in CELL_TABLE.items() if cell.gates)  # `gates` applies

OPTIMIZERS = ("adam", "sgd", "rmsprop")  # Keras optimizers of the same (capitalised) name
# `gate_init`: "keras", the cell's own gate biases; "matched", biases that start every gate at the
# value a sigmoid gate starts at (its bias b: 0, or `forget_bias` for the LSTM forget gate).
GATE_INITS = ("keras", "matched")
# `kernel_initializer` beside Keras's names: N(0, 0.001) input weights (Le et al. 2015 IRNN).
SMALL_NORMAL = "small_normal"
# `recurrent_initializer` of an IndRNN (a vector u, |u_n| <= 2**(1/T)): u_n ~ U(0, 1) (the cell's
# default), or U(0, 2**(1/T)) (Li et al. 2018, adding problem).
INDRNN_RECURRENT_INITIALIZERS = ("uniform", "uniform_to_bound")
# Each maps 1:1 onto the Keras optimizer argument of the same name; `none` clips nothing.
CLIP_MODES = ("none", "clipvalue", "clipnorm", "global_clipnorm")

# An activation scheme names the activation of each part of a cell: the gates (i, f, o / z, r),
# the candidate branch (g, C~; the only activation of a simple RNN or IndRNN), and the LSTM's
# output (applied to c_t before the output gate).
SCHEME_PARTS = ("gates", "candidate", "output")
STANDARD = {"gates": "sigmoid", "candidate": "tanh", "output": "tanh"}
BUILTIN_SCHEMES = {
    "standard": STANDARD,
    "relu_candidate": {"gates": "sigmoid", "candidate": "relu", "output": "relu"},
    "relu_gates": {"gates": "relu", "candidate": "tanh", "output": "tanh"},
    "hard_sigmoid_gates": {"gates": "hard_sigmoid", "candidate": "tanh", "output": "tanh"},
    # The same activations as `relu_candidate`, under the name a gate-less cell's sweep reads
    # naturally with ("a ReLU simple RNN", IRNN): its only activation is the candidate's.
    "relu": {"gates": "sigmoid", "candidate": "relu", "output": "relu"},
    "all_relu": {"gates": "relu", "candidate": "relu", "output": "relu"},
    # Greff et al. 2017's NIAF (no input activation) and NOAF (no output activation, h = o * c)
    "linear_candidate": {"gates": "sigmoid", "candidate": "linear", "output": "tanh"},
    "linear_output": {"gates": "sigmoid", "candidate": "tanh", "output": "linear"},
}
SCHEMES = tuple(BUILTIN_SCHEMES)

# Task names, in the order of the tables (`experiments.grid.tasks.TASKS` maps each to its class).
TASK_NAMES = ("adding", "copy", "temporal_order", "digits")

# The characters a user-chosen name that becomes part of a path (grid, scheme) may hold.
NAME_CHARACTERS = "letters, digits, '_', '.' and '-' (not starting with '.' or '-')"
NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"

# --------------------------------------------------------------------------------------------------
# What a run's records are called (docs/architecture.md, "Records")

COMPLETED, DIVERGED, FAILED = "completed", "diverged", "failed"
STATUSES = (COMPLETED, DIVERGED, FAILED)
FINISHED = (COMPLETED, DIVERGED)  # results; a failed run is a bug, tried again on the next `run`

RUNS_DIR = "runs"  # <grid_dir>/runs/<run-id>/
TMP_PREFIX = ".tmp-"  # a run folder (or file) still being written
SPEC_FILE = "spec.json"
SUMMARY_FILE = "summary.json"
STEPS_FILE = "steps.csv"
EVAL_FILE = "eval.csv"
VARIABLES_FILE = "variables.csv"
TIMESTEPS_FILE = "timesteps.csv"

STEP_COLUMNS = (
    "step",
    "loss",
    "metric",
    "grad_norm",
    "grad_norm_clipped",
    "max_abs_grad",
    "clip_fraction",
    "learning_rate",
    "seconds",
)
EVAL_COLUMNS = ("step", "loss", "metric")
VARIABLE_COLUMNS = ("step", "variable", "grad_norm", "grad_norm_clipped")
TIMESTEP_COLUMNS = ("step", "t", "grad_norm")
# The per-run CSV files and their columns, in the order `analysis.Tables` stacks them.
CSV_FILES = {
    STEPS_FILE: STEP_COLUMNS,
    EVAL_FILE: EVAL_COLUMNS,
    VARIABLES_FILE: VARIABLE_COLUMNS,
    TIMESTEPS_FILE: TIMESTEP_COLUMNS,
}

# Grid-level outputs beside `runs/`.
SUMMARY_CSV = "summary.csv"
PLOTS_DIR = "plots"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
LOCK_FILE = ".lock"
