"""The supervisor's web endpoint: the status app, guarded, on a background uvicorn thread.

Fails closed: bound anywhere but loopback it refuses to start without a token (the
supervisor reads it once at boot with ``web.auth.token_for(host, os.environ)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from web.app import create_app
from web.auth import WebConfigError, is_loopback
from web.server import WebServer as _Server


class WebServer:
    """``start()`` binds (port 0 = any free port) and returns once uvicorn is serving."""

    def __init__(self, journal_path: str, status: Callable[[], dict[str, Any]], host: str = "127.0.0.1", port: int = 0,
                 *, token: str | None = None, secrets: Iterable[str] = (), **charts: Any) -> None:
        if token is None and not is_loopback(host):
            raise WebConfigError(f"web.host = {host!r} is not loopback and no token was given: refusing to serve the journal openly")
        # ``charts``: the chart routes' ``indicators`` (the bot's IndicatorParams) and ``tick_sizes``.
        self.app = create_app(journal_path, status, token=token, secrets=secrets, **charts)
        self.host = host
        self._server = _Server(self.app, host, port)

    @property
    def port(self) -> int | None:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def start(self, timeout_s: float = 10.0) -> WebServer:
        self._server.start(timeout_s)
        return self

    def stop(self) -> None:
        self._server.stop()
        self.app.state.reader.close()
