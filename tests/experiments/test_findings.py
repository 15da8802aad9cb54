"""Every rule of every finding, on synthetic records whose answer is known.

Each finding gets: a clear effect -> supported; a clear opposite -> contradicted; equivalence
(identical outcomes) -> contradicted where the claim asserts a difference, supported where it
asserts comparability; too few seeds -> inconclusive with a seeds-needed estimate; missing arms ->
not tested. The clauses particular to a finding (strata, the runs it leaves out, the positive
control, the firing filter) are tested on their own.

The tables are built in memory (no files), with the columns `analysis.load` gives.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.grid.spec import RunSpec
from experiments.results import analysis, findings
from experiments.results.findings import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_TESTED,
    SUPPORTED,
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
from experiments.results.labels import NOT_CONFIG, with_labels
from experiments.vocabulary import BUILTIN_SCHEMES

BASE = dict(grid="synthetic", task="adding", length=50, units=8, steps=1000, clip_threshold=0.25)
U, LEARNED, D = "unsolved", "learned", "diverged"  # outcomes other than "solved at step N"


def run_rows(outcomes, clipped_steps=0.3, **overrides) -> list[dict]:
    """One run per outcome (seed = position): an int solves at that step; `U` ends at 0.8 x the
    baseline, `LEARNED` at 0.1 x, `D` diverges."""
    scheme = overrides.get("scheme", "standard")
    rows = []
    for seed, result in enumerate(outcomes):
        spec = RunSpec(**{**BASE, **BUILTIN_SCHEMES[scheme], **overrides, "seed": seed})
        spec = spec.normalized()
        solved = isinstance(result, int)
        rows.append(
            {
                "run_id": spec.run_id,
                **spec.to_dict(),
                "status": "diverged" if result == D else "completed",
                "solved": solved,
                "step_solved": float(result) if solved else math.nan,
                "loss_ratio": {U: 0.8, LEARNED: 0.1, D: math.inf}.get(result, 0.01),
                "clipped_steps": clipped_steps if spec.clip != "none" else 0.0,
            }
        )
    return rows


def tables_of(*groups, timesteps=None) -> analysis.Tables:
    """Tables holding the runs of `groups` (lists of `run_rows` rows)."""
    rows = [row for group in groups for row in group]
    keys = list(rows[0])
    spec_keys = [k for k in RunSpec().to_dict() if k in keys]
    runs = with_labels(pd.DataFrame(rows), spec_keys)
    empty = pd.DataFrame(columns=["run_id", "step"])
    return analysis.Tables(
        grid_dir=Path("synthetic"),
        runs=runs,
        configs=pd.DataFrame(),
        steps=empty,
        evals=empty,
        variables=empty,
        timesteps=empty if timesteps is None else timesteps,
        spec_columns=tuple(k for k in spec_keys if k not in NOT_CONFIG),
    )


def judged(finding, *groups, timesteps=None):
    result = finding(tables_of(*groups, timesteps=timesteps))
    assert result.verdict in findings.VERDICTS
    assert result.rule and result.evidence and result.claim and result.source
    if result.verdict != NOT_TESTED:
        assert result.budget and result.budget_text.startswith("adding")
    return result


SOLVED = [300] * 8
SLOW = [900] * 8


def assert_seeds_needed(result):
    needed = [c.seeds_needed for c in result.comparisons if c.seeds_needed]
    assert needed and all(("about" in n or "more than" in n) for n in needed), needed


# --------------------------------------------------------------------------------------------------
# F1: a ReLU-candidate LSTM needs clipping


def f1(clipped, unclipped, clip="global_clipnorm", **extra):
    return (
        run_rows(clipped, scheme="relu_candidate", clip=clip, **extra),
        run_rows(unclipped, scheme="relu_candidate", clip="none", **extra),
    )


def test_f1_supported_when_clipping_helps():
    result = judged(f01_relu_candidate.judge, *f1(SOLVED, [U] * 8))
    assert result.verdict == SUPPORTED
    (test,) = result.comparisons
    assert test.counts == (8, 0, 0) and test.p_value == pytest.approx(2 / 2**8)
    assert test.label == "adding50 adam global_clipnorm 0.25"


def test_f1_contradicted_when_clipping_hurts():
    assert judged(f01_relu_candidate.judge, *f1([U] * 8, SOLVED)).verdict == CONTRADICTED


def test_f1_contradicted_when_clipping_changes_nothing():
    result = judged(f01_relu_candidate.judge, *f1(SOLVED, SOLVED))
    assert result.verdict == CONTRADICTED
    assert result.comparisons[0].equivalent


def test_f1_inconclusive_with_too_few_seeds():
    result = judged(f01_relu_candidate.judge, *f1([300] * 3, [U] * 3))
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f1_not_tested_without_unclipped_runs():
    result = judged(
        f01_relu_candidate.judge, run_rows(SOLVED, scheme="relu_candidate", clip="clipnorm")
    )
    assert result.verdict == NOT_TESTED


def test_f1_tests_each_clip_mode_and_optimizer_on_its_own():
    groups = [
        *f1(SOLVED, [U] * 8),
        run_rows([U] * 8, scheme="relu_candidate", clip="clipvalue"),
        *f1(SOLVED, [U] * 8, optimizer="sgd", momentum=0.9),
    ]
    result = judged(f01_relu_candidate.judge, *groups)
    labels = {c.label: c.outcome for c in result.comparisons}
    assert labels == {
        "adding50 adam global_clipnorm 0.25": "clipped better",
        "adding50 sgd global_clipnorm 0.25": "clipped better",
    }
    # clipvalue: neither side solved, so that stratum is named and left out
    assert any(
        "adding50 adam clipvalue 0.25: clipped vs unclipped (8 pairs, none solved)" in e
        for e in result.evidence
    )
    assert result.verdict == SUPPORTED


def test_f1_judges_each_clip_mode_at_its_lowest_threshold():
    # a second threshold (F10's sweep) is shown beside, not added to the verdict's tests
    groups = [
        *f1(SOLVED, [U] * 8),
        run_rows(
            [U] * 4 + [300] * 4, scheme="relu_candidate", clip="global_clipnorm", clip_threshold=4.0
        ),
        run_rows(SOLVED, scheme="relu_candidate", clip="clipnorm", clip_threshold=4.0),
    ]
    result = judged(f01_relu_candidate.judge, *groups)
    assert {c.label for c in result.comparisons} == {
        "adding50 adam global_clipnorm 0.25",
        "adding50 adam clipnorm 4",  # the only threshold of its mode
    }
    assert result.verdict == SUPPORTED
    (beside,) = [c for c in result.context if not c.label.startswith("tanh")]
    assert beside.label == "adding50 adam global_clipnorm 4" and beside.outcome == "undecided"


def test_f1_leaves_out_a_task_that_no_run_solved():
    # At length 20 nothing solves: clipped "learned" beats unclipped on loss, but that task must
    # not decide the claim (it carries no information on solving); length 50 has no effect.
    groups = [*f1(SOLVED, SOLVED), *f1([LEARNED] * 8, [U] * 8, length=20)]
    result = judged(f01_relu_candidate.judge, *groups)
    assert [c.label for c in result.comparisons] == ["adding50 adam global_clipnorm 0.25"]
    assert any("left out" in line and "adding20" in line for line in result.evidence)
    assert result.verdict == CONTRADICTED


def test_f1_shows_the_tanh_lstm_beside_the_verdict():
    tanh = [
        run_rows(SOLVED, clip="global_clipnorm"),
        run_rows([U] * 8, clip="none"),
    ]
    result = judged(f01_relu_candidate.judge, *f1(SOLVED, SOLVED), *tanh)
    assert result.verdict == CONTRADICTED  # the reference does not vote
    assert [c.outcome for c in result.context] == ["clipped better"]


# --------------------------------------------------------------------------------------------------
# F2: ReLU gates do worse than sigmoid gates (matched initial openness)


def f2(sigmoid, relu, cell="lstm", gate_init="matched"):
    return (
        run_rows(sigmoid, cell=cell, clip="global_clipnorm"),
        run_rows(relu, cell=cell, scheme="relu_gates", gate_init=gate_init, clip="global_clipnorm"),
    )


def test_f2_supported():
    result = judged(f02_relu_gates.judge, *f2(SOLVED, [D] * 4 + [U] * 4))
    assert result.verdict == SUPPORTED
    assert result.favouring("sigmoid gates")


def test_f2_contradicted_when_relu_gates_do_better():
    assert judged(f02_relu_gates.judge, *f2(SLOW, SOLVED, cell="gru")).verdict == CONTRADICTED


def test_f2_contradicted_by_equivalence():
    assert judged(f02_relu_gates.judge, *f2(SOLVED, SOLVED)).verdict == CONTRADICTED


def test_f2_inconclusive_with_too_few_seeds():
    result = judged(f02_relu_gates.judge, *f2([300] * 4, [U] * 4))
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f2_needs_matched_gate_initialisation():
    result = judged(f02_relu_gates.judge, *f2(SOLVED, [U] * 8, gate_init="keras"))
    assert result.verdict == NOT_TESTED
    assert "matched" in result.evidence[0]


def test_f2_tests_each_cell_and_shows_hard_sigmoid_beside():
    hard = run_rows(
        SOLVED, scheme="hard_sigmoid_gates", gate_init="matched", clip="global_clipnorm"
    )
    groups = [*f2(SOLVED, [U] * 8), *f2(SOLVED, SOLVED, cell="gru"), hard]
    result = judged(f02_relu_gates.judge, *groups)
    assert {c.label: c.outcome for c in result.comparisons} == {
        "adding50 lstm": "sigmoid gates better",
        "adding50 gru": "equivalent",
    }
    assert result.verdict == SUPPORTED  # one cell shows it, none the opposite
    assert [c.outcome for c in result.context] == ["equivalent"]


# --------------------------------------------------------------------------------------------------
# F3: the gradient through time (at initialisation and at the end of training)


def decay_rows(rows, start_orders, end_orders, T=50):
    """timesteps.csv rows: ||dL/dx_t|| falling by the given orders from t = T-1 to t = 0, at step
    1 (initialisation) and at the run's last step."""
    out = []
    for row, first, last in zip(rows, start_orders, end_orders, strict=True):
        for step, orders in ((1, first), (row["steps"], last)):
            out += [
                (row["run_id"], step, t, 10 ** (-orders * (T - 1 - t) / (T - 1))) for t in range(T)
            ]
    return out


def f3(gated_end, tanh_end, control=(300,) * 8, gated_start=-3.0, tanh_start=-1.0):
    lstm = run_rows(SOLVED, clip="global_clipnorm")
    tanh = run_rows([U] * 8, cell="simple_rnn", clip="global_clipnorm")
    groups = [lstm, tanh]
    if control:
        groups.append(run_rows(list(control), cell="simple_rnn", clip="global_clipnorm", length=10))
    rows = decay_rows(lstm, [-gated_start] * 8, [-g for g in gated_end])
    rows += decay_rows(tanh, [-tanh_start] * 8, [-t for t in tanh_end])
    timesteps = pd.DataFrame(rows, columns=["run_id", "step", "t", "grad_norm"])
    return judged(f03_gradient_through_time.judge, *groups, timesteps=timesteps)


def test_f3_supported_at_the_end_of_training_and_shown_at_initialisation():
    result = f3(gated_end=np.linspace(-0.5, -0.2, 8), tanh_end=np.linspace(-6, -5, 8))
    assert result.verdict == SUPPORTED
    # at initialisation the tanh RNN lost fewer orders: shown beside, not voting
    assert [c.outcome for c in result.context] == ["simple_rnn better"]
    assert any("median D at initialisation -3.00" in line for line in result.evidence)


def test_f3_not_supported_without_a_passing_positive_control():
    result = f3(np.linspace(-0.5, -0.2, 8), np.linspace(-6, -5, 8), control=(U,) * 8)
    assert result.verdict == INCONCLUSIVE
    assert any("not passed" in line for line in result.evidence)
    assert f3(np.linspace(-0.5, -0.2, 8), np.linspace(-6, -5, 8), control=()).verdict == (
        INCONCLUSIVE
    )


def test_f3_contradicted_when_the_tanh_rnn_keeps_more_gradient():
    assert f3(np.linspace(-6, -5, 8), np.linspace(-0.5, -0.2, 8)).verdict == CONTRADICTED


def test_f3_inconclusive_when_the_two_overlap():
    result = f3(np.linspace(-2, -1, 8), np.linspace(-2.1, -1.1, 8))
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f3_not_tested_without_gradient_records():
    result = judged(
        f03_gradient_through_time.judge,
        run_rows(SOLVED),
        run_rows([U] * 8, cell="simple_rnn"),
    )
    assert result.verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F4: clipnorm vs global_clipnorm when clipping fires


def f4(global_, per_variable, clipped_steps=0.3, **extra):
    return (
        run_rows(global_, clip="global_clipnorm", clipped_steps=clipped_steps, **extra),
        run_rows(per_variable, clip="clipnorm", clipped_steps=clipped_steps, **extra),
    )


@pytest.mark.parametrize("order", ["global better", "clipnorm better"])
def test_f4_supported_by_a_difference_either_way(order):
    a, b = (SOLVED, SLOW) if order == "global better" else (SLOW, SOLVED)
    result = judged(f04_clipnorm_vs_global.judge, *f4(a, b))
    assert result.verdict == SUPPORTED


def test_f4_contradicted_by_equivalence():
    assert judged(f04_clipnorm_vs_global.judge, *f4(SOLVED, SOLVED)).verdict == CONTRADICTED


def test_f4_inconclusive_with_too_few_seeds():
    result = judged(f04_clipnorm_vs_global.judge, *f4([300] * 4, [600] * 4))
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f4_judges_only_pairs_where_clipping_fired():
    # Clipping rarely fired: the (different) outcomes are not evidence about the clip modes.
    rare = judged(f04_clipnorm_vs_global.judge, *f4(SOLVED, SLOW, clipped_steps=0.05))
    assert rare.verdict == NOT_TESTED
    assert "never fired often enough" in rare.evidence[0]
    groups = [*f4(SOLVED, SOLVED), *f4(SOLVED, SLOW, clipped_steps=0.05, optimizer="sgd")]
    result = judged(f04_clipnorm_vs_global.judge, *groups)
    assert [c.label for c in result.comparisons] == ["adding50 adam lstm standard"]
    assert result.verdict == CONTRADICTED


def test_f4_not_tested_without_pairs():
    result = judged(f04_clipnorm_vs_global.judge, run_rows(SOLVED, clip="clipnorm"))
    assert result.verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F5: GRU comparable to LSTM (unpaired)


def f5(gru, lstm, **extra):
    return (
        run_rows(gru, cell="gru", clip="global_clipnorm", **extra),
        run_rows(lstm, clip="global_clipnorm", **extra),
    )


def test_f5_supported_by_equivalence():
    result = judged(f05_gru_vs_lstm.judge, *f5(SOLVED, SOLVED))
    assert result.verdict == SUPPORTED
    assert result.comparisons[0].test == "Mann-Whitney U"


@pytest.mark.parametrize("better", ["gru", "lstm"])
def test_f5_contradicted_by_a_difference(better):
    gru, lstm = (SOLVED, [U] * 8) if better == "gru" else ([U] * 8, SOLVED)
    result = judged(f05_gru_vs_lstm.judge, *f5(gru, lstm))
    assert result.verdict == CONTRADICTED
    assert result.favouring(better)


def test_f5_inconclusive_with_too_few_seeds():
    result = judged(f05_gru_vs_lstm.judge, *f5([300, 500, 700], [400, 600, 800]))
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f5_leaves_out_tasks_neither_cell_solves():
    groups = [*f5(SOLVED, SOLVED), *f5([U] * 8, [LEARNED] * 8, length=100)]
    result = judged(f05_gru_vs_lstm.judge, *groups)
    assert [c.label for c in result.comparisons] == ["adding50 adam global_clipnorm"]
    assert any("left out" in line and "adding100" in line for line in result.evidence)
    assert result.verdict == SUPPORTED


def test_f5_compares_the_lstm_at_its_default_forget_bias_only():
    # F6's bias-0 runs share the GRU's other settings; they must not join the LSTM arm
    groups = [*f5(SOLVED, SOLVED), run_rows([U] * 8, clip="global_clipnorm", forget_bias=0.0)]
    result = judged(f05_gru_vs_lstm.judge, *groups)
    assert result.comparisons[0].n == "8 vs 8 runs"
    assert result.verdict == SUPPORTED


def test_f5_not_tested_without_gru_runs():
    assert judged(f05_gru_vs_lstm.judge, run_rows(SOLVED)).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F6: forget bias 1 vs 0 (paired)


def f6(one, zero):
    return (
        run_rows(one, clip="global_clipnorm"),
        run_rows(zero, clip="global_clipnorm", forget_bias=0.0),
    )


def test_f6_supported():
    assert judged(f06_forget_bias.judge, *f6(SOLVED, SLOW)).verdict == SUPPORTED


def test_f6_contradicted_when_bias_0_does_better():
    assert judged(f06_forget_bias.judge, *f6(SLOW, SOLVED)).verdict == CONTRADICTED


def test_f6_contradicted_by_equivalence():
    assert judged(f06_forget_bias.judge, *f6(SOLVED, SOLVED)).verdict == CONTRADICTED


def test_f6_inconclusive_with_too_few_seeds():
    result = judged(f06_forget_bias.judge, *f6([300, 300, 300], [900, 900, 900]))
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f6_not_tested_without_bias_0():
    assert judged(f06_forget_bias.judge, run_rows(SOLVED)).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F7: IRNN / IndRNN vs the tanh RNN (unpaired)


def f7(relu, tanh, cell="simple_rnn"):
    init = {"recurrent_initializer": "identity"} if cell == "simple_rnn" else {}
    return (
        run_rows(relu, cell=cell, scheme="relu", learning_rate=0.001, **init),
        run_rows(tanh, cell="simple_rnn"),
    )


@pytest.mark.parametrize("cell, name", [("simple_rnn", "IRNN"), ("indrnn", "IndRNN")])
def test_f7_supported(cell, name):
    result = judged(f07_relu_recurrence.judge, *f7(SOLVED, [U] * 8, cell=cell))
    assert result.verdict == SUPPORTED
    assert result.favouring(name)


def test_f7_contradicted_when_the_tanh_rnn_does_better():
    assert judged(f07_relu_recurrence.judge, *f7([U] * 8, SOLVED)).verdict == CONTRADICTED


def test_f7_inconclusive_with_too_few_seeds():
    result = judged(f07_relu_recurrence.judge, *f7([300, U, 500], [U, U, 700]))
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f7_ignores_a_relu_simple_rnn_without_identity_initialisation():
    groups = (
        run_rows(SOLVED, cell="simple_rnn", scheme="relu"),
        run_rows([U] * 8, cell="simple_rnn"),
    )
    assert judged(f07_relu_recurrence.judge, *groups).verdict == NOT_TESTED


def test_judge_gives_every_finding_in_order():
    result = findings.judge(tables_of(*f1(SOLVED, [U] * 8)))
    assert [f.key for f in result] == [f"F{i}" for i in range(1, 11)]


# --------------------------------------------------------------------------------------------------
# F8: Greff et al.'s LSTM ablations (paired by seed against the standard LSTM)


def f8(lstm=SOLVED, nfg=SLOW, noaf=SLOW, nog=SOLVED, cifg=SOLVED, peephole=SOLVED, **extra):
    groups = [run_rows(lstm, **extra)]
    for outcomes, settings in (
        (nfg, {"cell": "nfg"}),
        (noaf, {"scheme": "linear_output"}),
        (nog, {"cell": "nog"}),
        (cifg, {"cell": "cifg"}),
        (peephole, {"cell": "peephole"}),
    ):
        if outcomes is not None:
            groups.append(run_rows(outcomes, **settings, **extra))
    return groups


def test_f8_supported_when_nfg_and_noaf_hurt_and_the_others_do_not():
    result = judged(f08_lstm_ablations.judge, *f8())
    assert result.verdict == SUPPORTED
    labels = [(c.a, c.b) for c in result.comparisons]
    assert ("LSTM", "NFG") in labels and ("LSTM", "NOAF") in labels
    assert ("NOG", "LSTM") in labels and ("CIFG", "LSTM") in labels
    assert ("LSTM (no peepholes)", "peephole LSTM") in labels
    assert all(c.counts == (8, 0, 0) for c in result.comparisons if c.b in ("NFG", "NOAF"))


def test_f8_contradicted_when_the_output_gate_matters():
    assert judged(f08_lstm_ablations.judge, *f8(nog=SLOW)).verdict == CONTRADICTED


def test_f8_contradicted_when_the_forget_gate_does_not_matter():
    # NFG as good as the LSTM: equivalence where part 1 claims a difference
    assert judged(f08_lstm_ablations.judge, *f8(nfg=SOLVED)).verdict == CONTRADICTED


def test_f8_contradicted_when_removing_the_peepholes_hurts():
    result = judged(f08_lstm_ablations.judge, *f8(lstm=SLOW, nfg=[U] * 8, noaf=[U] * 8))
    # the standard LSTM (no peepholes) is slower than every variant that should not hurt
    assert result.verdict == CONTRADICTED
    assert result.favouring("peephole LSTM")


def test_f8_inconclusive_with_too_few_seeds():
    result = judged(
        f08_lstm_ablations.judge,
        *f8([300] * 3, [900] * 3, [900] * 3, [300, 900, 300], [300] * 3, [300] * 3),
    )
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f8_shows_nig_and_niaf_beside_the_verdict():
    groups = [
        *f8(),
        run_rows(SLOW, cell="nig"),
        run_rows([U] * 8, scheme="linear_candidate"),
    ]
    result = judged(f08_lstm_ablations.judge, *groups)
    assert result.verdict == SUPPORTED
    assert {c.b for c in result.context} == {"NIG", "NIAF"}
    assert all(c.favours_a for c in result.context)


def test_f8_not_tested_without_both_parts():
    assert judged(f08_lstm_ablations.judge, *f8(nog=None, cifg=None, peephole=None)).verdict == (
        NOT_TESTED
    )


# --------------------------------------------------------------------------------------------------
# F9: GRU and MUT1 at least as good as the LSTM, MUT1 at least as good as GRU (unpaired)


def f9(lstm=SOLVED, gru=SOLVED, mut1=SOLVED, **more):
    cells = {"lstm": lstm, "gru": gru, "mut1": mut1, **more}
    return [run_rows(outcomes, cell=cell) for cell, outcomes in cells.items()]


def test_f9_supported_when_all_do_equally_well():
    result = judged(f09_gru_mut_vs_lstm.judge, *f9())
    assert result.verdict == SUPPORTED
    assert [(c.a, c.b) for c in result.comparisons] == [
        ("gru", "lstm"),
        ("mut1", "lstm"),
        ("mut1", "gru"),
    ]


def test_f9_supported_when_mut1_does_better():
    assert judged(f09_gru_mut_vs_lstm.judge, *f9(lstm=SLOW, gru=SLOW)).verdict == SUPPORTED


@pytest.mark.parametrize("worse", ["gru", "mut1"])
def test_f9_contradicted_when_a_cell_does_worse(worse):
    result = judged(f09_gru_mut_vs_lstm.judge, *f9(**{worse: [U] * 8}))
    assert result.verdict == CONTRADICTED


def test_f9_inconclusive_with_too_few_seeds():
    result = judged(
        f09_gru_mut_vs_lstm.judge, *f9([300, 500, 700], [400, 600, 800], [500, 700, 900])
    )
    assert result.verdict == INCONCLUSIVE
    assert_seeds_needed(result)


def test_f9_shows_mut2_and_mut3_beside():
    result = judged(f09_gru_mut_vs_lstm.judge, *f9(mut2=SOLVED, mut3=[U] * 8))
    assert result.verdict == SUPPORTED
    assert [c.a for c in result.context] == ["mut2", "mut3"]
    assert result.context[1].favours_b


def test_f9_not_tested_without_mut1():
    assert judged(f09_gru_mut_vs_lstm.judge, *f9(mut1=[])[:2]).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F10: the clipping threshold (lowest vs highest, paired by seed)


def f10(low, high, unclipped=None, clip="global_clipnorm", **extra):
    groups = [
        run_rows(low, scheme="relu_candidate", clip=clip, clip_threshold=0.1, **extra),
        run_rows(high, scheme="relu_candidate", clip=clip, clip_threshold=4.0, **extra),
    ]
    if unclipped is not None:
        groups.append(run_rows(unclipped, scheme="relu_candidate", clip="none", **extra))
    return groups


def test_f10_supported_when_the_low_threshold_does_better():
    result = judged(f10_clip_threshold.judge, *f10(SOLVED, [U] * 8, SLOW))
    assert result.verdict == SUPPORTED
    (test,) = result.comparisons
    assert test.label.endswith("global_clipnorm lstm relu_candidate 0.1 vs 4")
    assert test.counts == (8, 0, 0)
    # each threshold against unclipped training, beside the verdict
    assert [c.a for c in result.context] == ["threshold 0.1", "threshold 4"]
    assert result.context[0].favours_a and result.context[1].favours_b
    assert any("0.1: 8/8 solved" in line for line in result.evidence)


def test_f10_contradicted_when_the_high_threshold_does_better():
    assert judged(f10_clip_threshold.judge, *f10([U] * 8, SOLVED)).verdict == CONTRADICTED


def test_f10_contradicted_when_the_threshold_does_not_matter():
    assert judged(f10_clip_threshold.judge, *f10(SOLVED, SOLVED)).verdict == CONTRADICTED


def test_f10_tests_each_clip_mode_and_optimizer_apart():
    groups = [*f10(SOLVED, SLOW), *f10(SOLVED, SLOW, clip="clipvalue", optimizer="sgd")]
    result = judged(f10_clip_threshold.judge, *groups)
    assert len(result.comparisons) == 2
    assert {c.label.split()[1:3][0] for c in result.comparisons} == {"adam", "sgd"}


def test_f10_not_tested_with_one_threshold():
    groups = run_rows(SOLVED, scheme="relu_candidate", clip="global_clipnorm")
    assert judged(f10_clip_threshold.judge, groups).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# The registry: one module per claim, in key order


def test_the_registry_lists_f1_to_f10_in_order_once_each():
    keys = [module.CLAIM.key for module in findings.FINDINGS]
    assert keys == [f"F{n}" for n in range(1, 11)]
    assert len(set(keys)) == len(keys)
    assert len(set(findings.FINDINGS)) == len(findings.FINDINGS)


@pytest.mark.parametrize("position, module", list(enumerate(findings.FINDINGS, start=1)))
def test_each_module_holds_the_claim_of_its_position(position, module):
    name = module.__name__.rpartition(".")[2]
    assert name.startswith(f"f{position:02d}_")
    assert module.CLAIM.key == f"F{position}"
    assert isinstance(module.CLAIM, findings.Claim)
    assert callable(module.judge) and callable(module.advice)


def test_scope_has_an_entry_per_finding():
    assert list(findings.SCOPE) == [module.CLAIM.key for module in findings.FINDINGS]
    for default, more in findings.SCOPE.values():
        assert default and more


def test_every_finding_advises_or_is_worded_by_another():
    """`CHOICES` orders the modules whose sentences "What to choose" holds; the others' advice
    is None (F3's verdict is worded in F7's sentence)."""
    assert set(findings.CHOICES) <= set(findings.FINDINGS)
    assert len(set(findings.CHOICES)) == len(findings.CHOICES)
    by_key = {m.CLAIM.key: m.CLAIM.not_tested("why") for m in findings.FINDINGS}
    for module in findings.FINDINGS:
        assert (module.advice(by_key) is None) == (module not in findings.CHOICES), module


def test_a_claim_not_tested_carries_its_own_words():
    claim = f06_forget_bias.CLAIM
    result = claim.not_tested("needs this", "and that")
    assert (result.key, result.claim, result.source, result.rule) == (
        "F6",
        claim.text,
        claim.source,
        claim.rule,
    )
    assert result.verdict == NOT_TESTED and result.evidence == ("needs this", "and that")
    assert result.budget == {} and result.comparisons == () and result.context == ()
