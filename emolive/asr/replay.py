"""Replay recorded audio through the streaming core as if it arrived live, on a simulated session clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emolive.asr.streaming import STEP_S, StreamingTranscriber
from emolive.core.contracts import AudioBlock, TranscriptSegment


@dataclass
class ReplayResult:
    """Everything the stream emitted, its compute time and the seconds of audio replayed."""

    segments: list[TranscriptSegment] = field(default_factory=list)
    compute_s: float = 0.0
    audio_s: float = 0.0

    @property
    def committed(self) -> list[TranscriptSegment]:
        return [s for s in self.segments if s.committed]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.committed)


def replay(
    stream: StreamingTranscriber,
    samples: np.ndarray,
    t0: float = 0.0,
    block_s: float = 0.032,
    poll_s: float = STEP_S,
    tail_s: float = 1.0,
) -> ReplayResult:
    """Feed ``samples`` (16 kHz) in ``block_s`` blocks as a microphone would, waking like the live thread.

    The simulated clock advances by ``poll_s`` between wake-ups, or by the measured compute time when a
    step takes longer (exactly as ``Transcriber`` waits), so emission times (``t_emitted``) and lags are
    what a live run on this machine would see. ``tail_s`` of silence follows the audio, as a pause in live
    speech would. Runs faster than real time.
    """
    sr = stream.config.sample_rate
    audio = np.concatenate([np.asarray(samples, dtype=np.float32), np.zeros(int(tail_s * sr), np.float32)])
    block = max(1, int(block_s * sr))
    result = _Collector(stream)
    fed = 0
    clock = t0 + poll_s  # time of the next wake-up
    while fed < len(audio):
        available = min(len(audio), int((clock - t0) * sr) // block * block)
        while fed < available:
            chunk = audio[fed : min(fed + block, available)]
            stream.feed(AudioBlock(t0 + fed / sr, chunk, sr))
            fed += len(chunk)
        clock = max(clock + poll_s, result.run(stream.step, clock))  # as Transcriber's loop waits
    result.run(stream.finish, clock)
    return ReplayResult(result.segments, stream.compute_s - result.compute0, len(samples) / sr)


class _Collector:
    """Collects segments and moves the simulated clock past the compute each call took."""

    def __init__(self, stream: StreamingTranscriber) -> None:
        self.stream = stream
        self.compute0 = stream.compute_s
        self.segments: list[TranscriptSegment] = []

    def run(self, call: Callable[[float], list[TranscriptSegment]], clock: float) -> float:
        """Call the stream's ``step`` or ``finish`` at simulated time ``clock``; return the time after it."""
        before = self.stream.compute_s
        self.segments += call(clock)
        return clock + (self.stream.compute_s - before)
