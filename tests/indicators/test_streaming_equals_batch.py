"""Streaming and batch forms give the same bits, on random series built to hit the edge cases:
constant prices, flat bars (high == low), zero volume, jumps across orders of magnitude, na sources.
Each test runs once per batch kernel this install has (numba, the C loops, the list loops)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators.columns import COLUMNS, compute_columns
from indicators.crosses import Cross, Crossover, Crossunder
from indicators.ema import Ema, Rma
from indicators.extremes import Highest, Lowest
from indicators.heikin_ashi import HeikinAshi
from indicators.mfi import Mfi, RsiMfiArea
from indicators.params import IndicatorParams
from indicators.pine import NA, Change, hlc3
from indicators.rolling_sum import RollingSum, Sma
from indicators.rsi import Rsi
from indicators.vwap import SessionVwap
from indicators.wavetrend import CipherB, WaveTrend
from tv_oracle import assert_bits_equal

pytestmark = pytest.mark.usefixtures("each_kernel")

SMALL = IndicatorParams(wt_channel=3, wt_average=4, wt_ma=2, lazybear_n1=2, lazybear_n2=3,
                        mfi_length=3, rsi_mfi_period=4, ema_length=5)
MINUTE = 60_000


@st.composite
def ohlcv(draw, min_bars=1, max_bars=120):
    n = draw(st.integers(min_bars, max_bars))
    scale = draw(st.sampled_from([1e-4, 1.0, 100.0, 1e5]))
    constant = draw(st.booleans())
    price = scale
    bars = []
    for _ in range(n):
        if not constant:
            step = draw(st.sampled_from(["walk", "walk", "walk", "jump", "flat"]))
            if step == "walk":
                price = max(price * (1 + draw(st.floats(-0.02, 0.02))), scale * 1e-3)
            elif step == "jump":  # a gap across orders of magnitude
                price = price * draw(st.sampled_from([1e-3, 0.5, 2.0, 1e3]))
        open_ = price
        close = open_ if constant else open_ * (1 + draw(st.floats(-0.01, 0.01)))
        wick = 0.0 if constant or draw(st.integers(0, 4)) == 0 else draw(st.floats(0, 0.01)) * open_
        high, low = max(open_, close) + wick, min(open_, close) - wick
        if constant or draw(st.integers(0, 5)) == 0:
            high = low = open_ = close  # a flat bar
        volume = draw(st.sampled_from([0.0, 0.001, 1.0, 12345.678]))
        bars.append((open_, high, low, close, volume))
        price = close
    start = draw(st.integers(0, 3 * 1440)) * MINUTE + 1_748_736_000_000
    step = draw(st.sampled_from([1, 15, 240]))  # 240-minute steps cross many midnights
    t = np.array([start + i * step * MINUTE for i in range(n)], dtype=np.int64)
    cols = [np.array(c, dtype=np.float64) for c in zip(*bars)]
    return (t, *cols)


series_with_na = st.lists(
    st.one_of(st.just(NA), st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([1e-9, 1e9, 100.0])),
    min_size=1, max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(series_with_na, st.integers(1, 7))
def test_moving_averages_and_sums(xs, length):
    x = np.array(xs)
    for machine in (RollingSum, Sma, Ema, Rma, Rsi, Highest, Lowest):
        m = machine(length)
        assert_bits_equal([m.update(v) for v in xs], machine.batch(x, length), machine.__name__)
    change = Change()
    assert_bits_equal([change.update(v) for v in xs], Change.batch(x), "change")


@settings(max_examples=60, deadline=None)
@given(series_with_na, series_with_na)
def test_crosses(xs, ys):
    n = min(len(xs), len(ys))
    a, b = np.array(xs[:n]), np.array(ys[:n])
    for machine in (Cross, Crossover, Crossunder):
        m = machine()
        assert [m.update(p, q) for p, q in zip(xs[:n], ys[:n])] == machine.batch(a, b).tolist()


@settings(max_examples=40, deadline=None)
@given(ohlcv(), series_with_na)
def test_mfi_and_vwap_with_na_sources(bars, holes):
    t, _, high, low, close, volume = bars
    src = hlc3(high, low, close)
    src[np.isnan(np.resize(np.array(holes), len(src)))] = np.nan
    m, v = Mfi(3), SessionVwap()
    assert_bits_equal([m.update(s, vol) for s, vol in zip(src.tolist(), volume.tolist())], Mfi.batch(src, volume, 3), "mfi")
    assert_bits_equal([v.update(int(ti), s, vol) for ti, s, vol in zip(t, src.tolist(), volume.tolist())],
                      SessionVwap.batch(t, src, volume), "vwap")


@settings(max_examples=40, deadline=None)
@given(ohlcv(), st.sampled_from([SMALL, IndicatorParams()]))
def test_every_column_of_the_bar_table(bars, params):
    t, o, h, l, c, v = bars
    table = compute_columns(t, o, h, l, c, v, params)
    ha, lazybear, vmc = HeikinAshi(), WaveTrend(params.lazybear), WaveTrend(params.vmc)
    mfi, area = Mfi(params.mfi_length), RsiMfiArea(params.rsi_mfi_period, params.rsi_mfi_multiplier, params.rsi_mfi_pos_y)
    ema, vwap = Ema(params.ema_length), SessionVwap(params.vwap_session_start_ms)
    rows = []
    for ti, oi, hi, li, ci, vi in zip(t.tolist(), o.tolist(), h.tolist(), l.tolist(), c.tolist(), v.tolist()):
        src = hlc3(hi, li, ci)
        candle = ha.update(oi, hi, li, ci)
        rows.append((*candle[:4], candle.streak, *lazybear.update(src), *vmc.update(src), mfi.update(src, vi),
                     area.update(oi, hi, li, ci), ema.update(ci), vwap.update(ti, src, vi)))
    for name, streamed in zip(COLUMNS, zip(*rows)):
        assert_bits_equal(streamed, table[name], name)


@settings(max_examples=30, deadline=None)
@given(ohlcv())
def test_cipher_b_signals(bars):
    _, _, h, l, c, _ = bars
    cb = CipherB(SMALL.vmc)
    streamed = [cb.update(hi, li, ci) for hi, li, ci in zip(h.tolist(), l.tolist(), c.tolist())]
    batch = CipherB.batch(h, l, c, SMALL.vmc)
    for i, name in enumerate(batch._fields):
        if name in ("wt1", "wt2"):
            assert_bits_equal([s[i] for s in streamed], batch[i], name)
        else:
            assert [s[i] for s in streamed] == batch[i].tolist(), name
