"""Fixtures of the simulator tests (builders live in sim_builders.py)."""

from __future__ import annotations

import pytest

from sim_builders import T0, Market, btc_engine


@pytest.fixture
def market():
    return Market(btc_engine())


@pytest.fixture
def hedge_market(market):
    market.engine.switch_mode({"category": "linear", "symbol": "BTCUSDT", "mode": 3}, T0)
    return market


@pytest.fixture
def sim():
    """A paced simulator with two symbols on an ephemeral loopback port."""
    from exchange.sim.config import SimConfig
    from exchange.sim.server import SimServer

    with SimServer(SimConfig(port=0, symbols=("BTCUSDT", "ETHUSDT"), paced=True)) as server:
        yield server
