"""Batch kernels: the streaming machines' recurrences as single loops over a whole series.

pine.md: a batch form must run the same steps in the same order (no cumsum, lfilter or
convolution for a recurrence). These loops do. They run, in this order of preference:

- compiled from ``indicators/_kernels.c`` where the install built it (the default install with a C
  compiler: the same loops transcribed, built without contraction);
- compiled by numba where the ``fast`` extra installed it and the C loops were not built (IEEE
  double, no ``fastmath``, so no reassociation or fused multiply-add and the bits are kept). Both
  run a month of 7 symbols in the same time; numba first loads its compiled loops in each new
  process (0.13-0.18 s here, more than the whole indicator stage), so the C loops come first;
- as plain Python over lists, still about twice as fast as stepping the streaming objects.

``KERNELS`` names the one in use. tests/indicators/test_streaming_equals_batch.py holds the one
in use to the streaming forms bit for bit; tests/indicators/test_batch_kernels.py holds the C
loops and the list loops to the Python loops.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

#: numba is installed (the ``fast`` extra; the project's dependencies do not require it). It is
#: imported only where its loops run (``load_numba``): importing it costs ~0.15 s of every start.
IS_COMPILED = importlib.util.find_spec("numba") is not None

try:  # the C loops (setup.py builds them where a compiler is present)
    from indicators import _kernels as C_KERNELS
except ImportError:
    C_KERNELS = None
_c = C_KERNELS  # preferred where built: no compilation to load in each process

#: Which loops run: "c", "numba" or "python".
KERNELS = "c" if _c is not None else "numba" if IS_COMPILED else "python"


def _rolling_sum(xs, n, scale, out, stored, raw):
    """math.sum (scale 1) or ta.sma (scale n) for n >= 2; RollingSum.update is the reference."""
    s = 0.0
    comp = 0.0
    count = 0
    h = 0
    for i in range(len(xs)):
        x = xs[i]
        if x != x:
            out[i] = s / scale if count >= n else math.nan
            continue
        raw[h] = x
        fires = False
        if comp != 0.0 and x != 0.0:
            b = comp if comp > 0.0 else -comp
            r = x + b
            if r != 0.0 and r - r == 0.0:
                fires = b - (r - x) > 0.0
        if fires:
            s = x
            j = h
            for _ in range(count if count < n else n - 1):
                j = j - 1 if j > 0 else n - 1
                s = raw[j] + s
            comp = 0.0
            stored[h] = x
        else:
            y1 = -stored[h] - comp
            t = s + y1
            e1 = (t - s) - y1
            y2 = x - e1
            s_new = t + y2
            comp = (s_new - t) - y2
            s = s_new
            stored[h] = y2
        h = h + 1 if h + 1 < n else 0
        if count < n:
            count += 1
        out[i] = s / scale if count >= n else math.nan


def _window_sums(x: np.ndarray, n: int) -> np.ndarray:
    """The re-baseline's sum at every step at once: ``x[i]``, then the ``min(i, n - 1)`` values
    before it added newest first (``t = x[j] + t``), exactly as the ring walk adds them. Each
    pass adds one older value to every window, element by element (IEEE, no reassociation), so
    each window's additions are the walk's, in its order; a step that never re-baselines simply
    does not read its window."""
    t = x.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        for k in range(1, min(n, len(x))):
            np.add(x[:-k], t[k:], out=t[k:])
    return t


def _rolling_sum_lists(xs: list, n: int, windows: np.ndarray) -> list:
    """The sum after each value of ``xs`` (na already left out), for n >= 2: ``_rolling_sum``'s
    machine in the shape CPython runs fastest (the default install's kernel; numba compiles
    ``_rolling_sum``). The same operations on the same operands in the same order, so the same bits:

    - the ring of stored values becomes one list in which step ``i`` evicts what step ``i - n``
      stored, held negated (``-stored - comp`` is ``(-stored) - comp``: negation is exact), the
      first ``n`` entries the warm-up's evicted zeros, negated: ``-0.0``;
    - the re-baseline sums the ``min(i, n - 1)`` previous inputs newest first, as the ring walk
      does: ``windows[i]`` (``_window_sums``), computed for every step beforehand, because the
      re-baseline fires on 3-9 % of the steps of real series and its walk of ``n - 1`` additions
      was most of this loop's time; read as a Python float where it fires (``item``: the same
      double), not made into a list of which 91-97 % would be made and freed unread;
    - the re-baseline test ``comp != 0 and x != 0 and r != 0 and r finite and b - (r - x) > 0``
      (``b = |comp|``, ``r = x + b``) is decided by its last clause alone once ``comp != 0``: for
      ``x == 0`` it is ``b - b == 0``, for ``r == 0`` (``x == -b``) ``b - b == 0``, for an
      infinite ``r`` or ``x`` it is ``-inf`` or NaN, never above zero;
    - the warm-up's na and the division by the scale are applied to the whole column after.
    """
    sums = [0.0] * len(xs)
    kept = [-0.0] * (len(xs) + n)  # kept[i + n]: minus what step i stored
    s = 0.0
    comp = 0.0
    window = windows.item
    for i, x in enumerate(xs):
        if comp:
            b = comp if comp > 0.0 else -comp
            if b - ((x + b) - x) > 0.0:
                s = window(i)
                comp = 0.0
                kept[i + n] = -x
                sums[i] = s
                continue
        y1 = kept[i] - comp
        t = s + y1
        e1 = (t - s) - y1
        y2 = x - e1
        s = t + y2
        comp = (s - t) - y2
        kept[i + n] = -y2
        sums[i] = s
    return sums


def _average_tail(xs, start, seed, n, alpha, wilder, out):
    """Ema (``prev + alpha * (x - prev)``) or Rma (``(prev * (n - 1) + x) / n``) from the seed bar on."""
    v = seed
    out[start] = v
    for i in range(start + 1, len(xs)):
        x = xs[i]
        if x != x:
            out[i] = math.nan
        elif wilder:
            v = (v * (n - 1) + x) / n
            out[i] = v
        else:
            v = v + alpha * (x - v)
            out[i] = v


def _average_lists(xs: list, seed: float, n: int, alpha: float, wilder: bool) -> list:
    """``_average_tail``'s recurrence over the values after the seed (no na), as a plain list loop:
    the same expressions on the same operands, so the same bits (``n - 1`` is the same int)."""
    out = []
    v = seed
    if wilder:
        m = n - 1
        for x in xs:
            v = (v * m + x) / n
            out.append(v)
    else:
        for x in xs:
            v = v + alpha * (x - v)
            out.append(v)
    return out


def _ha_open(seed, ha_close, out):
    prev_open = math.nan
    prev_close = math.nan
    for i in range(len(seed)):
        o = seed[i] if prev_open != prev_open else (prev_open + prev_close) / 2
        out[i] = o
        prev_open = o
        prev_close = ha_close[i]


def _ha_open_lists(seed: list, ha_close: list) -> list:
    """``_ha_open``'s recurrence as a plain list loop (the default install's kernel): the same
    expressions on the same operands, so the same bits."""
    out = []
    prev_open = math.nan
    prev_close = math.nan
    for s, c in zip(seed, ha_close):
        prev_open = s if prev_open != prev_open else (prev_open + prev_close) / 2
        out.append(prev_open)
        prev_close = c
    return out


def _streak(colour, out):
    s = 0
    for i in range(len(colour)):
        c = colour[i]
        if c > 0:
            s = s + 1 if s > 0 else 1
        elif c < 0:
            s = s - 1 if s < 0 else -1
        else:
            s = 0
        out[i] = s


_numba_loaded = False


def load_numba() -> None:
    """Compile the loops above with numba (once, lazily: each compiles at its first call). Run at
    import where numba's loops are the ones in use; the kernel tests run it to hold them to the
    others where the C loops are in use. Raises ImportError where numba cannot be imported."""
    global _rolling_sum, _average_tail, _ha_open, _streak, _numba_loaded
    if _numba_loaded:
        return
    from numba import njit

    _rolling_sum = njit(cache=True)(_rolling_sum)
    _average_tail = njit(cache=True)(_average_tail)
    _ha_open = njit(cache=True)(_ha_open)
    _streak = njit(cache=True)(_streak)
    _numba_loaded = True


if KERNELS == "numba":
    try:
        load_numba()
    except ImportError:  # installed but broken: the list loops, as without it
        IS_COMPILED, KERNELS = False, "python"

#: The same, as the benches print it.
KERNELS_LABEL = {"numba": "numba", "c": "C (default install)", "python": "pure Python"}[KERNELS]


def _floats(x: np.ndarray):
    return np.ascontiguousarray(x, dtype=np.float64) if KERNELS != "python" else np.asarray(x, dtype=np.float64).tolist()


def rolling_sum(x: np.ndarray, n: int, scale: int = 1) -> np.ndarray:
    """``math.sum(x, n) / scale`` for a whole series (scale n gives ``ta.sma``)."""
    if n < 1:
        raise ValueError(f"length must be >= 1, got {n}")
    x = np.asarray(x, dtype=np.float64)
    if n == 1:  # Pine's shortcut: the value itself, na included
        return x / scale
    if KERNELS != "python":
        out = np.empty(len(x))
        xc = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        if _c is not None:
            _c.rolling_sum(xc, n, float(scale), out)
        else:
            _rolling_sum(xc, n, float(scale), out, np.zeros(n), np.zeros(n))
        return out
    valid = ~np.isnan(x)
    every = bool(valid.all())
    values = x if every else x[valid]
    sums = np.array(_rolling_sum_lists(values.tolist(), n, _window_sums(values, n))) / float(scale)
    sums[: n - 1] = np.nan  # warm-up
    if every:
        return sums
    # An na bar is not stored: it shows the sum after the last value before it (na in warm-up).
    last = np.cumsum(valid) - 1
    return np.where(last >= 0, sums[np.maximum(last, 0)] if len(sums) else np.nan, np.nan)


def seeded_average(x: np.ndarray, n: int, wilder: bool) -> np.ndarray:
    """``ta.ema`` (wilder False) or ``ta.rma`` (True): the sma seed on the n-th non-na value, then the recurrence."""
    if n < 1:
        raise ValueError(f"length must be >= 1, got {n}")
    x = np.asarray(x, dtype=np.float64)
    if n == 1 and not wilder:
        return x.copy()
    out = np.full(len(x), np.nan)
    if KERNELS != "python" and len(x) >= n and not np.isnan(x[:n]).any():
        start = n - 1  # the usual series, na-free from its first bar: no index of every value needed
    else:
        valid = np.flatnonzero(~np.isnan(x))
        if len(valid) < n:
            return out
        start = int(valid[n - 1])
    seed = float(rolling_sum(x[: start + 1], n, n)[start])
    if KERNELS != "python":
        (_c.average_tail if _c is not None else _average_tail)(np.ascontiguousarray(x), start, seed, n, 2 / (n + 1), wilder, out)
        return out
    # The default install: the recurrence over the values after the seed (an na bar is na and
    # leaves the average as it was, so it is left out and put back as na).
    after: slice | np.ndarray = valid[n:]
    if int(valid[-1]) - int(valid[0]) + 1 == len(valid):  # the values are one run (na only before them): a slice, no gather
        after = slice(start + 1, int(valid[-1]) + 1)
    out[start] = seed
    out[after] = _average_lists(x[after].tolist(), seed, n, 2 / (n + 1), wilder)
    return out


def ha_open(seed: np.ndarray, ha_close: np.ndarray) -> np.ndarray:
    if KERNELS != "python":
        out = np.empty(len(seed))
        (_c.ha_open if _c is not None else _ha_open)(_floats(seed), _floats(ha_close), out)
        return out
    return np.array(_ha_open_lists(_floats(seed), _floats(ha_close)), dtype=np.float64)


def streak(colour: np.ndarray) -> np.ndarray:
    """The signed same-colour run length of a colour series (+1 green, -1 red, 0 doji)."""
    colour = np.ascontiguousarray(colour, dtype=np.int64)
    if KERNELS == "numba":
        out = np.empty(len(colour), dtype=np.int64)
        _streak(colour, out)
        return out
    if not len(colour):
        return colour.copy()
    # Integers only, so the loop's answer without the loop: the colour's sign times the length of
    # the run of that sign ending at the bar (a doji's is 0).
    sign = np.sign(colour)
    index = np.arange(len(sign))
    starts = np.where(np.concatenate(([True], sign[1:] != sign[:-1])), index, 0)
    return sign * (index - np.maximum.accumulate(starts) + 1)
