"""F4: per-variable `clipnorm` and `global_clipnorm` behave differently when clipping fires."""

from __future__ import annotations

from experiments.results.compare import pair_runs, paired_tests, side, where
from experiments.results.findings.advice import link, open_question, wins
from experiments.results.findings.finding import Claim, Finding
from experiments.results.formatting import pct
from experiments.results.significance import CONTRADICTED, DIFFERENT, SUPPORTED

FIRING = 0.1  # a pair counts when clipping changed the gradient on >= this share of its steps

CLAIM = Claim(
    key="F4",
    text=(
        "Per-variable clipping (Keras `clipnorm`) and global-norm clipping (`global_clipnorm`, "
        "Pascanu et al.) behave differently when clipping fires."
    ),
    source="Pascanu et al. 2013 (global rescaling keeps the gradient's direction); Keras docs",
    rule=(
        "Pairs of runs identical but for clipnorm vs global_clipnorm (same seed, threshold and "
        f"settings) in which both runs clipped the gradient on >= {FIRING:.0%} of their steps "
        "(pairs where clipping rarely fired would compare the same training twice); per task, "
        "optimizer and cell. Claim: the two differ (either way); contradicted by equivalence in "
        "every comparison."
    ),
    scope=("clipnorm vs global_clipnorm, ReLU-candidate and tanh LSTM, adding T = 50", "copy"),
)


def judge(tables) -> Finding:
    """F4's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    a = runs[where(runs, clip="global_clipnorm")]
    b = runs[where(runs, clip="clipnorm")]
    pairs = pair_runs(tables, a, b, vary=("clip",))
    if pairs.empty:
        return CLAIM.not_tested("no pair of clipnorm / global_clipnorm runs")
    firing = (pairs["clipped_steps_a"] >= FIRING) & (pairs["clipped_steps_b"] >= FIRING)
    share = (
        f"{int(firing.sum())} of {len(pairs)} pairs clipped on >= {FIRING:.0%} of steps (median "
        f"share of steps clipped: global_clipnorm {pct(pairs['clipped_steps_a'].median())}, "
        f"clipnorm {pct(pairs['clipped_steps_b'].median())})"
    )
    if not firing.any():
        return CLAIM.not_tested("clipping never fired often enough: " + share)
    pairs = pairs[firing]
    tests, untestable = paired_tests(
        pairs, "global_clipnorm", "clipnorm", ("optimizer", "cell", "scheme")
    )
    arms = {"global_clipnorm": side(pairs, "a"), "clipnorm": side(pairs, "b")}
    return CLAIM.decide(DIFFERENT, tests, untestable, arms, [share])


def advice(judged: dict[str, Finding]) -> str:
    """The "Clipping mode" sentence of "What to choose"."""
    f = judged[CLAIM.key]
    if f.verdict == SUPPORTED:
        return (
            "**Clipping mode:** when clipping fires, `clipnorm` and `global_clipnorm` differ: "
            f"{wins(f)} did better ({link(f)})."
        )
    if f.verdict == CONTRADICTED:
        return (
            "**Clipping mode:** when clipping fires, `clipnorm` and `global_clipnorm` trained "
            f"equivalently here: either will do ({link(f)})."
        )
    return open_question("Clipping mode", "whether `clipnorm` and `global_clipnorm` differ", f)
