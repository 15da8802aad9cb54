"""F10: a low clipping threshold (clipping often) works better than a high one."""

from __future__ import annotations

import pandas as pd

from experiments.results import significance
from experiments.results.compare import (
    CLIPPING,
    context_columns,
    pair_runs,
    paired_tests,
    side,
    threshold_runs,
    threshold_table,
)
from experiments.results.findings.advice import labels, link, open_question, wins
from experiments.results.findings.finding import NOT_TESTED, Claim, Finding
from experiments.results.formatting import num, pct
from experiments.results.significance import A_BETTER, CONTRADICTED, SUPPORTED

CLAIM = Claim(
    key="F10",
    text=(
        "Clipping often (a low threshold) is very effective: a low threshold does better than a "
        "high one."
    ),
    source=(
        "seed article 003; Pascanu et al. 2013 (clipping against exploding gradients); "
        "Keras's `clipvalue`, `clipnorm`, `global_clipnorm`"
    ),
    rule=(
        "Runs identical but for the clipping threshold (same seed, cell, activations, optimizer "
        "and clip mode), per task, optimizer, clip mode, cell and scheme with at least two "
        "thresholds: A = the lowest threshold vs B = the highest, paired by seed (sign test). "
        "Claim: A does better. Each threshold against unclipped training (the clip rate's "
        "effect) is shown beside; the share of steps on which clipping fired is given per "
        "threshold (the report's plot of the outcome against it)."
    ),
    scope=(
        "thresholds 0.25 and 1 for the ReLU-candidate LSTM, each clip mode, Adam and SGD",
        "thresholds 0.1 / 1 / 10 for every cell and activation scheme, copy, longer spans",
    ),
)


def judge(tables) -> Finding:
    """F10's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    swept, unclipped = threshold_runs(tables)
    keys = context_columns(tables, ("clip_threshold",))
    if swept.empty:
        return CLAIM.not_tested(
            "needs runs that differ only in the clipping threshold (two thresholds or more)"
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
    arms = {"low threshold": side(pairs, "a"), "high threshold": side(pairs, "b")}
    return CLAIM.decide(A_BETTER, tests, untestable, arms, lines, context=shown)


def advice(judged: dict[str, Finding]) -> str:
    """The "Clipping threshold" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    topic = "Clipping threshold"
    if f.verdict == SUPPORTED:
        return (
            f"**{topic}:** clip often: the lower threshold did significantly better under "
            f"{labels(f.favouring('low threshold'))}; the plot of the outcome against the share "
            f"of clipped steps shows where ({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            f"**{topic}:** a low threshold did not help: {wins(f)} did better, so clip rarely "
            f"(a high threshold) here ({link(f)})."
        )
    sentence = open_question(topic, "whether a low threshold (clipping often) does better", f)
    if f.verdict == NOT_TESTED:
        return sentence
    return sentence[:-1] + (
        "; the plot of the outcome against the share of clipped steps shows each threshold's "
        "solved share and time to solve."
    )
