"""Token buckets per endpoint, corrected by the venue's X-Bapi-Limit headers."""

from __future__ import annotations

import pytest

from exchange.bybit.ratelimit import RESET_FALLBACK_S, RateLimiter


def test_order_endpoints_allow_ten_per_second_and_then_space_calls_out():
    limiter = RateLimiter()
    waits = [limiter.reserve("/v5/order/create", 100.0) for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.1) and waits[11] == pytest.approx(0.2)
    assert limiter.reserve("/v5/order/create", 100.2) == pytest.approx(0.1)  # 0.2 s refilled the 2 overdrawn, no more


def test_bookkeeping_reads_never_spend_the_order_budget():
    limiter = RateLimiter()
    for _ in range(50):
        assert limiter.reserve("/v5/position/list", 5.0) == 0.0
    assert limiter.reserve("/v5/order/create", 5.0) == 0.0
    assert limiter.reserve("/v5/position/list", 5.0) > 0.0


def test_headers_lower_the_budget_to_what_the_venue_says_remains():
    limiter = RateLimiter()
    limiter.observe("/v5/order/realtime", {"x-bapi-limit": "20", "x-bapi-limit-status": "0"}, 10.0)
    assert limiter.reserve("/v5/order/realtime", 10.0) == pytest.approx(1 / 20)


def test_market_calls_share_one_bucket_below_the_ip_limit():
    limiter = RateLimiter()
    waits = [limiter.reserve(p, 0.0) for p in ["/v5/market/kline", "/v5/market/time"] * 31]
    assert waits.count(0.0) == 60 and waits[-1] > 0


@pytest.mark.parametrize(
    ("reset_ms", "offset_s", "expected"),
    [
        (10_700, 0.0, 0.7),  # venue clock == ours
        (5_700, -5.0, 0.7),  # venue clock 5 s behind ours, stamp on the venue's clock
        (10_400, -5_000.0, 0.4),  # a replaying venue that stamps wall time
        (None, 0.0, RESET_FALLBACK_S),  # 10006 without the header (pybit#340)
        (99_999_999, 0.0, RESET_FALLBACK_S),  # nonsense never stalls for long
    ],
)
def test_a_10006_blocks_the_endpoint_until_the_reset(reset_ms, offset_s, expected):
    limiter = RateLimiter()
    assert limiter.block("/v5/order/create", 10.0, reset_ms, offset_s) == pytest.approx(expected)
    assert limiter.reserve("/v5/order/create", 10.0) == pytest.approx(expected)
    assert limiter.reserve("/v5/order/cancel", 10.0) == 0.0
