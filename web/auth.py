"""Who may read the dashboard: anyone on loopback, and with a token from anywhere else.

Bound to 127.0.0.1 the web needs no token (the box's own users already see the journal
file). Bound to any other address it refuses to start without ``SMTBOT_WEB_TOKEN``, and
then every route asks for it: ``Authorization: Bearer <token>`` from scripts, or HTTP
Basic with the token as password from a browser (which then sends it on every poll by
itself, so the page needs no token handling of its own).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_ENV = "SMTBOT_WEB_TOKEN"
MIN_TOKEN_LENGTH = 16

_CHALLENGE = b'Basic realm="smtbot", charset="UTF-8", Bearer realm="smtbot"'
_SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    # Everything the page needs is served from here; no inline script, no third party.
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
]


class WebConfigError(ValueError):
    """The web cannot start safely as configured."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_for(host: str, env: Mapping[str, str]) -> str | None:
    """The token the web must demand when bound to ``host``; read once at boot."""
    token = env.get(TOKEN_ENV, "")
    if is_loopback(host):
        return token or None
    if not token:
        raise WebConfigError(f"web.host = {host!r} is not loopback: set {TOKEN_ENV} (the dashboard would be open to the network)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise WebConfigError(f"{TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters")
    return token


def presented_token(authorization: str) -> str | None:
    """The token in an Authorization header, Bearer or Basic (the password part)."""
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


class Guard:
    """ASGI middleware: security headers on every response; the token check when one is set."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.token is not None and not self._allowed(scope):
            await send({"type": "websocket.close", "code": 1008})  # policy violation
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        if self.token is not None and not self._allowed(scope):
            await send_with_headers({
                "type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", _CHALLENGE)],
            })
            await send({"type": "http.response.body", "body": b'{"error":"authentication required"}'})
            return
        await self.app(scope, receive, send_with_headers)

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = presented_token(value.decode("latin-1"))
                return token is not None and hmac.compare_digest(token.encode(), self.token)
        return False
