"""The dashboard's charts in a real headless chromium, on a desktop and on a phone: the equity
curve and a symbol's candles are drawn (pixels on the canvas, not just a canvas element), the
bot's known trade is marked, the page logs no error and asks nothing of any host but ours."""

import json

import pytest

from tests.web import chart_journal as cj
from tests.web.chromium import CHROMIUM
from web.app import create_app
from web.server import WebServer

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it with apt-get; apt was unavailable here)"
)

CHART_FACTS = """(() => {
  const sym = document.getElementById('symbol-chart'), eq = document.getElementById('equity-chart');
  const top = (sel) => document.querySelector(sel).getBoundingClientRect().top + window.scrollY;
  return JSON.stringify({
    symbol: {...sym.dataset}, equity_points: Number(eq.dataset.points),
    symbol_canvases: sym.querySelectorAll('canvas').length, equity_canvases: eq.querySelectorAll('canvas').length,
    symbol_ink: smtCharts.inkRatio(sym), equity_ink: smtCharts.inkRatio(eq),
    tops: {equity: top('#equity-chart'), pnl: top('#ledger'), chart: top('#symbol-chart'), symbols: top('#symbols')},
    positions: [...document.querySelectorAll('#positions tbody tr')].map(tr =>
      Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.field, td.textContent]))),
    orders: [...document.querySelectorAll('#orders tbody tr')].map(tr =>
      Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.field, td.textContent]))),
    events: [...document.querySelectorAll('#events tbody tr')].map(tr => tr.querySelector('[data-field=kind]').textContent),
    clock: document.getElementById('clock').textContent.trim(),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    problem: document.getElementById('problem').hidden ? null : document.getElementById('problem').textContent,
  });
})()"""

DRAWN = ("Number(document.body.dataset.polls) >= 1 && Number(document.getElementById('symbol-chart').dataset.bars) > 0"
         " && Number(document.getElementById('equity-chart').dataset.points) > 0")


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "journal.sqlite"
    cj.seed(path)
    server = WebServer(create_app(str(path), cj.status, tick_sizes={"BTCUSDT": "0.10"}))
    server.start()
    yield server
    server.stop()


def chart_facts(browser):
    browser.wait_for(DRAWN)
    # The library paints on the next animation frame after setData: wait for ink, not for time.
    browser.wait_for("smtCharts.inkRatio(document.getElementById('symbol-chart')) > 0.01"
                     " && smtCharts.inkRatio(document.getElementById('equity-chart')) > 0.01")
    return json.loads(browser.evaluate(CHART_FACTS))


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_equity_and_symbol_charts_are_drawn_with_the_known_trade_marked(site, browser, tmp_path, screen):
    width, height, mobile = (1280, 900, False) if screen == "desktop" else (390, 844, True)
    browser.viewport(width, height, mobile=mobile)
    browser.goto(site.url + "/")
    page = chart_facts(browser)
    assert page["problem"] is None
    assert page["symbol"]["symbol"] == "BTCUSDT" and page["symbol"]["interval"] == "1"
    assert page["symbol"]["bars"] == "360"
    assert page["equity_points"] == len(cj.WALLET)
    assert page["symbol_canvases"] > 0 and page["equity_canvases"] > 0
    assert page["symbol_ink"] > 0.01 and page["equity_ink"] > 0.01
    # The closed trade (TAKE, entry fill, stop exit) and the open position's TAKE and fill.
    assert page["symbol"]["markKinds"] == "take,entry,exit,take,entry"
    assert page["symbol"]["lines"] == "3"  # the open position's entry, stop and target
    assert page["clock"].startswith("Venue time") and page["clock"].endswith("UTC")
    assert page["overflow"] <= 0
    assert page["events"] == ["reconnect"]  # the wallet's DEBUG rows stay in the API
    assert browser.console_errors == [], "\n".join(browser.console_errors)
    assert browser.requests and all(url.startswith(site.url + "/") for url in browser.requests), browser.requests
    assert browser.screenshot(tmp_path / f"charts-{screen}.png").stat().st_size > 10_000
    if screen == "phone":
        # Equity and PnL come before the open positions, the chart and the symbol table.
        assert page["tops"]["equity"] < page["tops"]["pnl"] < page["tops"]["chart"] < page["tops"]["symbols"]
        assert page["tops"]["equity"] < height


def test_positions_and_orders_are_listed_with_their_stop_target_and_break_even_state(site, browser):
    browser.viewport(1280, 900, mobile=False)
    browser.goto(site.url + "/")
    page = chart_facts(browser)
    assert page["positions"] == [{
        "side": "Buy", "size": "0.020", "entry": "97010.00", "stop": "96950.00", "target": "97100.00",
        "break_even": "open risk", "liq_price": "48990.20", "mark": "97031.70", "upnl": "+0.43"}]
    order = page["orders"][0]
    assert (order["purpose"], order["side"], order["price"], order["stop"], order["status"]) == (
        "entry", "Sell", "3061.25", "3080.00", "New")
    assert len(page["orders"]) == 1


def test_switching_interval_and_heikin_ashi_redraws_the_symbol_chart(site, browser):
    browser.viewport(1280, 900, mobile=False)
    browser.goto(site.url + "/")
    chart_facts(browser)
    browser.evaluate("document.querySelector('[data-interval=\"15\"]').click()")
    browser.wait_for("document.getElementById('symbol-chart').dataset.interval === '15'")
    assert browser.evaluate("document.getElementById('symbol-chart').dataset.bars") == "24"
    assert browser.evaluate("document.getElementById('symbol-chart').dataset.markKinds") == "take,entry,exit,take,entry"
    browser.evaluate("document.getElementById('chart-ha').click()")
    browser.wait_for("document.getElementById('symbol-chart').dataset.ha === 'true'")
    assert browser.evaluate("smtCharts.inkRatio(document.getElementById('symbol-chart'))") > 0.01
    assert browser.console_errors == [], "\n".join(browser.console_errors)


FORMAT_CASES = """JSON.stringify([
  fmt.price(97120.5, 2), fmt.price('0.123456', 4), fmt.price(0.00001234, 8), fmt.price('150.1', 3), fmt.price(97120.5, null),
  fmt.money('9870.47930419'), fmt.money('-57.20717311'), fmt.money('-57.20717311', true), fmt.money('0.004', true),
  fmt.money('-0.004', true), fmt.money('999.995'), fmt.money(1234567.891, true), fmt.money(null),
  fmt.r(1.5), fmt.r(-1), fmt.r(-0.004), fmt.r(2.345), fmt.r(null),
  fmt.utc(1764150000000), fmt.utc(1764150005000, true), fmt.when(1764149700000, 1764150000000),
  fmt.breakEven({side: 'Buy', avg_price: '100', stop_loss: '100.05'}), fmt.breakEven({side: 'Sell', avg_price: '100', stop_loss: '100.05'}),
  fmt.breakEven({side: 'Buy', avg_price: '100', stop_loss: null}),
])"""


def test_formatting_helpers_give_tick_precision_cents_and_two_decimal_r(site, browser):
    browser.goto(site.url + "/")
    browser.wait_for("window.fmt !== undefined")
    assert json.loads(browser.evaluate(FORMAT_CASES)) == [
        "97120.50", "0.1235", "0.00001234", "150.100", "97120.5",
        "9,870.48", "\u221257.21", "\u221257.21", "0.00", "0.00", "1,000.00", "+1,234,567.89", "–",
        "+1.50 R", "\u22121.00 R", "0.00 R", "+2.35 R", "–",
        "2025-11-26 09:40 UTC", "2025-11-26 09:40:05 UTC", "2025-11-26 09:35 UTC · 5m ago",
        "locked", "open risk", "no stop",
    ]
