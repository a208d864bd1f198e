"""What one entry decision needs besides the symbol's own MarketState.

The symbol actor assembles an ``EntryContext`` from settings, the instrument rules, the
BTC/ETH states of the same tick and the router's ``AccountView``; the strategy reads it
and nothing else, so a decision is a pure function of (state, context).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from vocabulary.messages import Instrument, MarketState
from vocabulary.settings import RiskSettings, StrategySettings
from strategy.costs import Costs

BAR_MS = 60_000


class EntryContext(msgspec.Struct, frozen=True, kw_only=True):
    """Settings, exchange rules, market bias and account state for one decision.

    ``btc``/``eth`` are the bias symbols' states; a state from another tick than the
    decision's is ignored (the bias is never computed from a stale tick).
    ``cooldown_until_ms`` is the first tick at which the symbol may enter again.
    ``realised_pnl_today`` is the UTC day's realised PnL; the caller resets it at 00:00 UTC.
    ``open_risk`` is what the open positions lose if every stop fills (fees included, >= 0).
    ``costs`` are the symbol's fee rates (the venue's, else the settings' fallback) and the
    slippage allowance at the instrument's tick (``strategy.costs.account_costs``).
    """

    strategy: StrategySettings
    risk: RiskSettings
    instrument: Instrument
    btc: MarketState | None = None
    eth: MarketState | None = None
    has_position_or_entry: bool = False
    open_positions: int = 0
    cooldown_until_ms: int = 0
    realised_pnl_today: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    open_risk: Decimal = Decimal(0)
    costs: Costs


def cooldown_until(exit_ms: int, risk: RiskSettings) -> int:
    """The first tick at which a symbol may enter again after a position closed at ``exit_ms``."""
    return exit_ms + risk.cooldown_bars * BAR_MS
