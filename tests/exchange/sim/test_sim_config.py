"""SimConfig is the venue's own config; the bot maps its [sim] settings onto it."""

from __future__ import annotations

from vocabulary.settings import SimSettings

from exchange.sim.config import SimConfig


def test_sim_config_maps_the_bots_sim_settings():
    settings = SimSettings(port=9999, speed=60.0, loop=True, initial_equity=500.0, taker_fee=0.0006)
    config = SimConfig.from_settings(settings, port=0, paced=True)
    assert (config.port, config.speed, config.loop, config.paced) == (0, 60.0, True, True)
    assert (config.initial_equity, config.taker_fee, config.api_key) == (500.0, 0.0006, settings.api_key)
    assert SimConfig.from_settings(SimSettings()).speed == "max"
