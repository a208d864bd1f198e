"""IndicatorParams: the defaults the strategy was designed on, and the bot's settings mapped onto them."""

import msgspec
import pytest

from vocabulary.settings import StrategySettings
from indicators.params import IndicatorParams


def test_defaults_match_pine_md():
    p = IndicatorParams()
    assert (p.wt_channel, p.wt_average, p.wt_ma, p.oversold, p.overbought) == (9, 12, 3, -53.0, 53.0)
    assert (p.lazybear_n1, p.lazybear_n2) == (10, 21)
    assert (p.mfi_length, p.rsi_mfi_period, p.rsi_mfi_multiplier, p.rsi_mfi_pos_y) == (14, 60, 150.0, 2.5)
    assert (p.ema_length, p.vwap_session_start_ms) == (200, 0)


def test_settings_toml_strategy_section_maps_onto_the_wavetrend_params():
    assert IndicatorParams.from_strategy(StrategySettings()) == IndicatorParams()
    custom = msgspec.structs.replace(StrategySettings(), wt_channel=10, wt_average=11, wt_ma=4,
                                     wt_oversold=-60.0, wt_overbought=60.0)
    p = IndicatorParams.from_strategy(custom)
    assert (p.vmc.channel, p.vmc.average, p.vmc.ma, p.oversold, p.overbought) == (10, 11, 4, -60.0, 60.0)


def test_params_are_frozen():
    with pytest.raises(AttributeError):
        IndicatorParams().ema_length = 50
