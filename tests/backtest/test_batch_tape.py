"""The batch recorder is the streaming recorder, only faster: on the shipped data, all seven
symbols, ``record_tape_batch`` returns the Tape ``record_tape`` returns, row for row and bit for
bit; its vectorised path selection is ``fired_candidates`` on every frame; and data it cannot
reproduce (a hole the cores would backfill, a looping replay) is refused, not guessed."""

from __future__ import annotations

import dataclasses
import gzip
import os
import random
import shutil
from decimal import Decimal
from pathlib import Path

import msgspec
import numpy as np
import pytest

from backtest.batch_tape import (_MINUTES_COST, BatchRefusal, _column_ratio, _forked_series, _on_grid, _plain_volumes, _Series,
                                 _volume_units, _worker_share, record_tape_batch)
from backtest.run import Window
from backtest.tape import FIRINGS, Tape, record_tape
from exchange.sim.market import MINUTE_MS, BarColumns, load_store
from indicators.frame import FrameIndicators
from indicators.frame_batch import frame_columns
from indicators.params import IndicatorParams
from strategy.paths import fired_candidates
from strategy.paths_batch import FIRING_ORDER, fires
from vocabulary.messages import Kline
from vocabulary.settings import load_settings

BASE = Path("settings.toml").read_text()
DAY_MS = 86_400_000


def settings_with(**overrides: str):
    return load_settings(BASE, {f"SMTBOT__{k.upper()}": v for k, v in overrides.items()})


@pytest.fixture(scope="module")
def store():
    base = settings_with()
    return load_store(Path(base.sim.data_dir), base.bot.symbols)[0]


def assert_same_tape(streamed: Tape, batch: Tape) -> None:
    assert len(batch.rows) == len(streamed.rows)
    encode = msgspec.msgpack.encode  # every field of every state and bias state, floats to the bit
    for k, (a, b) in enumerate(zip(streamed.rows, batch.rows)):
        assert encode(b) == encode(a), f"row {k}: {a.state.symbol} at {a.state.tick_ms}"
    for name in ("fires", "wt1", "wt2", "votes", "bias_votes"):
        a, b = getattr(streamed, name), getattr(batch, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True), name
    for f in dataclasses.fields(Tape):
        if f.name not in ("rows", "fires", "wt1", "wt2", "votes", "bias_votes", "cache"):
            assert getattr(batch, f.name) == getattr(streamed, f.name), f.name


def midnight_after(ms: int) -> int:
    return ms - ms % DAY_MS + DAY_MS


# Windows chosen to cover what the streaming recorder does differently at each place, cheaply
# (record_tape of one day, 7 symbols: ~1-2 s here).
WINDOWS = {
    # The data's first day: the bootstrap reaches before some symbols' first bar (partial edge
    # candles), and the first ticks are stale for the symbols whose data starts late.
    "the first day, from the data's first minutes": lambda s: dict(
        window=Window(start_ms=s.first_ms + MINUTE_MS, end_ms=s.first_ms + 1441 * MINUTE_MS)),
    "mid-data, widened zone levels, a longer history": lambda s: dict(
        window=Window(start_ms=s.first_ms + 20_000 * MINUTE_MS, end_ms=s.first_ms + 20_480 * MINUTE_MS),
        widest=(-35.0, 35.0), hist_len=22),
    "across a UTC midnight (the VWAP session restarts), a short history": lambda s: dict(
        window=Window(start_ms=midnight_after(s.first_ms + 12_000 * MINUTE_MS) - 240 * MINUTE_MS,
                      end_ms=midnight_after(s.first_ms + 12_000 * MINUTE_MS) + 240 * MINUTE_MS),
        widest=(-45.0, 50.0), hist_len=4),
    "the simulator's default start": lambda s: dict(window=Window(end_ms=s.first_ms + 6_300 * MINUTE_MS)),
    "three symbols, the bias symbols last (another decision order), an end off the minute": lambda s: dict(
        window=Window(symbols=("SOLUSDT", "ETHUSDT", "BTCUSDT"), start_ms=s.first_ms + 30_011 * MINUTE_MS,
                      end_ms=s.first_ms + 30_611 * MINUTE_MS + 30_000)),  # an end inside a minute
    "two symbols, a history of one bar": lambda s: dict(
        window=Window(symbols=("DOGEUSDT", "BTCUSDT"), start_ms=s.first_ms + 15_000 * MINUTE_MS,
                      end_ms=s.first_ms + 15_400 * MINUTE_MS), hist_len=1),
}


@pytest.mark.parametrize("case", WINDOWS)
def test_the_batch_tape_is_the_streaming_tape(store, case: str) -> None:
    kwargs = WINDOWS[case](store)
    settings = settings_with()
    streamed = record_tape(settings, **kwargs)
    batch = record_tape_batch(settings, **kwargs)
    assert len(streamed.rows) > 20  # the case exercises rows, not an empty tape
    assert_same_tape(streamed, batch)
    # Half the symbols' columns from a forked worker: the same tape.
    assert_same_tape(streamed, record_tape_batch(settings, **kwargs, processes=2))
    # The rows made 37 ticks at a time as they are read (the fast backtest's): the same rows.
    assert_same_tape(streamed, record_tape_batch(settings, **kwargs, chunk_ticks=37))


def test_the_first_window_does_meet_stale_states(store) -> None:
    """The staleness rule is exercised: some states are refused as stale, not recorded or counted."""
    tape = record_tape_batch(settings_with(), **WINDOWS["the first day, from the data's first minutes"](store))
    assert tape.states_seen < tape.bars_replayed


def test_other_indicator_and_path_settings_are_recorded_alike(store) -> None:
    settings = settings_with(strategy__wt_channel="7", strategy__wt_average="10", strategy__wt_ma="4",
                             strategy__pre_cross_bars="3", strategy__ha_streak_min="2", strategy__ha_flip_window="2",
                             bot__bootstrap_bars="250", bot__timeframes="[1, 5, 15]")
    window = Window(symbols=("BTCUSDT", "ETHUSDT", "DOGEUSDT"), start_ms=store.first_ms + 8_000 * MINUTE_MS,
                    end_ms=store.first_ms + 8_600 * MINUTE_MS)
    assert_same_tape(record_tape(settings, window, hist_len=6), record_tape_batch(settings, window, hist_len=6))


@pytest.mark.parametrize("overrides, hist", [
    ({}, 16),
    ({"strategy__wt_oversold": "-30", "strategy__wt_overbought": "25"}, 22),
    ({"strategy__wt_oversold": "-40", "strategy__pre_cross_bars": "4", "strategy__pre_cross_gap": "9"}, 4),  # history too short
    ({"strategy__wt_overbought": "40", "strategy__ha_streak_min": "1", "strategy__ha_flip_window": "1",
      "strategy__pre_cross_bars": "1"}, 2),
])
def test_the_vectorised_paths_are_fired_candidates_on_every_frame(store, overrides: dict, hist: int) -> None:
    strategy = settings_with(**overrides).strategy
    params = IndicatorParams.from_strategy(strategy)
    for symbol in ("BTCUSDT", "DOTUSDT"):
        minutes = store.bars[symbol][3_000:7_000]
        indicators = FrameIndicators(1, params, hist_len=hist)
        expected = []
        for bar in minutes:
            frame = indicators.update(Kline(symbol=symbol, interval=1, start_ms=bar.start_ms, open=float(bar.open),
                                            high=float(bar.high), low=float(bar.low), close=float(bar.close),
                                            volume=float(bar.volume), confirmed=True))
            fired = {(c.path, c.direction) for c in fired_candidates(frame, strategy)}
            expected.append([f in fired for f in FIRING_ORDER])
        o, h, lo, c, v = (np.array([float(getattr(b, k)) for b in minutes]) for k in ("open", "high", "low", "close", "volume"))
        cols = frame_columns(np.array([b.start_ms for b in minutes], dtype=np.int64), o, h, lo, c, v, params)
        table = fires(cols.wt1, cols.wt2, cols.wt_cross_up, cols.wt_cross_down, cols.ha_streak, cols.ha_open,
                      cols.ha_close, hist, strategy)
        assert table.tolist() == expected
        assert table.any(axis=0).sum() >= 4  # most (path, side) pairs fire somewhere: the comparison bites
    assert FIRING_ORDER == FIRINGS


def copy_data(source: Path, target: Path, symbols: tuple[str, ...], drop: range = range(0),
              edit: dict[int, str] | None = None, altered: str | None = None) -> None:
    """The shipped files of ``symbols`` in ``target``; ``altered`` (the first symbol unless
    named) misses the rows ``drop`` and has the rows of ``edit`` replaced (row 0 is the header)."""
    target.mkdir()
    shutil.copy(source / "instruments-bybit-linear.csv", target)
    for n, symbol in enumerate(symbols):
        with gzip.open(source / f"{symbol}-1m.csv.gz", "rt") as f:
            lines = f.readlines()
        if symbol == (altered or symbols[0]):
            lines = [(edit or {}).get(i, line) for i, line in enumerate(lines) if i not in drop]
        with gzip.open(target / f"{symbol}-1m.csv.gz", "wt") as f:
            f.writelines(lines)


def row_with(source: Path, symbol: str, row: int, **values: str) -> str:
    with gzip.open(source / f"{symbol}-1m.csv.gz", "rt") as f:
        fields = f.readlines()[row].rstrip("\n").split(",")
    for name, value in values.items():
        fields[("start_ms", "open", "high", "low", "close", "volume").index(name)] = value
    return ",".join(fields) + "\n"


def test_a_hole_the_cores_would_backfill_is_refused_naming_it(tmp_path: Path, store) -> None:
    settings = settings_with()
    data = tmp_path / "klines"
    copy_data(Path(settings.sim.data_dir), data, ("BTCUSDT", "ETHUSDT"), drop=range(5_001, 5_004))  # 3 minutes of BTC
    start = store.first_ms + 4_000 * MINUTE_MS
    window = Window(symbols=("BTCUSDT", "ETHUSDT"), start_ms=start, end_ms=start + 2_000 * MINUTE_MS, data_dir=str(data))
    with pytest.raises(BatchRefusal, match="BTCUSDT: 1m bars are missing from .* hole"):
        record_tape_batch(settings, window)
    # Before the hole the data is whole: recorded as the streaming recorder does.
    before = msgspec.structs.replace(window, end_ms=start + 200 * MINUTE_MS)
    assert_same_tape(record_tape(settings, before), record_tape_batch(settings, before))


@pytest.mark.parametrize("holed", ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
def test_with_a_worker_process_a_refusal_is_the_one_process_refusal(tmp_path: Path, store, holed: str) -> None:
    """Refusals keep their order whichever process computed the symbol's columns: the worker
    takes every other symbol (ETHUSDT here), the hole is in one of them or in neither."""
    settings = settings_with()
    symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    data = tmp_path / "klines"
    copy_data(Path(settings.sim.data_dir), data, symbols, drop=range(5_001, 5_004), altered=holed)
    start = store.first_ms + 4_000 * MINUTE_MS
    window = Window(symbols=symbols, start_ms=start, end_ms=start + 2_000 * MINUTE_MS, data_dir=str(data))
    with pytest.raises(BatchRefusal) as alone:
        record_tape_batch(settings, window)
    with pytest.raises(BatchRefusal) as forked:
        record_tape_batch(settings, window, processes=2)
    assert str(forked.value) == str(alone.value) and str(alone.value).startswith(f"{holed}: 1m bars are missing")


SEVEN = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")


@pytest.mark.parametrize("symbols", [SEVEN, SEVEN[:2], SEVEN[:3]])
def test_the_worker_gets_about_half_the_series_work_counted_as_the_parent_sees_it(symbols) -> None:
    tasks = [(s, tf) for s in symbols for tf in (1, 3, 5, 15)]
    theirs = _worker_share(tasks)
    ours = [t for t in tasks if t not in theirs]
    assert theirs and ours and len(set(theirs)) == len(theirs)
    worker = sum(1 / tf for _, tf in theirs) + _MINUTES_COST * len({s for s, _ in theirs})
    parent = sum(1 / tf for _, tf in ours) + _MINUTES_COST * len(symbols)  # the parent makes every symbol's arrays
    assert abs(worker - parent) <= 1 / 3 + _MINUTES_COST  # within one 3m series and a symbol's arrays
    if len(symbols) == 7:  # whole symbols by turns left the parent a symbol's 1m columns more
        assert abs(worker - parent) < 1 / 15 + _MINUTES_COST


@pytest.mark.parametrize("failing", ["in the worker", "in this process"])
def test_each_series_comes_back_from_the_process_that_computed_it_with_its_own_error(failing: str) -> None:
    tasks = [(s, tf) for s in SEVEN for tf in (1, 3, 5, 15)]
    theirs = _worker_share(tasks)
    bad = theirs[1] if failing == "in the worker" else next(t for t in tasks if t not in theirs)
    here = os.getpid()

    def compute(task):
        if task == bad:
            raise BatchRefusal(f"{task[0]}: refused at {task[1]}m")
        return (task, os.getpid())

    asked: list[str] = []
    outcomes = _forked_series(tasks, compute, asked.append)
    assert list(outcomes) != [] and set(outcomes) == set(tasks)
    assert asked == list(SEVEN)  # every symbol's arrays made here while the worker ran
    for task in tasks:
        if task == bad:
            with pytest.raises(BatchRefusal, match=f"{task[0]}: refused at {task[1]}m"):
                outcomes[task].get()
            continue
        value, pid = outcomes[task].get()
        assert value == task and (pid != here) == (task in theirs)


def test_a_replay_that_loops_inside_the_window_is_refused(store) -> None:
    settings = settings_with(sim__loop="true")
    window = Window(symbols=("BTCUSDT", "ETHUSDT"), start_ms=store.end_ms - 300 * MINUTE_MS)
    with pytest.raises(BatchRefusal, match="loops before the window ends"):
        record_tape_batch(settings, window)


def test_a_price_off_the_tick_grid_is_refused_as_the_streaming_recorder_refuses_it(tmp_path: Path, store) -> None:
    settings = settings_with()
    source, data = Path(settings.sim.data_dir), tmp_path / "klines"
    with gzip.open(source / "BTCUSDT-1m.csv.gz", "rt") as f:
        low = f.readlines()[4_101].split(",")[3]
    copy_data(source, data, ("BTCUSDT", "ETHUSDT"), edit={4_101: row_with(source, "BTCUSDT", 4_101, open=f"{float(low) + 0.01:.2f}")})
    start = store.first_ms + 4_000 * MINUTE_MS
    window = Window(symbols=("BTCUSDT", "ETHUSDT"), start_ms=start, end_ms=start + 200 * MINUTE_MS, data_dir=str(data))
    with pytest.raises(ValueError, match="not on the 0.10 grid") as streamed:
        record_tape(settings, window)
    with pytest.raises(ValueError) as batch:
        record_tape_batch(settings, window)
    assert str(batch.value) == str(streamed.value) and not isinstance(batch.value, BatchRefusal)


def test_a_bar_the_stream_decoder_refuses_is_refused_naming_it(tmp_path: Path, store) -> None:
    settings = settings_with()
    source, data = Path(settings.sim.data_dir), tmp_path / "klines"
    with gzip.open(source / "BTCUSDT-1m.csv.gz", "rt") as f:
        close = f.readlines()[4_101].split(",")[4]
    copy_data(source, data, ("BTCUSDT", "ETHUSDT"), edit={4_101: row_with(source, "BTCUSDT", 4_101, high=close, low=close,
                                                                          open=f"{float(close) + 1:.1f}")})
    start = store.first_ms + 4_000 * MINUTE_MS
    window = Window(symbols=("BTCUSDT", "ETHUSDT"), start_ms=start, end_ms=start + 200 * MINUTE_MS, data_dir=str(data))
    with pytest.raises(BatchRefusal, match="BTCUSDT: the 1m bar at .* is one the stream decoder refuses"):
        record_tape_batch(settings, window)


SOAK = pytest.mark.skipif(not os.environ.get("SMTBOT_SOAK"), reason="long form: set SMTBOT_SOAK=1")
ALL = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")


@pytest.mark.soak
@SOAK
def test_the_batch_tape_is_the_streaming_tape_over_the_whole_month() -> None:
    settings = settings_with()
    assert_same_tape(record_tape(settings, Window()), record_tape_batch(settings, Window()))


@pytest.mark.soak
@SOAK
@pytest.mark.parametrize("seed", range(40))
def test_the_batch_tape_is_the_streaming_tape_on_drawn_windows_and_settings(store, seed: int) -> None:
    """Symbols (subset, order), timeframes, bootstrap length, WaveTrend channel, pre-cross bars,
    history length, zone levels and the window (near the data's start, anywhere, near its end, an
    end inside a minute) drawn at random."""
    rng = random.Random(seed)
    settings = settings_with(bot__bootstrap_bars=str(rng.choice([50, 120, 400, 1000])),
                             bot__timeframes=str([1] + sorted(rng.sample([3, 5, 15], rng.randint(0, 3)))),
                             strategy__wt_channel=str(rng.choice([5, 9, 12])),
                             strategy__pre_cross_bars=str(rng.choice([1, 2, 3])))
    offset = rng.choice([rng.randint(1, 200), rng.randint(200, 42_500), rng.randint(42_900, 43_150)])
    start = store.first_ms + offset * MINUTE_MS
    window = Window(symbols=tuple(rng.sample(ALL, rng.randint(1, 4))), start_ms=start,
                    end_ms=start + rng.randint(30, 400) * MINUTE_MS + rng.choice([0, 17_000]))
    kwargs = dict(hist_len=rng.choice([None, 1, 3, 16, 30]), widest=rng.choice([None, (-40.0, 40.0), (-20.0, 30.0)]))
    assert_same_tape(record_tape(settings, window, **kwargs), record_tape_batch(settings, window, **kwargs))


@pytest.mark.parametrize("seed", range(3))
def test_prices_read_without_reducing_their_fractions_give_the_same_floats_and_ticks(seed: int) -> None:
    """``_column_ratio(..., reduced=False)`` keeps ``value / 10**scale`` as the file spells it
    (trailing zeros, scales 0 to 8, values on and off the grid): the same float64 as
    ``float(Decimal)`` and the same tick counts and off-grid flags as the reduced fractions."""
    rng = np.random.default_rng(seed)
    n = 2_000
    scales = rng.integers(0, 9, size=(n, 6))
    values = rng.integers(1, 10 ** 9, size=(n, 6)) * 10 ** rng.integers(0, 4, size=(n, 6))  # trailing zeros too
    columns = BarColumns(np.arange(n, dtype=np.int64) * MINUTE_MS, values.astype(np.int64), scales.astype(np.int64))
    for tick in (Decimal("0.01"), Decimal("0.5"), Decimal("0.0001"), Decimal("5")):
        for cap in (6, 8):
            limited = BarColumns(columns.start_ms, columns.values, np.minimum(columns.scales, cap))
            plain, reduced = _column_ratio(limited, 0, reduced=False), _column_ratio(limited, 0)
            assert plain is not None and reduced is not None
            spelled = [Decimal(f"{v}E-{s}") for v, s in zip(values[:, 0].tolist(), np.minimum(scales[:, 0], cap).tolist())]
            assert (plain[0] / plain[1]).tolist() == [float(d) for d in spelled]
            ticks_a, off_a = _on_grid(lambda: spelled, plain, tick)
            ticks_b, off_b = _on_grid(lambda: spelled, reduced, tick)
            assert np.array_equal(off_a, off_b) and np.array_equal(ticks_a, ticks_b)
            assert off_a.any() and not off_a.all()  # both kinds of price met


def _reduced_volumes(columns: BarColumns) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The volumes as the reduced fractions give them (``_column_ratio``, ``_volume_units``)."""
    ratio = _column_ratio(columns, 4)
    if ratio is None:
        return None
    spelled = [Decimal(f"{v}E-{s}") for v, s in zip(columns.values[:, 4].tolist(), columns.scales[:, 4].tolist())]
    units, scale = _volume_units(lambda: spelled, ratio)
    return ratio[0] / ratio[1], units, scale


@pytest.mark.parametrize("seed", range(3))
def test_volumes_read_without_reducing_their_fractions_are_the_reduced_ones(seed: int) -> None:
    """``_plain_volumes`` (no gcd per value) gives the reduced fractions' floats to the bit and
    their exact units in the same smallest scale, or leaves the column to them (None): for
    volumes with trailing zeros, scales 0 to 15, zeros, and values near the 64-bit bounds."""
    rng = np.random.default_rng(seed)
    answered = refused = 0
    for _ in range(400):
        n = int(rng.integers(1, 40))
        scales = rng.integers(0, int(rng.integers(1, 17)), size=(n, 6))
        values = rng.integers(0, 10 ** int(rng.integers(1, 16)), size=(n, 6)) * 10 ** rng.integers(0, 5, size=(n, 6))
        columns = BarColumns(np.arange(n, dtype=np.int64) * MINUTE_MS, np.minimum(values, 2 ** 62).astype(np.int64),
                             scales.astype(np.int64))
        plain = _plain_volumes(columns, 4)
        try:
            reduced = _reduced_volumes(columns)
        except BatchRefusal:  # too large for 64-bit units: the plain route must not answer either
            assert plain is None
            refused += 1
            continue
        if plain is None:
            continue
        answered += 1
        assert reduced is not None and plain[2] == reduced[2]
        assert plain[0].tobytes() == reduced[0].tobytes()
        assert plain[1].dtype == np.int64 and np.array_equal(plain[1], reduced[1])
    assert answered > 200 and refused > 20


def test_the_shipped_volumes_read_without_reducing_are_the_reduced_ones() -> None:
    base = settings_with()
    store, _ = load_store(Path(base.sim.data_dir), base.bot.symbols)
    for symbol, columns in store.bars.items():
        assert isinstance(columns, BarColumns)
        plain, reduced = _plain_volumes(columns, 4), _reduced_volumes(columns)
        assert plain is not None and reduced is not None, symbol
        assert plain[2] == reduced[2] and plain[0].tobytes() == reduced[0].tobytes() and np.array_equal(plain[1], reduced[1])


@pytest.mark.parametrize("seed", range(3))
def test_prices_on_the_tick_grid_are_counted_as_decimal_division_counts_them(seed: int) -> None:
    """``_on_grid`` from a column's fractions: the tick count of a price on the grid and the
    off-grid flag are those of the decimal division ``price / tick`` (``backtest.tape._ticks``),
    for prices small and near the bounds where the float quotient is no longer exact."""
    rng = np.random.default_rng(seed)
    for tick in (Decimal("0.01"), Decimal("0.5"), Decimal("0.0001"), Decimal("5"), Decimal("0.00025")):
        tn, td = tick.as_integer_ratio()
        # The float route (where the float quotient's last bits matter too), the int64 route, the decimal one.
        for lo, hi in ((1, 10 ** 4), (1, 10 ** 9), (2 ** 52 // td, 2 ** 53 // td), (1, 10 ** 13), (1, 10 ** 15)):
            n = 3_000
            scales = rng.integers(0, 7, size=n)
            values = rng.integers(lo, hi, size=n)
            on = rng.random(n) < 0.5  # half put on the grid: a multiple of the tick in the value's own scale
            for i in np.flatnonzero(on).tolist():
                step = Decimal(tn) / Decimal(td) * Decimal(10) ** int(scales[i])  # the tick in units of 10**-scale
                if step == step.to_integral_value():
                    values[i] -= values[i] % int(step)
            values = np.maximum(values, 1)
            spelled = [Decimal(f"{v}E-{s}") for v, s in zip(values.tolist(), scales.tolist())]
            ratio = (values.astype(np.int64), (10 ** scales).astype(np.int64))
            quotients = [p / tick for p in spelled]
            if max(quotients) >= 2 ** 63:
                with pytest.raises(BatchRefusal, match="beyond 64-bit counts"):
                    _on_grid(lambda: spelled, ratio, tick)
                continue
            ticks, off = _on_grid(lambda: spelled, ratio, tick)
            want_off = [q != int(q) for q in quotients]
            assert off.tolist() == want_off
            assert ticks.tolist() == [0 if o else int(q) for q, o in zip(quotients, want_off)]
            assert not all(want_off) and any(want_off)


@pytest.mark.parametrize("seed", range(2))
def test_the_bar_closed_at_a_tick_is_the_one_each_form_finds(seed: int) -> None:
    """``_Series.closed_at``: with its first bar on its interval's grid (as ``_first_bar`` makes
    it), one division gives the index the two-step form gives (floor the tick to the grid, step
    back a bar, count from the first); any other first bar takes the two-step form. Ticks before,
    on and after the bars, on and off the grid."""
    rng = np.random.default_rng(seed)
    aligned = 0
    for _ in range(1_000):
        interval = int(rng.choice([1, 3, 5, 15, 60]))
        step = interval * MINUTE_MS
        first = int(rng.integers(-10 ** 6, 10 ** 6)) * MINUTE_MS
        if rng.random() < 0.7:
            first -= first % step
            aligned += 1
        ticks = np.sort(rng.integers(first - 50 * step, first + 5_000 * step, size=200)).astype(np.int64)
        expected = np.maximum((ticks - ticks % step - step - first) // step, -1)
        assert np.array_equal(_Series(interval, first, None).closed_at(ticks), expected)  # type: ignore[arg-type]
    assert 500 < aligned < 1_000
