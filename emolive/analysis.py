"""Offline analysis: the live pipeline's steps driven by a media file's own clock, as fast as the CPU allows.

The same ``InferenceWorker.step`` and the same streaming transcriber run here as in the live app; only the
clock differs (file time instead of the monotonic clock), so results are deterministic and match what the
live view would have shown for the same input.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolive.capture.media_file import MediaFileSource
from emolive.channels import Channels, load_channels
from emolive.clock import SessionClock
from emolive.config import AppConfig, AsrConfig
from emolive.contracts import AudioBlock, EmotionEstimate, TranscriptSegment, VideoFrame
from emolive.fusion.fuser import UNCERTAIN, fuser_for
from emolive.labels import EMOTIONS
from emolive.rings import AudioRing, FrameRing
from emolive.worker import InferenceWorker

log = logging.getLogger(__name__)


@dataclass
class AnalysisSummary:
    path: Path
    steps: int = 0
    media_s: float = 0.0
    duration_s: float = 0.0  # what the container says (0.0 when it does not)
    wall_s: float = 0.0
    dominant: Counter = field(default_factory=Counter)
    valence_sum: float = 0.0
    arousal_sum: float = 0.0
    transcript: list[str] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)
    asr_s: float = 0.0
    load_s: float = 0.0

    def add(self, estimate: EmotionEstimate) -> None:
        self.steps += 1
        self.dominant[estimate.dominant] += 1
        self.valence_sum += estimate.valence
        self.arousal_sum += estimate.arousal
        self.step_ms.append(dict(estimate.latency_ms).get("total", 0.0))

    @property
    def speed(self) -> float:
        """Media seconds analysed per wall-clock second (above 1: faster than real time)."""
        return self.media_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def ended_early(self) -> bool:
        """The media stopped well before the duration its container states (truncated or corrupt tail)."""
        return self.duration_s > 0 and self.media_s < self.duration_s - max(0.5, 0.01 * self.duration_s)

    def as_dict(self) -> dict[str, Any]:
        n = max(self.steps, 1)
        return {
            "path": str(self.path), "steps": self.steps, "media_s": round(self.media_s, 3),
            "duration_s": round(self.duration_s, 3),
            "wall_s": round(self.wall_s, 3), "speed_x_realtime": round(self.speed, 2),
            "time_share": {e: round(self.dominant.get(e, 0) / n, 4) for e in (*EMOTIONS, UNCERTAIN)},
            "mean_valence": round(self.valence_sum / n, 4), "mean_arousal": round(self.arousal_sum / n, 4),
            "transcript": " ".join(self.transcript), "asr_s": round(self.asr_s, 3),
            "load_s": round(self.load_s, 3),
        }


def make_stream(decoder: Any, config: AsrConfig, vad: Any = None):
    """The streaming transcriber on the file's clock: its commits depend on the audio only, not on the CPU."""
    from emolive.asr.streaming import StreamConfig, StreamingTranscriber

    return StreamingTranscriber(decoder, vad=vad, config=StreamConfig(interval_s=config.interval_s, file_clock=True))


def build_stream(config: AsrConfig):
    """The streaming transcriber used live and offline (Whisper + VAD + commit policy), on the file's clock."""
    from emolive.asr.decoder import DecodeOptions, WhisperDecoder
    from emolive.asr.models import load_whisper

    model = load_whisper(config.model, threads=config.threads)
    return make_stream(WhisperDecoder(model, DecodeOptions(language=config.language or None)), config)


def analyze_file(path: str | Path, config: AppConfig, asr: bool = True, channels: Channels | None = None,
                 on_estimate: Callable[[EmotionEstimate], None] | None = None,
                 on_segment: Callable[[TranscriptSegment], None] | None = None,
                 progress: Callable[[float], None] | None = None, stream: Any = None,
                 skip_until: float | None = None) -> AnalysisSummary:
    """Analyse one file; ``on_estimate`` receives every step's estimate in time order.

    ``progress`` receives the media seconds done so far. ``skip_until`` (resuming): steps at or before this
    file time are computed (the pipeline's state depends on them) but not passed to ``on_estimate``.
    Transcript updates reach the worker at the first step at or after their emission time, as live.
    """
    loading = time.perf_counter()
    source = MediaFileSource(path, SessionClock(), realtime=False)
    info = source.info
    channels = channels or load_channels(config.inference, face=info.has_video, voice=info.has_audio)
    if asr and info.has_audio and stream is None and config.asr.enabled:
        stream = build_stream(config.asr)
    if not info.has_audio:
        stream = None
    frames = FrameRing(config.capture.frame_ring)
    audio = AudioRing(config.capture.audio_seconds)
    inference = config.inference
    fuser = fuser_for(inference)
    worker = InferenceWorker(frames, audio, fuser, config.inference,
                             face=channels.face if info.has_video else None,
                             voice=channels.voice if info.has_audio else None, text=channels.text,
                             shed_load=False)
    summary = AnalysisSummary(Path(path), duration_s=info.duration)
    summary.load_s = time.perf_counter() - loading
    started = time.perf_counter()
    hop = config.inference.hop_s
    step_index = 1
    frame_s = 1.0 / (info.fps or 30.0)
    video_t = 0.0 if info.has_video else float("inf")
    audio_t = 0.0 if info.has_audio else float("inf")
    next_asr = config.asr.interval_s / 2
    pending: deque[TranscriptSegment] = deque()

    def take_segments(segments: list[TranscriptSegment]) -> None:
        for segment in segments:
            if segment.committed and segment.text.strip():
                summary.transcript.append(segment.text.strip())
            if on_segment is not None:
                on_segment(segment)
            pending.append(segment)

    def emit(t: float) -> None:
        while pending and pending[0].t_emitted <= t + 1e-9:
            worker.add_segment(pending.popleft())
        estimate = worker.step(t)
        summary.add(estimate)
        if on_estimate is not None and (skip_until is None or t > skip_until + 1e-6):
            on_estimate(estimate)

    for item in source.iter_media():
        if isinstance(item, VideoFrame):
            frames.write(item)
            video_t = item.t
        elif isinstance(item, AudioBlock):
            audio.write(item)
            audio_t = item.t + item.duration
            if stream is not None:
                stream.feed(item)
                if audio_t >= next_asr:
                    t0 = time.perf_counter()
                    take_segments(stream.step(audio_t))
                    summary.asr_s += time.perf_counter() - t0
                    next_asr = audio_t + min(0.25, config.asr.interval_s)
        ready = min(video_t, audio_t)
        while round(step_index * hop, 6) <= ready:
            emit(round(step_index * hop, 6))
            step_index += 1
        if progress is not None:
            progress(ready)
    ends = [t for t in (video_t + frame_s, audio_t) if t != float("inf")]
    end = max(ends) if ends else 0.0
    if stream is not None:
        t0 = time.perf_counter()
        take_segments(stream.finish(end))
        summary.asr_s += time.perf_counter() - t0
    while round(step_index * hop, 6) <= end + 1e-9:
        emit(round(step_index * hop, 6))
        step_index += 1
    if pending:  # words committed at the very end get one last estimate (one hop on), as live
        emit(round(step_index * hop, 6))
    summary.media_s = end
    summary.wall_s = time.perf_counter() - started
    if progress is not None:
        progress(end)
    return summary
