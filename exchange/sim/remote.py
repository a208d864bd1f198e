"""A simulator running in another process (``run.py sim --paced``), seen through its admin
routes: the same clock interface the bot uses on an embedded ``SimServer``."""

from __future__ import annotations

import threading

import httpx


class RemoteSim:
    """``clock_ms`` / ``now_ms()`` / ``ack(B)`` / ``finished`` over loopback HTTP."""

    def __init__(self, rest_url: str, *, timeout_s: float = 5.0) -> None:
        self.rest_url = rest_url
        self._http = httpx.Client(base_url=rest_url, timeout=timeout_s)
        self._lock = threading.Lock()
        self.finished = threading.Event()
        state = self._clock()
        self.paced = bool(state["paced"])
        self.speed = state["speed"]

    def _clock(self) -> dict:
        with self._lock:
            response = self._http.get("/sim/clock")
        response.raise_for_status()
        state = response.json()
        if state.get("finished"):
            self.finished.set()
        return state

    @property
    def clock_ms(self) -> int:
        return int(self._clock()["clock_ms"])

    def now_ms(self) -> int:
        return self.clock_ms

    def ack(self, through_ms: int) -> None:
        with self._lock:
            response = self._http.post("/sim/clock/ack", json={"through_ms": int(through_ms)})
        response.raise_for_status()

    def stop(self) -> None:
        """The other process owns the simulator: only our connection closes."""
        self._http.close()
