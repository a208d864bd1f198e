"""A bot restarted against the same journal: the simulator's replay and wallet start over, so
the dashboard's routes show the new run only, and the earlier one stays selectable."""

from __future__ import annotations

import socket

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
        # The simulator replayed the same minutes again: without runs, each would show twice.
        assert {d["tick_ms"] for d in decisions} <= {d["tick_ms"] for d in first_decisions}
        ticks = [d["tick_ms"] for d in decisions]
        assert len(ticks) == len(set(zip(ticks, (d["symbol"] for d in decisions))))
        earlier = web.get("/decisions", params={"limit": 500, "run": 1}).json()["decisions"]
        assert [d["seq"] for d in earlier[-len(first_decisions):]] == [d["seq"] for d in first_decisions]
        assert web.get("/pnl", params={"run": 1}).json()["run"]["run_id"] == 1
        assert [r["run_id"] for r in web.get("/runs").json()["runs"]] == [2, 1]
        missing = web.get("/status", params={"run": 9})
        assert missing.status_code == 404 and "no run 9" in missing.json()["error"]
    finally:
        web.close()
        second.stop()
