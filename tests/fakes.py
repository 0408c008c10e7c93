"""Stand-ins shared by the tests: a pipeline that replays a file, a recorder, a model switcher, estimates."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emolive.capture.media_file import MediaFileSource
from emolive.clock import SessionClock
from emolive.config import AppConfig, InferenceConfig
from emolive.contracts import (
    EmotionEstimate,
    FaceBox,
    ModalityOutput,
    PipelineSink,
    PipelineStatus,
    SourceEvent,
    TranscriptSegment,
)
from emolive.gui.interfaces import Sources
from emolive.labels import EMOTIONS
from emolive.rings import AudioRing, FrameRing
from emolive.sinks import SinkList

BOX = FaceBox(x=220, y=120, w=200, h=220, track_id=1)


def estimate(t: float, dominant: str = "joy", text_sentiment: tuple[float, ...] | None = None,
             transcript: str = "") -> EmotionEstimate:
    """A plausible fused estimate: ``dominant`` at 0.7, a face in BOX, voice silent, text optional."""
    probs = np.full(len(EMOTIONS), 0.05)
    probs[EMOTIONS.index(dominant)] = 0.7
    probs = probs / probs.sum()
    text = ModalityOutput("text", t, present=False, reason="no text")
    if text_sentiment is not None:
        text = ModalityOutput("text", t, present=True, emotion=tuple(probs), sentiment=text_sentiment, quality=0.8)
    return EmotionEstimate(
        t=t, emotion=tuple(float(p) for p in probs), sentiment=(0.1, 0.2, 0.7), valence=0.8, arousal=0.6,
        dominant=dominant, confidence=float(probs.max()),
        modalities=(ModalityOutput("face", t, present=True, emotion=tuple(probs), quality=0.9),
                    ModalityOutput("voice", t, present=False, reason="no speech"), text),
        staleness=(("face", 0.0),), faces=(BOX,), latency_ms=(("total", 42.0),), transcript=transcript)


FAKE_STATUS = PipelineStatus(capture_fps=30.0, step_p50_ms=40.0, step_p95_ms=120.0, budget_ms=90.0, device="cpu",
                             asr_lag_s=0.8, asr_skipped_s=None, dropped_steps=0, degraded="")


class FakePipeline:
    """LivePipeline's interface: replays a file into the rings, sends an estimate every ``hop`` to its sinks,
    and hot-swaps models (recorded in ``swaps``, done reported from another thread)."""

    def __init__(self, config: AppConfig, sources: Sources, sinks: Sequence[PipelineSink],
                 hop: float = 0.05) -> None:
        self.config = config
        self.clock, self.frames, self.audio = SessionClock(), FrameRing(30), AudioRing(5.0)
        self.sinks, self.hop = SinkList(sinks), hop
        self.source = (MediaFileSource(sources.video, self.clock, self.frames, self.audio,
                                       on_event=self.sinks.on_event) if sources.video is not None else None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = self.stopped = False
        self.swaps: list[InferenceConfig] = []

    def start(self) -> None:
        self.started = True
        if self.source is not None:
            self.source.start()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.hop):
            self.sinks.on_estimate(estimate(self.clock.now()))

    def stop(self) -> list[str]:
        self._stop.set()
        if self.source is not None:
            self.source.stop()
            self.source.join(5)
        self._thread.join(5)
        self.stopped = True
        return []

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() or (self.source is not None and self.source.running)

    def status(self) -> PipelineStatus:
        return FAKE_STATUS

    def swap_models(self, inference: InferenceConfig, on_done: Any) -> None:
        self.swaps.append(inference)
        self.config = replace(self.config, inference=inference)
        threading.Thread(target=on_done, args=("",)).start()


class Factory:
    """A PipelineFactory that keeps every FakePipeline it made."""

    def __init__(self) -> None:
        self.made: list[FakePipeline] = []

    def __call__(self, config: AppConfig, sources: Sources, sinks: Sequence[PipelineSink]) -> FakePipeline:
        self.made.append(FakePipeline(config, sources, sinks))
        return self.made[-1]


class FakeRecorder:
    """The window's RecorderLike: logs start/marker/stop in ``calls`` and counts what it is sent as a sink."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.config: Any = None
        self.devices: dict[str, Any] = {}
        self.on_error: Any = None
        self.attached: list[tuple] = []
        self.estimates: list[EmotionEstimate] = []
        self.segments: list[TranscriptSegment] = []
        self.recording = False

    @property
    def rows_written(self) -> int:
        return len(self.estimates)

    def attach(self, clock: SessionClock | None, frame_ring: FrameRing | None = None,
               audio_ring: AudioRing | None = None) -> None:
        self.attached.append((clock, frame_ring, audio_ring))

    def start(self, directory: Path | None = None) -> Path:
        self.calls.append(("start", directory))
        self.recording = True
        return directory or Path("session")

    def stop(self) -> Path | None:
        self.calls.append(("stop",))
        self.recording = False
        return None

    def add_marker(self, label: str = "") -> float | None:
        self.calls.append(("marker", label))
        return None

    def on_estimate(self, estimate: EmotionEstimate) -> None:
        if self.recording:
            self.estimates.append(estimate)

    def on_segment(self, segment: TranscriptSegment) -> None:
        if self.recording:
            self.segments.append(segment)

    def on_event(self, event: SourceEvent) -> None:
        return None


class FakeSwitcher:
    """What the fine-tune and calibration dialogs get as ``pipeline``: records hot swaps and answers from
    another thread, like LivePipeline.swap_models."""

    def __init__(self) -> None:
        self.config = AppConfig()
        self.swaps: list[InferenceConfig] = []

    def swap_models(self, inference: InferenceConfig, on_done: Any) -> None:
        def load() -> None:
            self.swaps.append(inference)
            self.config = replace(self.config, inference=inference)
            on_done("")

        threading.Thread(target=load).start()
