"""The recording side of the session controller: start, stop, markers, and a recording that ends with its file
or with a recorder error. A mixin of ``SessionController`` (which holds the signals and the recorder)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from emolive.config import AppConfig
from emolive.core.errors import EmoliveError

if TYPE_CHECKING:  # provided by SessionController
    from PySide6.QtCore import SignalInstance

    from emolive.gui.interfaces import RecorderLike, Sources
    from emolive.outputs.hub import LiveOutputs


class RecordingControl:
    """Recording commands of the session; ``self`` is the ``SessionController``."""

    if TYPE_CHECKING:
        config: AppConfig
        sources: Sources
        recorder: RecorderLike | None
        recording_dir: Path | None
        source_ended: bool
        outputs: LiveOutputs | None
        problem: SignalInstance
        notice: SignalInstance
        recording_changed: SignalInstance

        def _recording_ended(self) -> None: ...

    def source_description(self) -> dict[str, str]:
        """What the pipeline reads: ``{"kind": "file", "file": PATH}`` or the camera and microphone in use."""
        sources = self.sources
        if sources.video is not None:
            return {"kind": "file", "file": str(Path(sources.video).resolve())}
        return {"kind": "live", "camera": "" if sources.camera is None else str(sources.camera),
                "microphone": "none" if sources.microphone is None else (sources.microphone or "default")}

    def start_recording(self, directory: Path | None = None) -> bool:
        """Start recording (into ``directory``, else a new timestamped session folder chosen by the recorder)."""
        if self.recorder is None or self.recording_dir is not None:
            return False
        why = self.nothing_to_record()
        if why:
            self.problem.emit(f"Could not start recording: {why}")
            return False
        self.recorder.config = self.config  # the session's sidecar records the settings in use now
        self.recorder.devices = {**self.recorder.devices, "source": self.source_description()}  # ... and its source
        try:
            folder = self.recorder.start(directory)
        except (EmoliveError, OSError, RuntimeError) as exc:
            self.problem.emit(f"Could not start recording: {exc}")
            return False
        self.recording_dir = Path(folder)
        self.recording_changed.emit(True)
        self.notice.emit(f"Recording to {self.recording_dir}", 5000)
        return True

    def nothing_to_record(self) -> str:
        """Why a recording now would hold nothing captured ("" when there is something to record)."""
        sources = self.sources
        if sources.video is None and sources.camera is None and sources.microphone is None:
            return "no camera, microphone or video is open"
        if self.source_ended:
            return "the file has ended (File > Open video... to play it again)"
        return ""

    def source_finished(self) -> None:
        """The replayed file ended: a running recording stops here (nothing after the end is recorded)."""
        self.source_ended = True
        if self.recording_dir is not None:
            self.stop_recording()

    def stop_recording(self) -> None:
        """Finish the recording (files flushed and closed by the recorder)."""
        if self.recorder is None or self.recording_dir is None:
            return
        directory, self.recording_dir = self.recording_dir, None
        try:
            self.recorder.stop()
            self.notice.emit(f"Recording saved in {directory}", 8000)
        except (EmoliveError, OSError) as exc:
            self.problem.emit(f"Recording could not be finished: {exc}")
        self.recording_changed.emit(False)
        self._recording_ended()

    def toggle_recording(self) -> None:
        if self.recording_dir is None:
            self.start_recording()
        else:
            self.stop_recording()

    def add_marker(self, label: str) -> float | None:
        """Mark this moment of the recording (and send it out on the live outputs); its session time (None when
        not recording)."""
        if self.recorder is None or self.recording_dir is None:
            return None
        t = self.recorder.add_marker(label)
        if t is not None and self.outputs is not None:
            self.outputs.marker(label, t)
        return t

    @property
    def rows_recorded(self) -> int | None:
        """Rows of the running recording on disk; None when not recording."""
        if self.recorder is None or self.recording_dir is None:
            return None
        return self.recorder.rows_written

    def _on_recorder_error(self, message: str) -> None:
        self.problem.emit(f"Recording stopped: {message}")
        self.stop_recording()
