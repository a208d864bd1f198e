"""The read-only web: JSON over the journal plus the supervisor's live status, Prometheus
metrics, and the dashboard page. Every route is GET; nothing here can write.

``status`` is the supervisor's callable returning a plain dict of live facts. Keys this
module understands (all optional, anything else is passed through to /status):
``symbols`` (configured symbols), ``feed`` ({symbol: {...}} feed health per symbol),
``cycle_latency_ms`` (recent cycle latencies), ``equity``, ``queue_depth``
({actor: depth}), ``now_ms`` (the bot's clock, which in a replay is the data's time).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from indicators.params import IndicatorParams
from journal.reader import JournalReader, JournalUnavailable, UnknownRun
from web import metrics, query
from web.auth import Guard
from web.redact import Redactor
from web.series import SeriesSource

STATIC = Path(__file__).parent / "static"
STALE_AFTER_MS = 150_000
_encoder = msgspec.json.Encoder()

StatusSource = Callable[[], dict[str, Any]]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def create_app(
    journal_path: str,
    status: StatusSource | None = None,
    *,
    token: str | None = None,
    secrets: Iterable[str] = (),
    clock: Callable[[], int] = _wall_ms,
    indicators: IndicatorParams = IndicatorParams(),
    tick_sizes: dict[str, str] | None = None,
) -> Starlette:
    """The web app. ``token`` (from ``web.auth.token_for``) guards every route when set;
    ``secrets`` are values masked wherever they would appear in a response; ``indicators``
    are the bot's indicator parameters and ``tick_sizes`` its symbols' ticks, for the charts."""
    reader = JournalReader(journal_path)
    charts = SeriesSource(reader, indicators, tick_sizes)
    redactor = Redactor([*secrets, *([token] if token else [])])

    def live() -> tuple[dict[str, Any], str | None]:
        if status is None:
            return {}, None
        try:
            # The supervisor's dict has no fixed shape: mask secret-looking keys in it.
            return redactor.value(status()), None
        except Exception as exc:
            return {}, f"status unavailable: {type(exc).__name__}"

    def json(data: Any, code: int = 200) -> Response:
        # Journal rows have fixed columns; known secret values are masked in every body.
        body = redactor.body(_encoder.encode(data))
        return Response(body, status_code=code, media_type="application/json")

    def route(name: str, handler: Callable[..., Any], inline: bool = False) -> Callable[[Request], Any]:
        def answer(request: Request) -> Response:
            repeated = Counter(k for k, _ in request.query_params.multi_items())
            try:
                return handler(**query.parse(name, request.query_params, repeated))
            except query.BadQuery as exc:
                return json({"error": str(exc)}, 400)
            except JournalUnavailable as exc:
                return json({"error": str(exc)}, 503)
            except UnknownRun as exc:
                return json({"error": str(exc)}, 404)

        if not inline:
            return answer  # Starlette runs plain functions on its thread pool

        async def on_loop(request: Request) -> Response:
            # Answered from caches that move only when the journal does: microseconds,
            # cheaper than the hop to a worker thread, so done on the event loop itself.
            return answer(request)

        return on_loop

    def get_status(run: int | None = None) -> Response:
        bot, problem = live()
        now = _now(bot, clock)
        latencies = bot.pop("cycle_latency_ms", None)
        feed = bot.get("feed") if isinstance(bot.get("feed"), dict) else {}
        # ``symbols`` may be the configured names, or {name: live facts} (last_bar_ms, last_close, ...).
        configured = bot.get("symbols") or ()
        live_rows = configured if isinstance(configured, dict) else {}
        with reader.snapshot():  # symbol rows, facts and positions from one journal version
            overview = reader.overview((s for s in configured if isinstance(s, str)), run=run)
            facts = reader.facts(run)
            open_positions = len(reader.positions(run))
        rows = []
        for row in overview:
            symbol_live = live_rows.get(row["symbol"]) if isinstance(live_rows.get(row["symbol"]), dict) else {}
            bar_ms, close = _newest_bar(row["last_bar"], symbol_live)
            age = now - (bar_ms + 60_000) if bar_ms is not None else None
            rows.append({
                **row,
                "live": symbol_live or None,
                "last_bar_ms": bar_ms,
                "last_close": close,
                "bar_age_ms": age,
                "is_stale": bool(bot.get("finished")) or _is_stale(feed.get(row["symbol"]), age),
                "unrealised_pnl": _sum_decimal(p["unrealised_pnl"] for p in row["positions"]),
                "feed": feed.get(row["symbol"]),
            })
        return json({
            **bot,
            "now_ms": now,
            # The end of a replay is shown where the page shows problems (the bot's ``finished``).
            "status_error": problem or bot.get("finished"),
            "cycle_latency_ms": _latency_summary(latencies),
            "journal": facts,
            "open_positions": open_positions,
            "symbols": rows,
        })

    def get_positions(run: int | None = None) -> Response:
        return json({"positions": reader.positions(run)})

    def get_pnl(run: int | None = None) -> Response:
        now = _now(live()[0], clock)
        # Every figure is net of fees, slippage, spread and funding; each window also says where
        # the money went (gross, fees, slippage, funding, exit mix, stop distances).
        return json({"now_ms": now, "run": reader.run(run), "net_of": ["fees", "slippage", "spread", "funding"],
                     **reader.pnl(now, run)})

    def get_runs() -> Response:
        return json({"current": reader.current_run(), "runs": reader.runs()})

    def paged(items: list[dict[str, Any]], key: str, limit: int) -> Response:
        more = len(items) == limit and items[-1]["seq"] > 1
        return json({key: items, "next_before": items[-1]["seq"] if more else None})

    def get_decisions(limit: int, **filters: Any) -> Response:
        return paged(reader.decisions(limit=limit, **filters), "decisions", limit)

    def get_trades(limit: int, **filters: Any) -> Response:
        return paged(reader.trades(limit=limit, **filters), "trades", limit)

    def get_events(limit: int, **filters: Any) -> Response:
        events = reader.events(limit=limit, **filters)
        for event in events:
            event["data"] = redactor.value(event["data"])  # free-form keys, written by any part of the bot
        return paged(events, "events", limit)

    def get_healthz() -> Response:
        checks: dict[str, str] = {}
        try:
            reader.last_seq()
            checks["journal"] = "ok"
        except JournalUnavailable as exc:
            checks["journal"] = str(exc)
        bot, problem = live()
        checks["status"] = problem or "ok"
        if bot.get("finished"):
            checks["replay"] = str(bot["finished"])  # no new bars will come: not healthy, and says why
        healthy = all(v == "ok" for v in checks.values())
        return json({"ok": healthy, **checks}, 200 if healthy else 503)

    def get_metrics() -> Response:
        bot, _ = live()
        text = metrics.render(reader.counters(), len(reader.positions()), bot, reader.last_seq())
        return Response(redactor.body(text.encode()), media_type="text/plain; version=0.0.4; charset=utf-8")

    def get_index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    # --- charts, open orders, operator events (added for the charted dashboard) ---------

    def get_series(symbol: str | None = None, interval: int = 1, hours: int = 6, run: int | None = None) -> Response:
        if symbol is None:
            return json({"error": "symbol: required (a USDT perpetual like BTCUSDT)"}, 400)
        chart = charts.series(symbol, interval, hours, run)
        if chart is None:
            return json({"error": f"no {interval}m bars journaled for {symbol}"}, 404)
        return json(chart)

    def get_equity(run: int | None = None) -> Response:
        return json(charts.equity(run))

    def get_ticks() -> Response:
        bot, _ = live()
        configured = bot.get("symbols") or ()
        names = [s for s in configured if isinstance(s, str)]
        return json({"symbols": charts.ticks([*names, *reader.symbols("decisions")])})

    def get_orders() -> Response:
        return json({"orders": reader.open_orders()})

    def get_notable_events(limit: int, before: int | None = None, run: int | None = None) -> Response:
        events = reader.notable_events(limit=limit, before=before, run=run)
        for event in events:
            event["data"] = redactor.value(event["data"])
        return paged(events, "events", limit)

    routes = [
        Route("/series", route("series", get_series)),
        Route("/equity", route("run", get_equity)),
        Route("/orders", route("none", get_orders)),
        Route("/ticks", route("none", get_ticks)),
        Route("/events/notable", route("notable", get_notable_events)),
        Route("/", get_index),
        Route("/status", route("run", get_status, inline=True)),
        Route("/positions", route("run", get_positions)),
        Route("/trades", route("trades", get_trades)),
        Route("/decisions", route("decisions", get_decisions)),
        Route("/pnl", route("run", get_pnl)),
        Route("/runs", route("none", get_runs)),
        Route("/events", route("events", get_events)),
        Route("/healthz", route("none", get_healthz, inline=True)),
        Route("/metrics", route("none", get_metrics)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, token=token)])
    app.state.reader = reader  # so whoever serves the app can close its connections
    return app


def _latency_summary(samples: Any) -> dict[str, Any] | None:
    if not isinstance(samples, (list, tuple)):
        return None
    values = sorted(float(v) for v in samples if isinstance(v, (int, float)))
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
    return {"n": len(values), "p50": statistics.median(values), "p99": p99, "max": values[-1]}


def _now(bot: dict[str, Any], clock: Callable[[], int]) -> int:
    """The bot's own time when its status gives one (a replay runs on the data's clock),
    else the wall clock: "today" and "stale" must mean the same thing to bot and page."""
    now = bot.get("now_ms")
    return now if isinstance(now, int) and not isinstance(now, bool) else clock()


def _is_stale(feed: Any, age_ms: int | None) -> bool:
    """The feed's own verdict when it gives one; otherwise no closed 1m bar for over
    two and a half minutes (one missed boundary plus grace) is stale."""
    if isinstance(feed, dict) and isinstance(feed.get("stale"), bool):
        return feed["stale"]
    return age_ms is None or age_ms > STALE_AFTER_MS


def _newest_bar(journal_bar: dict[str, Any] | None, live: dict[str, Any]) -> tuple[int | None, Any]:
    """The newer of the journal's last 1m bar and the live feed's: (start_ms, close)."""
    candidates = []
    if journal_bar is not None:
        candidates.append((journal_bar["start_ms"], journal_bar["close"]))
    if isinstance(live.get("last_bar_ms"), int):
        candidates.append((live["last_bar_ms"], live.get("last_close")))
    return max(candidates, key=lambda c: c[0]) if candidates else (None, None)


def _sum_decimal(values: Iterable[str | None]) -> str | None:
    present = [Decimal(v) for v in values if v is not None]
    return str(sum(present, Decimal(0))) if present else None
