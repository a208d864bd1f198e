"""The bridge from a symbol actor to the strategy: assembles the ``EntryContext`` of one
decision from settings, instrument rules, the same-tick bias states and the router's
latest ``AccountView``, then runs the cascade (``strategy.entry``). The tuning trials (``backtest.trial``)
assemble their contexts here too."""

from __future__ import annotations

from decimal import Decimal

from vocabulary.messages import AccountView, Decision, Instrument, MarketState
from vocabulary.settings import RiskSettings, StrategySettings
from actors.symbol import Decide
from strategy.context import EntryContext
from strategy.costs import account_costs
from strategy.entry import decide_candidates, entry_candidates


def entry_context(strategy: StrategySettings, risk: RiskSettings, instrument: Instrument, state: MarketState,
                  bias: tuple[MarketState, ...], account: AccountView | None) -> EntryContext:
    """Everything one decision reads besides ``state``: settings, rules, the same-tick bias
    states and the router's last account view. Before the router's first view the equity is
    unknown (zero), so sizing refuses every entry: the bot opens nothing until it has reconciled.
    The costs are the symbol's fee rates as the venue reported them, else ``[risk]``'s fallback,
    and the slippage allowance at the instrument's tick."""
    by_symbol = {b.symbol: b for b in bias if not b.is_stale}
    symbol = state.symbol
    if account is None:
        account = AccountView(ts_ms=0, equity=Decimal(0), realised_pnl_today=Decimal(0))
    return EntryContext(
        strategy=strategy,
        risk=risk,
        instrument=instrument,
        btc=by_symbol.get("BTCUSDT"),
        eth=by_symbol.get("ETHUSDT"),
        has_position_or_entry=symbol in account.open_symbols or symbol in account.working_entry_symbols,
        open_positions=len(account.open_symbols),
        cooldown_until_ms=dict(account.cooldown_until_ms).get(symbol, 0),
        realised_pnl_today=account.realised_pnl_today,
        equity=account.equity,
        open_risk=account.open_risk,
        costs=account_costs(instrument, account, risk),
    )


def strategy_decide(strategy: StrategySettings, risk: RiskSettings, instrument: Instrument) -> Decide:
    """A ``Decide`` for one symbol: the cascade over its state in its ``entry_context``."""

    def decide(state: MarketState, bias: tuple[MarketState, ...], account: AccountView | None) -> Decision:
        # Most bars fire no path: answered before the context is assembled (its costs alone are
        # a handful of Decimals), the same decision evaluate_entry would make.
        fired = entry_candidates(state, strategy)
        if isinstance(fired, Decision):
            return fired
        return decide_candidates(state, fired, entry_context(strategy, risk, instrument, state, bias, account))

    return decide
