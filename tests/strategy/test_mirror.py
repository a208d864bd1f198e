"""Long and short mirror each other exactly: a state seen upside down gives the opposite decision."""

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabulary.settings import RiskSettings
from market_builders import T0, context, frame, market, mirror_market, mirror_price, px, venue_stop_fill, with_strategy
from strategy.costs import Costs
from strategy.entry import evaluate_entry
from strategy.sizing import stop_floor

CENTRE = 20_000  # 2000.0: every generated price stays positive on both sides of the mirror
SIGNED = {"wt1", "wt2", "ha_streak", "broken_streak"}  # evidence values that flip sign with the side

wt = st.sampled_from([-70.0, -60.0, -55.5, -53.0, -50.0, -20.0, 0.0, 20.0, 50.0, 53.0, 55.5, 60.0, 70.0])
maybe_wt = st.none() | wt
streak = st.integers(-6, 6)
ticks = st.integers(17_000, 23_000)


@st.composite
def frames(draw, interval):
    base = draw(ticks)
    o, c = base + draw(st.integers(-30, 30)), base + draw(st.integers(-30, 30))
    ho, hc = base + draw(st.integers(-30, 30)), base + draw(st.integers(-30, 30))
    lows = draw(st.lists(st.integers(base - 300, base), min_size=1, max_size=12))
    highs = draw(st.lists(st.integers(base, base + 300), min_size=1, max_size=12))
    w1, w2 = draw(wt), draw(wt)
    cross = draw(st.sampled_from(["up", "down", None]))
    level = lambda: draw(st.none() | st.builds(px, ticks))  # noqa: E731
    return frame(
        interval, open=px(o), close=px(c), high=px(max(highs)), low=px(min(lows)),
        ha_open=px(ho), ha_close=px(hc), ha_high=px(max(ho, hc) + 5), ha_low=px(min(ho, hc) - 5),
        ha_streak=draw(streak), ha_streak_hist=tuple(draw(st.lists(streak, max_size=4))),
        wt1=w1, wt2=w2, wt_cross_up=cross == "up", wt_cross_down=cross == "down",
        wt1_hist=tuple(draw(st.lists(maybe_wt, max_size=4))) + (w1,), wt2_hist=(w2,),
        rsi_mfi_area=draw(st.none() | st.sampled_from([-3.0, 0.0, 2.5])), mfi=draw(st.none() | st.just(40.0)),
        ema200=level(), vwap=level(),
        low_hist=tuple(px(v) for v in lows), high_hist=tuple(px(v) for v in highs),
    )


@st.composite
def near_setup(draw):
    """Oscillator values close to one path's thresholds for either side, so every path fires and fails often."""
    d = draw(st.sampled_from([1, -1]))
    kind = draw(st.sampled_from(["cross", "pre", "ha", "random"]))
    depth = draw(st.sampled_from([-50.0, -53.0, -60.0]))
    if kind == "cross":
        w2 = d * depth
        return dict(wt1=w2 + d * 3, wt2=w2, wt_cross_up=d > 0, wt_cross_down=d < 0, ha_streak=d * draw(st.integers(0, 4)))
    if kind == "pre":
        w2, gap, shrink = d * depth, draw(st.sampled_from([0.0, 3.0, 5.0, 5.5])), draw(st.sampled_from([0.0, -1.0, 1.5, 3.0]))
        gaps = (gap + 2 * shrink, gap + shrink, gap)  # wt2 - wt1 (for a long), oldest first
        return dict(wt1=w2 - d * gap, wt2=w2, wt1_hist=tuple(w2 - d * g for g in gaps), wt2_hist=(w2, w2, w2))
    if kind == "ha":
        now = d * draw(st.integers(1, 2))
        return dict(wt1=d * depth, wt2=d * (depth - 5), ha_streak=now, ha_streak_hist=(-d * draw(st.integers(1, 5)), now))
    return {}


@st.composite
def markets(draw, symbol="SOLUSDT"):
    one = msgspec.structs.replace(draw(frames(1)), **draw(near_setup()))
    return market(one, draw(frames(3)), draw(frames(5)), draw(frames(15)), symbol=symbol, tick_ms=T0)


def local_code(code: str) -> str:
    """A reason's code without the path prefix a fallen-through candidate's facts carry."""
    path, _, rest = code.partition(".")
    return rest if path in ("cross_based", "pre_cross", "ha_reversal") else code


def assert_mirrored(a, b):
    flip = {"Buy": "Sell", "Sell": "Buy", None: None}
    assert (b.kind, b.path, b.side, b.score) == (a.kind, a.path, flip[a.side], a.score)
    assert [r.code for r in b.reasons] == [r.code for r in a.reasons]
    for ra, rb in zip(a.reasons, b.reasons):
        last = ra.code.rsplit(".", 1)[-1]
        if last in SIGNED and isinstance(ra.value, (int, float)):
            assert rb.value == -ra.value, ra.code
        elif not local_code(ra.code).startswith(("size.", "gate.size")):  # bps of a mirrored price differ
            assert rb.value == ra.value, ra.code
    for price in ("entry_price", "stop_price", "target_price"):
        pa, pb = getattr(a, price), getattr(b, price)
        assert pb == (None if pa is None else mirror_price(pa, CENTRE)), price
    assert b.qty == a.qty


# Costs are proportional to price, and a mirror moves every price but the centre: a long at 1800
# and its mirrored short at 2200 pay different fees. So the mirror of the whole cascade is exact
# without costs or distances in bps; test_sizing mirrors the cost terms about the entry itself.
FRICTIONLESS = dict(costs=Costs(Decimal(0), Decimal(0), Decimal(0), None, Decimal(0)), equity=Decimal("1000000"))


@settings(max_examples=300, deadline=None)
@given(state=markets(), btc=st.none() | markets("BTCUSDT"), eth=st.none() | markets("ETHUSDT"))
def test_a_mirrored_market_gives_the_mirrored_decision(state, btc, eth):
    ctx = with_strategy(context(btc=btc, eth=eth, **FRICTIONLESS), stop_buffer_bps=0.0)
    flipped = with_strategy(context(btc=btc and mirror_market(btc, CENTRE), eth=eth and mirror_market(eth, CENTRE),
                                    **FRICTIONLESS), stop_buffer_bps=0.0)
    assert_mirrored(evaluate_entry(state, ctx), evaluate_entry(mirror_market(state, CENTRE), flipped))


@settings(max_examples=300, deadline=None)
@given(state=markets())
def test_every_take_has_its_stop_and_target_on_opposite_sides_of_the_entry_on_the_tick_grid(state):
    ctx = msgspec.structs.replace(context(equity=Decimal("1000000")), risk=RiskSettings())  # the shipped floor
    d = evaluate_entry(state, ctx)
    if d.kind != "TAKE":
        return
    sign = 1 if d.side == "Buy" else -1
    assert sign * (d.entry_price - d.stop_price) > 0 and sign * (d.target_price - d.entry_price) > 0
    for price in (d.entry_price, d.stop_price, d.target_price):
        assert price % Decimal("0.1") == 0
    assert d.qty > 0 and d.qty % Decimal("0.001") == 0
    # The stop is at least the floor away, and a stop-out filled where the shipped venue fills an
    # ungapped stop (slippage in whole ticks, a tick of spread) costs no more than the risk budget
    # (1 % for the fee's rounding on the venue).
    assert sign * (d.entry_price - d.stop_price) >= stop_floor(d.entry_price, state.frame(1), ctx)
    fill = venue_stop_fill(d.stop_price, sign)
    loss = d.qty * (sign * (d.entry_price - fill) + d.entry_price * ctx.costs.maker + fill * ctx.costs.taker)
    assert loss <= Decimal(10) * Decimal("1.01")
    assert loss <= d.loss_at_stop
