"""Generate small media files for tests with PyAV (no external tools)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

FLASH_EVERY_S = 5.0
FLASH_FRAMES = 3


def mux_video(container: Any, stream: Any, frames: Iterable[np.ndarray], fps: int) -> None:
    """Encode RGB uint8 ``frames`` into the PyAV video ``stream`` (pts in frame units), then flush the encoder."""
    import av

    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = i
        frame.time_base = Fraction(1, fps)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_sync_clip(path: Path, seconds: float = 60.0, fps: int = 30, video: bool = True, audio: bool = True,
                    size: tuple[int, int] = (160, 120), rate: int = 44_100, channels: int = 2) -> Path:
    """Black video with white flashes and silence with 1 kHz beeps, both starting at k * FLASH_EVERY_S."""
    import av

    with av.open(str(path), "w") as container:
        vstream = astream = None
        if video:
            vstream = container.add_stream("mpeg4", rate=fps)
            vstream.width, vstream.height = size
            vstream.pix_fmt = "yuv420p"
        if audio:
            astream = container.add_stream("aac", rate=rate)
            astream.layout = "stereo" if channels == 2 else "mono"
        n_frames = int(seconds * fps)
        if vstream is not None:
            def flashes() -> Iterator[np.ndarray]:
                for i in range(n_frames):
                    t = i / fps
                    bright = (t % FLASH_EVERY_S) < FLASH_FRAMES / fps - 1e-9 and t >= FLASH_EVERY_S
                    yield np.full((size[1], size[0], 3), 255 if bright else 0, np.uint8)

            mux_video(container, vstream, flashes(), fps)
        if astream is not None:
            n = int(seconds * rate)
            t = np.arange(n) / rate
            beep = ((t % FLASH_EVERY_S) < 0.1) & (t >= FLASH_EVERY_S)
            mono = (0.5 * np.sin(2 * np.pi * 1000 * t) * beep).astype(np.float32)
            data = np.tile(mono, (channels, 1))
            block = 1024
            for start in range(0, n, block):
                chunk = np.ascontiguousarray(data[:, start : start + block])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo" if channels == 2 else "mono")
                frame.sample_rate = rate
                frame.pts = start
                frame.time_base = Fraction(1, rate)
                for packet in astream.encode(frame):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path
