"""The report's statistics against the papers' worked example and small cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest.stats import (bootstrap_mean_ci, deflated_sharpe, expected_max_sharpe, kurtosis, pbo_cscv,
                            probabilistic_sharpe, sharpe, skewness, verdict)


def test_the_deflated_sharpe_ratio_of_the_papers_numerical_example():
    """Bailey & López de Prado (2014), "A numerical example": an annualised Sharpe of 2.5 over five
    years of daily returns (T = 1250), the best of N = 100 trials whose annualised Sharpe ratios
    vary by V = 1/2, returns with skew -3 and kurtosis 10. The paper finds SR0 = 0.1132 (per day)
    and DSR = 0.9004: not significant at 95 %, although the Sharpe ratio looks excellent."""
    sr, variance = 2.5 / math.sqrt(250), 0.5 / 250  # annualised figures to daily ones
    sr0 = expected_max_sharpe(variance, 100)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert probabilistic_sharpe(sr, sr0, 1250, skew=-3.0, kurt=10.0) == pytest.approx(0.9004, abs=5e-5)


def test_one_trial_is_not_deflated_and_more_trials_raise_the_bar():
    assert expected_max_sharpe(0.04, 1) == 0.0
    assert expected_max_sharpe(0.04, 10) < expected_max_sharpe(0.04, 100) < expected_max_sharpe(0.04, 1000)
    assert expected_max_sharpe(0.0, 100) == 0.0, "trials that all scored alike inflate nothing"


def test_the_deflated_sharpe_of_a_series_uses_its_own_moments():
    series = [1.0, -0.5, 2.0, 0.5, -1.0, 1.5, 0.0, 1.0]
    d = deflated_sharpe(series, n_trials=20, trial_sharpes=[0.1, 0.5, -0.2, 0.3])
    assert d.sr == pytest.approx(sharpe(series))
    assert d.sr0 == pytest.approx(expected_max_sharpe(float(np.var([0.1, 0.5, -0.2, 0.3], ddof=1)), 20))
    assert d.dsr == pytest.approx(probabilistic_sharpe(d.sr, d.sr0, 8, skewness(series), kurtosis(series)))
    assert deflated_sharpe([1.0], 20, [0.1, 0.2]).dsr is None, "one observation has no Sharpe ratio"


def test_moments_by_hand():
    assert sharpe([1, 2, 3, 4]) == pytest.approx(2.5 / math.sqrt(5 / 3))
    assert skewness([1, 2, 3, 4]) == pytest.approx(0.0)
    assert kurtosis([1, 2, 3, 4]) == pytest.approx(1.64)  # m4 = 2.5625, m2 = 1.25: 2.5625 / 1.5625
    assert skewness([0, 0, 0, 3]) == pytest.approx(1.1547005, rel=1e-6)  # m2 = 1.6875, m3 = 2.53125: 2.53125 / 1.6875 ** 1.5
    assert sharpe([2, 2, 2]) is None, "no variation, no ratio"


def test_pbo_is_zero_when_one_trial_is_best_in_every_block():
    sums = np.array([[3.0, 3.0, 3.0, 3.0], [1.0, 2.0, 0.0, 1.0], [0.0, -1.0, 2.0, 0.5]])
    result = pbo_cscv(sums, np.ones_like(sums))
    assert (result.pbo, result.combinations, result.blocks) == (0.0, 6, 4)


def test_pbo_is_one_when_the_in_sample_best_is_always_worst_out_of_sample():
    """Two trials, two blocks: each is best in one block and worst in the other."""
    result = pbo_cscv(np.array([[1.0, 0.0], [0.0, 1.0]]), np.ones((2, 2)))
    assert result.pbo == 1.0
    assert result.logits == pytest.approx((math.log(0.5), math.log(0.5)))  # rank 1 of 2: w = 1/3


def test_pbo_of_a_hand_computed_case():
    """T0 = [2, 2, 0, 0], T1 = [0, 0, 1, 1] (R of one trade per block). Of the six halves:
    {0,1} picks T0, which scores 0 < 1 on {2,3}; {2,3} picks T1, which scores 0 < 2 on {0,1}:
    both overfit (rank 1 of 2, logit -ln 2). {0,2}, {0,3}, {1,2}, {1,3} pick T0 (1 vs 0.5), which
    scores 1 vs 0.5 out of sample too (rank 2, logit +ln 2). PBO = 2/6."""
    result = pbo_cscv(np.array([[2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]), np.ones((2, 4)))
    assert result.pbo == pytest.approx(1 / 3)
    assert sorted(result.logits) == pytest.approx([-math.log(2)] * 2 + [math.log(2)] * 4)


def test_pbo_performance_is_r_per_trade_and_a_trial_without_trades_ranks_last():
    """T0 made 3 R over 3 trades in block 0 (1 R each) and nothing after; T1 one trade of 2 R in
    block 0 and 0 R trades after. In-sample {0}: T1 (2 R per trade) beats T0 (1 R per trade);
    out of sample {1}: T1 at 0 R beats T0, which did not trade: not overfit. The reverse half
    picks T1 (0 R beats no trade), and on block 0 T1's 2 R beats T0's 1 R: not overfit either."""
    sums = np.array([[3.0, 0.0], [2.0, 0.0]])
    counts = np.array([[3, 0], [1, 2]])
    assert pbo_cscv(sums, counts).pbo == 0.0


def test_pbo_needs_two_trials_and_an_even_number_of_blocks():
    assert pbo_cscv(np.ones((1, 4)), np.ones((1, 4))).pbo is None
    assert pbo_cscv(np.ones((3, 3)), np.ones((3, 3))).pbo is None


def test_the_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    rng = np.random.default_rng(5)
    values = rng.normal(0.3, 1.0, 400)
    low, high = bootstrap_mean_ci(values, seed=1)
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * 1.96 / math.sqrt(400), rel=0.15), "about the normal interval's width"
    assert bootstrap_mean_ci(values, seed=1) == (low, high)
    assert bootstrap_mean_ci([0.5]) is None
    assert bootstrap_mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_the_verdict_names_the_first_test_that_fails():
    edge = dict(oos_ci=(0.1, 0.4), oos_trades=200, holdout_r=0.2, holdout_trades=40, dsr=0.99, pbo=0.1, min_trades=20)
    assert verdict(**edge).startswith("evidence of edge")
    assert "fewer than the 20" in verdict(**{**edge, "oos_trades": 5})
    assert "includes zero" in verdict(**{**edge, "oos_ci": (-0.05, 0.3)})
    assert "deflated Sharpe ratio 0.80" in verdict(**{**edge, "dsr": 0.8})
    assert "hold-out made -0.100 R" in verdict(**{**edge, "holdout_r": -0.1})
    assert "likely overfit (PBO 0.60" in verdict(**{**edge, "pbo": 0.6})
    assert all(verdict(**{**edge, **bad}).startswith("no evidence of edge")
               for bad in ({"oos_trades": 5}, {"oos_ci": (-0.05, 0.3)}, {"dsr": None}, {"holdout_trades": 0, "holdout_r": None}))
