"""Typed settings: ``settings.toml`` (plus ``SMTBOT__SECTION__KEY`` overrides) decoded into
frozen Structs once at boot, validated with errors that name the file, the key path and the
bad value. Nothing reads the file or the environment after this.

This module is pure: callers hand it the file's bytes and the environment mapping.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta

ENV_PREFIX = "SMTBOT__"

Venue = Literal["sim", "testnet", "demo", "mainnet"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Symbol = Annotated[str, Meta(pattern=r"^[A-Z0-9]{2,20}USDT$")]
Timeframe = Literal[1, 3, 5, 15]
Port = Annotated[int, Meta(ge=1, le=65535)]
Positive = Annotated[float, Meta(gt=0)]
NonNegative = Annotated[float, Meta(ge=0)]
Fraction = Annotated[float, Meta(ge=0, le=1)]
Count = Annotated[int, Meta(ge=1)]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class BotSettings(_Section, frozen=True):
    venue: Venue = "sim"
    paper: bool = False
    symbols: Annotated[tuple[Symbol, ...], Meta(min_length=1, max_length=500)] = (
        "BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT",
    )
    timeframes: Annotated[tuple[Timeframe, ...], Meta(min_length=1)] = (1, 3, 5, 15)
    log_level: LogLevel = "INFO"
    bootstrap_bars: Annotated[int, Meta(ge=50, le=1000)] = 400
    tick_grace_ms: Annotated[int, Meta(ge=0, le=60_000)] = 2_000
    heartbeat_timeout_ms: Annotated[int, Meta(ge=1_000, le=600_000)] = 90_000
    decide_grace_ms: Annotated[int, Meta(ge=100, le=60_000)] = 5_000
    venue_url: Annotated[str, Meta(pattern=r"^(https?://[^\s/]+)?$")] = ""
    summary_minutes: Annotated[int, Meta(ge=0, le=1440)] = 5

    def __post_init__(self) -> None:
        if 1 not in self.timeframes:
            raise ValueError("timeframes: must include 1 (every tick is a closed 1m bar)")
        if len(set(self.timeframes)) != len(self.timeframes):
            raise ValueError("timeframes: must not repeat a timeframe")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols: must not repeat a symbol")


class SimSettings(_Section, frozen=True):
    embedded: bool = True
    host: str = "127.0.0.1"
    port: Port = 8765
    speed: Union[Literal["realtime", "max"], Positive] = "max"
    data_dir: str = "data/klines"
    kline_cache_dir: str = "var/kline-cache"
    loop: bool = False
    api_key: str = "smtbot-sim-key"
    api_secret: str = "smtbot-sim-secret"
    initial_equity: Positive = 10_000.0
    maker_fee: NonNegative = 0.0002
    taker_fee: NonNegative = 0.00055
    stop_slippage: bool = True
    stop_slippage_bps: Annotated[float, Meta(ge=0, le=500)] = 2.0
    spread: bool = True
    spread_bps: Annotated[float, Meta(ge=0, le=500)] = 0.0
    funding: bool = True
    funding_rate: Annotated[float, Meta(ge=-0.01, le=0.01)] = 0.0001
    funding_csv: str = ""
    partial_fills: bool = True
    touch_fill_fraction: Annotated[float, Meta(gt=0, le=1)] = 0.5
    answer_latency_ms: NonNegative = 3.0


class StrategySettings(_Section, frozen=True):
    wt_channel: Count = 9
    wt_average: Count = 12
    wt_ma: Count = 3
    wt_oversold: float = -53.0
    wt_overbought: float = 53.0
    ha_flip_window: Count = 3
    pre_cross_gap: Positive = 5.0
    pre_cross_bars: Count = 2
    ha_streak_min: Count = 3
    score_min: float = 1.0
    base_cross_based: float = 1.0
    base_pre_cross: float = 0.6
    base_ha_reversal: float = 0.4
    weight_3m: float = 0.15
    weight_5m: float = 0.2
    weight_15m: float = 0.25
    weight_bias: float = 0.3
    swing_lookback: Count = 10
    stop_buffer_bps: Annotated[float, Meta(ge=0, le=500)] = 1.0
    entry_offset_bps: Annotated[float, Meta(ge=0, le=500)] = 0.5
    rr: Positive = 1.5
    be_trigger_r: Positive = 1.0
    entry_ttl_bars: Count = 3
    max_stop_pct: Annotated[float, Meta(gt=0, le=0.2)] = 0.02
    close_slippage_pct: Annotated[float, Meta(gt=0, le=0.05)] = 0.005
    min_net_rr: Positive = 1.0

    def __post_init__(self) -> None:
        if not self.wt_oversold < 0 < self.wt_overbought:
            raise ValueError("wt_oversold: must be below 0, and wt_overbought above 0")
        # Every entry path must be able to fire and pass (strategy/paths.py, strategy/scoring.py).
        if self.wt_ma < 2:
            raise ValueError("wt_ma: must be at least 2: with wt2 = sma(wt1, 1) = wt1 the lines never cross "
                             "or converge, so cross_based and pre_cross could never fire")
        best = 5 * (abs(self.weight_3m) + abs(self.weight_5m) + abs(self.weight_15m)) + abs(self.weight_bias)
        for path in ("cross_based", "pre_cross", "ha_reversal"):
            base = getattr(self, f"base_{path}")
            if base + best < self.score_min:
                raise ValueError(f"score_min: {self.score_min} is out of reach of {path}: its base {base} plus "
                                 f"every factor agreeing ({best:g}) stays below it")
        if self.min_net_rr > self.rr:
            raise ValueError(f"min_net_rr: {self.min_net_rr} is above rr {self.rr}: targets are set at rr R net of "
                             "fees, so every candidate would be rejected")


class RiskSettings(_Section, frozen=True):
    leverage: Annotated[int, Meta(ge=1, le=100)] = 10
    risk_per_trade: Positive = 10.0
    risk_mode: Literal["usdt", "pct"] = "usdt"
    max_positions: Annotated[int, Meta(ge=1, le=100)] = 3
    cooldown_bars: Annotated[int, Meta(ge=0)] = 5
    daily_loss_limit: Positive = 100.0
    maker_fee: Annotated[float, Meta(ge=-0.001, le=0.01)] = 0.0002
    taker_fee: Annotated[float, Meta(ge=0, le=0.01)] = 0.00055
    slippage_bps: Annotated[float, Meta(ge=0, le=500)] = 2.0
    min_stop_cost_multiple: Annotated[float, Meta(ge=1, le=50)] = 2.0
    min_stop_atr: Annotated[float, Meta(ge=0, le=50)] = 1.5
    atr_bars: Annotated[int, Meta(ge=1, le=16)] = 14
    stop_floor: Literal["widen", "reject"] = "widen"
    # The spread a stop fill pays half of, in whole ticks (strategy/costs.py), as [sim] spread_bps
    # models it: 0 is a one-tick book, whose half spread against the taker is a whole tick.
    spread_bps: Annotated[float, Meta(ge=0, le=500)] = 0.0

    def round_trip(self) -> float:
        """The fallback round-trip cost as a fraction of price: maker entry + taker stop + slippage
        allowance. A lower bound: the allowance of a symbol rounds up to its whole ticks."""
        return self.maker_fee + self.taker_fee + (self.slippage_bps + self.spread_bps / 2) / 10_000


class JournalSettings(_Section, frozen=True):
    path: str = "var/journal.sqlite"


class WebSettings(_Section, frozen=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    enabled: bool = True


# ``run.py tune``'s search space: "section.key" -> (low, high). The keys are free (any number
# setting of [strategy] or [risk]), so [tune] is a table, not a Struct: an --overlay (which
# becomes SMTBOT__TUNE__STRATEGY.RR) replaces one range of the file's [tune] and keeps the rest.
# These defaults apply only to a file with no [tune] at all.
Bound = Union[int, float]
TuneRanges = dict[str, tuple[Bound, Bound]]
TUNED_SECTIONS = ("strategy", "risk")

DEFAULT_TUNE_RANGES: TuneRanges = {
    "strategy.score_min": (0.6, 2.0),
    "strategy.rr": (1.0, 3.0),
    "strategy.wt_oversold": (-75.0, -35.0),
    "strategy.wt_overbought": (35.0, 75.0),
    "strategy.weight_bias": (0.0, 0.6),
    "strategy.be_trigger_r": (0.5, 2.0),
    "strategy.swing_lookback": (5, 20),
    "strategy.stop_buffer_bps": (0.0, 5.0),
    "strategy.entry_offset_bps": (0.0, 3.0),
    "strategy.entry_ttl_bars": (1, 6),
    "risk.cooldown_bars": (0, 15),
    "risk.min_stop_cost_multiple": (1.0, 4.0),
}


class WalkForwardSettings(_Section, frozen=True):
    """``run.py tune``'s plan, written as plain keys of ``[tune]`` beside its ranges."""

    holdout_days: NonNegative = 0.0
    holdout_fraction: Annotated[float, Meta(gt=0, lt=1)] = 0.2
    embargo_minutes: Annotated[int, Meta(ge=0, le=100_000)] = 60


class Settings(_Section, frozen=True):
    bot: BotSettings = BotSettings()
    sim: SimSettings = SimSettings()
    strategy: StrategySettings = StrategySettings()
    risk: RiskSettings = RiskSettings()
    journal: JournalSettings = JournalSettings()
    web: WebSettings = WebSettings()
    tune: TuneRanges = msgspec.field(default_factory=lambda: dict(DEFAULT_TUNE_RANGES))
    walkforward: WalkForwardSettings = WalkForwardSettings()  # the plain keys of [tune]

    def __post_init__(self) -> None:
        # The cost floor may not sit beyond the widest stop allowed, or every candidate is rejected.
        floor = self.risk.min_stop_cost_multiple * self.risk.round_trip()
        if floor >= self.strategy.max_stop_pct:
            raise ValueError(f"risk: min_stop_cost_multiple x round trip ({floor:.6f} of price) is at or above "
                             f"strategy.max_stop_pct {self.strategy.max_stop_pct}: no stop could be placed")
        # Backtests and the simulator slip every stop by at least [sim] stop_slippage_bps: an
        # allowance below it would size every simulated stop-out beyond risk_per_trade.
        if self.sim.stop_slippage and self.risk.slippage_bps < self.sim.stop_slippage_bps:
            raise ValueError(f"risk: slippage_bps {self.risk.slippage_bps} is below sim.stop_slippage_bps "
                             f"{self.sim.stop_slippage_bps}: a simulated stop-out would cost more than risk_per_trade")
        # ... and charges every taker half its spread: rounded up to whole ticks in both, so a wider
        # assumed spread charges at least as many ticks (and 0, one tick, is the narrowest).
        if self.sim.spread and self.risk.spread_bps < self.sim.spread_bps:
            raise ValueError(f"risk: spread_bps {self.risk.spread_bps} is below sim.spread_bps "
                             f"{self.sim.spread_bps}: a simulated stop-out would cost more than risk_per_trade")


# [tune]'s keys that are settings of the plan rather than ranges of the search space.
WALKFORWARD_KEYS = tuple(WalkForwardSettings.__struct_fields__)


class Secret:
    """A credential: shows as ``***`` in repr, str, f-strings and JSON; ``reveal()`` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not serialised")


def secret_enc_hook(obj: Any) -> Any:
    """msgspec ``enc_hook`` that writes any Secret as ``***``."""
    if isinstance(obj, Secret):
        return "***"
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


class Credentials(msgspec.Struct, frozen=True):
    api_key: Secret
    api_secret: Secret


class SettingsError(Exception):
    """A settings problem, already phrased for a one-line message."""

    def __init__(self, source: str, key_path: str, message: str) -> None:
        self.source = source
        self.key_path = key_path
        super().__init__(f"{source}: {key_path}: {message}" if key_path else f"{source}: {message}")


def load_settings(text: bytes | str, env: Mapping[str, str], source: str = "settings.toml") -> Settings:
    """Decode and validate settings from the file's text and the environment's overrides."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SettingsError(source, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(source, "", f"TOML syntax error: {exc}") from None
    overridden: dict[tuple[str, str], str] = {}
    for name, value in sorted(env.items()):
        if name.startswith(ENV_PREFIX):
            _apply_override(raw, name, value)
            section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
            overridden[(section, key)] = name
    try:
        if "walkforward" in raw:
            raise SettingsError(source, "walkforward", f"unknown key; write {', '.join(WALKFORWARD_KEYS)} under [tune]")
        tune = raw.get("tune")
        if isinstance(tune, dict) and any(k in tune for k in WALKFORWARD_KEYS):
            raw["tune"] = {k: v for k, v in tune.items() if k not in WALKFORWARD_KEYS}
            raw["walkforward"] = {k: v for k, v in tune.items() if k in WALKFORWARD_KEYS}
            if not raw["tune"]:
                del raw["tune"]  # plan keys only (or an override of one): the default space stays
        _check_keys(raw, Settings, (), source)
        # [tune] is checked against the loaded [strategy]/[risk], so it is decoded after them.
        ranges = raw.pop("tune", DEFAULT_TUNE_RANGES)
        try:
            settings = msgspec.convert(raw, Settings, strict=True)
        except msgspec.ValidationError as exc:
            error = _phrase(exc, raw, source)
            if error.key_path.startswith("walkforward."):
                error = SettingsError(source, "tune." + error.key_path.removeprefix("walkforward."), str(error).rpartition(": ")[2])
            raise error from None
        return msgspec.structs.replace(settings, tune=_tune_ranges(ranges, settings, source))
    except SettingsError as exc:
        raise _named_as_override(exc, overridden) from None


def _named_as_override(exc: SettingsError, overridden: dict[tuple[str, str], str]) -> SettingsError:
    """A problem in a value that came from ``SMTBOT__SECTION__KEY`` names that variable, not the file."""
    if not exc.key_path:
        return exc
    path, sep, shown = exc.key_path.partition(" = ")
    parts = path.split(".")
    name = overridden.get((parts[0], parts[1])) if len(parts) >= 2 else None
    if name is None and len(parts) == 1:
        name = next((n for (section, _), n in overridden.items() if section == parts[0]), None)
    if name is None:
        return exc
    message = str(exc).removeprefix(f"{exc.source}: {exc.key_path}: ")
    for key in re.findall(r"'([a-z_]+\.[a-z_0-9]+)'", message):  # a did-you-mean names the variable to set
        message = message.replace(f"'{key}'", ENV_PREFIX + key.upper().replace(".", "__"))
    where = ".".join(parts[2:])
    return SettingsError("environment", f"{name}{'[' + where + ']' if where else ''}{sep}{shown}", message)


def _tune_ranges(raw: Any, settings: Settings, source: str) -> TuneRanges:
    """Each range names a number setting of [strategy] or [risk]; both its bounds are values that
    setting accepts (given the rest of the loaded section), so the sampler never leaves the space
    settings validation allows one parameter at a time."""
    if not isinstance(raw, dict):
        raise SettingsError(source, f"tune = {raw!r}", 'expected a table of "section.key" = [low, high]')
    ranges: TuneRanges = {}
    for key, value in raw.items():
        where = f"tune.{key}"
        kind = TUNABLE_SETTINGS.get(key)
        if kind is None:
            raise SettingsError(source, where, _unknown_range(key, value))
        shown = f"{where} = {value!r}"
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) for v in value)):
            raise SettingsError(source, shown, "expected [low, high], two numbers")
        low, high = value
        if not all(math.isfinite(v) for v in value):
            raise SettingsError(source, shown, "bounds must be finite")
        if not low < high:
            raise SettingsError(source, shown, "low must be below high")
        if kind is int and not all(isinstance(v, int) for v in value):
            raise SettingsError(source, shown, f"{key} is an int: both bounds must be integers")
        section, name = key.split(".")
        values = msgspec.to_builtins(getattr(settings, section))
        for which, bound in (("low", low), ("high", high)):
            try:
                msgspec.convert({**values, name: bound}, _section_type(section), strict=True)
            except msgspec.ValidationError as exc:
                reason = _humane(_PATH.sub("", str(exc)).removeprefix(f"{name}: "))
                raise SettingsError(source, shown, f"{which} {bound!r} is not a valid {key}: {reason}") from None
        ranges[key] = (low, high) if kind is int else (float(low), float(high))
    return ranges


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unknown_range(key: str, value: Any) -> str:
    if isinstance(value, dict) and key in TUNED_SECTIONS:
        # An unquoted strategy.rr = [...] under [tune] is TOML's nested table, not a range.
        return f'write each range with its key in quotes: "{key}.{next(iter(value), "KEY")}" = [low, high]'
    section, _, name = key.partition(".")
    if section in TUNED_SECTIONS and name in _section_type(section).__struct_fields__:
        return f"{key} is not a number setting: only int and float settings of [strategy] or [risk] are tuned"
    # Else the nearest key, or the key of the nearest setting name ("rr", "bot.leverage").
    by_name = {k.partition(".")[2]: k for k in TUNABLE_SETTINGS}
    plan_key = difflib.get_close_matches(key, WALKFORWARD_KEYS, n=1)
    if plan_key and "." not in key:
        return f"unknown key; did you mean 'tune.{plan_key[0]}'?"
    close = difflib.get_close_matches(key, TUNABLE_SETTINGS, n=1) or [
        by_name[n] for n in difflib.get_close_matches(key.rpartition(".")[2], by_name, n=1)]
    if close:
        return f"unknown key; did you mean 'tune.{close[0]}'?"
    return f"unknown key; a range names a number setting of [strategy] or [risk]: {', '.join(TUNABLE_SETTINGS)}"


def load_credentials(env: Mapping[str, str], venue: str) -> Credentials | None:
    """API keys come only from the environment, and only live venues need them."""
    key, secret = env.get("BYBIT_API_KEY", ""), env.get("BYBIT_API_SECRET", "")
    if not key or not secret:
        if venue == "sim":
            return None
        missing = [n for n, v in (("BYBIT_API_KEY", key), ("BYBIT_API_SECRET", secret)) if not v]
        raise SettingsError("environment", " and ".join(missing), f"required for venue {venue!r} (the keys are never read from settings.toml)")
    return Credentials(Secret(key), Secret(secret))


def summarise(settings: Settings, credentials: Credentials | None) -> list[str]:
    """Readable ``section.key = value`` lines for ``run.py check``; credentials masked."""
    lines: list[str] = []
    for section in Settings.__struct_fields__:
        values = getattr(settings, section)
        if section == "tune":
            lines += [f"tune.{key} = [{low}, {high}]" for key, (low, high) in sorted(settings.tune.items())]
            continue
        if section == "walkforward":  # written under [tune]
            lines += [f"tune.{key} = {_show(getattr(values, key))}" for key in WALKFORWARD_KEYS]
            continue
        for key in type(values).__struct_fields__:
            value = getattr(values, key)
            if section == "sim" and key in ("api_key", "api_secret"):
                value = "***"
            lines.append(f"{section}.{key} = {_show(value)}")
    if credentials is None:
        lines.append("credentials = none (not needed for the simulator)")
    else:
        lines.append(f"credentials = BYBIT_API_KEY {credentials.api_key}, BYBIT_API_SECRET {credentials.api_secret}")
    return lines


def secret_values(settings: Settings, credentials: Credentials | None) -> list[str]:
    """Every string the log redaction filter must never let through."""
    values = [settings.sim.api_key, settings.sim.api_secret]
    if credentials is not None:
        values += [credentials.api_key.reveal(), credentials.api_secret.reveal()]
    return [v for v in values if v]


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return repr(value) if isinstance(value, str) else str(value)


def _apply_override(raw: dict[str, Any], name: str, value: str) -> None:
    parts = name[len(ENV_PREFIX):].lower().split("__")
    if len(parts) != 2 or not all(parts):
        raise SettingsError("environment", name, "expected SMTBOT__SECTION__KEY")
    section, key = parts
    table = raw.setdefault(section, {})
    if not isinstance(table, dict):
        raise SettingsError("environment", name, f"[{section}] is not a table")
    table[key] = _parse_env_value(value)


def _parse_env_value(value: str) -> Any:
    # Typed the way TOML types it (5, 0.5, true, ["A", "B"]); anything else is a plain string.
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _check_keys(raw: Any, struct: type, path: tuple[str, ...], source: str) -> None:
    if not isinstance(raw, dict):
        return
    hints = _hints(struct)
    fields = struct.__struct_fields__
    for key, value in raw.items():
        if key not in fields:
            where = ".".join((*path, key))
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {'.'.join((*path, close[0]))!r}?" if close else f"; known keys: {', '.join(fields)}"
            raise SettingsError(source, where, f"unknown key{hint}")
        sub = _struct_type(hints[key])
        if sub is not None:
            _check_keys(value, sub, (*path, key), source)


def _struct_type(hint: Any) -> type | None:
    hint = _strip(hint)
    return hint if isinstance(hint, type) and issubclass(hint, msgspec.Struct) else None


_PATH = re.compile(r" - at `\$((?:\.\w+|\[\d+\])*)`$")


def _phrase(exc: msgspec.ValidationError, raw: dict[str, Any], source: str) -> SettingsError:
    text = str(exc)
    match = _PATH.search(text)
    if not match:
        return SettingsError(source, "", text)
    message = text[: match.start()]
    dotted = match.group(1).lstrip(".").replace("[", ".").replace("]", "")
    # __post_init__ checks name their field as "field: message".
    own = re.match(r"^(\w+): (.*)$", message)
    if own:
        dotted, message = f"{dotted}.{own.group(1)}", own.group(2)
    if message.startswith("Invalid enum value"):
        allowed = _allowed(dotted.split("."))
        if allowed:
            message = f"must be one of {', '.join(repr(a) for a in allowed)}"
    value = _lookup(raw, dotted.split(".")) if dotted else None
    shown = f" = {value!r}" if value is not _MISSING else ""
    return SettingsError(source, f"{dotted}{shown}", _humane(message))


_MISSING = object()


def _allowed(parts: list[str]) -> tuple[Any, ...]:
    """The values a Literal-typed setting accepts, found by walking the Struct types."""
    hint: Any = Settings
    for part in parts:
        hint = _strip(hint)
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
            hint = _hints(hint).get(part)
        elif get_origin(hint) is tuple and part.isdigit():
            hint = get_args(hint)[0]
        else:
            return ()
    hint = _strip(hint)
    if get_origin(hint) is Union:
        hint = next((h for h in get_args(hint) if get_origin(h) is Literal), hint)
    return get_args(hint) if get_origin(hint) is Literal else ()


def _strip(hint: Any) -> Any:
    while get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    return hint


def _lookup(raw: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(raw, dict) and part in raw:
            raw = raw[part]
        elif isinstance(raw, list) and part.isdigit() and int(part) < len(raw):
            raw = raw[int(part)]
        else:
            return _MISSING
    return raw


def _humane(message: str) -> str:
    message = message.replace("Expected `", "expected ").replace("`", "")
    return message[0].lower() + message[1:] if message else message


@functools.cache
def _hints(struct: type) -> dict[str, Any]:
    """A settings struct's field types, annotations kept: resolved once (each resolution evaluates
    every annotation's string; a tuning study loads the settings once a trial)."""
    return get_type_hints(struct, include_extras=True)


def _section_type(section: str) -> Any:
    return _hints(Settings)[section]


def _number_settings() -> dict[str, type]:
    out: dict[str, type] = {}
    for section in TUNED_SECTIONS:
        for name, hint in _hints(_section_type(section)).items():
            kind = _strip(hint)
            if kind is int or kind is float:  # bool is its own type in a hint, never a number
                out[f"{section}.{name}"] = kind
    return out


# Every setting a [tune] range may name, with its type: an int setting is searched as integers.
TUNABLE_SETTINGS: dict[str, type] = _number_settings()
