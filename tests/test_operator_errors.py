"""Every start-up failure a user can cause, as the user meets it: the real command in a
subprocess, exit status 2, ONE line on stderr naming the setting (or file) and what to do,
no traceback, and the journal untouched (absent, or exactly as it was).

No case reaches the internet: a venue "with no route" is a closed loopback port.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.sim.config import SimConfig
from exchange.sim.server import SimServer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "klines"


def run_py(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SMTBOT__", "BYBIT_", "SMTBOT_WEB"))}
    full.update(env)
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=timeout)


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_line(result: subprocess.CompletedProcess) -> str:
    """The single line the user sees, after checking the shape every case shares."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def journal(tmp_path) -> Path:
    return tmp_path / "var" / "journal.sqlite"


@pytest.fixture
def base(journal) -> dict[str, str]:
    """A quiet start: our own journal, a simulator port the OS says is free (never 8765: another
    bot may be on it), no browser port unless a case asks for one."""
    return {"SMTBOT__JOURNAL__PATH": f'"{journal}"', "SMTBOT__WEB__ENABLED": "false", "SMTBOT__SIM__PORT": str(closed_port())}


def test_web_port_in_use_names_web_port_and_writes_nothing(base, journal):
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        line = one_line(run_py("run", env={**base, "SMTBOT__WEB__ENABLED": "true", "SMTBOT__WEB__PORT": str(port)}))
    assert line.startswith(f"web.port = {port}: 127.0.0.1:{port} is already in use") and "SMTBOT__WEB__PORT=" in line
    assert not journal.exists()


def test_simulator_port_in_use_names_sim_port_and_writes_nothing(base, journal):
    with listening_socket() as taken:
        port = taken.getsockname()[1]
        line = one_line(run_py("run", env={**base, "SMTBOT__SIM__PORT": str(port)}))
    assert line.startswith(f"sim.port = {port}: 127.0.0.1:{port} is already in use")
    assert not journal.exists()


def test_a_symbol_the_simulator_has_no_data_for_is_named_with_the_ones_it_has(base, journal):
    line = one_line(run_py("run", env={**base, "SMTBOT__BOT__SYMBOLS": '["BTCUSDT", "FOOUSDT"]'}))
    assert line.startswith("bot.symbols: FOOUSDT not in the simulator's data") and "ETHUSDT" in line
    assert not journal.exists()


def test_a_missing_sim_data_dir_is_named(base, journal, tmp_path):
    line = one_line(run_py("run", env={**base, "SMTBOT__SIM__DATA_DIR": f'"{tmp_path / "nowhere"}"'}))
    assert line.startswith("sim.data_dir = ") and "no such directory" in line
    assert not journal.exists()


def test_a_sim_data_dir_without_kline_files_is_named(base, journal, tmp_path):
    line = one_line(run_py("run", env={**base, "SMTBOT__SIM__DATA_DIR": f'"{tmp_path}"'}))
    assert line.startswith("sim.data_dir = ") and "*-1m.csv.gz" in line
    assert not journal.exists()


def test_paper_mode_with_no_route_to_the_venue_names_the_venue_and_the_address(base, journal):
    url = f"http://127.0.0.1:{closed_port()}"
    line = one_line(run_py("run", env={**base, "SMTBOT__BOT__VENUE": "mainnet", "SMTBOT__BOT__PAPER": "true",
                                       "SMTBOT__BOT__VENUE_URL": f'"{url}"'}))
    assert line.startswith("bot.venue = 'mainnet' (paper mode: public data): cannot reach " + url)
    assert not journal.exists()


def test_a_well_formed_symbol_the_venue_does_not_list_is_named(base, journal):
    # A V5 venue on loopback (the simulator) that lists BTCUSDT but has never heard of FOOUSDT.
    with SimServer(SimConfig(port=0, data_dir=str(DATA), symbols=("BTCUSDT",), paced=True)) as venue:
        line = one_line(run_py("run", env={**base, "SMTBOT__BOT__VENUE": "testnet", "SMTBOT__BOT__PAPER": "true",
                                           "SMTBOT__BOT__VENUE_URL": f'"{venue.rest_url}"',
                                           "SMTBOT__BOT__SYMBOLS": '["BTCUSDT", "FOOUSDT"]'}))
    assert line == ("bot.symbols: FOOUSDT is not a trading USDT perpetual on testnet: "
                    "check the spelling, or remove it from bot.symbols")
    assert not journal.exists()


def test_an_external_simulator_that_is_not_running_is_named(base, journal):
    line = one_line(run_py("run", env={**base, "SMTBOT__SIM__EMBEDDED": "false", "SMTBOT__SIM__PORT": str(closed_port())}))
    assert line.startswith("sim.embedded = false: no simulator answers at http://127.0.0.1:") and "run.py sim --paced" in line
    assert not journal.exists()


def test_a_second_writer_on_the_same_journal_is_refused_and_changes_nothing(base, journal):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from journal.writer import JournalWriter; w = JournalWriter(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.read(); w.close()", str(journal)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = journal.read_bytes()
        line = one_line(run_py("run", env=base))
        assert line == (f"journal.path = '{journal}': {journal} is open for writing by another smtbot process: "
                        "stop it first, or set [journal] path to another file")
        assert journal.read_bytes() == before
    finally:
        holder.communicate("", timeout=30)


def test_an_invalid_environment_override_is_named_as_the_variable(base, journal):
    line = one_line(run_py("run", env={**base, "SMTBOT__RISK__LEVERAGE": "101"}))
    assert line == "environment: SMTBOT__RISK__LEVERAGE = 101: expected int <= 100"
    line = one_line(run_py("check", env={**base, "SMTBOT__RISK__LEVRAGE": "5"}))
    assert line == "environment: SMTBOT__RISK__LEVRAGE: unknown key; did you mean SMTBOT__RISK__LEVERAGE?"
    assert not journal.exists()


@pytest.mark.parametrize("command", ["check", "run"])
def test_web_off_loopback_without_a_token_is_refused_by_check_as_by_run(base, journal, command):
    line = one_line(run_py(command, env={**base, "SMTBOT__WEB__ENABLED": "true", "SMTBOT__WEB__HOST": '"0.0.0.0"'}))
    assert "web.host = '0.0.0.0' is not loopback" in line and "SMTBOT_WEB_TOKEN" in line
    assert not journal.exists()


def test_check_names_a_symbol_the_simulator_has_no_data_for(base):
    line = one_line(run_py("check", env={**base, "SMTBOT__BOT__SYMBOLS": '["FOOUSDT"]'}))
    assert line.startswith("bot.symbols: FOOUSDT not in the simulator's data")


@pytest.mark.parametrize("content", [b"not a database at all\n", b""])
def test_replay_of_a_file_that_is_not_a_journal_is_one_line(base, tmp_path, content):
    fake = tmp_path / "notes.sqlite"
    fake.write_bytes(content)
    line = one_line(run_py("replay", "--journal", str(fake), env=base))
    assert line.startswith(f"run.py replay: {fake} ") and ("not an smtbot journal" in line or "no decisions" in line)
    assert fake.read_bytes() == content


def test_replay_without_a_journal_looks_at_the_configured_one(base, journal):
    line = one_line(run_py("replay", env=base))
    assert line == f"run.py replay: no journal at {journal} (pass --journal FILE)"


def test_a_journal_path_that_is_not_a_journal_is_named_and_left_alone(base, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my trading notes, not a database\n")
    line = one_line(run_py("run", env={**base, "SMTBOT__JOURNAL__PATH": f'"{notes}"'}))
    assert line.startswith(f"journal.path = '{notes}': {notes} is not an smtbot journal")
    assert notes.read_bytes() == b"my trading notes, not a database\n"


def test_a_journal_path_that_cannot_be_created_is_named(base):
    line = one_line(run_py("run", env={**base, "SMTBOT__JOURNAL__PATH": '"/proc/smtbot/journal.sqlite"'}))
    assert line.startswith("journal.path = '/proc/smtbot/journal.sqlite': cannot create the journal's folder or lock")


def test_check_refuses_a_journal_path_run_would_refuse(base, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a journal")
    line = one_line(run_py("check", env={**base, "SMTBOT__JOURNAL__PATH": f'"{notes}"'}))
    assert line.startswith(f"journal.path = '{notes}': {notes} is not an smtbot journal")
