"""A bot restarted against the same journal: the simulator's replay and wallet start over, so
the dashboard's routes show the new run only, and the earlier one stays selectable."""

from __future__ import annotations

import socket
import sqlite3

import httpx

from actors.supervisor import Bot
from exchange.sim.config import SimConfig
from tests.e2e.conftest import Running, settings_for

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_once(tmp_path, ticks: int) -> tuple[Running, httpx.Client]:
    settings = settings_for(tmp_path, SYMBOLS, web=True, extra=f"port = {free_port()}")
    config = SimConfig.from_settings(settings.sim, symbols=SYMBOLS, paced=True, port=0)
    running = Running(Bot(settings, None, sim_config=config))
    running.bot.start()
    running.thread.start()
    running.wait_ticks(ticks)
    return running, httpx.Client(base_url=running.bot.web_url, timeout=10)


def test_a_restart_shows_only_the_new_run_on_status_pnl_and_lists(tmp_path):
    first, web = run_once(tmp_path, 4)
    first_decisions = web.get("/decisions", params={"limit": 500}).json()["decisions"]
    web.close()
    first.stop()

    second, web = run_once(tmp_path, 2)
    try:
        status = web.get("/status").json()
        assert status["journal"]["run"]["run_id"] == 2 and status["journal"]["run"]["mode"] == "sim"
        assert status["journal"]["runs"] == 2
        pnl = web.get("/pnl").json()
        assert pnl["run"]["run_id"] == 2
        decisions = web.get("/decisions", params={"limit": 500}).json()["decisions"]
        assert decisions and all(d["run_id"] == 2 for d in decisions)
        # The simulator replayed the same minutes again: without runs, those minutes would show twice.
        db = sqlite3.connect(tmp_path / "journal.sqlite")
        starts = db.execute("SELECT run_id, min(tick_ms) FROM decisions GROUP BY run_id ORDER BY run_id").fetchall()
        assert len(starts) == 2 and starts[0][1] == starts[1][1]
        db.close()
        earlier = web.get("/decisions", params={"limit": 500, "run": 1}).json()["decisions"]
        assert earlier and all(d["run_id"] == 1 for d in earlier)
        assert earlier[0]["seq"] >= first_decisions[0]["seq"]  # run 1 went on a little after we looked
        assert web.get("/pnl", params={"run": 1}).json()["run"]["run_id"] == 1
        assert [r["run_id"] for r in web.get("/runs").json()["runs"]] == [2, 1]
        missing = web.get("/status", params={"run": 9})
        assert missing.status_code == 404 and "no run 9" in missing.json()["error"]
    finally:
        web.close()
        second.stop()
