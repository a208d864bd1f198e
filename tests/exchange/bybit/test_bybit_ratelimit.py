"""The venue's rolling window per endpoint, kept by the client, corrected by the X-Bapi-Limit headers:
whatever the calls' timing, the simulator (which applies Bybit's rule) never answers 10006."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from exchange.bybit.ratelimit import JITTER_S, RESET_FALLBACK_S, WINDOW_S, RateLimiter
from exchange.sim.rest import RateLimiter as VenueRule


def test_order_endpoints_allow_ten_in_a_window_and_the_eleventh_when_the_first_has_left_it():
    limiter = RateLimiter()
    waits = [limiter.reserve("/v5/order/create", 100.0) for _ in range(12)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(WINDOW_S + JITTER_S) and waits[11] == pytest.approx(WINDOW_S + JITTER_S)
    # A token bucket (10 per second, 10 deep) would have sent the 11th at 100.1 and the 20th at 101.0:
    # 19 calls in the venue's window (100.0, 101.0], 9 of them answered 10006.
    assert limiter.reserve("/v5/order/create", 100.5) == pytest.approx(100.0 + WINDOW_S + JITTER_S - 100.5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["/v5/order/create", "/v5/order/cancel", "/v5/position/list"]),
                          st.one_of(st.just(0), st.integers(0, 60), st.integers(0, 400))), min_size=1, max_size=120))
@example([("/v5/order/create", 0)] * 25)  # one tick on which 25 symbols take
def test_no_timing_of_calls_gets_a_10006_from_the_venue_rule(calls):
    """Calls asked for at any times (ms apart, bursts included) are sent when the limiter says; the
    simulator's rolling window (Bybit's rule, §1.5) accepts every one, even if each arrives up to
    JITTER_S earlier than sent relative to the one a window before it."""
    limiter, venue = RateLimiter(), VenueRule()
    now = 1_000.0
    sent: list[tuple[str, float]] = []
    for path, gap_ms in calls:
        now += gap_ms / 1000
        sent.append((path, now + limiter.reserve(path, now)))
    for path, at in sorted(sent, key=lambda c: c[1]):
        accepted, _ = venue.check("key", path, int(at * 1000))
        assert accepted, f"{path} at {at:.3f} s answered 10006"
    for path in {p for p, _ in sent}:
        times = sorted(at for p, at in sent if p == path)
        limit = 50 if path == "/v5/position/list" else 10
        assert all(b - a >= WINDOW_S + JITTER_S - 1e-9 for a, b in zip(times, times[limit:])), \
            "a call leaves a window (+ jitter) after the limit-th before it"


def test_bookkeeping_reads_never_spend_the_order_budget():
    limiter = RateLimiter()
    for _ in range(50):
        assert limiter.reserve("/v5/position/list", 5.0) == 0.0
    assert limiter.reserve("/v5/order/create", 5.0) == 0.0
    assert limiter.reserve("/v5/position/list", 5.0) > 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["/v5/order/create", "/v5/order/amend"]), st.integers(0, 30),
                          st.integers(0, 600), st.integers(0, 600)), min_size=1, max_size=60))
@example([("/v5/order/create", 0, 400, 0)] + [("/v5/order/create", 0, 0, 0)] * 12)  # a slow first call
# A full window answered at once, then a slow call: the venue counted, at its arrival, calls
# ours held at their answers just before its send (they were once called someone else's).
@example([("/v5/order/create", 0, 0, 0)] * 13 + [("/v5/order/create", 0, 400, 600)])
def test_calls_one_after_another_are_never_refused_whatever_the_network_delays(calls):
    """As the router calls: each call after the answer to the one before. Each request reaches the
    venue ``d_in`` ms after it is sent (any delay, far beyond JITTER_S) and its answer comes back
    ``d_out`` ms later; the venue's rule, applied at arrival, accepts every one."""
    limiter, venue = RateLimiter(), VenueRule()
    now = 1_000.0
    for path, gap_ms, d_in, d_out in calls:
        now += gap_ms / 1000
        sent = now + limiter.reserve(path, now)
        arrival = sent + d_in / 1000
        accepted, headers = venue.check("key", path, int(arrival * 1000))
        assert accepted, f"{path} arriving at {arrival:.3f} s answered 10006"
        now = arrival + d_out / 1000
        limiter.observe(path, {k.lower(): v for k, v in headers.items()}, now)
    assert limiter.foreign_usage == 0, "our own calls, counted by the venue, are not someone else's"


def test_headers_lower_the_budget_to_what_the_venue_says_remains():
    """The venue counted 20 calls where we sent none: another process spends the key's budget;
    the next call waits for those to leave the window."""
    limiter = RateLimiter()
    limiter.observe("/v5/order/realtime", {"x-bapi-limit": "20", "x-bapi-limit-status": "0"}, 10.0)
    assert limiter.foreign_usage == 1
    assert limiter.reserve("/v5/order/realtime", 10.0) == pytest.approx(WINDOW_S + JITTER_S)


def test_our_own_calls_are_not_taken_for_someone_elses():
    limiter = RateLimiter()
    for k in range(5):
        assert limiter.reserve("/v5/order/create", 10.0) == 0.0
        limiter.observe("/v5/order/create", {"x-bapi-limit": "10", "x-bapi-limit-status": str(10 - k - 1)}, 10.0)
    assert limiter.foreign_usage == 0
    assert [limiter.reserve("/v5/order/create", 10.0) for _ in range(6)][-1] == pytest.approx(WINDOW_S + JITTER_S)


def test_a_higher_limit_from_the_venue_is_adopted():
    limiter = RateLimiter()
    limiter.observe("/v5/order/create", {"x-bapi-limit": "20", "x-bapi-limit-status": "20"}, 10.0)
    assert [limiter.reserve("/v5/order/create", 10.0) for _ in range(20)] == [0.0] * 20


def test_market_calls_share_one_window_at_half_the_ip_limit():
    limiter = RateLimiter()
    waits = [limiter.reserve(p, 0.0) for p in ["/v5/market/kline", "/v5/market/time"] * 151]
    assert waits.count(0.0) == 300 and waits[-1] == pytest.approx(5.0 + JITTER_S)  # 600 per 5 s is the IP's


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
