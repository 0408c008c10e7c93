"""SIGKILL of a recording process leaves a parseable CSV (and playable raw files) missing at most ~1 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from emolive.recording import read_csv

CHILD = r"""
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from fakes import make_estimate
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, VideoFrame
from emolive.recording import SessionRecorder

clock = SessionClock()
recorder = SessionRecorder(clock=clock, raw_audio=True, raw_video=True)
folder = recorder.start(sys.argv[1])
print("folder", folder, flush=True)
i = 0
while True:
    t = clock.now()
    recorder.add_audio(AudioBlock(t=t, samples=np.full(1600, 0.1, np.float32)))
    recorder.add_frame(VideoFrame(t=t, index=i, image=np.full((48, 64, 3), i % 256, np.uint8)))
    recorder.write(make_estimate(t, level=(i % 10) / 10))
    print("wrote", t, flush=True)
    i += 1
    time.sleep(max(0.0, (i * 0.1) - clock.now()))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_loses_at_most_one_second(tmp_path):
    env = {**os.environ, "EMOLIVE_ASSETS": str(tmp_path / "no-assets")}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "session"), str(Path(__file__).parent)],
                             stdout=subprocess.PIPE, text=True, env=env)
    submitted: list[float] = []
    folder = None
    try:
        for line in child.stdout:
            kind, value = line.split(maxsplit=1)
            if kind == "folder":
                folder = Path(value.strip())
            else:
                submitted.append(float(value))
            if len(submitted) >= 30:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        rest = child.stdout.read()  # lines printed after we stopped reading but before the kill
        child.stdout.close()
    submitted += [float(line.split()[1]) for line in rest.splitlines() if line.startswith("wrote ")]
    assert child.returncode == -signal.SIGKILL and folder is not None
    time.sleep(0.05)

    rows = read_csv(folder / "session.csv")  # parses: no half rows
    times = [r["t"] for r in rows]
    assert times == pytest.approx(submitted[: len(times)], abs=1e-4)  # nothing reordered or invented
    print(f"\nkilled after {len(submitted)} estimates; CSV has {len(times)}, missing the last "
          f"{max(0.0, submitted[-1] - times[-1]):.2f} s")
    assert submitted[-1] - times[-1] <= 1.0

    with wave.open(str(folder / "audio.wav"), "rb") as wav:  # header was patched as it went
        assert wav.getframerate() == 16_000
        assert wav.getnframes() / 16_000 >= submitted[-1] - submitted[0] - 1.5

    import av

    with av.open(str(folder / "video.mp4")) as container:  # fragmented MP4: readable without a moov at the end
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 10
