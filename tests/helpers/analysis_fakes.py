"""Stand-ins for offline-analysis tests: an energy VAD, a scripted decoder (optionally slow), tone clips."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from emolive.contracts import Word

RATE = 16_000


class EnergyVAD:
    """Speech probability per 512-sample chunk from its loudness (no model)."""

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        chunks = np.asarray(samples, dtype=np.float32).reshape(-1, 512)
        return np.where(np.sqrt((chunks**2).mean(axis=1)) > 0.02, 0.9, 0.05).astype(np.float32)


class ScriptedDecoder:
    """One word per started 0.4 s of loud audio in the buffer, a function of the audio only; ``delay_s``
    makes each decode that much slower (a loaded machine)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def __call__(self, audio: np.ndarray, prompt: str = "") -> list[Word]:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        loud = np.flatnonzero(np.abs(np.asarray(audio)) > 0.05)
        if loud.size == 0:
            return []
        first, last = loud[0] / RATE, loud[-1] / RATE
        words, t, k = [], first, 0
        while t < last:
            words.append(Word(f"w{int(round(t * 10))}", t, min(t + 0.3, last), 0.9))
            t += 0.4
            k += 1
        return words

    def reset(self) -> None:
        pass


BURSTS = ((1.0, 2.6), (3.5, 4.6))


def write_tone_clip(path: Path, seconds: float = 6.0, bursts: tuple[tuple[float, float], ...] = BURSTS,
                    video: bool = True, fps: int = 10) -> Path:
    """A clip whose audio is silence with 300 Hz tone bursts (stand-ins for utterances), plus a grey video."""
    import av

    with av.open(str(path), "w") as container:
        vstream = None
        if video:
            vstream = container.add_stream("mpeg4", rate=fps)
            vstream.width, vstream.height = 64, 48
            vstream.pix_fmt = "yuv420p"
        astream = container.add_stream("aac", rate=RATE)
        astream.layout = "mono"
        if vstream is not None:
            for i in range(int(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 128, np.uint8), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                for packet in vstream.encode(frame):
                    container.mux(packet)
            for packet in vstream.encode():
                container.mux(packet)
        t = np.arange(int(seconds * RATE)) / RATE
        on = np.zeros_like(t, dtype=bool)
        for start, stop in bursts:
            on |= (t >= start) & (t < stop)
        mono = (0.4 * np.sin(2 * np.pi * 300 * t) * on).astype(np.float32)
        for start in range(0, mono.size, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None, start:start + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            for packet in astream.encode(frame):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    return path
