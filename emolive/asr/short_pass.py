"""Whisper passes that do not pay for 30 s of padding.

faster-whisper pads every window's log-mel features with zeros to Whisper's 30 s (3000 frames) before the
encoder pass, and that pass over the padding is about two thirds of a decode of a 4 s utterance here. Inside
``ShortPassWhisper.short_passes(min_s)`` the encoder sees the window's audio plus ``TAIL_S`` of the padding, and
at least ``min_s`` seconds in all. At 8 s tiny.en looped on short clips and their segments failed the hallucination
gates (docs/experiments/2026-12-07-short-whisper-passes.md), hence the floor.

Written here rather than taken from a library: faster-whisper has no such option (its ``chunk_length`` changes
where windows are cut, not how far each is padded), and overriding its public ``encode`` keeps the rest of its
decoding (prompts, timestamps, word alignment) as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from faster_whisper import WhisperModel

WINDOW_FRAMES = 3000  # Whisper's 30 s window in log-mel frames (100 per second)
FRAMES_PER_S = 100
TAIL_S = 1.0  # padding kept after the audio


def pass_frames(content: int, min_s: float) -> int:
    """Frames the encoder sees for ``content`` frames of audio: content + TAIL_S, at least ``min_s``, even, at most
    the full window (the encoder's first convolution has stride 2)."""
    frames = max(int(round(min_s * FRAMES_PER_S)), content + int(TAIL_S * FRAMES_PER_S))
    frames += frames % 2
    return min(WINDOW_FRAMES, frames)


def content_frames(features: np.ndarray) -> int:
    """Frames ``[batch, mels, frames]`` up to the last one not all zeros (faster-whisper pads with exact zeros)."""
    used = np.flatnonzero(np.any(features != 0, axis=(0, 1)))
    return int(used[-1]) + 1 if used.size else 0


class ShortPassWhisper(WhisperModel):
    """A ``WhisperModel`` whose padded 30 s encoder passes are cut short on the threads that ask for it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._asked = threading.local()  # per thread: the voice channel's encoder shares the model

    @contextmanager
    def short_passes(self, min_s: float) -> Iterator[None]:
        """Within the block, this thread's padded passes cover the audio + TAIL_S, at least ``min_s`` seconds
        (``min_s >= 30``: Whisper's full window, as without the block)."""
        before = getattr(self._asked, "min_s", None)
        self._asked.min_s = float(min_s)
        try:
            yield
        finally:
            self._asked.min_s = before

    def encode(self, features: np.ndarray):  # noqa: ANN201 - ctranslate2.StorageView
        min_s = getattr(self._asked, "min_s", None)
        batch = features if features.ndim == 3 else features[None]
        if min_s is not None and min_s * FRAMES_PER_S < WINDOW_FRAMES and batch.shape[-1] == WINDOW_FRAMES:
            frames = pass_frames(content_frames(batch), min_s)
            features = np.ascontiguousarray(batch[..., :frames])
        return super().encode(features)
