"""The decision cascade: one entry decision per symbol per closed 1m bar.

``evaluate_entry`` tries cross_based, then pre_cross, then ha_reversal; each path that
fired becomes a candidate scored by the one scoring engine. The first candidate whose
score reaches ``score_min`` is TAKE, unless a hard gate stops it before the wire;
candidates that fired but failed make REJECT with every factor; nothing fired is NO_SETUP.

Reason codes are machine-readable: ``<path>.<term>`` for a candidate's evidence and
score terms (``cross_based.15m.ema200``, ``pre_cross.score``), ``gate.<name>`` for a
hard gate, ``size.<name>`` for the sizing facts, ``edge.net_rr`` for a reward-to-risk that fees
leave too thin, ``data.<name>`` for missing inputs. A sizing gate's reasons carry their
candidate's path prefix (``pre_cross.gate.stop_floor``), since several candidates may reach it.
"""

from __future__ import annotations

from vocabulary.messages import Decision, FrameState, MarketState, Reason
from vocabulary.settings import StrategySettings
from strategy.context import EntryContext
from strategy.paths import Candidate, fired_candidates
from strategy.scoring import score_candidate
from strategy.sizing import dec, plan_trade


def account_gates(state: MarketState, ctx: EntryContext) -> tuple[Reason, ...]:
    """The hard gates that do not depend on the trade's prices; empty when all pass."""
    failed = []
    if ctx.has_position_or_entry:
        failed.append(Reason("gate.position_or_entry_open"))
    if ctx.open_positions >= ctx.risk.max_positions:
        failed.append(Reason("gate.max_positions", ctx.open_positions))
    if state.tick_ms < ctx.cooldown_until_ms:
        failed.append(Reason("gate.cooldown_until_ms", ctx.cooldown_until_ms))
    # The day's worst case, not only what is realised: every open stop counted as if it filled.
    day_at_stops = ctx.realised_pnl_today - ctx.open_risk
    if day_at_stops <= -dec(ctx.risk.daily_loss_limit):
        failed.append(Reason("gate.daily_loss", float(day_at_stops)))
    return tuple(failed)


def _prefixed(path: str, reasons: tuple[Reason, ...]) -> tuple[Reason, ...]:
    return tuple(Reason(f"{path}.{r.code}", r.value) for r in reasons)


def _signal_frame(state: MarketState) -> tuple[FrameState | None, tuple[Reason, ...]]:
    frame = state.frame(1)
    if frame is None:
        return None, (Reason("data.no_1m_frame"),)
    if frame.wt1 is None or frame.wt2 is None:
        return None, (Reason("data.warmup", "wt"),)
    return frame, ()


Fired = tuple[FrameState, list[Candidate]]


def evaluate_entry(state: MarketState, ctx: EntryContext) -> Decision:
    """One run of the cascade for ``state.symbol`` at ``state.tick_ms``."""
    fired = entry_candidates(state, ctx.strategy)
    return fired if isinstance(fired, Decision) else decide_candidates(state, fired, ctx)


def entry_candidates(state: MarketState, strategy: StrategySettings) -> Decision | Fired:
    """The cascade's first half: the decision of a state on which no path fires (stale data, no
    signal frame yet, no candidate), else the signal frame and the candidates that fired on it.
    It reads nothing of the account, the costs or the bias, so a caller can answer most bars
    (96 % are NO_SETUP on the shipped month) before assembling an ``EntryContext``, and hand the
    rest to ``decide_candidates``: together, the decision ``evaluate_entry`` makes."""
    if state.is_stale:
        return Decision(tick_ms=state.tick_ms, symbol=state.symbol, kind="REJECT", reasons=(Reason("data.stale"),))
    frame, missing = _signal_frame(state)
    if frame is None:
        return Decision(tick_ms=state.tick_ms, symbol=state.symbol, kind="NO_SETUP", reasons=missing)
    candidates = fired_candidates(frame, strategy)
    if not candidates:
        seen = (Reason("wt1", frame.wt1), Reason("wt2", frame.wt2), Reason("ha_streak", frame.ha_streak))
        return Decision(tick_ms=state.tick_ms, symbol=state.symbol, kind="NO_SETUP", reasons=seen)
    return frame, candidates


def decide_candidates(state: MarketState, fired: Fired, ctx: EntryContext) -> Decision:
    """The cascade's second half, on what ``entry_candidates`` found: the account's gates, then
    each candidate's score and sizing."""
    frame, candidates = fired
    primary = candidates[0]
    gates = account_gates(state, ctx)
    if gates:
        return Decision(tick_ms=state.tick_ms, symbol=state.symbol, kind="REJECT", path=primary.path, side=primary.side,
                        reasons=_prefixed(primary.path, primary.evidence) + gates)
    return _run_cascade(state, frame, candidates, ctx)


def _run_cascade(state: MarketState, frame: FrameState, candidates: list[Candidate], ctx: EntryContext) -> Decision:
    """The first candidate that passes its score and its sizing gates is TAKE. A candidate that
    fails a sizing gate (stop floor, width, net reward-to-risk, size, the day's loss at its stop)
    does not end the cascade: the next candidate may have a stop or a side that passes. The REJECT
    names the first candidate that reached sizing, else the primary one."""
    head = {"tick_ms": state.tick_ms, "symbol": state.symbol}
    reasons: tuple[Reason, ...] = ()
    first_score: float | None = None
    sized: tuple[Candidate, float] | None = None
    for c in candidates:
        score, terms = score_candidate(c.path, c.direction, state, ctx, prefix=f"{c.path}.")
        first_score = score if first_score is None else first_score
        reasons += _prefixed(c.path, c.evidence) + terms
        if score < ctx.strategy.score_min:
            continue
        prices, facts = plan_trade(frame, c.direction, ctx)
        if prices is None:
            reasons += _prefixed(c.path, facts)
            sized = sized or (c, score)
            continue
        return Decision(**head, kind="TAKE", path=c.path, side=c.side, score=score, reasons=reasons + facts,
                        entry_price=prices.entry, stop_price=prices.stop, target_price=prices.target, qty=prices.qty,
                        loss_at_stop=prices.loss_at_stop)
    if sized is not None:
        c, score = sized
        return Decision(**head, kind="REJECT", path=c.path, side=c.side, score=score, reasons=reasons)
    reasons += (Reason("score_min", ctx.strategy.score_min),)
    primary = candidates[0]
    return Decision(**head, kind="REJECT", path=primary.path, side=primary.side, score=first_score, reasons=reasons)
