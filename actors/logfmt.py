"""One-line ``key=value`` logging, and the filter that keeps every secret out of it.

Configured once at boot, before any actor starts: pykka installs a NullHandler, so an
actor's crash is invisible until this runs.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=… logger=… msg="…" key=value …`` on one line; newlines escaped."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        parts = [f"ts={ts}", f"level={record.levelname}", f"logger={record.name}", f"msg={_quote(record.getMessage())}"]
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                parts.append(f"{key}={_quote(str(value))}")
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def _quote(text: str) -> str:
    if text and not any(c in text for c in ' "=\n\r\t'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


class RedactingFilter(logging.Filter):
    """Replaces every known secret value with ``***`` in the message, its args and extras.

    It rewrites the record itself, so every handler after it (file, stream, test capture)
    sees only the redacted text.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self._scrub(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED and not key.startswith("_"):
                setattr(record, key, self._scrub(str(value)))
        if record.exc_info:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: str, secrets: Iterable[str], stream=None) -> RedactingFilter:
    """Route every logger through one redacting, key=value handler on stderr.

    Redaction happens twice on purpose: a record factory scrubs every record as it is
    made (so no handler anywhere, test captures included, ever sees a secret in a
    message or traceback), and the handler's filter scrubs ``extra=`` fields, which
    logging attaches only after the factory ran.
    """
    redactor = RedactingFilter(secrets)
    base_factory = _BASE_FACTORY

    def scrubbing_factory(*args, **kwargs) -> logging.LogRecord:
        record = base_factory(*args, **kwargs)
        redactor.filter(record)
        return record

    logging.setLogRecordFactory(scrubbing_factory)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_smtbot", False):
            root.removeHandler(old)
    handler._smtbot = True  # type: ignore[attr-defined]
    # httpx logs every request at INFO: at a REST call per cycle that buries the bot's own lines.
    # A filter on our handler, not the logger's level, so other handlers still see them.
    handler.addFilter(_quiet_http_requests)
    root.addHandler(handler)
    root.setLevel(level)
    return redactor


def _quiet_http_requests(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or not record.name.startswith(("httpx", "httpcore"))


_BASE_FACTORY = logging.getLogRecordFactory()
