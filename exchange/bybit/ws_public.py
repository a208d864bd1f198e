"""The public linear kline stream: ``kline.{interval}.{symbol}`` for every symbol × timeframe,
decoded with msgspec into ``Kline`` messages (confirmed and in progress), with a ``FeedGap`` per
subscription after every reconnect so the buffers' owner can backfill from REST (bybit-v5.md
§3.2, §3.5: the venue never replays a confirm that fell due while we were away).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import msgspec
from websockets.asyncio.client import ClientConnection

from vocabulary.messages import FeedGap, JournalEvent, Message
from exchange.bybit.models import PUBLIC_FRAME_DECODER, PublicFrame, kline_from_ws
from exchange.bybit.ws_conn import V5Socket

log = logging.getLogger(__name__)

KLINE_INTERVALS = frozenset({1, 3, 5, 15, 30, 60, 120, 240, 360, 720})
# Futures have no per-request args limit, but 10 per request is known to work everywhere and
# the connection's total args must stay under 21,000 characters (§3.4).
TOPICS_PER_REQUEST = 10
MAX_ARGS_CHARS = 21_000



class PublicStream(V5Socket):
    def __init__(
        self,
        url: str,
        symbols: Iterable[str],
        intervals: Iterable[int],
        deliver: Callable[[Message], None],
        **options,
    ) -> None:
        options.setdefault("name", "public")
        super().__init__(url, deliver, **options)
        self._subs: dict[str, tuple[str, int]] = {}
        for symbol in symbols:
            for interval in intervals:
                if interval not in KLINE_INTERVALS:
                    raise ValueError(f"kline interval {interval} is not one Bybit serves")
                self._subs[f"kline.{interval}.{symbol}"] = (symbol, interval)
        if not self._subs:
            raise ValueError("nothing to subscribe")
        if sum(len(t) + 3 for t in self._subs) >= MAX_ARGS_CHARS:
            raise ValueError("too many topics for one public connection (21,000 characters of args)")
        self._pending: dict[str, list[str]] = {}
        self._last_confirmed: dict[str, int] = {}
        # Per topic: the start of the next bar neither received nor already reported as a gap.
        self._expected_next: dict[str, int] = {}
        self._first_connect_ms: int | None = None
        self.refused_topics: set[str] = set()

    @property
    def topics(self) -> list[str]:
        return list(self._subs)

    async def _open_session(self, ws: ClientConnection) -> None:
        if self._first_connect_ms is None:
            self._first_connect_ms = int(self._clock() * 1000)
        topics = list(self._subs)
        self._pending = {}
        for i in range(0, len(topics), TOPICS_PER_REQUEST):
            batch = topics[i : i + TOPICS_PER_REQUEST]
            req_id = self.next_req_id("sub")
            self._pending[req_id] = batch
            await ws.send(msgspec.json.encode({"req_id": req_id, "op": "subscribe", "args": batch}).decode())
        self.stats["subscribe_requests"] += len(self._pending)

    async def _handle_frame(self, ws: ClientConnection, raw: str | bytes) -> None:
        try:
            frame = PUBLIC_FRAME_DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.malformed("undecodable", str(exc), raw)
            return
        if frame.topic:
            self._on_push(frame)
        elif frame.op == "subscribe":
            self._on_ack(frame)
        elif frame.op in ("ping", "pong") or frame.ret_msg == "pong":
            self.stats["pongs"] += 1
        else:
            self.malformed("unknown frame", "neither a push nor an op answer", raw)

    def _on_push(self, frame: PublicFrame) -> None:
        topic = frame.topic or ""
        sub = self._subs.get(topic)
        if sub is None:
            self.malformed("unsubscribed topic", topic, msgspec.json.encode(frame))
            return
        symbol, interval = sub
        for item in frame.data or ():
            try:
                bar = kline_from_ws(symbol, interval, item)
            except ValueError as exc:
                self.malformed("bad kline values", str(exc), msgspec.json.encode(item))
                continue
            if bar.confirmed:
                # One confirm per (topic, start); a second one has been seen live (pitfall 5).
                if self._last_confirmed.get(frame.topic) == bar.start_ms:
                    self.stats["duplicate_confirms"] += 1
                    continue
                self._last_confirmed[frame.topic] = max(bar.start_ms, self._last_confirmed.get(frame.topic, bar.start_ms))
                self._check_continuity(frame.topic, symbol, interval, bar.start_ms)
                self.stats["confirmed"] += 1
            else:
                self.stats["unconfirmed"] += 1
            self.deliver(bar)

    def _check_continuity(self, topic: str, symbol: str, interval: int, start: int) -> None:
        """A confirm later than the next expected bar means bars were skipped (§3.5 step 2): a
        venue that missed a confirm, or a venue clock ahead of ours when the reconnect gap was cut."""
        step = interval * 60_000
        expected = self._expected_next.get(topic)
        if expected is not None and start > expected:
            self.stats["gaps_detected"] += 1
            self.deliver(FeedGap(symbol=symbol, interval=interval, from_ms=expected, to_ms=start))
        self._expected_next[topic] = max(expected or 0, start + step)

    def _on_ack(self, frame: PublicFrame) -> None:
        """An ack answers the request whose ``req_id`` it echoes. Bybit has been seen to leave
        ``req_id`` out of an ack: then it can only answer our one pending request, if one."""
        if frame.req_id:
            batch = self._pending.pop(frame.req_id, None)
        elif len(self._pending) == 1:
            batch = self._pending.pop(next(iter(self._pending)))
        else:
            batch = None
            self.log_once("ack without req_id", "subscribe ack without req_id while several are pending", pending=len(self._pending))
        reason = frame.reason
        if frame.success is False:
            self.stats["subscribe_refusals"] += 1
            refused = reason.partition("topic:")[2].strip()
            if "already subscribed" in reason:
                return
            if refused in self._subs and len(self._subs) > 1:
                # A refused topic may silence the rest of the connection (§3.1): drop it, reconnect.
                del self._subs[refused]
                self.refused_topics.add(refused)
                self.deliver(JournalEvent(ts_ms=int(self._clock() * 1000), kind="subscribe_refused", source=self.name,
                                          message=reason, level="ERROR", data=(("topic", refused),)))
                self.request_reconnect(f"topic refused: {refused}")
                return
            self.log_once(f"refused:{reason}", "subscription refused", ret_msg=reason, topics=",".join(batch or ()))
            return
        if batch is None:
            return
        if not self._pending and not self.healthy:
            self.healthy = True
            if self.connections > 1:
                self._report_gaps()

    def _report_gaps(self) -> None:
        """After a reconnect: bars of every subscription may be missing since the last confirm."""
        now_ms = int(self._clock() * 1000)
        self.stats["gaps_reported"] += 1
        for topic, (symbol, interval) in self._subs.items():
            step = interval * 60_000
            last = self._last_confirmed.get(topic)
            if last is not None:
                start = last + step
            else:
                start = ((self._first_connect_ms or now_ms) // step) * step - step
            # Up to the end of the bar forming now: a bar closing while we resubscribed, or a
            # few seconds of clock skew, still falls inside; the owner dedupes by start.
            end = max(start, (now_ms // step + 1) * step)
            self._expected_next[topic] = max(self._expected_next.get(topic, 0), end)
            self.deliver(FeedGap(symbol=symbol, interval=interval, from_ms=start, to_ms=end))
