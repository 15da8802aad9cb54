"""F9: GRU and MUT1 learn the non-language tasks at least as well as the LSTM; MUT1 at least as
well as GRU."""

from __future__ import annotations

import pandas as pd

from experiments.results import significance
from experiments.results.compare import match_arms, unpaired_tests, where
from experiments.results.findings.advice import link, open_question
from experiments.results.findings.finding import Claim, Finding
from experiments.results.significance import CONTRADICTED, MARGIN, NOT_WORSE, SUPPORTED
from experiments.vocabulary import MUT_CELLS, STANDARD

CLAIM = Claim(
    key="F9",
    text=(
        "GRU and MUT1 learn these (non-language) tasks at least as well as the LSTM, and MUT1 at "
        "least as well as GRU."
    ),
    source=(
        'seed article 003; Jozefowicz et al. 2015, "An Empirical Exploration of Recurrent '
        'Network Architectures"'
    ),
    rule=(
        "Standard activations (sigmoid gates, tanh candidate), matched settings; unpaired (the "
        "cells' weights differ), Mann-Whitney on the outcome, per task, optimizer and clip mode: "
        "GRU vs LSTM (forget bias 1, as Jozefowicz et al. recommend), MUT1 vs LSTM, MUT1 vs GRU. "
        "Claim: the first arm does at least as well (no significant loss, and Cliff's delta's "
        f"interval above -{MARGIN:g}) in every comparison. MUT2 and MUT3 against the LSTM are "
        "shown beside."
    ),
    scope=("MUT1 vs GRU vs LSTM, adding T = 50 and 100", "MUT2 and MUT3, temporal order, copy"),
)


def judge(tables) -> Finding:
    """F9's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    cells = {
        "lstm": runs[where(runs, ("lstm",), **STANDARD, forget_bias=1.0)],
        **{cell: runs[where(runs, (cell,), **STANDARD)] for cell in ("gru", *MUT_CELLS)},
    }
    if cells["lstm"].empty or cells["mut1"].empty or cells["gru"].empty:
        return CLAIM.not_tested("needs standard LSTM, GRU and MUT1 runs")
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
        return CLAIM.not_tested("no MUT1 run matches an LSTM's settings")
    shown = []
    for cell in ("mut2", "mut3"):
        if len(cells[cell]):
            matched = match_arms(tables, {cell: cells[cell], "lstm": cells["lstm"]}, vary=("cell",))
            shown += unpaired_tests(matched[cell], matched["lstm"], cell, "lstm", strata)[0]
            if len(matched[cell]):
                arms[cell] = matched[cell]
    _, shown = significance.decide(shown, NOT_WORSE)
    return CLAIM.decide(NOT_WORSE, tests, untestable, arms, context=shown)


def advice(judged: dict[str, Finding]) -> str:
    """The "GRU or MUT1 instead of an LSTM" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    if f.verdict == SUPPORTED:
        return (
            "**GRU or MUT1 instead of an LSTM:** either: each did at least as well as the LSTM, "
            f"and MUT1 at least as well as GRU ({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            "**GRU or MUT1 instead of an LSTM:** not interchangeable here: "
            f"{_beats(f)} ({link(f)})."
        )
    return open_question("GRU or MUT1 instead of an LSTM", "whether they do at least as well", f)


def _beats(finding: Finding) -> str:
    """The significant comparisons per pair of arms, e.g. "gru beat mut1 (on adding50, adding100)"."""
    won: dict[tuple[str, str], list[str]] = {}
    for c in finding.comparisons:
        if c.favours_a or c.favours_b:
            pair = (c.a, c.b) if c.favours_a else (c.b, c.a)
            won.setdefault(pair, []).append(c.label)
    return "; ".join(
        f"{winner} beat {loser} (on {', '.join(labels)})" for (winner, loser), labels in won.items()
    )
