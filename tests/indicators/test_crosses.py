"""ta.crossover / crossunder / cross on constructed series: where ta.cross is not "crossover or crossunder"."""

import math

from indicators.crosses import Cross, Crossover, Crossunder
from indicators.pine import NA


def _run(machine, a, b):
    m = machine()
    return [m.update(x, y) for x, y in zip(a, b)]


def test_crossover_fires_on_a_strict_move_above_from_at_or_below():
    a = [1.0, 2.0, 3.0, 3.0, 2.0, 4.0]
    b = [2.0, 2.0, 2.0, 3.0, 3.0, 3.0]
    assert _run(Crossover, a, b) == [False, False, True, False, False, True]
    assert _run(Crossunder, a, b) == [False, False, False, False, True, False]


def test_crossover_compares_exactly_not_tolerantly():
    a = [1.0, 1.0 + 5e-11]
    b = [1.0, 1.0]
    assert _run(Crossover, a, b) == [False, True]


def test_cross_starts_with_no_side_so_a_move_out_of_an_initial_tie_does_not_fire():
    a = [1.0, 1.0, 2.0]
    b = [1.0, 1.0, 1.0]
    assert _run(Cross, a, b) == [False, False, False]
    assert _run(Crossover, a, b) == [False, False, True]  # crossover does fire here


def test_cross_remembers_the_side_through_a_tie():
    a = [0.0, 1.0, 1.0, 2.0]
    b = [1.0, 1.0, 1.0, 1.0]
    assert _run(Cross, a, b) == [False, False, False, True]


def test_cross_keeps_its_side_through_a_tolerant_tie_but_fires_on_a_strict_step():
    # Below, then 5e-11 above: a strict move to the other side fires ta.cross, but the
    # remembered side stays "below" (the step is within tolerance), so it fires again.
    a = [0.0, 1.0 + 5e-11, 1.0 + 6e-11]
    b = [1.0, 1.0, 1.0]
    assert _run(Cross, a, b) == [False, True, True]
    assert _run(Crossover, a, b) == [False, True, False]


def test_na_bars_neither_fire_nor_reset_the_remembered_relation():
    a = [0.0, NA, 2.0]
    b = [1.0, 1.0, 1.0]
    for machine in (Cross, Crossover):
        assert _run(machine, a, b) == [False, False, True]
    assert not math.isnan(a[2])
