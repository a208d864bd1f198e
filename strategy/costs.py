"""What a trade costs besides its price move: the fee rates, the slippage allowance, and the
prices and losses they make, written once for both sides (``d`` = +1 long, -1 short).

A round trip pays the maker rate on the PostOnly entry, and at the stop the taker rate on a
fill that may land ``A(stop)`` beyond the trigger. So a stop-out at ``stop`` costs, per unit,

    d·(entry − stop) + entry·maker + A(stop) + (stop + A(stop))·taker

which is exact for a short filled ``A`` above its trigger and an upper bound for a long (its fill,
and so its fee, is lower).

``A`` is the slippage allowance, priced as the venue prices an ungapped stop-market (Bybit's book,
and ``exchange.sim.costs``, which is modelled on it): the fill lands ``slippage`` of the price
beyond the trigger, *rounded up to whole ticks* (a fill is on the tick grid), then pays half a
spread, also in whole ticks (``spread`` 0: a one-tick book, whose half spread against the taker
is a whole tick). On a coarse-tick symbol that is far more than ``slippage`` alone: 2 bps of ADA
at 0.57 with a 0.0001 tick is 2 ticks (3.5 bps) plus a tick of spread, 5.3 bps; on BTC the same
2 bps is 2.0 bps plus 0.01. The allowance is never less than ``slippage`` of the price.

A take-profit is a PostOnly reduce-only limit: maker on both legs. These are the only cost
formulas: sizing, the net reward-to-risk gate, break-even, the daily loss with open risk and the
tuning trials all read them here. Which are exact and which are bounds:

- ``loss_per_unit``: exact for a short, an upper bound for a long (above), given the fill lands
  the allowance beyond the trigger (a gapped stop can land further: no allowance covers a gap);
- ``profit_per_unit`` and ``target_for``: exact (maker on both legs, no allowance);
- ``break_even``: exact on the tick grid: the grid price nearest the entry whose stop-out, by
  ``loss_per_unit``, loses nothing (so, for a long, it can be up to a tick conservative through
  that bound's fee term);
- ``round_trip``: the cost in price at one price (the entry's, for the stop floor), the half
  spread taken at the short's fill (the larger).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import msgspec

from vocabulary.messages import AccountView, Instrument
from vocabulary.settings import RiskSettings

BPS = Decimal(10_000)


def _dec(x: float | int) -> Decimal:
    return Decimal(str(x))


def _ceil(x: Decimal) -> Decimal:
    return x.to_integral_value(ROUND_CEILING)


class Costs(msgspec.Struct, frozen=True):
    """Cost rates of one symbol as fractions of price, and the tick the allowance rounds to.

    ``tick`` None: the tick is unknown (a foreign position the router only counts, or a test's
    frictionless market): the allowance is then ``slippage`` of the price, unrounded and without a
    spread, which is *less* than a venue charges; every symbol the bot trades has its tick."""

    maker: Decimal
    taker: Decimal
    slippage: Decimal  # beyond the trigger, rounded up to whole ticks
    tick: Decimal | None
    spread: Decimal  # the whole spread; half of it, rounded up to whole ticks, is charged; 0: a one-tick book

    def allowance(self, stop: Decimal) -> Decimal:
        """How far beyond ``stop`` a stop-market that did not gap may fill (module doc): the
        slippage rounded up to whole ticks, then half a spread in whole ticks, taken of the
        magnitude of the price it is charged at, as ``exchange.sim.costs`` does."""
        if self.tick is None:
            return stop * self.slippage
        ticks = abs(stop / self.tick)
        slip = _ceil(ticks * self.slippage)
        # The venue charges the half spread at the slipped price: a short's (above) is the larger.
        half = Decimal(1) if self.spread == 0 else _ceil((ticks + slip) * self.spread / 2)
        return (slip + half) * self.tick

    def round_trip(self, price: Decimal) -> Decimal:
        """Maker entry + taker stop + slippage allowance at ``price``, as a fraction of it."""
        return self.maker + self.taker + self.allowance(price) / price

    def loss_per_unit(self, entry: Decimal, stop: Decimal, d: int) -> Decimal:
        """What one unit loses when the stop fills (module doc)."""
        allowance = self.allowance(stop)
        return d * (entry - stop) + entry * self.maker + allowance + (stop + allowance) * self.taker

    def profit_per_unit(self, entry: Decimal, target: Decimal, d: int) -> Decimal:
        """What one unit makes when the PostOnly take-profit fills at ``target``: maker on both legs."""
        return d * (target - entry) - (entry + target) * self.maker

    def target_for(self, entry: Decimal, d: int, net: Decimal) -> Decimal:
        """The (unrounded) target at which one unit makes ``net`` after both maker fees."""
        return (entry * (1 + d * self.maker) + d * net) / (1 - d * self.maker)

    def break_even(self, entry: Decimal, d: int) -> Decimal:
        """The stop at which a stop-out loses nothing (``loss_per_unit`` <= 0), nearest the entry.

        With a tick: a price on the grid. The allowance is at least ``a·stop + b`` (``a`` the
        slippage and half the spread as fractions of price, ``b`` a tick for a one-tick book), so
        the stop that zeroes the loss with that linear allowance lies on the entry's side of the
        true one, and the grid prices from it outward are tried until one loses nothing: a few
        ticks at most.
        Without a tick: the unrounded stop of the flat allowance."""
        a = self.slippage + (self.spread / 2 if self.tick is not None else 0)
        b = self.tick if self.tick is not None and self.spread == 0 else Decimal(0)
        # loss = d·(entry − s) + entry·maker + a·s + b + (s + a·s + b)·taker = 0, solved for s.
        level = (d * entry + entry * self.maker + b * (1 + self.taker)) / (d - a - self.taker * (1 + a))
        if self.tick is None:
            return level
        stop = (level / self.tick).to_integral_value(ROUND_CEILING if d > 0 else ROUND_FLOOR) * self.tick
        while self.loss_per_unit(entry, stop, d) > 0:
            stop += d * self.tick
        return stop


def _costs(maker: Decimal, taker: Decimal, risk: RiskSettings, tick: Decimal | None) -> Costs:
    return Costs(maker, taker, _dec(risk.slippage_bps) / BPS, tick, _dec(risk.spread_bps) / BPS)


def fallback_costs(risk: RiskSettings, tick: Decimal | None) -> Costs:
    """The settings' rates, for when the venue's have not been read; ``tick`` is the symbol's."""
    return _costs(_dec(risk.maker_fee), _dec(risk.taker_fee), risk, tick)


def costs_for(symbol: str, tick: Decimal | None, rates: tuple[tuple[str, Decimal, Decimal], ...],
              risk: RiskSettings) -> Costs:
    """``symbol``'s rates as the venue reported them, else the settings' fallback; the slippage
    allowance is always the settings', rounded to ``tick`` (the symbol's ``Instrument.tick_size``;
    None only for a symbol without instrument rules: see ``Costs``)."""
    for name, maker, taker in rates:
        if name == symbol:
            return _costs(maker, taker, risk, tick)
    return fallback_costs(risk, tick)


def instrument_costs(instrument: Instrument, rates: tuple[tuple[str, Decimal, Decimal], ...],
                     risk: RiskSettings) -> Costs:
    """``costs_for`` the instrument's symbol at its tick."""
    return costs_for(instrument.symbol, instrument.tick_size, rates, risk)


def account_costs(instrument: Instrument, account: AccountView | None, risk: RiskSettings) -> Costs:
    return instrument_costs(instrument, account.fee_rates if account is not None else (), risk)


def worst_case_loss(entry: Decimal, stop: Decimal, d: int, qty: Decimal, costs: Costs) -> Decimal:
    """What an open position loses if its stop fills, fees included; 0 when the stop locks a profit."""
    return max(Decimal(0), qty * costs.loss_per_unit(entry, stop, d))
