"""The shared progress helper: plain lines (no carriage returns) when the stream is not a terminal."""

from __future__ import annotations

import io

from emolive.core.progress import Progress, track


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_media_progress_writes_a_line_every_tenth_with_speed_and_eta():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(100.0, desc="talk.mp4", stream=out, clock=clock)
    for step in range(1, 201):  # 0.5 s of media per 0.25 s of wall time: 2x real time
        clock.t = step * 0.25
        progress.update(step * 0.5)
    progress.close()
    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert len(lines) == 10
    assert lines[0] == "talk.mp4: 10.0/100.0 s (10%), 2.00x real time, ETA 45s"
    assert lines[4].startswith("talk.mp4: 50.0/100.0 s (50%), 2.00x real time, ETA 25s")
    assert lines[-1] == "talk.mp4: 100.0/100.0 s (100%), 2.00x real time, took 50s"


def test_slow_progress_still_reports_every_30_seconds():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(7200.0, desc="long.mp4", stream=out, clock=clock)
    for minute in range(1, 4):  # 10 s of media per minute: well under 10% per line
        clock.t = minute * 60.0
        progress.update(minute * 10.0)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0] == "long.mp4: 10.0/7200.0 s (0%), 0.17x real time, ETA 11h59m"


def test_counted_items_and_the_last_line_on_close():
    out = io.StringIO()
    seen = list(track(range(7), desc="voice eval", unit="clips", stream=out))
    assert seen == list(range(7))
    lines = out.getvalue().splitlines()
    assert lines and lines[-1].startswith("voice eval: 7/7 clips (100%), ")
    assert all("clips/s" in line for line in lines)


def test_disabled_progress_writes_nothing():
    out = io.StringIO()
    with Progress(10.0, stream=out, enabled=False) as progress:
        progress.update(10.0)
    assert out.getvalue() == ""


def test_a_run_that_ends_early_shows_its_last_line_once():
    """The line written at 50% is where a truncated file stopped: closing must not print it again."""
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(10.0, desc="cut.mp4", stream=out, clock=clock)
    clock.t = 2.0
    progress.update(5.0)
    clock.t = 3.0
    progress.close()
    assert out.getvalue().splitlines() == ["cut.mp4: 5.0/10.0 s (50%), 2.50x real time, ETA 2s"]
    out2 = io.StringIO()
    moved = Progress(10.0, desc="cut.mp4", stream=out2, clock=clock)
    moved.update(5.0)
    moved.update(5.4)  # not a tenth further: no line yet, so closing writes it
    moved.close()
    assert [line.split(",")[0] for line in out2.getvalue().splitlines()] == ["cut.mp4: 5.0/10.0 s (50%)",
                                                                             "cut.mp4: 5.4/10.0 s (54%)"]


def test_a_resumed_run_counts_only_what_it_computes_in_its_speed():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(10.0, desc="talk.mp4", stream=out, clock=clock, start=4.0)
    clock.t = 1.0
    progress.update(6.0)  # 2 s computed in 1 s: 2x real time (not 6x)
    progress.close()
    assert out.getvalue().splitlines() == ["talk.mp4: 6.0/10.0 s (60%), resumed at 4.0 s, 2.00x real time, ETA 2s"]
