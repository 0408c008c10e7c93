"""The main window: video + overlay, transcript, traces, status bar, menus. It only wires: the session
controller (emolive.gui.session) runs the pipeline, the recording and the model switches; the window shows what
it reports. What the menus do is ``window_commands.MenuCommands``.

Data arrives as queued signals from the pipeline's bridge (through the controller) and only updates state
(history, latest estimate, transcript model). A fixed-rate timer redraws from that state and reads the newest
video frame from the pipeline's FrameRing, so a burst of data never turns into a burst of painting.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from emolive.config import AppConfig
from emolive.core.contracts import EmotionEstimate, EventKind, PipelineStatus, SourceEvent, TranscriptSegment
from emolive.gui.bridge import PipelineBridge
from emolive.gui.calibration_dialog import CalibrationDialog
from emolive.gui.estimate_view import EstimateBars
from emolive.gui.finetune_dialog import FineTuneDialog
from emolive.gui.history import EstimateHistory
from emolive.gui.interfaces import PipelineFactory, PipelineLike, RecorderLike, Sources
from emolive.gui.menus import build_menus
from emolive.gui.people_commands import PeopleCommands
from emolive.gui.plots_slot import PlotsSlot

if TYPE_CHECKING:  # pragma: no cover - pyqtgraph is imported with the plots
    from emolive.gui.plots import EmotionPlots
from emolive.gui.session import ModelSwitcher, SessionController
from emolive.gui.status import ErrorBanner, StatusPanel, format_status
from emolive.gui.transcript import TranscriptModel
from emolive.gui.transcript_view import TranscriptView
from emolive.gui.video_view import VideoView
from emolive.gui.window_commands import MenuCommands

log = logging.getLogger(__name__)

REDRAW_HZ = 20  # video + overlay
PLOT_EVERY = 2  # plots redraw every 2nd tick (10 Hz)
STATUS_EVERY = 10  # status bar every 10th tick (2 Hz)
FROZEN_AFTER_S = 2.0  # no new frame for this long: the picture is marked as frozen


MINIMUM_SIZE = (960, 620)  # below it the plots, the bars and the legend no longer all fit


class MainWindow(MenuCommands, PeopleCommands, QMainWindow):
    """The app's window. ``start()`` builds and starts a pipeline from ``factory(config, sources, sinks)``."""

    started = Signal()  # a start attempt finished (pipeline running, or failed and said why)

    def __init__(self, config: AppConfig, sources: Sources, factory: PipelineFactory,
                 recorder: RecorderLike | None = None, recorder_error: str = "",
                 config_path: Path | None = None, persist: bool = True, redraw_hz: int = REDRAW_HZ,
                 plots_later: bool = False) -> None:
        super().__init__()
        self.setWindowTitle("emolive")
        self.setMinimumSize(*MINIMUM_SIZE)
        self.session = SessionController(config, sources, factory, recorder, config_path, persist, parent=self)
        self.history = EstimateHistory()
        self._markers_added = 0  # markers of the running recording (numbers the unlabelled ones)
        self.transcript = TranscriptModel()
        self.latest: EmotionEstimate | None = None
        self.following: tuple[int, str] | None = None  # the person the bars and traces show (id, name)
        self.errors: list[SourceEvent] = []
        self.video_problem = ""  # why there is no picture, from the last camera/file error
        self.ended = False  # the replayed file has ended
        self.ended_early = False  # ... before the duration its container states (truncated or damaged)
        self.finetune: FineTuneDialog | None = None  # created on first use
        self.calibration: CalibrationDialog | None = None  # the personal calibration dialog, created on first use
        self.redraw_ms: deque[float] = deque(maxlen=2000)  # cost of each timer redraw, for the stall report
        self.estimates_received = 0
        self._plots_later = plots_later  # the traces are built once the first estimate is shown (the app's launch)
        self._ticks = 0
        self._closed = False
        self._build_widgets()
        self.actions = build_menus(self, self, self.video.options, self.plots, self.side,
                                   "" if recorder is not None else recorder_error or "no session recorder",
                                   settings_outputs=config.outputs)
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / redraw_hz))
        self._timer.timeout.connect(self._redraw)
        self._wire(self.session)
        self._fit_to_screen(1360, 860)

    def _wire(self, session: SessionController) -> None:
        session.loading.connect(self._on_loading)
        session.ready.connect(self._on_ready)
        session.failed.connect(self._on_failed)
        session.started.connect(self.started.emit)
        session.restarting.connect(self._start_over)
        session.estimate.connect(self._on_estimate)
        session.segment.connect(self._on_segment)
        session.event.connect(self._on_event)
        session.problem.connect(self.banner.add)
        session.notice.connect(self._notice)
        session.recording_changed.connect(self._on_recording_changed)
        session.outputs_changed.connect(lambda _: self._refresh_status())
        session.lsl_marker.connect(lambda label, t: self.plots.add_marker(t, label))  # as if typed

    # --- what the session holds (read-only views for dialogs and tests) ----------------------------
    @property
    def config(self) -> AppConfig:
        return self.session.config

    @property
    def sources(self) -> Sources:
        return self.session.sources

    @property
    def pipeline(self) -> PipelineLike | None:
        return self.session.pipeline

    @property
    def bridge(self) -> PipelineBridge | None:
        return self.session.bridge

    @property
    def recorder(self) -> RecorderLike | None:
        return self.session.recorder

    @property
    def recording_dir(self) -> Path | None:
        return self.session.recording_dir

    @property
    def model_switcher(self) -> ModelSwitcher:
        return self.session.model_switcher

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
        self.video.person_clicked.connect(self.on_person_clicked)
        self.transcript_view = TranscriptView(self.transcript)
        self.bars = EstimateBars()
        self.plots: EmotionPlots | PlotsSlot
        if self._plots_later:
            self.plots = PlotsSlot(window_s=60)
        else:
            from emolive.gui.plots import EmotionPlots

            self.plots = EmotionPlots(window_s=60)
        self.side = QWidget()
        side = QVBoxLayout(self.side)
        side.setContentsMargins(0, 0, 0, 0)
        side.setSpacing(2)
        self.headers: dict[str, QLabel] = {}
        for title, widget, stretch in (("Current estimate", self.bars, 0), ("Transcript", self.transcript_view, 1)):
            header = self.headers[title] = QLabel(title)
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

    # --- session life cycle (the controller's signals) -------------------------------------------
    def start(self) -> None:
        """Start redrawing and the session's pipeline (loading on a helper thread; ``started`` follows)."""
        self._timer.start()
        self.session.start()

    def restart(self, config: AppConfig | None = None, sources: Sources | None = None) -> None:
        self.session.restart(config, sources)

    def stop_pipeline(self) -> None:
        self.session.stop_pipeline()

    def _on_loading(self, description: str) -> None:
        self._timer.start()
        self.video.clear(f"Loading the face, voice and text models for {description}...\n"
                         "(a few seconds; the estimates start when they are ready)")
        self.statusBar().showMessage(f"Loading the models: {description}", 0)

    def _on_ready(self, pipeline: PipelineLike) -> None:
        if self.statusBar().currentMessage().startswith("Loading the models"):
            self.statusBar().clearMessage()
        self.setWindowTitle(f"emolive - {self.sources.describe()}")
        self._refresh_status()  # the chips of channels still loading say so from the start
        if self.estimates_received:
            self._release_loading()

    def _release_loading(self) -> None:
        """The first estimate is shown: the models still waiting (voice, text) may load now."""
        release = getattr(self.pipeline, "release_loading", None)
        if callable(release):
            release()

    def _on_failed(self, message: str) -> None:
        self.video.clear(f"Not running:\n{message}")
        if self.statusBar().currentMessage().startswith("Loading the models"):
            self.statusBar().clearMessage()
        self.setWindowTitle(f"emolive - not running ({self.sources.describe()})")

    def _start_over(self) -> None:
        """A new session clock: the banner, traces, transcript and picture start over."""
        self.banner.dismiss()
        self.video_problem, self.ended, self.ended_early = "", False, False
        self.history.clear()
        self.plots.clear_markers()  # they belong to the old clock's times
        self.transcript.clear()
        self.latest = None
        self.video.set_estimate(None)
        self.video.pinned, self.following = None, None
        self.headers["Current estimate"].setText("Current estimate")
        self.plots.set_title("Emotion probabilities")

    def _notice(self, text: str, ms: int) -> None:
        if text:
            self.statusBar().showMessage(text, ms)
        else:
            self.statusBar().clearMessage()

    def _on_recording_changed(self, recording: bool) -> None:
        if recording:
            self._markers_added = 0
        self.actions.set_recording(recording)
        self._refresh_status()

    # --- data slots (GUI thread, from the current pipeline only) --------------------------------
    def _on_estimate(self, estimate: EmotionEstimate) -> None:
        self.estimates_received += 1
        if self.estimates_received == 1:  # `emolive -v run` prints it: the launch-to-first-estimate measurement
            log.info("first estimate in the window")
            self._release_loading()
            if isinstance(self.plots, PlotsSlot):
                self.plots.prepare()  # pyqtgraph imported beside the window, the plots built after
        self.latest = estimate
        self._follow_person(estimate)
        self.history.append(estimate)
        self.transcript.tag(estimate)
        if self.calibration is not None and self.calibration.isVisible():
            self.calibration.on_estimate(estimate)

    def _follow_person(self, estimate: EmotionEstimate) -> None:
        """The bars and traces are the primary person's: their name in the headers; a switch to another person
        is marked on the traces."""
        person = next((p for p in estimate.people if p.primary), None)
        if person is None or (person.person_id, person.name) == self.following:
            return
        if self.following is not None and self.following[0] != person.person_id:
            self.plots.add_marker(estimate.t, person.name)
        self.following = (person.person_id, person.name)
        self.headers["Current estimate"].setText(f"Current estimate: {person.name}")
        self.plots.set_title(f"Emotion probabilities: {person.name}")

    def _on_segment(self, segment: TranscriptSegment) -> None:
        self.transcript.add(segment)

    def _on_event(self, event: SourceEvent) -> None:
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
            self.ended_early = "ended early" in event.message
            recording = self.recording_dir is not None
            self.session.source_finished()  # a recording ends with the file
            early = f" ({event.message.split(' ended early: ', 1)[-1]})" if self.ended_early else ""
            self.statusBar().showMessage(f"End of the file{early}" + ("; the recording stopped" if recording else "")
                                         + "; File > Open video... plays another", 0)
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
            notice = "the file ended early" if self.ended_early else "end of the file"
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
        loading = status.loading if status is not None else ()
        if loading != self.video.loading:  # a channel loaded after the start joined: its chip changes
            self.video.loading = loading
            self.video.update()
        rows = self.session.rows_recorded
        recording = f"REC {self.recording_dir.name} ({rows} rows)" if self.recording_dir is not None else ""
        self.status_panel.show(format_status(status, recording, asr=self.sources.asr and self.config.asr.enabled,
                                             outputs=self.session.outputs_text()))

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
        self.session.shutdown()
        log.info("closed in %.0f ms", (time.perf_counter() - started) * 1000)
