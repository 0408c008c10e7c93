"""Frozen dataclasses that cross thread boundaries. Every one carries a session-clock time."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np


def frozen_array(array: np.ndarray) -> np.ndarray:
    """Return ``array`` marked read-only so a frozen dataclass really is immutable."""
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class VideoFrame:
    """One BGR uint8 image (H x W x 3) stamped at capture (or presentation) time ``t``."""

    t: float
    index: int
    image: np.ndarray


@dataclass(frozen=True)
class AudioBlock:
    """Mono float32 samples at ``sample_rate``; ``t`` is the session time of the first sample."""

    t: float
    samples: np.ndarray
    sample_rate: int = 16_000

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


class SourceKind(StrEnum):
    """The capture sources (``CaptureSource.name``; ``SourceEvent.source`` of their events)."""

    CAMERA = "camera"
    MICROPHONE = "microphone"
    FILE = "file"
    SYNTHETIC = "synthetic"

    @property
    def has_audio(self) -> bool:
        return self is not SourceKind.CAMERA

    @property
    def is_picture(self) -> bool:
        """A real picture source, whose failure leaves the video view empty."""
        return self in (SourceKind.CAMERA, SourceKind.FILE)


def source_kind(name: str) -> SourceKind | None:
    """The SourceKind called ``name``, None for anything else (another part of the pipeline, a test's stand-in)."""
    try:
        return SourceKind(name)
    except ValueError:
        return None


class EventKind(StrEnum):
    EOF = "eof"
    ERROR = "error"
    INFO = "info"


@dataclass(frozen=True)
class SourceEvent:
    """A non-data message: end of stream, an error, a measured rate. ``source`` is a SourceKind for capture
    threads, else the part that reports ("models", "inference", "transcriber")."""

    t: float
    source: str
    kind: EventKind | str
    message: str = ""

    @property
    def capture_source(self) -> SourceKind | None:
        """The capture source that sent this event, None for other parts."""
        return source_kind(self.source)


@dataclass(frozen=True)
class FaceBox:
    """A face in frame pixel coordinates with a stable tracker id and, with identities, the person it is."""

    x: int
    y: int
    w: int
    h: int
    track_id: int
    score: float = 1.0
    person_id: int | None = None  # outlives the track (emolive.face.identity); None: no person assigned
    person: str = ""  # the person's display name: the user's name for them, else "person N"


@dataclass(frozen=True)
class ModalityOutput:
    """What one channel (face, voice or text) says at time ``t``.

    ``present`` is False when the channel has nothing to say ("no face", "no speech", "no text");
    then ``reason`` says why and the probability fields are None. ``quality`` in [0, 1] is how far
    the input can be trusted (face size/blur, speech presence, transcript confidence).
    """

    modality: str
    t: float
    present: bool
    emotion: tuple[float, ...] | None = None  # over labels.EMOTIONS
    sentiment: tuple[float, ...] | None = None  # over labels.SENTIMENTS
    valence: float | None = None
    arousal: float | None = None
    quality: float = 0.0
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)
    reason: str = ""
    latency_ms: float = 0.0
    # the features the channel's head read (voice: after the running normalisation); personal calibration adapts
    # the head on them
    head_input: np.ndarray | None = field(default=None, compare=False, repr=False)
    # the class prior ``emotion`` carries (the shares of the channel's training labels, over labels.EMOTIONS);
    # None: uniform. Fusion divides it out, so every channel votes with the same (uniform) prior.
    prior: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class TranscriptSegment:
    """Transcribed speech on the session clock. Committed segments never change afterwards."""

    text: str
    start: float
    end: float
    committed: bool
    confidence: float
    words: tuple[Word, ...] = ()
    t_emitted: float = 0.0
    language: str = ""  # the transcriber's verdict: "en", "other" (not English), a language code, "" (none)


@dataclass(frozen=True)
class PersonEstimate:
    """One person in view at a step: their face box and their face channel's output. ``primary`` marks the
    person the voice and the words are fused with: the estimate's fused fields are theirs."""

    person_id: int
    name: str
    box: FaceBox
    face: ModalityOutput
    primary: bool = False


@dataclass(frozen=True)
class EmotionEstimate:
    """The fused estimate published by the inference worker every hop."""

    t: float
    emotion: tuple[float, ...]  # over labels.EMOTIONS
    sentiment: tuple[float, ...]  # over labels.SENTIMENTS
    valence: float
    arousal: float
    dominant: str  # one of labels.EMOTIONS, or "uncertain"
    confidence: float
    modalities: tuple[ModalityOutput, ...] = ()
    weights: tuple[tuple[str, float], ...] = ()  # (modality, fusion weight)
    staleness: tuple[tuple[str, float], ...] = ()  # (modality, seconds since its input)
    faces: tuple[FaceBox, ...] = ()
    latency_ms: tuple[tuple[str, float], ...] = ()  # (stage, ms), includes "total"
    transcript: str = ""  # text committed during this step
    degraded: str = ""  # what the worker switched off to keep the budget, if anything
    agreement: float | None = None  # how much the trusted channels agree, 0-1; None with fewer than two
    people: tuple[PersonEstimate, ...] = ()  # every scored person, the primary first; () with people off
    # (modality, reason) of each channel whose fusion weight was cut, e.g. ("voice", "voice: disagrees 5 s")
    discounts: tuple[tuple[str, str], ...] = ()

    def modality(self, name: str) -> ModalityOutput | None:
        return next((m for m in self.modalities if m.modality == name), None)


# --- what the inference worker needs from each channel (face.channel, voice.channel, text.channel, test fakes) --
class FaceLike(Protocol):
    detect_every: int

    def process(self, frame: VideoFrame, detect: bool | None = None) -> tuple[ModalityOutput, tuple[FaceBox, ...]]: ...


class VoiceLike(Protocol):
    def process(self, samples: np.ndarray, t: float) -> ModalityOutput: ...


class TextLike(Protocol):
    def process(self, text: str, t: float, context: Any = ()) -> ModalityOutput: ...


@dataclass(frozen=True)
class PipelineStatus:
    """What ``LivePipeline.status()`` reports for the status bar; a None figure is not known (yet)."""

    capture_fps: float | None = None
    step_p50_ms: float | None = None
    step_p95_ms: float | None = None
    budget_ms: float | None = None
    device: str = ""
    asr_lag_s: float | None = None  # None: no transcriber running (or still loading)
    asr_skipped_s: float | None = None
    dropped_steps: int = 0
    degraded: str = ""
    picture: bool = True  # False: no source gives pictures (an audio-only file, no camera)
    loading: tuple[str, ...] = ()  # channels still loading after the start ("voice", "text")


class PipelineSink(Protocol):
    """Where a running pipeline sends what it makes: estimates, transcript updates and source events (errors).

    Called on the pipeline's worker threads: a sink hands the data over (a queue, a queued Qt signal) and
    returns at once.
    """

    def on_estimate(self, estimate: EmotionEstimate) -> None: ...

    def on_segment(self, segment: TranscriptSegment) -> None: ...

    def on_event(self, event: SourceEvent) -> None: ...
