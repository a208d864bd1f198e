"""The statistics a tuning report answers with: what selection over many trials could explain.

- ``bootstrap_mean_ci``: a percentile bootstrap interval of the mean R per trade (resampling trades).
- ``sharpe``, ``skewness``, ``kurtosis``: of a daily PnL series (per-period, not annualised).
- ``deflated_sharpe``: the Deflated Sharpe Ratio (Bailey & López de Prado, "The Deflated Sharpe
  Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality", JPM 40(5), 2014):
  the probability that the true Sharpe exceeds the best Sharpe that ``n_trials`` trials without
  skill would show, given the sample's length, skew and kurtosis.
- ``pbo_cscv``: the Probability of Backtest Overfitting by combinatorially-symmetric cross-validation
  (Bailey, Borwein, López de Prado & Zhu, "The Probability of Backtest Overfitting", J. Comp. Finance
  20(4), 2015): how often the in-sample best of the trials ranks at or below the median out of sample.
- ``verdict``: one plain line derived from those numbers, never written by hand.

Pure functions of numbers: no I/O, no clock; randomness only from an explicit seed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def bootstrap_mean_ci(values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000,
                      seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean; None below two values (no spread to resample)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return None
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def sharpe(series: Sequence[float]) -> float | None:
    """Mean over sample standard deviation, per period; None when it is undefined (under two
    periods, or no variation)."""
    x = np.asarray(series, dtype=np.float64)
    if len(x) < 2:
        return None
    sd = float(x.std(ddof=1))
    return float(x.mean()) / sd if sd > 0 else None


def skewness(series: Sequence[float]) -> float:
    x = np.asarray(series, dtype=np.float64)
    sd = float(x.std())
    return float(((x - x.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def kurtosis(series: Sequence[float]) -> float:
    """Pearson's kurtosis (3 for a normal series), as the DSR formula takes it."""
    x = np.asarray(series, dtype=np.float64)
    sd = float(x.std())
    return float(((x - x.mean()) ** 4).mean() / sd**4) if sd > 0 else 3.0


def expected_max_sharpe(sharpe_variance: float, n_trials: int) -> float:
    """The expected largest of ``n_trials`` Sharpe ratios of zero mean and the given variance
    (the paper's SR0, from the extreme-value approximation)."""
    if n_trials < 2 or sharpe_variance <= 0:
        return 0.0
    n = float(n_trials)
    return math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * _N.inv_cdf(1 - 1 / n) + EULER_GAMMA * _N.inv_cdf(1 - 1 / (n * math.e)))


def probabilistic_sharpe(sr: float, benchmark: float, periods: int, skew: float, kurt: float) -> float | None:
    """P(true Sharpe > benchmark) for an observed per-period ``sr`` over ``periods`` observations."""
    if periods < 2:
        return None
    spread = 1 - skew * sr + (kurt - 1) / 4 * sr * sr
    if spread <= 0:
        return None
    return _N.cdf((sr - benchmark) * math.sqrt(periods - 1) / math.sqrt(spread))


class Deflated(NamedTuple):
    dsr: float | None  # P(true Sharpe > SR0)
    sr0: float  # the Sharpe the best of the trials would show without skill
    sr: float | None
    periods: int
    n_trials: int


def deflated_sharpe(series: Sequence[float], n_trials: int, trial_sharpes: Sequence[float]) -> Deflated:
    """The DSR of the chosen strategy's per-period PnL ``series``, chosen among ``n_trials`` whose
    per-period Sharpe ratios (same periods) were ``trial_sharpes``."""
    sr = sharpe(series)
    spread = float(np.var(np.asarray(trial_sharpes, dtype=np.float64), ddof=1)) if len(trial_sharpes) > 1 else 0.0
    sr0 = expected_max_sharpe(spread, n_trials)
    if sr is None:
        return Deflated(None, sr0, None, len(series), n_trials)
    return Deflated(probabilistic_sharpe(sr, sr0, len(series), skewness(series), kurtosis(series)), sr0, sr, len(series), n_trials)


class Overfitting(NamedTuple):
    pbo: float | None  # share of the splits in which the in-sample best is at or below the OOS median
    combinations: int
    blocks: int
    logits: tuple[float, ...]


def pbo_cscv(sums: np.ndarray, counts: np.ndarray) -> Overfitting:
    """PBO over ``trials x blocks``: ``sums[n, s]`` and ``counts[n, s]`` add up trial ``n``'s results
    in time block ``s`` (R and trades: performance is R per trade, the tuning objective; a plain
    ``T x N`` return matrix is the case of one observation per row, grouped into blocks).

    Every half of the blocks is in turn the in-sample set, the other half out of sample; the trial
    best in sample is ranked out of sample (rank / (N + 1), ties averaged), the logit of that rank
    taken; PBO is the share of logits at or below zero. Needs an even number of blocks >= 2 and
    two trials. A trial without a trade in a set ranks below every trial with one."""
    sums, counts = np.asarray(sums, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    n_trials, n_blocks = sums.shape
    if n_trials < 2 or n_blocks < 2 or n_blocks % 2:
        return Overfitting(None, 0, n_blocks, ())
    logits = []
    for chosen in itertools.combinations(range(n_blocks), n_blocks // 2):
        inside = np.zeros(n_blocks, dtype=bool)
        inside[list(chosen)] = True
        is_perf, oos_perf = _perf(sums, counts, inside), _perf(sums, counts, ~inside)
        best = int(np.argmax(is_perf))
        rank = float(np.sum(oos_perf < oos_perf[best]) + (np.sum(oos_perf == oos_perf[best]) + 1) / 2)
        omega = rank / (n_trials + 1)
        logits.append(math.log(omega / (1 - omega)))
    return Overfitting(float(np.mean(np.asarray(logits) <= 0)), len(logits), n_blocks, tuple(logits))


def _perf(sums: np.ndarray, counts: np.ndarray, columns: np.ndarray) -> np.ndarray:
    total, n = sums[:, columns].sum(axis=1), counts[:, columns].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.where(n > 0, n, 1), -np.inf)


DSR_SIGNIFICANT = 0.95
PBO_OVERFIT = 0.5


def verdict(*, oos_ci: tuple[float, float] | None, oos_trades: int, holdout_r: float | None, holdout_trades: int,
            dsr: float | None, pbo: float | None, min_trades: int) -> str:
    """One line from the numbers: an edge needs every test passed, and the line names the first
    that fails (or, for an edge, how likely the choice of parameters is overfit)."""
    if oos_trades < min_trades or oos_ci is None:
        return f"no evidence of edge: {oos_trades} out-of-sample trades, fewer than the {min_trades} needed to judge"
    if oos_ci[0] <= 0:
        return f"no evidence of edge: the out-of-sample expectancy's 95 % interval [{oos_ci[0]:+.3f}, {oos_ci[1]:+.3f}] R includes zero or less"
    if dsr is None or dsr < DSR_SIGNIFICANT:
        shown = "n/a" if dsr is None else f"{dsr:.2f}"
        return f"no evidence of edge: the deflated Sharpe ratio {shown} is below {DSR_SIGNIFICANT} (selection among the trials explains the in-sample Sharpe)"
    if holdout_trades == 0 or holdout_r is None or holdout_r <= 0:
        shown = "no trade" if holdout_r is None else f"{holdout_r:+.3f} R over {holdout_trades} trades"
        return f"no evidence of edge: the untouched hold-out made {shown}"
    if pbo is not None and pbo >= PBO_OVERFIT:
        return (f"edge out of sample, but the choice of parameters is likely overfit (PBO {pbo:.2f} >= {PBO_OVERFIT}): "
                "expect the tuned values to do no better than the median trial")
    shown = "n/a" if pbo is None else f"{pbo:.2f}"
    return (f"evidence of edge: out-of-sample expectancy [{oos_ci[0]:+.3f}, {oos_ci[1]:+.3f}] R (95 %), "
            f"DSR {dsr:.2f}, PBO {shown}, hold-out {holdout_r:+.3f} R over {holdout_trades} trades")
