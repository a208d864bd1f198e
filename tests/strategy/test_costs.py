"""The slippage allowance is per symbol: what the venue charges an ungapped stop on that symbol's
tick grid (the slippage rounded up to whole ticks, then half a spread in whole ticks), never less
than ``[risk] slippage_bps`` of the price; and break-even is the grid stop nearest the entry that
loses nothing. The venue's charge is computed by the venue's own code (``exchange.sim.costs``).
"""

import gzip
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabulary.settings import RiskSettings, SettingsError, load_settings
from exchange.sim.costs import Costs as VenueCosts
from exchange.sim.market import load_instruments
from market_builders import VENUE, venue_stop_fill
from strategy.costs import Costs, costs_for, fallback_costs

D = Decimal
DATA = Path("data/klines")
TICKS = {symbol: rules.tick_size for symbol, rules in load_instruments(DATA / "instruments-bybit-linear.csv").items()}
SHIPPED = sorted(f.name.removesuffix("-1m.csv.gz") for f in DATA.glob("*-1m.csv.gz"))
RISK = RiskSettings()


def first_close(symbol: str) -> Decimal:
    """The close of the symbol's first bar of the shipped month: a price it really traded at."""
    with gzip.open(DATA / f"{symbol}-1m.csv.gz", "rt") as f:
        f.readline()
        return D(f.readline().split(",")[4])


def venue_charge(venue: VenueCosts, stop: Decimal, d: int, tick: Decimal) -> Decimal:
    """How far beyond its trigger the venue fills the stop of a ``d`` position that did not gap."""
    return d * (stop - venue_stop_fill(stop, d, tick, venue))


def bps(amount: Decimal, price: Decimal) -> float:
    return float(amount / price * 10_000)


# --- BTC and ADA at their real ticks -----------------------------------------------------------


def test_on_btc_the_allowance_is_its_slippage_and_on_ada_two_ticks_more_than_it():
    btc, ada = first_close("BTCUSDT"), first_close("ADAUSDT")  # 104337.8 and 0.6898
    btc_costs, ada_costs = fallback_costs(RISK, TICKS["BTCUSDT"]), fallback_costs(RISK, TICKS["ADAUSDT"])
    # BTC: 2 bps of 104337.8 is 208.7 ticks of 0.1, rounded up to 209, and a tick of half spread.
    assert btc_costs.allowance(btc) == 210 * TICKS["BTCUSDT"]
    assert 2.0 <= bps(btc_costs.allowance(btc), btc) < 2.02
    # ADA: 2 bps of 0.6898 is 1.38 ticks of 0.0001, rounded up to 2, and a tick of half spread.
    assert ada_costs.allowance(ada) == 3 * TICKS["ADAUSDT"]
    assert bps(ada_costs.allowance(ada), ada) == pytest.approx(4.349, abs=1e-3)


@pytest.mark.parametrize("symbol", SHIPPED)
@pytest.mark.parametrize("d", [1, -1])
def test_at_the_shipped_settings_every_symbol_s_allowance_is_what_the_shipped_venue_charges(symbol, d):
    price, tick = first_close(symbol), TICKS[symbol]
    costs = fallback_costs(RISK, tick)
    assert costs.allowance(price) == venue_charge(VENUE, price, d, tick)
    assert costs.allowance(price) >= price * D(str(RISK.slippage_bps)) / 10_000


def test_the_round_trip_and_so_the_stop_floor_carry_the_rounded_allowance():
    ada, tick = first_close("ADAUSDT"), TICKS["ADAUSDT"]
    costs = fallback_costs(RISK, tick)
    assert costs.round_trip(ada) == D("0.0002") + D("0.00055") + 3 * tick / ada
    flat = fallback_costs(RISK, None)  # no tick known: the flat 2 bps, as before
    assert flat.round_trip(ada) == D("0.00095")


def test_the_venues_fee_rates_keep_the_symbols_allowance():
    rates = (("ADAUSDT", D("0.0001"), D("0.0006")),)
    costs = costs_for("ADAUSDT", TICKS["ADAUSDT"], rates, RISK)
    assert (costs.maker, costs.taker) == (D("0.0001"), D("0.0006"))
    assert costs.allowance(D("0.6898")) == fallback_costs(RISK, TICKS["ADAUSDT"]).allowance(D("0.6898"))


# --- any tick, price, slippage and spread --------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(tick=st.sampled_from(sorted(set(TICKS.values()))), ticks=st.integers(1, 20_000_000),
       slippage=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.3, 10.0]), spread=st.sampled_from([0.0, 0.7, 2.0, 5.0, 40.0]))
def test_the_allowance_covers_the_venues_ungapped_stop_exactly_for_a_short_and_at_least_for_a_long(tick, ticks, slippage, spread):
    stop = ticks * tick
    costs = Costs(D("0.0002"), D("0.00055"), D(str(slippage)) / 10_000, tick, D(str(spread)) / 10_000)
    venue = VenueCosts(stop_slippage_bps=slippage, spread_bps=spread)
    assert costs.allowance(stop) == venue_charge(venue, stop, -1, tick)
    assert costs.allowance(stop) >= venue_charge(venue, stop, 1, tick)
    if spread == 0:  # a one-tick book: a whole tick either way
        assert costs.allowance(stop) == venue_charge(venue, stop, 1, tick)
    assert costs.allowance(stop) >= stop * D(str(slippage)) / 10_000


@settings(max_examples=300, deadline=None)
@given(tick=st.sampled_from(sorted(set(TICKS.values()))), ticks=st.integers(100, 20_000_000), d=st.sampled_from([1, -1]),
       maker=st.sampled_from([-0.0001, 0.0, 0.0002]), spread=st.sampled_from([0.0, 3.0]))
def test_break_even_is_the_grid_stop_nearest_the_entry_that_loses_nothing(tick, ticks, d, maker, spread):
    entry = ticks * tick
    costs = Costs(D(str(maker)), D("0.00055"), D("0.0002"), tick, D(str(spread)) / 10_000)
    level = costs.break_even(entry, d)
    assert level % tick == 0
    assert costs.loss_per_unit(entry, level, d) <= 0
    assert costs.loss_per_unit(entry, level - d * tick, d) > 0


# --- settings -------------------------------------------------------------------------------------


def test_an_assumed_spread_narrower_than_the_simulators_is_refused_and_an_equal_one_accepted():
    base = Path("settings.toml").read_text()
    with pytest.raises(SettingsError, match="spread_bps"):
        load_settings(base, {"SMTBOT__SIM__SPREAD_BPS": "3.0", "SMTBOT__RISK__SPREAD_BPS": "2.0"})
    assert load_settings(base, {"SMTBOT__SIM__SPREAD_BPS": "3.0", "SMTBOT__RISK__SPREAD_BPS": "3.0"}).risk.spread_bps == 3.0
    # A simulator that charges no spread asks nothing of the assumption (a one-tick book still costs a tick).
    assert load_settings(base, {"SMTBOT__SIM__SPREAD": "false", "SMTBOT__SIM__SPREAD_BPS": "3.0"}).risk.spread_bps == 0.0
