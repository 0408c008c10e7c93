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
from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, EmotionEstimate, TranscriptSegment, VideoFrame
from emolive.core.labels import EMOTIONS
from emolive.core.rings import AudioRing, FrameRing
from emolive.core.snapshot import (
    SnapshotError,
    component_state,
    restore_component,
    restore_segment,
    segment_state,
)
from emolive.fusion.fuser import UNCERTAIN
from emolive.offline.voice_ahead import VoiceAhead
from emolive.runtime.channels import Channels, load_channels
from emolive.runtime.engine import build_engine, new_rings
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
    resumed_from_s: float | None = None  # restored from a snapshot at this file time (computed from there on)

    def add(self, estimate: EmotionEstimate) -> None:
        self.steps += 1
        self.dominant[estimate.dominant] += 1
        self.valence_sum += estimate.valence
        self.arousal_sum += estimate.arousal
        self.step_ms.append(dict(estimate.latency_ms).get("total", 0.0))

    @property
    def speed(self) -> float:
        """Media seconds analysed (after the snapshot, when resumed) per wall-clock second (above 1: faster than
        real time)."""
        done = self.media_s - (self.resumed_from_s or 0.0)
        return done / self.wall_s if self.wall_s > 0 else 0.0

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
            "load_s": round(self.load_s, 3), "resumed_from_s": self.resumed_from_s,
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
                 skip_until: float | None = None, pipelined: bool = True, checkpoints: Checkpoints | None = None,
                 restore: dict[str, Any] | None = None) -> AnalysisSummary:
    """Analyse one file; ``on_estimate`` receives every step's estimate in time order.

    ``progress`` receives the media seconds done so far. ``skip_until`` (resuming): steps at or before this
    file time are computed (the pipeline's state depends on them) but not passed to ``on_estimate``.
    ``checkpoints``: every ``checkpoints.every_s`` media seconds, at a step boundary, the state the later steps
    depend on goes to ``checkpoints.save`` (see ``_Snapshotter``); ``restore`` (such a state, same file, models
    and settings) continues from there: the media is decoded from the start, but nothing before the snapshot is
    computed again. Both need the pipelined path and channels, a fuser and a stream that can snapshot (else
    ``checkpoints`` is ignored with a log line and ``restore`` is a SnapshotError).
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
    engine = build_engine(config, channels, rings=new_rings(config, offline=True), face=info.has_video,
                          voice=info.has_audio, shed_load=False)
    frames, audio, worker = engine.frames, engine.audio, engine.worker
    if stream is not None and engine.speech is not None:
        stream.use_speech(engine.speech)  # one VAD pass over the file, read by the voice channel and the transcriber
    summary = AnalysisSummary(Path(path), duration_s=info.duration)
    summary.load_s = time.perf_counter() - loading
    run = _Run(worker, frames, audio, summary, config, info, on_estimate, on_segment, skip_until)
    if checkpoints is not None and checkpoints.every_s > 0 or restore is not None:
        problem = "the step-wise path" if not pipelined else _cannot_snapshot(worker, stream)
        if restore is not None:
            if problem:
                raise SnapshotError(f"cannot resume from a snapshot: {problem}")
            _restore(run, stream, restore)
            summary.resumed_from_s = float(restore["t"])
        if checkpoints is not None and checkpoints.every_s > 0:
            if problem:
                log.info("no checkpoints for %s: %s", path, problem)
            else:
                run.snapshots = _Snapshotter(checkpoints, run, config)
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
        self.has_video, self.has_audio = bool(info.has_video), bool(info.has_audio)
        self.step_index = 1
        self.video_t = 0.0 if info.has_video else float("inf")
        self.audio_t = 0.0 if info.has_audio else float("inf")
        self.pending: deque[TranscriptSegment] = deque()
        self.consumed = 0  # media items written into the rings
        self.frames_consumed = 0  # of which video frames
        self.received = 0  # transcript segments taken from the transcriber
        self.snapshots: _Snapshotter | None = None
        self.resume: _ResumePoint | None = None

    def next_t(self) -> float:
        return round(self.step_index * self.hop, 6)

    def take(self, segments: list[TranscriptSegment]) -> None:
        self.received += len(segments)
        for segment in segments:
            if segment.committed and segment.text.strip():
                self.summary.transcript.append(segment.text.strip())
            if self.on_segment is not None:
                self.on_segment(segment)
            self.pending.append(segment)

    def write(self, item: VideoFrame | AudioBlock) -> None:
        self.consumed += 1
        if isinstance(item, VideoFrame):
            self.frames.write(item)
            self.frames_consumed += 1
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

    def state(self) -> dict[str, Any]:
        """The step side's own counters, the segments not yet handed to the worker and the summary so far."""
        s = self.summary
        return {"step_index": self.step_index, "video_t": self.video_t, "audio_t": self.audio_t,
                "pending": [segment_state(x) for x in self.pending], "consumed": self.consumed,
                "frames_consumed": self.frames_consumed, "received": self.received,
                "summary": {"steps": s.steps, "dominant": dict(s.dominant), "valence_sum": s.valence_sum,
                            "arousal_sum": s.arousal_sum, "transcript": list(s.transcript)}}

    def restore(self, state: dict[str, Any]) -> None:
        self.step_index = int(state["step_index"])
        self.video_t, self.audio_t = float(state["video_t"]), float(state["audio_t"])
        self.pending = deque(restore_segment(x) for x in state["pending"])
        self.consumed, self.frames_consumed = int(state["consumed"]), int(state["frames_consumed"])
        self.received = int(state["received"])
        saved, s = state["summary"], self.summary
        s.steps, s.dominant = int(saved["steps"]), Counter({str(k): int(v) for k, v in saved["dominant"].items()})
        s.valence_sum, s.arousal_sum = float(saved["valence_sum"]), float(saved["arousal_sum"])
        s.transcript = [str(x) for x in saved["transcript"]]


@dataclass(frozen=True)
class Checkpoints:
    """How often analysis snapshots are taken (media seconds) and who stores them (called in the step thread)."""

    every_s: float
    save: Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class _ResumePoint:
    """Where a restored run continues: items the decoder hands on only from these counts on."""

    items: int  # media items the step thread had written into the rings
    frames: int  # of which video frames (earlier frames are decoded but not converted to images)
    asr_blocks: int  # audio blocks the transcriber had processed at its snapshot
    asr_drop: int  # segments it will emit again that the step thread had already received
    asr_state: dict[str, Any] | None


SNAPSHOT_KIND = "emolive-analysis-state"
AUDIO_MARGIN_S = 0.5  # audio kept in a snapshot beyond the voice window


def _cannot_snapshot(worker: InferenceWorker, stream: Any) -> str:
    """Why this run's state cannot be snapshot ("" when it can)."""
    for name, part in (("face channel", worker.face), ("voice channel", worker.voice),
                       ("text channel", worker.text), ("fuser", worker.fuser)):
        if part is not None and not getattr(part, "stateless", False) and not (
                hasattr(part, "state") and hasattr(part, "restore")):
            return f"the {name} ({type(part).__name__}) has no state()/restore()"
    if stream is not None and not (hasattr(stream, "state") and getattr(stream, "can_snapshot", False)):
        return f"the transcription stream ({type(stream).__name__}) cannot be snapshot"
    return ""


class _Snapshotter:
    """Takes the snapshots of one run, in the step thread, every ``every_steps`` steps (at step ``H``).

    Threads that run ahead of the steps keep their state at a point the step thread can use:

    - the transcriber takes its own state in its thread, after the first audio block whose end reaches ``H``,
      and publishes it with that block's segments (under one lock); it notes how many blocks it had processed and
      how many segments it had emitted. The step thread, at step ``H``, has waited until the transcriber saw the
      audio up to ``H``, so it has that snapshot and all of its segments; it stores both with how many segments it
      had received. On resume the transcriber restarts from its state with the blocks after its own and drops the
      first (received - emitted) segments it emits again: the step thread had them (in the worker, or pending in
      the step side's state). Emission on the file's clock is deterministic, so what follows is exactly the
      uninterrupted run's sequence.
    - the voice look-ahead (``VoiceAhead``) holds before any window of a step after ``H`` until ``release``, so at
      step ``H`` the voice channel's state is the step-wise one; it is released right after the save.
    - the speech timeline shared by the voice channel and the transcriber may have been computed further ahead by
      the transcriber; its probabilities do not depend on who computed them first, so a later state serves.
    """

    def __init__(self, checkpoints: Checkpoints, run: _Run, config: AppConfig) -> None:
        self.save, self.run = checkpoints.save, run
        self.every_steps = max(1, int(round(checkpoints.every_s / run.hop)))
        self.period = self.every_steps * run.hop  # media seconds between two checkpoints
        self.audio_s = config.inference.voice_window_s + AUDIO_MARGIN_S
        self.channels = (run.worker.face, run.worker.voice, run.worker.text)  # before a look-ahead stands in
        self.index = (run.step_index - 1) // self.every_steps  # checkpoints passed (restored runs: not from 0)

    def after_step(self, step: int, t: float, asr: _Transcription | None, ahead: VoiceAhead | None) -> None:
        """After step number ``step`` (at ``t``): take a snapshot when one is due, then let the look-ahead on."""
        if step % self.every_steps:
            return
        self.index = step // self.every_steps
        try:
            asr_state = None
            if asr is not None:
                asr_state = asr.snapshot_for(self.index, self.run.received)
                if asr_state is None:  # the audio ended before this checkpoint: no transcriber state to pair
                    log.debug("no transcriber snapshot for the checkpoint at t = %.2f s", t)
                    return
            run, worker = self.run, self.run.worker
            face, voice, text = self.channels
            state = {"kind": SNAPSHOT_KIND, "t": t, "every_steps": self.every_steps, "run": run.state(),
                     "worker": worker.state(), "fuser": worker.fuser.state(), "face": component_state(face),
                     "voice": component_state(voice), "text": component_state(text),
                     "frames": run.frames.state(t), "asr": asr_state,
                     # what a later voice window can read: a voice window before t up to the newest sample
                     "audio": run.audio.state(max(0.0, run.audio.end_time - t) + self.audio_s)}
            self.save(state)
        finally:
            if ahead is not None:
                ahead.release()


def _restore(run: _Run, stream: Any, state: dict[str, Any]) -> None:
    """Put a run back where ``state`` (from ``_Snapshotter``) was taken; SnapshotError when it does not fit."""
    if state.get("kind") != SNAPSHOT_KIND:
        raise SnapshotError("not an analysis snapshot")
    if (state.get("asr") is None) != (stream is None):
        raise SnapshotError("the snapshot was taken with transcription " + ("off" if stream is not None else "on"))
    worker = run.worker
    try:
        run.restore(state["run"])
        worker.restore(state["worker"])
        worker.fuser.restore(state["fuser"])
        for part, key in ((worker.face, "face"), (worker.voice, "voice"), (worker.text, "text")):
            restore_component(part, state[key])
        run.frames.restore(state["frames"])
        run.audio.restore(state["audio"])
        asr = state["asr"]
        if asr is not None:
            stream.restore(asr["stream"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SnapshotError(f"the snapshot does not fit this analysis ({type(exc).__name__}: {exc})") from exc
    run.resume = _ResumePoint(
        items=run.consumed, frames=run.frames_consumed,
        asr_blocks=int(asr["blocks"]) if asr is not None else 0,
        asr_drop=run.received - int(asr["emitted"]) if asr is not None else 0, asr_state=asr)
    if run.resume.asr_drop < 0:
        raise SnapshotError("the snapshot's transcriber state is newer than its step state")


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
        self.processed = 0  # audio blocks fed to the stream (counting those before a restored snapshot)
        self.emitted = 0  # segments the stream emitted (the same count)
        self.drop = 0  # segments still to drop after a restore (the step thread has them)
        self.next_asr = run.asr_every
        self.period = run.snapshots.period if run.snapshots is not None else 0.0
        self.next_index = run.snapshots.index + 1 if run.snapshots is not None else 0  # the next checkpoint
        self.snaps: list[dict[str, Any]] = []  # taken here, collected by the step thread (under ``changed``)
        point = run.resume
        if point is not None and point.asr_state is not None:
            self.processed, self.emitted = point.asr_blocks, int(point.asr_state["emitted"])
            self.drop, self.next_asr = point.asr_drop, float(point.asr_state["next_asr"])

    def snapshot_for(self, index: int, received: int) -> dict[str, Any] | None:
        """The newest snapshot taken for checkpoint ``index`` or before whose segments the step thread has all
        received (it and older ones are then forgotten), or None."""
        with self.changed:
            usable = [x for x in self.snaps if x["index"] <= index and x["emitted"] <= received]
            if usable:
                self.snaps = [x for x in self.snaps if x["index"] > usable[-1]["index"]]
                return usable[-1]
            return None

    def _snapshot(self, end: float) -> dict[str, Any] | None:
        """After the block ending at ``end``: the stream's state if this is the first block to reach the next
        checkpoint time (published with the block's segments, see ``_Snapshotter``)."""
        if not self.period or end + 1e-9 < self.next_index * self.period:
            return None
        index = int((end + 1e-9) // self.period)  # a long block may reach several checkpoints: the newest
        snap = {"stream": self.stream.state(), "next_asr": self.next_asr, "blocks": self.processed,
                "emitted": self.emitted, "index": index}
        self.next_index = index + 1
        return snap

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    item = self.blocks.get(timeout=0.1)
                except queue.Empty:
                    continue
                t0 = time.perf_counter()
                if isinstance(item, tuple) and item[0] is _END:
                    out = self._count(self.stream.finish(item[1]))
                    self.compute_s += time.perf_counter() - t0
                    self._publish(out, float("inf"), done=True)
                    return
                self.stream.feed(item)
                self.processed += 1
                end = item.t + item.duration
                out: list[TranscriptSegment] = []
                if end >= self.next_asr:
                    out = self.stream.step(end)
                    self.next_asr = end + self.run.asr_every
                self.compute_s += time.perf_counter() - t0
                out = self._count(out)
                self._publish(out, end, snap=self._snapshot(end))
        except BaseException as exc:  # handed to the main thread, which raises it
            with self.changed:
                self.error, self.done = exc, True
                self.changed.notify_all()

    def _count(self, out: list[TranscriptSegment]) -> list[TranscriptSegment]:
        """Count emitted segments; after a restore, drop those the step thread already has."""
        self.emitted += len(out)
        if self.drop:
            n = min(self.drop, len(out))
            self.drop -= n
            out = out[n:]
        return out

    def _publish(self, segments: list[TranscriptSegment], seen: float, done: bool = False,
                 snap: dict[str, Any] | None = None) -> None:
        with self.changed:
            if snap is not None:
                self.snaps.append(snap)
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
    point, snapshots = run.resume, run.snapshots
    ahead = None
    if run.worker.voice is not None:  # the voice windows in a thread of their own, ahead of the steps
        ahead = VoiceAhead(run.worker.voice, run.worker.config, run.worker.base_detect_every, stop,
                           hold_every_s=snapshots.period if snapshots is not None else 0.0)
        if point is not None:  # it goes on from the restored step, with the worker's voice decisions and audio
            ahead.restore(run.step_index - 1, run.worker.voice_windows_state(),
                          run.audio.state(run.audio.capacity / run.audio.sample_rate),
                          snapshots.index if snapshots is not None else 0)
        run.worker.voice = ahead
    skip_items, skip_blocks = (point.items, point.asr_blocks) if point is not None else (0, 0)

    def step() -> None:
        run.emit()
        if snapshots is not None:  # at every step, also the last ones: the voice look-ahead waits for it
            snapshots.after_step(run.step_index - 1, round((run.step_index - 1) * run.hop, 6), asr, ahead)

    def decode() -> None:
        video_t, audio_t = (0.0 if run.has_video else float("inf")), (0.0 if run.has_audio else float("inf"))
        index, blocks = 0, 0
        try:
            # only the frames a step reads are converted; the step-wise reference converts every frame
            for item in source.iter_media(images_from=point.frames if point is not None else 0, step_s=run.hop):
                index += 1
                if isinstance(item, AudioBlock):
                    audio_t = item.t + item.duration
                    blocks += 1
                    # the transcriber first (see wait_until); after a restore, only the blocks after its snapshot
                    if asr is not None and blocks > skip_blocks and not _put(asr.blocks, item, stop):
                        return
                    if ahead is not None and index > skip_items and not ahead.put(item):  # before the steps
                        return
                else:
                    video_t = item.t
                if index > skip_items and not _put(items, item, stop):  # resumed: only what follows the snapshot
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
                step()
            if progress is not None:
                progress(run.ready)
        if asr is not None:
            run.take(asr.wait_until(float("inf")))
        while run.next_t() <= end + 1e-9:
            step()
        if run.pending:  # words committed at the very end get one last estimate (one hop on), as live
            step()
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
