"""Bybit client hot paths: public kline frames decoded into ``Kline`` messages per second
(msgspec, as the stream does it, against ``json.loads`` + dict access, same frames, same run),
and the cost of building, encoding and signing one REST request.

Run: python bench/ws_parse.py   (prints a table; the last line is one JSON object)
"""

from __future__ import annotations

import json
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vocabulary.messages import Kline, OrderIntent  # noqa: E402
from exchange.bybit.models import PUBLIC_FRAME_DECODER, kline_from_ws  # noqa: E402
from exchange.bybit.orders import order_request  # noqa: E402
from exchange.bybit.wire import encode_body, query_string  # noqa: E402
from exchange.signing import sign  # noqa: E402

FRAMES = 5_000
ROUNDS = 5
TARGET_FRAMES_PER_S = 300_000
TARGET_RATIO = 3.0


def make_frames(n: int) -> list[bytes]:
    """Realistic kline pushes: 25 symbols x 4 intervals, varied prices, mostly in-progress bars."""
    rng = random.Random(7)
    symbols = [f"SYM{i:02d}USDT" for i in range(25)]
    frames = []
    for i in range(n):
        symbol, interval = symbols[i % 25], (1, 3, 5, 15)[i % 4]
        start = 1_700_000_000_000 + (i // 100) * interval * 60_000
        o = round(rng.uniform(0.05, 90_000), 4)
        h, lo = round(o * 1.002, 4), round(o * 0.998, 4)
        c = round(rng.uniform(lo, h), 4)
        frames.append(json.dumps({
            "topic": f"kline.{interval}.{symbol}", "type": "snapshot", "ts": start + 1234,
            "data": [{"start": start, "end": start + interval * 60_000 - 1, "interval": str(interval),
                      "open": str(o), "close": str(c), "high": str(h), "low": str(lo),
                      "volume": f"{rng.uniform(0, 500):.3f}", "turnover": f"{rng.uniform(0, 5e7):.4f}",
                      "confirm": i % 20 == 0, "timestamp": start + 1200}],
        }, separators=(",", ":")).encode())
    return frames


def decode_msgspec(frames: list[bytes]) -> list[Kline]:
    decode = PUBLIC_FRAME_DECODER.decode  # the stream's own decoder
    out = []
    for raw in frames:
        frame = decode(raw)
        _, interval, symbol = frame.topic.split(".")
        for item in frame.data:
            out.append(kline_from_ws(symbol, int(interval), item))
    return out


def decode_stdlib(frames: list[bytes]) -> list[Kline]:
    out = []
    for raw in frames:
        frame = json.loads(raw)
        _, interval, symbol = frame["topic"].split(".")
        for item in frame["data"]:
            out.append(Kline(symbol=symbol, interval=int(interval), start_ms=item["start"], open=float(item["open"]),
                             high=float(item["high"]), low=float(item["low"]), close=float(item["close"]),
                             volume=float(item["volume"]), turnover=float(item["turnover"]) if item["turnover"] else None,
                             confirmed=item["confirm"]))
    return out


def best_rate(fn, frames: list[bytes]) -> float:
    best = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn(frames)
        best = max(best, len(frames) / (time.perf_counter() - started))
    return best


def per_call_us(fn, n: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def main() -> None:
    frames = make_frames(FRAMES)
    fast, slow = decode_msgspec(frames), decode_stdlib(frames)
    assert fast == slow, "the two decoders disagree"  # same input, same messages: a fair race
    msgspec_rate = best_rate(decode_msgspec, frames)
    stdlib_rate = best_rate(decode_stdlib, frames)

    intent = OrderIntent(action="create", symbol="BTCUSDT", order_link_id="smt-BTC-1700000060-e1", side="Buy",
                         qty=Decimal("0.010"), price=Decimal("37000.00"), stop_loss=Decimal("36800.00"))
    params, _ = order_request(intent, "MarkPrice")

    def build_encode_sign() -> str:
        body, _ = order_request(intent, "MarkPrice")
        return sign("bench-secret", 1700000000000, "bench-key", "5000", encode_body(body))

    def post_msgspec() -> str:
        return sign("bench-secret", 1700000000000, "bench-key", "5000", encode_body(params))

    def post_stdlib() -> str:
        return sign("bench-secret", 1700000000000, "bench-key", "5000", json.dumps(params, separators=(",", ":")))

    def get_signed() -> str:
        return sign("bench-secret", 1700000000000, "bench-key", "5000",
                    query_string({"category": "linear", "symbol": "BTCUSDT", "openOnly": 0, "limit": 50}))

    figures: dict[str, float] = {
        "kline_frames_per_s_msgspec": round(msgspec_rate),
        "kline_frames_per_s_stdlib": round(stdlib_rate),
        "msgspec_vs_stdlib_ratio": round(msgspec_rate / stdlib_rate, 2),
        "create_build_encode_sign_us": round(per_call_us(build_encode_sign, 20_000), 2),
        "create_encode_sign_us_msgspec": round(per_call_us(post_msgspec, 20_000), 2),
        "create_encode_sign_us_stdlib": round(per_call_us(post_stdlib, 20_000), 2),
        "get_query_sign_us": round(per_call_us(get_signed, 20_000), 2),
        "frames": FRAMES,
    }
    rows = [
        ("kline frames -> Kline, msgspec", f"{figures['kline_frames_per_s_msgspec']:,} /s", f">= {TARGET_FRAMES_PER_S:,} /s",
         f"{figures['msgspec_vs_stdlib_ratio']:.1f}x stdlib (target >= {TARGET_RATIO:g}x)"),
        ("kline frames -> Kline, json.loads + dict", f"{figures['kline_frames_per_s_stdlib']:,} /s", "", "peer"),
        ("create: build + encode + sign", f"{figures['create_build_encode_sign_us']:.2f} µs", "", ""),
        ("create: encode + sign, msgspec", f"{figures['create_encode_sign_us_msgspec']:.2f} µs", "",
         f"json.dumps + sign {figures['create_encode_sign_us_stdlib']:.2f} µs"),
        ("GET: query string + sign", f"{figures['get_query_sign_us']:.2f} µs", "", ""),
    ]
    header = ("what", "figure", "target", "peer")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    for r in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
