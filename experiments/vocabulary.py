"""The suite's vocabulary: the names a grid can use and the names its records are written under.

One home for them, imported by the TensorFlow engine (config, models, training, records, runner)
and by the TF-free results side (analysis, findings, plots, report) alike, so it imports nothing but
the standard library. Where a tuple's order matters it is the order every table and figure uses.
"""

from __future__ import annotations

# --------------------------------------------------------------------------------------------------
# What a grid can name

# Cell families, each with the gate blocks of its kernel (LSTM i, f, c, o; CIFG drops i; GRU z, r,
# h; one candidate block for the gate-less cells): the work per step is proportional to it.
CELL_BLOCKS = {
    "lstm": 4,
    "peephole": 4,  # LSTM with peephole connections (Gers & Schmidhuber 2000)
    "cifg": 3,  # LSTM with coupled input and forget gates, i = 1 - f (Greff et al. 2017)
    # Greff et al. 2017's gate ablations: no input (i = 1), forget (f = 1) or output gate (o = 1),
    # the gate's weights dropped (NIAF / NOAF, their activation ablations, are schemes below)
    "nig": 3,
    "nfg": 3,
    "nog": 3,
    "gru": 3,
    # Jozefowicz et al. 2015's evolved cells (gates z, r and a candidate, as a GRU)
    "mut1": 3,
    "mut2": 3,
    "mut3": 3,
    "simple_rnn": 1,  # Elman RNN; with ReLU and `recurrent_initializer = "identity"`: IRNN
    "indrnn": 1,  # Li et al. 2018
}
CELLS = tuple(CELL_BLOCKS)
LSTM_CELLS = ("lstm", "peephole", "cifg", "nig", "nfg", "nog")  # built by `SwappableLSTM`
LSTM_ABLATIONS = {"nig": "input_gate", "nfg": "forget_gate", "nog": "output_gate"}  # gate removed
MUT_CELLS = ("mut1", "mut2", "mut3")  # built by `SwappableMUT(variant=cell)`
GATED_CELLS = (*LSTM_CELLS, "gru", *MUT_CELLS)  # the cells a scheme's `gates` applies to

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
