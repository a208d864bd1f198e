"""A small scripted V5 REST venue for the client's tests: verifies signatures and the time
window with the shared signer, keeps orders by orderLinkId, serves klines, and injects faults
(timeouts after accepting, retCodes, rate limits, clock skew) on demand.

It is an ``httpx.MockTransport`` handler: the REST client is exercised down to the bytes it
signs and sends, without a socket. The WebSocket tests use real servers instead.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx

from exchange.signing import is_in_time_window, is_valid_signature

KEY, SECRET = "venue-test-key-123", "venue-test-secret-456"
MINUTE = 60_000

INSTRUMENT = {
    "symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "BTC",
    "quoteCoin": "USDT", "priceScale": "2", "isPreListing": False,
    "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
    "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                      "maxMktOrderQty": "500.000", "minNotionalValue": "5"},
}


def bar_row(start: int, base: float = 100.0) -> list[str]:
    o = base + (start // MINUTE) % 17
    return [str(start), f"{o}", f"{o + 2}", f"{o - 1}", f"{o + 1}", "1.5", "150.25"]


@dataclass
class Fault:
    """Applies to the next matching request: ``path`` prefix, then one of the effects."""

    path: str
    ret_code: int = 0
    ret_msg: str = ""
    status: int = 200
    timeout_after_accept: bool = False
    timeout_before: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


class FakeRestVenue:
    def __init__(self, *, now_ms: int = 1_700_000_130_000, skew_ms: int = 0) -> None:
        self.now_ms = now_ms  # the venue's clock
        self.skew_ms = skew_ms
        self.faults: list[Fault] = []
        self.orders: dict[str, dict] = {}
        self.positions: list[dict] = []
        self.executions: list[dict] = []
        self.requests: list[httpx.Request] = []
        self.first_bar_ms = now_ms - 3000 * MINUTE - (now_ms % MINUTE)
        self.page_size = 1000
        self._ids = itertools.count(1)
        self.extra_routes: dict[str, Callable[[dict], dict]] = {}
        self.limit_headers: dict[str, str] = {}

    # --- helpers --------------------------------------------------------------------------
    def server_ms(self) -> int:
        return self.now_ms + self.skew_ms

    def envelope(self, result: object, ret_code: int = 0, ret_msg: str = "OK") -> dict:
        return {"retCode": ret_code, "retMsg": ret_msg, "result": result, "retExtInfo": {}, "time": self.server_ms()}

    def reply(self, result: object, ret_code: int = 0, ret_msg: str = "OK", status: int = 200, headers=None) -> httpx.Response:
        return httpx.Response(status, json=self.envelope(result, ret_code, ret_msg), headers=headers or {})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def bars_closed(self) -> list[int]:
        last_closed = (self.server_ms() // MINUTE) * MINUTE - MINUTE
        return list(range(self.first_bar_ms, last_closed + MINUTE, MINUTE))

    # --- dispatch -------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        fault = next((f for f in self.faults if path.startswith(f.path)), None)
        if fault is not None:
            self.faults.remove(fault)
            if fault.timeout_before:
                raise httpx.ReadTimeout("scripted timeout", request=request)
            if fault.body is not None:
                return httpx.Response(fault.status, content=fault.body, headers=fault.headers)
            if fault.ret_code or fault.status != 200:
                return self.reply({}, fault.ret_code, fault.ret_msg, fault.status, fault.headers)
        raw_query = request.url.query.decode()
        params = dict(parse_qsl(raw_query)) if request.method == "GET" else json.loads(request.content or b"{}")
        if not path.startswith("/v5/market/"):
            problem = self.check_auth(request, raw_query.encode() if request.method == "GET" else request.content)
            if problem is not None:
                return problem
        if path in self.extra_routes:
            response = self.reply(self.extra_routes[path](params))
        else:
            response = getattr(self, "r_" + path.strip("/").replace("/", "_").replace("-", "_"))(params)
        if fault is not None and fault.timeout_after_accept:
            raise httpx.ReadTimeout("scripted timeout after the venue acted", request=request)
        response.headers.update(self.limit_headers)
        return response

    def check_auth(self, request: httpx.Request, payload: bytes) -> httpx.Response | None:
        h = request.headers
        if not all(k in h for k in ("x-bapi-api-key", "x-bapi-timestamp", "x-bapi-sign")):
            return httpx.Response(401, text="missing auth headers")
        if h["x-bapi-api-key"] != KEY:
            return self.reply({}, 10003, "API key is invalid.")
        window = int(h.get("x-bapi-recv-window", "5000"))
        if not is_in_time_window(int(h["x-bapi-timestamp"]), self.server_ms(), window):
            return self.reply({}, 10002, f"invalid request, please check your server timestamp or recv_window param. req_timestamp[{h['x-bapi-timestamp']}],server_timestamp[{self.server_ms()}],recv_window[{window}]")
        if not is_valid_signature(SECRET, h["x-bapi-timestamp"], KEY, h.get("x-bapi-recv-window", "5000"), payload, h["x-bapi-sign"]):
            origin = h["x-bapi-timestamp"] + KEY + h.get("x-bapi-recv-window", "5000") + payload.decode()
            return self.reply({}, 10004, f"error sign! origin_string[{origin}]")
        return None

    # --- market ---------------------------------------------------------------------------
    def r_v5_market_time(self, p: dict) -> httpx.Response:
        ms = self.server_ms()
        return self.reply({"timeSecond": str(ms // 1000), "timeNano": str(ms * 1_000_000)})

    def r_v5_market_instruments_info(self, p: dict) -> httpx.Response:
        rows = [INSTRUMENT] if p.get("symbol") in (None, "BTCUSDT") else []
        return self.reply({"category": "linear", "list": rows, "nextPageCursor": ""})

    def r_v5_market_kline(self, p: dict) -> httpx.Response:
        forming = (self.server_ms() // MINUTE) * MINUTE
        starts = [*self.bars_closed(), forming]
        lo, hi = int(p.get("start", 0)), int(p.get("end", 10**15))
        limit = min(int(p.get("limit", 200)), self.page_size)
        chosen = [s for s in starts if lo <= s <= hi][-limit:]
        return self.reply({"category": "linear", "symbol": p["symbol"], "list": [bar_row(s) for s in reversed(chosen)]})

    # --- orders ---------------------------------------------------------------------------
    def r_v5_order_create(self, p: dict) -> httpx.Response:
        link = p.get("orderLinkId") or f"auto-{next(self._ids)}"
        if link in self.orders:
            return self.reply({}, 110072, "OrderLinkedID is duplicate")
        order_id = f"oid-{next(self._ids)}"
        self.orders[link] = {
            "symbol": p["symbol"], "orderId": order_id, "orderLinkId": link, "side": p["side"],
            "orderStatus": "New", "orderType": p["orderType"], "timeInForce": p.get("timeInForce", "GTC"),
            "price": p.get("price", ""), "qty": p["qty"], "cumExecQty": "0", "avgPrice": "",
            "positionIdx": p.get("positionIdx", 0), "reduceOnly": p.get("reduceOnly", False),
            "stopLoss": p.get("stopLoss", ""), "takeProfit": p.get("takeProfit", ""),
            "rejectReason": "EC_NoError", "updatedTime": str(self.server_ms()), "body": p,
        }
        return self.reply({"orderId": order_id, "orderLinkId": link})

    def r_v5_order_amend(self, p: dict) -> httpx.Response:
        order = self.orders.get(p.get("orderLinkId", ""))
        if order is None or order["orderStatus"] not in ("New", "PartiallyFilled"):
            return self.reply({}, 110001, "Order does not exist")
        for key in ("qty", "price", "stopLoss", "takeProfit"):
            if key in p:
                order[key] = p[key]
        return self.reply({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})

    def r_v5_order_cancel(self, p: dict) -> httpx.Response:
        order = self.orders.get(p.get("orderLinkId", ""))
        if order is None or order["orderStatus"] not in ("New", "PartiallyFilled"):
            return self.reply({}, 110001, "Order does not exist")
        order["orderStatus"] = "Cancelled"
        return self.reply({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})

    def r_v5_order_cancel_all(self, p: dict) -> httpx.Response:
        done = []
        for order in self.orders.values():
            if order["symbol"] == p.get("symbol") and order["orderStatus"] == "New":
                order["orderStatus"] = "Cancelled"
                done.append({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})
        return self.reply({"list": done, "success": "1"})

    def _order_rows(self, p: dict, open_only: bool) -> list[dict]:
        rows = [{k: v for k, v in o.items() if k != "body"} for o in self.orders.values()]
        if "orderLinkId" in p:
            return [r for r in rows if r["orderLinkId"] == p["orderLinkId"]]
        if "symbol" in p:
            rows = [r for r in rows if r["symbol"] == p["symbol"]]
        return [r for r in rows if r["orderStatus"] in ("New", "PartiallyFilled")] if open_only else rows

    def _paged(self, rows: list, p: dict) -> httpx.Response:
        limit = int(p.get("limit", 20))
        start = int(p.get("cursor", "0").replace("page=", "") or 0)  # parse_qsl undid the %3D
        chunk = rows[start:start + limit]
        cursor = f"page%3D{start + limit}" if start + limit < len(rows) else ""
        return self.reply({"category": "linear", "list": chunk, "nextPageCursor": cursor})

    def r_v5_order_realtime(self, p: dict) -> httpx.Response:
        return self._paged(self._order_rows(p, open_only=True), p)

    def r_v5_order_history(self, p: dict) -> httpx.Response:
        return self._paged(self._order_rows(p, open_only=False), p)

    def r_v5_position_list(self, p: dict) -> httpx.Response:
        rows = self.positions if "symbol" not in p else [r for r in self.positions if r.get("symbol") == p["symbol"]]
        return self._paged(rows, p)

    def r_v5_position_trading_stop(self, p: dict) -> httpx.Response:
        for row in self.positions:
            if row.get("symbol") == p["symbol"] and row.get("positionIdx", 0) == p["positionIdx"]:
                if row.get("stopLoss") == p.get("stopLoss"):
                    return self.reply({}, 34040, "not modified")
                row["stopLoss"] = p.get("stopLoss", row.get("stopLoss"))
                return self.reply({})
        return self.reply({}, 10001, "can not set tp/sl/ts for zero position")

    def r_v5_execution_list(self, p: dict) -> httpx.Response:
        return self._paged(self.executions, p)

    def r_v5_account_wallet_balance(self, p: dict) -> httpx.Response:
        return self.reply({"list": [{"accountType": p.get("accountType"), "totalEquity": "10000.0762",
                                     "coin": [{"coin": "USDT", "equity": "9999.5", "walletBalance": "9999.9"}]}]})
