"""The simulator's own configuration: plain data, so the venue never imports the bot's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

import msgspec

from exchange.sim.costs import NO_COSTS, Costs

IntrabarPath = Literal["direction", "OHLC", "OLHC"]


class SimConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that shapes one simulator run.

    ``speed``: "realtime" (one replayed minute per wall minute), a multiplier (60 = one minute
    per second) or "max" (as fast as possible; with ``paced`` the server waits for ``ack``).
    ``intrabar_path``: "direction" walks O→L→H→C on up bars (close ≥ open) and O→H→L→C on
    down bars; "OHLC"/"OLHC" force one path. A resting limit fills only once the path trades
    ``fill_through_ticks`` ticks beyond its price. ``costs`` is what the venue charges beyond
    its fee rates (spread, stop slippage, funding, partial fills: ``exchange.sim.costs``);
    ``funding_csv`` names a file of historical funding rates ("" = the constant rate).
    ``answer_latency_ms`` delays every REST answer
    and every WS op answer (auth, subscribe, pong): a venue is never instantaneous, and SDKs are
    written against one that is not (pybit 5.17 records a subscribe's req_id only after sending
    it); 0 is allowed for benches.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    speed: Union[Literal["realtime", "max"], float] = "max"
    paced: bool = False
    data_dir: str = "data/klines"
    kline_cache_dir: str = ""  # the parsed kline files kept here (exchange.sim.kline_cache); "" = parse every run
    symbols: tuple[str, ...] = ()
    loop: bool = False
    warmup_minutes: int = 6000
    api_key: str = "smtbot-sim-key"
    api_secret: str = "smtbot-sim-secret"
    initial_equity: float = 10_000.0
    maker_fee: float = 0.0002
    taker_fee: float = 0.00055
    default_leverage: int = 10
    maintenance_margin_rate: float = 0.005
    intrabar_path: IntrabarPath = "direction"
    fill_through_ticks: int = 1
    sl_before_tp: bool = True
    close_delay_ms: int = 50
    idle_timeout_s: float = 600.0
    rate_limits: bool = True
    order_id_seed: int = 0
    costs: Costs = NO_COSTS  # the bare core is frictionless; [sim] settings switch the costs on
    funding_csv: str = ""
    answer_latency_ms: float = 3.0

    @property
    def kline_cache(self) -> Path | None:
        """Where the parsed kline files are kept, or None for no cache."""
        return Path(self.kline_cache_dir) if self.kline_cache_dir else None

    @classmethod
    def from_settings(cls, sim: Any, **overrides: Any) -> "SimConfig":
        """Map the bot's ``[sim]`` section (read by attribute, never imported) onto a SimConfig."""
        fields = ("host", "port", "speed", "data_dir", "kline_cache_dir", "loop", "api_key", "api_secret",
                  "initial_equity", "maker_fee", "taker_fee", "answer_latency_ms")
        values = {name: getattr(sim, name) for name in fields if hasattr(sim, name)}
        costs = {name: getattr(sim, name) for name in Costs.__struct_fields__ if hasattr(sim, name)}
        if costs:
            values["costs"] = costs
        if hasattr(sim, "funding_csv"):
            values["funding_csv"] = sim.funding_csv
        values.update(overrides)
        return msgspec.convert(values, cls)
