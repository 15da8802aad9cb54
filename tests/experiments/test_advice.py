"""'What to choose': each sentence follows its finding's verdict, names what the tests showed,
links to the evidence, and says plainly when the data could not decide."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.results import findings, significance
from experiments.results.findings import CONTRADICTED, INCONCLUSIVE, NOT_TESTED, SUPPORTED, Finding


def comparison(label, a, b, effect):
    """A decided comparison favouring A (effect +1), B (-1), or undecided (0)."""
    if effect == 0:
        left, right = [0, 1, 0, 1], [1, 0, 1, 0]
    else:
        left, right = (np.zeros(10), np.ones(10)) if effect > 0 else (np.ones(10), np.zeros(10))
    return significance.paired(label, a, b, left, right)


def finding(key, verdict, tests=(), context=()):
    _, done = significance.decide(list(tests), significance.A_BETTER)
    return Finding(key, "claim", "source", verdict, "rule", ("evidence",), {}, tuple(done), context)


def judged(**overrides):
    base = {f"F{n}": finding(f"F{n}", NOT_TESTED) for n in range(1, 11)}
    return [overrides.get(key, value) for key, value in base.items()]


def sentence(topic, **overrides):
    (line,) = [s for s in findings.what_to_choose(judged(**overrides)) if s.startswith(topic)]
    return line


def test_one_sentence_per_choice_each_linking_its_finding():
    lines = findings.what_to_choose(judged())
    assert [line.split(":**")[0] for line in lines] == [
        "**Gates",
        "**Candidate activation",
        "**Clipping mode",
        "**Forget bias",
        "**LSTM or GRU",
        "**Clipping threshold",
        "**LSTM parts",
        "**GRU or MUT1 instead of an LSTM",
        "**Ungated cells",
    ]
    assert "(#f2)" in lines[0] and "not tested by this grid" in lines[0]


def test_candidate_names_the_clip_modes_that_helped_and_those_that_did_not():
    f1 = finding(
        "F1",
        SUPPORTED,
        [
            comparison("adding50 adam global_clipnorm 0.25", "clipped", "unclipped", +1),
            comparison("adding50 adam clipvalue 0.25", "clipped", "unclipped", 0),
        ],
    )
    line = sentence("**Candidate", F1=f1)
    assert "needs gradient clipping" in line
    assert "helped significantly under adding50 adam global_clipnorm 0.25" in line
    assert "not significantly under adding50 adam clipvalue 0.25" in line
    assert "[F1](#f1)" in line


@pytest.mark.parametrize(
    "verdict, words",
    [
        (SUPPORTED, "did significantly worse"),
        (CONTRADICTED, "did as well as sigmoid gates"),
        (INCONCLUSIVE, "the data could not decide whether ReLU gates do worse"),
    ],
)
def test_gates_follow_the_verdict(verdict, words):
    tests = [
        comparison("adding50 lstm", "sigmoid gates", "ReLU gates", 1 if verdict == SUPPORTED else 0)
    ]
    assert words in sentence("**Gates", F2=finding("F2", verdict, tests))


def test_an_undecided_finding_says_how_many_seeds_would_decide():
    f6 = finding("F6", INCONCLUSIVE, [comparison("adding50 adam", "bias 1", "bias 0", 0)])
    line = sentence("**Forget bias", F6=f6)
    assert "could not decide" in line and "would show" in line


def test_clipping_and_cell_name_the_winner():
    f4 = finding("F4", SUPPORTED, [comparison("adding50 sgd", "global_clipnorm", "clipnorm", -1)])
    assert "clipnorm on adding50 sgd did better" in sentence("**Clipping mode", F4=f4)
    f5 = finding("F5", CONTRADICTED, [comparison("adding100 adam", "gru", "lstm", +1)])
    assert "gru on adding100 adam did better" in sentence("**LSTM or GRU", F5=f5)
    assert "either" in sentence("**LSTM or GRU", F5=finding("F5", SUPPORTED))


def test_ungated_combines_f3_and_f7():
    f7 = finding("F7", SUPPORTED, [comparison("adding50 1000", "IndRNN", "tanh RNN", +1)])
    line = sentence("**Ungated", F3=finding("F3", SUPPORTED), F7=f7)
    assert "prefer a gated cell" in line and "beat the tanh RNN (IndRNN on adding50 1000;" in line
    assert "[F3](#f3)" in line and "[F7](#f7)" in line


def test_threshold_follows_the_verdict():
    low = comparison(
        "adding50 sgd clipnorm lstm relu_candidate 0.25 vs 1", "low threshold", "high threshold", +1
    )
    line = sentence("**Clipping threshold", F10=finding("F10", SUPPORTED, [low]))
    assert "clip often" in line and "under adding50 sgd clipnorm lstm relu_candidate" in line
    assert "[F10](#f10)" in line
    high = comparison("adding50 adam clipvalue", "low threshold", "high threshold", -1)
    line = sentence("**Clipping threshold", F10=finding("F10", CONTRADICTED, [high]))
    assert "clip rarely" in line and "high threshold on adding50 adam clipvalue" in line
    undecided = finding(
        "F10", INCONCLUSIVE, [comparison("adding50 adam", "low threshold", "high threshold", 0)]
    )
    line = sentence("**Clipping threshold", F10=undecided)
    assert "could not decide" in line and "plot of the outcome against the share" in line


def test_lstm_parts_name_what_to_keep_and_what_can_go():
    f8 = finding(
        "F8",
        SUPPORTED,
        [
            comparison("adding50 adam", "LSTM", "NFG", +1),  # removing the forget gate hurt
            comparison("adding50 adam", "LSTM", "NOAF", 0),  # undecided: named nowhere
            comparison("adding50 adam", "NOG", "LSTM", +1),  # no loss without the output gate
            comparison("adding50 adam", "CIFG", "LSTM", -1),  # coupling lost
        ],
    )
    line = sentence("**LSTM parts", F8=f8)
    assert "removing NFG did significantly worse: keep them" in line
    assert (
        "NOG lost nothing significant" in line and "CIFG did significantly worse than LSTM" in line
    )
    assert "NOAF" not in line and "[F8](#f8)" in line
    f8 = finding("F8", CONTRADICTED, [comparison("adding50", "LSTM", "NFG", -1)])
    line = sentence("**LSTM parts", F8=f8)
    assert "ranking is contradicted here" in line and "NFG did significantly better" in line


def test_mut_names_the_winner():
    f9 = finding(
        "F9",
        CONTRADICTED,
        [
            comparison("adding50", "gru", "lstm", +1),
            comparison("adding50", "mut1", "gru", -1),
            comparison("adding100", "mut1", "gru", -1),
        ],
    )
    line = sentence("**GRU or MUT1", F9=f9)
    assert "gru beat lstm (on adding50); gru beat mut1 (on adding50, adding100)" in line
    assert "either" in sentence("**GRU or MUT1", F9=finding("F9", SUPPORTED))
