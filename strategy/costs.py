"""What a trade costs besides its price move: the fee rates, the slippage allowance, and the
prices and losses they make, written once for both sides (``d`` = +1 long, -1 short).

A round trip pays the maker rate on the PostOnly entry, and at the stop the taker rate on a
fill that may land ``slippage`` beyond the trigger. So a stop-out at ``stop`` costs, per unit,

    d·(entry − stop) + entry·maker + stop·slippage + stop·(1 + slippage)·taker

which is exact for a short filled ``slippage`` above its trigger and an upper bound for a long
(its fill, and so its fee, is lower). A take-profit is a PostOnly reduce-only limit: maker on both
legs. These are the only cost formulas: sizing, the net reward-to-risk gate, break-even, the
daily loss with open risk and the tuning trials all read them here.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from vocabulary.messages import AccountView
from vocabulary.settings import RiskSettings

BPS = Decimal(10_000)


def _dec(x: float | int) -> Decimal:
    return Decimal(str(x))


class Costs(msgspec.Struct, frozen=True):
    """Cost rates of one symbol as fractions of price."""

    maker: Decimal
    taker: Decimal
    slippage: Decimal

    @property
    def round_trip(self) -> Decimal:
        """Maker entry + taker stop + slippage allowance, as a fraction of price."""
        return self.maker + self.taker + self.slippage

    def loss_per_unit(self, entry: Decimal, stop: Decimal, d: int) -> Decimal:
        """What one unit loses when the stop fills (module doc)."""
        return d * (entry - stop) + entry * self.maker + stop * self.slippage + stop * (1 + self.slippage) * self.taker

    def profit_per_unit(self, entry: Decimal, target: Decimal, d: int) -> Decimal:
        """What one unit makes when the PostOnly take-profit fills at ``target``: maker on both legs."""
        return d * (target - entry) - (entry + target) * self.maker

    def target_for(self, entry: Decimal, d: int, net: Decimal) -> Decimal:
        """The (unrounded) target at which one unit makes ``net`` after both maker fees."""
        return (entry * (1 + d * self.maker) + d * net) / (1 - d * self.maker)

    def break_even(self, entry: Decimal, d: int) -> Decimal:
        """The (unrounded) stop at which a stop-out loses nothing: ``loss_per_unit`` = 0."""
        return entry * (1 + d * self.maker) / (1 - d * (self.slippage + (1 + self.slippage) * self.taker))


def fallback_costs(risk: RiskSettings) -> Costs:
    """The settings' rates, for when the venue's have not been read."""
    return Costs(_dec(risk.maker_fee), _dec(risk.taker_fee), _dec(risk.slippage_bps) / BPS)


def costs_for(symbol: str, rates: tuple[tuple[str, Decimal, Decimal], ...], risk: RiskSettings) -> Costs:
    """``symbol``'s rates as the venue reported them, else the settings' fallback; the slippage
    allowance is always the settings'."""
    for name, maker, taker in rates:
        if name == symbol:
            return Costs(maker, taker, _dec(risk.slippage_bps) / BPS)
    return fallback_costs(risk)


def account_costs(symbol: str, account: AccountView | None, risk: RiskSettings) -> Costs:
    return costs_for(symbol, account.fee_rates if account is not None else (), risk)


def worst_case_loss(entry: Decimal, stop: Decimal, d: int, qty: Decimal, costs: Costs) -> Decimal:
    """What an open position loses if its stop fills, fees included; 0 when the stop locks a profit."""
    return max(Decimal(0), qty * costs.loss_per_unit(entry, stop, d))
