"""What every finding is made of: the `Claim` it tests (key, sentence, source, rule, scope), the
`Finding` that judging it gives, the verdicts, and the `CONVENTIONS` every rule shares (the report
states them once, above the findings).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from experiments.results import significance
from experiments.results.analysis import budgets
from experiments.results.compare import describe_arm
from experiments.results.significance import (
    CONTRADICTED,
    INCONCLUSIVE,
    MARGIN,
    SUPPORTED,
    Comparison,
)
from experiments.solving import SUSTAIN

NOT_TESTED = "not tested by this grid"  # the grid lacks the runs the claim needs
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED)

# What every finding's rule shares; the report states them once, above the findings.
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


@dataclass(frozen=True)
class Claim:
    """A claim from the literature, stated once: what its finding module judges and words.

    Attributes:
        key: "F1" ... "F10", its place in `findings.FINDINGS`.
        text: the claim, in one sentence (`Finding.claim`).
        source: where the claim comes from.
        rule: how the verdict is computed, in words.
        scope: which grid decides it: (the runs the default grid gives it, what only
            configs/full.toml adds).
    """

    key: str
    text: str
    source: str
    rule: str
    scope: tuple[str, str]

    def finding(self, verdict: str, evidence, budget=None, comparisons=(), context=()) -> Finding:
        """The claim's `Finding` with this verdict, evidence and tests."""
        return Finding(
            self.key,
            self.text,
            self.source,
            verdict,
            self.rule,
            tuple(evidence),
            budget if budget is not None else {},
            tuple(comparisons),
            tuple(context),
        )

    def not_tested(self, *why: str) -> Finding:
        """`NOT_TESTED`, with what the grid lacks (`why`, one evidence line each)."""
        return self.finding(NOT_TESTED, why)

    def decide(self, asserts, tests, untestable, arms, extra=(), context=()) -> Finding:
        """The verdict `significance.decide` gives `tests` for a claim that `asserts` (`A_BETTER`,
        `COMPARABLE`, `DIFFERENT` or `NOT_WORSE`), with the arms' descriptions (`arms`: name ->
        runs), the strata left out (`untestable`) and any `extra` evidence lines; `context`: the
        tests shown beside the verdict."""
        everything = pd.concat([frame for frame in arms.values() if len(frame)])
        evidence = [describe_arm(name, frame) for name, frame in arms.items()]
        if untestable:
            evidence.append("left out, no information: " + "; ".join(untestable))
        evidence += list(extra)
        if not tests:
            evidence.append("no task on which the compared runs could differ (none solved)")
            return self.finding(INCONCLUSIVE, evidence, budgets(everything))
        verdict, decided = significance.decide(tests, asserts)
        return self.finding(verdict, evidence, budgets(everything), decided, context)
