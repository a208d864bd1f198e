"""The stream thread: frames reach the owner from the loop's own thread, the owner can order a
reconnect from any thread, and stop leaves no thread and no socket behind."""

from __future__ import annotations

import queue
import threading
import time

from bybit_venue import bar_row
from ws_venue import VenueThread, kline_frame

from vocabulary.messages import FeedGap, Kline
from exchange.bybit.bridge import StreamThread
from exchange.bybit.ws_public import PublicStream

FAST = dict(ping_interval_s=0.1, silence_timeout_s=0.4, backoff_initial_s=0.01, backoff_max_s=0.05, open_timeout_s=2.0)
T0 = 1_700_000_040_000


def wait_for(inbox: queue.Queue, kind: type, timeout: float = 30.0):
    while True:
        thread_name, message = inbox.get(timeout=timeout)
        if isinstance(message, kind):
            return thread_name, message


def test_frames_reach_the_owner_from_the_loop_thread_and_stop_leaves_nothing_running():
    inbox: queue.Queue = queue.Queue()
    host = VenueThread()
    with host as venue:
        stream = PublicStream(venue.url, ["BTCUSDT"], [1], lambda m: inbox.put((threading.current_thread().name, m)), **FAST)
        streams = StreamThread([stream], name="bybit-streams-test")
        streams.start()
        host.call(venue.subscribed.wait())
        host.call(venue.push("kline.1.BTCUSDT", kline_frame("BTCUSDT", 1, T0, bar_row(T0), True)))
        thread_name, bar = wait_for(inbox, Kline)
        assert thread_name == "bybit-streams-test" and bar.start_ms == T0

        assert streams.reconnect_public("test watchdog")
        thread_name, gap = wait_for(inbox, FeedGap)
        assert gap.from_ms == T0 + 60_000 and venue.connections == 2

        assert streams.stop(timeout=3) is True
        assert not streams.is_alive() and streams.error is None
        assert "bybit-streams-test" not in {t.name for t in threading.enumerate()}
        deadline = time.monotonic() + 3
        while venue.conns and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not venue.conns  # the venue saw the socket close
        assert streams.reconnect_public() is False  # a stopped bridge refuses politely


def test_stop_before_any_connection_succeeds_returns_promptly():
    stream = PublicStream("ws://127.0.0.1:9/v5/public/linear", ["BTCUSDT"], [1], lambda m: None, **FAST)
    streams = StreamThread([stream])
    streams.start()
    assert streams.is_alive()
    assert streams.stop(timeout=3) is True
    assert stream.connections == 0 and not streams.is_alive()
