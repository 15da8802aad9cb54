"""F2: gates need a saturating activation in [0, 1]; ReLU gates fail."""

from __future__ import annotations

from experiments.results import significance
from experiments.results.compare import ACTIVATIONS, pair_runs, paired_tests, side, where
from experiments.results.findings.advice import labels, link, open_question
from experiments.results.findings.finding import Claim, Finding
from experiments.results.significance import A_BETTER, COMPARABLE, CONTRADICTED, SUPPORTED
from experiments.vocabulary import BUILTIN_SCHEMES, GATED_CELLS, STANDARD

CLAIM = Claim(
    key="F2",
    text="The gates need a saturating activation with range [0, 1]: ReLU gates do worse.",
    source="seed article 000; Hochreiter & Schmidhuber 1997; Gers et al. 2000",
    rule=(
        "Gated cells (LSTM family, GRU), tanh candidate, paired by seed and settings: A = "
        "sigmoid gates vs B = ReLU gates whose biases start the gates where a sigmoid gate starts "
        '(`gate_init = "matched"`: forget gate at sigmoid(forget_bias), the others at 0.5), so '
        "the verdict is about the activation, not the initialisation; per task and cell. Claim: "
        "A does better. Hard-sigmoid gates (matched; also saturating in [0, 1]) against sigmoid "
        "gates are shown beside it."
    ),
    scope=("LSTM and GRU with ReLU and hard-sigmoid gates, adding T = 50", "copy, longer spans"),
)


def judge(tables) -> Finding:
    """F2's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    sigmoid = runs[where(runs, GATED_CELLS, **STANDARD)]
    relu = runs[where(runs, GATED_CELLS, **BUILTIN_SCHEMES["relu_gates"], gate_init="matched")]
    if relu.empty or sigmoid.empty:
        return CLAIM.not_tested(
            'needs gated runs with sigmoid gates and with ReLU gates at gate_init = "matched"'
        )
    pairs = pair_runs(tables, sigmoid, relu, vary=ACTIVATIONS)
    if pairs.empty:
        return CLAIM.not_tested("no ReLU-gate run has a sigmoid twin")
    tests, untestable = paired_tests(pairs, "sigmoid gates", "ReLU gates", ("cell",))
    hard_sigmoid = BUILTIN_SCHEMES["hard_sigmoid_gates"]
    hard = runs[where(runs, GATED_CELLS, **hard_sigmoid, gate_init="matched")]
    hard_pairs = pair_runs(tables, sigmoid, hard, vary=ACTIVATIONS)
    reference, _ = paired_tests(hard_pairs, "sigmoid gates", "hard-sigmoid gates", ("cell",))
    _, reference = significance.decide(reference, COMPARABLE)
    arms = {
        "sigmoid gates": side(pairs, "a"),
        "ReLU gates": side(pairs, "b"),
    }
    if not hard_pairs.empty:
        arms["hard-sigmoid gates"] = side(hard_pairs, "b")
    return CLAIM.decide(A_BETTER, tests, untestable, arms, context=reference)


def advice(judged: dict[str, Finding]) -> str:
    """The "Gates" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    if f.verdict == SUPPORTED:
        hard = [c for c in f.context if c.equivalent]
        also = " or hard sigmoid, which was equivalent to it" if hard else ""
        return (
            f"**Gates:** keep a saturating gate activation (sigmoid{also}): with the same initial "
            f"gate openness, ReLU gates did significantly worse on {labels(f.favouring('sigmoid gates'))} "
            f"({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            "**Gates:** ReLU gates did as well as sigmoid gates here (or better), with the same "
            f"initial openness: on these tasks the gate activation did not matter ({link(f)})."
        )
    return open_question("Gates", "whether ReLU gates do worse than sigmoid gates", f)
