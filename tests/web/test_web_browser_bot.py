"""The dashboard against a running bot on the embedded simulator, in headless chromium:
the page keeps polling while the pipeline trades, and each render matches the journal
exactly as of the journal version it shows (append-only + one seq make that checkable)."""

import json
import socket
import sqlite3

import pytest

from tests.e2e.conftest import Running, settings_for
from tests.web.chromium import CHROMIUM, Browser
from tests.web.test_web_browser import PAGE_FACTS

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it with apt-get; apt was unavailable here)"
)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def bot(tmp_path):
    from actors.supervisor import Bot
    from exchange.sim.config import SimConfig

    settings = settings_for(tmp_path, SYMBOLS, web=True, extra=f"port = {free_port()}")
    config = SimConfig.from_settings(settings.sim, symbols=SYMBOLS, paced=True, port=0)
    running = Running(Bot(settings, None, sim_config=config))
    running.bot.start()
    running.thread.start()
    yield running
    running.stop()


def decision_text(row):
    kind, path, side, score = row
    return " ".join(str(p) for p in (kind, path, side, None if score is None else f"{score:.2f}") if p)


def test_dashboard_follows_a_running_bot_and_matches_the_journal_as_of_each_render(bot, tmp_path):
    bot.wait_ticks(3)
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = Browser(profile)
    try:
        browser.viewport(390, 844, mobile=True)
        browser.goto(bot.bot.web_url + "/")
        first = browser.wait_for("Number(document.body.dataset.polls) >= 1 && Number(document.body.dataset.seq)")
        # The next poll shows a newer journal: the page is live, not a one-off render.
        seq = browser.wait_for(f"Number(document.body.dataset.seq) > {first} && Number(document.body.dataset.seq)")
        page = json.loads(browser.evaluate(PAGE_FACTS))
        seq_now = page["seq"]
        browser.screenshot(tmp_path / "dashboard-running-bot.png")
    finally:
        browser.close()
    assert seq_now >= seq > first
    assert page["problem"] is None
    assert sorted(page["rows"]) == sorted(SYMBOLS)
    with sqlite3.connect(f"file:{bot.bot.settings.journal.path}?mode=ro", uri=True) as db:
        for symbol in SYMBOLS:
            expected = db.execute(
                "SELECT kind, path, side, score FROM decisions WHERE symbol = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
                (symbol, seq_now)).fetchone()
            assert page["rows"][symbol]["decision"] == decision_text(expected), symbol
        # /pnl is fetched beside /status, not inside its snapshot: it is no older than the previous render.
        trades_before, trades_now = db.execute(
            "SELECT (SELECT count(*) FROM trades WHERE seq <= ?), (SELECT count(*) FROM trades)", (first,)).fetchone()
    assert trades_before <= int(page["ledger"]["all"]["trades"]) <= trades_now
    assert page["overflow"] <= 0
