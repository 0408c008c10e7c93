"""The session controller: starts, restarts and stops the pipeline, records, applies settings, swaps models.

The window only wires it to the widgets: the controller says what happened through signals (``loading``,
``started``, ``failed``, ``problem``, ``notice``, ``recording_changed``, ``restarting``) and forwards the
current pipeline's estimates, segments and events (``estimate``, ``segment``, ``event``); output of a pipeline
that was let go is dropped here. It owns no widget, so it asks the window (``ask``) before a restart would end
a recording. Its recording commands are ``session_recording.RecordingControl``, its model switches
``session_models.ModelControl``, naming and pinning people and the saved people ``session_people.PeopleControl``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from emolive.config import AppConfig, InferenceConfig, save_config, to_dict, with_changes
from emolive.core.contracts import EmotionEstimate, PipelineSink, SourceEvent, TranscriptSegment
from emolive.core.errors import EmoliveError
from emolive.gui.bridge import MessageRelay, PipelineBridge
from emolive.gui.interfaces import PipelineFactory, PipelineLike, RecorderLike, Sources
from emolive.gui.session_models import ModelControl
from emolive.gui.session_people import PeopleControl
from emolive.gui.session_recording import RecordingControl
from emolive.outputs.hub import LiveOutputs

log = logging.getLogger(__name__)

STARTER_TIMEOUT_S = 60.0  # the longest Quit/restart waits for a pipeline that is still loading its models
AskRestart = Callable[[list[str]], str]  # changed settings -> "now", "later" (when the recording ends) or "cancel"


def release_memory() -> None:
    """Collect cycles and hand freed heap pages back to the OS (glibc keeps them otherwise: restarts grew RSS)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


LIVE_SETTINGS = frozenset({"inference.smoothing_s"})  # applied to the running pipeline without a restart


def settings_needing_restart(old: AppConfig, new: AppConfig) -> list[str]:
    """``section.key`` of every changed setting that needs a pipeline restart (all but [recording] and [outputs],
    which apply to the running session, and LIVE_SETTINGS)."""
    changed = []
    for section, values in to_dict(new).items():
        if section in ("recording", "outputs"):
            continue
        before = to_dict(old)[section]
        changed.extend(f"{section}.{key}" for key, value in values.items()
                       if before[key] != value and f"{section}.{key}" not in LIVE_SETTINGS)
    return changed


class ModelSwitcher:
    """What the fine-tune and calibration dialogs get as their ``pipeline``: model switches go through the
    controller, which persists them in the settings and hot-swaps the running pipeline (or starts one)."""

    def __init__(self, session: SessionController) -> None:
        self._session = session

    @property
    def config(self) -> AppConfig:
        return self._session.config

    def swap_models(self, inference: InferenceConfig, on_done: Callable[[str], None] | None = None) -> None:
        self._session.switch_models(inference, on_done)


class SessionController(RecordingControl, ModelControl, PeopleControl, QObject):
    """One session at a time: ``factory(config, sources, sinks)`` builds its pipeline, sending to the GUI's
    bridge and, side by side, to the recorder."""

    loading = Signal(str)  # a start began: what is being loaded
    started = Signal()  # a start attempt finished (pipeline running, or failed and said why)
    ready = Signal(object)  # the running pipeline
    failed = Signal(str)  # why it could not start
    restarting = Signal()  # the old session is over: the views start over
    estimate = Signal(object)  # EmotionEstimate of the current pipeline
    segment = Signal(object)  # TranscriptSegment of the current pipeline
    event = Signal(object)  # SourceEvent of the current pipeline
    problem = Signal(str)  # something went wrong (for the banner); the session goes on
    notice = Signal(str, int)  # a status line and how long to show it (ms, 0: until replaced)
    recording_changed = Signal(bool)
    outputs_changed = Signal(str)  # the live outputs that run now ("" for none)
    lsl_marker = Signal(str, float)  # a marker from an LSL stream written into the recording: label, session time

    def __init__(self, config: AppConfig, sources: Sources, factory: PipelineFactory,
                 recorder: RecorderLike | None = None, config_path: Path | None = None, persist: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config, self.sources, self.factory = config, sources, factory
        self.recorder = recorder
        self.config_path, self.persist = config_path, persist
        self.pipeline: PipelineLike | None = None
        self.bridge: PipelineBridge | None = None
        self.recording_dir: Path | None = None
        self.source_ended = False  # the replayed file has ended: nothing more to record until a restart
        self.model_switcher = ModelSwitcher(self)
        self._starter: threading.Thread | None = None
        self._pending_config: AppConfig | None = None  # settings waiting for the recording to end
        self._swaps: deque[tuple[AppConfig, Callable[[str], None] | None]] = deque()  # hot swaps under way
        self._swap_relay = MessageRelay(self)
        self._swap_relay.message.connect(self._on_swapped)
        self._recorder_errors = MessageRelay(self)
        self._recorder_errors.message.connect(self._on_recorder_error)
        self.outputs: LiveOutputs | None = None  # the live outputs (LSL, overlay) of the running pipeline
        self._output_problems = MessageRelay(self)  # from the start thread
        self._output_problems.message.connect(lambda message: self.problem.emit(f"Live outputs: {message}"))
        self._output_news = MessageRelay(self)  # the LSL marker inlet's thread
        self._output_news.message.connect(self._on_output_news)
        self._closed = False
        self.left_behind: list[str] = []  # threads the last stop could not join (a decode in native code)
        self._init_people(None)
        if recorder is not None:
            recorder.on_error = self._recorder_errors  # called from recording threads

    # --- pipeline life cycle --------------------------------------------------------------------
    def start(self) -> None:
        """Build and start a pipeline for the current config and sources on a helper thread.

        Loading models takes seconds; the window keeps painting meanwhile. ``started`` follows, with ``ready``
        or ``failed`` before it.
        """
        bridge = PipelineBridge(self)
        bridge.estimate.connect(self._forward_estimate)
        bridge.segment.connect(self._forward_segment)
        bridge.event.connect(self._forward_event)
        bridge.ready.connect(self._on_ready)
        bridge.failed.connect(self._on_failed)
        self.bridge = bridge
        self.loading.emit(self.sources.describe())
        self._starter = threading.Thread(target=self._build, args=(bridge, self.config, self.sources),
                                         name="emolive-gui-start", daemon=True)
        self._starter.start()

    def _build(self, bridge: PipelineBridge, config: AppConfig, sources: Sources) -> None:
        """Helper thread: construct and start the pipeline, then hand it over through ``bridge``."""
        try:
            outputs = self._make_outputs(config, sources)
            sinks: tuple[PipelineSink, ...] = (bridge,) if self.recorder is None else (bridge, self.recorder)
            pipeline = self.factory(config, sources, (*sinks, outputs))
            bridge.pipeline = pipeline
            bridge.outputs = outputs
            outputs.clock = pipeline.clock
            for problem in outputs.start():
                self._output_problems(problem)
            pipeline.start()
        except EmoliveError as exc:
            self._stop_outputs(bridge)
            bridge.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - any failure is reported in the window, which stays usable
            log.exception("the pipeline failed to start")
            self._stop_outputs(bridge)
            bridge.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        bridge.ready.emit(pipeline)

    @staticmethod
    def _stop_outputs(bridge: PipelineBridge) -> None:
        outputs, bridge.outputs = bridge.outputs, None
        if outputs is not None:
            outputs.stop()

    def _current(self) -> bool:
        return self.bridge is not None and self.sender() is self.bridge

    def _on_ready(self, pipeline: PipelineLike) -> None:
        if not self._current():
            return
        self.pipeline = pipeline
        if self.recorder is not None:  # markers on the session clock, raw capture from the rings
            self.recorder.attach(pipeline.clock, pipeline.frames, pipeline.audio)
        self.outputs = getattr(self.bridge, "outputs", None)
        self.outputs_changed.emit(self.outputs.describe() if self.outputs is not None else "")
        self._people_ready(pipeline)
        self.ready.emit(pipeline)
        self.started.emit()

    def _on_failed(self, message: str) -> None:
        if not self._current():
            return
        self.pipeline = None
        self.problem.emit(f"Could not start: {message}")
        self.failed.emit(message)
        self.started.emit()

    def _forward_estimate(self, estimate: EmotionEstimate) -> None:
        if self._current():
            self.estimate.emit(estimate)

    def _forward_segment(self, segment: TranscriptSegment) -> None:
        if self._current():
            self.segment.emit(segment)

    def _forward_event(self, event: SourceEvent) -> None:
        if self._current():
            self.event.emit(event)

    def stop_pipeline(self) -> None:
        """Stop and join the pipeline's threads; signals already queued from it are ignored."""
        self.save_people()  # with people.remember: the named people of this session
        bridge, self.pipeline, self.bridge = self.bridge, None, None
        if self._starter is not None:
            self._starter.join(STARTER_TIMEOUT_S)  # models load in seconds; a stuck load must not hang Quit
            if self._starter.is_alive():
                log.warning("shutdown: the pipeline start thread is still running after %.0f s", STARTER_TIMEOUT_S)
            self._starter = None
        pipeline = bridge.pipeline if bridge is not None else None
        if pipeline is not None:
            try:
                self.left_behind = pipeline.stop()
            except Exception:  # noqa: BLE001 - closing must go on
                log.exception("pipeline.stop() failed")
        self.outputs = None
        if bridge is not None:
            self._stop_outputs(bridge)  # after the pipeline: nothing is passed on any more
        if bridge is not None:
            bridge.closed = True  # kept (parented here) so a late callback never meets a deleted object
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
        self.source_ended = False
        self.restarting.emit()
        self.start()

    def shutdown(self) -> None:
        """Finish the recording, stop and join the pipeline; no restart waits after this."""
        self._closed = True
        self.stop_recording()
        self.stop_pipeline()

    # --- sources and settings ---------------------------------------------------------------------
    def live_sources(self) -> Sources:
        cap = self.config.capture
        return Sources(video=None, camera=cap.camera or None, microphone=cap.microphone, asr=self.sources.asr)

    def apply_config(self, config: AppConfig, ask: AskRestart) -> None:
        """Persist ``config``; restart with it when a changed setting needs a restart.

        During a recording ``ask`` decides first (a restart ends the recording): restart now, apply the settings
        when the recording ends, or cancel.
        """
        if config == self.config:
            return
        changed = settings_needing_restart(self.config, config)
        if not changed:
            self._save(config)
            outputs_changed = config.outputs != self.config.outputs
            smoothing = config.inference.smoothing_s
            if smoothing != self.config.inference.smoothing_s and self.pipeline is not None \
                    and callable(getattr(self.pipeline, "set_smoothing", None)):
                self.pipeline.set_smoothing(smoothing)  # live: the recording goes on
                self.notice.emit(f"Smoothing set to {smoothing:g} s", 5000)
            self.config = config
            if outputs_changed:
                self._apply_outputs()
            return
        if self.recording_dir is not None:
            choice = ask(changed)
            if choice == "cancel":
                self.notice.emit("Settings not changed", 5000)
                return
            if choice == "later":
                self._save(config)
                self._pending_config = config
                self.notice.emit(f"Applied when the recording ends: {', '.join(changed)}", 0)
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
            self.notice.emit(f"Restarted to apply: {', '.join(changed)}", 8000)

    def _recording_ended(self) -> None:
        """Settings that waited for the recording to end are applied now (a restart)."""
        pending = self._pending_config
        if pending is not None and not self._closed:
            self._pending_config = None
            QTimer.singleShot(0, lambda: self._restart_with(pending, settings_needing_restart(self.config, pending)))

    def _save(self, config: AppConfig) -> None:
        if not self.persist:
            return
        try:
            path = save_config(config, self.config_path)
            self.notice.emit(f"Settings saved to {path}", 5000)
        except OSError as exc:
            self.problem.emit(f"Could not save the settings: {exc}")

    # --- live outputs (LSL, WebSocket and overlay) --------------------------------------------------
    def _make_outputs(self, config: AppConfig, sources: Sources) -> LiveOutputs:
        recorder = self.recorder

        def write_marker(label: str, t: float) -> float | None:
            """The marker inlet's thread: into the recording at ``t``, then (queued) onto the window's traces."""
            written = recorder.add_marker(label, t) if recorder is not None else None
            if written is not None:
                self.lsl_marker.emit(label, float(written))
            return written

        return LiveOutputs(config, None, write_marker=write_marker if recorder is not None else None,
                           record_meta=getattr(recorder, "put_meta", None), source=sources.describe(),
                           on_status=self._output_news)

    def set_outputs(self, **changes: object) -> None:
        """Change ``[outputs]`` settings (e.g. ``lsl=True``): saved, and applied to the running session."""
        config = with_changes(self.config, "outputs", **changes)
        if config == self.config:
            return
        self._save(config)
        self.config = config
        self._apply_outputs()

    def _apply_outputs(self) -> None:
        if self.outputs is not None:
            for problem in self.outputs.apply(self.config):
                self.problem.emit(f"Live outputs: {problem}")
        self.outputs_changed.emit(self.outputs_text())

    def outputs_text(self) -> str:
        """The running live outputs, for the status bar ("" for none)."""
        return self.outputs.describe() if self.outputs is not None else ""

    def _on_output_news(self, text: str) -> None:
        self.notice.emit(f"LSL markers: {text}", 6000)
        self.outputs_changed.emit(self.outputs_text())
