"""The scoring engine of ``strategy.scoring`` over many states at once: each state's votes from
whole indicator columns, and the score a candidate would get, to within a stated slack.

A trial (``backtest.trial``) decides only the rows on which a path fires; most of those end in
REJECT because no fired candidate's score reaches ``score_min``, whatever the account holds (the
account's gates and the sizing can only turn a passing score into a REJECT, never a failing one
into a TAKE). Those rows need no decision when the trial keeps only TAKEs: ``may_reach`` finds
them from each row's vote sums without building a state or running the cascade.

The votes are exact: each factor is the same sign of the same float64 difference as the scalar
factor's, NaN (Pine's na, None in a message) voting 0 as None does. The score is not bit for bit
the cascade's (it sums the same terms in another order), so ``may_reach`` keeps every row whose
estimate comes within ``slack`` of ``score_min``: far wider than the rounding of either sum, so a
row it drops cannot score ``score_min`` in the cascade. Rows it keeps are decided by the cascade
itself, so the decisions are the cascade's.
"""

from __future__ import annotations

import numpy as np

from vocabulary.messages import MarketState
from vocabulary.settings import StrategySettings
from strategy.scoring import BIAS_SYMBOLS, FACTORS, SCORED_INTERVALS, path_base, vote_sums

if tuple(FACTORS) != ("wt_dir", "ha", "mfi_area", "ema200", "vwap"):  # frame_votes mirrors them one by one
    raise ImportError("strategy.scoring.FACTORS changed: update strategy.scoring_batch.frame_votes")

#: Votes a state casts (every factor on every scored interval): a bias state's mean divides by it.
VOTES_PER_STATE = len(SCORED_INTERVALS) * len(FACTORS)


def _sign(x: np.ndarray) -> np.ndarray:
    """``(x > 0) - (x < 0)`` as the factors take it: 0 for NaN."""
    with np.errstate(invalid="ignore"):
        return (x > 0).astype(np.int8) - (x < 0).astype(np.int8)


def frame_votes(wt1: np.ndarray, wt2: np.ndarray, ha_open: np.ndarray, ha_close: np.ndarray, rsi_mfi_area: np.ndarray,
                ema200: np.ndarray, vwap: np.ndarray, close: np.ndarray) -> np.ndarray:
    """int8 per bar: the sum of ``FACTORS``' votes on the bar's frame (-5..5), NaN as None."""
    wt_dir = np.where(np.isnan(wt1) | np.isnan(wt2), 0, _sign(wt1 - wt2)).astype(np.int8)
    return wt_dir + _sign(ha_close - ha_open) + _sign(rsi_mfi_area) + _sign(close - ema200) + _sign(close - vwap)


def state_votes(state: MarketState, bias: tuple[MarketState, ...]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """One decision's votes, by the scalar engine (``vote_sums``): the state's vote sum on each
    scored interval, and each bias symbol's vote total where ``composite_bias`` would use its state
    (NaN for the symbol itself, a state missing, stale or of another tick, as ``entry_context``
    and ``bias_sources`` leave them out)."""
    own, _ = vote_sums(state)
    usable = {b.symbol: b for b in bias if not b.is_stale and b.tick_ms == state.tick_ms}
    others = tuple(float(vote_sums(usable[name])[1]) if name != state.symbol and name in usable else float("nan")
                   for name in BIAS_SYMBOLS)
    return own, others


def score_slack(s: StrategySettings) -> float:
    """How far ``may_reach``'s estimate may stand from the cascade's score, at most, and then some:
    both are sums of about twenty terms no larger than the best score in magnitude, each rounded
    once (relative error 2**-53), and the cascade rounds its sum to 9 decimals (``SCORE_DECIMALS``)."""
    largest = max(abs(s.base_cross_based), abs(s.base_pre_cross), abs(s.base_ha_reversal)) + 5 * (
        abs(s.weight_3m) + abs(s.weight_5m) + abs(s.weight_15m)) + abs(s.weight_bias)
    return 1e-6 + 1e-12 * largest


def estimated_scores(path: str, direction: int, votes: np.ndarray, bias_votes: np.ndarray, s: StrategySettings) -> np.ndarray:
    """``score_candidate``'s score for a candidate of ``path`` and ``direction`` on each row, within
    ``score_slack``: ``votes`` [rows, len(SCORED_INTERVALS)] the state's vote sums per scored
    interval, ``bias_votes`` [rows, bias symbols] each usable bias state's vote total, NaN where
    the decision may not use one (``composite_bias``: each usable state's mean, then their mean)."""
    base = path_base(path, s)  # type: ignore[arg-type]
    weights = np.array([{3: s.weight_3m, 5: s.weight_5m, 15: s.weight_15m}[i] for i in SCORED_INTERVALS])
    own = votes.astype(np.float64) @ weights
    usable = ~np.isnan(bias_votes)
    count = usable.sum(axis=1)
    summed = np.where(usable, bias_votes, 0.0).sum(axis=1) / VOTES_PER_STATE  # the usable states' means, summed
    bias = np.divide(summed, count, out=np.zeros(len(count)), where=count > 0)
    return base + direction * own + s.weight_bias * direction * bias


def may_reach(fired: np.ndarray, firings: tuple[tuple[str, int], ...], votes: np.ndarray, bias_votes: np.ndarray,
              s: StrategySettings) -> np.ndarray:
    """bool per row: some candidate that fired (``fired`` [rows, len(firings)], columns in
    ``firings``' (path, direction) order) may score ``score_min``; False only where none can."""
    reach = np.zeros(len(fired), dtype=bool)
    floor = s.score_min - score_slack(s)
    for column, (path, direction) in enumerate(firings):
        on = fired[:, column]
        if on.any():
            reach |= on & (estimated_scores(path, direction, votes, bias_votes, s) >= floor)
    return reach
