"""Hostile input: whatever the venue sends, and whatever a settings file holds, is counted,
logged once and survived; no bad value ever reaches an indicator.

Frames go through the real public-stream decoder into a real ``SymbolCore`` whose indicators
are wrapped by a witness that checks every bar it is handed. REST answers go through the real
client over an in-memory transport. Settings go through ``load_settings`` and, for the exit
status and the one-line message, through ``run.py`` itself in a subprocess.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from actors.cores import symbol_core
from vocabulary.messages import FeedGap, Instrument, Kline
from vocabulary.settings import SettingsError, load_settings
from exchange.bybit.errors import BybitError, TransportError
from exchange.bybit.rest import BybitRest
from exchange.bybit.ws_public import PublicStream
from tests.reliability.conftest import ROOT, scale

SYMBOL = "BTCUSDT"
MINUTE = 60_000
T0 = 1_717_200_000_000  # on every grid up to 15m; the stream's clock sits just after the bars
NOW_S = (T0 + 40 * MINUTE) / 1000
CASES = scale(1_000, 5_000)
INSTRUMENT = Instrument(symbol=SYMBOL, tick_size=Decimal("0.10"), qty_step=Decimal("0.001"), min_order_qty=Decimal("0.001"))
SETTINGS = load_settings(f'[bot]\nsymbols = ["{SYMBOL}"]\ntimeframes = [1, 3]\nbootstrap_bars = 50\n', {})


def run_sync(coro) -> None:
    """The frame handler is a coroutine that never awaits anything on the frame path."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise AssertionError("the frame handler awaited: it is no longer synchronous")


class Witness:
    """Stands in front of one timeframe's indicators and refuses to pass a bad bar on."""

    def __init__(self, inner, interval: int, seen: list[Kline]) -> None:
        self.inner = inner
        self.interval = interval
        self.seen = seen
        self.previous: int | None = None

    def update(self, kline: Kline):
        assert kline.confirmed, "a partial bar reached an indicator"
        assert kline.symbol == SYMBOL and kline.interval == self.interval
        assert kline.start_ms % (self.interval * MINUTE) == 0
        assert self.previous is None or kline.start_ms > self.previous, "bars reached an indicator out of order"
        for name in ("open", "high", "low", "close"):
            value = getattr(kline, name)
            assert math.isfinite(value) and 0 < value < 1e15, f"{name}={value!r} reached an indicator"
        assert kline.low <= min(kline.open, kline.close) <= max(kline.open, kline.close) <= kline.high
        assert math.isfinite(kline.volume) and 0 <= kline.volume < 1e15, f"volume={kline.volume!r} reached an indicator"
        self.previous = kline.start_ms
        self.seen.append(kline)
        return self.inner.update(kline)

    @property
    def last(self):
        return self.inner.last


# --- what a hostile venue sends ------------------------------------------------------------

HOSTILE_NUMBERS = st.one_of(
    st.sampled_from(["NaN", "nan", "-nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "1e-320",
                     "0", "-0", "0.0", "-5.5", "", " ", "abc", "0x10", "1_000", "١٢٣", "9" * 400]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True),  # json.dumps writes NaN/Infinity tokens
    st.integers(min_value=-(10**30), max_value=10**30),
    st.none(), st.booleans(), st.just([1, 2]), st.just({"v": 1}),
)
HOSTILE_STARTS = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0, -MINUTE, T0 + 1, T0 + 59_999, 2**63, 2**64 + 5, T0 + 10**12]),
    st.sampled_from([str(T0), float(T0), None, "soon"]),
)


@st.composite
def kline_item(draw, interval: int) -> dict:
    """Mostly a plausible bar on a small range of starts (so duplicates and out-of-order
    bars are common); now and then any field replaced by something hostile or left out."""
    step = interval * MINUTE
    start = T0 + step * draw(st.integers(min_value=0, max_value=12))
    base = draw(st.floats(min_value=100, max_value=200))
    spread = draw(st.floats(min_value=0, max_value=5))
    item: dict = {
        "start": start, "end": start + step - 1, "interval": str(interval),
        "open": repr(base), "close": repr(base + spread / 2), "high": repr(base + spread), "low": repr(base - spread),
        "volume": repr(draw(st.floats(min_value=0, max_value=1e6))), "turnover": "0",
        "confirm": draw(st.booleans()), "timestamp": start + step,
    }
    for name in draw(st.lists(st.sampled_from(sorted(item)), max_size=3, unique=True)):
        choice = draw(st.integers(min_value=0, max_value=3))
        if choice == 0:
            del item[name]
        elif name == "start":
            item[name] = draw(HOSTILE_STARTS)
        elif name == "confirm":
            item[name] = draw(st.sampled_from(["true", 1, None, "yes", [True]]))
        else:
            item[name] = draw(HOSTILE_NUMBERS)
    return item


TOPICS = st.sampled_from([f"kline.1.{SYMBOL}", f"kline.3.{SYMBOL}"])
FOREIGN_TOPICS = st.sampled_from(["kline.1.ETHUSDT", "kline.7.BTCUSDT", "orderbook.50.BTCUSDT", "tickers.BTCUSDT", " ", "kline..", 42, None])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@st.composite
def frame(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["push", "push", "push", "push", "foreign", "truncated", "oversized", "json", "bytes", "op"]))
    topic = draw(TOPICS)
    interval = int(topic.split(".")[1])

    def push(items: list) -> bytes:
        return json.dumps({"topic": topic, "type": "snapshot", "ts": T0, "data": items}).encode()

    if kind == "push":
        return kind, push(draw(st.lists(kline_item(interval), min_size=1, max_size=3)))
    if kind == "foreign":
        return kind, json.dumps({"topic": draw(FOREIGN_TOPICS), "data": [draw(kline_item(1))]}).encode()
    if kind == "truncated":
        whole = push([draw(kline_item(interval))])
        return kind, whole[: draw(st.integers(min_value=0, max_value=len(whole) - 1))]
    if kind == "oversized":
        if draw(st.booleans()):
            return kind, push([draw(kline_item(interval))] * 2_000)
        # Over the 1 MiB a websockets client accepts by default: a venue that ignores it.
        return kind, json.dumps({"topic": topic, "data": [draw(kline_item(interval))], "pad": "x" * (1 << 20)}).encode()
    if kind == "json":
        return kind, json.dumps(draw(JSON_VALUES)).encode()
    if kind == "bytes":
        return kind, draw(st.binary(max_size=64))
    op = draw(st.sampled_from([
        {"op": "pong"}, {"op": "subscribe", "success": "yes", "req_id": 7}, {"op": "subscribe", "success": False},
        {"op": "unsubscribe", "success": True}, {"op": "auth"}, {"ret_msg": "pong", "op": None}, {"topic": "", "data": "x"},
    ]))
    return kind, json.dumps(op).encode()


class Tally:
    def __init__(self) -> None:
        self.examples = 0
        self.frames: dict[str, int] = {}
        self.bars_checked = 0
        self.refused = 0
        self.max_logs_per_kind = 0


TALLY = Tally()


@pytest.fixture
def stream_logs():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("exchange.bybit.ws_conn")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                     HealthCheck.function_scoped_fixture])
@given(frames=st.lists(frame(), min_size=1, max_size=25))
def test_no_hostile_frame_reaches_an_indicator_and_each_is_counted(frames, stream_logs):
    stream_logs.clear()
    TALLY.examples += 1
    delivered: list = []
    stream = PublicStream("ws://127.0.0.1:9/v5/public/linear", [SYMBOL], [1, 3], delivered.append, clock=lambda: NOW_S)
    core = symbol_core(SETTINGS, SYMBOL, INSTRUMENT, [SYMBOL])
    seen: list[Kline] = []
    core.indicators = {tf: Witness(ind, tf, seen) for tf, ind in core.indicators.items()}
    for kind, raw in frames:
        before_stats, before_delivered = sum(stream.stats.values()), len(delivered)
        run_sync(stream._handle_frame(None, raw))
        assert sum(stream.stats.values()) > before_stats or len(delivered) > before_delivered, \
            f"a {kind} frame vanished without a count: {raw[:120]!r}"
        for message in delivered[before_delivered:]:
            if isinstance(message, (Kline, FeedGap)):
                core.handle(message)  # raises if the core cannot take what the decoder let through
        TALLY.frames[kind] = TALLY.frames.get(kind, 0) + 1
    kinds = {r.__dict__.get("kind") for r in stream_logs if r.getMessage() == "malformed frame skipped"}
    malformed_logs = [r for r in stream_logs if r.getMessage() == "malformed frame skipped"]
    assert len(malformed_logs) == len(kinds), "a malformed kind was logged more than once"
    TALLY.max_logs_per_kind = max(TALLY.max_logs_per_kind, len(malformed_logs) and 1)
    TALLY.bars_checked += len(seen)
    TALLY.refused += stream.stats["malformed"]


def test_hostile_frames_report(report):
    """Runs after the property above (file order): its counts go into the report."""
    total = sum(TALLY.frames.values())
    assert TALLY.examples >= CASES, "the property ran fewer cases than promised"
    assert TALLY.bars_checked > 0, "no bar ever reached an indicator: the generator is too hostile to test anything"
    report.add("4. hostile input: WS frames", cases=TALLY.examples, frames=total, malformed_counted=TALLY.refused,
               bars_checked_at_indicators=TALLY.bars_checked, bad_values_at_indicators=0, **{f"frames_{k}": v for k, v in sorted(TALLY.frames.items())})


# --- REST answers of the wrong shape ----------------------------------------------------------

def rest_over(answer: bytes | str) -> BybitRest:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=answer if isinstance(answer, bytes) else answer.encode())

    return BybitRest("http://venue.test", None, transport=httpx.MockTransport(handler), sleep=lambda s: None)


def row_value():
    return st.one_of(HOSTILE_NUMBERS, st.text(max_size=6), st.sampled_from(["100.5", "101", "99.5", "12.5"]))


@st.composite
def kline_page(draw) -> str:
    rows = []
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        start = T0 + MINUTE * i
        row: list = [str(start), "100.5", "101", "99.5", "100.7", "12.5", "0"]
        for j in draw(st.lists(st.integers(min_value=0, max_value=6), max_size=3)):
            row[j] = draw(row_value()) if j else draw(HOSTILE_STARTS)
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            row = row[: draw(st.integers(min_value=0, max_value=6))]
        rows.append(row)
    result = draw(st.sampled_from(["ok", "ok", "ok", "wrong"]))
    if result == "wrong":
        return json.dumps({"retCode": 0, "retMsg": "OK", "result": draw(JSON_VALUES), "time": T0 + 10 * MINUTE})
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": {"symbol": SYMBOL, "category": "linear", "list": rows},
                       "time": T0 + 10 * MINUTE})


REST_TALLY = {"kline_pages": 0, "bars_kept": 0, "typed_errors": 0, "state_pages": 0}


@settings(max_examples=CASES // 4, deadline=None)
@given(page=kline_page())
def test_kline_pages_of_any_shape_yield_only_sane_bars_or_a_typed_error(page):
    rest = rest_over(page)
    REST_TALLY["kline_pages"] += 1
    try:
        bars = rest.klines_range(SYMBOL, 1, T0, T0 + 10 * MINUTE)
    except (BybitError, TransportError):
        REST_TALLY["typed_errors"] += 1
        return
    finally:
        rest.close()
    seen: list[Kline] = []
    witness = Witness(type("Sink", (), {"update": lambda self, k: None, "last": None})(), 1, seen)
    for bar in bars:
        witness.update(bar)
    REST_TALLY["bars_kept"] += len(seen)


STATE_ROWS = st.lists(st.dictionaries(
    st.sampled_from(["symbol", "side", "size", "avgPrice", "positionIdx", "stopLoss", "takeProfit", "markPrice",
                     "orderId", "orderLinkId", "orderStatus", "qty", "price", "reduceOnly", "cumExecQty", "updatedTime"]),
    st.one_of(HOSTILE_NUMBERS, st.sampled_from(["BTCUSDT", "Buy", "Sell", "New", "1", "0.5", "abc"])),
    max_size=16,
), max_size=4)


@settings(max_examples=CASES // 4, deadline=None)
@given(rows=STATE_ROWS, what=st.sampled_from(["positions", "open_orders", "wallet_equity"]), wrap=st.booleans())
def test_account_reads_of_any_shape_give_usable_values_or_a_typed_error(rows, what, wrap):
    """Reconciliation reads these every cycle: a surprise must degrade to an error the router
    journals (protective mode), never an exception type it does not expect."""
    result = {"list": rows, "nextPageCursor": ""} if wrap else rows
    if what == "wallet_equity":
        result = {"list": [{"accountType": "UNIFIED", "totalEquity": rows[0].get("size") if rows else None,
                            "coin": [{"coin": "USDT", "equity": r.get("price")} for r in rows]}]}
    rest = BybitRest("http://venue.test", _credentials(), transport=httpx.MockTransport(
        lambda request: httpx.Response(200, content=json.dumps({"retCode": 0, "retMsg": "OK", "result": result, "time": T0}))),
        sleep=lambda s: None)
    REST_TALLY["state_pages"] += 1
    try:
        values = getattr(rest, what)()
    except (BybitError, TransportError):
        REST_TALLY["typed_errors"] += 1
        return
    finally:
        rest.close()
    if what == "wallet_equity":
        assert values.is_finite()
        return
    for value in values:
        for name in ("size", "qty", "price", "avg_price", "stop_loss", "take_profit", "cum_exec_qty"):
            number = getattr(value, name, None)
            assert number is None or number.is_finite(), f"{name}={number!r} left the decoder"
        assert value.symbol, "a row without a symbol left the decoder"


def _credentials():
    from vocabulary.settings import Credentials, Secret

    return Credentials(api_key=Secret("k"), api_secret=Secret("s"))


def test_rest_shapes_report(report):
    assert REST_TALLY["kline_pages"] >= CASES // 4 and REST_TALLY["state_pages"] >= CASES // 4
    report.add("4. hostile input: REST answers", cases=REST_TALLY["kline_pages"] + REST_TALLY["state_pages"],
               typed_errors=REST_TALLY["typed_errors"], sane_bars_kept=REST_TALLY["bars_kept"], untyped_exceptions=0)


# --- settings files ---------------------------------------------------------------------------

GOOD = (ROOT / "settings.toml").read_text()
LINES = GOOD.splitlines()


@st.composite
def mangled_settings(draw) -> bytes:
    how = draw(st.sampled_from(["truncate", "replace_value", "insert", "bytes", "delete_lines", "garbage_key"]))
    if how == "truncate":
        return GOOD.encode()[: draw(st.integers(min_value=0, max_value=len(GOOD)))]
    if how == "bytes":
        return draw(st.binary(max_size=200))
    lines = list(LINES)
    at = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if how == "replace_value":
        key = lines[at].split("=")[0] if "=" in lines[at] else "x"
        value = draw(st.one_of(
            st.sampled_from(['nan', 'inf', '-inf', '-1', '0', '1e400', '99999999999999999999', '""', '[]', '{}', 'true',
                             '"sim"', '[1, 2', '"\\x00"', "'''", '1979-05-27', '["BTCUSDT", 1]', '{a = 1}']),
            st.integers().map(str), st.floats().map(lambda f: repr(f).replace("nan", "nan").replace("inf", "inf")),
            st.text(max_size=12).map(json.dumps),
        ))
        lines[at] = f"{key}= {value}"
    elif how == "insert":
        lines.insert(at, draw(st.text(max_size=30)))
    elif how == "delete_lines":
        del lines[at: at + draw(st.integers(min_value=1, max_value=8))]
    else:
        lines.insert(at, f"{draw(st.from_regex(r'[a-z_]{1,12}', fullmatch=True))} = 1")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


SETTINGS_TALLY = {"cases": 0, "refused": 0, "accepted": 0}


@settings(max_examples=CASES, deadline=None)
@given(text=mangled_settings(), env=st.dictionaries(
    st.sampled_from(["SMTBOT__RISK__LEVERAGE", "SMTBOT__BOT__SYMBOLS", "SMTBOT__WEB__PORT", "SMTBOT__BOT", "SMTBOT__X__Y__Z",
                     "SMTBOT__STRATEGY__RR", "SMTBOT__", "SMTBOT__BOT__TIMEFRAMES"]),
    st.one_of(st.text(max_size=12), st.sampled_from(["nan", "[1,", "0", "-1", "1e999", '["BTCUSDT"]', "[3, 5]"])),
    max_size=2))
def test_any_settings_file_is_loaded_or_refused_with_one_line(text, env):
    SETTINGS_TALLY["cases"] += 1
    try:
        load_settings(text, env, source="settings.toml")
    except SettingsError as exc:
        SETTINGS_TALLY["refused"] += 1
        message = str(exc)
        assert message.startswith(("settings.toml", "environment")), message
        assert "Traceback" not in message and message.strip()
        return
    SETTINGS_TALLY["accepted"] += 1


BROKEN_FILES = {
    # Cut at a line start, so the broken table header is never swallowed by a comment.
    "truncated": GOOD.encode()[: GOOD.encode().rfind(b"\n", 0, len(GOOD) // 3) + 1] + b"[bot",
    "binary": bytes(range(256)),
    "not_utf8": b"[bot]\nvenue = \"\xff\xfe\"\n",
    "nan_port": b"[web]\nport = nan\n",
    "huge_int": b"[risk]\nleverage = 99999999999999999999999999\n",
    "wrong_type": b"[bot]\nsymbols = \"BTCUSDT\"\n",
    "unknown_key": b"[bot]\nvenu = \"sim\"\n",
    "table_for_value": b"[bot.venue]\nx = 1\n",
    "empty_symbols": b"[bot]\nsymbols = []\n",
    "bad_env_shape": b"",
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_run_py_exits_2_with_one_line_for_a_broken_settings_file(name, tmp_path, report):
    path = tmp_path / "settings.toml"
    path.write_bytes(BROKEN_FILES[name])
    env = {"PATH": "/usr/bin:/bin"}
    if name == "bad_env_shape":
        env["SMTBOT__RISK"] = "5"
    done = subprocess.run([sys.executable, "run.py", "--settings", str(path), "run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""
    report.add("4. hostile input: settings", run_py_exit_2=1)


def test_settings_report(report):
    assert SETTINGS_TALLY["cases"] >= CASES
    assert SETTINGS_TALLY["refused"] > SETTINGS_TALLY["cases"] // 2, "the fuzzer hardly ever broke the file"
    report.add("4. hostile input: settings", fuzzed_files=SETTINGS_TALLY["cases"], refused_with_one_line=SETTINGS_TALLY["refused"],
               accepted=SETTINGS_TALLY["accepted"], tracebacks=0)


def test_path_of_a_missing_settings_file_is_refused_with_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "run.py", "--settings", str(tmp_path / "nope.toml"), "run"], cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "cannot read settings" in done.stderr



# --- a bar from the far future ----------------------------------------------------------------

def test_a_confirmed_bar_from_the_far_future_does_not_wedge_the_symbol():
    core = symbol_core(load_settings(f'[bot]\nsymbols = ["{SYMBOL}"]\ntimeframes = [1]\nbootstrap_bars = 50\n', {}),
                       SYMBOL, INSTRUMENT, [SYMBOL])

    def bar(minute: int) -> Kline:
        return Kline(symbol=SYMBOL, interval=1, start_ms=T0 + minute * MINUTE, open=100, high=101, low=99, close=100.5, volume=3)

    for minute in range(10):
        core.handle(bar(minute))
    backfill = [m for to, m in core.handle(bar(10**6)) if to == "self"]
    assert backfill, "the far-future bar opened a gap"
    from vocabulary.messages import BackfillResult

    core.handle(BackfillResult(symbol=SYMBOL, interval=1, from_ms=backfill[0].from_ms, to_ms=backfill[0].to_ms,
                               klines=(bar(10), bar(11)), error=""))
    core.handle(bar(12))
    assert core.indicators[1].last.start_ms == T0 + 12 * MINUTE, "the next real bar reached the indicators"
