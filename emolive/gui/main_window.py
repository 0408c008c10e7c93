"""The main window: video + overlay, transcript, traces, status bar, menus; owns the running pipeline.

Data arrives as queued signals from the bridge and only updates state (history, latest estimate,
transcript model). A fixed-rate timer redraws from that state and reads the newest video frame
from the pipeline's FrameRing, so a burst of data never turns into a burst of painting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from emolive.channels import validate_models
from emolive.config import AppConfig, InferenceConfig, save_config, to_dict, with_changes
from emolive.contracts import EmotionEstimate, EventKind, PipelineStatus, SourceEvent, TranscriptSegment
from emolive.errors import EmoliveError, ModelError
from emolive.gui import dialogs
from emolive.gui.bridge import MessageRelay, PipelineBridge
from emolive.gui.estimate_view import EstimateBars
from emolive.gui.history import EstimateHistory
from emolive.gui.interfaces import PipelineFactory, PipelineLike, RecorderLike, Sources
from emolive.gui.menus import build_menus
from emolive.gui.plots import EmotionPlots
from emolive.gui.settings_dialog import SettingsDialog
from emolive.gui.status import ErrorBanner, StatusPanel, format_status
from emolive.gui.transcript import TranscriptModel
from emolive.gui.transcript_view import TranscriptView
from emolive.gui.video_view import VideoView

log = logging.getLogger(__name__)

REDRAW_HZ = 20  # video + overlay
PLOT_EVERY = 2  # plots redraw every 2nd tick (10 Hz)
STATUS_EVERY = 10  # status bar every 10th tick (2 Hz)
FROZEN_AFTER_S = 2.0  # no new frame for this long: the picture is marked as frozen
MODEL_FIELDS: dict[str, str] = {"face": "face_model", "voice": "voice_model", "text": "text_model",
                                "fusion": "fusion_model"}
VIDEO_FILTER = "Media files (*.mp4 *.mkv *.avi *.mov *.webm *.m4v *.wav *.mp3 *.flac *.ogg);;All files (*)"


class ModelSwitcher:
    """What the fine-tune and calibration dialogs get as their ``pipeline``: model switches go through the
    window, which persists them in the settings and hot-swaps the running pipeline (or restarts it)."""

    def __init__(self, window: MainWindow) -> None:
        self._window = window

    @property
    def config(self) -> AppConfig:
        return self._window.config

    def swap_models(self, inference: InferenceConfig, on_done: Callable[[str], None] | None = None) -> None:
        self._window.switch_models(inference, on_done)


STARTER_TIMEOUT_S = 60.0  # the longest Quit/restart waits for a pipeline that is still loading its models


def release_memory() -> None:
    """Collect cycles and hand freed heap pages back to the OS (glibc keeps them otherwise: restarts grew RSS)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def settings_needing_restart(old: AppConfig, new: AppConfig) -> list[str]:
    """``section.key`` of every changed setting that needs a pipeline restart (all but [recording])."""
    changed = []
    for section, values in to_dict(new).items():
        if section == "recording":
            continue
        before = to_dict(old)[section]
        changed.extend(f"{section}.{key}" for key, value in values.items() if before[key] != value)
    return changed


class MainWindow(QMainWindow):
    """The app's window. ``start()`` builds and starts a pipeline from ``factory(config, sources, bridge)``."""

    started = Signal()  # a start attempt finished (pipeline running, or failed and said why)

    def __init__(self, config: AppConfig, sources: Sources, factory: PipelineFactory,
                 recorder: RecorderLike | None = None, recorder_error: str = "",
                 config_path: Path | None = None, persist: bool = True, redraw_hz: int = REDRAW_HZ) -> None:
        super().__init__()
        self.setWindowTitle("emolive")
        self.config, self.sources, self.factory = config, sources, factory
        self.recorder, self.recorder_error = recorder, recorder_error
        self.config_path, self.persist = config_path, persist
        self.pipeline: PipelineLike | None = None
        self.bridge: PipelineBridge | None = None
        self.history = EstimateHistory()
        self.transcript = TranscriptModel()
        self.latest: EmotionEstimate | None = None
        self.recording_dir: Path | None = None
        self.errors: list[SourceEvent] = []
        self.video_problem = ""  # why there is no picture, from the last camera/file error
        self.ended = False  # the replayed file has ended
        self._starter: threading.Thread | None = None
        self.finetune = None  # the Fine-tune dialog, created on first use
        self.calibration = None  # the personal calibration dialog, created on first use
        self.model_switcher = ModelSwitcher(self)
        self._pending_config: AppConfig | None = None  # settings waiting for the recording to end
        self._swaps: deque[tuple[AppConfig, Callable[[str], None] | None]] = deque()  # hot swaps under way
        self._swap_relay = MessageRelay(self)
        self._swap_relay.message.connect(self._on_swapped)
        self.redraw_ms: deque[float] = deque(maxlen=2000)  # cost of each timer redraw, for the stall report
        self.estimates_received = 0
        self._ticks = 0
        self._closed = False
        self._recorder_errors = MessageRelay(self)
        self._recorder_errors.message.connect(self._on_recorder_error)
        if recorder is not None:
            recorder.on_error = self._recorder_errors  # called from recording threads
        self._build_widgets()
        self.actions = build_menus(self, self, self.video.options, self.plots, self.side,
                                   "" if recorder is not None else recorder_error or "no session recorder")
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / redraw_hz))
        self._timer.timeout.connect(self._redraw)
        self._fit_to_screen(1360, 860)

    # --- layout ---------------------------------------------------------------------------------
    def _fit_to_screen(self, width: int, height: int) -> None:
        """Open at ``width`` x ``height``, or as large as a smaller screen allows."""
        screen = self.screen()
        if screen is not None:
            available = screen.availableGeometry()
            width, height = min(width, available.width() - 40), min(height, available.height() - 40)
        self.resize(width, height)

    def _build_widgets(self) -> None:
        self.banner = ErrorBanner()
        self.banner.retry.connect(self.restart)
        self.banner.open_video.connect(self.open_video_dialog)
        self.video = VideoView()
        self.transcript_view = TranscriptView(self.transcript)
        self.bars = EstimateBars()
        self.plots = EmotionPlots(window_s=60)
        self.side = QWidget()
        side = QVBoxLayout(self.side)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(2)
        for title, widget, stretch in (("Current estimate", self.bars, 0), ("Transcript", self.transcript_view, 1)):
            header = QLabel(title)
            header.setStyleSheet("font-weight:bold; padding:2px 4px;")
            side.addWidget(header)
            side.addWidget(widget, stretch)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.video)
        top.addWidget(self.side)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([820, 500])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.plots)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([470, 360])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status_panel = StatusPanel(self.statusBar())

    def set_overlay(self, key: str, on: bool) -> None:
        """Switch one overlay element (a field of OverlayOptions) on or off."""
        setattr(self.video.options, key, bool(on))
        self.video.update()

    # --- pipeline life cycle --------------------------------------------------------------------
    def start(self) -> None:
        """Build and start a pipeline for the current config and sources on a helper thread.

        Loading models takes seconds; the window keeps painting meanwhile. ``ready`` (or ``failed``)
        comes back through the bridge; a failure shows in the banner and the window stays usable.
        """
        self._timer.start()
        bridge = PipelineBridge(self)
        bridge.estimate.connect(self._on_estimate)
        bridge.segment.connect(self._on_segment)
        bridge.event.connect(self._on_event)
        bridge.ready.connect(self._on_ready)
        bridge.failed.connect(self._on_failed)
        self.bridge = bridge
        self.video.clear(f"Loading the face, voice and text models for {self.sources.describe()}...\n"
                         "(a few seconds; the estimates start when they are ready)")
        self.statusBar().showMessage(f"Loading the models: {self.sources.describe()}", 0)
        self._starter = threading.Thread(target=self._build, args=(bridge, self.config, self.sources),
                                         name="emolive-gui-start", daemon=True)
        self._starter.start()

    def _build(self, bridge: PipelineBridge, config: AppConfig, sources: Sources) -> None:
        """Helper thread: construct and start the pipeline, then hand it over through ``bridge``."""
        try:
            sinks = (bridge,) if self.recorder is None else (bridge, self.recorder)  # side by side
            pipeline = self.factory(config, sources, sinks)
            bridge.pipeline = pipeline
            pipeline.start()
        except EmoliveError as exc:
            bridge.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - any failure is reported in the window, which stays usable
            log.exception("the pipeline failed to start")
            bridge.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        bridge.ready.emit(pipeline)

    def _on_ready(self, pipeline: PipelineLike) -> None:
        if not self._current():
            return
        self.pipeline = pipeline
        if self.statusBar().currentMessage().startswith("Loading the models"):
            self.statusBar().clearMessage()
        if self.recorder is not None:  # markers on the session clock, raw capture from the rings
            self.recorder.attach(pipeline.clock, pipeline.frames, pipeline.audio)
        self.setWindowTitle(f"emolive - {self.sources.describe()}")
        self.started.emit()

    def _on_failed(self, message: str) -> None:
        if not self._current():
            return
        self.banner.add(f"Could not start: {message}")
        self.video.clear(f"Not running:\n{message}")
        self.pipeline = None
        self.started.emit()

    def stop_pipeline(self) -> None:
        """Stop and join the pipeline's threads; signals already queued from it are ignored."""
        bridge, self.pipeline, self.bridge = self.bridge, None, None
        if self._starter is not None:
            self._starter.join(STARTER_TIMEOUT_S)  # models load in seconds; a stuck load must not hang Quit
            if self._starter.is_alive():
                log.warning("shutdown: the pipeline start thread is still running after %.0f s", STARTER_TIMEOUT_S)
            self._starter = None
        pipeline = bridge.pipeline if bridge is not None else None
        if pipeline is not None:
            try:
                pipeline.stop()
            except Exception:  # noqa: BLE001 - closing must go on
                log.exception("pipeline.stop() failed")
        if bridge is not None:
            bridge.closed = True  # kept (parented to the window) so a late callback never meets a deleted object
            bridge.pipeline = None  # ... but it lets go of the pipeline: its models and threads are released
        if pipeline is not None:
            del pipeline
            release_memory()

    def restart(self, config: AppConfig | None = None, sources: Sources | None = None) -> None:
        """Stop the pipeline and start a new one (new session clock: the traces and transcript start over).

        A recording ends here too: one recording never mixes two session clocks.
        """
        self.stop_recording()
        self.stop_pipeline()
        if config is not None:
            self.config = config
        if sources is not None:
            self.sources = sources
        self.banner.dismiss()
        self.video_problem, self.ended = "", False
        self.history.clear()
        self.transcript.clear()
        self.latest = None
        self.video.set_estimate(None)
        self.start()

    # --- data slots (GUI thread, queued from the workers) ---------------------------------------
    def _current(self) -> bool:
        return self.bridge is not None and self.sender() is self.bridge

    def _on_estimate(self, estimate: EmotionEstimate) -> None:
        if not self._current():
            return
        self.estimates_received += 1
        self.latest = estimate
        self.history.append(estimate)
        self.transcript.tag(estimate)
        if self.calibration is not None and self.calibration.isVisible():
            self.calibration.on_estimate(estimate)

    def _on_segment(self, segment: TranscriptSegment) -> None:
        if not self._current():
            return
        self.transcript.add(segment)

    def _on_event(self, event: SourceEvent) -> None:
        if not self._current():
            return
        if event.kind == EventKind.ERROR:
            self.errors.append(event)
            self.banner.add(f"{event.source}: {event.message}")
            if event.capture_source is not None and event.capture_source.is_picture:
                self.video_problem = event.message
                if self.video.frame is None:
                    self.video.placeholder = f"No video: {event.message}"
                    self.video.update()
        elif event.kind == EventKind.EOF:
            self.ended = True
            self.statusBar().showMessage("End of the file: File > Open video... plays another", 0)
        else:
            self.statusBar().showMessage(f"{event.source}: {event.message}", 8000)

    # --- fixed-rate redraw ----------------------------------------------------------------------
    def _redraw(self) -> None:
        started = time.perf_counter()
        try:
            self._redraw_now()
        finally:
            self.redraw_ms.append((time.perf_counter() - started) * 1000.0)

    def _redraw_now(self) -> None:
        self._ticks += 1
        pipeline = self.pipeline
        changed = False
        if pipeline is not None:
            changed = self.video.set_frame(pipeline.frames.latest())
            if self.video.frame is None and self.latest is not None:
                self.video.placeholder = f"No video: {self.video_problem}" if self.video_problem else "No video"
            changed |= self._update_notice(pipeline.clock.now())
        if self.video.estimate is not self.latest:
            self.video.set_estimate(self.latest)
            changed = True
        if changed:
            self.video.update()
        if self.bars.set_estimate(self.latest):
            self.bars.update()
        self.transcript_view.refresh()
        if self._ticks % PLOT_EVERY == 0 and self.plots.isVisible():
            now = pipeline.clock.now() if pipeline is not None else None
            self.plots.refresh(self.history, now)
        if self._ticks % STATUS_EVERY == 1:
            self._refresh_status()

    def _update_notice(self, now: float) -> bool:
        """Say so over the picture when it is frozen (end of file, or a camera that stopped delivering)."""
        frame, notice = self.video.frame, ""
        if self.ended:
            notice = "end of the file"
        elif frame is not None and now - frame.t > FROZEN_AFTER_S:
            notice = f"no new frames for {now - frame.t:.0f} s"
        if notice == self.video.notice:
            return False
        self.video.notice = notice
        return True

    def _refresh_status(self) -> None:
        status: PipelineStatus | None = None
        if self.pipeline is not None:
            try:
                status = self.pipeline.status()
            except Exception:  # noqa: BLE001 - a status glitch must not stop the redraw
                log.debug("pipeline.status() failed", exc_info=True)
        recording = ""
        if self.recording_dir is not None and self.recorder is not None:
            recording = f"REC {self.recording_dir.name} ({self.recorder.rows_written} rows)"
        self.status_panel.show(format_status(status, recording, asr=self.sources.asr and self.config.asr.enabled))

    # --- File -----------------------------------------------------------------------------------
    def open_video_dialog(self) -> None:
        start = str(self.sources.video.parent) if self.sources.video is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open video", start, VIDEO_FILTER)
        if path:
            self.open_video(Path(path))

    def open_video(self, path: Path) -> None:
        self.restart(sources=replace(self.sources, video=Path(path)))

    def use_live_sources(self) -> None:
        cap = self.config.capture
        self.restart(sources=Sources(video=None, camera=cap.camera or None, microphone=cap.microphone,
                                            asr=self.sources.asr))

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.config, self)
        if dialog.exec():
            self.apply_config(dialog.result_config())

    def apply_config(self, config: AppConfig) -> None:
        """Persist ``config``; restart with it when a changed setting needs a restart.

        During a recording the user is asked first (a restart ends the recording): restart now, apply the
        settings when the recording ends, or cancel.
        """
        if config == self.config:
            return
        changed = settings_needing_restart(self.config, config)
        if not changed:
            self._save(config)
            self.config = config
            return
        if self.recording_dir is not None:
            choice = self.ask_restart(changed)
            if choice == "cancel":
                self.statusBar().showMessage("Settings not changed", 5000)
                return
            if choice == "later":
                self._save(config)
                self._pending_config = config
                self.statusBar().showMessage(f"Applied when the recording ends: {', '.join(changed)}", 0)
                return
        self._save(config)
        self._restart_with(config, changed)

    def _restart_with(self, config: AppConfig, changed: list[str] | None = None) -> None:
        self._pending_config = None
        sources = self.sources
        if sources.video is None:
            sources = replace(sources, camera=config.capture.camera or None, microphone=config.capture.microphone)
        self.restart(config=config, sources=replace(sources, asr=config.asr.enabled))
        if changed:
            self.statusBar().showMessage(f"Restarted to apply: {', '.join(changed)}", 8000)

    def ask_restart(self, changed: list[str]) -> str:
        """Ask whether to end the recording for a restart: "now", "later" (when it ends) or "cancel"."""
        box = QMessageBox(self)
        box.setWindowTitle("Restart needed")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText("These settings need a restart, which ends the recording:\n" + "\n".join(changed))
        now = box.addButton("Restart now", QMessageBox.ButtonRole.AcceptRole)
        later = box.addButton("After the recording", QMessageBox.ButtonRole.ApplyRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "now" if clicked is now else "later" if clicked is later else "cancel"

    def _save(self, config: AppConfig) -> None:
        if not self.persist:
            return
        try:
            path = save_config(config, self.config_path)
            self.statusBar().showMessage(f"Settings saved to {path}", 5000)
        except OSError as exc:
            self.banner.add(f"Could not save the settings: {exc}")

    # --- Session --------------------------------------------------------------------------------
    def toggle_recording(self) -> None:
        if self.recorder is None:
            return
        if self.recording_dir is None:
            self.start_recording()
        else:
            self.stop_recording()

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
        self.recorder.config = self.config  # the session's sidecar records the settings in use now
        self.recorder.devices = {**self.recorder.devices, "source": self.source_description()}  # ... and its source
        try:
            folder = self.recorder.start(directory)
        except (EmoliveError, OSError, RuntimeError) as exc:
            self.banner.add(f"Could not start recording: {exc}")
            return False
        self.recording_dir = Path(folder)
        self.actions.set_recording(True)
        self.statusBar().showMessage(f"Recording to {self.recording_dir}", 5000)
        self._refresh_status()
        return True

    def stop_recording(self) -> None:
        """Finish the recording (files flushed and closed by the recorder)."""
        if self.recorder is None or self.recording_dir is None:
            return
        directory, self.recording_dir = self.recording_dir, None
        try:
            self.recorder.stop()
            self.statusBar().showMessage(f"Recording saved in {directory}", 8000)
        except (EmoliveError, OSError) as exc:
            self.banner.add(f"Recording could not be finished: {exc}")
        self.actions.set_recording(False)
        self._refresh_status()
        pending = self._pending_config
        if pending is not None and not self._closed:  # settings that waited for the recording to end
            self._pending_config = None
            QTimer.singleShot(0, lambda: self._restart_with(pending, settings_needing_restart(self.config, pending)))

    def _on_recorder_error(self, message: str) -> None:
        self.banner.add(f"Recording stopped: {message}")
        self.stop_recording()

    def add_marker_dialog(self) -> None:
        label, ok = QInputDialog.getText(self, "Add marker", "Label for this moment:")
        if ok and label.strip():
            self.add_marker(label.strip())

    def add_marker(self, label: str) -> None:
        if self.recorder is not None and self.recording_dir is not None:
            t = self.recorder.add_marker(label)
            if t is not None:
                self.plots.add_marker(t, label)
            self.statusBar().showMessage(f"Marker added: {label}", 4000)

    # --- Model ----------------------------------------------------------------------------------
    def load_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (model.safetensors + config.json)")
        if not folder:
            return
        kinds = list(MODEL_FIELDS)
        guess = dialogs.guess_model_kind(Path(folder))
        kind, ok = QInputDialog.getItem(self, "Load model", "Which model does this folder hold?", kinds,
                                        kinds.index(guess) if guess in kinds else 0, False)
        if ok:
            self.load_model(kind, Path(folder))

    def load_model(self, kind: str, folder: Path) -> bool:
        """Use the model in ``folder`` for ``kind`` (face/voice/text/fusion), persisted, without restarting.

        The folder is checked first (config, weights, kind); one that cannot be used changes nothing and the
        banner says why. The setting is saved only once the new model has loaded.
        """
        from emolive.modelio import validate_model_folder

        try:
            validate_model_folder(kind, Path(folder))
        except ModelError as exc:
            self.banner.add(f"Kept the current {kind} model: {exc}")
            return False
        self.switch_models(with_changes(self.config, "inference", **{MODEL_FIELDS[kind]: str(folder)}).inference)
        return True

    def reset_models(self) -> None:
        self.banner.dismiss()  # earlier model errors no longer apply to the shipped models
        self.switch_models(with_changes(self.config, "inference", **dict.fromkeys(MODEL_FIELDS.values(), "")).inference)

    def switch_models(self, inference: InferenceConfig, on_done: Callable[[str], None] | None = None) -> None:
        """Hot-swap the running pipeline to ``inference`` (restart when it cannot swap), then persist it.

        Nothing switches or is saved when a model folder cannot be used: the old models keep running and the
        banner says why. ``on_done(problem)`` ("" when fine) is called once it is settled.
        """
        config = replace(self.config, inference=inference)
        if config == self.config:
            return
        try:
            validate_models(inference)
        except ModelError as exc:
            self._swap_settled(config, f"kept the current models: {exc}", on_done)
            return
        if self.pipeline is not None:
            self.statusBar().showMessage("Loading the model; the current one keeps running meanwhile...", 0)
            self._swaps.append((config, on_done))
            self.pipeline.swap_models(inference, self._swap_relay)
            return
        self._save(config)
        self.restart(config=config)
        if on_done is not None:
            on_done("")

    def _on_swapped(self, problem: str) -> None:
        """GUI thread: a hot swap started by ``switch_models`` finished (``problem`` "" when it switched)."""
        if not self._swaps:
            return
        config, on_done = self._swaps.popleft()
        self._swap_settled(config, f"kept the current models: {problem}" if problem else "", on_done)

    def _swap_settled(self, config: AppConfig, problem: str, on_done: Callable[[str], None] | None) -> None:
        if problem:
            self.banner.add(f"Model switch: {problem}")
            self.statusBar().clearMessage()
        else:
            self.config = config
            self._save(config)
            self.statusBar().showMessage("Switched models without restarting", 6000)
        if on_done is not None:
            on_done(problem)

    def open_finetune(self) -> None:
        from emolive.gui.finetune_dialog import FineTuneDialog

        if self.finetune is None:  # one dialog, so a run keeps going while it is hidden
            self.finetune = FineTuneDialog(self, self.model_switcher, self.config)
            self.finetune.model_ready.connect(lambda kind, folder: self.load_model(kind, Path(folder)))
        self.finetune.show()
        self.finetune.raise_()

    def open_calibration(self) -> None:
        from emolive.gui.calibration_dialog import CalibrationDialog

        if self.calibration is None:
            self.calibration = CalibrationDialog(self, self.model_switcher, self.config,
                                                 file_source=lambda: str(self.sources.video or ""))
        self.calibration.show()
        self.calibration.raise_()

    def show_model_cards(self) -> None:
        dialogs.ModelCardsDialog(self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, "About emolive", dialogs.about_html())

    # --- closing --------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop redrawing, finish the recording, stop and join the pipeline. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        started = time.perf_counter()
        self._timer.stop()
        for dialog in (self.finetune, self.calibration):
            if dialog is not None:
                dialog.close()  # a running trainer stops (it resumes from OUT/last.pt next time)
        self.stop_recording()
        self.stop_pipeline()
        log.info("closed in %.0f ms", (time.perf_counter() - started) * 1000)
