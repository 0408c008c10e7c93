"""What the window needs from the pipeline and the session recorder (structural types, no imports of them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from emolive.config import AppConfig, InferenceConfig
from emolive.core.clock import SessionClock
from emolive.core.contracts import PipelineSink, PipelineStatus
from emolive.core.rings import AudioRing, FrameRing


@dataclass(frozen=True)
class Sources:
    """Where input comes from: a file replayed as if live, or a camera and/or microphone."""

    video: Path | None = None
    camera: str | None = "0"  # None: no camera
    microphone: str | None = ""  # None: no microphone; "" the default input
    asr: bool = True
    loop: bool = False  # replay the file again when it ends

    def describe(self) -> str:
        if self.video is not None:
            return f"file {self.video.name}"
        parts = [f"camera {self.camera}" if self.camera is not None else "no camera",
                 ("default microphone" if self.microphone == "" else f"microphone {self.microphone}")
                 if self.microphone is not None else "no microphone"]
        return ", ".join(parts)


class PipelineLike(Protocol):
    """The part of ``emolive.runtime.pipeline.LivePipeline`` the window uses."""

    clock: SessionClock
    frames: FrameRing
    audio: AudioRing

    def start(self) -> None: ...

    def stop(self) -> list[str]: ...

    def status(self) -> PipelineStatus: ...

    def swap_models(self, inference: InferenceConfig, on_done: Callable[[str], None]) -> None: ...


class ModelSwitcherLike(Protocol):
    """What the fine-tune and calibration dialogs switch models through (the window's ModelSwitcher)."""

    @property
    def config(self) -> AppConfig: ...

    def swap_models(self, inference: InferenceConfig, on_done: Callable[[str], None]) -> None: ...


class RecorderLike(PipelineSink, Protocol):
    """The part of ``emolive.recording.SessionRecorder`` the window uses: a pipeline sink (subscribed beside the
    GUI's bridge) that the Session menu starts and stops."""

    config: Any  # the AppConfig in use, stored in the session's sidecar
    devices: dict[str, Any]  # what is recorded: a file or the devices
    on_error: Callable[[str], None] | None  # called from recording threads when a recording fails

    @property
    def rows_written(self) -> int: ...

    def attach(self, clock: SessionClock | None, frame_ring: FrameRing | None = None,
               audio_ring: AudioRing | None = None) -> None: ...

    def start(self, directory: Path | None = None) -> Path: ...

    def stop(self) -> Path | None: ...

    def add_marker(self, label: str = "", t: float | None = None) -> float | None: ...


PipelineFactory = Callable[[AppConfig, Sources, Sequence[PipelineSink]], PipelineLike]
"""Builds (not starts) a pipeline that sends its output to the given sinks (the GUI's bridge, the recorder)."""
