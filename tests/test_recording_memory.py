"""A one-hour recording (36,000 estimates at 10 Hz, written as fast as possible) keeps memory flat."""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import pytest
from fakes import make_estimate

from emolive.core.clock import SessionClock
from emolive.recording import SessionRecorder, read_csv


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_one_hour_recording_memory_is_flat(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOLIVE_ASSETS", str(tmp_path / "no-assets"))
    recorder = SessionRecorder(clock=SessionClock(), root=tmp_path, sync_interval=0.1)
    folder = recorder.start()
    base = make_estimate(0.0, level=0.3, transcript="a few words")
    rss: list[float] = []
    blocks: list[int] = []  # Python objects alive: grows if anything accumulates per row
    for block in range(36):  # 36 x 1000 steps = one hour at 10 Hz
        for i in range(1000):
            step = block * 1000 + i
            recorder.write(dataclasses.replace(base, t=step / 10))
            if step % 600 == 0:
                recorder.add_marker(f"minute {step // 600}")
        while recorder.rows_written < (block + 1) * 1000 + step // 600 + 1:  # all on disk before measuring
            time.sleep(0.01)
        rss.append(rss_mib())
        blocks.append(sys.getallocatedblocks())
    recorder.stop()
    assert len(read_csv(folder / "session.csv")) == 36_000 + 60
    print(f"\nRSS {rss[0]:.1f} MiB after 1,000 rows, {rss[-1]:.1f} MiB after 36,000 (max {max(rss):.1f}); "
          f"allocated blocks {blocks[1]} after 2,000 rows, {blocks[-1]} after 36,000")
    assert blocks[-1] - blocks[1] < 2_000  # far fewer than the 34,000 rows written meanwhile
    assert rss[-1] - rss[1] < 16  # allocator slack only
