"""The console's story, from messages: trades opened and closed, gates that start and stop
refusing entries, and the periodic summary."""

from decimal import Decimal as D

from vocabulary import messages as m
from actors.narrator import Narrator
from strategy.orders import order_link_id

T0 = 1_764_150_000_000


def narrator(every_ms: int = 300_000) -> Narrator:
    return Narrator(max_positions=2, daily_loss_limit=100.0, summary_every_ms=every_ms)


def take() -> m.Decision:
    return m.Decision(tick_ms=T0, symbol="BTCUSDT", kind="TAKE", path="cross_based", side="Buy", score=1.2,
                      entry_price=D("100.0"), stop_price=D("99.0"), target_price=D("101.5"), qty=D("1"))


def fill(link: str, exec_id: str = "x1", qty: str = "0.4") -> m.ExecutionUpdate:
    return m.ExecutionUpdate(symbol="BTCUSDT", exec_id=exec_id, order_id="o1", order_link_id=link, side="Buy",
                             price=D("100.0"), qty=D(qty), fee=D("0.02"), is_maker=True, exec_ms=T0 + 1000)


def account(pnl_today: str = "0", open_symbols=(), working=()) -> m.AccountView:
    return m.AccountView(ts_ms=T0, equity=D("10000"), realised_pnl_today=D(pnl_today),
                         open_symbols=tuple(open_symbols), working_entry_symbols=tuple(working))


def test_a_trade_opened_says_symbol_side_path_price_stop_target_r_and_fees_once():
    story = narrator()
    assert story.observe("journal", take()) == []
    link = order_link_id("BTCUSDT", T0, "cross_based", "Buy")
    (line,) = story.observe("journal", fill(link))
    assert line == ("INFO", "trade opened", {"symbol": "BTCUSDT", "side": "Buy", "path": "cross_based", "price": "100.0",
                                             "qty": "0.4", "stop": "99.0", "target": "101.5", "r": "1.50", "fees": "0.02"})
    assert story.observe("journal", fill(link, exec_id="x2", qty="0.6")) == []  # the rest of a partial fill
    assert story.observe("router", fill(order_link_id("ETHUSDT", T0, "pre_cross", "Buy"))) == []  # journal copy only


def test_a_fill_of_a_take_profit_or_a_hand_placed_order_opens_nothing():
    story = narrator()
    assert story.observe("journal", fill("tL-BTC-abc")) == []
    assert story.observe("journal", fill("placed-by-hand")) == []


def test_a_trade_closed_says_exit_reason_r_net_and_fees():
    trade = m.TradeClosed(symbol="ETHUSDT", side="Sell", path="pre_cross", entry_ms=T0, exit_ms=T0 + 60_000,
                          entry_price=D("3000"), exit_price=D("3015"), qty=D("0.1"), fees=D("0.25"),
                          pnl_usdt=D("-1.75"), pnl_r=-1.0, exit_reason="stop")
    assert narrator().observe("journal", trade) == [("INFO", "trade closed", {
        "symbol": "ETHUSDT", "side": "Sell", "path": "pre_cross", "entry": "3000", "exit": "3015", "reason": "stop",
        "r": "-1.00", "net_usdt": "-1.75", "fees": "0.25"})]


def test_a_gate_is_said_once_when_it_starts_refusing_and_once_when_it_lifts():
    story = narrator()
    assert story.observe("symbols", account("-50")) == []
    (stopped,) = story.observe("symbols", account("-100"))
    assert stopped[0] == "WARNING" and stopped[1].startswith("entries stopped: daily loss limit")
    assert story.observe("symbols", account("-120")) == []  # still refusing: nothing new to say
    (paused,) = story.observe("symbols", account("-120", open_symbols=["BTCUSDT"], working=["ETHUSDT"]))
    assert paused[1] == "entries paused: max positions reached" and paused[2]["open_or_opening"] == 2
    lifted = story.observe("symbols", account("0"))
    assert sorted(line[2]["gate"] for line in lifted) == ["daily_loss", "max_positions"]


def test_the_summary_comes_every_n_wall_minutes_with_decisions_since_the_last():
    story = narrator(every_ms=300_000)
    status = {"positions": [{"symbol": "BTCUSDT"}], "equity": "10001.5", "cycle_latency_p99_ms": 12.345, "ticks": 40}
    assert story.summary(0, status) is None  # the clock starts
    story.observe("journal", take())
    story.observe("journal", m.Decision(tick_ms=T0, symbol="ETHUSDT", kind="NO_SETUP"))
    assert story.summary(299_999, status) is None
    level, text, extra = story.summary(300_000, status)
    assert (level, text) == ("INFO", "summary")
    assert extra == {"minutes": "5.0", "take": 1, "reject": 0, "no_setup": 1, "open_positions": 1, "equity": "10001.5",
                     "cycle_p99_ms": "12.3", "ticks": 40}
    assert story.summary(600_000, status)[2]["take"] == 0  # counted afresh


def test_a_summary_every_zero_minutes_is_never():
    assert narrator(every_ms=0).summary(10**12, {}) is None
