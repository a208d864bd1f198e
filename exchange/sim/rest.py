"""The REST face of the venue: V5 envelope, signature and recv-window checks, per-UID rate limits,
fault injection, then dispatch to the engine (bybit-v5.md §1, §2, §5-§7)."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from decimal import Decimal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from exchange import signing
from exchange.sim import queries
from exchange.sim.params import int_param
from exchange.sim.orders import V5Error

if TYPE_CHECKING:
    from exchange.sim.server import SimServer

log = logging.getLogger(__name__)

#: Wall seconds a signed request may have spent between its signing and its check: the
#: replay clock's jumps within them do not age its timestamp.
TRANSIT_S = 2.0

# Per-UID limits of bybit-v5.md §0.2 (requests per rolling second).
UID_LIMITS = {
    "/v5/order/create": 10, "/v5/order/amend": 10, "/v5/order/cancel": 10, "/v5/order/cancel-all": 10,
    "/v5/order/realtime": 50, "/v5/order/history": 50, "/v5/execution/list": 50, "/v5/position/list": 50,
    "/v5/position/trading-stop": 10, "/v5/position/set-leverage": 10, "/v5/position/switch-mode": 10,
    "/v5/position/closed-pnl": 50, "/v5/account/wallet-balance": 50, "/v5/account/fee-rate": 5,
}


def envelope(code: int, msg: str, result: Any, now_ms: int, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms},
                        headers=headers)


class RateLimiter:
    """Rolling one-second window per (key, path), answering with Bybit's three headers (§1.5)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], collections.deque] = collections.defaultdict(collections.deque)

    def check(self, key: str, path: str, now_wall_ms: int) -> tuple[bool, dict]:
        limit = UID_LIMITS[path]
        hits = self._hits[(key, path)]
        while hits and hits[0] <= now_wall_ms - 1000:
            hits.popleft()
        if len(hits) >= limit:
            return False, {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": "0",
                           "X-Bapi-Limit-Reset-Timestamp": str(hits[0] + 1000)}
        hits.append(now_wall_ms)
        return True, {"X-Bapi-Limit": str(limit), "X-Bapi-Limit-Status": str(limit - len(hits)),
                      "X-Bapi-Limit-Reset-Timestamp": str(now_wall_ms)}


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class RestApi:
    def __init__(self, server: "SimServer"):
        self.server = server
        self.limiter = RateLimiter()
        self.create_requests: collections.Counter = collections.Counter()
        engine = server.venue.engine
        self.public: dict[str, Callable[[dict], Any]] = {
            "/v5/market/time": self._time,
            "/v5/market/kline": self._kline,
            "/v5/market/instruments-info": self._instruments,
            "/v5/market/tickers": self._tickers,
        }
        now = self.server.now_ms
        self.private: dict[str, tuple[str, Callable[[dict], Any]]] = {
            "/v5/order/create": ("POST", self._create),
            "/v5/order/amend": ("POST", lambda r: engine.amend_order(r, now())),
            "/v5/order/cancel": ("POST", lambda r: engine.cancel_order(r, now())),
            "/v5/order/cancel-all": ("POST", lambda r: engine.cancel_all(r, now())),
            "/v5/order/realtime": ("GET", lambda r: queries.open_orders(engine, r)),
            "/v5/order/history": ("GET", lambda r: queries.order_history(engine, r, now())),
            "/v5/execution/list": ("GET", lambda r: queries.executions(engine, r, now())),
            "/v5/position/list": ("GET", lambda r: queries.positions(engine, r)),
            "/v5/position/trading-stop": ("POST", lambda r: engine.set_trading_stop(r, now())),
            "/v5/position/set-leverage": ("POST", lambda r: engine.set_leverage(r, now())),
            "/v5/position/switch-mode": ("POST", lambda r: engine.switch_mode(r, now())),
            "/v5/position/closed-pnl": ("GET", lambda r: queries.closed_pnl(engine, r, now())),
            "/v5/account/wallet-balance": ("GET", lambda r: queries.wallet_balance(engine, r)),
            "/v5/account/fee-rate": ("GET", lambda r: queries.fee_rates(engine, r)),
        }

    def routes(self) -> list[Route]:
        return [Route("/v5/{rest:path}", self.handle, methods=["GET", "POST", "PUT", "DELETE"])]

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        await self.server.answer_latency()
        fault = self.server.faults.rest_fault(path)
        if fault is not None and fault.kind == "timeout_before":
            await asyncio.sleep(fault.stall_s)
            return envelope(10000, "Server Timeout", {}, self.server.now_ms())
        if fault is not None and fault.kind.startswith("http"):
            status = int(fault.kind[4:])
            body = {403: "access too frequent", 429: "Too Many Requests", 503: "Service Unavailable"}.get(
                status, "Internal Server Error")
            return PlainTextResponse(body, status_code=status)
        if fault is not None and fault.kind in ("10000", "10002", "10006", "10016", "10429", "429"):
            code = int(fault.kind)
            headers = None
            if code == 10006:
                headers = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                           "X-Bapi-Limit-Reset-Timestamp": str(wall_ms() + 1000)}
            msgs = {10000: "Server Timeout", 10002: "invalid request, please check your server timestamp or recv_window param",
                    10006: "Too many visits!", 10016: "Server error",
                    10429: "System level frequency protection", 429: "System busy, please retry later"}
            return envelope(code, msgs[code], {}, self.server.now_ms(), headers)
        try:
            response = await self._dispatch(request, path)
        except Exception:
            # A handler bug must never take the venue down: answer like Bybit's internal error.
            log.exception("sim REST handler failed for %s", path)
            response = envelope(10016, "Server error", {}, self.server.now_ms())
        if fault is not None and fault.kind == "timeout_after":
            await asyncio.sleep(fault.stall_s)
        return response

    async def _dispatch(self, request: Request, path: str) -> Response:
        return self.respond(request.method, path, request.url.query, await request.body(), request.headers)

    def respond(self, method: str, path: str, query: str, body: bytes, h: Mapping[str, str]) -> Response:
        """One request past the fault gate, without sockets: the in-process venue calls this
        directly, so a backtest's requests meet the same checks as the served ones."""
        if method == "GET" and body:
            return PlainTextResponse("GET with a body is forbidden", status_code=403)
        if path in self.public:
            if method != "GET":
                return PlainTextResponse("Not Found", status_code=404)
            params = dict(parse_qsl(query, keep_blank_values=True))
            return self._answer(lambda: self.public[path](params))
        route = self.private.get(path)
        if route is None or route[0] != method:
            return PlainTextResponse("Not Found", status_code=404)
        key, sign, ts = h.get(signing.HEADER_API_KEY), h.get(signing.HEADER_SIGN), h.get(signing.HEADER_TIMESTAMP)
        if not key or not sign or not ts:
            return PlainTextResponse("missing authentication headers", status_code=401)
        cfg = self.server.config
        if key != cfg.api_key:
            return envelope(10003, "API key is invalid.", {}, self.server.now_ms())
        recv_window = h.get(signing.HEADER_RECV_WINDOW) or signing.DEFAULT_RECV_WINDOW
        try:
            ts_ms, window_ms = int(ts), int(recv_window)
        except ValueError:
            return envelope(10001, "params error: X-BAPI-TIMESTAMP and X-BAPI-RECV-WINDOW must be integers", {},
                            self.server.now_ms())
        # Clients sign with their own clock: the wall clock (pybit) or one synced to /v5/market/time.
        # A request signed on the replay clock just before it jumped to a boundary is judged by the
        # clock as it would read after the request's transit alone, as a venue's clock moves.
        now_wall = wall_ms()
        now = self.server.now_ms()
        if not (signing.is_in_time_window(ts_ms, now_wall, window_ms) or signing.is_in_time_window(ts_ms, now, window_ms)
                or signing.is_in_time_window(ts_ms, now - self.server.jumped_within(TRANSIT_S), window_ms)):
            return envelope(10002, f"invalid request, please check your server timestamp or recv_window param. "
                                   f"req_timestamp[{ts_ms}],server_timestamp[{now_wall}],recv_window[{window_ms}]",
                            {}, self.server.now_ms())
        payload = query.encode() if method == "GET" else body
        if not signing.is_valid_signature(cfg.api_secret, ts, key, recv_window, payload, sign):
            origin = f"{ts}{key}{recv_window}{payload.decode('utf-8', 'replace')}"
            return envelope(10004, f"error sign! origin_string[{origin}]", {}, self.server.now_ms())
        headers = None
        if cfg.rate_limits:
            allowed, headers = self.limiter.check(key, path, now_wall)
            if not allowed:
                return envelope(10006, "Too many visits!", {}, self.server.now_ms(), headers)
        if method == "GET":
            params = dict(parse_qsl(query, keep_blank_values=True))
        else:
            try:
                params = json.loads(body) if body else {}
            except ValueError:
                return envelope(10001, "params error: request body is not valid JSON", {}, self.server.now_ms(), headers)
            if not isinstance(params, dict):
                return envelope(10001, "params error: request body must be a JSON object", {}, self.server.now_ms(), headers)
            # The docs send null for unused keys: null means absent (bybit-v5.md §1.1).
            params = {k: v for k, v in params.items() if v is not None}
        return self._answer(lambda: route[1](params), headers)

    def _answer(self, call: Callable[[], Any], headers: dict | None = None) -> Response:
        try:
            result = call()
            code, msg = 0, "OK"
        except V5Error as exc:
            result, code, msg = {}, exc.code, exc.msg
        self.server.publish_private()
        return envelope(code, msg, result, self.server.now_ms(), headers)

    # --- handlers ---------------------------------------------------------------------------

    def _create(self, req: dict) -> dict:
        link = req.get("orderLinkId")
        if isinstance(link, str) and link:
            self.create_requests[link] += 1
        return self.server.venue.engine.place_order(req, self.server.now_ms())

    def _time(self, req: dict) -> dict:
        now = self.server.now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def _kline(self, req: dict) -> dict:
        category = req.get("category") or "linear"
        if category != "linear":
            raise V5Error(10001, "params error: category only support linear")
        symbol = req.get("symbol")
        if not symbol:
            raise V5Error(10001, "params error: symbol is required")
        if symbol not in self.server.venue.engine.rules:
            raise V5Error(10001, f"params error: symbol invalid: {symbol}")
        interval = req.get("interval")
        if not interval:
            raise V5Error(10001, "params error: interval is required")
        limit = int_param(req, "limit", 200)
        if not 1 <= limit <= 1000:
            raise V5Error(10001, "params error: limit must be within [1, 1000]")
        start = int_param(req, "start", -1)
        end = int_param(req, "end", -1)
        bars = self.server.venue.klines(symbol, interval, start if start >= 0 else None,
                                        end if end >= 0 else None, limit)
        return {"category": "linear", "symbol": symbol, "list": [
            [str(b.start_ms), _plain(b.open), _plain(b.high), _plain(b.low), _plain(b.close), _plain(b.volume),
             _plain(b.turnover) if b.turnover is not None else "0"] for b in bars]}

    def _instruments(self, req: dict) -> dict:
        if req.get("category") != "linear":
            raise V5Error(10001, "params error: category only support linear")
        symbol = req.get("symbol")
        status = req.get("status")
        base = req.get("baseCoin")
        limit = int_param(req, "limit", 500)
        if not 1 <= limit <= 1000:
            raise V5Error(10001, "params error: limit must be within [1, 1000]")
        rows = []
        for rules in self.server.venue.engine.rules.values():
            if (symbol and rules.symbol != symbol) or (base and rules.base_coin != base) or status not in (None, "", "Trading"):
                continue
            rows.append(_instrument_row(rules))
        return {"category": "linear", "list": rows[:limit], "nextPageCursor": ""}

    def _tickers(self, req: dict) -> dict:
        if req.get("category") != "linear":
            raise V5Error(10001, "params error: category only support linear")
        symbol = req.get("symbol")
        venue = self.server.venue
        if symbol and symbol not in venue.engine.rules:
            raise V5Error(10001, f"params error: symbol invalid: {symbol}")
        rows = []
        for sym, rules in venue.engine.rules.items():
            if symbol and sym != symbol:
                continue
            rows.append(_ticker_row(venue, sym, rules))
        return {"category": "linear", "list": rows}


def _plain(value) -> str:
    return format(value, "f")


def _instrument_row(rules) -> dict:
    return {
        "symbol": rules.symbol, "contractType": "LinearPerpetual", "status": "Trading",
        "baseCoin": rules.base_coin, "quoteCoin": "USDT", "settleCoin": "USDT",
        "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(rules.price_scale),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{rules.max_leverage:.2f}", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": rules.price_text(rules.min_price), "maxPrice": rules.price_text(rules.max_price),
                        "tickSize": _plain(rules.tick_size)},
        "lotSizeFilter": {"maxOrderQty": rules.qty_text(rules.max_order_qty), "minOrderQty": _plain(rules.min_order_qty),
                          "qtyStep": _plain(rules.qty_step), "postOnlyMaxOrderQty": rules.qty_text(rules.max_order_qty),
                          "maxMktOrderQty": rules.qty_text(rules.max_mkt_order_qty),
                          "minNotionalValue": _plain(rules.min_notional)},
        "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both",
        "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375", "isPreListing": False, "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"}, "symbolType": "",
    }


def _ticker_row(venue, symbol: str, rules) -> dict:
    last = venue.engine.mark(symbol)
    day = venue.klines(symbol, "60", venue.clock_ms - 24 * 3_600_000, None, 25)
    hour = day[1] if len(day) > 1 else None
    prev24 = day[-1].open if day else last
    price = rules.price_text
    return {
        "symbol": symbol, "lastPrice": price(last), "indexPrice": price(last), "markPrice": price(last),
        "prevPrice24h": price(prev24), "price24hPcnt": _plain((last / prev24 - 1).quantize(Decimal("0.000001"))) if prev24 else "0",
        "highPrice24h": price(max((b.high for b in day), default=last)),
        "lowPrice24h": price(min((b.low for b in day), default=last)),
        "prevPrice1h": price(hour.open if hour else last), "openInterest": "0", "openInterestValue": "0",
        "turnover24h": "0", "volume24h": _plain(sum((b.volume for b in day), Decimal(0))),
        "fundingRate": "0.0001", "nextFundingTime": str(venue.clock_ms - venue.clock_ms % 28_800_000 + 28_800_000),
        "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
        "bid1Price": price(last - rules.tick_size), "bid1Size": rules.qty_text(rules.min_order_qty * 100),
        "ask1Price": price(last + rules.tick_size), "ask1Size": rules.qty_text(rules.min_order_qty * 100),
        "basis": "", "preOpenPrice": "", "preQty": "", "curPreListingPhase": "", "fundingIntervalHour": "8",
        "basisRateYear": "", "fundingCap": "0.005",
    }
