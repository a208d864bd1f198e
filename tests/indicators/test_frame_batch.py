"""The batch frame columns are what FrameIndicators streams, field for field and bit for bit, on
series built to hit the edge cases (flat bars, zero volume, jumps, midnights), and the vectorised
``ta.cross`` is the streaming one, tolerance and remembered side included."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indicators.crosses import Cross
from indicators.frame import FrameIndicators
from indicators.frame_batch import cross_flags, frame_columns
from indicators.params import IndicatorParams
from vocabulary.messages import Kline

SMALL = IndicatorParams(wt_channel=3, wt_average=4, wt_ma=2, mfi_length=3, rsi_mfi_period=4, ema_length=5,
                        oversold=-20.0, overbought=20.0)
MINUTE = 60_000


@st.composite
def bars(draw, max_bars=150):
    n = draw(st.integers(1, max_bars))
    price = draw(st.sampled_from([1e-4, 1.0, 100.0, 1e5]))
    out = []
    for _ in range(n):
        step = draw(st.sampled_from(["walk", "walk", "walk", "jump", "flat"]))
        if step == "walk":
            price *= 1 + draw(st.floats(-0.02, 0.02))
        elif step == "jump":
            price *= draw(st.sampled_from([0.5, 2.0]))
        close = price * (1 + draw(st.floats(-0.01, 0.01)))
        wick = draw(st.floats(0, 0.01)) * price
        high, low = max(price, close) + wick, min(price, close) - wick
        if step == "flat":
            high = low = close = price
        out.append((price, high, low, close, draw(st.sampled_from([0.0, 0.001, 1.0, 12345.678]))))
        price = close
    interval = draw(st.sampled_from([1, 15, 240]))  # 240-minute bars cross many midnights
    start = draw(st.integers(0, 3 * 1440)) // interval * interval * MINUTE + 1_748_736_000_000
    return interval, [start + i * interval * MINUTE for i in range(n)], out


@settings(max_examples=150, deadline=None)
@given(bars(), st.sampled_from([IndicatorParams(), SMALL]), st.integers(1, 6))
def test_every_frame_field_is_the_streaming_one(series, params, hist):
    interval, starts, rows = series
    stream = FrameIndicators(interval, params, hist_len=hist)
    frames = [stream.update(Kline(symbol="X", interval=interval, start_ms=t, open=o, high=h, low=lo, close=c,
                                  volume=v, confirmed=True)) for t, (o, h, lo, c, v) in zip(starts, rows)]
    o, h, lo, c, v = (np.array(col, dtype=np.float64) for col in zip(*rows))
    columns = frame_columns(np.array(starts, dtype=np.int64), o, h, lo, c, v, params)
    for i, frame in enumerate(frames):
        for name in columns._fields:
            value = getattr(columns, name)[i].item()
            expected = getattr(frame, name)
            if expected is None:
                assert value != value, (i, name)
            else:
                assert value == expected and type(value) is type(expected), (i, name, value, expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([float("nan"), 0.0, 1.0, 1.0 + 5e-11, 1.0 - 5e-11, 2.0, -3.0]),
                          st.sampled_from([float("nan"), 0.0, 1.0, 2.0, -3.0])), min_size=1, max_size=60))
def test_the_vectorised_cross_is_the_streaming_one(pairs):
    a, b = (np.array(col, dtype=np.float64) for col in zip(*pairs))
    cross = Cross()
    assert cross_flags(a, b).tolist() == [cross.update(x, y) for x, y in pairs]
