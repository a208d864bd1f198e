"""FrameIndicators: confirmed klines in, FrameState snapshots out, equal to the batch table bit for bit."""

import gzip
import csv
import math
from pathlib import Path

import numpy as np
import pytest

from vocabulary.messages import FrameState, Kline, MarketState, from_json, to_json
from indicators.columns import compute_columns
from indicators.frame import FrameIndicators, build_market_state
from indicators.params import IndicatorParams
from tv_oracle import assert_bits_equal

KLINES = Path(__file__).resolve().parents[2] / "data" / "klines" / "BTCUSDT-1m.csv.gz"


def _klines(n: int, interval: int = 1) -> list[Kline]:
    with gzip.open(KLINES, "rt", newline="") as f:
        rows = [row for _, row in zip(range(n), csv.DictReader(f))]
    return [
        Kline(symbol="BTCUSDT", interval=interval, start_ms=int(r["start_ms"]), open=float(r["open"]),
              high=float(r["high"]), low=float(r["low"]), close=float(r["close"]), volume=float(r["volume"]))
        for r in rows
    ]


BARS = _klines(400)


def _column(states: list[FrameState], name: str) -> list[float]:
    return [math.nan if getattr(s, name) is None else getattr(s, name) for s in states]


def test_frame_states_equal_the_batch_table_on_real_klines():
    frame = FrameIndicators(1)
    states = [frame.update(k) for k in BARS]
    cols = {name: np.array([getattr(k, name) for k in BARS]) for name in ("open", "high", "low", "close", "volume")}
    table = compute_columns(np.array([k.start_ms for k in BARS]), cols["open"], cols["high"], cols["low"],
                            cols["close"], cols["volume"])
    for name, column in [("ha_open", "ha_open"), ("ha_high", "ha_high"), ("ha_low", "ha_low"),
                         ("ha_close", "ha_close"), ("wt1", "vmc_wt1"), ("wt2", "vmc_wt2"), ("mfi", "mfi"),
                         ("rsi_mfi_area", "rsi_mfi_area"), ("ema200", "ema200"), ("vwap", "vwap")]:
        assert_bits_equal(table[column], _column(states, name), name)
    assert [s.ha_streak for s in states] == table["ha_streak"].tolist()
    assert states[-1].start_ms == BARS[-1].start_ms and states[-1].close == BARS[-1].close


def test_na_is_none_until_each_indicator_has_warmed_up():
    frame = FrameIndicators(1)
    states = [frame.update(k) for k in BARS[:200]]
    assert states[198].ema200 is None and states[199].ema200 is not None
    assert states[12].mfi is None and states[13].mfi is not None
    assert states[58].rsi_mfi_area is None and states[59].rsi_mfi_area is not None
    assert states[26].wt1 is None and states[27].wt1 is not None
    assert states[28].wt2 is None and states[29].wt2 is not None
    assert states[0].vwap is not None


def test_histories_hold_the_last_hist_len_values_oldest_first():
    frame = FrameIndicators(1, hist_len=4)
    states = [frame.update(k) for k in BARS[:40]]
    last = states[-1]
    assert last.high_hist == tuple(k.high for k in BARS[36:40])
    assert last.low_hist == tuple(k.low for k in BARS[36:40])
    assert last.wt1_hist == tuple(s.wt1 for s in states[36:40])
    assert last.wt2_hist == tuple(s.wt2 for s in states[36:40])
    assert last.ha_streak_hist == tuple(s.ha_streak for s in states[36:40])
    assert states[1].high_hist == (BARS[0].high, BARS[1].high)
    assert states[28].wt2_hist[-1] is None and states[29].wt2_hist[-1] == states[29].wt2


def test_last_is_the_most_recent_state():
    frame = FrameIndicators(1)
    assert frame.last is None
    state = frame.update(BARS[0])
    assert frame.last is state


def test_params_reach_the_indicators():
    frame = FrameIndicators(1, IndicatorParams(ema_length=3, mfi_length=2))
    states = [frame.update(k) for k in BARS[:3]]
    assert states[1].ema200 is None and states[2].ema200 is not None
    assert states[0].mfi is None and states[1].mfi is not None


@pytest.mark.parametrize(
    "bad",
    [
        Kline(symbol="BTCUSDT", interval=1, start_ms=BARS[1].start_ms, open=1.0, high=1.0, low=1.0, close=1.0,
              volume=1.0, confirmed=False),
        Kline(symbol="BTCUSDT", interval=5, start_ms=BARS[1].start_ms, open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0),
        BARS[0],  # the same bar again
    ],
    ids=["unconfirmed", "other_interval", "not_after_last"],
)
def test_bars_that_would_corrupt_the_state_are_refused(bad):
    frame = FrameIndicators(1)
    before = frame.update(BARS[0])
    with pytest.raises(ValueError):
        frame.update(bad)
    assert frame.last is before
    assert frame.update(BARS[1]).start_ms == BARS[1].start_ms


def test_frame_state_survives_the_journal_encoding():
    frame = FrameIndicators(1)
    state = [frame.update(k) for k in BARS[:40]][-1]
    assert from_json(to_json(state)) == state


def test_market_state_lists_the_frames_that_have_a_closed_bar_shortest_first():
    one, five = FrameIndicators(1), FrameIndicators(5)
    s1 = one.update(BARS[0])
    s5 = five.update(_klines(1, interval=5)[0])
    ms = build_market_state("BTCUSDT", 1_000, {15: None, 5: s5, 1: s1}, is_stale=True)
    assert isinstance(ms, MarketState)
    assert ms.frames == (s1, s5) and ms.frame(5) is s5 and ms.frame(15) is None
    assert (ms.symbol, ms.tick_ms, ms.is_stale) == ("BTCUSDT", 1_000, True)
    assert build_market_state("BTCUSDT", 1_000, {}).frames == ()
