"""The private stream: auth, then ``order``, ``execution``, ``position`` and ``wallet`` pushes
decoded into ``OrderUpdate`` / ``ExecutionUpdate`` / ``PositionUpdate`` (bybit-v5.md §4).

Pushes are a fast hint, never the truth: after every reconnect the owner gets a
``JournalEvent(kind="private_reconnect")`` and must reconcile from REST (§4.8), because nothing
that happened while the socket was down will be replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec
from websockets.asyncio.client import ClientConnection

from vocabulary.messages import JournalEvent, Message
from vocabulary.settings import Credentials
from exchange.bybit import models
from exchange.bybit.ws_conn import V5Socket
from exchange.signing import sign_ws_auth

TOPICS = ("order", "execution", "position", "wallet")
# pybit's 1 s margin fails on slow hosts (pitfall 10); 10 s is the spec's recommendation.
AUTH_EXPIRES_MARGIN_MS = 10_000

_frame_decoder = msgspec.json.Decoder(models.PrivateFrame)
_rows_decoder = msgspec.json.Decoder(list[msgspec.Raw])


class PrivateStream(V5Socket):
    def __init__(
        self,
        url: str,
        credentials: Credentials,
        deliver: Callable[[Message], None],
        *,
        topics: Iterable[str] = TOPICS,
        server_time_ms: Callable[[], int] | None = None,
        **options,
    ) -> None:
        options.setdefault("name", "private")
        super().__init__(url, deliver, **options)
        self._credentials = credentials
        self._topics = tuple(topics)
        self._server_time_ms = server_time_ms or (lambda: int(self._clock() * 1000))

    def __repr__(self) -> str:
        return f"PrivateStream({self.url!r}, topics={self._topics})"

    def scrub(self, text: str) -> str:
        for secret in (self._credentials.api_key.reveal(), self._credentials.api_secret.reveal()):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _event(self, kind: str, message: str = "", level: str = "INFO", **data: object) -> JournalEvent:
        return JournalEvent(
            ts_ms=int(self._clock() * 1000), kind=kind, source=self.name, message=message, level=level,  # type: ignore[arg-type]
            data=tuple((k, str(v)) for k, v in data.items()),
        )

    def _on_session_lost(self) -> None:
        # Until the reconnect is reported, the owner is blind to fills and stop triggers.
        self.deliver(self._event("private_disconnected", "private stream lost: order, fill and position pushes paused", "WARNING"))

    async def _open_session(self, ws: ClientConnection) -> None:
        # Bybit only needs expires > its clock (§4.2), so the later of our two clocks is safe;
        # it also keeps working against a replaying venue whose clock jumps ahead of our offset.
        expires = max(self._server_time_ms(), int(self._clock() * 1000)) + AUTH_EXPIRES_MARGIN_MS
        signature = sign_ws_auth(self._credentials.api_secret.reveal(), expires)
        frame = {"req_id": self.next_req_id("auth"), "op": "auth", "args": [self._credentials.api_key.reveal(), expires, signature]}
        await ws.send(msgspec.json.encode(frame).decode())

    async def _handle_frame(self, ws: ClientConnection, raw: str | bytes) -> None:
        try:
            frame = _frame_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.malformed("undecodable", str(exc), raw)
            return
        if frame.topic:
            self._on_push(frame)
        elif frame.op == "auth":
            await self._on_auth(ws, frame)
        elif frame.op == "subscribe":
            self._on_subscribed(frame)
        elif frame.op in ("pong", "ping") or frame.ret_msg == "pong":
            self.stats["pongs"] += 1
        else:
            self.malformed("unknown frame", "neither a push nor an op answer", raw)

    async def _on_auth(self, ws: ClientConnection, frame: models.PrivateFrame) -> None:
        if not frame.success:
            # "Params Error" is usually clock skew or latency (pitfall 10): the next attempt
            # signs a fresh expiry; the backoff grows because the session never got healthy.
            self.stats["auth_failures"] += 1
            reason = self.scrub(frame.reason) or "refused without a reason"
            self.deliver(self._event("private_auth_failed", reason, "ERROR"))
            self.request_reconnect(f"auth refused: {reason}")
            return
        request = {"req_id": self.next_req_id("sub"), "op": "subscribe", "args": list(self._topics)}
        await ws.send(msgspec.json.encode(request).decode())

    def _on_subscribed(self, frame: models.PrivateFrame) -> None:
        if not frame.success:
            self.stats["subscribe_refusals"] += 1
            self.deliver(self._event("private_subscribe_refused", frame.reason, "ERROR"))
            self.request_reconnect(f"subscribe refused: {frame.reason}")
            return
        if self.healthy:
            return
        self.healthy = True
        if self.connections > 1:
            self.stats["reconnects_reported"] += 1
            self.deliver(self._event("private_reconnect", "private stream reconnected: reconcile orders, positions and fills from REST",
                                     "WARNING", connections=self.connections))

    def _on_push(self, frame: models.PrivateFrame) -> None:
        kind = (frame.topic or "").partition(".")[0]
        try:
            rows = _rows_decoder.decode(frame.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.malformed(f"{kind} data", str(exc), bytes(frame.data))
            return
        for raw in rows:
            try:
                message = self._convert(kind, raw)
            except (msgspec.DecodeError, msgspec.ValidationError, models.RowProblem) as exc:
                self.malformed(f"{kind} row", str(exc), bytes(raw))
                continue
            if message is not None:
                self.deliver(message)

    def _convert(self, kind: str, raw: msgspec.Raw) -> Message | None:
        if kind == "order":
            order = msgspec.json.decode(raw, type=models.OrderRow)
            self.unknown_values(kind, order)
            return models.order_update(order)
        if kind == "execution":
            # Every execType flows: liquidation, ADL and delivery close the position, funding
            # is money; the router's accounting tells them apart by ``exec_type``.
            row = msgspec.json.decode(raw, type=models.ExecutionRow)
            self.unknown_values(kind, row)
            if (row.execType or "Trade") != "Trade":
                self.stats["non_trade_executions"] += 1
            return models.execution_update(row)
        if kind == "position":
            return models.position_update(msgspec.json.decode(raw, type=models.PositionRow))
        if kind == "wallet":
            account = msgspec.json.decode(raw, type=models.WalletAccount)
            usdt = next((c for c in account.coin or () if c.coin == "USDT"), None)
            return self._event("wallet", level="DEBUG", account_type=account.accountType or "", total_equity=account.totalEquity or "",
                               total_available=account.totalAvailableBalance or "", usdt_equity=(usdt.equity or "") if usdt else "")
        self.stats["other_topics"] += 1
        return None
