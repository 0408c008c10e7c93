"""Offline analysis: the live pipeline's steps driven by a media file's own clock, as fast as the CPU allows.

The same ``InferenceWorker.step`` and the same streaming transcriber run here as in the live app; only the
clock differs (file time instead of the monotonic clock), so results are deterministic and match what the
live view would have shown for the same input.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emolive.asr.builder import build_stream as build
from emolive.asr.streaming import STEP_S, StreamConfig, StreamingTranscriber
from emolive.capture.media_file import MediaFileSource
from emolive.config import AppConfig, AsrConfig
from emolive.contracts import AudioBlock, EmotionEstimate, TranscriptSegment, VideoFrame
from emolive.fusion.fuser import UNCERTAIN
from emolive.labels import EMOTIONS
from emolive.runtime.channels import Channels, load_channels
from emolive.runtime.clock import SessionClock
from emolive.runtime.engine import build_engine
from emolive.runtime.rings import AudioRing, FrameRing
from emolive.runtime.voice_ahead import VoiceAhead
from emolive.runtime.worker import InferenceWorker

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


def offline_stream_config(config: AsrConfig) -> StreamConfig:
    """The transcription policy offline: on the file's clock, one decode per utterance unless asked otherwise."""
    return StreamConfig(interval_s=config.interval_s, file_clock=True, partials=config.offline_partials)


def make_stream(decoder: Any, config: AsrConfig, vad: Any = None) -> StreamingTranscriber:
    """The streaming transcriber on the file's clock around ``decoder``: its commits depend on the audio only."""
    return StreamingTranscriber(decoder, vad=vad, config=offline_stream_config(config))


def build_stream(config: AsrConfig) -> StreamingTranscriber:
    """The transcription stream offline: ``asr.builder.build_stream`` (as live) with the offline policy."""
    return build(config.model, offline_stream_config(config), language=config.language or None,
                 threads=config.threads)


def analyze_file(path: str | Path, config: AppConfig, asr: bool = True, channels: Channels | None = None,
                 on_estimate: Callable[[EmotionEstimate], None] | None = None,
                 on_segment: Callable[[TranscriptSegment], None] | None = None,
                 progress: Callable[[float], None] | None = None, stream: Any = None,
                 skip_until: float | None = None, pipelined: bool = True) -> AnalysisSummary:
    """Analyse one file; ``on_estimate`` receives every step's estimate in time order.

    ``progress`` receives the media seconds done so far. ``skip_until`` (resuming): steps at or before this
    file time are computed (the pipeline's state depends on them) but not passed to ``on_estimate``.
    Transcript updates reach the worker at the first step at or after their emission time, as live.
    ``pipelined`` (default): decoding and transcription run in their own threads, ahead of the steps, as fast as
    they go; ``pipelined=False`` is the step-wise reference (one thread, decode -> transcribe -> step in turn).
    Both give the same rows: each step waits until the transcriber has seen the audio up to its time.
    """
    loading = time.perf_counter()
    source = MediaFileSource(path, SessionClock(), realtime=False)
    info = source.info
    channels = channels or load_channels(config.inference, face=info.has_video, voice=info.has_audio)
    if asr and info.has_audio and stream is None and config.asr.enabled:
        stream = build_stream(config.asr)
    if not info.has_audio:
        stream = None
    # each file is a session (build_engine resets the face tracks and the voice's speaker statistics)
    engine = build_engine(config, channels, face=info.has_video, voice=info.has_audio, shed_load=False)
    frames, audio, worker = engine.frames, engine.audio, engine.worker
    if stream is not None and engine.speech is not None:
        stream.use_speech(engine.speech)  # one VAD pass over the file, read by the voice channel and the transcriber
    summary = AnalysisSummary(Path(path), duration_s=info.duration)
    summary.load_s = time.perf_counter() - loading
    run = _Run(worker, frames, audio, summary, config, info, on_estimate, on_segment, skip_until)
    started = time.perf_counter()
    end = _pipelined(source, run, stream, progress) if pipelined else _stepwise(source, run, stream, progress)
    summary.media_s = end
    summary.wall_s = time.perf_counter() - started
    if progress is not None:
        progress(end)
    return summary


class _Run:
    """The step side of one analysis: rings, worker, transcript hand-over and the rows, on the file's clock."""

    def __init__(self, worker: InferenceWorker, frames: FrameRing, audio: AudioRing, summary: AnalysisSummary,
                 config: AppConfig, info: Any, on_estimate: Callable[[EmotionEstimate], None] | None,
                 on_segment: Callable[[TranscriptSegment], None] | None, skip_until: float | None) -> None:
        self.worker, self.frames, self.audio, self.summary = worker, frames, audio, summary
        self.on_estimate, self.on_segment, self.skip_until = on_estimate, on_segment, skip_until
        self.hop = config.inference.hop_s
        self.asr_every = STEP_S  # the live transcriber's cadence, on the file's clock
        self.frame_s = 1.0 / (info.fps or 30.0)
        self.step_index = 1
        self.video_t = 0.0 if info.has_video else float("inf")
        self.audio_t = 0.0 if info.has_audio else float("inf")
        self.pending: deque[TranscriptSegment] = deque()

    def next_t(self) -> float:
        return round(self.step_index * self.hop, 6)

    def take(self, segments: list[TranscriptSegment]) -> None:
        for segment in segments:
            if segment.committed and segment.text.strip():
                self.summary.transcript.append(segment.text.strip())
            if self.on_segment is not None:
                self.on_segment(segment)
            self.pending.append(segment)

    def write(self, item: VideoFrame | AudioBlock) -> None:
        if isinstance(item, VideoFrame):
            self.frames.write(item)
            self.video_t = item.t
        else:
            self.audio.write(item)
            self.audio_t = item.t + item.duration

    @property
    def ready(self) -> float:
        return min(self.video_t, self.audio_t)

    def end(self) -> float:
        ends = [t for t in (self.video_t + self.frame_s, self.audio_t) if t != float("inf")]
        return max(ends) if ends else 0.0

    def emit(self) -> None:
        t = self.next_t()
        self.step_index += 1
        while self.pending and self.pending[0].t_emitted <= t + 1e-9:
            self.worker.add_segment(self.pending.popleft())
        estimate = self.worker.step(t)
        self.summary.add(estimate)
        if self.on_estimate is not None and (self.skip_until is None or t > self.skip_until + 1e-6):
            self.on_estimate(estimate)


def _stepwise(source: MediaFileSource, run: _Run, stream: Any, progress: Callable[[float], None] | None) -> float:
    """The reference: decode an item, feed the transcriber, run every step that is due, in one thread."""
    next_asr = run.asr_every
    for item in source.iter_media():
        run.write(item)
        if isinstance(item, AudioBlock) and stream is not None:
            stream.feed(item)
            if run.audio_t >= next_asr:
                t0 = time.perf_counter()
                run.take(stream.step(run.audio_t))
                run.summary.asr_s += time.perf_counter() - t0
                next_asr = run.audio_t + run.asr_every
        while run.next_t() <= run.ready:
            run.emit()
        if progress is not None:
            progress(run.ready)
    end = run.end()
    if stream is not None:
        t0 = time.perf_counter()
        run.take(stream.finish(end))
        run.summary.asr_s += time.perf_counter() - t0
    while run.next_t() <= end + 1e-9:
        run.emit()
    if run.pending:  # words committed at the very end get one last estimate (one hop on), as live
        run.emit()
    return end


_END = object()


class _Transcription:
    """The transcriber in its own thread: the same feed/step calls as the step-wise path, as fast as it goes.

    ``seen`` is the end of the newest audio block processed; everything it will still emit is stamped later
    than that (file clock), so a step at ``t <= seen`` already has every segment it would have had step-wise.
    """

    def __init__(self, stream: Any, run: _Run, stop: threading.Event) -> None:
        self.stream, self.run, self.stop = stream, run, stop
        self.blocks: queue.Queue = queue.Queue(maxsize=4000)
        self.segments: list[TranscriptSegment] = []
        self.seen = -1.0
        self.done = False
        self.error: BaseException | None = None
        self.compute_s = 0.0
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._loop, name="emolive-analysis-asr", daemon=True)

    def _loop(self) -> None:
        next_asr = self.run.asr_every
        try:
            while not self.stop.is_set():
                try:
                    item = self.blocks.get(timeout=0.1)
                except queue.Empty:
                    continue
                t0 = time.perf_counter()
                if isinstance(item, tuple) and item[0] is _END:
                    out = self.stream.finish(item[1])
                    self.compute_s += time.perf_counter() - t0
                    self._publish(out, float("inf"), done=True)
                    return
                self.stream.feed(item)
                end = item.t + item.duration
                out: list[TranscriptSegment] = []
                if end >= next_asr:
                    out = self.stream.step(end)
                    next_asr = end + self.run.asr_every
                self.compute_s += time.perf_counter() - t0
                self._publish(out, end)
        except BaseException as exc:  # handed to the main thread, which raises it
            with self.changed:
                self.error, self.done = exc, True
                self.changed.notify_all()

    def _publish(self, segments: list[TranscriptSegment], seen: float, done: bool = False) -> None:
        with self.changed:
            self.segments += segments
            self.seen = seen
            self.done = done
            self.changed.notify_all()

    def wait_until(self, t: float) -> list[TranscriptSegment]:
        """Block until the transcriber has processed the audio up to ``t`` (or ended); its new segments."""
        with self.changed:
            while not (self.seen >= t or self.done or self.stop.is_set()):
                self.changed.wait(0.1)
            if self.error is not None:
                raise self.error
            out, self.segments = self.segments, []
            return out


def _put(target: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            target.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _pipelined(source: MediaFileSource, run: _Run, stream: Any, progress: Callable[[float], None] | None) -> float:
    """Decoding and transcription in their own threads, the steps here; the rows equal ``_stepwise``'s."""
    stop = threading.Event()
    items: queue.Queue = queue.Queue(maxsize=64)
    asr = _Transcription(stream, run, stop) if stream is not None else None
    ahead = None
    if run.worker.voice is not None:  # the voice windows in a thread of their own, ahead of the steps
        ahead = VoiceAhead(run.worker.voice, run.worker.config, run.worker.base_detect_every, stop)
        run.worker.voice = ahead

    def decode() -> None:
        video_t, audio_t = (0.0 if run.video_t == 0.0 else float("inf")), (0.0 if run.audio_t == 0.0 else float("inf"))
        try:
            for item in source.iter_media():
                if isinstance(item, AudioBlock):
                    audio_t = item.t + item.duration
                    if asr is not None and not _put(asr.blocks, item, stop):  # the transcriber first: see wait_until
                        return
                    if ahead is not None and not ahead.put(item):  # before the steps that need it
                        return
                else:
                    video_t = item.t
                if not _put(items, item, stop):
                    return
            ends = [t for t in (video_t + run.frame_s, audio_t) if t != float("inf")]
            end = max(ends) if ends else 0.0
            if asr is not None:
                _put(asr.blocks, (_END, end), stop)
            if ahead is not None:
                ahead.finish(end)
            _put(items, (_END, end), stop)
        except BaseException as exc:
            if asr is not None:
                _put(asr.blocks, (_END, 0.0), stop)
            if ahead is not None:
                ahead.finish(0.0)
            _put(items, exc, stop)

    decoder = threading.Thread(target=decode, name="emolive-analysis-decode", daemon=True)
    decoder.start()
    if asr is not None:
        asr.thread.start()
    if ahead is not None:
        ahead.thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, tuple) and item[0] is _END:
                end = item[1]
                break
            run.write(item)
            while run.next_t() <= run.ready:
                if asr is not None:
                    run.take(asr.wait_until(run.next_t()))
                run.emit()
            if progress is not None:
                progress(run.ready)
        if asr is not None:
            run.take(asr.wait_until(float("inf")))
        while run.next_t() <= end + 1e-9:
            run.emit()
        if run.pending:  # words committed at the very end get one last estimate (one hop on), as live
            run.emit()
        return end
    finally:
        stop.set()
        decoder.join(timeout=5)
        if asr is not None:
            asr.thread.join(timeout=30)
            run.summary.asr_s += asr.compute_s
        if ahead is not None:
            ahead.thread.join(timeout=30)
            if ahead.inline:
                log.warning("%d voice windows were scored in the step thread (look-ahead out of step)", ahead.inline)
