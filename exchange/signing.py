"""Bybit V5 request signing (HMAC-SHA256), shared by the client that signs and the simulator
that verifies: one implementation, so the two can never drift apart (bybit-v5.md §1.3)."""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_RECV_WINDOW = "5000"

HEADER_API_KEY = "X-BAPI-API-KEY"
HEADER_TIMESTAMP = "X-BAPI-TIMESTAMP"
HEADER_RECV_WINDOW = "X-BAPI-RECV-WINDOW"
HEADER_SIGN = "X-BAPI-SIGN"
HEADER_SIGN_TYPE = "X-BAPI-SIGN-TYPE"


def sign(secret: str, timestamp_ms: int | str, api_key: str, recv_window: int | str, payload: str | bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``timestamp + api_key + recv_window + payload``.

    ``payload`` is exactly the query string of a GET or exactly the body bytes of a POST.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    message = f"{timestamp_ms}{api_key}{recv_window}".encode("utf-8") + payload
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def is_valid_signature(
    secret: str, timestamp_ms: str, api_key: str, recv_window: str, payload: bytes, signature: str
) -> bool:
    """Constant-time check of a received signature."""
    expected = sign(secret, timestamp_ms, api_key, recv_window, payload)
    return hmac.compare_digest(expected, signature.lower())


def sign_ws_auth(secret: str, expires_ms: int) -> str:
    """Signature of the private WebSocket ``auth`` operation: HMAC of ``GET/realtime{expires}``."""
    return hmac.new(secret.encode("utf-8"), f"GET/realtime{expires_ms}".encode("utf-8"), hashlib.sha256).hexdigest()


def is_in_time_window(timestamp_ms: int, server_ms: int, recv_window_ms: int) -> bool:
    """Bybit accepts ``server - recv_window <= timestamp < server + 1000`` (§1.4)."""
    return server_ms - recv_window_ms <= timestamp_ms < server_ms + 1000
