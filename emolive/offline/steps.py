"""The step side of an offline analysis: the rings, the worker, the transcript hand-over and the rows, on the
file's clock, with the running summary of what was computed."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from emolive.asr.streaming import STEP_S
from emolive.config import AppConfig
from emolive.core.contracts import AudioBlock, EmotionEstimate, TranscriptSegment, VideoFrame
from emolive.core.labels import EMOTIONS
from emolive.core.rings import AudioRing, FrameRing
from emolive.core.snapshot import restore_segment, segment_state
from emolive.fusion.fuser import UNCERTAIN
from emolive.runtime.worker import InferenceWorker


class Checkpointing(Protocol):
    """What the pipelined path asks of the snapshot taker (``checkpoints.Snapshotter``)."""

    period: float  # media seconds between two checkpoints
    index: int  # checkpoints passed

    def after_step(self, step: int, t: float, asr: Any, ahead: Any) -> None: ...


@dataclass(frozen=True)
class ResumePoint:
    """Where a restored run continues: items the decoder hands on only from these counts on."""

    items: int  # media items the step thread had written into the rings
    frames: int  # of which video frames (earlier frames are decoded but not converted to images)
    asr_blocks: int  # audio blocks the transcriber had processed at its snapshot
    asr_drop: int  # segments it will emit again that the step thread had already received
    asr_state: dict[str, Any] | None


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
    profile: dict[str, Any] | None = None  # CPU-seconds by stage (``runtime.profiling``), when asked for
    hop_s: float = 0.1  # seconds per step: a person's steps in view -> seconds
    people: dict[int, PersonTally] = field(default_factory=dict)

    def add(self, estimate: EmotionEstimate) -> None:
        self.steps += 1
        for person in estimate.people:
            tally = self.people.setdefault(person.person_id, PersonTally(person.name))
            tally.add(person.name, person.primary, person.face.emotion)
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
            "people": [tally.as_dict(pid, self.hop_s) for pid, tally in sorted(self.people.items())],
            **({"profile": self.profile} if self.profile is not None else {}),
        }


@dataclass
class PersonTally:
    """One person's steps in view over an analysis: as the primary, and their face's top class per step."""

    name: str
    steps: int = 0
    primary: int = 0
    top: Counter = field(default_factory=Counter)

    def add(self, name: str, primary: bool, emotion: tuple[float, ...] | None) -> None:
        self.name = name  # the latest name the person had
        self.steps += 1
        self.primary += primary
        if emotion:
            self.top[EMOTIONS[max(range(len(emotion)), key=emotion.__getitem__)]] += 1

    def as_dict(self, person_id: int, hop_s: float) -> dict[str, Any]:
        """Seconds in view (scored), seconds as the primary person, and the share of their steps in view
        on which each emotion was their face's top class."""
        n = max(self.steps, 1)
        return {"person_id": person_id, "person": self.name, "seconds": round(self.steps * hop_s, 3),
                "primary_s": round(self.primary * hop_s, 3),
                "face_share": {e: round(self.top.get(e, 0) / n, 4) for e in EMOTIONS}}



class StepRun:
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
        self.snapshots: Checkpointing | None = None
        self.resume: ResumePoint | None = None

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
