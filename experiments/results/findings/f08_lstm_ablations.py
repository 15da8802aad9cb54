"""F8: the forget gate and the output activation matter most; the output gate, coupling and
peepholes do not (Greff et al. 2017's ablations, each against the standard LSTM)."""

from __future__ import annotations

import pandas as pd

from experiments.results import significance
from experiments.results.analysis import budgets
from experiments.results.compare import (
    ACTIVATIONS,
    describe_arm,
    pair_runs,
    paired_tests,
    side,
    where,
)
from experiments.results.findings.advice import link, open_question, undecided
from experiments.results.findings.finding import NOT_TESTED, Claim, Finding
from experiments.results.significance import (
    A_BETTER,
    CONTRADICTED,
    INCONCLUSIVE,
    MARGIN,
    NOT_WORSE,
    SUPPORTED,
)
from experiments.vocabulary import BUILTIN_SCHEMES, STANDARD

# Greff et al. 2017's variants as this suite names them: (label, cell, scheme) against the
# standard LSTM (cell "lstm", standard scheme) of the same seed and settings.
HURTS = (("NFG", "nfg", "standard"), ("NOAF", "lstm", "linear_output"))
HARMLESS = (("NOG", "nog", "standard"), ("CIFG", "cifg", "standard"))
SHOWN = (("NIG", "nig", "standard"), ("NIAF", "lstm", "linear_candidate"))

CLAIM = Claim(
    key="F8",
    text=(
        "Removing the LSTM's forget gate (NFG) or its output activation (NOAF) hurts it; removing "
        "the output gate (NOG), coupling the input and forget gates (CIFG) or removing the "
        "peepholes (NP) does not hurt it significantly."
    ),
    source='seed article 003; Greff et al. 2017, "LSTM: A Search Space Odyssey"',
    rule=(
        "Each variant against the standard LSTM (sigmoid gates, tanh candidate and output, forget "
        "bias 1, no peepholes), paired by seed and settings (same data; the weights the two share "
        "start equal), per task and optimizer. Part 1, claim the standard LSTM does better than "
        "NFG and than NOAF (h = o * c), each judged apart with its p-values Holm-adjusted; the part "
        "is supported if both are. Part 2, claim NOG and CIFG do at least as well as the "
        "standard LSTM, and so does the LSTM without peepholes against the one with them "
        f"(non-inferiority: no significant loss, and the effect's interval above -{MARGIN:g}), "
        "p-values Holm-adjusted together. Supported if both parts are, contradicted if either "
        "is. NIG and NIAF (which Greff found to hurt less) are shown "
        "beside."
    ),
    scope=(
        "NFG, NOG, CIFG, peepholes and NOAF vs the LSTM, adding T = 50, Adam",
        "NIG and NIAF, temporal order, copy, longer spans",
    ),
)


def judge(tables) -> Finding:
    """F8's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    standard = runs[where(runs, ("lstm",), **STANDARD, forget_bias=1.0)]
    found = {}
    for label, cell, scheme in (*HURTS, *HARMLESS, *SHOWN):
        variant = runs[where(runs, (cell,), **BUILTIN_SCHEMES[scheme], scheme=scheme)]
        pairs = pair_runs(tables, standard, variant, vary=("cell", *ACTIVATIONS))
        if len(pairs):
            found[label] = pairs
    peephole = runs[where(runs, ("peephole",), **STANDARD, forget_bias=1.0)]
    np_pairs = pair_runs(tables, standard, peephole, vary=("cell",))
    if len(np_pairs):
        found["NP"] = np_pairs
    hurts = [label for label, _, _ in HURTS if label in found]
    harmless = [label for label in (*(h for h, _, _ in HARMLESS), "NP") if label in found]
    if not hurts or not harmless:
        return CLAIM.not_tested(
            "needs standard LSTM runs paired by seed with at least one of NFG (cell nfg) / NOAF "
            "(scheme linear_output) and one of NOG (cell nog) / CIFG (cell cifg) / peephole runs"
        )
    strata = ("optimizer",)
    part1, part2, shown, untestable, verdicts1 = [], [], [], [], []
    for label in hurts:
        tests, skipped = paired_tests(found[label], "LSTM", label, strata)
        untestable += skipped
        # each removal must hurt: one variant doing better cannot stand in for the other
        verdict, tests = significance.decide(tests, A_BETTER) if tests else (INCONCLUSIVE, [])
        verdicts1.append(verdict)
        part1 += tests
    for label in harmless:
        pairs = found[label]
        if label == "NP":  # A = without peepholes (the standard LSTM), B = with them
            tests, skipped = paired_tests(pairs, "LSTM (no peepholes)", "peephole LSTM", strata)
        else:
            swapped = _swap(pairs)
            tests, skipped = paired_tests(swapped, label, "LSTM", strata)
        part2 += tests
        untestable += skipped
    for label, _, _ in SHOWN:
        if label in found:
            shown += paired_tests(found[label], "LSTM", label, strata)[0]
    verdict1 = _combine(*verdicts1)
    verdict2, part2 = significance.decide(part2, NOT_WORSE) if part2 else (INCONCLUSIVE, [])
    _, shown = significance.decide(shown, A_BETTER)
    arms = {
        "LSTM": standard[
            standard["run_id"].isin(pd.concat([p["run_id_a"] for p in found.values()]))
        ]
    }
    for label, pairs in found.items():
        arms["peephole LSTM" if label == "NP" else label] = side(pairs, "b")
    evidence = [describe_arm(name, frame) for name, frame in arms.items() if len(frame)]
    if untestable:
        evidence.append("left out, no information: " + "; ".join(untestable))
    evidence.append(f"part 1 (hurts): {verdict1}; part 2 (does not hurt): {verdict2}")
    everything = pd.concat(arms.values())
    return CLAIM.finding(
        _combine(verdict1, verdict2) if part1 and part2 else INCONCLUSIVE,
        evidence,
        budgets(everything),
        (*part1, *part2),
        shown,
    )


def _combine(*verdicts: str) -> str:
    """One verdict from a claim's parts: supported if every part is, contradicted if any is."""
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def _swap(pairs: pd.DataFrame) -> pd.DataFrame:
    """`pair_runs`'s pairs with their sides exchanged (A becomes B)."""
    swap = {
        c: c[:-2] + ("_b" if c.endswith("_a") else "_a") for c in pairs if c[-2:] in ("_a", "_b")
    }
    return pairs.rename(columns=swap)


def advice(judged: dict[str, Finding]) -> str:
    """The "LSTM parts" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    if f.verdict == NOT_TESTED:
        return open_question("LSTM parts", "", f)
    hurt = [c for c in f.comparisons if c.a == "LSTM" and c.favours_a]
    helped = [c for c in f.comparisons if c.a == "LSTM" and c.favours_b]
    # part 2's comparisons hold the variant as A: NOG / CIFG vs "LSTM", no peepholes vs peepholes
    variant_first = [c for c in f.comparisons if c.b in ("LSTM", "peephole LSTM")]
    kept = [c for c in variant_first if c.b == "LSTM" and not c.favours_b and c.not_worse]
    peephole_kept = [c for c in variant_first if c.b != "LSTM" and not c.favours_b and c.not_worse]
    lost = [c for c in variant_first if c.favours_b]
    parts = []
    if hurt:
        parts.append(f"removing {_names(hurt, 'b')} did significantly worse: keep them")
    if helped:
        parts.append(f"{_names(helped, 'b')} did significantly better than the standard LSTM")
    if kept or peephole_kept:
        dropped = ", ".join(filter(None, [_names(kept, "a"), "no peepholes" * bool(peephole_kept)]))
        parts.append(f"{dropped} lost nothing significant (within the margin): they can go")
    if lost:
        parts.append(f"{_names(lost, 'a')} did significantly worse than {_names(lost, 'b')}")
    if not parts:
        return open_question("LSTM parts", "which parts of the LSTM matter", f)
    verdict = "" if f.verdict == SUPPORTED else f"Greff et al.'s ranking is {f.verdict} here: "
    return f"**LSTM parts:** {verdict}{'; '.join(parts)} ({link(f)}{undecided(f)})."


def _names(comparisons, which: str) -> str:
    """The distinct arm names on side `which` ("a" or "b") of `comparisons`, in order, or ""."""
    names = dict.fromkeys(getattr(c, which) for c in comparisons)
    return ", ".join(names)
