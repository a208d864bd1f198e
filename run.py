#!/usr/bin/env python3
"""smtbot's command line: ``python run.py [--settings FILE] [COMMAND] [options]``.

Every command loads and validates the settings first; a bad file or override ends the
process with exit status 2 and one line naming the key path, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from actors.logfmt import configure_logging
from actors.startup import StartupError
from vocabulary.settings import SettingsError, load_credentials, load_settings, secret_values, summarise

EXIT_USAGE = 2

# name -> ("module:function" or None while not built yet, one-line help). Each command
# module exposes ``add_arguments(parser)`` (optional) and ``main(args, settings, credentials) -> int``.
COMMANDS: dict[str, tuple[str | None, str]] = {
    "run": ("actors.supervisor:main", "run the bot with settings.toml (default)"),
    "check": ("actors.check:main", "validate settings, keys, account mode, instruments, connectivity"),
    "backtest": ("backtest.cli:main", "replay historical klines through the same cores, write a report"),
    "tune": ("backtest.tune:main", "Optuna walk-forward tuning of [strategy]/[risk]"),
    "replay": ("backtest.replay:main", "re-run a recorded journal and prove the decisions match"),
    "download": ("backtest.download:main", "fetch historical 1m klines from Bybit REST into data/"),
    "sim": ("exchange.sim.server:main", "start the embedded Bybit V5 simulator server alone"),
    "indicators": ("indicators.csv_tool:main", "compute the Pine indicators for an OHLCV CSV"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every command with its options; with ``only``, that command's options alone: importing
    every command's module (the supervisor, the tuner, ...) costs each command ~0.3 s."""
    parser = argparse.ArgumentParser(prog="run.py", description="smtbot: a Bybit USDT-perpetual scalper (actor model).")
    parser.add_argument("--settings", default="settings.toml", metavar="FILE", help="settings file (default: settings.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (target, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text if target else f"{help_text} [not available yet]")
        if target and only in (None, name):
            module = importlib.import_module(target.split(":")[0])
            if hasattr(module, "add_arguments"):
                module.add_arguments(p)
    return parser


def command_named(argv: list[str]) -> str | None:
    """The command ``argv`` names, if it names one of ours (a typo is the whole parser's to refuse)."""
    first = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    first.add_argument("--settings")
    first.add_argument("command", nargs="?")
    try:
        named = first.parse_known_args(argv)[0].command
    except argparse.ArgumentError:
        return None  # a usage error: the whole parser says it, in its own words
    return named if named in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(command_named(argv) or "run").parse_args(argv)
    command = args.command or "run"
    target = COMMANDS[command][0]
    if target is None:
        print(f"run.py {command}: not available yet: see README", file=sys.stderr)
        return EXIT_USAGE
    path = Path(args.settings)
    try:
        text = path.read_bytes()
    except OSError as exc:
        print(f"{path}: cannot read settings: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = load_settings(text, os.environ, source=str(path))
        credentials = load_credentials(os.environ, settings.bot.venue if not settings.bot.paper else "sim")
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.bot.log_level, secret_values(settings, credentials))
    module_name, func = target.split(":")
    try:
        return int(getattr(importlib.import_module(module_name), func)(args, settings, credentials) or 0)
    except StartupError as exc:
        # Something the user can fix: one line naming the setting or file; the trace is for DEBUG.
        logging.getLogger("smtbot").debug("start-up refused", exc_info=True)
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
