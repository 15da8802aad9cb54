"""The claims this suite tests, each judged from the records by a stated, falsifiable rule.

One module per claim (`f01_relu_candidate` ... `f10_clip_threshold`), each holding:

- `CLAIM`: a `Claim`: its key ("F1"), the claim in one sentence, its source, its rule in words,
  and its scope (what the default grid and configs/full.toml run for it);
- `judge(tables) -> Finding`: the verdict (`SUPPORTED`, `CONTRADICTED`, `INCONCLUSIVE`, or
  `NOT_TESTED` when the grid lacks the runs the claim needs; `CLAIM.not_tested(why)`), from the
  exact tests it rests on (`experiments.results.significance`: per task, the test, its statistic,
  n, p-value, effect and interval; `CLAIM.decide(...)`) and the evidence around them (solved
  counts, times to solve, budgets);
- `advice(judged) -> str | None`: its sentence of the report's "What to choose", from the judged
  findings by key (None when another finding's sentence words it: F7's words F3's).

`FINDINGS` lists the modules in key order; `SCOPE`, `judge` and `what_to_choose` read it. The
conventions every rule shares are `CONVENTIONS`, which the report states once above the findings.

Adding a finding (F11, say):

1. A new file `fNN_<name>.py` here with `CLAIM = Claim(key="F11", ...)` (its scope included),
   `judge(tables) -> Finding` (`paired_tests` for runs that share a seed and differ in the one
   setting the claim varies, `unpaired_tests` otherwise, from `experiments.results.compare`; then
   `CLAIM.decide` with what the claim asserts: `A_BETTER`, `COMPARABLE`, `DIFFERENT` or
   `NOT_WORSE`), and `advice(judged) -> str | None`.
2. One line in `FINDINGS` below (and in `CHOICES`, where its sentence goes, if it answers a
   practical choice).
"""

from __future__ import annotations

from experiments.results.findings import (
    f01_relu_candidate,
    f02_relu_gates,
    f03_gradient_through_time,
    f04_clipnorm_vs_global,
    f05_gru_vs_lstm,
    f06_forget_bias,
    f07_relu_recurrence,
    f08_lstm_ablations,
    f09_gru_mut_vs_lstm,
    f10_clip_threshold,
)
from experiments.results.findings.finding import (
    CONVENTIONS,
    NOT_TESTED,
    VERDICTS,
    Claim,
    Finding,
)
from experiments.results.significance import CONTRADICTED, INCONCLUSIVE, SUPPORTED

__all__ = [
    "CHOICES",
    "CONTRADICTED",
    "CONVENTIONS",
    "FINDINGS",
    "INCONCLUSIVE",
    "NOT_TESTED",
    "SCOPE",
    "SUPPORTED",
    "VERDICTS",
    "Claim",
    "Finding",
    "judge",
    "what_to_choose",
]

# The registry: one module per claim, in key order ("F1" ... "F10").
FINDINGS = (
    f01_relu_candidate,
    f02_relu_gates,
    f03_gradient_through_time,
    f04_clipnorm_vs_global,
    f05_gru_vs_lstm,
    f06_forget_bias,
    f07_relu_recurrence,
    f08_lstm_ablations,
    f09_gru_mut_vs_lstm,
    f10_clip_threshold,
)

# The order of "What to choose": the practical choices, most basic first (F3 is worded in F7's).
CHOICES = (
    f02_relu_gates,
    f01_relu_candidate,
    f04_clipnorm_vs_global,
    f06_forget_bias,
    f05_gru_vs_lstm,
    f10_clip_threshold,
    f08_lstm_ablations,
    f09_gru_mut_vs_lstm,
    f07_relu_recurrence,
)

# Which grid decides what: the runs `make experiments` (configs/default.toml) gives each finding,
# and what only configs/full.toml (a cluster's work) adds. test_config checks both grids hold them.
SCOPE = {finding.CLAIM.key: finding.CLAIM.scope for finding in FINDINGS}


def judge(tables) -> list[Finding]:
    """Every finding of `FINDINGS`, judged on `tables` (an `analysis.Tables`)."""
    return [finding.judge(tables) for finding in FINDINGS]


def what_to_choose(judged: list[Finding]) -> list[str]:
    """The practitioner's summary, the report's opening "What to choose": one sentence per choice
    of `CHOICES`, from the verdicts of `judged` (and the comparisons behind them), each linking to
    its finding's evidence."""
    by_key = {f.key: f for f in judged}
    return [sentence for finding in CHOICES if (sentence := finding.advice(by_key)) is not None]
