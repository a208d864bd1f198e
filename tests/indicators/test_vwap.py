"""Session VWAP: the sums restart on the first bar of each UTC day."""

import math
from datetime import datetime, timezone

import numpy as np

from indicators.pine import NA
from indicators.vwap import SessionVwap


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def test_resets_on_the_first_bar_after_utc_midnight():
    v = SessionVwap()
    assert v.update(ms("2025-06-01 23:58"), 10.0, 1.0) == 10.0
    assert v.update(ms("2025-06-01 23:59"), 20.0, 3.0) == (10.0 + 60.0) / 4.0
    assert v.update(ms("2025-06-02 00:00"), 40.0, 2.0) == 40.0
    assert v.update(ms("2025-06-02 00:01"), 10.0, 2.0) == (80.0 + 20.0) / 4.0


def test_a_gap_over_midnight_still_resets_on_the_first_bar_of_the_new_day():
    v = SessionVwap()
    v.update(ms("2025-06-01 23:45"), 10.0, 1.0)
    assert v.update(ms("2025-06-02 00:15"), 30.0, 1.0) == 30.0


def test_the_first_bar_seen_anchors_even_mid_session():
    assert SessionVwap().update(ms("2025-06-01 13:37"), 42.5, 3.0) == 42.5


def test_session_start_moves_the_reset():
    v = SessionVwap(session_start_ms=21 * 3_600_000)
    v.update(ms("2025-06-01 20:59"), 10.0, 1.0)
    assert v.update(ms("2025-06-01 23:59"), 20.0, 1.0) == 20.0  # the 21:00 session began in between
    assert v.update(ms("2025-06-02 00:00"), 40.0, 1.0) == 30.0  # midnight is mid-session here


def test_zero_volume_session_is_na_until_volume_arrives():
    v = SessionVwap()
    assert math.isnan(v.update(ms("2025-06-01 00:00"), 10.0, 0.0))
    assert v.update(ms("2025-06-01 00:01"), 12.0, 2.0) == 12.0


def test_na_source_is_na_and_not_accumulated():
    v = SessionVwap()
    v.update(ms("2025-06-01 00:00"), 10.0, 1.0)
    assert math.isnan(v.update(ms("2025-06-01 00:01"), NA, 5.0))
    assert v.update(ms("2025-06-01 00:02"), 20.0, 1.0) == 15.0


def test_batch_resets_at_the_same_bars():
    t = np.array([ms("2025-06-01 23:58"), ms("2025-06-01 23:59"), ms("2025-06-02 00:00"), ms("2025-06-02 00:01")])
    out = SessionVwap.batch(t, np.array([10.0, 20.0, 40.0, 10.0]), np.array([1.0, 3.0, 2.0, 2.0]))
    assert out.tolist() == [10.0, 17.5, 40.0, 25.0]
