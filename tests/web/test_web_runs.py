"""The dashboard shows one run at a time: a restarted simulator starts a new wallet, so its
equity curve, chart marks, events, PnL and trades are the new run's own; an earlier run stays
one pick away (``?run=N`` on every run-scoped route, a run picker on the page). Working orders
are the venue's book and outlive a restart, so they are never scoped to a run."""

import json

import pytest

from journal.runs import RunInfo
from journal.writer import JournalWriter
from tests.journal import samples as s
from tests.web.chart_journal import wallet
from tests.web.chromium import CHROMIUM
from tests.web.conftest import serving
from web.app import create_app
from web.server import WebServer

SIM = RunInfo(mode="sim", venue="sim", settings_hash="abc", data_from_ms=s.T0, data_to_ms=s.T0 + 60 * s.MIN,
              symbols=("BTCUSDT",), started_ms=s.T0 - 60 * s.MIN)
NOW = s.T0 + 20 * s.MIN


def write_run(path, messages) -> None:
    writer = JournalWriter(path, SIM)
    writer.append_now(messages)
    writer.close()


@pytest.fixture
def two_runs(tmp_path):
    """Run 1 lost 11 USDT over two stop-outs and left a working entry; the simulator was restarted
    (run 2, a fresh 10,000 USDT wallet) and has won 3 USDT so far."""
    path = tmp_path / "journal.sqlite"
    write_run(path, [
        *(s.bar(start_ms=s.T0 + i * s.MIN, close=97_000.0 + i) for i in range(10)),
        s.take(tick_ms=s.T0 + s.MIN), s.intent(), s.ack(), s.event("reconnect", ts_ms=s.T0 + 2 * s.MIN),
        wallet(s.T0, "10000.00"), wallet(s.T0 + 5 * s.MIN, "9994.00"), wallet(s.T0 + 9 * s.MIN, "9989.00"),
        s.trade(exit_ms=s.T0 + 5 * s.MIN, pnl="-5.00", r=-1.0), s.trade(exit_ms=s.T0 + 9 * s.MIN, pnl="-6.00", r=-1.0),
    ])
    write_run(path, [
        *(s.bar(start_ms=s.T0 + i * s.MIN, close=97_000.0 + i) for i in range(10, 15)),
        s.decision(tick_ms=s.T0 + 11 * s.MIN), s.event("restart", ts_ms=s.T0 + 11 * s.MIN, message="run 2 started"),
        wallet(s.T0 + 11 * s.MIN, "10000.00"), wallet(s.T0 + 14 * s.MIN, "10003.00"),
        s.trade(exit_ms=s.T0 + 14 * s.MIN, pnl="3.00", r=1.5),
    ])
    return path


@pytest.fixture
def client(two_runs):
    with serving(create_app(str(two_runs), clock=lambda: NOW)) as c:
        yield c


def test_the_equity_curve_is_the_current_runs_wallet_and_an_earlier_run_is_one_parameter_away(client):
    current = client.get("/equity").json()
    assert (current["run"], current["source"], current["equity"]) == (2, "wallet", ["10000.00", "10003.00"])
    earlier = client.get("/equity?run=1").json()
    assert (earlier["run"], earlier["equity"]) == (1, ["10000.00", "9994.00", "9989.00"])
    assert earlier["max_drawdown_pct"] == pytest.approx(-0.11)


def test_chart_marks_events_pnl_and_trades_follow_the_chosen_run(client):
    marks = client.get("/series?symbol=BTCUSDT&interval=1&hours=1").json()["marks"]
    assert [m["kind"] for m in marks] == ["entry", "exit"] and marks[1]["pnl_usdt"] == "3.00"
    earlier = client.get("/series?symbol=BTCUSDT&interval=1&hours=1&run=1").json()
    assert [m["kind"] for m in earlier["marks"]] == ["entry", "entry", "take", "exit", "exit"]
    assert earlier["bars"]["t"] == client.get("/series?symbol=BTCUSDT&interval=1&hours=1").json()["bars"]["t"]  # the market's
    assert [e["kind"] for e in client.get("/events/notable").json()["events"]] == ["restart"]
    assert [e["kind"] for e in client.get("/events/notable?run=1").json()["events"]] == ["reconnect"]
    assert client.get("/pnl?run=1").json()["all"]["total"]["pnl_usdt"] == "-11.00"
    assert [t["pnl_usdt"] for t in client.get("/trades?run=1").json()["trades"]] == ["-6.00", "-5.00"]


def test_working_orders_are_the_venues_book_whatever_the_run(client):
    assert [o["order_link_id"] for o in client.get("/orders").json()["orders"]] == ["smt-BTC-1"]


def test_an_unknown_run_is_a_404_that_names_the_runs_there_are(client):
    for route in ("/equity?run=7", "/series?symbol=BTCUSDT&run=7", "/events/notable?run=7"):
        answer = client.get(route)
        assert answer.status_code == 404, route
        assert answer.json()["error"] == "run: no run 7 in this journal (runs: 2, 1)"
    assert client.get("/equity?run=x").status_code == 400


PICKED = """(() => JSON.stringify({
  run: document.body.dataset.run, polls: Number(document.body.dataset.polls),
  options: [...document.querySelectorAll('#run option')].map(o => [o.value, o.textContent]),
  picker: !document.getElementById('run-picker').hidden,
  note: document.getElementById('run-note').hidden ? null : document.getElementById('run-note').textContent,
  all: document.querySelector('#ledger tr[data-window="all"] [data-field="pnl_usdt"]').textContent,
  trades: [...document.querySelectorAll('#trades tbody tr')].map(tr => tr.querySelector('[data-field=pnl_usdt]').textContent),
  events: [...document.querySelectorAll('#events tbody tr')].map(tr => tr.querySelector('[data-field=kind]').textContent),
  equity: Number(document.getElementById('equity-chart').dataset.points),
  problem: document.getElementById('problem').hidden ? null : document.getElementById('problem').textContent,
}))()"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it with apt-get; apt was unavailable here)")
def test_the_page_shows_the_current_run_and_the_run_picker_switches_every_figure_to_an_earlier_one(two_runs, browser):
    server = WebServer(create_app(str(two_runs), lambda: {"venue": "sim", "symbols": ["BTCUSDT"], "now_ms": NOW}))
    server.start()
    try:
        browser.viewport(1280, 900, mobile=False)
        browser.goto(server.url + "/")
        page = json.loads(browser.wait_for(
            f"document.body.dataset.run === '2' && Number(document.getElementById('equity-chart').dataset.points) > 0 && {PICKED}"))
        assert page["picker"] and page["note"] is None and page["problem"] is None
        assert page["options"][0] == ["", "current (run 2)"]
        assert page["options"][1][0] == "1" and page["options"][1][1].startswith("run 1 · sim · sim · from ")
        assert (page["all"], page["trades"], page["events"], page["equity"]) == ("+3.00", ["+3.00"], ["restart"], 2)
        browser.evaluate("(() => { const s = document.getElementById('run'); s.value = '1';"
                         " s.dispatchEvent(new Event('change')); return true; })()")
        page = json.loads(browser.wait_for(
            f"document.body.dataset.run === '1' && Number(document.getElementById('equity-chart').dataset.points) === 3 && {PICKED}"))
        assert page["note"] == "Showing run 1, not the current one: its own trades, PnL, positions and events."
        assert (page["all"], page["trades"], page["events"]) == ("\u221211.00", ["\u22126.00", "\u22125.00"], ["reconnect"])
        assert page["problem"] is None
        assert browser.console_errors == [], "\n".join(browser.console_errors)
    finally:
        server.stop()
