"""The web API: each route's shape on a seeded journal, strict parameters, bounded pages."""

import hashlib

import pytest

from journal.reader import MAX_LIMIT
from journal.writer import JournalWriter
from tests.journal import samples as s
from tests.web.conftest import NOW, SIM_SECRET, serving, status_with_secrets
from web.app import create_app
from web.server import WebServer


@pytest.fixture
def client(journal_path):
    app = create_app(str(journal_path), status_with_secrets, secrets=[SIM_SECRET], clock=lambda: NOW)
    with serving(app) as c:
        yield c


def test_status_merges_live_status_with_journal_facts_per_symbol(client):
    body = client.get("/status").json()
    assert (body["venue"], body["equity"], body["now_ms"], body["status_error"]) == ("sim", 10001.25, NOW, None)
    assert body["journal"]["last_tick_ms"] == s.T0 and body["journal"]["bars"] == 2
    assert body["journal"]["last_seq"] == 16  # 15 rows after the writer's run row
    assert body["open_positions"] == 1
    assert body["cycle_latency_ms"] == {"n": 5, "p50": 6.0, "p99": 48.0, "max": 48.0}
    rows = {r["symbol"]: r for r in body["symbols"]}
    assert list(rows) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    btc = rows["BTCUSDT"]
    assert btc["last_bar"]["close"] == 97120.5 and btc["bar_age_ms"] == 2 * s.MIN
    assert btc["last_decision"]["kind"] == "TAKE" and btc["last_decision"]["entry_price"] == "97123.40"
    assert btc["positions"][0]["size"] == "0.010" and btc["unrealised_pnl"] == "1.25"
    assert rows["ETHUSDT"]["positions"] == [] and rows["ETHUSDT"]["unrealised_pnl"] is None
    assert rows["SOLUSDT"]["feed"] == {"stale": True, "reason": "no confirmed bar"}
    assert rows["SOLUSDT"]["last_bar"] is None


def test_status_survives_a_failing_status_source(journal_path):
    def broken():
        raise RuntimeError(f"boom {SIM_SECRET}")

    with serving(create_app(str(journal_path), broken)) as c:
        body = c.get("/status").json()
        assert body["status_error"] == "status unavailable: RuntimeError"
        assert body["journal"]["bars"] == 2
        assert c.get("/healthz").status_code == 503


def test_positions_lists_only_open_ones(client):
    assert [(p["symbol"], p["size"]) for p in client.get("/positions").json()["positions"]] == [("BTCUSDT", "0.010")]


def test_trades_decisions_and_events_routes(client):
    trades = client.get("/trades", params={"symbol": "ETHUSDT"}).json()
    assert [(t["symbol"], t["pnl_usdt"], t["pnl_r"], t["exit_reason"]) for t in trades["trades"]] == [
        ("ETHUSDT", "-1.20", -1.0, "stop")]
    assert trades["next_before"] is None
    since = client.get("/trades", params={"since": s.T0 - 10 * s.MIN}).json()["trades"]
    assert [t["symbol"] for t in since] == ["BTCUSDT"]
    rejects = client.get("/decisions", params={"kind": "REJECT"}).json()["decisions"]
    assert [(d["symbol"], d["path"], d["side"]) for d in rejects] == [("ETHUSDT", "pre_cross", "Sell")]
    events = client.get("/events", params={"limit": 1}).json()
    assert events["events"][0]["kind"] == "restart" and events["next_before"] == events["events"][0]["seq"]
    assert client.get("/events", params={"kind": "reconnect"}).json()["events"][0]["data"]["attempt"] == "2"


def test_pnl_ledger_route(client):
    body = client.get("/pnl").json()
    assert body["now_ms"] == NOW
    assert body["today"]["total"]["pnl_usdt"] == "1.39950"
    assert body["today"]["total"]["pnl_r"] == 0.5
    assert body["7d"]["by_symbol"]["ETHUSDT"]["pnl_usdt"] == "-1.20"
    assert body["all"]["total"]["trades"] == 2 and body["all"]["total"]["fees"] == "0.53424680"


def test_healthz_is_ok_when_journal_and_status_answer(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True, "journal": "ok", "status": "ok"})


def test_a_missing_journal_answers_503_not_500(tmp_path):
    with serving(create_app(str(tmp_path / "none.sqlite"))) as c:
        for path in ("/status", "/decisions", "/metrics", "/healthz"):
            response = c.get(path)
            assert response.status_code == 503, path
            assert "journal" in response.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/decisions?limit=0", "limit: must be between 1 and 500"),
        (f"/decisions?limit={MAX_LIMIT + 1}", "limit: must be between 1 and 500"),
        ("/decisions?limit=ten", "limit: expected an integer"),
        ("/decisions?limit=1e3", "limit: expected an integer"),
        ("/decisions?kind=MAYBE", "kind: expected one of TAKE, NO_SETUP, REJECT"),
        ("/decisions?symbol=btcusdt", "symbol: expected a USDT perpetual"),
        ("/decisions?symbol=BTCUSDT%27%20OR%201%3D1", "symbol: expected a USDT perpetual"),
        ("/decisions?before=0", "before: must be between 1"),
        ("/trades?since=-5", "since: must be between 0"),
        ("/trades?since=yesterday", "since: expected an integer"),
        ("/trades?kind=TAKE", "kind: unknown parameter (this route takes: symbol, since, limit, before, run)"),
        ("/trades?limit=5&limit=6", "limit: given more than once"),
        ("/events?kind=DROP%20TABLE", "kind: expected a lower-case event kind"),
        ("/pnl?symbol=BTCUSDT", "symbol: unknown parameter (this route takes: run)"),
        ("/status?verbose=1", "verbose: unknown parameter"),
    ],
)
def test_bad_query_parameters_are_400_with_a_message(client, path, message):
    response = client.get(path)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_pages_are_bounded_and_walk_the_whole_table_without_overlap(journal_path):
    writer = JournalWriter(journal_path)
    writer.append_now([s.decision(tick_ms=s.T0 + i * s.MIN, symbol="SOLUSDT") for i in range(1, 1201)])
    writer.close()
    with serving(create_app(str(journal_path))) as c:
        assert len(c.get("/decisions").json()["decisions"]) == 50
        seen, before = [], None
        while True:
            params = {"symbol": "SOLUSDT", "limit": MAX_LIMIT, **({"before": before} if before else {})}
            page = c.get("/decisions", params=params).json()
            assert len(page["decisions"]) <= MAX_LIMIT
            seen += [d["seq"] for d in page["decisions"]]
            before = page["next_before"]
            if before is None:
                break
    assert len(seen) == 1200 == len(set(seen))
    assert seen == sorted(seen, reverse=True)


def test_no_route_accepts_a_write_and_the_journal_file_is_untouched(client, journal_path):
    digest = hashlib.sha256(journal_path.read_bytes()).hexdigest()
    for path in ("/", "/status", "/positions", "/trades", "/decisions", "/pnl", "/events", "/healthz", "/metrics"):
        assert client.get(path).status_code == 200, path
        for method in ("post", "put", "patch", "delete"):
            assert client.request(method.upper(), path).status_code == 405, (method, path)
    assert hashlib.sha256(journal_path.read_bytes()).hexdigest() == digest


def test_every_response_carries_the_security_headers(client):
    for path in ("/", "/status", "/static/app.js", "/decisions?limit=0"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["cache-control"] == "no-store", path
        assert "default-src 'self'" in headers["content-security-policy"], path


def test_dashboard_page_and_its_assets_are_served_locally(client):
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js"' in page.text and "http" not in page.text.replace("http-equiv", "")
    for asset, kind in (("/static/app.js", "javascript"), ("/static/style.css", "text/css")):
        response = client.get(asset)
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_the_server_listens_on_a_real_loopback_socket(journal_path):
    import httpx

    server = WebServer(create_app(str(journal_path)), "127.0.0.1", 0)
    port = server.start()
    try:
        assert port > 0
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["ok"] is True
    finally:
        server.stop()
    assert not server.thread.is_alive()


def test_status_takes_live_per_symbol_facts_when_they_are_newer_than_the_journal(journal_path):
    board = {
        "venue": "sim",
        "symbols": {
            "BTCUSDT": {"last_bar_ms": s.T0, "last_close": 97200.0, "last_decision": None},
            "ETHUSDT": {"last_bar_ms": s.T0 - 5 * s.MIN, "last_close": 3000.0, "last_decision": None},
        },
        "cycle_latency_ms": [],
    }
    with serving(create_app(str(journal_path), lambda: board, clock=lambda: NOW)) as c:
        body = c.get("/status").json()
    rows = {r["symbol"]: r for r in body["symbols"]}
    assert list(rows) == ["BTCUSDT", "ETHUSDT"]
    assert (rows["BTCUSDT"]["last_bar_ms"], rows["BTCUSDT"]["last_close"], rows["BTCUSDT"]["bar_age_ms"]) == (s.T0, 97200.0, s.MIN)
    assert rows["BTCUSDT"]["live"]["last_close"] == 97200.0
    # The journal's ETH bar (09:39) is newer than the live one (09:35): the newer wins.
    assert (rows["ETHUSDT"]["last_bar_ms"], rows["ETHUSDT"]["last_close"]) == (s.T0 - s.MIN, 3050.25)
    assert body["cycle_latency_ms"] == {"n": 0, "p50": None, "p99": None, "max": None}


def test_the_bots_own_clock_decides_today_and_staleness(journal_path):
    # A replay's "now" is the data's time: with it, the seeded bars are fresh and the trades are today's.
    replay_now = s.T0 + 10 * s.MIN
    board = {"symbols": ["BTCUSDT"], "now_ms": replay_now, "feed": {"ETHUSDT": {"stale": True}}}
    with serving(create_app(str(journal_path), lambda: board, clock=lambda: s.T0 + 400 * 86_400_000)) as c:
        status = c.get("/status").json()
        pnl = c.get("/pnl").json()
    rows = {r["symbol"]: r for r in status["symbols"]}
    assert status["now_ms"] == replay_now and pnl["now_ms"] == replay_now
    assert (rows["BTCUSDT"]["bar_age_ms"], rows["BTCUSDT"]["is_stale"]) == (10 * s.MIN, True)
    assert rows["ETHUSDT"]["is_stale"] is True  # the feed's own verdict
    assert pnl["today"]["total"]["trades"] == 2


def test_a_bar_within_two_and_a_half_minutes_is_fresh(client):
    rows = {r["symbol"]: r for r in client.get("/status").json()["symbols"]}
    assert (rows["BTCUSDT"]["bar_age_ms"], rows["BTCUSDT"]["is_stale"]) == (2 * s.MIN, False)
    assert rows["SOLUSDT"]["is_stale"] is True  # no bar at all, and the feed says so too
