"""Deterministic frames and audio for tests, benchmarks and machines without devices."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from emolive.capture.base import CaptureSource, EventSink
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, EventKind, SourceKind, VideoFrame, frozen_array
from emolive.core.rings import AudioRing, FrameRing

SAMPLE_RATE = 16_000


class SyntheticSource(CaptureSource):
    """A moving picture (optionally a given image, e.g. a face, panned slowly) and a chosen sound.

    ``audio`` is "tone" (220 Hz bursts with a syllable-like envelope), "noise", "silence" or None (no
    audio track). Same ``iter_media()`` / thread behaviour as MediaFileSource.
    """

    name = SourceKind.SYNTHETIC

    def __init__(self, clock: SessionClock, frames: FrameRing | None = None, audio_ring: AudioRing | None = None,
                 seconds: float = 10.0, fps: float = 30.0, size: tuple[int, int] = (640, 480),
                 image: np.ndarray | None = None, audio: str | None = "tone", realtime: bool = True,
                 block_s: float = 0.02, seed: int = 0, on_event: EventSink | None = None) -> None:
        super().__init__(clock, on_event)
        if audio not in ("tone", "noise", "silence", None):
            raise ValueError(f"unknown synthetic audio {audio!r}")
        self.frames, self.audio_ring = frames, audio_ring
        self.seconds, self.fps, self.size = seconds, fps, size
        self.image, self.audio, self.realtime, self.block_s, self.seed = image, audio, realtime, block_s, seed

    @property
    def gives_pictures(self) -> bool:
        return self.frames is not None

    def frame_at(self, index: int) -> np.ndarray:
        width, height = self.size
        if self.image is not None:
            return self._panned(index)
        y, x = np.mgrid[0:height, 0:width]
        canvas = np.empty((height, width, 3), np.uint8)
        canvas[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
        canvas[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
        canvas[..., 2] = (index * 4) % 256
        cx = int(width / 2 + width / 4 * np.sin(index / self.fps))
        cy = height // 2
        canvas[max(cy - 40, 0) : cy + 40, max(cx - 40, 0) : cx + 40] = 255
        return canvas

    def _panned(self, index: int) -> np.ndarray:
        import cv2

        width, height = self.size
        src = self.image
        scale = max(width / src.shape[1], height / src.shape[0]) * 1.1
        big = cv2.resize(src, (int(src.shape[1] * scale) + 1, int(src.shape[0] * scale) + 1))
        spare_x, spare_y = big.shape[1] - width, big.shape[0] - height
        phase = 0.5 + 0.5 * np.sin(2 * np.pi * index / (self.fps * 6))
        x0, y0 = int(spare_x * phase), int(spare_y * (1 - phase))
        return np.ascontiguousarray(big[y0 : y0 + height, x0 : x0 + width])

    def audio_between(self, start: int, stop: int) -> np.ndarray:
        n = np.arange(start, stop)
        t = n / SAMPLE_RATE
        if self.audio == "silence":
            return np.zeros(n.size, np.float32)
        if self.audio == "noise":
            rng = np.random.default_rng(self.seed + start)
            return (0.05 * rng.standard_normal(n.size)).astype(np.float32)
        envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) * (np.sin(2 * np.pi * 0.2 * t) > -0.3)
        return (0.2 * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)

    def iter_media(self) -> Iterator[VideoFrame | AudioBlock]:
        n_frames = int(self.seconds * self.fps)
        block = int(self.block_s * SAMPLE_RATE)
        n_audio = int(self.seconds * SAMPLE_RATE)
        next_frame, next_sample = 0, 0
        while next_frame < n_frames or (self.audio is not None and next_sample < n_audio):
            t_frame = next_frame / self.fps if next_frame < n_frames else np.inf
            t_audio = next_sample / SAMPLE_RATE if self.audio is not None and next_sample < n_audio else np.inf
            if t_frame <= t_audio:
                yield VideoFrame(t=t_frame, index=next_frame, image=frozen_array(self.frame_at(next_frame)))
                next_frame += 1
            else:
                stop = min(next_sample + block, n_audio)
                yield AudioBlock(t=t_audio, samples=self.audio_between(next_sample, stop), sample_rate=SAMPLE_RATE)
                next_sample = stop

    def _run(self) -> None:
        offset = self.clock.now()
        for item in self.iter_media():
            if self.stopping.is_set():
                return
            # Items are stamped when they would have been complete: a frame at its time, a block at its end.
            due = offset + item.t + (item.duration if isinstance(item, AudioBlock) else 0.0)
            if self.realtime:
                delay = due - self.clock.now()
                if delay > 0 and self.stopping.wait(delay):
                    return
            if isinstance(item, VideoFrame):
                if self.frames is not None:
                    self.frames.write(VideoFrame(t=offset + item.t, index=item.index, image=item.image))
            elif self.audio_ring is not None:
                self.audio_ring.write(AudioBlock(t=offset + item.t, samples=item.samples))
        self.emit(EventKind.EOF, "synthetic source finished")
