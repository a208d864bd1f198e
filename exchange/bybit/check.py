"""``run.py check`` against a live venue: clock, keys (one signed call), account type, position
mode and instrument rules for every configured symbol, and the public stream, each answered in
plain words that say what to fix. Nothing here places or changes anything on the account.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Literal, NamedTuple

import httpx

from vocabulary.settings import Credentials
from exchange.bybit.errors import BybitError, TransportError
from exchange.bybit.instruments import InstrumentProblem, is_tradable, parse_instrument
from exchange.bybit.rest import BybitRest
from exchange.bybit.venues import REST_URLS, WS_PUBLIC_URLS
from exchange.bybit.ws_public import PublicStream

PositionMode = Literal["one-way", "hedge"]
CLOCK_ALARM_MS = 500

_KEY_PROBLEMS = {
    10003: "the API key is not valid on this venue (keys are per environment: mainnet, demo and testnet each need their own)",
    10004: "the venue rejected the signature: BYBIT_API_SECRET does not belong to BYBIT_API_KEY",
    10005: "the API key lacks a permission this call needs (enable Contract / Unified Trading: Orders and Positions)",
    10010: "this machine's IP address is not in the API key's IP whitelist",
    33004: "the API key has expired: create a new one",
    401: "the venue refused the authentication headers (wrong key?)",
    403: "the venue refused access: IP rate limit breached or a blocked region",
}


class CheckLine(NamedTuple):
    ok: bool
    what: str
    detail: str


def _explain(exc: BybitError | TransportError) -> str:
    if isinstance(exc, BybitError):
        plain = _KEY_PROBLEMS.get(exc.ret_code)
        return f"{plain} (retCode {exc.ret_code})" if plain else f"retCode {exc.ret_code}: {exc.ret_msg}"
    return f"no usable answer from the venue: {exc}"


def check_venue(
    rest: BybitRest,
    symbols: Iterable[str],
    *,
    signed: bool = True,
    expected_position_mode: PositionMode = "one-way",
) -> list[CheckLine]:
    """Every check, in the order a trader fixes things; a failed step does not hide later ones."""
    lines: list[CheckLine] = []
    symbols = list(symbols)
    try:
        offset = rest.sync_time()
        lines.append(CheckLine(abs(offset) <= CLOCK_ALARM_MS, "clock",
                               f"local clock is {offset:+d} ms from the venue's" + ("" if abs(offset) <= CLOCK_ALARM_MS else ": sync it with NTP")))
    except (BybitError, TransportError) as exc:
        lines.append(CheckLine(False, "connectivity", _explain(exc)))
        return lines
    try:
        rows = rest.instrument_rows(symbols)
        for symbol in symbols:
            row = rows.get(symbol)
            if row is None:
                lines.append(CheckLine(False, f"instrument {symbol}", "not a linear USDT perpetual on this venue: remove it from bot.symbols"))
            elif not is_tradable(row):
                lines.append(CheckLine(False, f"instrument {symbol}", f"status {row.status or '?'}{', pre-listing' if row.isPreListing else ''}: not trading now"))
            else:
                rules = parse_instrument(row)
                lines.append(CheckLine(True, f"instrument {symbol}",
                                       f"tick {rules.tick_size}, qty step {rules.qty_step}, min qty {rules.min_order_qty}, min notional {rules.min_notional}"))
    except InstrumentProblem as exc:
        lines.append(CheckLine(False, "instruments", str(exc)))
    except (BybitError, TransportError) as exc:
        lines.append(CheckLine(False, "instruments", _explain(exc)))
    if not signed:
        return lines
    try:
        account = rest.wallet_account()
    except BybitError as exc:
        if exc.ret_code in _KEY_PROBLEMS or exc.http_status in _KEY_PROBLEMS:
            lines.append(CheckLine(False, "keys", _explain(exc)))
            return lines
        lines.append(CheckLine(False, "account type", f"wallet-balance for a UNIFIED account failed: {_explain(exc)} (is this a Unified Trading Account?)"))
        return lines
    except TransportError as exc:
        lines.append(CheckLine(False, "keys", _explain(exc)))
        return lines
    lines.append(CheckLine(True, "keys", "a signed call succeeded"))
    lines.append(CheckLine(account.accountType == "UNIFIED", "account type",
                           f"{account.accountType or 'unknown'}, equity {account.totalEquity or '?'} USD" +
                           ("" if account.accountType == "UNIFIED" else ": smtbot needs a Unified Trading Account")))
    wanted = {"one-way": {0}, "hedge": {1, 2}}[expected_position_mode]
    for symbol in symbols:
        try:
            idx = {p.position_idx for p in rest.positions(symbol)}
        except (BybitError, TransportError) as exc:
            lines.append(CheckLine(False, f"position mode {symbol}", _explain(exc)))
            continue
        found = "hedge" if idx & {1, 2} else "one-way" if idx else "unknown (no position rows)"
        lines.append(CheckLine(idx <= wanted and bool(idx), f"position mode {symbol}",
                               found if found == expected_position_mode else f"{found}, but smtbot is set up for {expected_position_mode}: switch it in Bybit's position settings"))
    return lines


async def _stream_answers(url: str, symbol: str, timeout_s: float) -> bool:
    stream = PublicStream(url, [symbol], [1], lambda message: None, ping_interval_s=timeout_s, silence_timeout_s=timeout_s * 2,
                          open_timeout_s=timeout_s, backoff_initial_s=timeout_s)
    task = asyncio.create_task(stream.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not stream.healthy and loop.time() < deadline:
        await asyncio.sleep(0.05)
    healthy = stream.healthy
    stream.stop()
    await asyncio.wait_for(task, timeout_s)
    return healthy


def check_stream(url: str, symbol: str, timeout_s: float = 10.0) -> CheckLine:
    """Connect to the public stream and get one subscription acknowledged."""
    ok = asyncio.run(_stream_answers(url, symbol, timeout_s))
    return CheckLine(ok, "public stream", f"{url} acknowledged kline.1.{symbol}" if ok else f"{url} did not acknowledge a subscription within {timeout_s:g} s")


def run_venue_check(
    venue: str,
    credentials: Credentials | None,
    symbols: Iterable[str],
    *,
    out: Callable[[str], None] = print,
    expected_position_mode: PositionMode = "one-way",
    base_url: str | None = None,
    ws_public_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    stream_timeout_s: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> int:
    """Print one line per check (``ok`` / ``FAIL``); 0 when everything passed, 1 otherwise.

    ``clock`` is what "our time" means: the wall clock, except against a simulator replaying
    the past, whose own clock is the one the bot signs with."""
    symbols = list(symbols)
    with BybitRest(base_url or REST_URLS[venue], credentials, transport=transport, max_attempts=2, clock=clock) as rest:
        lines = check_venue(rest, symbols, signed=credentials is not None, expected_position_mode=expected_position_mode)
    stream_url = ws_public_url or WS_PUBLIC_URLS.get(venue)
    if stream_url and symbols:
        lines.append(check_stream(stream_url, symbols[0], stream_timeout_s))
    out(f"venue {venue}:")
    for line in lines:
        out(f"  {'ok  ' if line.ok else 'FAIL'} {line.what}: {line.detail}")
    return 0 if all(line.ok for line in lines) else 1
