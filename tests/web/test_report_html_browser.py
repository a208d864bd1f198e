"""report.html, written by the backtest's report beside report.json: one self-contained file that
opens in chromium with no network at all, draws its charts, and shows report.json's numbers."""

import json
import shutil
from decimal import ROUND_HALF_UP, Decimal

import pytest

from vocabulary import messages as m
from backtest import metrics, report
from backtest.run import Result
from tests.web import chart_journal as cj
from tests.web.chromium import CHROMIUM, Browser

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (make test installs it with apt-get; apt was unavailable here)"
)


def closed_trades():
    return [t for t in cj.trade_messages() if isinstance(t, m.TradeClosed)] + [
        m.TradeClosed(symbol="BTCUSDT", side="Sell", path="pre_cross", entry_ms=cj.START + 200 * cj.MIN,
                      exit_ms=cj.START + 230 * cj.MIN, entry_price=Decimal("97050.00"), exit_price=Decimal("96960.00"),
                      qty=Decimal("0.010"), fees=Decimal("0.70"), pnl_usdt=Decimal("0.20"), pnl_r=1.5, exit_reason="target"),
    ]


@pytest.fixture
def written(tmp_path):
    """A run's report written by ``backtest.report.write``, its journal being the chart journal."""
    out = tmp_path / "run"
    out.mkdir()
    cj.seed(out / "journal.sqlite")
    trades = closed_trades()
    equity, value = [], Decimal("10000")
    for i in range(cj.BARS):
        ts = cj.START + (i + 1) * cj.MIN
        value += sum((t.pnl_usdt for t in trades if t.exit_ms == ts - cj.MIN + 1_000 or t.exit_ms == ts), Decimal(0))
        equity.append((ts, value, 0))
    result = Result(symbols=("BTCUSDT",), start_ms=cj.START, end_ms=cj.END, initial_equity=Decimal("10000"), decisions=[],
                    trades=trades, equity=equity, counts={}, wall_s=0.1)
    stats = metrics.compute(result.trades, result.equity, result.initial_equity, result.start_ms, result.end_ms)
    report.write(result, stats, out)
    return out


def cents(value) -> str:
    """report.json's money figure as the page shows it: cents, half away from zero, grouped."""
    d = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{abs(d):,.2f}"
    return ("\u2212" if d < 0 else "") + text


def test_report_html_is_one_file_with_everything_inlined(written):
    page = (written / "report.html").read_text()
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert "TradingView Lightweight Charts" in page  # the library, inlined, with its licence header
    assert (written / "report.json").exists() and (written / "report.md").exists()


def test_report_html_opens_offline_draws_its_charts_and_shows_report_jsons_numbers(written, tmp_path):
    # Moved away from its journal: the page must not need anything beside itself.
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(written / "report.html", alone / "report.html")
    data = json.loads((written / "report.json").read_text())
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = Browser(profile)
    try:
        browser.call("Network.emulateNetworkConditions", session=True, offline=True, latency=0,
                     downloadThroughput=-1, uploadThroughput=-1)
        browser.viewport(1280, 1000, mobile=False)
        browser.goto((alone / "report.html").as_uri())
        assert browser.wait_for("document.body && document.body.dataset.drawn") == "3"  # equity, histogram, BTCUSDT
        ink = browser.wait_for(
            "(() => { const r = [...document.querySelectorAll('.chart')].map(c => smtCharts.inkRatio(c));"
            " return r.every(x => x > 0.01) && JSON.stringify(r); })()")
        page = json.loads(browser.evaluate("""JSON.stringify({
          symbol: Object.fromEntries([...document.querySelectorAll('#by-symbol tbody tr')].map(tr => [tr.dataset.symbol,
            Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.field, [td.dataset.value, td.textContent]]))])),
          path: Object.fromEntries([...document.querySelectorAll('#by-path tbody tr')].map(tr => [tr.dataset.path,
            Object.fromEntries([...tr.querySelectorAll('td')].map(td => [td.dataset.field, [td.dataset.value, td.textContent]]))])),
          net: document.querySelector('#summary [data-field=net_pnl_usdt]').textContent,
          markers: document.querySelector('.chart.symbol').dataset.markers,
        })"""))
        browser.screenshot(tmp_path / "report.png")
    finally:
        browser.close()
    assert len(json.loads(ink)) == 3
    assert browser.console_errors == [], browser.console_errors
    assert all(url.startswith("file://") for url in browser.requests), browser.requests
    metrics_ = data["metrics"]
    assert page["net"] == ("+" if metrics_["net_pnl_usdt"] > 0 else "") + cents(metrics_["net_pnl_usdt"])
    for name, group in metrics_["by_symbol"].items():
        row = page["symbol"][name]
        assert row["trades"] == [str(group["trades"]), str(group["trades"])]
        assert row["net_pnl_usdt"] == [str(group["net_pnl_usdt"]), cents(group["net_pnl_usdt"])]
        assert row["avg_r"][0] == str(group["avg_r"])
    for name, group in metrics_["by_path"].items():
        assert page["path"][name]["net_pnl_usdt"][1] == cents(group["net_pnl_usdt"])
    assert page["symbol"]["BTCUSDT"]["trades"][0] == "2"
    # Two closed trades (entry and exit each) and the TAKE and fills of the journal's trades.
    assert int(page["markers"]) >= 4


T0 = 1_748_736_000_000


def tune_json():
    trials = [{"trial": i, "value": 0.1 * i, "params": {"strategy.rr": 1.5 + i / 10}, "is_expectancy_r": 0.05 * i - 0.2,
               "is_trades": 40 + i, "oos_expectancy_r": 0.03 * (i % 5) - 0.1, "oos_trades": 20} for i in range(12)]
    chosen = dict(trials[3], oos_equity=[[T0 + i * 60_000, 10_000 + i * 0.5 - i % 50] for i in range(3000)],
                  holdout_equity={"t": [T0 + i * 3_600_000 for i in range(100)], "equity": [str(10_000 - i) for i in range(100)]})
    return {"study": "s", "trials": trials, "chosen": chosen}


def open_page(path, tmp_path):
    profile = tmp_path / f"profile-{path.parent.name}"
    profile.mkdir()
    browser = Browser(profile)
    try:
        browser.viewport(1280, 1000, mobile=False)
        browser.goto(path.as_uri())
        drawn = browser.wait_for("document.body && document.body.dataset.drawn")
        # The charts paint on the next animation frame, after ``drawn`` is set: their ink is read
        # once as many charts as were drawn have some (a loaded machine can take frames to get there).
        ink = json.loads(browser.wait_for(
            "(() => { const r = [...document.querySelectorAll('.chart')].map(c => smtCharts.inkRatio(c));"
            " return r.filter(x => x > 0).length >= Number(document.body.dataset.drawn) && JSON.stringify(r); })()"))
        rows = browser.evaluate("document.querySelectorAll('#trials tbody tr').length")
    finally:
        browser.close()
    return drawn, ink, rows, browser


def test_tune_html_draws_the_trials_scatter_and_the_chosen_trials_equity(tmp_path):
    from backtest import report_html

    out = tmp_path / "tune"
    out.mkdir()
    drawn, ink, rows, browser = open_page(report_html.write_tune(tune_json(), out), tmp_path)
    assert drawn == "3" and len(ink) == 3 and all(x > 0.01 for x in ink), ink
    assert rows == 12
    assert browser.console_errors == [] and all(u.startswith("file://") for u in browser.requests)


def test_tune_html_takes_todays_tune_json_and_an_empty_one(tmp_path):
    from backtest import report_html

    today = {"study": "s", "splits": [], "best": [{"trial": 4, "value": 0.2, "params": {}, "is_expectancy_r": 0.1,
                                                  "is_trades": 30, "oos_expectancy_r": -0.05, "oos_trades": 12}]}
    for name, tune in (("today", today), ("empty", {})):
        out = tmp_path / name
        out.mkdir()
        drawn, _, rows, browser = open_page(report_html.write_tune(tune, out), tmp_path)
        assert (drawn, rows) == (("1", 1) if name == "today" else ("0", 0))
        assert browser.console_errors == []
