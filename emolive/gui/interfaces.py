"""What the window needs from the pipeline and the session recorder (structural types, no imports of them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from emolive.clock import SessionClock
from emolive.config import AppConfig
from emolive.gui.bridge import PipelineBridge
from emolive.rings import FrameRing


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
    """The part of ``emolive.pipeline.LivePipeline`` the window uses."""

    clock: SessionClock
    frames: FrameRing

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


class RecorderLike(Protocol):
    """The part of the session recorder the Session menu drives."""

    def start(self, directory: Path) -> Any: ...

    def stop(self) -> Any: ...

    def add_marker(self, label: str) -> Any: ...


PipelineFactory = Callable[[AppConfig, Sources, PipelineBridge], PipelineLike]
