"""Every verdict rule of every finding, on fake records with known outcomes.

Each finding gets a grid that supports it, one that contradicts it, one where the rule cannot
decide (inconclusive) and one that lacks the runs it needs (not tested by this grid).
"""

from __future__ import annotations

import pytest
from test_analysis import write_fake_run, write_runs

from experiments import analysis, findings
from experiments.findings import CONTRADICTED, INCONCLUSIVE, NOT_TESTED, SUPPORTED

S, L, F, D = "solved", "learned", "failed", "diverged"


def judge(grid_dir, finding):
    result = finding(analysis.load(grid_dir))
    assert result.verdict in findings.VERDICTS
    assert result.rule and result.evidence and result.claim and result.source
    if result.verdict != NOT_TESTED:
        assert result.budget and all(label.startswith("adding") for label in result.budget)
        assert result.budget_text.startswith("adding")
    return result


# --------------------------------------------------------------------------------------------------
# F1: ReLU candidate needs clipping


def f1_grid(tmp_path, relu_clipped, relu_unclipped, tanh_clipped):
    write_runs(tmp_path, relu_clipped, scheme="relu_candidate", clip="global_clipnorm")
    write_runs(tmp_path, relu_unclipped, scheme="relu_candidate", clip="none")
    write_runs(tmp_path, tanh_clipped, scheme="standard", clip="global_clipnorm")
    return judge(tmp_path, findings.f1_relu_candidate)


def test_f1_supported(tmp_path):
    result = f1_grid(tmp_path, [S] * 8, [F] * 4 + [D] * 4, [S] * 8)
    assert result.verdict == SUPPORTED
    assert result.evidence[0].startswith("ReLU clipped: 8/8 succeeded (100%, 95% CI 68%-100%)")
    assert "ReLU unclipped: 0/8 succeeded" in result.evidence[1]
    assert "4 diverged" in result.evidence[1]


def test_f1_contradicted_when_relu_fails_even_clipped(tmp_path):
    assert f1_grid(tmp_path, [F] * 8, [F] * 8, [S] * 8).verdict == CONTRADICTED


def test_f1_contradicted_when_clipping_does_not_help(tmp_path):
    assert f1_grid(tmp_path, [S] * 4, [S] * 4, [S] * 4).verdict == CONTRADICTED


def test_f1_inconclusive_with_too_few_seeds(tmp_path):
    assert f1_grid(tmp_path, [S, S], [F, F], [S, S]).verdict == INCONCLUSIVE


def test_f1_not_tested_without_unclipped_relu_runs(tmp_path):
    write_runs(tmp_path, [S] * 4, scheme="relu_candidate", clip="global_clipnorm")
    write_runs(tmp_path, [S] * 4, scheme="standard", clip="global_clipnorm")
    result = judge(tmp_path, findings.f1_relu_candidate)
    assert result.verdict == NOT_TESTED
    assert result.evidence == ("no runs of: ReLU unclipped",)


def test_f1_falls_back_to_the_graded_measure_when_nothing_is_solved(tmp_path):
    result = f1_grid(tmp_path, [L] * 8, [F] * 8, [L] * 8)
    assert result.verdict == SUPPORTED
    assert any("final loss < 0.5 x baseline (none solved)" in line for line in result.evidence)


def test_f1_not_tested_when_the_arms_share_no_settings(tmp_path):
    write_runs(tmp_path, [S] * 4, scheme="relu_candidate", clip="global_clipnorm")
    write_runs(tmp_path, [S] * 4, scheme="relu_candidate", clip="none", length=12)
    write_runs(tmp_path, [S] * 4, scheme="standard", clip="global_clipnorm")
    result = judge(tmp_path, findings.f1_relu_candidate)
    assert result.verdict == NOT_TESTED
    assert "no settings shared" in result.evidence[0]


def test_f1_compares_only_matched_runs(tmp_path):
    """Tanh runs at another length have no ReLU counterpart: they must not count."""
    write_runs(tmp_path, [F] * 8, scheme="standard", clip="global_clipnorm", length=12)
    result = f1_grid(tmp_path, [S] * 8, [F] * 8, [S] * 8)
    assert result.verdict == SUPPORTED
    assert "tanh clipped: 8/8" in result.evidence[2]


# --------------------------------------------------------------------------------------------------
# F2: ReLU gates fail


def f2_grid(tmp_path, relu, sigmoid, cell="lstm"):
    write_runs(tmp_path, relu, scheme="relu_gates", cell=cell)
    write_runs(tmp_path, sigmoid, scheme="standard", cell=cell)
    return judge(tmp_path, findings.f2_relu_gates)


def test_f2_supported(tmp_path):
    write_runs(tmp_path, [S] * 6, scheme="hard_sigmoid_gates")
    result = f2_grid(tmp_path, [F] * 3 + [D] * 3, [S] * 6)
    assert result.verdict == SUPPORTED
    assert any(line.startswith("hard-sigmoid gates: 6/6") for line in result.evidence)


def test_f2_contradicted_when_relu_gates_do_as_well(tmp_path):
    assert f2_grid(tmp_path, [S] * 6, [S] * 5 + [F], cell="gru").verdict == CONTRADICTED


def test_f2_inconclusive(tmp_path):
    assert f2_grid(tmp_path, [F, F], [S, S]).verdict == INCONCLUSIVE


def test_f2_not_tested_without_relu_gates(tmp_path):
    write_runs(tmp_path, [S] * 4, scheme="standard")
    write_runs(tmp_path, [S] * 4, scheme="relu_gates", cell="simple_rnn")  # not a gated cell
    assert judge(tmp_path, findings.f2_relu_gates).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F3: gradient through time


def f3_grid(tmp_path, simple_decay, gated_decay, length=10):
    for seed in range(2):
        write_fake_run(tmp_path, cell="simple_rnn", decay=simple_decay, seed=seed, length=length)
        write_fake_run(tmp_path, cell="lstm", decay=gated_decay, seed=seed, length=length)
        write_fake_run(tmp_path, cell="gru", decay=gated_decay, seed=seed, length=length)
    return judge(tmp_path, findings.f3_gradient_through_time)


def test_decay_orders_reads_the_first_and_last_time_step(tmp_path):
    write_fake_run(tmp_path, decay=3.0)
    tables = analysis.load(tmp_path)
    assert findings.decay_orders(tables.timesteps).tolist() == pytest.approx([-3.0])


def test_f3_supported(tmp_path):
    result = f3_grid(tmp_path, simple_decay=6.0, gated_decay=1.0)
    assert result.verdict == SUPPORTED
    assert "lstm - simple_rnn: +5.00 orders of magnitude" in result.evidence


def test_f3_contradicted(tmp_path):
    assert f3_grid(tmp_path, simple_decay=1.5, gated_decay=1.0).verdict == CONTRADICTED


def test_f3_inconclusive(tmp_path):
    assert f3_grid(tmp_path, simple_decay=2.5, gated_decay=1.0).verdict == INCONCLUSIVE


def test_f3_uses_the_longest_adding_length(tmp_path):
    f3_grid(tmp_path, simple_decay=1.0, gated_decay=1.0, length=8)
    result = f3_grid(tmp_path, simple_decay=6.0, gated_decay=1.0, length=12)
    assert result.verdict == SUPPORTED
    assert any("T = 12" in line for line in result.evidence)


def test_f3_not_tested_without_a_simple_rnn(tmp_path):
    write_runs(tmp_path, [S, S], cell="lstm")
    write_runs(tmp_path, [S, S], cell="simple_rnn", scheme="relu_candidate")  # not tanh
    assert judge(tmp_path, findings.f3_gradient_through_time).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F4: clipnorm vs global_clipnorm


def f4_grid(tmp_path, global_runs, per_variable_runs):
    for seed, ((a, loss_a), (b, loss_b)) in enumerate(
        zip(global_runs, per_variable_runs, strict=True)
    ):
        write_fake_run(tmp_path, a, final_loss=loss_a, clip="global_clipnorm", seed=seed)
        write_fake_run(tmp_path, b, final_loss=loss_b, clip="clipnorm", seed=seed)
    return judge(tmp_path, findings.f4_clipnorm_vs_global)


def test_f4_supported_by_success_rates(tmp_path):
    result = f4_grid(tmp_path, [(S, None)] * 4, [(F, None)] * 4)
    assert result.verdict == SUPPORTED
    assert any("+100 points" in line for line in result.evidence)


def test_f4_supported_by_the_paired_loss(tmp_path):
    # everything solved, but global clipping ends at a 4x lower loss
    result = f4_grid(tmp_path, [(S, 0.001)] * 4, [(S, 0.004)] * 4)
    assert result.verdict == SUPPORTED
    assert any(
        "median paired log10 loss-ratio difference -0.60" in line for line in result.evidence
    )


def test_f4_contradicted_when_they_agree(tmp_path):
    assert f4_grid(tmp_path, [(S, 0.002)] * 4, [(S, 0.0021)] * 4).verdict == CONTRADICTED


def test_f4_inconclusive_between_the_thresholds(tmp_path):
    # a factor 1.5 in final loss: more than the 25% tolerance, less than the factor 2
    assert f4_grid(tmp_path, [(S, 0.002)] * 4, [(S, 0.003)] * 4).verdict == INCONCLUSIVE


def test_f4_inconclusive_with_too_few_pairs(tmp_path):
    assert f4_grid(tmp_path, [(S, None)] * 2, [(F, None)] * 2).verdict == INCONCLUSIVE


def test_f4_not_tested_without_pairs(tmp_path):
    write_runs(tmp_path, [S] * 4, clip="global_clipnorm")
    write_runs(tmp_path, [S] * 4, clip="clipnorm", length=12)  # no matching partner
    assert judge(tmp_path, findings.f4_clipnorm_vs_global).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F5: GRU vs LSTM


def f5_grid(tmp_path, lstm, gru):
    write_runs(tmp_path, lstm, cell="lstm")
    write_runs(tmp_path, gru, cell="gru")
    return judge(tmp_path, findings.f5_gru_vs_lstm)


def test_f5_supported(tmp_path):
    assert f5_grid(tmp_path, [S] * 5 + [F], [S] * 6).verdict == SUPPORTED


def test_f5_contradicted(tmp_path):
    assert f5_grid(tmp_path, [S] * 6, [F] * 6).verdict == CONTRADICTED


def test_f5_inconclusive(tmp_path):
    # 6/8 vs 3/8: 37 points apart, but the intervals overlap
    assert f5_grid(tmp_path, [S] * 6 + [F] * 2, [S] * 3 + [F] * 5).verdict == INCONCLUSIVE


def test_f5_not_tested_without_gru(tmp_path):
    write_runs(tmp_path, [S] * 4, cell="lstm")
    write_runs(tmp_path, [S] * 4, cell="gru", scheme="relu_gates")  # not standard
    assert judge(tmp_path, findings.f5_gru_vs_lstm).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# F6: forget-gate bias


def f6_grid(tmp_path, bias_one, bias_zero):
    for seed, ((a, loss_a), (b, loss_b)) in enumerate(zip(bias_one, bias_zero, strict=True)):
        write_fake_run(tmp_path, a, final_loss=loss_a, forget_bias=1.0, seed=seed)
        write_fake_run(tmp_path, b, final_loss=loss_b, forget_bias=0.0, seed=seed)
    return judge(tmp_path, findings.f6_forget_bias)


def test_f6_supported_by_success_rates(tmp_path):
    assert f6_grid(tmp_path, [(S, None)] * 4, [(F, None)] * 4).verdict == SUPPORTED


def test_f6_supported_by_the_paired_loss(tmp_path):
    assert f6_grid(tmp_path, [(S, 0.001)] * 4, [(S, 0.005)] * 4).verdict == SUPPORTED


def test_f6_contradicted_when_bias_zero_is_better(tmp_path):
    assert f6_grid(tmp_path, [(F, None)] * 4, [(S, None)] * 4).verdict == CONTRADICTED


def test_f6_contradicted_when_the_bias_makes_no_difference(tmp_path):
    result = f6_grid(tmp_path, [(S, 0.002)] * 4, [(S, 0.002)] * 4)
    assert result.verdict == CONTRADICTED
    assert any(line.startswith("4 pairs; median paired") for line in result.evidence)


def test_f6_inconclusive(tmp_path):
    assert f6_grid(tmp_path, [(S, 0.002)] * 4, [(S, 0.003)] * 4).verdict == INCONCLUSIVE
    assert f6_grid(tmp_path / "few", [(S, None)] * 2, [(F, None)] * 2).verdict == INCONCLUSIVE


def test_f6_not_tested_without_bias_zero(tmp_path):
    write_runs(tmp_path, [S] * 4, forget_bias=1.0)
    write_runs(tmp_path, [S] * 4, forget_bias=0.0, cell="gru")  # GRU has no forget gate
    assert judge(tmp_path, findings.f6_forget_bias).verdict == NOT_TESTED


# --------------------------------------------------------------------------------------------------
# All together


def test_judge_returns_the_six_findings_in_order(tmp_path):
    write_runs(tmp_path, [S, S])
    judged = findings.judge(analysis.load(tmp_path))
    assert [f.key for f in judged] == ["F1", "F2", "F3", "F4", "F5", "F6"]
    assert all(f.verdict == NOT_TESTED for f in judged)
