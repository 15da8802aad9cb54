"""F6: a forget-gate bias of 1 helps the LSTM."""

from __future__ import annotations

from experiments.results.compare import pair_runs, paired_tests, side, where
from experiments.results.findings.advice import link, open_question
from experiments.results.findings.finding import Claim, Finding
from experiments.results.significance import A_BETTER, CONTRADICTED, SUPPORTED
from experiments.vocabulary import LSTM_CELLS

CLAIM = Claim(
    key="F6",
    text="Initialising the LSTM's forget-gate bias to 1 (rather than 0) helps it learn.",
    source="seed article 003; Gers et al. 2000; Jozefowicz et al. 2015",
    rule=(
        "LSTM runs paired by seed and settings: A = forget_bias 1 vs B = forget_bias 0, per "
        "task, optimizer and activation scheme. Claim: A does better."
    ),
    scope=("forget bias 0 vs 1, adding T = 50", "T = 100 and 200"),
)


def judge(tables) -> Finding:
    """F6's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    one = runs[where(runs, LSTM_CELLS, forget_bias=1.0)]
    zero = runs[where(runs, LSTM_CELLS, forget_bias=0.0)]
    pairs = pair_runs(tables, one, zero, vary=("forget_bias",))
    if pairs.empty:
        return CLAIM.not_tested(
            "needs LSTM runs with forget_bias 0 and 1 under the same other settings"
        )
    tests, untestable = paired_tests(pairs, "bias 1", "bias 0", ("optimizer", "scheme"))
    arms = {"bias 1": side(pairs, "a"), "bias 0": side(pairs, "b")}
    return CLAIM.decide(A_BETTER, tests, untestable, arms)


def advice(judged: dict[str, Finding]) -> str:
    """The "Forget bias" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    if f.verdict == SUPPORTED:
        return f"**Forget bias:** initialise the LSTM's forget-gate bias to 1 ({link(f)})."
    if f.verdict == CONTRADICTED:
        return (
            "**Forget bias:** a forget-gate bias of 1 did not help (or hurt) here; 0 is as good "
            f"on these tasks ({link(f)})."
        )
    return open_question("Forget bias", "whether a forget-gate bias of 1 helps", f)
