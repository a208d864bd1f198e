"""Progress of long work: done/total, rate and ETA redrawn on one terminal line; quiet where
stderr is no terminal, apart from a log record per quarter."""

import io
import logging

from backtest.progress import ProgressLine, describe


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_describe_says_done_of_total_the_rate_and_the_time_left():
    assert describe("backtest", 1_200, 37_200, 3.0, "min") == "backtest  1,200/37,200 min    3.2%  400 min/s  ETA 1:30"
    assert describe("download BTCUSDT", 36_000, 36_000, 60.0, "min").endswith("100.0%  600 min/s  done")
    assert describe("replay", 5, 100, 2.0) == "replay  5/100    5.0%  2.5/s  ETA 0:38"


def test_describe_without_a_total_or_a_rate_still_reads():
    assert describe("replay", 0, 0, 0.0, "min") == "replay  0 min  0.0 min/s  0:00 elapsed"
    assert describe("backtest", 0, 100, 0.0).endswith("ETA --:--")
    assert "ETA 2:46:40" in describe("tune", 1, 10_001, 1.0)


def test_on_a_terminal_the_line_is_redrawn_in_place_at_most_five_times_a_second():
    now = [0.0]
    out = Tty()
    line = ProgressLine("backtest", 1000, unit="min", stream=out, clock=lambda: now[0])
    for step in range(1, 11):  # ten updates within 0.1 s: only the first is drawn
        now[0] = step * 0.01
        line.update(step * 10)
    now[0] = 0.5
    line.update(500)
    line.close()
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 2
    assert frames[0].startswith("backtest  10/1,000 min")
    assert frames[1].startswith("backtest  500/1,000 min") and frames[1].endswith("\n")


def test_the_last_update_is_always_drawn():
    now = [0.0]
    out = Tty()
    line = ProgressLine("replay", 3, stream=out, clock=lambda: now[0])
    line.update(1)
    now[0] = 0.05
    line.update(3)
    assert out.getvalue().split("\r")[-1].startswith("replay  3/3")


def test_off_a_terminal_nothing_is_drawn_and_each_quarter_is_logged(caplog):
    out = io.StringIO()
    now = [0.0]
    line = ProgressLine("backtest", 100, unit="min", stream=out, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="smtbot.progress"):
        for done in range(1, 101):
            now[0] = done / 10
            line.update(done)
        line.close()
    assert out.getvalue() == ""
    assert [r.getMessage().split("  ")[1] for r in caplog.records] == ["25/100 min", "50/100 min", "75/100 min", "100/100 min"]
