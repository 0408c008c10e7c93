"""SessionRecorder: one recording = one new folder with session.csv, session.json, transcript and raw capture.

All public methods are cheap and thread-safe (the GUI calls them from its thread): they hand data to the
recording threads through queues. Errors after ``start`` (full disk, vanished folder) stop the recording
and are reported once through ``on_error(message)``; the caller keeps running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from emolive.core.clock import SessionClock
from emolive.core.contracts import AudioBlock, EmotionEstimate, SourceEvent, TranscriptSegment, VideoFrame
from emolive.core.rings import AudioRing, FrameRing
from emolive.recording import schema
from emolive.recording.files import RecordingError, RowFile, describe_os_error
from emolive.recording.metadata import CSV_NAME, build_sidecar, describe_models, model_folders, utc_now
from emolive.recording.raw import RawCaptureWriter
from emolive.recording.writer import DEFAULT_SYNC_INTERVAL, RecordingWriter

log = logging.getLogger(__name__)

ErrorCallback = Callable[[str], None]


def default_sessions_root() -> Path:
    """``<user data dir>/sessions`` (platformdirs), e.g. ~/.local/share/emolive/sessions on Linux."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("emolive")) / "sessions"


def _make_folder(folder: Path) -> bool:
    try:
        folder.mkdir()  # atomic: fails if another recording took the name first
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        raise RecordingError(f"cannot start recording, {describe_os_error(exc, folder)}") from exc


def create_session_folder(root: Path | None = None, folder: Path | None = None, now: datetime | None = None) -> Path:
    """Make a new, empty session folder and return it; never reuses an existing one.

    ``folder`` given: that folder, or ``<folder>-N`` when it exists. Otherwise ``YYYYmmdd-HHMMSS[-N]``
    under ``root`` (default: ``default_sessions_root()``).
    """
    if folder is None:
        root = Path(root) if root is not None else default_sessions_root()
        folder = root / (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    folder = Path(folder).expanduser()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordingError(f"cannot create the sessions folder, {describe_os_error(exc, folder.parent)}") from exc
    for n in range(1, 10_000):
        candidate = folder if n == 1 else folder.with_name(f"{folder.name}-{n}")
        if _make_folder(candidate):
            return candidate
    raise RecordingError(f"too many sessions named {folder.name}-N in {folder.parent}")


class SessionRecorder:
    """Records EmotionEstimates (and optionally raw audio/video and the transcript) of one session at a time.

    ``config`` is the AppConfig or just its RecordingConfig: it gives the folder and raw-capture defaults and
    is stored in the sidecar. ``clock`` (or ``attach``) is the pipeline's session clock, used for markers and
    to cut raw capture at the start; raw capture reads the rings given here or to ``attach``, or takes
    ``add_audio``/``add_frame``.
    """

    def __init__(self, config: Any = None, clock: SessionClock | None = None,
                 on_error: ErrorCallback | None = None, *, root: Path | None = None,
                 raw_audio: bool | None = None, raw_video: bool | None = None,
                 frame_ring: FrameRing | None = None, audio_ring: AudioRing | None = None,
                 devices: dict[str, Any] | None = None, sync_interval: float = DEFAULT_SYNC_INTERVAL) -> None:
        recording = getattr(config, "recording", config)  # an AppConfig or just its RecordingConfig
        self.config = config
        self.clock = clock
        self.on_error = on_error
        configured = str(getattr(recording, "directory", "") or "")
        self.root = Path(root) if root is not None else (Path(configured).expanduser() if configured else None)
        self.raw_audio = raw_audio if raw_audio is not None else bool(getattr(recording, "raw_audio", False))
        self.raw_video = raw_video if raw_video is not None else bool(getattr(recording, "raw_video", False))
        self.frame_ring, self.audio_ring = frame_ring, audio_ring
        self.devices = devices or {}
        self.meta: dict[str, Any] = {}  # more top-level sidecar entries (e.g. the live outputs' clock mapping)
        self.sync_interval = sync_interval
        self._lock = threading.Lock()
        self._writer: RecordingWriter | None = None
        self._raw: RawCaptureWriter | None = None
        self._hashing: threading.Thread | None = None
        self._markers = 0
        self._last_estimate: tuple[float, float] | None = None  # (estimate t, time.monotonic() when written)
        self.path: Path | None = None
        self.error: str | None = None

    def attach(self, clock: SessionClock | None, frame_ring: FrameRing | None = None,
               audio_ring: AudioRing | None = None) -> None:
        """Use the pipeline's clock (for markers) and rings (for raw capture) from the next ``start`` on."""
        self.clock, self.frame_ring, self.audio_ring = clock, frame_ring, audio_ring

    # --- state -----------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        with self._lock:
            return self._writer is not None and self.error is None

    @property
    def rows_written(self) -> int:
        """Rows (markers included) of the current recording that are safely on disk."""
        writer = self._writer
        return writer.stats.synced if writer is not None else 0

    # --- control ---------------------------------------------------------------------------------
    def start(self, directory: Path | None = None) -> Path:
        """Start recording into a new session folder and return it.

        ``directory`` is the session folder to create (``<directory>-N`` if it exists); None makes
        ``YYYYmmdd-HHMMSS[-N]`` under the configured folder or the user's data folder. Raises
        RecordingError when the folder cannot be created or written; RuntimeError while recording.
        """
        with self._lock:
            running, failed = self._writer is not None, self.error is not None
        if running and failed:
            self.stop()  # the last recording ended with an error: tidy it up first
        elif running:
            raise RuntimeError(f"already recording into {self.path}")
        folder = create_session_folder(self.root, directory)
        started_utc, started_t = utc_now(), self.now()
        origin = started_t if self.clock is not None else None  # without a clock raw tracks start at their data
        csv_file = None
        try:
            csv_file = RowFile(folder / CSV_NAME, header=schema.header())
            raw = None
            if self.raw_audio or self.raw_video:
                fps = float(getattr(getattr(self.config, "capture", None), "fps", 30.0) or 30.0)
                raw = RawCaptureWriter(folder, origin, self._fail, audio=self.raw_audio, video=self.raw_video,
                                       fps=fps, frame_ring=self.frame_ring, audio_ring=self.audio_ring,
                                       sync_interval=self.sync_interval, on_info=self._raw_info)
                raw.open()
        except OSError as exc:
            if csv_file is not None:
                csv_file.close()
            raise RecordingError(f"cannot start recording, {describe_os_error(exc, exc.filename or folder)}") from exc

        def sidecar() -> dict[str, Any]:
            return {**build_sidecar(started_utc, started_t, self.config, self.devices,
                                    raw.info() if raw is not None else None), **self.meta}

        writer = RecordingWriter(folder, csv_file, sidecar, self._fail, self.sync_interval)
        hashing = threading.Thread(target=self._describe_models, args=(writer,), name="emolive-model-hash",
                                   daemon=True)
        with self._lock:
            self._writer, self._raw, self._hashing = writer, raw, hashing
            self.path, self.error, self._markers = folder, None, 0
        writer.start()
        hashing.start()
        if raw is not None:
            raw.start()
        log.info("recording into %s", folder)
        return folder

    def stop(self, timeout: float = 10.0) -> Path | None:
        """Finish the session (sync, close, final sidecar) and return its folder; None when not recording."""
        with self._lock:
            writer, raw, hashing = self._writer, self._raw, self._hashing
            self._writer, self._raw, self._hashing = None, None, None
        if writer is None:
            return None
        if hashing is not None:
            hashing.join(timeout)
        final: dict[str, Any] = {}
        if raw is not None:
            raw.close(timeout)
            final["raw"] = raw.info()
        writer.finish(final, timeout)
        log.info("recording stopped: %s (%d rows)", self.path, writer.stats.rows)
        return self.path

    def now(self) -> float:
        """Session time: the attached clock's, else extrapolated from the last estimate written (else 0)."""
        if self.clock is not None:
            return self.clock.now()
        last = self._last_estimate
        return last[0] + time.monotonic() - last[1] if last is not None else 0.0

    # --- data (any thread) -----------------------------------------------------------------------
    def write(self, estimate: EmotionEstimate) -> bool:
        """Queue one step's rows (one per person in view, ``schema.rows``); False when not recording."""
        writer = self._active()
        if writer is None:
            return False
        self._last_estimate = (estimate.t, time.monotonic())
        return all([writer.put_row(cells) for cells in schema.rows(estimate)])


    def put_meta(self, changes: dict[str, Any]) -> None:
        """Top-level sidecar entries for this and later recordings (written at once while recording)."""
        self.meta = {**self.meta, **changes}
        writer = self._active()
        if writer is not None:
            writer.put_meta(changes)

    def add_marker(self, label: str = "", t: float | None = None) -> float | None:
        """Queue a marker row at session time ``t`` (default: now); returns it (None when not recording)."""
        writer = self._active()
        if writer is None:
            return None
        t = self.now() if t is None else t
        with self._lock:
            self._markers += 1
            number = self._markers
        writer.put_marker(schema.marker_row(t, label.strip() or f"marker {number}"))
        return t

    def add_segment(self, segment: TranscriptSegment) -> bool:
        """Queue a committed transcript segment (with word timestamps) for transcript.jsonl."""
        writer = self._active()
        return writer is not None and segment.committed and writer.put_segment(segment)

    # --- contracts.PipelineSink: subscribed to the pipeline, called on its worker threads --------------
    def on_estimate(self, estimate: EmotionEstimate) -> None:
        """Record the estimate while recording (ignored otherwise)."""
        self.write(estimate)

    def on_segment(self, segment: TranscriptSegment) -> None:
        """Record a committed segment while recording (ignored otherwise)."""
        self.add_segment(segment)

    def on_event(self, event: SourceEvent) -> None:
        """Source events are not recorded (the sidecar describes the devices)."""
        return None

    def add_audio(self, block: AudioBlock) -> None:
        """Raw capture without rings: hand over each captured audio block (session-clock ``t``)."""
        raw = self._raw if self._active() is not None else None
        if raw is not None:
            raw.put_audio(block)

    def add_frame(self, frame: VideoFrame) -> None:
        """Raw capture without rings: hand over each captured frame (dropped if the encoder lags)."""
        raw = self._raw if self._active() is not None else None
        if raw is not None:
            raw.put_frame(frame)

    # --- internals -------------------------------------------------------------------------------
    def _describe_models(self, writer: RecordingWriter) -> None:
        """Checksums of the model weights, off the writer thread so the first rows are synced on time."""
        writer.put_meta({"models": describe_models(model_folders(self.config))})

    def _raw_info(self, info: dict[str, Any]) -> None:
        writer = self._writer
        if writer is not None:
            writer.put_meta({"raw": info})

    def _active(self) -> RecordingWriter | None:
        with self._lock:
            return self._writer if self.error is None else None

    def _fail(self, message: str) -> None:
        """Called from a recording thread: stop everything, report once."""
        with self._lock:
            if self.error is not None:
                return
            self.error = message
            raw = self._raw
        if raw is not None:
            raw.stop()
        writer = self._writer
        if writer is not None:
            writer.request_stop({"stop_reason": "error", "error": message})
        if self.on_error is not None:
            try:
                self.on_error(message)
            except Exception:
                log.exception("on_error callback failed")

