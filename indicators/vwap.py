"""``ta.vwap(src)`` anchored to a daily session; for a 24/7 Bybit perpetual the day starts at 00:00 UTC."""

from __future__ import annotations

import numpy as np

from indicators.pine import NA

DAY_MS = 86_400_000


class SessionVwap:
    """Volume-weighted average of ``src`` since the session's first bar.

    The sums restart on the first bar whose session day differs from the previous bar's;
    ``session_start_ms`` shifts the day boundary (0 is 00:00 UTC; the FX export in
    tests/data/tv opens at 21:00 UTC). The first bar ever seen anchors too, so a history
    that starts mid-session has a value at once. An na ``src`` gives na and is skipped whole;
    a session whose volume is still zero gives na (Pine's division by zero).
    """

    __slots__ = ("session_start_ms", "_day", "_sum_v", "_sum_pv")

    def __init__(self, session_start_ms: int = 0) -> None:
        self.session_start_ms = session_start_ms
        self._day: int | None = None
        self._sum_v = 0.0
        self._sum_pv = 0.0

    def update(self, time_ms: int, src: float, volume: float) -> float:
        if src != src:
            return NA
        day = (time_ms - self.session_start_ms) // DAY_MS
        if day != self._day:
            self._day = day
            sum_v = volume
            sum_pv = src * volume
        else:
            sum_v = self._sum_v + volume
            sum_pv = self._sum_pv + src * volume
        self._sum_v = sum_v
        self._sum_pv = sum_pv
        return NA if sum_v == 0.0 else sum_pv / sum_v

    @staticmethod
    def batch(time_ms: np.ndarray, src: np.ndarray, volume: np.ndarray, session_start_ms: int = 0) -> np.ndarray:
        valid = ~np.isnan(src)
        every = bool(valid.all())  # the usual case: no copies through the mask
        t = np.asarray(time_ms, dtype=np.int64)
        t, x, v = (t, src, volume) if every else (t[valid], src[valid], volume[valid])
        if len(x) == 0:
            return np.full(len(src), np.nan)
        day = (t - session_start_ms) // DAY_MS
        starts = np.flatnonzero(np.concatenate(([True], day[1:] != day[:-1])))
        pv = x * v
        sum_v = np.empty_like(v)
        sum_pv = np.empty_like(pv)
        # add.accumulate is a strict left-to-right running sum, the same additions the
        # streaming form makes; only the session boundaries cut it.
        for a, b in zip(starts, np.append(starts[1:], len(x))):
            np.add.accumulate(v[a:b], out=sum_v[a:b])
            np.add.accumulate(pv[a:b], out=sum_pv[a:b])
        with np.errstate(divide="ignore", invalid="ignore"):
            vwap = np.where(sum_v == 0.0, np.nan, sum_pv / sum_v)
        if every:
            return vwap
        out = np.full(len(src), np.nan)
        out[valid] = vwap
        return out
