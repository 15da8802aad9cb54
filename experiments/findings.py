"""The claims this suite tests, each judged from the records by a stated, falsifiable rule.

Each finding is a pure function `(tables) -> Finding`: the verdict (`SUPPORTED`, `CONTRADICTED`,
`INCONCLUSIVE`, or `NOT_TESTED` when the grid lacks the runs the claim needs), the rule that gave
it, in words, and the evidence (counts, rates with 95% Wilson intervals, medians, step budgets).

The conventions every rule shares are `CONVENTIONS`, which the report states once above the
findings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments import analysis
from experiments.analysis import budgets
from experiments.formatting import num, pct
from experiments.vocabulary import COMPLETED, DIVERGED, FINISHED, GATED_CELLS, LSTM_CELLS, STANDARD

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_TESTED = "not tested by this grid"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED)

MIN_RUNS = 4  # runs per arm below which a point-estimate clause cannot decide
RATIO_FLOOR = 1e-3  # final loss / baseline is clipped to [floor, cap] in paired comparisons
RATIO_CAP = 10.0  # ... and a diverged run counts as the cap
DIFFERENT = math.log10(2)  # paired log10 loss ratios differ: a factor 2 or more
SAME = math.log10(1.25)  # ... and agree: within 25%
RATE_SAME = 0.1  # success rates agree: within 10 percentage points
RATE_DIFFERENT = 0.2  # success rates differ: 20 points or more (F4, F5)
F3_SUPPORT = 2.0  # orders of magnitude (log10) by which the simple RNN's gradient decays more
F3_CONTRADICT = 1.0  # ... and below which the difference does not count

RELU_CANDIDATE = {"gates": "sigmoid", "candidate": "relu", "output": "relu"}
RELU_GATES = {"gates": "relu", "candidate": "tanh", "output": "tanh"}
HARD_SIGMOID_GATES = {"gates": "hard_sigmoid", "candidate": "tanh", "output": "tanh"}
ACTIVATIONS = ("scheme", "gates", "candidate", "output")

# What every rule below shares; the report states them once, above the findings.
CONVENTIONS = (
    "Runs are compared *matched*: every arm keeps only the runs whose other settings (the spec "
    "minus what the claim varies, and minus the seed) occur in every arm, so that a comparison is "
    "never decided by a setting only one side was run with. Failed runs (bugs, not results) are "
    "left out.",
    "*Success* is solving the task by its own rule on every task that at least one compared run "
    f"solved, and, on a task none solved, a final held-out loss below {analysis.LEARNED_RATIO:g} x "
    "the memoryless baseline (a graded fallback, so a short budget is not a tie).",
    "Rates come with 95% Wilson intervals, and two rates *differ* when their intervals are "
    f"disjoint. Point-estimate clauses need at least {MIN_RUNS} runs per side.",
    "Paired comparisons (same seed, one setting changed) use the median over pairs of the "
    "difference in log10(final loss / baseline), the ratio clipped to "
    f"[{RATIO_FLOOR:g}, {RATIO_CAP:g}] (a diverged run counts as {RATIO_CAP:g}).",
    "Every verdict holds at the step budget stated with it: a longer budget can flip it.",
)


@dataclass(frozen=True)
class Finding:
    """A claim from the literature and the verdict the data give it.

    Attributes:
        key: "F1" ... "F6".
        claim: the claim, in one sentence.
        source: where the claim comes from.
        verdict: one of `VERDICTS`.
        rule: how the verdict is computed, in words, with its thresholds.
        evidence: lines of numbers the verdict rests on (or what the grid lacks).
        budget: the step budgets of the compared runs, per task label (empty when not tested).
    """

    key: str
    claim: str
    source: str
    verdict: str
    rule: str
    evidence: tuple[str, ...]
    budget: dict[str, list[int]] = field(default_factory=dict)

    @property
    def budget_text(self) -> str:
        """The step budget per task, e.g. "adding50 300, copy5 1000", or "n/a"."""
        if not self.budget:
            return "n/a"
        return ", ".join(
            f"{label} {'/'.join(str(s) for s in steps)}" for label, steps in self.budget.items()
        )


# --------------------------------------------------------------------------------------------------
# Arms, rates and pairs


@dataclass(frozen=True)
class Arm:
    """The runs of one side of a comparison and its success count (see `_score`)."""

    name: str
    runs: pd.DataFrame
    successes: int
    trials: int

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return analysis.wilson_interval(self.successes, self.trials)

    def above(self, other: Arm) -> bool:
        """Whether this arm's 95% interval lies entirely above the other's."""
        return self.trials > 0 and other.trials > 0 and self.interval[0] > other.interval[1]

    def describe(self) -> str:
        low, high = self.interval
        runs = self.runs
        diverged = int((runs["status"] == DIVERGED).sum())
        ratio = runs.loc[runs["status"] == COMPLETED, "loss_ratio"].median()
        half = runs["step_half_baseline"].dropna()
        speed = (
            f"median step {half.median():.0f} ({len(half)}/{len(runs)} runs)"
            if len(half)
            else f"never (0/{len(runs)} runs)"
        )
        return (
            f"{self.name}: {self.successes}/{self.trials} succeeded ({pct(self.rate)}, 95% CI "
            f"{pct(low)}-{pct(high)}), {diverged} diverged; median final loss/baseline of the "
            f"completed runs {num(ratio)}; training loss below half the baseline: {speed}"
        )


def _where(runs: pd.DataFrame, cells=None, **values) -> pd.Series:
    """A mask of the finished runs of `cells` whose columns equal `values`."""
    mask = runs["status"].isin(FINISHED)
    if cells is not None:
        mask &= runs["cell"].isin(cells)
    for key, value in values.items():
        mask &= runs[key] == value
    return mask


def _matched(tables, arms: dict[str, pd.DataFrame], vary) -> dict[str, pd.DataFrame]:
    """Keeps in each arm the runs whose context (spec columns minus `vary`) is in every arm."""
    context = [c for c in tables.spec_columns if c not in vary and c in tables.runs]
    keys = {name: frame[context].apply(tuple, axis=1) for name, frame in arms.items()}
    common = set.intersection(*(set(k) for k in keys.values())) if keys else set()
    return {name: frame[keys[name].isin(common)] for name, frame in arms.items()}


def _success_kinds(frames) -> dict[str, str]:
    """Per task label: "solved" if any of the compared runs solved it, else "learned"."""
    runs = pd.concat(list(frames), ignore_index=True)
    return {
        label: "solved" if group["solved"].astype(bool).any() else "learned"
        for label, group in runs.groupby("task_label", sort=False)
    }


def _success(runs: pd.DataFrame, kinds: dict[str, str]) -> np.ndarray:
    kinds = runs["task_label"].map(kinds)
    return np.where(kinds == "solved", runs["solved"].astype(bool), runs["learned"].astype(bool))


def _arm(name: str, runs: pd.DataFrame, kinds: dict[str, str]) -> Arm:
    return Arm(name, runs, int(_success(runs, kinds).sum()), len(runs))


def _score(frames: dict[str, pd.DataFrame]) -> tuple[dict[str, Arm], dict[str, str]]:
    """The arms of a comparison, scored with the success kinds of all their runs."""
    kinds = _success_kinds(frames.values())
    return {name: _arm(name, frame, kinds) for name, frame in frames.items()}, kinds


def _success_text(kinds: dict[str, str], runs: pd.DataFrame) -> str:
    rules = runs.groupby("task_label", sort=False)["solved_rule"].first().to_dict()
    parts = [
        f"{label}: solved ({rules.get(label)})"
        if kind == "solved"
        else f"{label}: final loss < {analysis.LEARNED_RATIO:g} x baseline (none solved)"
        for label, kind in kinds.items()
    ]
    return "success = " + "; ".join(parts)


def _per_task(arms: dict[str, Arm], kinds: dict[str, str]) -> str:
    parts = []
    for label in kinds:
        counts = []
        for arm in arms.values():
            runs = arm.runs[arm.runs["task_label"] == label]
            if len(runs):
                counts.append(f"{arm.name} {int(_success(runs, kinds).sum())}/{len(runs)}")
        parts.append(f"{label}: " + ", ".join(counts))
    return "per task: " + "; ".join(parts)


def _capped_log_ratio(runs: pd.DataFrame) -> pd.Series:
    ratio = runs["loss_ratio"].where(runs["status"] != DIVERGED, RATIO_CAP)
    return np.log10(ratio.clip(RATIO_FLOOR, RATIO_CAP))


def _pairs(tables, a: pd.DataFrame, b: pd.DataFrame, vary) -> pd.DataFrame:
    """Runs of `a` and `b` with the same seed and context (spec minus `vary`), side by side."""
    keys = [c for c in tables.spec_columns if c not in vary and c in tables.runs] + ["seed"]
    left = a.assign(capped_log_ratio=_capped_log_ratio(a), _key=a[keys].apply(tuple, axis=1))
    right = b.assign(capped_log_ratio=_capped_log_ratio(b), _key=b[keys].apply(tuple, axis=1))
    return left.merge(right, on="_key", suffixes=("_a", "_b"))


def _paired_difference(pairs: pd.DataFrame) -> float:
    """Median over pairs of log10 loss ratio (a) - (b): < 0 means a reached a lower loss."""
    if pairs.empty:
        return math.nan
    return float((pairs["capped_log_ratio_a"] - pairs["capped_log_ratio_b"]).median())


def _missing(wanted: dict[str, pd.DataFrame], matched: dict[str, pd.DataFrame]) -> list[str]:
    """Why a comparison cannot be made: an arm without runs, or arms that share no settings."""
    absent = [f"no runs of: {name}" for name, frame in wanted.items() if frame.empty]
    if absent:
        return absent
    if any(frame.empty for frame in matched.values()):
        return [f"no settings shared by the runs of: {', '.join(wanted)}"]
    return []


# --------------------------------------------------------------------------------------------------
# The findings


def f1_relu_candidate(tables) -> Finding:
    """F1: ReLU can replace tanh as the LSTM's candidate/output activation, but only with
    clipping."""
    claim = (
        "ReLU can replace tanh as the LSTM's candidate and output activation, but only with "
        "gradient clipping."
    )
    source = "Pascanu et al. 2013; Le et al. 2015 (ReLU recurrences need clipping or care)"
    rule = (
        "LSTM runs, matched: A = ReLU candidate/output with any clipping, B = the same without "
        "clipping, C = tanh (standard) with clipping. Supported if B's success interval lies "
        "entirely below A's and A's does not lie entirely below C's. Contradicted if A's interval "
        "lies entirely below C's (ReLU fails even clipped), or if B's success rate is at least A's "
        f"with >= {MIN_RUNS} runs each (clipping does not help). Inconclusive otherwise."
    )
    runs = tables.runs
    clipped = runs["clip"] != "none"
    wanted = {
        "ReLU clipped": runs[_where(runs, LSTM_CELLS, **RELU_CANDIDATE) & clipped],
        "ReLU unclipped": runs[_where(runs, LSTM_CELLS, **RELU_CANDIDATE, clip="none")],
        "tanh clipped": runs[_where(runs, LSTM_CELLS, **STANDARD) & clipped],
    }
    frames = _matched(tables, wanted, vary=(*ACTIVATIONS, *analysis.CLIP_FIELDS))
    if missing := _missing(wanted, frames):
        return Finding("F1", claim, source, NOT_TESTED, rule, tuple(missing))
    arms, kinds = _score(frames)
    a, b, c = arms["ReLU clipped"], arms["ReLU unclipped"], arms["tanh clipped"]
    if a.above(b) and not c.above(a):
        verdict = SUPPORTED
    elif c.above(a) or (min(a.trials, b.trials) >= MIN_RUNS and b.rate >= a.rate):
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    evidence = [arm.describe() for arm in arms.values()]
    everything = pd.concat(frames.values())
    evidence += [_per_task(arms, kinds), _success_text(kinds, everything)]
    return Finding("F1", claim, source, verdict, rule, tuple(evidence), budgets(everything))


def f2_relu_gates(tables) -> Finding:
    """F2: the gates need a saturating [0, 1] activation; ReLU gates fail."""
    claim = "The gates need a saturating activation with range [0, 1]; ReLU gates fail."
    source = "Hochreiter & Schmidhuber 1997; Gers et al. 2000 (gates as multiplicative switches)"
    rule = (
        "Gated cells (LSTM family, GRU), tanh candidate, matched per cell: A = ReLU gates, "
        "B = sigmoid gates. Supported if A's success interval lies entirely below B's. "
        f"Contradicted if A's success rate is at least B's minus {RATE_SAME:g} with >= {MIN_RUNS} "
        "runs each (ReLU gates do as well). Inconclusive otherwise. Hard-sigmoid gates (also "
        "saturating in [0, 1]) are shown beside them as evidence."
    )
    runs = tables.runs
    wanted = {
        "ReLU gates": runs[_where(runs, GATED_CELLS, **RELU_GATES)],
        "sigmoid gates": runs[_where(runs, GATED_CELLS, **STANDARD)],
    }
    frames = _matched(tables, wanted, vary=ACTIVATIONS)
    if missing := _missing(wanted, frames):
        return Finding("F2", claim, source, NOT_TESTED, rule, tuple(missing))
    arms, kinds = _score(frames)
    hard = runs[_where(runs, GATED_CELLS, **HARD_SIGMOID_GATES)]
    hard = _matched(tables, {"hard": hard, "sigmoid": frames["sigmoid gates"]}, ACTIVATIONS)["hard"]
    if len(hard):
        arms["hard-sigmoid gates"] = _arm("hard-sigmoid gates", hard, kinds)
    a, b = arms["ReLU gates"], arms["sigmoid gates"]
    if b.above(a):
        verdict = SUPPORTED
    elif min(a.trials, b.trials) >= MIN_RUNS and a.rate >= b.rate - RATE_SAME:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    evidence = [arm.describe() for arm in arms.values()]
    for cell, group in frames["ReLU gates"].groupby("cell", sort=False):
        other = frames["sigmoid gates"][frames["sigmoid gates"]["cell"] == cell]
        evidence.append(
            f"{cell}: ReLU gates {int(_success(group, kinds).sum())}/{len(group)}, "
            f"sigmoid gates {int(_success(other, kinds).sum())}/{len(other)}"
        )
    everything = pd.concat(frames.values())
    evidence += [_per_task(arms, kinds), _success_text(kinds, everything)]
    return Finding("F2", claim, source, verdict, rule, tuple(evidence), budgets(everything))


def decay_orders(timesteps: pd.DataFrame) -> pd.Series:
    """Per run: the median over logged steps of log10(||dL/dx_0|| / ||dL/dx_{T-1}||).

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
    return orders.groupby(level="run_id").median()


def f3_gradient_through_time(tables) -> Finding:
    """F3: LSTM and GRU carry gradient over long delays where a tanh simple RNN's vanishes."""
    claim = (
        "LSTM and GRU carry the gradient over long delays where a tanh simple RNN's gradient "
        "vanishes."
    )
    source = "Hochreiter 1991; Bengio et al. 1994; Hochreiter & Schmidhuber 1997"
    rule = (
        "On the adding task at its longest length with both kinds of cell, matched: for each run "
        "D = the median over logged training steps of log10(||dL/dx_0|| / ||dL/dx_T-1||) (how "
        "many orders of magnitude the gradient loses from the last input back to the first); per "
        "cell the median over runs. Supported if the tanh simple RNN's D is at least "
        f"{F3_SUPPORT:g} orders of magnitude below that of every gated cell (LSTM, GRU) present; "
        f"contradicted if it is less than {F3_CONTRADICT:g} below every gated cell's; "
        "inconclusive otherwise."
    )
    runs = tables.runs
    orders = decay_orders(tables.timesteps)
    with_records = runs["run_id"].isin(orders.index) & (runs["task"] == "adding")
    simple = runs[_where(runs, ("simple_rnn",), candidate="tanh") & with_records]
    gated = runs[_where(runs, ("lstm", "gru"), **STANDARD) & with_records]
    lengths = sorted(set(simple["length"]) & set(gated["length"]))
    if not lengths:
        return Finding(
            "F3",
            claim,
            source,
            NOT_TESTED,
            rule,
            (
                "needs adding runs with gradient-through-time records of a tanh simple_rnn and a "
                "standard lstm or gru at the same length",
            ),
        )
    length = lengths[-1]
    frames = {"simple_rnn": simple[simple["length"] == length]}
    for cell in ("lstm", "gru"):
        cell_runs = gated[(gated["cell"] == cell) & (gated["length"] == length)]
        if len(cell_runs):
            frames[cell] = cell_runs
    frames = _matched(tables, frames, vary=(*ACTIVATIONS, "cell"))
    frames = {k: v for k, v in frames.items() if len(v)}
    if "simple_rnn" not in frames or len(frames) < 2:
        return Finding("F3", claim, source, NOT_TESTED, rule, ("no matched runs",))
    medians = {cell: float(orders[frame["run_id"]].median()) for cell, frame in frames.items()}
    gaps = {cell: medians[cell] - medians["simple_rnn"] for cell in medians if cell != "simple_rnn"}
    if all(gap >= F3_SUPPORT for gap in gaps.values()):
        verdict = SUPPORTED
    elif all(gap < F3_CONTRADICT for gap in gaps.values()):
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    steps = tables.timesteps[tables.timesteps["run_id"].isin(simple["run_id"])]["step"].unique()
    evidence = [
        f"{cell}: D = {medians[cell]:+.2f} (median of {len(frame)} runs; per run "
        f"{', '.join(f'{v:+.2f}' for v in orders[frame['run_id']])})"
        for cell, frame in frames.items()
    ]
    evidence += [
        f"{cell} - simple_rnn: {gap:+.2f} orders of magnitude" for cell, gap in gaps.items()
    ]
    evidence.append(
        f"adding, T = {length}; logged at steps {', '.join(str(int(s)) for s in sorted(steps))}"
    )
    everything = pd.concat(frames.values())
    return Finding("F3", claim, source, verdict, rule, tuple(evidence), budgets(everything))


def f4_clipnorm_vs_global(tables) -> Finding:
    """F4: per-variable `clipnorm` and global `global_clipnorm` differ in effect."""
    claim = (
        "Per-variable clipping (Keras `clipnorm`) and global-norm clipping (`global_clipnorm`, "
        "Pascanu et al.) differ in effect."
    )
    source = "Pascanu et al. 2013 (global rescaling keeps the gradient's direction)"
    rule = (
        "Pairs of runs identical but for clipnorm vs global_clipnorm (same seed, threshold and "
        "settings). Supported if the success rates differ by >= "
        f"{RATE_DIFFERENT:g} or the median paired difference in log10(final loss / baseline) is "
        f">= {DIFFERENT:.2f} (a factor 2) in size; contradicted if the rates are within "
        f"{RATE_SAME:g} and that difference is within {SAME:.2f} (25%); inconclusive otherwise, "
        f"or with fewer than {MIN_RUNS} pairs."
    )
    runs = tables.runs
    a = runs[_where(runs, clip="global_clipnorm")]
    b = runs[_where(runs, clip="clipnorm")]
    pairs = _pairs(tables, a, b, vary=("clip",))
    if pairs.empty:
        return Finding(
            "F4", claim, source, NOT_TESTED, rule, ("no pair of clipnorm / global_clipnorm runs",)
        )
    frames = {
        "global_clipnorm": a[a["run_id"].isin(pairs["run_id_a"])],
        "clipnorm": b[b["run_id"].isin(pairs["run_id_b"])],
    }
    arms, kinds = _score(frames)
    everything = pd.concat(frames.values())
    ga, cn = arms["global_clipnorm"], arms["clipnorm"]
    rate_gap = ga.rate - cn.rate
    loss_gap = _paired_difference(pairs)
    if len(pairs) < MIN_RUNS:
        verdict = INCONCLUSIVE
    elif abs(rate_gap) >= RATE_DIFFERENT or abs(loss_gap) >= DIFFERENT:
        verdict = SUPPORTED
    elif abs(rate_gap) <= RATE_SAME and abs(loss_gap) <= SAME:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    evidence = [arm.describe() for arm in arms.values()]
    differing = _success(_side(pairs, "a"), kinds) != _success(_side(pairs, "b"), kinds)
    evidence += [
        f"{len(pairs)} pairs; success rate difference (global - per-variable) "
        f"{100 * rate_gap:+.0f} points; median paired log10 loss-ratio difference "
        f"{loss_gap:+.2f} (x{10**loss_gap:.3g} in final loss)",
        "median final metric: "
        + ", ".join(
            f"{name} {num(arm.runs.loc[arm.runs['status'] == COMPLETED, 'final_metric'].median())}"
            for name, arm in arms.items()
        ),
        "how often each clipped (median over runs): "
        + "; ".join(
            f"{name} at {pct(arm.runs['clipped_steps'].median())} of steps (median clip "
            f"fraction {num(arm.runs['median_clip_fraction'].median())})"
            for name, arm in arms.items()
        )
        + "; the clip fraction is the share of variables clipped for clipnorm, 1 or 0 per step "
        "for global_clipnorm",
        f"pairs whose success differs: {int(differing.sum())} of {len(pairs)}",
        _per_task(arms, kinds),
        _success_text(kinds, everything),
    ]
    return Finding("F4", claim, source, verdict, rule, tuple(evidence), budgets(everything))


def _side(pairs: pd.DataFrame, side: str) -> pd.DataFrame:
    suffix = f"_{side}"
    return pairs[[c for c in pairs if c.endswith(suffix)]].rename(
        columns=lambda c: c.removesuffix(suffix)
    )


def f5_gru_vs_lstm(tables) -> Finding:
    """F5: GRU and LSTM perform comparably."""
    claim = "GRU and LSTM perform comparably."
    source = "Chung et al. 2014; Jozefowicz et al. 2015; Greff et al. 2017"
    rule = (
        "Standard activations (sigmoid gates, tanh), matched: LSTM vs GRU runs with the same "
        f"task, clipping and settings. Supported if the success rates differ by <= "
        f"{RATE_DIFFERENT:g}; contradicted if their 95% intervals are disjoint; inconclusive "
        f"otherwise, or with fewer than {MIN_RUNS} runs per cell."
    )
    runs = tables.runs
    wanted = {
        "lstm": runs[_where(runs, ("lstm",), **STANDARD)],
        "gru": runs[_where(runs, ("gru",), **STANDARD)],
    }
    frames = _matched(tables, wanted, vary=("cell",))
    if missing := _missing(wanted, frames):
        return Finding("F5", claim, source, NOT_TESTED, rule, tuple(missing))
    arms, kinds = _score(frames)
    lstm, gru = arms["lstm"], arms["gru"]
    if min(lstm.trials, gru.trials) < MIN_RUNS:
        verdict = INCONCLUSIVE
    elif lstm.above(gru) or gru.above(lstm):
        verdict = CONTRADICTED
    elif abs(lstm.rate - gru.rate) <= RATE_DIFFERENT:
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE
    everything = pd.concat(frames.values())
    evidence = [arm.describe() for arm in arms.values()]
    evidence += [
        f"success rate difference (GRU - LSTM) {100 * (gru.rate - lstm.rate):+.0f} points",
        _per_task(arms, kinds),
        _success_text(kinds, everything),
    ]
    return Finding("F5", claim, source, verdict, rule, tuple(evidence), budgets(everything))


def f6_forget_bias(tables) -> Finding:
    """F6: a forget-gate bias of 1 helps the LSTM."""
    claim = "Initialising the LSTM's forget-gate bias to 1 (rather than 0) helps it learn."
    source = "Gers et al. 2000; Jozefowicz et al. 2015"
    rule = (
        "LSTM runs in pairs identical but for forget_bias 1 vs 0 (same seed and settings). "
        "Supported if bias 1's success interval lies entirely above bias 0's, or the median paired "
        f"log10(final loss / baseline) difference (bias 1 - bias 0) is <= -{DIFFERENT:.2f} (a "
        "factor 2 lower loss). Contradicted if bias 0's interval lies entirely above bias 1's, or "
        f"that difference is >= +{DIFFERENT:.2f}, or the rates are within {RATE_SAME:g} and the "
        f"difference within {SAME:.2f} (no measurable help). Inconclusive otherwise, or with "
        f"fewer than {MIN_RUNS} pairs."
    )
    runs = tables.runs
    one = runs[_where(runs, LSTM_CELLS, forget_bias=1.0)]
    zero = runs[_where(runs, LSTM_CELLS, forget_bias=0.0)]
    pairs = _pairs(tables, one, zero, vary=("forget_bias",))
    if pairs.empty:
        return Finding(
            "F6",
            claim,
            source,
            NOT_TESTED,
            rule,
            ("needs LSTM runs with forget_bias 0 and 1 under the same other settings",),
        )
    frames = {
        "bias 1": one[one["run_id"].isin(pairs["run_id_a"])],
        "bias 0": zero[zero["run_id"].isin(pairs["run_id_b"])],
    }
    arms, kinds = _score(frames)
    b1, b0 = arms["bias 1"], arms["bias 0"]
    loss_gap = _paired_difference(pairs)
    if len(pairs) < MIN_RUNS:
        verdict = INCONCLUSIVE
    elif b1.above(b0) or loss_gap <= -DIFFERENT:
        verdict = SUPPORTED
    elif b0.above(b1) or loss_gap >= DIFFERENT:
        verdict = CONTRADICTED
    elif abs(b1.rate - b0.rate) <= RATE_SAME and abs(loss_gap) <= SAME:
        verdict = CONTRADICTED
    else:
        verdict = INCONCLUSIVE
    everything = pd.concat(frames.values())
    evidence = [arm.describe() for arm in arms.values()]
    evidence += [
        f"{len(pairs)} pairs; median paired log10 loss-ratio difference (bias 1 - bias 0) "
        f"{loss_gap:+.2f} (x{10**loss_gap:.3g} in final loss)",
        _per_task(arms, kinds),
        _success_text(kinds, everything),
    ]
    return Finding("F6", claim, source, verdict, rule, tuple(evidence), budgets(everything))


FINDINGS = (
    f1_relu_candidate,
    f2_relu_gates,
    f3_gradient_through_time,
    f4_clipnorm_vs_global,
    f5_gru_vs_lstm,
    f6_forget_bias,
)


def judge(tables) -> list[Finding]:
    """Every finding of `FINDINGS`, judged on `tables` (an `analysis.Tables`)."""
    return [finding(tables) for finding in FINDINGS]
