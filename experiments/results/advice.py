"""The report's opening "What to choose": one sentence per practical choice, each derived from a
finding's verdict (and the comparisons behind it), linking to that finding's evidence, and saying
plainly when the data could not decide.

Pure functions of the judged findings (`experiments.results.findings.judge`); nothing here reads records.
"""

from __future__ import annotations

from experiments.results.findings import CONTRADICTED, INCONCLUSIVE, NOT_TESTED, SUPPORTED, Finding


def link(finding: Finding) -> str:
    """A Markdown link to a finding's section, e.g. `[F2](#f2)`."""
    return f"[{finding.key}](#{finding.key.lower()})"


def _labels(comparisons) -> str:
    return ", ".join(c.label for c in comparisons) or "none"


def _wins(finding: Finding) -> str:
    """The significant comparisons as "winner on label; ...", e.g. "gru on adding50 adam"."""
    return "; ".join(
        f"{c.a if c.favours_a else c.b} on {c.label}"
        for c in finding.comparisons
        if c.favours_a or c.favours_b
    )


def _undecided(finding: Finding) -> str:
    needs = [c.seeds_needed for c in finding.comparisons if c.seeds_needed]
    return f" ({needs[0]})" if needs else ""


def _gates(f: Finding) -> str:
    if f.verdict == SUPPORTED:
        hard = [c for c in f.context if c.equivalent]
        also = " or hard sigmoid, which was equivalent to it" if hard else ""
        return (
            f"**Gates:** keep a saturating gate activation (sigmoid{also}): with the same initial "
            f"gate openness, ReLU gates did significantly worse on {_labels(f.favouring('sigmoid gates'))} "
            f"({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            "**Gates:** ReLU gates did as well as sigmoid gates here (or better), with the same "
            f"initial openness: on these tasks the gate activation did not matter ({link(f)})."
        )
    return _open("Gates", "whether ReLU gates do worse than sigmoid gates", f)


def _candidate(f: Finding) -> str:
    if f.verdict == SUPPORTED:
        helped = f.favouring("clipped")
        others = [c for c in f.comparisons if c not in helped]
        rest = f"; not significantly under {_labels(others)}" if others else ""
        return (
            "**Candidate activation:** a ReLU candidate in an LSTM needs gradient clipping: "
            f"clipping helped significantly under {_labels(helped)}{rest} ({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            "**Candidate activation:** a ReLU-candidate LSTM trained as well without clipping as "
            f"with it here ({link(f)})."
        )
    return _open("Candidate activation", "whether a ReLU-candidate LSTM needs clipping", f)


def _clipping(f: Finding) -> str:
    if f.verdict == SUPPORTED:
        return (
            "**Clipping mode:** when clipping fires, `clipnorm` and `global_clipnorm` differ: "
            f"{_wins(f)} did better ({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            "**Clipping mode:** when clipping fires, `clipnorm` and `global_clipnorm` trained "
            f"equivalently here: either will do ({link(f)})."
        )
    return _open("Clipping mode", "whether `clipnorm` and `global_clipnorm` differ", f)


def _forget_bias(f: Finding) -> str:
    if f.verdict == SUPPORTED:
        return f"**Forget bias:** initialise the LSTM's forget-gate bias to 1 ({link(f)})."
    if f.verdict == CONTRADICTED:
        return (
            "**Forget bias:** a forget-gate bias of 1 did not help (or hurt) here; 0 is as good "
            f"on these tasks ({link(f)})."
        )
    return _open("Forget bias", "whether a forget-gate bias of 1 helps", f)


def _cell(f: Finding) -> str:
    if f.verdict == SUPPORTED:
        return f"**LSTM or GRU:** either: they did equivalently well ({link(f)})."
    if f.verdict == CONTRADICTED:
        return f"**LSTM or GRU:** not interchangeable here: {_wins(f)} did better ({link(f)})."
    return _open("LSTM or GRU", "whether GRU and LSTM are equivalent", f)


def _ungated(f3: Finding, f7: Finding) -> str:
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
            f"whether the tanh RNN's gradient vanishes faster could not be decided ({link(f3)}{_undecided(f3)})"
        )
    if f7.verdict == SUPPORTED:
        parts.append(
            f"a ReLU RNN initialised as its paper says beat the tanh RNN ({_wins(f7)}; {link(f7)})"
        )
    elif f7.verdict == CONTRADICTED:
        parts.append(f"ReLU RNNs (IRNN, IndRNN) did not beat the tanh RNN ({link(f7)})")
    elif f7.verdict == INCONCLUSIVE:
        parts.append(
            f"whether IRNN / IndRNN beat the tanh RNN could not be decided ({link(f7)}{_undecided(f7)})"
        )
    else:
        parts.append(f"IRNN / IndRNN were not run ({link(f7)})")
    return "**Ungated cells:** " + "; ".join(parts) + "."


def _names(comparisons, side: str) -> str:
    """The distinct arm names on `side` ("a" or "b") of `comparisons`, in order, or ""."""
    names = dict.fromkeys(getattr(c, side) for c in comparisons)
    return ", ".join(names)


def _lstm_parts(f: Finding) -> str:
    if f.verdict == NOT_TESTED:
        return _open("LSTM parts", "", f)
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
        return _open("LSTM parts", "which parts of the LSTM matter", f)
    verdict = "" if f.verdict == SUPPORTED else f"Greff et al.'s ranking is {f.verdict} here: "
    return f"**LSTM parts:** {verdict}{'; '.join(parts)} ({link(f)}{_undecided(f)})."


def _beats(finding: Finding) -> str:
    """The significant comparisons per pair of arms, e.g. "gru beat mut1 (on adding50, adding100)"."""
    wins: dict[tuple[str, str], list[str]] = {}
    for c in finding.comparisons:
        if c.favours_a or c.favours_b:
            pair = (c.a, c.b) if c.favours_a else (c.b, c.a)
            wins.setdefault(pair, []).append(c.label)
    return "; ".join(
        f"{winner} beat {loser} (on {', '.join(labels)})"
        for (winner, loser), labels in wins.items()
    )


def _mut(f: Finding) -> str:
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
    return _open("GRU or MUT1 instead of an LSTM", "whether they do at least as well", f)


def _threshold(f: Finding) -> str:
    topic = "Clipping threshold"
    if f.verdict == SUPPORTED:
        return (
            f"**{topic}:** clip often: the lower threshold did significantly better under "
            f"{_labels(f.favouring('low threshold'))}; the plot of the outcome against the share "
            f"of clipped steps shows where ({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            f"**{topic}:** a low threshold did not help: {_wins(f)} did better, so clip rarely "
            f"(a high threshold) here ({link(f)})."
        )
    sentence = _open(topic, "whether a low threshold (clipping often) does better", f)
    if f.verdict == NOT_TESTED:
        return sentence
    return sentence[:-1] + (
        "; the plot of the outcome against the share of clipped steps shows each threshold's "
        "solved share and time to solve."
    )


def _open(topic: str, question: str, f: Finding) -> str:
    if f.verdict == NOT_TESTED:
        return f"**{topic}:** not tested by this grid ({link(f)})."
    return f"**{topic}:** the data could not decide {question} ({link(f)}{_undecided(f)})."


def what_to_choose(judged: list[Finding]) -> list[str]:
    """The practitioner's summary: one sentence per choice, from the verdicts of `judged`."""
    by_key = {f.key: f for f in judged}
    return [
        _gates(by_key["F2"]),
        _candidate(by_key["F1"]),
        _clipping(by_key["F4"]),
        _forget_bias(by_key["F6"]),
        _cell(by_key["F5"]),
        _threshold(by_key["F10"]),
        _lstm_parts(by_key["F8"]),
        _mut(by_key["F9"]),
        _ungated(by_key["F3"], by_key["F7"]),
    ]
