"""F1: an LSTM with ReLU candidate/cell activations needs gradient clipping."""

from __future__ import annotations

from dataclasses import replace

from experiments.results import significance
from experiments.results.compare import (
    CLIPPING,
    context_columns,
    pair_runs,
    paired_tests,
    side,
    where,
)
from experiments.results.findings.advice import labels, link, open_question
from experiments.results.findings.finding import Claim, Finding
from experiments.results.significance import A_BETTER, CONTRADICTED, SUPPORTED
from experiments.vocabulary import BUILTIN_SCHEMES, LSTM_CELLS, STANDARD

CLAIM = Claim(
    key="F1",
    text="An LSTM with ReLU candidate and cell-output activations needs gradient clipping.",
    source=(
        "seed article 000; Le et al. 2015 (ReLU recurrences); Pascanu et al. 2013 (clipping "
        "against exploding gradients)"
    ),
    rule=(
        "LSTM runs with ReLU candidate/output, paired by seed and settings: A = clipped (each "
        "clip mode on its own: clipvalue apart from the two norm clippings) vs B = unclipped, "
        "per task, optimizer and clip mode, at the mode's lowest threshold in the grid (where "
        "clipping fires most; other thresholds are F10's question and are shown beside, so "
        "sweeping thresholds does not split this verdict's tests). Claim: A does better. The "
        "tanh LSTM's same comparison is shown beside it, not part of the verdict."
    ),
    scope=(
        "the ReLU-candidate LSTM unclipped and under each clip mode, adding T = 50, Adam and SGD",
        "copy memory, longer spans (T up to 400), thresholds 0.1 / 1 / 10",
    ),
)
STRATA = ("optimizer", "clip_label")


def judge(tables) -> Finding:
    """F1's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    relu = runs[where(runs, LSTM_CELLS, **BUILTIN_SCHEMES["relu_candidate"])]
    unclipped = relu[relu["clip"] == "none"]
    clipped = relu[relu["clip"] != "none"]
    if unclipped.empty or clipped.empty:
        return CLAIM.not_tested("needs ReLU-candidate LSTM runs with and without clipping")
    pairs = pair_runs(tables, clipped, unclipped, vary=CLIPPING)
    if pairs.empty:
        return CLAIM.not_tested("no clipped run has an unclipped twin")
    keys = context_columns(tables, ("clip_threshold",))
    lowest = pairs["clip_threshold_a"] == pairs.groupby([f"{k}_a" for k in keys], dropna=False)[
        "clip_threshold_a"
    ].transform("min")
    others = pairs[~lowest]
    pairs = pairs[lowest]
    tests, untestable = paired_tests(pairs, "clipped", "unclipped", STRATA)
    higher, _ = paired_tests(others, "clipped", "unclipped", STRATA)
    tanh = runs[where(runs, LSTM_CELLS, **STANDARD)]
    tanh_pairs = pair_runs(
        tables, tanh[tanh["clip"] != "none"], tanh[tanh["clip"] == "none"], CLIPPING
    )
    reference, _ = paired_tests(tanh_pairs, "clipped", "unclipped", STRATA)
    _, higher = significance.decide(higher, A_BETTER)
    _, reference = significance.decide(
        [replace(c, label="tanh LSTM " + c.label) for c in reference], A_BETTER
    )
    arms = {
        "ReLU clipped": side(pairs, "a"),
        "ReLU unclipped": side(pairs, "b").drop_duplicates("run_id"),
    }
    return CLAIM.decide(A_BETTER, tests, untestable, arms, context=(*higher, *reference))


def advice(judged: dict[str, Finding]) -> str:
    """The "Candidate activation" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    if f.verdict == SUPPORTED:
        helped = f.favouring("clipped")
        others = [c for c in f.comparisons if c not in helped]
        rest = f"; not significantly under {labels(others)}" if others else ""
        return (
            "**Candidate activation:** a ReLU candidate in an LSTM needs gradient clipping: "
            f"clipping helped significantly under {labels(helped)}{rest} ({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            "**Candidate activation:** a ReLU-candidate LSTM trained as well without clipping as "
            f"with it here ({link(f)})."
        )
    return open_question("Candidate activation", "whether a ReLU-candidate LSTM needs clipping", f)
