"""The findings' statistics: the outcome scale, the exact tests, Holm, and every clause of
`decide`, on numbers whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from experiments.results import significance as sig
from experiments.results.significance import A_BETTER, COMPARABLE, DIFFERENT, MARGIN, NOT_WORSE


def test_score_orders_solved_early_then_late_then_unsolved_by_loss_then_diverged():
    scores = sig.score(
        solved=[True, True, False, False, False, True],
        step_solved=[100, 900, math.nan, math.nan, math.nan, 500],
        steps=[1000] * 6,
        loss_ratio=[0.01, 0.01, 0.05, 0.9, math.inf, math.inf],
        diverged=[False, False, False, False, True, True],
    )
    assert scores[0] == pytest.approx(0.1) and scores[1] == pytest.approx(0.9)
    assert scores[0] < scores[1] < scores[2] < scores[3] < scores[4]
    assert 2 <= scores[2] <= 3 and scores[4] == sig.DIVERGED_SCORE
    assert scores[5] == pytest.approx(0.5)  # solved, then diverged: solving is a first passage


def test_sign_test_counts_wins_drops_ties_and_gives_the_exact_p():
    c = sig.paired("t", "a", "b", [1, 1, 1, 1, 1, 1, 2, 3], [2, 2, 2, 2, 2, 2, 2, 3])
    assert c.counts == (6, 0, 2)
    assert c.p_value == pytest.approx(stats.binomtest(6, 6).pvalue) == pytest.approx(1 / 32)
    assert c.effect == pytest.approx(6 / 8)
    low, high = c.interval
    ci = stats.binomtest(6, 6).proportion_ci(method="exact")
    assert (low, high) == pytest.approx(((2 * ci.low - 1) * 6 / 8, (2 * ci.high - 1) * 6 / 8))


def test_all_ties_are_equivalent_with_no_evidence_of_a_difference():
    c = sig.paired("t", "a", "b", [0.5] * 8, [0.5] * 8)
    assert c.p_value == 1.0 and c.interval == (0.0, 0.0) and c.equivalent


def test_cliffs_delta_and_mann_whitney():
    a, b = [1, 2, 3, 4], [3, 4, 5, 6]
    # pairs: a < b in 13 of 16, ties 2, a > b 1 -> (13 - 1) / 16
    assert sig.cliffs_delta(a, b) == pytest.approx(12 / 16)
    c = sig.unpaired("t", "a", "b", a, b)
    assert c.effect == pytest.approx(0.75)
    expected = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    assert c.p_value == pytest.approx(expected)
    assert c.interval[0] <= 0.75 <= c.interval[1]


def test_unpaired_identical_scores_are_equivalent():
    c = sig.unpaired("t", "a", "b", [0.3] * 8, [0.3] * 8)
    assert c.p_value == 1.0 and c.effect == 0 and c.equivalent


def test_holm_known_values():
    assert sig.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = sig.holm([0.02, math.nan])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])


def clear(effect=+1, n=10):
    """A paired comparison with `n` pairs all won by A (effect +1) or by B (-1)."""
    a, b = (np.zeros(n), np.ones(n)) if effect > 0 else (np.ones(n), np.zeros(n))
    return sig.paired("clear", "a", "b", a, b)


def undecided():
    return sig.paired("undecided", "a", "b", [0, 0, 1, 1], [1, 1, 0, 0.5])


def same():
    return sig.paired("same", "a", "b", [0.5] * 10, [0.5] * 10)


def ahead():
    """A ahead but not significantly (8 wins to 2, 20 ties: p = 0.11), its interval above -0.3."""
    return sig.paired(
        "ahead", "a", "b", [0] * 8 + [1] * 2 + [0.5] * 20, [1] * 8 + [0] * 2 + [0.5] * 20
    )


@pytest.mark.parametrize(
    "tests, claim, verdict",
    [
        ([clear(+1)], A_BETTER, "supported"),
        ([clear(+1), undecided()], A_BETTER, "supported"),  # one task shows it, none opposes
        ([clear(-1)], A_BETTER, "contradicted"),  # the opposite, significantly
        ([same(), same()], A_BETTER, "contradicted"),  # equivalence everywhere: no difference
        ([same(), undecided()], A_BETTER, "inconclusive"),
        ([clear(+1), clear(-1)], A_BETTER, "inconclusive"),  # tasks disagree
        ([undecided()], A_BETTER, "inconclusive"),
        ([same()], COMPARABLE, "supported"),
        ([same(), undecided()], COMPARABLE, "inconclusive"),
        ([same(), clear(-1)], COMPARABLE, "contradicted"),
        ([clear(+1)], COMPARABLE, "contradicted"),
        ([clear(-1)], DIFFERENT, "supported"),
        ([clear(+1), same()], DIFFERENT, "supported"),
        ([same()], DIFFERENT, "contradicted"),
        ([undecided(), same()], DIFFERENT, "inconclusive"),
        ([], A_BETTER, "inconclusive"),
        ([ahead()], NOT_WORSE, "supported"),  # non-inferior without being significantly better
        ([ahead()], A_BETTER, "inconclusive"),
        ([clear(+1), same()], NOT_WORSE, "supported"),
        ([clear(-1)], NOT_WORSE, "contradicted"),
        ([ahead(), clear(-1)], NOT_WORSE, "contradicted"),
        ([undecided()], NOT_WORSE, "inconclusive"),  # 4 pairs: the interval reaches below -0.3
        ([ahead(), undecided()], NOT_WORSE, "inconclusive"),
    ],
)
def test_decide_clauses(tests, claim, verdict):
    assert sig.decide(tests, claim)[0] == verdict


def test_decide_adjusts_for_the_number_of_tests():
    # 6-0 alone: p = 1/32 < 0.05; beside two other tests Holm makes it 3/32 > 0.05
    six = sig.paired("six", "a", "b", np.zeros(6), np.ones(6))
    assert sig.decide([six], A_BETTER)[0] == "supported"
    verdict, done = sig.decide([six, undecided(), undecided()], A_BETTER)
    assert verdict == "inconclusive"
    assert done[0].p_adjusted == pytest.approx(3 / 32)


def test_decide_refuses_an_unknown_claim():
    with pytest.raises(ValueError, match="unknown claim 'better'"):
        sig.decide([clear()], "better")


def test_seeds_needed_for_an_undecided_difference():
    # 3 wins of 3 pairs: p = 0.25; at the same proportions 6 pairs give p = 1/32 < 0.05
    three = sig.paired("three", "a", "b", np.zeros(3), np.ones(3))
    (done,) = sig.decide([three], A_BETTER)[1]
    assert done.seeds_needed.startswith("about 6 pairs would show a significant difference")


def test_seeds_needed_for_equivalence_when_no_difference_is_seen():
    even = sig.paired("even", "a", "b", [0, 1, 0, 1], [1, 0, 1, 0])
    (done,) = sig.decide([even], COMPARABLE)[1]
    assert "would show equivalence" in done.seeds_needed
    n = int(done.seeds_needed.split()[1])
    _, (low, high) = sig._sign_test(n // 2, n // 2, 0)
    assert -MARGIN <= low and high <= MARGIN  # n pairs at the same split do fit the margin
    _, (low, high) = sig._sign_test(n // 2 - 2, n // 2 - 2, 0)
    assert low < -MARGIN  # ... and a few fewer do not


def test_decided_comparisons_need_no_more_seeds():
    verdict, done = sig.decide([clear(), same()], A_BETTER)
    assert [c.seeds_needed for c in done] == ["", ""]
    assert "clear: a vs b, exact sign test" in done[0].text()
