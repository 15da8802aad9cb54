"""The claims this suite tests, each judged from the records by a stated, falsifiable rule.

Each finding is a pure function `(tables) -> Finding`: the verdict (`SUPPORTED`, `CONTRADICTED`,
`INCONCLUSIVE`, or `NOT_TESTED` when the grid lacks the runs the claim needs), the rule that gave
it, in words, the exact tests it rests on (`experiments.results.significance`: per task, the test, its
statistic, n, p-value, effect and interval) and the evidence around them (solved counts, times to
solve, budgets).

The conventions every rule shares are `CONVENTIONS`, which the report states once above the
findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from experiments.results import analysis, significance
from experiments.results.analysis import budgets
from experiments.results.compare import (
    CLIPPING,
    context_columns,
    describe_arm,
    match_arms,
    pair_runs,
    paired_tests,
    threshold_runs,
    threshold_table,
    unpaired_tests,
    where,
)
from experiments.results.formatting import num, pct
from experiments.results.significance import (
    A_BETTER,
    COMPARABLE,
    CONTRADICTED,
    DIFFERENT,
    INCONCLUSIVE,
    MARGIN,
    NOT_WORSE,
    SUPPORTED,
    Comparison,
)
from experiments.solving import SUSTAIN
from experiments.vocabulary import (
    BUILTIN_SCHEMES,
    GATED_CELLS,
    LSTM_CELLS,
    MUT_CELLS,
    STANDARD,
)

NOT_TESTED = "not tested by this grid"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED)

FIRING = 0.1  # F4: a pair counts when clipping changed the gradient on >= this share of its steps
CONTROL_RATE = 0.5  # F3: the positive control solves in at least this share of its seeds

RELU_CANDIDATE = {"gates": "sigmoid", "candidate": "relu", "output": "relu"}
RELU_GATES = {"gates": "relu", "candidate": "tanh", "output": "tanh"}
HARD_SIGMOID_GATES = {"gates": "hard_sigmoid", "candidate": "tanh", "output": "tanh"}
ACTIVATIONS = ("scheme", "gates", "candidate", "output", "gate_init")
CLIP_MODES = ("clipvalue", "clipnorm", "global_clipnorm")

# What every rule below shares; the report states them once, above the findings.
CONVENTIONS = (
    f"*Solved*: the held-out metric passed the task's rule at {SUSTAIN} consecutive evaluations; "
    "the run solved at the first of them (a first passage: later worsening or divergence does "
    "not undo it). Failed runs (bugs, not results) are left out.",
    "*Outcome* of a run, lower is better: solved at step s of a budget B -> s / B; not solved -> "
    "2 + its final held-out loss / baseline on a log scale from 0.001 to 10 (in [2, 3]); "
    "diverged without solving -> 4. Solving beats not solving, solving early beats solving late.",
    "*Paired* comparisons (runs with the same seed and settings but for what the claim varies: "
    "same data, same initial weights where shapes agree) use the exact sign test on which run "
    "of each pair has the better outcome (ties dropped); the effect is the net win share "
    "(A's wins - B's wins) / pairs with a 95% Clopper-Pearson-based interval. *Unpaired* "
    "comparisons (different cells) use the Mann-Whitney U test; the effect is Cliff's delta with "
    "a 95% bootstrap interval. Both effects run from -1 to +1 (+1: A always better).",
    "Each claim is tested per task (and per stratum the rule names: optimizer, clip mode, cell). "
    "A task on which no compared run solved carries no information on this outcome and is left "
    "out (named in the evidence). The p-values of a finding are Holm-adjusted together; a "
    f"comparison *favours* an arm at adjusted p < {significance.ALPHA:g}, and shows "
    f"*equivalence* when the effect's interval lies inside +-{MARGIN:g}.",
    "Verdicts are symmetric: *contradicted* needs evidence as strong as *supported* (the opposite "
    "effect, significantly, or equivalence where the claim asserts a difference); otherwise "
    "*inconclusive*, with the seeds that would decide each undecided comparison if the observed "
    "proportions held.",
    "Every verdict holds at the step budget stated with it: the time-to-solve plots show how a "
    "longer or shorter budget would change it.",
)


@dataclass(frozen=True)
class Finding:
    """A claim from the literature and the verdict the data give it.

    Attributes:
        key: "F1" ... "F10".
        claim: the claim, in one sentence.
        source: where the claim comes from.
        verdict: one of `VERDICTS`.
        rule: how the verdict is computed, in words.
        evidence: lines of numbers around the tests (or what the grid lacks).
        budget: the step budgets of the compared runs, per task label (empty when not tested).
        comparisons: the tests the verdict rests on, Holm-adjusted together.
        context: further tests shown beside the verdict, not part of it (e.g. a reference arm).
    """

    key: str
    claim: str
    source: str
    verdict: str
    rule: str
    evidence: tuple[str, ...]
    budget: dict[str, list[int]] = field(default_factory=dict)
    comparisons: tuple[Comparison, ...] = ()
    context: tuple[Comparison, ...] = ()

    @property
    def budget_text(self) -> str:
        """The step budget per task, e.g. "adding50 1000, adding10 1000", or "n/a"."""
        if not self.budget:
            return "n/a"
        return ", ".join(
            f"{label} {'/'.join(str(s) for s in steps)}" for label, steps in self.budget.items()
        )

    def favouring(self, a: str) -> list[Comparison]:
        """The comparisons that favour the arm named `a` (as A or as B)."""
        return [
            c for c in self.comparisons if (c.favours_a and c.a == a) or (c.favours_b and c.b == a)
        ]


def _not_tested(key, claim, source, rule, *why) -> Finding:
    return Finding(key, claim, source, NOT_TESTED, rule, tuple(why))


# --------------------------------------------------------------------------------------------------
def _judge(
    key, claim, source, rule, claim_kind, tests, untestable, arms, extra=(), context=()
) -> Finding:
    """The verdict from `tests` (`significance.decide`), with the arms' descriptions, the strata
    left out and any `extra` evidence lines."""
    everything = pd.concat([frame for frame in arms.values() if len(frame)])
    evidence = [describe_arm(name, frame) for name, frame in arms.items()]
    if untestable:
        evidence.append("left out, no information: " + "; ".join(untestable))
    evidence += list(extra)
    if not tests:
        evidence.append("no task on which the compared runs could differ (none solved)")
        return Finding(key, claim, source, INCONCLUSIVE, rule, tuple(evidence), budgets(everything))
    verdict, decided = significance.decide(tests, claim_kind)
    return Finding(
        key,
        claim,
        source,
        verdict,
        rule,
        tuple(evidence),
        budgets(everything),
        tuple(decided),
        tuple(context),
    )


# --------------------------------------------------------------------------------------------------
# The findings


def f1_relu_candidate(tables) -> Finding:
    """F1: an LSTM with ReLU candidate/cell activations needs gradient clipping."""
    claim = "An LSTM with ReLU candidate and cell-output activations needs gradient clipping."
    source = (
        "seed article 000; Le et al. 2015 (ReLU recurrences); Pascanu et al. 2013 (clipping "
        "against exploding gradients)"
    )
    rule = (
        "LSTM runs with ReLU candidate/output, paired by seed and settings: A = clipped (each "
        "clip mode on its own: clipvalue apart from the two norm clippings) vs B = unclipped, "
        "per task, optimizer and clip mode, at the mode's lowest threshold in the grid (where "
        "clipping fires most; other thresholds are F10's question and are shown beside, so "
        "sweeping thresholds does not split this verdict's tests). Claim: A does better. The "
        "tanh LSTM's same comparison is shown beside it, not part of the verdict."
    )
    runs = tables.runs
    relu = runs[where(runs, LSTM_CELLS, **RELU_CANDIDATE)]
    unclipped = relu[relu["clip"] == "none"]
    clipped = relu[relu["clip"] != "none"]
    if unclipped.empty or clipped.empty:
        return _not_tested(
            "F1", claim, source, rule, "needs ReLU-candidate LSTM runs with and without clipping"
        )
    pairs = pair_runs(tables, clipped, unclipped, vary=CLIPPING)
    if pairs.empty:
        return _not_tested("F1", claim, source, rule, "no clipped run has an unclipped twin")
    keys = context_columns(tables, ("clip_threshold",))
    lowest = pairs["clip_threshold_a"] == pairs.groupby([f"{k}_a" for k in keys], dropna=False)[
        "clip_threshold_a"
    ].transform("min")
    others = pairs[~lowest]
    pairs = pairs[lowest]
    tests, untestable = paired_tests(pairs, "clipped", "unclipped", ("optimizer", "clip_label"))
    higher, _ = paired_tests(others, "clipped", "unclipped", ("optimizer", "clip_label"))
    tanh = runs[where(runs, LSTM_CELLS, **STANDARD)]
    tanh_pairs = pair_runs(
        tables, tanh[tanh["clip"] != "none"], tanh[tanh["clip"] == "none"], CLIPPING
    )
    reference, _ = paired_tests(tanh_pairs, "clipped", "unclipped", ("optimizer", "clip_label"))
    _, higher = significance.decide(higher, A_BETTER)
    _, reference = significance.decide(
        [replace(c, label="tanh LSTM " + c.label) for c in reference], A_BETTER
    )
    arms = {
        "ReLU clipped": _side(pairs, "a"),
        "ReLU unclipped": _side(pairs, "b").drop_duplicates("run_id"),
    }
    return _judge(
        "F1", claim, source, rule, A_BETTER, tests, untestable, arms, context=(*higher, *reference)
    )


def _side(pairs: pd.DataFrame, side: str) -> pd.DataFrame:
    """One side of `_pairs` as runs (the suffix removed)."""
    suffix = f"_{side}"
    return pairs[[c for c in pairs if c.endswith(suffix)]].rename(
        columns=lambda c: c.removesuffix(suffix)
    )


def f2_relu_gates(tables) -> Finding:
    """F2: gates need a saturating activation in [0, 1]; ReLU gates fail."""
    claim = "The gates need a saturating activation with range [0, 1]: ReLU gates do worse."
    source = "seed article 000; Hochreiter & Schmidhuber 1997; Gers et al. 2000"
    rule = (
        "Gated cells (LSTM family, GRU), tanh candidate, paired by seed and settings: A = "
        "sigmoid gates vs B = ReLU gates whose biases start the gates where a sigmoid gate starts "
        '(`gate_init = "matched"`: forget gate at sigmoid(forget_bias), the others at 0.5), so '
        "the verdict is about the activation, not the initialisation; per task and cell. Claim: "
        "A does better. Hard-sigmoid gates (matched; also saturating in [0, 1]) against sigmoid "
        "gates are shown beside it."
    )
    runs = tables.runs
    sigmoid = runs[where(runs, GATED_CELLS, **STANDARD)]
    relu = runs[where(runs, GATED_CELLS, **RELU_GATES, gate_init="matched")]
    if relu.empty or sigmoid.empty:
        return _not_tested(
            "F2",
            claim,
            source,
            rule,
            'needs gated runs with sigmoid gates and with ReLU gates at gate_init = "matched"',
        )
    pairs = pair_runs(tables, sigmoid, relu, vary=ACTIVATIONS)
    if pairs.empty:
        return _not_tested("F2", claim, source, rule, "no ReLU-gate run has a sigmoid twin")
    tests, untestable = paired_tests(pairs, "sigmoid gates", "ReLU gates", ("cell",))
    hard = runs[where(runs, GATED_CELLS, **HARD_SIGMOID_GATES, gate_init="matched")]
    hard_pairs = pair_runs(tables, sigmoid, hard, vary=ACTIVATIONS)
    reference, _ = paired_tests(hard_pairs, "sigmoid gates", "hard-sigmoid gates", ("cell",))
    _, reference = significance.decide(reference, COMPARABLE)
    arms = {
        "sigmoid gates": _side(pairs, "a"),
        "ReLU gates": _side(pairs, "b"),
    }
    if not hard_pairs.empty:
        arms["hard-sigmoid gates"] = _side(hard_pairs, "b")
    return _judge("F2", claim, source, rule, A_BETTER, tests, untestable, arms, context=reference)


def decay_orders(timesteps: pd.DataFrame, at: str = "median") -> pd.Series:
    """Per run: log10(||dL/dx_0|| / ||dL/dx_{T-1}||) at its first logged step (`at="first"`, the
    initialisation), its last (`"last"`), or the median over logged steps (`"median"`).

    Steps where either norm is zero or not finite are left out. Very negative: the gradient that
    reaches the first input has vanished; positive: it grew on its way back (explosion).
    """
    if timesteps.empty:
        return pd.Series(dtype=float)
    frame = analysis.finite(timesteps)
    last_t = frame.groupby("run_id")["t"].transform("max")
    first = frame[frame["t"] == 0].set_index(["run_id", "step"])["grad_norm"]
    last = frame[frame["t"] == last_t].set_index(["run_id", "step"])["grad_norm"]
    ratio = analysis.finite(first / last)
    orders = np.log10(ratio.where(ratio > 0)).dropna()
    grouped = orders.groupby(level="run_id")
    if at == "first":
        return grouped.first()
    if at == "last":
        return grouped.last()
    return grouped.median()


def f3_gradient_through_time(tables) -> Finding:
    """F3: gated cells carry the gradient over long spans where a tanh RNN's vanishes."""
    claim = (
        "LSTM and GRU carry the gradient over long spans where a tanh simple RNN's gradient "
        "vanishes."
    )
    source = "seed articles 001, 003; Hochreiter 1991; Bengio et al. 1994"
    rule = (
        "On the adding task at the longest length with both kinds of cell, per run D = "
        "log10(||dL/dx_0|| / ||dL/dx_T-1||) (orders of magnitude the gradient loses from the last "
        "input back to the first; outcome -D, lower is better), at the end of training (the last "
        "logged step) and, separately, at initialisation (step 1). A = each gated cell (standard "
        "activations) vs B = the tanh simple RNN, matched settings, Mann-Whitney. Claim: A "
        "loses fewer orders at the end of training (the verdict); at initialisation it is shown "
        "beside. Positive control: a tanh simple RNN configuration that solves a shorter adding "
        f"task in at least {CONTROL_RATE:.0%} of its seeds; without it the claim cannot be "
        "supported (a tanh RNN that learns nothing may be misconfigured, not vanishing)."
    )
    runs = tables.runs
    end, start = decay_orders(tables.timesteps, "last"), decay_orders(tables.timesteps, "first")
    logged = runs["run_id"].isin(end.index) & (runs["task"] == "adding")
    simple = runs[where(runs, ("simple_rnn",), candidate="tanh") & logged]
    gated = runs[where(runs, ("lstm", "gru"), **STANDARD) & logged]
    lengths = sorted(set(simple["length"]) & set(gated["length"]))
    if not lengths:
        return _not_tested(
            "F3",
            claim,
            source,
            rule,
            "needs adding runs with gradient-through-time records of a tanh simple_rnn and a "
            "standard lstm or gru at the same length",
        )
    length = lengths[-1]
    tests, at_init, arms = [], [], {}
    tanh = simple[simple["length"] == length]
    for cell in ("lstm", "gru"):
        cell_runs = gated[(gated["cell"] == cell) & (gated["length"] == length)]
        matched = match_arms(tables, {"a": cell_runs, "b": tanh}, vary=(*ACTIVATIONS, "cell"))
        if matched["a"].empty:
            continue
        a, b = matched["a"], matched["b"]
        arms[cell] = a
        arms.setdefault("simple_rnn tanh", b)
        label = f"adding{length}"
        for orders, into in ((end, tests), (start, at_init)):
            into.append(
                significance.unpaired(
                    label,
                    cell,
                    "simple_rnn",
                    -orders[a["run_id"]].to_numpy(),
                    -orders[b["run_id"]].to_numpy(),
                )
            )
    if not tests:
        return _not_tested("F3", claim, source, rule, "no gated run matches a tanh RNN's settings")
    control = runs[where(runs, ("simple_rnn",), candidate="tanh") & (runs["task"] == "adding")]
    control = control[control["length"] < length]
    rates = control.groupby("task_label")["solved"].mean() if len(control) else pd.Series()
    passed = bool(len(rates)) and rates.max() >= CONTROL_RATE
    control_line = (
        "positive control: "
        + (
            "; ".join(
                f"tanh simple RNN on {label}: {int(control[control['task_label'] == label]['solved'].sum())}"
                f"/{int((control['task_label'] == label).sum())} solved"
                for label in rates.index
            )
            if len(rates)
            else "none in the grid (a tanh simple RNN on a shorter adding task)"
        )
        + (" -> passed" if passed else " -> not passed")
    )
    medians = [
        f"{name}: median D at initialisation {start[frame['run_id']].median():+.2f}, at the end "
        f"of training {end[frame['run_id']].median():+.2f} orders of magnitude ({len(frame)} runs)"
        for name, frame in arms.items()
    ]
    _, at_init = significance.decide(
        [replace(c, label=c.label + " at initialisation") for c in at_init], A_BETTER
    )
    finding = _judge(
        "F3", claim, source, rule, A_BETTER, tests, [], arms, [*medians, control_line], at_init
    )
    if finding.verdict == SUPPORTED and not passed:
        return replace(finding, verdict=INCONCLUSIVE)
    return finding


def f4_clipnorm_vs_global(tables) -> Finding:
    """F4: per-variable `clipnorm` and `global_clipnorm` behave differently when clipping fires."""
    claim = (
        "Per-variable clipping (Keras `clipnorm`) and global-norm clipping (`global_clipnorm`, "
        "Pascanu et al.) behave differently when clipping fires."
    )
    source = "Pascanu et al. 2013 (global rescaling keeps the gradient's direction); Keras docs"
    rule = (
        "Pairs of runs identical but for clipnorm vs global_clipnorm (same seed, threshold and "
        f"settings) in which both runs clipped the gradient on >= {FIRING:.0%} of their steps "
        "(pairs where clipping rarely fired would compare the same training twice); per task, "
        "optimizer and cell. Claim: the two differ (either way); contradicted by equivalence in "
        "every comparison."
    )
    runs = tables.runs
    a = runs[where(runs, clip="global_clipnorm")]
    b = runs[where(runs, clip="clipnorm")]
    pairs = pair_runs(tables, a, b, vary=("clip",))
    if pairs.empty:
        return _not_tested("F4", claim, source, rule, "no pair of clipnorm / global_clipnorm runs")
    firing = (pairs["clipped_steps_a"] >= FIRING) & (pairs["clipped_steps_b"] >= FIRING)
    share = (
        f"{int(firing.sum())} of {len(pairs)} pairs clipped on >= {FIRING:.0%} of steps (median "
        f"share of steps clipped: global_clipnorm {pct(pairs['clipped_steps_a'].median())}, "
        f"clipnorm {pct(pairs['clipped_steps_b'].median())})"
    )
    if not firing.any():
        return _not_tested("F4", claim, source, rule, "clipping never fired often enough: " + share)
    pairs = pairs[firing]
    tests, untestable = paired_tests(
        pairs, "global_clipnorm", "clipnorm", ("optimizer", "cell", "scheme")
    )
    arms = {"global_clipnorm": _side(pairs, "a"), "clipnorm": _side(pairs, "b")}
    return _judge("F4", claim, source, rule, DIFFERENT, tests, untestable, arms, [share])


def f5_gru_vs_lstm(tables) -> Finding:
    """F5: GRU performs comparably to LSTM."""
    claim = "GRU performs comparably to LSTM."
    source = "seed articles 002, 003; Chung et al. 2014; Jozefowicz et al. 2015"
    rule = (
        "Standard activations, matched settings: A = GRU vs B = LSTM runs (forget bias 1; "
        "unpaired: their "
        "weights differ), per task, optimizer and clip mode; Mann-Whitney on the outcome "
        "(whether and how fast each run solved; a task one cell solves and the other does not "
        "counts against comparability, one neither solves is left out). Claim: "
        f"comparable, i.e. equivalence (Cliff's delta's 95% interval inside +-{MARGIN:g}) in "
        "every comparison; contradicted if one cell does significantly better anywhere."
    )
    runs = tables.runs
    wanted = {
        "gru": runs[where(runs, ("gru",), **STANDARD)],
        "lstm": runs[where(runs, ("lstm",), **STANDARD, forget_bias=1.0)],
    }
    if any(frame.empty for frame in wanted.values()):
        return _not_tested("F5", claim, source, rule, "needs standard LSTM and GRU runs")
    frames = match_arms(tables, wanted, vary=("cell",))
    if frames["gru"].empty:
        return _not_tested("F5", claim, source, rule, "no GRU run matches an LSTM run's settings")
    tests, untestable = unpaired_tests(
        frames["gru"], frames["lstm"], "gru", "lstm", ("optimizer", "clip")
    )
    return _judge("F5", claim, source, rule, COMPARABLE, tests, untestable, frames)


def f6_forget_bias(tables) -> Finding:
    """F6: a forget-gate bias of 1 helps the LSTM."""
    claim = "Initialising the LSTM's forget-gate bias to 1 (rather than 0) helps it learn."
    source = "seed article 003; Gers et al. 2000; Jozefowicz et al. 2015"
    rule = (
        "LSTM runs paired by seed and settings: A = forget_bias 1 vs B = forget_bias 0, per "
        "task, optimizer and activation scheme. Claim: A does better."
    )
    runs = tables.runs
    one = runs[where(runs, LSTM_CELLS, forget_bias=1.0)]
    zero = runs[where(runs, LSTM_CELLS, forget_bias=0.0)]
    pairs = pair_runs(tables, one, zero, vary=("forget_bias",))
    if pairs.empty:
        return _not_tested(
            "F6",
            claim,
            source,
            rule,
            "needs LSTM runs with forget_bias 0 and 1 under the same other settings",
        )
    tests, untestable = paired_tests(pairs, "bias 1", "bias 0", ("optimizer", "scheme"))
    arms = {"bias 1": _side(pairs, "a"), "bias 0": _side(pairs, "b")}
    return _judge("F6", claim, source, rule, A_BETTER, tests, untestable, arms)


def _relu_recurrences(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    irnn = runs[
        where(runs, ("simple_rnn",), candidate="relu")
        & (runs.get("recurrent_initializer", pd.Series("", index=runs.index)) == "identity")
    ]
    indrnn = runs[where(runs, ("indrnn",), candidate="relu")]
    return {"IRNN": irnn, "IndRNN": indrnn}


def f7_relu_recurrence(tables) -> Finding:
    """F7: a ReLU RNN with the right initialisation learns long dependencies a tanh RNN cannot."""
    claim = (
        "A ReLU recurrent network with the right initialisation (IRNN: identity recurrent "
        "weights; IndRNN as its paper configures it) learns long dependencies where a tanh RNN "
        "fails."
    )
    source = "seed article 003 (IndRNN); Le et al. 2015 (IRNN); Li et al. 2018 (IndRNN)"
    rule = (
        "Adding task, per length and budget: A = each ReLU recurrence as its paper configures "
        "it (IRNN: simple RNN, ReLU, identity recurrent weights; IndRNN: ReLU) vs B = the tanh "
        "simple RNN (unpaired; each keeps its own learning rate and initialisation, so only the "
        "task and budget are matched), Mann-Whitney on the outcome. Claim: A does better."
    )
    runs = tables.runs
    tanh = runs[where(runs, ("simple_rnn",), candidate="tanh") & (runs["task"] == "adding")]
    relu = {k: v[v["task"] == "adding"] for k, v in _relu_recurrences(runs).items()}
    relu = {k: v for k, v in relu.items() if len(v)}
    if tanh.empty or not relu:
        return _not_tested(
            "F7",
            claim,
            source,
            rule,
            "needs adding runs of a tanh simple RNN and of an IRNN or IndRNN",
        )
    tests, untestable, arms = [], [], {}
    for name, frame in relu.items():
        found, skipped = unpaired_tests(frame, tanh, name, "tanh RNN", ("steps",))
        tests += found
        untestable += skipped
        if found or skipped:
            arms[name] = frame[frame["task_label"].isin(tanh["task_label"])]
    if not arms:
        return _not_tested("F7", claim, source, rule, "no length has both kinds of run")
    labels = set().union(*(set(f["task_label"]) for f in arms.values()))
    arms["tanh RNN"] = tanh[tanh["task_label"].isin(labels)]
    return _judge("F7", claim, source, rule, A_BETTER, tests, untestable, arms)


# Greff et al. 2017's variants as this suite names them: (label, cell, scheme) against the
# standard LSTM (cell "lstm", standard scheme) of the same seed and settings.
HURTS = (("NFG", "nfg", "standard"), ("NOAF", "lstm", "linear_output"))
HARMLESS = (("NOG", "nog", "standard"), ("CIFG", "cifg", "standard"))
SHOWN = (("NIG", "nig", "standard"), ("NIAF", "lstm", "linear_candidate"))


def _combine(*verdicts: str) -> str:
    """One verdict from a claim's parts: supported if every part is, contradicted if any is."""
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def f8_lstm_ablations(tables) -> Finding:
    """F8: the forget gate and the output activation matter most; the output gate, coupling and
    peepholes do not."""
    claim = (
        "Removing the LSTM's forget gate (NFG) or its output activation (NOAF) hurts it; removing "
        "the output gate (NOG), coupling the input and forget gates (CIFG) or removing the "
        "peepholes (NP) does not hurt it significantly."
    )
    source = 'seed article 003; Greff et al. 2017, "LSTM: A Search Space Odyssey"'
    rule = (
        "Each variant against the standard LSTM (sigmoid gates, tanh candidate and output, forget "
        "bias 1, no peepholes), paired by seed and settings (same data; the weights the two share "
        "start equal), per task and optimizer. Part 1, claim the standard LSTM does better than "
        "NFG and than NOAF (h = o * c), each judged apart with its p-values Holm-adjusted; the part "
        "is supported if both are. Part 2, claim NOG and CIFG do at least as well as the "
        "standard LSTM, and so does the LSTM without peepholes against the one with them "
        f"(non-inferiority: no significant loss, and the effect's interval above -{MARGIN:g}), "
        "p-values Holm-adjusted together. Supported if both parts are, contradicted if either "
        "is. NIG and NIAF (which Greff found to hurt less) are shown "
        "beside."
    )
    runs = tables.runs
    standard = runs[where(runs, ("lstm",), **STANDARD, forget_bias=1.0)]
    found = {}
    for label, cell, scheme in (*HURTS, *HARMLESS, *SHOWN):
        variant = runs[where(runs, (cell,), **BUILTIN_SCHEMES[scheme], scheme=scheme)]
        pairs = pair_runs(tables, standard, variant, vary=("cell", *ACTIVATIONS))
        if len(pairs):
            found[label] = pairs
    peephole = runs[where(runs, ("peephole",), **STANDARD, forget_bias=1.0)]
    np_pairs = pair_runs(tables, standard, peephole, vary=("cell",))
    if len(np_pairs):
        found["NP"] = np_pairs
    hurts = [label for label, _, _ in HURTS if label in found]
    harmless = [label for label in (*(h for h, _, _ in HARMLESS), "NP") if label in found]
    if not hurts or not harmless:
        return _not_tested(
            "F8",
            claim,
            source,
            rule,
            "needs standard LSTM runs paired by seed with at least one of NFG (cell nfg) / NOAF "
            "(scheme linear_output) and one of NOG (cell nog) / CIFG (cell cifg) / peephole runs",
        )
    strata = ("optimizer",)
    part1, part2, shown, untestable, verdicts1 = [], [], [], [], []
    for label in hurts:
        tests, skipped = paired_tests(found[label], "LSTM", label, strata)
        untestable += skipped
        # each removal must hurt: one variant doing better cannot stand in for the other
        verdict, tests = significance.decide(tests, A_BETTER) if tests else (INCONCLUSIVE, [])
        verdicts1.append(verdict)
        part1 += tests
    for label in harmless:
        pairs = found[label]
        if label == "NP":  # A = without peepholes (the standard LSTM), B = with them
            tests, skipped = paired_tests(pairs, "LSTM (no peepholes)", "peephole LSTM", strata)
        else:
            swapped = _swap(pairs)
            tests, skipped = paired_tests(swapped, label, "LSTM", strata)
        part2 += tests
        untestable += skipped
    for label, _, _ in SHOWN:
        if label in found:
            shown += paired_tests(found[label], "LSTM", label, strata)[0]
    verdict1 = _combine(*verdicts1)
    verdict2, part2 = significance.decide(part2, NOT_WORSE) if part2 else (INCONCLUSIVE, [])
    _, shown = significance.decide(shown, A_BETTER)
    arms = {
        "LSTM": standard[
            standard["run_id"].isin(pd.concat([p["run_id_a"] for p in found.values()]))
        ]
    }
    for label, pairs in found.items():
        arms["peephole LSTM" if label == "NP" else label] = _side(pairs, "b")
    evidence = [describe_arm(name, frame) for name, frame in arms.items() if len(frame)]
    if untestable:
        evidence.append("left out, no information: " + "; ".join(untestable))
    evidence.append(f"part 1 (hurts): {verdict1}; part 2 (does not hurt): {verdict2}")
    everything = pd.concat(arms.values())
    return Finding(
        "F8",
        claim,
        source,
        _combine(verdict1, verdict2) if part1 and part2 else INCONCLUSIVE,
        rule,
        tuple(evidence),
        budgets(everything),
        (*part1, *part2),
        tuple(shown),
    )


def _swap(pairs: pd.DataFrame) -> pd.DataFrame:
    """`_pairs` with its sides exchanged (A becomes B)."""
    swap = {
        c: c[:-2] + ("_b" if c.endswith("_a") else "_a") for c in pairs if c[-2:] in ("_a", "_b")
    }
    return pairs.rename(columns=swap)


def f9_gru_mut_vs_lstm(tables) -> Finding:
    """F9: GRU and MUT1 learn the non-language tasks at least as well as the LSTM; MUT1 at least
    as well as GRU."""
    claim = (
        "GRU and MUT1 learn these (non-language) tasks at least as well as the LSTM, and MUT1 at "
        "least as well as GRU."
    )
    source = (
        'seed article 003; Jozefowicz et al. 2015, "An Empirical Exploration of Recurrent '
        'Network Architectures"'
    )
    rule = (
        "Standard activations (sigmoid gates, tanh candidate), matched settings; unpaired (the "
        "cells' weights differ), Mann-Whitney on the outcome, per task, optimizer and clip mode: "
        "GRU vs LSTM (forget bias 1, as Jozefowicz et al. recommend), MUT1 vs LSTM, MUT1 vs GRU. "
        "Claim: the first arm does at least as well (no significant loss, and Cliff's delta's "
        f"interval above -{MARGIN:g}) in every comparison. MUT2 and MUT3 against the LSTM are "
        "shown beside."
    )
    runs = tables.runs
    cells = {
        "lstm": runs[where(runs, ("lstm",), **STANDARD, forget_bias=1.0)],
        **{cell: runs[where(runs, (cell,), **STANDARD)] for cell in ("gru", *MUT_CELLS)},
    }
    if cells["lstm"].empty or cells["mut1"].empty or cells["gru"].empty:
        return _not_tested("F9", claim, source, rule, "needs standard LSTM, GRU and MUT1 runs")
    strata = ("optimizer", "clip_label")
    tests, untestable, arms = [], [], {}
    for a, b in (("gru", "lstm"), ("mut1", "lstm"), ("mut1", "gru")):
        matched = match_arms(tables, {a: cells[a], b: cells[b]}, vary=("cell",))
        found, skipped = unpaired_tests(matched[a], matched[b], a, b, strata)
        tests += found
        untestable += skipped
        for name in (a, b):
            arms[name] = pd.concat([arms.get(name, matched[name].iloc[:0]), matched[name]])
    arms = {k: v.drop_duplicates("run_id") for k, v in arms.items() if len(v)}
    if not arms:
        return _not_tested("F9", claim, source, rule, "no MUT1 run matches an LSTM's settings")
    shown = []
    for cell in ("mut2", "mut3"):
        if len(cells[cell]):
            matched = match_arms(tables, {cell: cells[cell], "lstm": cells["lstm"]}, vary=("cell",))
            shown += unpaired_tests(matched[cell], matched["lstm"], cell, "lstm", strata)[0]
            if len(matched[cell]):
                arms[cell] = matched[cell]
    _, shown = significance.decide(shown, NOT_WORSE)
    return _judge("F9", claim, source, rule, NOT_WORSE, tests, untestable, arms, context=shown)


def f10_clip_threshold(tables) -> Finding:
    """F10: a low clipping threshold (clipping often) works better than a high one."""
    claim = (
        "Clipping often (a low threshold) is very effective: a low threshold does better than a "
        "high one."
    )
    source = (
        "seed article 003; Pascanu et al. 2013 (clipping against exploding gradients); "
        "Keras's `clipvalue`, `clipnorm`, `global_clipnorm`"
    )
    rule = (
        "Runs identical but for the clipping threshold (same seed, cell, activations, optimizer "
        "and clip mode), per task, optimizer, clip mode, cell and scheme with at least two "
        "thresholds: A = the lowest threshold vs B = the highest, paired by seed (sign test). "
        "Claim: A does better. Each threshold against unclipped training (the clip rate's "
        "effect) is shown beside; the share of steps on which clipping fired is given per "
        "threshold (the report's plot of the outcome against it)."
    )
    swept, unclipped = threshold_runs(tables)
    keys = context_columns(tables, ("clip_threshold",))
    if swept.empty:
        return _not_tested(
            "F10",
            claim,
            source,
            rule,
            "needs runs that differ only in the clipping threshold (two thresholds or more)",
        )
    low = swept[swept["clip_threshold"] == swept.groupby(keys)["clip_threshold"].transform("min")]
    high = swept[swept["clip_threshold"] == swept.groupby(keys)["clip_threshold"].transform("max")]
    pairs = pair_runs(tables, low, high, vary=("clip_threshold", "clip_label"))
    pairs["thresholds_a"] = [
        f"{a:g} vs {b:g}"
        for a, b in zip(pairs["clip_threshold_a"], pairs["clip_threshold_b"], strict=True)
    ]
    strata = ("optimizer", "clip", "cell", "scheme")
    tests, untestable = paired_tests(
        pairs, "low threshold", "high threshold", (*strata, "thresholds")
    )
    shown = []
    for threshold, group in swept.groupby("clip_threshold"):
        found, _ = paired_tests(
            pair_runs(tables, group, unclipped, vary=CLIPPING),
            f"threshold {threshold:g}",
            "unclipped",
            strata,
        )
        shown += found
    _, shown = significance.decide(shown, A_BETTER)
    table = threshold_table(pd.concat([swept, unclipped]))
    lines = [
        f"{r.task_label} {r.optimizer} {r.cell} {r.scheme} {r.clip}"
        + (f" {r.threshold:g}" if r.clip != "none" else "")
        + f": {int(round(r.solved * r.runs))}/{r.runs} solved, clipped on {pct(r.clipped_steps)} "
        f"of steps, median step solved {num(r.step_solved)}"
        for r in table.itertuples()
    ]
    arms = {"low threshold": _side(pairs, "a"), "high threshold": _side(pairs, "b")}
    return _judge(
        "F10", claim, source, rule, A_BETTER, tests, untestable, arms, lines, context=shown
    )


FINDINGS = (
    f1_relu_candidate,
    f2_relu_gates,
    f3_gradient_through_time,
    f4_clipnorm_vs_global,
    f5_gru_vs_lstm,
    f6_forget_bias,
    f7_relu_recurrence,
    f8_lstm_ablations,
    f9_gru_mut_vs_lstm,
    f10_clip_threshold,
)

# Which grid decides what: the runs `make experiments` (configs/default.toml) gives each finding,
# and what only configs/full.toml (a cluster's work) adds. test_config checks both grids hold them.
SCOPE = {
    "F1": (
        "the ReLU-candidate LSTM unclipped and under each clip mode, adding T = 50, Adam and SGD",
        "copy memory, longer spans (T up to 400), thresholds 0.1 / 1 / 10",
    ),
    "F2": ("LSTM and GRU with ReLU and hard-sigmoid gates, adding T = 50", "copy, longer spans"),
    "F3": (
        "gradient through time of the LSTM, GRU and tanh RNN, adding T = 50 (T = 5 control)",
        "longer spans (T up to 400)",
    ),
    "F4": ("clipnorm vs global_clipnorm, ReLU-candidate and tanh LSTM, adding T = 50", "copy"),
    "F5": ("GRU vs LSTM, adding T = 50 and 100", "copy, temporal order, longer spans"),
    "F6": ("forget bias 0 vs 1, adding T = 50", "T = 100 and 200"),
    "F7": ("IRNN and IndRNN vs the tanh RNN, adding T = 50", "T up to 400"),
    "F8": (
        "NFG, NOG, CIFG, peepholes and NOAF vs the LSTM, adding T = 50, Adam",
        "NIG and NIAF, temporal order, copy, longer spans",
    ),
    "F9": ("MUT1 vs GRU vs LSTM, adding T = 50 and 100", "MUT2 and MUT3, temporal order, copy"),
    "F10": (
        "thresholds 0.25 and 1 for the ReLU-candidate LSTM, each clip mode, Adam and SGD",
        "thresholds 0.1 / 1 / 10 for every cell and activation scheme, copy, longer spans",
    ),
}


def judge(tables) -> list[Finding]:
    """Every finding of `FINDINGS`, judged on `tables` (an `analysis.Tables`)."""
    return [finding(tables) for finding in FINDINGS]
