"""``run.py check``: the settings (credentials masked), then the venue itself — clock offset,
instruments, keys, account and position mode, public stream — one line per check.

Whatever ``run`` would refuse at start (the web without a token off loopback, the simulator's
data) is refused here too, with the same line: a check that passes means ``run`` starts.
"""

from __future__ import annotations

import argparse
import os

from vocabulary.settings import Credentials, Secret, Settings, summarise
from actors.startup import StartupError, sim_data_error
from exchange.bybit.check import run_venue_check
from exchange.sim.config import SimConfig
from exchange.sim.server import SimServer
from journal.schema import NotAJournal, check_writable_journal
from web.auth import WebConfigError, token_for


def main(args: argparse.Namespace, settings: Settings, credentials: Credentials | None) -> int:
    if settings.web.enabled:
        try:
            token_for(settings.web.host, os.environ)
        except WebConfigError as exc:
            raise StartupError(f"{args.settings}: {exc}") from exc
    try:
        check_writable_journal(settings.journal.path)
    except NotAJournal as exc:
        raise StartupError(f"journal.path = {settings.journal.path!r}: {exc}") from exc
    print(f"settings: {args.settings} is valid")
    for line in summarise(settings, credentials):
        print(f"  {line}")
    bot = settings.bot
    if bot.venue != "sim":
        # The router switches every traded symbol to hedge mode at start (entries use positionIdx 1/2).
        signed = None if bot.paper else credentials
        base = bot.venue_url or None
        stream = f"ws{bot.venue_url.removeprefix('http')}/v5/public/linear" if bot.venue_url else None
        return run_venue_check(bot.venue, signed, bot.symbols, expected_position_mode="hedge", base_url=base, ws_public_url=stream)
    sim = settings.sim
    keys = Credentials(api_key=Secret(sim.api_key), api_secret=Secret(sim.api_secret))
    if not sim.embedded:
        url = f"http://{sim.host}:{sim.port}"
        return run_venue_check("sim", keys, bot.symbols, base_url=url, ws_public_url=f"ws://{sim.host}:{sim.port}/v5/public/linear")
    # A fresh embedded simulator starts in one-way mode; the bot switches it to hedge at start.
    # Paced and never acknowledged, its replay clock stands still while it is checked.
    config = SimConfig.from_settings(sim, symbols=bot.symbols, port=0, paced=True)
    try:
        server = SimServer(config)
    except (OSError, ValueError) as exc:
        raise sim_data_error(config.data_dir, bot.symbols, exc) from exc
    with server:
        return run_venue_check("sim", keys, bot.symbols, base_url=server.rest_url, ws_public_url=server.ws_public_url,
                               clock=lambda: server.now_ms() / 1000)
