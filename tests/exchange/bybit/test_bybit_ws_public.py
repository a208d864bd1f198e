"""The public kline stream against real WebSocket servers on 127.0.0.1 that drop, go silent,
refuse topics and send garbage; and the gap-fill contract with the REST client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter

import pytest
from bybit_venue import MINUTE, FakeRestVenue, bar_row
from ws_venue import WsVenue, kline_frame, until

from vocabulary.messages import FeedGap, JournalEvent, Kline
from exchange.bybit.rest import BybitRest
from exchange.bybit.ws_public import PublicStream

FAST = dict(ping_interval_s=0.1, silence_timeout_s=0.4, backoff_initial_s=0.01, backoff_max_s=0.05, open_timeout_s=2.0)
T0 = 1_700_000_040_000


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def started(stream: PublicStream) -> asyncio.Task:
    task = asyncio.create_task(stream.run())
    await until(lambda: stream.healthy)
    return task


async def finish(stream: PublicStream, task: asyncio.Task) -> None:
    stream.stop()
    await asyncio.wait_for(task, 3)


@contextlib.asynccontextmanager
async def streaming(symbols, intervals, deliver, *, venue_options=None, **options):
    """A scripted venue and a healthy stream subscribed to it, stopped on the way out."""
    async with WsVenue(**(venue_options or {})) as venue:
        stream = PublicStream(venue.url, symbols, intervals, deliver, **{**FAST, **options})
        task = await started(stream)
        try:
            yield venue, stream
        finally:
            await finish(stream, task)


def test_subscribes_in_batches_of_ten_and_decodes_confirmed_and_forming_bars():
    got: list = []

    async def scenario():
        symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        async with streaming(symbols, [1, 3, 5, 15], got.append) as (venue, stream):
            subs = [m for m in venue.received if m["op"] == "subscribe"]
            assert [len(m["args"]) for m in subs] == [10, 2]
            assert sorted(a for m in subs for a in m["args"]) == sorted(f"kline.{i}.{s}" for s in symbols for i in (1, 3, 5, 15))
            row = bar_row(T0)
            await venue.push("kline.5.ETHUSDT", kline_frame("ETHUSDT", 5, T0, row, confirm=False))
            await venue.push("kline.5.ETHUSDT", kline_frame("ETHUSDT", 5, T0, row, confirm=True))
            await until(lambda: len(got) == 2)

    run(scenario())
    forming, closed = got
    assert isinstance(closed, Kline) and closed.confirmed and not forming.confirmed
    assert (closed.symbol, closed.interval, closed.start_ms) == ("ETHUSDT", 5, T0)
    assert (closed.open, closed.high, closed.low, closed.close, closed.volume, closed.turnover) == tuple(float(v) for v in bar_row(T0)[1:])


def test_sends_the_json_heartbeat_and_swallows_pongs():
    got: list = []

    async def scenario():
        async with streaming(["BTCUSDT"], [1], got.append) as (venue, stream):
            await until(lambda: stream.stats["pongs"] >= 3)
            return venue, stream

    venue, stream = run(scenario())
    pings = [m for m in venue.received if m["op"] == "ping"]
    assert len(pings) >= 3 and all(set(m) == {"op", "req_id"} for m in pings)
    assert got == [] and stream.stats["malformed"] == 0 and stream.connections == 1


def test_malformed_frames_are_counted_logged_once_per_kind_and_never_fatal(caplog):
    got: list = []

    async def scenario():
        async with streaming(["BTCUSDT"], [1], got.append) as (venue, stream):
            bad_open = json.loads(kline_frame("BTCUSDT", 1, T0, bar_row(T0), True))
            bad_open["data"][0]["open"] = "not-a-number"
            bad_turnover = json.loads(kline_frame("BTCUSDT", 1, T0, bar_row(T0), True))
            bad_turnover["data"][0]["turnover"] = "n/a"
            for frame in ["{not json", "{not json either", '{"topic":"kline.1.BTCUSDT","data":[{"start":"x"}]}',
                          json.dumps(bad_open), json.dumps(bad_turnover), '{"topic":"kline.1.NOPEUSDT","data":[]}',
                          b"\x00\x01binary"]:
                await venue.send_raw(frame)
            await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, T0, bar_row(T0), True))
            await until(lambda: any(isinstance(m, Kline) for m in got))
            return stream

    with caplog.at_level(logging.WARNING, logger="exchange.bybit"):
        stream = run(scenario())
    assert stream.stats["malformed"] == 7 and stream.connections == 1
    kinds = {r.kind for r in caplog.records if r.getMessage() == "malformed frame skipped"}
    assert kinds == {"bad kline values", "undecodable", "unsubscribed topic"}
    (bar,) = [m for m in got if isinstance(m, Kline)]
    assert bar.start_ms == T0
    # Every distinct problem is journaled once, with the raw text the venue sent.
    events = [m for m in got if isinstance(m, JournalEvent)]
    assert all(e.kind == "venue_row_undecodable" and dict(e.data)["raw"] for e in events)
    assert "{not json" in [dict(e.data)["raw"] for e in events]
    assert any("not-a-number" in dict(e.data)["raw"] for e in events)


def test_a_duplicated_confirm_is_delivered_once():
    got: list = []

    async def scenario():
        async with streaming(["BTCUSDT"], [1], got.append) as (venue, stream):
            for start in (T0, T0, T0 + MINUTE):
                await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, start, bar_row(start), True))
            await until(lambda: len(got) == 2)
            return stream

    stream = run(scenario())
    assert [k.start_ms for k in got] == [T0, T0 + MINUTE] and stream.stats["duplicate_confirms"] == 1


@pytest.mark.parametrize("abrupt", [False, True])
def test_a_dropped_connection_reconnects_resubscribes_and_reports_the_gap_of_every_subscription(abrupt):
    got: list = []
    now = {"ms": T0 + 5 * MINUTE + 1_000}

    async def scenario():
        async with streaming(["BTCUSDT", "ETHUSDT"], [1, 5], got.append, clock=lambda: now["ms"] / 1000) as (venue, stream):
            await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, T0 + 3 * MINUTE, bar_row(T0), True))
            await until(lambda: len(got) == 1)
            now["ms"] = T0 + 9 * MINUTE + 30_000
            await venue.drop(abrupt=abrupt)
            await until(lambda: sum(isinstance(m, FeedGap) for m in got) == 4)
            assert venue.connections == 2
            subs = [m for m in venue.received if m["op"] == "subscribe"]
            assert len(subs) == 2 and subs[0]["args"] == subs[1]["args"]

    run(scenario())
    gaps = {(g.symbol, g.interval): (g.from_ms, g.to_ms) for g in got if isinstance(g, FeedGap)}
    first_connect = T0 + 5 * MINUTE + 1_000
    assert gaps == {
        ("BTCUSDT", 1): (T0 + 4 * MINUTE, T0 + 10 * MINUTE),
        ("ETHUSDT", 1): ((first_connect // MINUTE - 1) * MINUTE, T0 + 10 * MINUTE),
        ("BTCUSDT", 5): ((first_connect // (5 * MINUTE) - 1) * 5 * MINUTE, (now["ms"] // (5 * MINUTE) + 1) * 5 * MINUTE),
        ("ETHUSDT", 5): ((first_connect // (5 * MINUTE) - 1) * 5 * MINUTE, (now["ms"] // (5 * MINUTE) + 1) * 5 * MINUTE),
    }


def test_a_silent_connection_is_abandoned_and_replaced():
    got: list = []

    async def scenario():
        async with streaming(["BTCUSDT"], [1], got.append) as (venue, stream):
            venue.silent = True
            await until(lambda: stream.stats["silences"] == 1, timeout=3)
            venue.silent = False
            await until(lambda: stream.healthy and venue.connections == 2, timeout=3)
            return stream

    stream = run(scenario())
    assert stream.stats["silences"] == 1
    assert [type(m) for m in got] == [FeedGap]


def test_request_reconnect_from_a_watchdog_reopens_the_stream():
    got: list = []

    async def scenario():
        async with streaming(["BTCUSDT"], [1], got.append) as (venue, stream):
            stream.request_reconnect("no confirmed 1m bar")
            await until(lambda: venue.connections == 2 and stream.healthy)

    run(scenario())
    assert [type(m) for m in got] == [FeedGap]


def test_a_refused_topic_is_dropped_reported_and_the_rest_resubscribed():
    got: list = []

    async def scenario():
        refuse = frozenset({"kline.1.NOPEUSDT"})
        async with streaming(["BTCUSDT", "NOPEUSDT"], [1], got.append, venue_options=dict(refuse=refuse)) as (venue, stream):
            await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, T0, bar_row(T0), True))
            await until(lambda: any(isinstance(m, Kline) for m in got))
            return stream, venue

    stream, venue = run(scenario())
    assert stream.topics == ["kline.1.BTCUSDT"] and stream.refused_topics == {"kline.1.NOPEUSDT"}
    refusal = [m for m in got if isinstance(m, JournalEvent)]
    assert len(refusal) == 1 and refusal[0].kind == "subscribe_refused" and refusal[0].data == (("topic", "kline.1.NOPEUSDT"),)
    assert venue.connections == 2


def test_an_unreachable_venue_is_retried_with_growing_backoff():
    async def scenario():
        stream = PublicStream("ws://127.0.0.1:9/v5/public/linear", ["BTCUSDT"], [1], lambda m: None,
                              **{**FAST, "backoff_initial_s": 0.01, "backoff_max_s": 0.08})
        task = asyncio.create_task(stream.run())
        await until(lambda: stream.stats["disconnects"] >= 5)
        await finish(stream, task)
        return stream

    stream = run(scenario())
    assert stream.connections == 0 and stream.stats["reconnect_waits"] >= 5


def test_an_owner_that_raises_does_not_kill_the_stream():
    calls: list = []

    def deliver(message):
        calls.append(message)
        raise RuntimeError("actor is dead")

    async def scenario():
        async with streaming(["BTCUSDT"], [1], deliver) as (venue, stream):
            for start in (T0, T0 + MINUTE):
                await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, start, bar_row(start), True))
            await until(lambda: len(calls) == 2)
            return stream

    stream = run(scenario())
    assert stream.stats["deliver_errors"] == 2 and stream.connections == 1


def test_bad_configuration_is_refused_up_front():
    with pytest.raises(ValueError, match="interval 2"):
        PublicStream("ws://x", ["BTCUSDT"], [2], print)
    with pytest.raises(ValueError, match="21,000"):
        PublicStream("ws://x", [f"SYM{i:05d}USDT" for i in range(400)], [1, 3, 5, 15], print)
    with pytest.raises(ValueError, match="silence"):
        PublicStream("ws://x", ["BTCUSDT"], [1], print, ping_interval_s=20, silence_timeout_s=10)


def test_every_confirmed_bar_arrives_exactly_once_across_twenty_five_drops_with_rest_gap_fill():
    """The venue keeps closing bars while the client is away; FeedGap + klines_range fill them."""
    bars = 150
    first = T0 + 10 * MINUTE
    rest_venue = FakeRestVenue(now_ms=first)
    rest_venue.first_bar_ms = first - 50 * MINUTE
    rest = BybitRest("http://venue.test", None, clock=lambda: rest_venue.now_ms / 1000, transport=rest_venue.transport(), sleep=lambda s: None)
    consumed: dict[int, Kline] = {}
    order: list[int] = []
    ws_confirms: Counter[int] = Counter()

    def deliver(message):
        if isinstance(message, Kline) and message.confirmed:
            ws_confirms[message.start_ms] += 1
            take([message])
        elif isinstance(message, FeedGap):
            take(rest.klines_range(message.symbol, message.interval, message.from_ms, message.to_ms))

    def take(bars_in):
        for bar in bars_in:
            if bar.start_ms not in consumed:
                consumed[bar.start_ms] = bar
                order.append(bar.start_ms)

    async def scenario():
        async with streaming(["BTCUSDT"], [1], deliver, clock=lambda: rest_venue.now_ms / 1000,
                             backoff_initial_s=0.002, backoff_max_s=0.004) as (venue, stream):
            drops = 0
            for k in range(bars):
                start = first + k * MINUTE
                rest_venue.now_ms = start + MINUTE + 200  # bar k has just closed on the venue
                frame = kline_frame("BTCUSDT", 1, start, bar_row(start), True)
                await venue.push("kline.1.BTCUSDT", frame)
                if k % 10 == 3:
                    await venue.push("kline.1.BTCUSDT", frame)  # the live duplicate of pitfall 5
                await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, start + MINUTE, bar_row(start + MINUTE), False))
                await asyncio.sleep(0.003)
                if k % 6 == 5:
                    await venue.drop(abrupt=drops % 2 == 1)
                    drops += 1
                    await asyncio.sleep(0.002)
            await until(lambda: stream.healthy and stream.stats["gaps_reported"] >= drops, timeout=5)
            return stream, drops

    stream, drops = run(scenario())
    expected = [first + k * MINUTE for k in range(bars)]
    assert drops == 25 and stream.stats["gaps_reported"] >= 20 and stream.connections >= 21
    assert sorted(consumed) == expected
    assert len(order) == bars
    # The stream itself never repeats a confirm (the venue sent 15 twice); a bar that both the
    # backfill and the stream brought is the owner's to dedupe, as above.
    assert max(ws_confirms.values()) == 1 and stream.stats["duplicate_confirms"] >= 1
    assert all(consumed[s].open == float(bar_row(s)[1]) and consumed[s].close == float(bar_row(s)[4]) for s in expected)


def test_a_skipped_confirm_is_reported_as_a_gap_before_the_next_bar():
    got: list = []

    async def scenario():
        async with streaming(["BTCUSDT"], [1], got.append) as (venue, stream):
            for start in (T0, T0 + 3 * MINUTE, T0 + 4 * MINUTE):
                await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, start, bar_row(start), True))
            await until(lambda: len(got) == 4)
            return stream

    stream = run(scenario())
    assert [type(m).__name__ for m in got] == ["Kline", "FeedGap", "Kline", "Kline"]
    assert (got[1].from_ms, got[1].to_ms) == (T0 + MINUTE, T0 + 3 * MINUTE) and stream.stats["gaps_detected"] == 1


def test_a_bug_in_a_frame_handler_costs_a_reconnect_not_the_feed():
    got: list = []

    async def scenario():
        async with streaming(["BTCUSDT"], [1], got.append) as (venue, stream):
            original = stream._on_push

            def broken_once(frame):
                stream._on_push = original
                raise TypeError("a handler bug")

            stream._on_push = broken_once
            await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, T0, bar_row(T0), True))
            await until(lambda: stream.stats["session_errors"] == 1 and stream.healthy and venue.conns)
            await venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, T0 + MINUTE, bar_row(T0 + MINUTE), True))
            await until(lambda: any(isinstance(m, Kline) for m in got))
            return stream

    stream = run(scenario())
    assert stream.connections == 2 and [type(m) for m in got] == [FeedGap, Kline]
