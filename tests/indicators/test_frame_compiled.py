"""The compiled indicator set (indicators/_frame.c) returns the Python set's FrameState, bit for bit.

The Python set (``PythonFrameIndicators``) is the reference every TradingView parity test pins; the
compiled one is what the bot runs when the install could build it. Equal here means every field of
every FrameState: floats by their bits (na agrees with na), ints, flags, None and the history
tuples, on the shipped month, on every TradingView export, and on adversarial series (flat bars,
zero volume, repeated prices, integral values, na, tiny and huge magnitudes, lengths of one).
Prices and volumes are floats, as ``Kline`` declares and msgspec decodes the venue's numbers.
"""

from __future__ import annotations

import csv
import gzip
import math
import shutil
import struct
import subprocess
import sys
import sysconfig
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.sim.aggregate import aggregate
from indicators import kernels
from indicators.frame import COMPILED, FrameIndicators, PythonFrameIndicators
from indicators.params import IndicatorParams
from vocabulary.messages import FrameState, Kline

ROOT = Path(__file__).resolve().parents[2]
KLINES = ROOT / "data" / "klines"
TV = ROOT / "tests" / "data" / "tv"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "DOTUSDT")
MIN = 60_000

compiled_only = pytest.mark.skipif(not COMPILED, reason="the compiled set was not built (no C compiler at install)")


def _bits(x: object) -> object:
    if isinstance(x, float):
        return "na" if x != x else struct.pack("<d", x)
    if isinstance(x, tuple):
        return tuple(_bits(y) for y in x)
    return (type(x).__name__, x)


def _fields(state: FrameState) -> dict[str, object]:
    return {name: _bits(value) for name, value in msgspec.structs.asdict(state).items()}


def assert_same_stream(bars: list[Kline], interval: int, params: IndicatorParams = IndicatorParams(),
                       hist_len: int = 16) -> None:
    compiled = FrameIndicators(interval, params, hist_len=hist_len)
    python = PythonFrameIndicators(interval, params, hist_len=hist_len)
    for i, bar in enumerate(bars):
        got, want = compiled.update(bar), python.update(bar)
        assert _fields(got) == _fields(want), f"bar {i} ({bar.start_ms}): {got} != {want}"
        assert compiled.last is got
    assert (compiled.last is None) == (python.last is None)


def _month(symbol: str, n: int) -> list[Kline]:
    with gzip.open(KLINES / f"{symbol}-1m.csv.gz", "rt", newline="") as f:
        rows = [row for _, row in zip(range(n), csv.DictReader(f))]
    return [Kline(symbol=symbol, interval=1, start_ms=int(r["start_ms"]), open=float(r["open"]), high=float(r["high"]),
                  low=float(r["low"]), close=float(r["close"]), volume=float(r["volume"])) for r in rows]


def _resampled(ones: list[Kline], interval: int) -> list[Kline]:
    if interval == 1:
        return ones
    return [Kline(symbol=ones[0].symbol, interval=interval, start_ms=b.start_ms, open=b.open, high=b.high, low=b.low,
                  close=b.close, volume=b.volume) for b in aggregate(ones, interval)]


def test_the_install_built_the_compiled_code_wherever_a_c_compiler_is_present():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the bot runs the Python set, and says so at start")
    assert COMPILED, "a C compiler is present but indicators/_frame.c was not built: run `pip install -e .` again"
    assert kernels.C_KERNELS is not None, "a C compiler is present but indicators/_kernels.c was not built"


@compiled_only
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_compiled_equals_python_on_the_shipped_month_every_timeframe(symbol):
    ones = _month(symbol, 6_000)
    for interval in (1, 3, 5, 15):
        assert_same_stream(_resampled(ones, interval), interval)


@compiled_only
@pytest.mark.parametrize("name", sorted(p.name for p in TV.glob("*.csv")))
def test_compiled_equals_python_on_every_tradingview_export(name):
    with open(TV / name, newline="") as f:
        rows = list(csv.DictReader(f))
    bars = [Kline(symbol="EURUSD", interval=1, start_ms=int(r["time"]) * 1000, open=float(r["open"]),
                  high=float(r["high"]), low=float(r["low"]), close=float(r["close"]),
                  volume=float(r.get("Volume") or 1.0)) for r in rows]
    # The FX exports' session opens at 21:00 UTC (tests/data/tv/README.md); both anchors are run.
    for session_start_ms in (0, 21 * 3_600_000):
        assert_same_stream(bars, 1, IndicatorParams(vwap_session_start_ms=session_start_ms))


def _price() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([1.0, 1.0000000001, 2.0, 100.0, 0.1, 0.2, 0.3]),  # repeats, flat bars, tolerance ties
        st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False),
        st.integers(min_value=1, max_value=10**7).map(float),
        st.just(math.nan),
    )


_volume = st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=1e12), st.integers(0, 10**6).map(float))

_params = st.builds(
    IndicatorParams,
    wt_channel=st.integers(1, 12), wt_average=st.integers(1, 14), wt_ma=st.integers(1, 4),
    oversold=st.sampled_from([-53.0, -60.0, 0.0]), overbought=st.sampled_from([53.0, 60.0, 0.0]),
    mfi_length=st.integers(1, 15), rsi_mfi_period=st.integers(1, 20), rsi_mfi_multiplier=st.sampled_from([150.0, 1.0]),
    rsi_mfi_pos_y=st.sampled_from([2.5, 0.0]), ema_length=st.integers(1, 30),
    vwap_session_start_ms=st.sampled_from([0, 21 * 3_600_000, 86_399_999]),
)


@st.composite
def _series(draw) -> tuple[int, list[Kline]]:
    interval = draw(st.sampled_from([1, 3, 15]))
    # From before the epoch's first session too: the VWAP's day is a floored division.
    start = draw(st.integers(-3 * 86_400_000, 3 * 86_400_000)) // (interval * MIN) * (interval * MIN)
    bars = []
    for _ in range(draw(st.integers(1, 80))):
        o, h, low, c = draw(_price()), draw(_price()), draw(_price()), draw(_price())
        if draw(st.booleans()):  # a well-formed bar around its open, or a flat one
            h, low = max(o, c, h), min(o, c, low) if draw(st.booleans()) else max(o, c, h)
        bars.append(Kline(symbol="X", interval=interval, start_ms=start, open=o, high=h, low=low, close=c,
                          volume=draw(_volume)))
        start += interval * MIN * draw(st.sampled_from([1, 1, 1, 2, 97]))  # gaps, some across a session
    return interval, bars


@compiled_only
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series=_series(), params=_params, hist_len=st.integers(1, 6))
def test_compiled_equals_python_on_adversarial_series(series, params, hist_len):
    interval, bars = series
    assert_same_stream(bars, interval, params, hist_len)


def _refusal(frame, bar) -> str:
    with pytest.raises(ValueError) as raised:
        frame.update(bar)
    return str(raised.value)


@compiled_only
def test_both_refuse_the_same_bars_with_the_same_words_and_keep_their_state():
    ones = _month("BTCUSDT", 40)
    compiled, python = FrameIndicators(1), PythonFrameIndicators(1)
    for bar in ones[:20]:
        compiled.update(bar)
        python.update(bar)
    unconfirmed = msgspec.structs.replace(ones[20], confirmed=False)
    five = msgspec.structs.replace(ones[20], interval=5)
    for bad in (unconfirmed, five, ones[19], ones[3]):
        assert _refusal(compiled, bad) == _refusal(python, bad)
    assert _refusal(compiled, unconfirmed) == "BTCUSDT 1m bar at %d is not confirmed" % ones[20].start_ms
    for bar in ones[20:]:  # nothing a refused bar touched shows in what follows
        assert _fields(compiled.update(bar)) == _fields(python.update(bar))


@compiled_only
@pytest.mark.parametrize("params, hist_len", [
    (IndicatorParams(ema_length=0), 16), (IndicatorParams(wt_ma=0), 16), (IndicatorParams(mfi_length=-1), 16),
    (IndicatorParams(), 0),
])
def test_both_refuse_the_same_parameters(params, hist_len):
    with pytest.raises(ValueError) as python:
        PythonFrameIndicators(1, params, hist_len=hist_len)
    with pytest.raises(ValueError) as compiled:
        FrameIndicators(1, params, hist_len=hist_len)
    assert str(compiled.value) == str(python.value)


@compiled_only
def test_the_compiled_set_reads_like_the_python_one():
    frame = FrameIndicators(5)
    assert frame.interval == 5 and frame.params == IndicatorParams() and frame.last is None
    bar = _resampled(_month("ETHUSDT", 30), 5)[0]
    state = frame.update(bar)
    assert isinstance(state, FrameState) and frame.last is state
    assert state.open is bar.open and state.high_hist == (bar.high,)  # the bar's own floats, not copies


def test_without_the_compiled_module_the_python_set_stands_in():
    # A machine without a C compiler has no indicators/_frame*.so: the import fails there, as here.
    script = (
        "import sys\n"
        "class Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'indicators._frame':\n"
        "            raise ImportError('not built')\n"
        "sys.meta_path.insert(0, Absent())\n"
        "from indicators.frame import COMPILED, FrameIndicators, PythonFrameIndicators\n"
        "assert not COMPILED and FrameIndicators is PythonFrameIndicators\n"
        "print('python set', FrameIndicators(1).update.__qualname__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "python set PythonFrameIndicators.update"
