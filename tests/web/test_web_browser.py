"""The dashboard in a real headless chromium: it polls the API and shows the journal's values,
on a desktop and on a phone-sized screen."""

import json

import pytest

from tests.journal import samples as s
from tests.web.chromium import CHROMIUM
from tests.web.conftest import NOW, SIM_SECRET, status_with_secrets
from journal.writer import JournalWriter
from web.app import create_app
from web.server import WebServer

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it with apt-get; apt was unavailable here)"
)

# Everything the assertions need, read from the rendered DOM in one go.
PAGE_FACTS = """(() => {
  const rows = {};
  for (const tr of document.querySelectorAll('#symbols tbody tr')) {
    const f = {};
    for (const td of tr.querySelectorAll('td')) f[td.dataset.field] = td.textContent;
    rows[tr.dataset.symbol] = f;
  }
  const ledger = {};
  for (const tr of document.querySelectorAll('#ledger tbody tr')) {
    const f = {};
    for (const td of tr.querySelectorAll('td')) f[td.dataset.field] = td.textContent;
    ledger[tr.dataset.window] = f;
  }
  return JSON.stringify({
    polls: Number(document.body.dataset.polls), seq: Number(document.body.dataset.seq), rows, ledger,
    trades: [...document.querySelectorAll('#trades tbody tr')].map(tr => tr.querySelector('[data-field=pnl_usdt]').textContent),
    events: [...document.querySelectorAll('#events tbody tr')].map(tr => tr.querySelector('[data-field=kind]').textContent),
    problem: document.getElementById('problem').hidden ? null : document.getElementById('problem').textContent,
    text: document.body.innerText,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    width: window.innerWidth,
  });
})()"""


@pytest.fixture
def site(journal_path):
    server = WebServer(create_app(str(journal_path), status_with_secrets, secrets=[SIM_SECRET], clock=lambda: NOW))
    server.start()
    yield server, journal_path
    server.stop()


def facts(browser, min_polls=1):
    return json.loads(browser.wait_for(
        f"Number(document.body.dataset.polls) >= {min_polls} && {PAGE_FACTS}", timeout_s=20))


def test_dashboard_shows_symbol_rows_ledger_trades_and_events_from_the_journal(site, browser, tmp_path):
    server, _ = site
    browser.viewport(1280, 900, mobile=False)
    browser.goto(server.url + "/")
    page = facts(browser)
    assert page["problem"] is None
    btc, eth, sol = page["rows"]["BTCUSDT"], page["rows"]["ETHUSDT"], page["rows"]["SOLUSDT"]
    assert btc["close"] == "97120.50"  # at the symbol's tick precision (its orders carry 2 decimals)
    assert btc["decision"] == "TAKE cross_based Buy 1.35"
    assert btc["position"] == "Buy 0.010 @ 97123.40" and btc["upnl"] == "+1.25"
    assert btc["feed"].startswith("ok")
    assert eth["decision"] == "REJECT pre_cross Sell 0.40" and eth["position"] == "flat"
    assert sol["feed"].startswith("stale") and sol["close"] == "–"
    assert page["ledger"]["today"] == {"pnl_usdt": "+1.40", "pnl_r": "+0.50 R", "trades": "2", "won_lost": "1 / 1", "fees": "0.53",
                                      "breakdown": "gross +1.93 · slippage 0.00 · funding 0.00"}
    assert page["ledger"]["all"]["pnl_usdt"] == "+1.40"
    assert page["trades"] == ["\u22121.20", "+2.60"]  # money to cents, a real minus sign
    assert page["events"] == ["restart", "reconnect"]
    assert SIM_SECRET not in page["text"]
    assert browser.screenshot(tmp_path / "dashboard-desktop.png").stat().st_size > 10_000


def test_dashboard_picks_up_new_journal_rows_on_its_next_poll(site, browser):
    server, path = site
    browser.viewport(1280, 900, mobile=False)
    browser.goto(server.url + "/")
    first = facts(browser)
    writer = JournalWriter(path)
    writer.append_now([s.decision(tick_ms=s.T0 + s.MIN, symbol="ETHUSDT", kind="NO_SETUP"),
                       s.trade("ETHUSDT", exit_ms=s.T0 + s.MIN, pnl="0.75", r=0.5)])
    writer.close()
    later = facts(browser, min_polls=first["polls"] + 1)
    assert later["rows"]["ETHUSDT"]["decision"] == "NO_SETUP"
    assert later["trades"][0] == "+0.75"
    assert later["ledger"]["today"]["pnl_usdt"] == "+2.15"
    assert later["ledger"]["today"]["trades"] == "3"


def test_dashboard_is_readable_on_a_phone(site, browser, tmp_path):
    server, _ = site
    browser.viewport(390, 844, mobile=True)
    browser.goto(server.url + "/")
    page = facts(browser)
    assert page["width"] == 390
    assert page["overflow"] <= 0, "the page scrolls sideways on a phone"
    assert page["rows"]["BTCUSDT"]["close"] == "97120.50"
    assert page["ledger"]["today"]["pnl_usdt"] == "+1.40"
    # Cards, not a squeezed table: each value carries its label on its own line.
    labelled = browser.evaluate(
        "getComputedStyle(document.querySelector('#symbols tbody td'), '::before').content")
    assert labelled == '"Last bar"'
    assert browser.screenshot(tmp_path / "dashboard-phone.png").stat().st_size > 10_000
