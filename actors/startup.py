"""Start-up failures a user can cause, each said in one line that names the setting (or file)
and what to do. The supervisor and ``run.py check`` raise ``StartupError`` with these; run.py
prints the line and exits 2, and the traceback goes to the log at DEBUG only.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from pathlib import Path


class StartupError(Exception):
    """A user-caused start-up failure, already phrased as one line."""


def check_port_free(setting: str, host: str, port: int) -> None:
    """Bind and release ``host:port`` (as the server will, with SO_REUSEADDR) before anything is
    written; port 0 (any free port) always passes."""
    if port == 0:
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        raise port_error(setting, host, port, exc) from exc
    finally:
        sock.close()


def port_error(setting: str, host: str, port: int, exc: OSError) -> StartupError:
    section, _, key = setting.partition(".")
    env = f"SMTBOT__{section.upper()}__{key.upper()}"
    if exc.errno == errno.EADDRINUSE:
        return StartupError(f"{setting} = {port}: {host}:{port} is already in use (another smtbot or program): "
                            f"stop it, or choose another port ({env}={port + 1})")
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES, -2, -3):
        return StartupError(f"{setting} = {port}: cannot listen on {host}:{port} ({exc.strerror}): "
                            f"check {section}.host and {setting}")
    return StartupError(f"{setting} = {port}: cannot listen on {host}:{port}: {exc.strerror or exc}")


def sim_data_error(data_dir: str, symbols: Iterable[str], exc: Exception) -> StartupError:
    """The embedded simulator could not load its market from ``[sim] data_dir``."""
    where = Path(data_dir)
    have = sorted(f.name.removesuffix("-1m.csv.gz") for f in where.glob("*-1m.csv.gz")) if where.is_dir() else []
    if not where.is_dir():
        return StartupError(f"sim.data_dir = {data_dir!r}: no such directory: point it at the shipped data/klines "
                            "or a `run.py download` folder")
    if not (where / "instruments-bybit-linear.csv").is_file() or not have:
        return StartupError(f"sim.data_dir = {data_dir!r}: no instruments-bybit-linear.csv and *-1m.csv.gz kline files there: "
                            "point it at the shipped data/klines or a `run.py download` folder")
    missing = [s for s in symbols if s not in have]
    if missing:
        return StartupError(f"bot.symbols: {', '.join(missing)} not in the simulator's data ({data_dir} has "
                            f"{', '.join(have)}): remove it from bot.symbols, or `run.py download` it")
    return StartupError(f"sim.data_dir = {data_dir!r}: the kline files cannot be read ({type(exc).__name__}: {exc})")


def unknown_symbols_error(missing: Iterable[str], venue: str) -> StartupError:
    names = ", ".join(sorted(missing))
    return StartupError(f"bot.symbols: {names} is not a trading USDT perpetual on {venue}: "
                        "check the spelling, or remove it from bot.symbols")


def unreachable_error(venue: str, url: str, exc: Exception, *, paper: bool) -> StartupError:
    what = f"bot.venue = {venue!r}" + (" (paper mode: public data)" if paper else "")
    return StartupError(f"{what}: cannot reach {url} ({_short(exc)}): check the network or proxy, "
                        "or set bot.venue_url to a V5 endpoint you can reach")


def remote_sim_error(url: str, exc: Exception) -> StartupError:
    return StartupError(f"sim.embedded = false: no simulator answers at {url} ({_short(exc)}): start one with "
                        "`python run.py sim --paced`, or set sim.embedded = true")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:160]
