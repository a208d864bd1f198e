"""``run.py check`` for live venues, against the scripted REST venue and a real WS server."""

from __future__ import annotations

import time

from bybit_venue import KEY, SECRET, FakeRestVenue
from ws_venue import VenueThread

from vocabulary.settings import Credentials, Secret
from exchange.bybit.check import run_venue_check


def check(venue: FakeRestVenue, creds: Credentials | None, symbols: list[str], ws_url: str, **kw) -> tuple[int, list[str]]:
    out: list[str] = []
    code = run_venue_check("testnet", creds, symbols, out=out.append, base_url="http://venue.test", ws_public_url=ws_url,
                           transport=venue.transport(), stream_timeout_s=1.0, **kw)
    return code, out


def test_a_healthy_account_passes_every_check():
    venue = FakeRestVenue(now_ms=int(time.time() * 1000))
    venue.positions.append({"symbol": "BTCUSDT", "positionIdx": 0, "side": "", "size": "0"})
    with VenueThread() as ws:
        code, out = check(venue, Credentials(Secret(KEY), Secret(SECRET)), ["BTCUSDT"], ws.url)
    assert code == 0, out
    assert out[0] == "venue testnet:"
    assert [line.split(":")[0] for line in out[1:]] == [
        "  ok   clock", "  ok   instrument BTCUSDT", "  ok   keys", "  ok   account type", "  ok   position mode BTCUSDT", "  ok   public stream"]
    assert "tick 0.10, qty step 0.001, min qty 0.001, min notional 5" in out[2]


def test_problems_are_said_in_plain_words():
    venue = FakeRestVenue(now_ms=int(time.time() * 1000) + 3_000)
    venue.positions += [{"symbol": "BTCUSDT", "positionIdx": 1, "size": "0"}, {"symbol": "BTCUSDT", "positionIdx": 2, "size": "0"}]
    creds = Credentials(Secret(KEY), Secret("a-wrong-secret"))
    code, out = check(venue, creds, ["BTCUSDT", "NOPEUSDT"], "ws://127.0.0.1:9/v5/public/linear")
    text = "\n".join(out)
    assert code == 1
    assert "FAIL clock: local clock is" in text and "sync it with NTP" in text
    assert "FAIL instrument NOPEUSDT: not a linear USDT perpetual" in text
    assert "FAIL keys: the venue rejected the signature: BYBIT_API_SECRET does not belong to BYBIT_API_KEY (retCode 10004)" in text
    assert "FAIL public stream" in text
    assert "a-wrong-secret" not in text and KEY not in text

    good = Credentials(Secret(KEY), Secret(SECRET))
    code, out = check(venue, good, ["BTCUSDT"], "ws://127.0.0.1:9/v5/public/linear")
    assert "FAIL position mode BTCUSDT: hedge, but smtbot is set up for one-way" in "\n".join(out)
