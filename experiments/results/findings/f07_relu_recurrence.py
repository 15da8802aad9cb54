"""F7: a ReLU RNN with the right initialisation learns long dependencies a tanh RNN cannot.

Its advice, "Ungated cells", words F3's verdict (the tanh RNN's vanishing gradient) with its own.
"""

from __future__ import annotations

import pandas as pd

from experiments.results.compare import unpaired_tests, where
from experiments.results.findings import f03_gradient_through_time as f03
from experiments.results.findings.advice import link, undecided, wins
from experiments.results.findings.finding import Claim, Finding
from experiments.results.significance import A_BETTER, CONTRADICTED, INCONCLUSIVE, SUPPORTED

CLAIM = Claim(
    key="F7",
    text=(
        "A ReLU recurrent network with the right initialisation (IRNN: identity recurrent "
        "weights; IndRNN as its paper configures it) learns long dependencies where a tanh RNN "
        "fails."
    ),
    source="seed article 003 (IndRNN); Le et al. 2015 (IRNN); Li et al. 2018 (IndRNN)",
    rule=(
        "Adding task, per length and budget: A = each ReLU recurrence as its paper configures "
        "it (IRNN: simple RNN, ReLU, identity recurrent weights; IndRNN: ReLU) vs B = the tanh "
        "simple RNN (unpaired; each keeps its own learning rate and initialisation, so only the "
        "task and budget are matched), Mann-Whitney on the outcome. Claim: A does better."
    ),
    scope=("IRNN and IndRNN vs the tanh RNN, adding T = 50", "T up to 400"),
)


def judge(tables) -> Finding:
    """F7's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    tanh = runs[where(runs, ("simple_rnn",), candidate="tanh") & (runs["task"] == "adding")]
    relu = {k: v[v["task"] == "adding"] for k, v in _relu_recurrences(runs).items()}
    relu = {k: v for k, v in relu.items() if len(v)}
    if tanh.empty or not relu:
        return CLAIM.not_tested("needs adding runs of a tanh simple RNN and of an IRNN or IndRNN")
    tests, untestable, arms = [], [], {}
    for name, frame in relu.items():
        found, skipped = unpaired_tests(frame, tanh, name, "tanh RNN", ("steps",))
        tests += found
        untestable += skipped
        if found or skipped:
            arms[name] = frame[frame["task_label"].isin(tanh["task_label"])]
    if not arms:
        return CLAIM.not_tested("no length has both kinds of run")
    labels = set().union(*(set(f["task_label"]) for f in arms.values()))
    arms["tanh RNN"] = tanh[tanh["task_label"].isin(labels)]
    return CLAIM.decide(A_BETTER, tests, untestable, arms)


def _relu_recurrences(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    irnn = runs[
        where(runs, ("simple_rnn",), candidate="relu")
        & (runs.get("recurrent_initializer", pd.Series("", index=runs.index)) == "identity")
    ]
    indrnn = runs[where(runs, ("indrnn",), candidate="relu")]
    return {"IRNN": irnn, "IndRNN": indrnn}


def advice(judged: dict[str, Finding]) -> str:
    """The "Ungated cells" sentence of "What to choose", from F3's verdict and F7's."""
    f3, f7 = judged[f03.CLAIM.key], judged[CLAIM.key]
    parts = []
    if f3.verdict == SUPPORTED:
        parts.append(
            "for long dependencies prefer a gated cell: after training the tanh RNN's gradient "
            f"vanished over the span where the LSTM's and GRU's did not ({link(f3)})"
        )
    elif f3.verdict == CONTRADICTED:
        parts.append(
            f"the tanh RNN's gradient did not vanish faster than a gated cell's ({link(f3)})"
        )
    else:
        parts.append(
            f"whether the tanh RNN's gradient vanishes faster could not be decided ({link(f3)}{undecided(f3)})"
        )
    if f7.verdict == SUPPORTED:
        parts.append(
            f"a ReLU RNN initialised as its paper says beat the tanh RNN ({wins(f7)}; {link(f7)})"
        )
    elif f7.verdict == CONTRADICTED:
        parts.append(f"ReLU RNNs (IRNN, IndRNN) did not beat the tanh RNN ({link(f7)})")
    elif f7.verdict == INCONCLUSIVE:
        parts.append(
            f"whether IRNN / IndRNN beat the tanh RNN could not be decided ({link(f7)}{undecided(f7)})"
        )
    else:
        parts.append(f"IRNN / IndRNN were not run ({link(f7)})")
    return "**Ungated cells:** " + "; ".join(parts) + "."
