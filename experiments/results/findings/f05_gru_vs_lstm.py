"""F5: GRU performs comparably to LSTM."""

from __future__ import annotations

from experiments.results.compare import match_arms, unpaired_tests, where
from experiments.results.findings.advice import link, open_question, wins
from experiments.results.findings.finding import Claim, Finding
from experiments.results.significance import COMPARABLE, CONTRADICTED, MARGIN, SUPPORTED
from experiments.vocabulary import STANDARD

CLAIM = Claim(
    key="F5",
    text="GRU performs comparably to LSTM.",
    source="seed articles 002, 003; Chung et al. 2014; Jozefowicz et al. 2015",
    rule=(
        "Standard activations, matched settings: A = GRU vs B = LSTM runs (forget bias 1; "
        "unpaired: their "
        "weights differ), per task, optimizer and clip mode; Mann-Whitney on the outcome "
        "(whether and how fast each run solved; a task one cell solves and the other does not "
        "counts against comparability, one neither solves is left out). Claim: "
        f"comparable, i.e. equivalence (Cliff's delta's 95% interval inside +-{MARGIN:g}) in "
        "every comparison; contradicted if one cell does significantly better anywhere."
    ),
    scope=("GRU vs LSTM, adding T = 50 and 100", "copy, temporal order, longer spans"),
)


def judge(tables) -> Finding:
    """F5's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    wanted = {
        "gru": runs[where(runs, ("gru",), **STANDARD)],
        "lstm": runs[where(runs, ("lstm",), **STANDARD, forget_bias=1.0)],
    }
    if any(frame.empty for frame in wanted.values()):
        return CLAIM.not_tested("needs standard LSTM and GRU runs")
    frames = match_arms(tables, wanted, vary=("cell",))
    if frames["gru"].empty:
        return CLAIM.not_tested("no GRU run matches an LSTM run's settings")
    tests, untestable = unpaired_tests(
        frames["gru"], frames["lstm"], "gru", "lstm", ("optimizer", "clip")
    )
    return CLAIM.decide(COMPARABLE, tests, untestable, frames)


def advice(judged: dict[str, Finding]) -> str:
    """The "LSTM or GRU" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    if f.verdict == SUPPORTED:
        return f"**LSTM or GRU:** either: they did equivalently well ({link(f)})."
    if f.verdict == CONTRADICTED:
        return f"**LSTM or GRU:** not interchangeable here: {wins(f)} did better ({link(f)})."
    return open_question("LSTM or GRU", "whether GRU and LSTM are equivalent", f)
