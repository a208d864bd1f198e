"""InProcessSim's versions: ``account_version`` moves with every write and every push (the engine
pushes every change of an order, a position or the wallet), ``marks_version`` with every bar
while a position is open; quiet minutes and reads move neither. And the closed 1m candle it
pushes is the one the generic aggregation gives."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx

from exchange import signing
from exchange.sim.aggregate import aggregate
from exchange.sim.config import SimConfig
from exchange.sim.inprocess import InProcessSim
from exchange.sim.market import MINUTE_MS, Bar, load_instruments, load_store
from exchange.sim.venue import Venue

DATA = Path(__file__).resolve().parents[3] / "data" / "klines"
T = 1_748_700_000_000 - 1_748_700_000_000 % 60_000
CONFIG = SimConfig(symbols=("SOLUSDT",), rate_limits=False)
READS = (("/v5/position/list", "category=linear&settleCoin=USDT"),
         ("/v5/order/realtime", "category=linear&settleCoin=USDT&openOnly=0"),
         ("/v5/account/wallet-balance", "accountType=UNIFIED&coin=USDT"))


class Account:
    """A fed simulator (SOLUSDT at 150) and a signed client on its transport."""

    def __init__(self) -> None:
        rules = load_instruments(DATA / "instruments-bybit-linear.csv")
        self.sim = InProcessSim.fed({"SOLUSDT": rules["SOLUSDT"]}, CONFIG, {"SOLUSDT": self.bar(0)})
        self.client = httpx.Client(base_url="http://sim", transport=self.sim.transport)
        self.minute = 1

    @staticmethod
    def bar(minute: int, low: str = "149", high: str = "151") -> Bar:
        return Bar(T + minute * 60_000, Decimal(150), Decimal(high), Decimal(low), Decimal(150), Decimal(10))

    def next_bar(self, **prices: str) -> None:
        self.sim.on_bar("SOLUSDT", self.bar(self.minute, **prices))
        self.minute += 1

    def call(self, method: str, path: str, payload: str) -> dict:
        ts = str(self.sim.now_ms())
        headers = {signing.HEADER_API_KEY: CONFIG.api_key, signing.HEADER_TIMESTAMP: ts, signing.HEADER_RECV_WINDOW: "5000",
                   signing.HEADER_SIGN: signing.sign(CONFIG.api_secret, ts, CONFIG.api_key, "5000", payload.encode())}
        if method == "GET":
            answer = self.client.get(f"{path}?{payload}", headers=headers)
        else:
            answer = self.client.post(path, content=payload, headers=headers)
        body = answer.json()
        assert body["retCode"] == 0, body
        return body["result"]

    def post(self, path: str, **params: object) -> dict:
        return self.call("POST", path, json.dumps({"category": "linear", "symbol": "SOLUSDT", **params}))

    def read_all(self) -> None:
        for path, query in READS:
            self.call("GET", path, query)


def versions(account: Account) -> tuple[int, int]:
    return account.sim.account_version, account.sim.marks_version


def test_quiet_minutes_and_reads_move_no_version():
    account = Account()
    before = versions(account)
    for _ in range(3):
        account.next_bar()
        account.read_all()
    assert versions(account) == before


def test_a_write_moves_the_account_version_even_when_nothing_is_pushed():
    account = Account()
    account.sim.drain_private()
    before = account.sim.account_version
    account.post("/v5/position/set-leverage", buyLeverage="5", sellLeverage="5")
    assert account.sim.account_version > before


def test_an_order_resting_untouched_moves_nothing_its_fill_moves_the_account_then_every_bar_the_marks():
    account = Account()
    account.post("/v5/order/create", side="Buy", orderType="Limit", qty="1", price="148", timeInForce="GTC")
    placed = versions(account)
    account.next_bar()
    assert versions(account) == placed, "the path never reached 148: nothing changed, nothing was pushed"
    account.next_bar(low="147")
    filled = versions(account)
    assert filled[0] > placed[0] and filled[1] > placed[1], "filled: pushed, and a position now has a mark"
    account.next_bar()
    assert versions(account) == (filled[0], filled[1] + 1), "held: only the marks moved"
    account.post("/v5/order/create", side="Sell", orderType="Market", qty="1", reduceOnly=True)
    closed = versions(account)
    assert closed[0] > filled[0]
    account.next_bar()
    assert versions(account) == closed, "flat again: a bar moves no mark"


def test_a_closed_1m_candle_is_what_aggregating_its_bar_gives_also_across_a_lap():
    store, rules = load_store(DATA, ("DOTUSDT",), loop=True)
    venue = Venue(store, rules, SimConfig(symbols=("DOTUSDT",), warmup_minutes=0))
    venue.clock_ms = store.first_ms + store.span_ms + 30 * MINUTE_MS  # into the second lap
    starts = [store.first_ms - MINUTE_MS, store.first_ms, store.first_ms + 17 * MINUTE_MS,
              *range(store.first_ms + store.span_ms - 5 * MINUTE_MS, venue.clock_ms, MINUTE_MS)]
    for start in starts:
        minutes = store.bars_between("DOTUSDT", start, start + MINUTE_MS)
        expected = (aggregate(minutes, 1, partial=True)[-1], True) if minutes else None
        assert venue.candle("DOTUSDT", 1, start) == expected
    assert venue.candle("DOTUSDT", 1, venue.clock_ms)[1] is False, "the current minute is still forming"
