"""What the findings' advice shares: the report's opening "What to choose" is one sentence per
practical choice, each derived by a finding module's `advice` from its verdict (and the comparisons
behind it), linking to that finding's evidence, and saying plainly when the data could not decide.
These are the words those sentences have in common.

Pure functions of judged findings; nothing here reads records.
"""

from __future__ import annotations

from experiments.results.findings.finding import NOT_TESTED, Finding


def link(finding: Finding) -> str:
    """A Markdown link to a finding's section, e.g. `[F2](#f2)`."""
    return f"[{finding.key}](#{finding.key.lower()})"


def labels(comparisons) -> str:
    """The comparisons' labels, e.g. "adding50 adam, adding50 sgd", or "none"."""
    return ", ".join(c.label for c in comparisons) or "none"


def wins(finding: Finding) -> str:
    """The significant comparisons as "winner on label; ...", e.g. "gru on adding50 adam"."""
    return "; ".join(
        f"{c.a if c.favours_a else c.b} on {c.label}"
        for c in finding.comparisons
        if c.favours_a or c.favours_b
    )


def undecided(finding: Finding) -> str:
    """What the first undecided comparison would need, e.g. " (about 12 pairs would show ...)",
    or ""."""
    needs = [c.seeds_needed for c in finding.comparisons if c.seeds_needed]
    return f" ({needs[0]})" if needs else ""


def open_question(topic: str, question: str, f: Finding) -> str:
    """The sentence for a choice the data left open: not tested, or not decided."""
    if f.verdict == NOT_TESTED:
        return f"**{topic}:** not tested by this grid ({link(f)})."
    return f"**{topic}:** the data could not decide {question} ({link(f)}{undecided(f)})."
