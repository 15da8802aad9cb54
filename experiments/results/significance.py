"""The findings' statistics: exact tests from scipy on one ordinal outcome per run.

**The outcome of a run** (`score`, lower is better), so that solving beats not solving, solving
early beats solving late, and a lower final loss beats a higher one among runs that did not solve:

    solved at step s of a budget of B steps       s / B                  in (0, 1]
    finished without solving                      2 + position of its final loss / baseline on a
                                                  log scale from RATIO_FLOOR to RATIO_CAP, in [2, 3]
    diverged without having solved                4

**Paired comparisons** (`paired`): two arms whose runs share seed and settings but for the one the
claim varies start from the same weights where their shapes agree and see the same data. Per pair,
the arm with the lower score *wins*; a tie (equal scores: e.g. a clip mode that never fired
retrains the same run) carries no information and is dropped. Test: the exact sign test
(`scipy.stats.binomtest` on A's wins among the untied pairs, two-sided). Effect: the *net win
share* (A's wins - B's wins) / pairs, in [-1, 1], with a 95% interval from the Clopper-Pearson
interval of A's share of the untied pairs (the number of ties taken as observed).

**Unpaired comparisons** (`unpaired`, e.g. LSTM vs GRU, whose weights differ): the Mann-Whitney U
test (`scipy.stats.mannwhitneyu`, exact without ties). Effect: Cliff's delta, P(A < B) - P(A > B),
the unpaired analogue of the net win share, with a 95% percentile bootstrap interval
(`scipy.stats.bootstrap`, fixed seed).

**Deciding** (`decide`): a finding's comparisons (one per task and stratum) are tested together,
their p-values Holm-adjusted. A comparison *favours* an arm when its adjusted p < `ALPHA`; it
shows *equivalence* when its effect's interval lies inside +-`MARGIN`. `seeds_needed` says how many
seeds (pairs, or runs per arm) an undecided comparison would need if the observed proportions held.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

ALPHA = 0.05  # the family-wise error rate of a finding's tests (Holm)
MARGIN = 0.3  # equivalence: the effect's 95% interval inside +-MARGIN (net win share)
RATIO_FLOOR = 1e-3  # final loss / baseline is placed on a log scale between these
RATIO_CAP = 10.0
MAX_SEEDS = 1000  # seeds_needed looks no further
BOOTSTRAP_RESAMPLES = 2000

SOLVED_MAX, UNSOLVED_MIN, UNSOLVED_MAX, DIVERGED_SCORE = 1.0, 2.0, 3.0, 4.0

A_BETTER = "a better"  # what a claim asserts: arm A does better than arm B
COMPARABLE = "comparable"  # ... or the two do equally well (within MARGIN)
DIFFERENT = "different"  # ... or the two differ, either way
NOT_WORSE = "a not worse"  # ... or A does at least as well as B (non-inferiority, within MARGIN)
CLAIMS = (A_BETTER, COMPARABLE, DIFFERENT, NOT_WORSE)

SUPPORTED = "supported"  # what `decide` gives a claim: the comparisons bear it out
CONTRADICTED = "contradicted"  # ... they bear out the opposite (as strongly)
INCONCLUSIVE = "inconclusive"  # ... neither


def score(solved, step_solved, steps, loss_ratio, diverged) -> np.ndarray:
    """Each run's ordinal outcome (see the module docstring); lower is better.

    All arguments are arrays of one value per run: `solved` (bool), `step_solved` (the step, NaN
    if never), `steps` (the budget), `loss_ratio` (final held-out loss / baseline) and `diverged`
    (bool).
    """
    solved = np.asarray(solved, dtype=bool)
    diverged = np.asarray(diverged, dtype=bool)
    fraction = np.asarray(step_solved, dtype=float) / np.asarray(steps, dtype=float)
    ratio = np.clip(np.nan_to_num(np.asarray(loss_ratio, dtype=float), nan=RATIO_CAP), 0, None)
    ratio = np.clip(ratio, RATIO_FLOOR, RATIO_CAP)
    position = np.log(ratio / RATIO_FLOOR) / math.log(RATIO_CAP / RATIO_FLOOR)
    unsolved = UNSOLVED_MIN + (UNSOLVED_MAX - UNSOLVED_MIN) * position
    return np.where(solved, fraction, np.where(diverged, DIVERGED_SCORE, unsolved))


@dataclass(frozen=True)
class Comparison:
    """One test of arm A against arm B on one task (and stratum), and what it decides.

    `effect` > 0 means A did better (net win share, or Cliff's delta); `interval` is its 95%
    interval. `p_adjusted` is Holm-adjusted over the finding's comparisons (`decide`).
    """

    label: str
    test: str
    a: str
    b: str
    n: str  # "12 pairs (3 tied)" or "8 vs 8 runs"
    statistic: float
    p_value: float
    effect: float
    interval: tuple[float, float]
    paired: bool
    counts: tuple  # paired: (A wins, B wins, ties); unpaired: the two score arrays
    p_adjusted: float = math.nan
    seeds_needed: str = ""

    @property
    def favours_a(self) -> bool:
        return self.p_adjusted < ALPHA and self.effect > 0

    @property
    def favours_b(self) -> bool:
        return self.p_adjusted < ALPHA and self.effect < 0

    @property
    def equivalent(self) -> bool:
        low, high = self.interval
        return -MARGIN <= low and high <= MARGIN

    @property
    def not_worse(self) -> bool:
        """Non-inferiority of A: its effect's interval lies above -MARGIN."""
        return -MARGIN <= self.interval[0]

    @property
    def outcome(self) -> str:
        if self.favours_a:
            return f"{self.a} better"
        if self.favours_b:
            return f"{self.b} better"
        if self.equivalent:
            return "equivalent"
        return "undecided"

    def text(self) -> str:
        """One line: the test, its statistic, n, p (raw and adjusted), effect and interval."""
        low, high = self.interval
        effect = "net win share" if self.paired else "Cliff's delta"
        need = f"; {self.seeds_needed}" if self.seeds_needed else ""
        return (
            f"{self.label}: {self.a} vs {self.b}, {self.test}, {self.n}, statistic "
            f"{self.statistic:.4g}, p = {self.p_value:.3g} (Holm {self.p_adjusted:.3g}); "
            f"{effect} {self.effect:+.2f} [95% {low:+.2f}, {high:+.2f}] -> {self.outcome}{need}"
        )


def paired(label: str, a: str, b: str, a_scores, b_scores) -> Comparison:
    """The sign test of two arms' paired scores (position i of each is one pair)."""
    a_scores, b_scores = np.asarray(a_scores, float), np.asarray(b_scores, float)
    wins_a = int((a_scores < b_scores).sum())
    wins_b = int((a_scores > b_scores).sum())
    ties = len(a_scores) - wins_a - wins_b
    p, interval = _sign_test(wins_a, wins_b, ties)
    return Comparison(
        label=label,
        test="exact sign test",
        a=a,
        b=b,
        n=f"{len(a_scores)} pairs ({a} wins {wins_a}, {b} wins {wins_b}, {ties} tied)",
        statistic=float(wins_a),
        p_value=p,
        effect=(wins_a - wins_b) / len(a_scores) if len(a_scores) else math.nan,
        interval=interval,
        paired=True,
        counts=(wins_a, wins_b, ties),
    )


def _sign_test(wins_a: int, wins_b: int, ties: int) -> tuple[float, tuple[float, float]]:
    """(two-sided p, 95% interval of the net win share) for the given counts."""
    untied, pairs = wins_a + wins_b, wins_a + wins_b + ties
    if pairs == 0:
        return math.nan, (math.nan, math.nan)
    if untied == 0:
        return 1.0, (0.0, 0.0)
    result = stats.binomtest(wins_a, untied, 0.5)
    ci = result.proportion_ci(confidence_level=0.95, method="exact")
    share = untied / pairs
    return float(result.pvalue), ((2 * ci.low - 1) * share, (2 * ci.high - 1) * share)


def cliffs_delta(a, b, axis: int = -1) -> np.ndarray:
    """P(a < b) - P(a > b) over all cross pairs (lower is better: > 0 means a did better)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
    signs = np.sign(b[..., None, :] - a[..., :, None])
    return signs.mean(axis=(-2, -1))


def unpaired(label: str, a: str, b: str, a_scores, b_scores) -> Comparison:
    """The Mann-Whitney U test of two arms' scores, with Cliff's delta and its interval."""
    a_scores, b_scores = np.asarray(a_scores, float), np.asarray(b_scores, float)
    p, statistic = _mann_whitney(a_scores, b_scores)
    delta = float(cliffs_delta(a_scores, b_scores))
    return Comparison(
        label=label,
        test="Mann-Whitney U",
        a=a,
        b=b,
        n=f"{len(a_scores)} vs {len(b_scores)} runs",
        statistic=statistic,
        p_value=p,
        effect=delta,
        interval=_delta_interval(a_scores, b_scores),
        paired=False,
        counts=(tuple(a_scores), tuple(b_scores)),
    )


def _mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan
    if np.ptp(np.concatenate([a, b])) == 0:  # every score equal: no evidence either way
        return 1.0, len(a) * len(b) / 2
    result = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    return float(result.pvalue), float(result.statistic)


def _delta_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if len(a) < 2 or len(b) < 2:
        return (-1.0, 1.0)
    with warnings.catch_warnings():  # a degenerate resample distribution is a valid answer here
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (a, b),
            cliffs_delta,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(0),
        )
    low, high = result.confidence_interval
    return (float(np.nan_to_num(low, nan=-1.0)), float(np.nan_to_num(high, nan=1.0)))


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment of p-values (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    order = [i for i in np.argsort(p) if not math.isnan(p[i])]
    adjusted = np.full(len(p), math.nan)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def decide(comparisons: list[Comparison], claim: str) -> tuple[str, list[Comparison]]:
    """The verdict of a claim from its comparisons, and the comparisons with adjusted p-values.

    `claim` is `A_BETTER` (A does better than B, in every comparison's orientation),
    `COMPARABLE`, `DIFFERENT` or `NOT_WORSE`. Verdicts (`SUPPORTED`, `CONTRADICTED`,
    `INCONCLUSIVE`):

    - A_BETTER: supported if some comparison favours A and none favours B; contradicted if some
      favours B and none favours A, or if every comparison shows equivalence (no difference);
      inconclusive otherwise (nothing significant, or comparisons that disagree).
    - COMPARABLE: supported if every comparison shows equivalence; contradicted if some favours
      either arm; inconclusive otherwise.
    - DIFFERENT: supported if some comparison favours either arm; contradicted if every
      comparison shows equivalence; inconclusive otherwise.
    - NOT_WORSE (A does at least as well as B): supported if none favours B and every comparison
      favours A or shows A non-inferior (its interval above -MARGIN); contradicted if some
      favours B; inconclusive otherwise.
    """
    adjusted = holm([c.p_value for c in comparisons])
    done = [replace(c, p_adjusted=p) for c, p in zip(comparisons, adjusted, strict=True)]
    done = [replace(c, seeds_needed=_seeds_needed(c, len(done))) for c in done]
    if not done:
        return INCONCLUSIVE, done
    for_a = any(c.favours_a for c in done)
    for_b = any(c.favours_b for c in done)
    all_equivalent = all(c.equivalent for c in done)
    if claim == A_BETTER:
        if for_a and not for_b:
            return SUPPORTED, done
        if (for_b and not for_a) or all_equivalent:
            return CONTRADICTED, done
        return INCONCLUSIVE, done
    if claim == DIFFERENT:
        if for_a or for_b:
            return SUPPORTED, done
        return (CONTRADICTED if all_equivalent else INCONCLUSIVE), done
    if claim == NOT_WORSE:
        if for_b:
            return CONTRADICTED, done
        if all(c.favours_a or c.not_worse for c in done):
            return SUPPORTED, done
        return INCONCLUSIVE, done
    if claim != COMPARABLE:
        raise ValueError(f"unknown claim {claim!r}; valid: {list(CLAIMS)}")
    if for_a or for_b:
        return CONTRADICTED, done
    if all_equivalent:
        return SUPPORTED, done
    return INCONCLUSIVE, done


def _seeds_needed(c: Comparison, tests: int) -> str:
    """For an undecided comparison: how many seeds would decide it if the observed proportions
    held: a significant difference (if A and B differed at all), or equivalence (if the effect
    is inside the margin), whichever comes first."""
    if c.favours_a or c.favours_b or c.equivalent or math.isnan(c.p_value):
        return ""
    unit = "pairs" if c.paired else "runs per arm"
    if c.paired:
        wins_a, wins_b, ties = c.counts
        start = wins_a + wins_b + ties
        decides = lambda n, target: _paired_decides(wins_a, wins_b, ties, n, tests, target)  # noqa: E731
    else:
        a, b = (np.asarray(x) for x in c.counts)
        start = len(a)
        decides = lambda n, target: _unpaired_decides(a, b, n, tests, target)  # noqa: E731
    targets = []
    if c.effect != 0:
        targets.append("a significant difference")
    if abs(c.effect) < MARGIN:
        targets.append("equivalence")
    found = [
        (n, target) for target in targets if (n := _scan(start, lambda n, t=target: decides(n, t)))
    ]
    if not found:
        return f"more than {MAX_SEEDS} {unit} would be needed to decide"
    n, target = min(found)
    return f"about {n} {unit} would show {target} if the observed proportions held"


def _scan(start: int, decides) -> int | None:
    """The smallest n in (start, MAX_SEEDS] for which `decides(n)` (which is monotone enough)."""
    n = start
    while n < MAX_SEEDS:
        n = min(MAX_SEEDS, max(n + 1, int(n * 1.25)))
        if decides(n):
            return n
    return None


def _paired_decides(wins_a, wins_b, ties, n, tests, target) -> bool:
    pairs = wins_a + wins_b + ties
    scaled = [round(x * n / pairs) for x in (wins_a, wins_b, ties)]
    p, (low, high) = _sign_test(*scaled)
    if target == "equivalence":
        return -MARGIN <= low and high <= MARGIN
    return p * tests < ALPHA


def _unpaired_decides(a, b, n, tests, target) -> bool:
    if target == "equivalence":
        # The interval's half-width shrinks as 1/sqrt(n) (no bootstrap per candidate n).
        delta = abs(float(cliffs_delta(a, b)))
        low, high = _delta_interval(a, b)
        half = (high - low) / 2 * math.sqrt(len(a) / n)
        return delta + half <= MARGIN
    copies = math.ceil(n / len(a))
    p, _ = _mann_whitney(np.tile(a, copies), np.tile(b, copies))
    return p * tests < ALPHA
