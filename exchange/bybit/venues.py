"""Where each venue lives: REST base, public linear stream and private stream (bybit-v5.md §0.1),
including the embedded simulator, which serves all three on one loopback port."""

from __future__ import annotations

from typing import NamedTuple

REST_URLS: dict[str, str] = {
    "mainnet": "https://api.bybit.com",
    "testnet": "https://api-testnet.bybit.com",
    "demo": "https://api-demo.bybit.com",
}
WS_PUBLIC_URLS: dict[str, str] = {
    "mainnet": "wss://stream.bybit.com/v5/public/linear",
    "testnet": "wss://stream-testnet.bybit.com/v5/public/linear",
    # Demo has no public stream: its public data is mainnet's (§0.1).
    "demo": "wss://stream.bybit.com/v5/public/linear",
}
WS_PRIVATE_URLS: dict[str, str] = {
    "mainnet": "wss://stream.bybit.com/v5/private",
    "testnet": "wss://stream-testnet.bybit.com/v5/private",
    "demo": "wss://stream-demo.bybit.com/v5/private",
}


class VenueUrls(NamedTuple):
    rest: str
    ws_public: str
    ws_private: str


def venue_urls(venue: str, *, sim_host: str = "127.0.0.1", sim_port: int = 8765) -> VenueUrls:
    """The three addresses of ``venue`` (``sim``, ``testnet``, ``demo`` or ``mainnet``)."""
    if venue == "sim":
        return VenueUrls(f"http://{sim_host}:{sim_port}", f"ws://{sim_host}:{sim_port}/v5/public/linear",
                         f"ws://{sim_host}:{sim_port}/v5/private")
    if venue not in REST_URLS:
        raise ValueError(f"unknown venue {venue!r}: expected sim, testnet, demo or mainnet")
    return VenueUrls(REST_URLS[venue], WS_PUBLIC_URLS[venue], WS_PRIVATE_URLS[venue])
