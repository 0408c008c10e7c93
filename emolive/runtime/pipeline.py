"""The live pipeline: capture sources -> rings -> transcriber + inference worker -> sinks.

One object owns the session clock, the rings and every thread. Its sinks (``contracts.PipelineSink``: the
GUI's bridge, the session recorder, ...) are called from worker threads; the GUI's bridge hands over through
queued Qt signals. Missing devices do not stop the pipeline: they are
reported as ``SourceEvent`` errors and it runs with what it has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emolive.asr.vad import SpeechTimeline
from emolive.capture.base import CaptureSource
from emolive.capture.camera import CameraSource
from emolive.capture.media_file import MediaFileSource
from emolive.capture.microphone import MicSource
from emolive.config import AppConfig, InferenceConfig
from emolive.core.clock import SessionClock
from emolive.core.contracts import (
    EventKind,
    PipelineSink,
    PipelineStatus,
    SourceEvent,
    SourceKind,
    TranscriptSegment,
    source_kind,
)
from emolive.core.errors import EmoliveError
from emolive.core.memory import release_free_memory
from emolive.core.threads import Lifecycle
from emolive.fusion.fuser import fuser_for
from emolive.models.device import limit_native_threads
from emolive.runtime.channels import Channels, add_people, load_channels
from emolive.runtime.engine import build_engine, new_rings
from emolive.runtime.sinks import SinkList
from emolive.runtime.worker import InferenceWorker
from emolive.voice.channel import VoiceChannel

if TYPE_CHECKING:
    from emolive.asr.transcriber import Transcriber
    from emolive.runtime.preload import LaterChannels

log = logging.getLogger(__name__)


LIVE_ASR_BACKLOG_S = 4.0  # live: unread audio beyond this is skipped, so the words never trail far behind


def _ignore(_: Any) -> None:
    return None


class LivePipeline:
    """Cameras/microphones (or a file or synthetic stand-in) analysed live.

    ``video``: a media file replayed in real time instead of camera + microphone.
    ``camera``: index or name; None or "" for no camera. ``microphone``: index or part of a name, "" for the
    default input, None for no microphone.
    ``source_factory``: any ready-made CaptureSource writing into this pipeline's rings (tests, benchmarks);
    build it with ``pipeline.clock``, ``pipeline.frames``, ``pipeline.audio`` and ``pipeline.sinks.on_event``.
    ``sinks``: the subscribers to estimates, transcript updates and events (more with ``sinks.subscribe``);
    none is called after ``stop`` returns.
    ``later``: channels still loading (``runtime.preload``) that join the running worker when ready (the voice
    starts the transcriber then); ``status().loading`` names them meanwhile. Their loading begins at the first
    estimate, or, with ``release_at_first_estimate`` False, when ``release_loading`` is called (the window: once
    it has shown the first estimate).
    """

    def __init__(self, config: AppConfig, video: Path | None = None, camera: str | None = "0",
                 microphone: str | None = None, asr: bool = True, sinks: Iterable[PipelineSink] = (),
                 channels: Channels | None = None,
                 source_factory: Callable[[LivePipeline], CaptureSource] | None = None, loop: bool = False,
                 strict_models: bool = True, later: LaterChannels | None = None,
                 release_at_first_estimate: bool = True) -> None:
        self.config = config
        self.strict_models = strict_models  # False: start without a configured model that cannot load (and say so)
        self.video, self.camera, self.microphone = video, camera, microphone
        self.asr_enabled = asr and config.asr.enabled
        self.sinks = SinkList(sinks)
        self.clock = SessionClock()
        self.frames, self.audio = new_rings(config)
        self._channels = channels
        self._source_factory = source_factory
        self.loop = loop
        self.sources: list[CaptureSource] = []
        self.transcriber: Transcriber | None = None
        self._partials: bool | None = None  # set_live_partials: None follows asr.live_partials
        self.worker: InferenceWorker | None = None
        self.speech: SpeechTimeline | None = None  # the session's speech probabilities (voice channel + transcriber)
        self.device = "cpu"
        self._started = False
        self._stopping = False
        self._later = later
        self._release_at_first_estimate = release_at_first_estimate
        self._lock = threading.Lock()
        self._loaders: list[threading.Thread] = []  # model-swap threads

    # --- events ---------------------------------------------------------------------------------
    def _event(self, source: str, kind: EventKind, message: str) -> None:
        self.sinks.on_event(SourceEvent(t=self.clock.now(), source=source, kind=kind, message=message))

    def _error(self, source: str) -> Callable[[str], None]:
        return lambda message: self._event(source, EventKind.ERROR, message)

    # --- life cycle -----------------------------------------------------------------------------
    def _open_sources(self) -> None:
        cap = self.config.capture
        if self._source_factory is not None:
            self.sources.append(self._source_factory(self))
            return
        if self.video is not None:
            self.sources.append(MediaFileSource(self.video, self.clock, self.frames, self.audio, realtime=True,
                                                loop=self.loop, on_event=self.sinks.on_event))
            return
        if self.camera not in (None, ""):
            try:
                self.sources.append(CameraSource(self.camera, self.clock, self.frames, cap.width, cap.height,
                                                 cap.fps, on_event=self.sinks.on_event))
            except EmoliveError as exc:
                self._event(SourceKind.CAMERA, EventKind.ERROR, f"{exc}; running without a camera")
        if self.microphone is not None:
            try:
                self.sources.append(MicSource(self.microphone or None, self.clock, self.audio,
                                              on_event=self.sinks.on_event))
            except EmoliveError as exc:
                self._event(SourceKind.MICROPHONE, EventKind.ERROR, f"{exc}; running without a microphone")

    def start(self) -> None:
        """Open devices, load and warm up models, start every thread."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self._open_sources()
        channels = self._channels or load_channels(self.config.inference, strict=self.strict_models,
                                                   people=self.config.people)
        add_people(channels, self.config.people)  # preloaded channels get their persons here
        self._channels = channels
        # Live, latency beats throughput: idle BLAS/OpenMP threads spin and take the core the worker needs.
        limit_native_threads(self.config.inference.threads)
        for problem in channels.problems:
            self._event("models", EventKind.ERROR, problem)
        self.device = channels.device
        # a new session: build_engine resets the face tracks and the voice's running speaker statistics
        engine = build_engine(self.config, channels, rings=(self.frames, self.audio), clock=self.clock,
                              on_estimate=self.sinks.on_estimate, on_error=self._error("inference"), device=self.device,
                              voice_in_background=self.config.inference.voice_thread,
                              detect_in_background=self.config.inference.detect_thread)
        self.worker, self.speech = engine.worker, engine.speech
        release_free_memory()  # what loading read in and let go (weights ONNX Runtime copied): ~100 MB
        later = self._later
        if self._wants_transcriber() and (later is None or "voice" not in later.kinds):
            self._start_transcriber(engine.speech)  # else when the voice channel (and its Whisper model) is loaded
        if later is not None and self._release_at_first_estimate:
            self.sinks.subscribe(later)  # its first estimate lets the voice and text loads begin
        self.worker.start()
        for source in self.sources:
            source.start()
        if later is not None:
            later.subscribe(self._join)

    def release_loading(self) -> None:
        """Let the channels waiting to load after the start begin now."""
        if self._later is not None:
            self._later.release()

    def _wants_transcriber(self) -> bool:
        return self.asr_enabled and any((kind := source_kind(s.name)) is not None and kind.has_audio
                                        for s in self.sources)

    def _join(self, kind: str, channels: Channels) -> None:
        """A channel loaded after the start joins the running worker (called on the loading thread); its loading
        problems are reported as the start's are."""
        with self._lock:
            if self._stopping or self.worker is None:
                return
            for problem in channels.problems:
                self._event("models", EventKind.ERROR, problem)
            channel = getattr(channels, kind, None)
            if channel is not None:
                if isinstance(channel, VoiceChannel):
                    self.speech = channel.speech  # the transcriber reads the voice channel's speech timeline
                self.worker.add_channels(**{kind: channel})
                release_free_memory()
                log.info("%s channel joined", kind)
            if kind == "voice" and self._wants_transcriber():
                self._start_transcriber(self.speech)

    def _start_transcriber(self, speech: SpeechTimeline | None = None) -> None:
        try:
            from emolive.asr.streaming import StreamConfig
            from emolive.asr.transcriber import Transcriber

            asr = self.config.asr

            def on_segment(segment: TranscriptSegment) -> None:
                if self.worker is not None:
                    self.worker.add_segment(segment)
                self.sinks.on_segment(segment)

            self.transcriber = Transcriber(self.audio, self.clock, on_segment, on_error=self._error("transcriber"),
                                           model=asr.model, language=asr.language or None, threads=asr.threads,
                                           max_backlog_s=LIVE_ASR_BACKLOG_S, speech=speech, min_pass_s=asr.min_pass_s,
                                           config=StreamConfig(interval_s=asr.interval_s, partials=asr.live_partials))
            if self._partials is not None:
                self.transcriber.set_partials(self._partials)
            self.transcriber.start()
        except (EmoliveError, ImportError) as exc:
            self.transcriber = None
            self._event("transcriber", EventKind.ERROR, f"transcription unavailable: {exc}")

    def set_live_partials(self, on: bool | None) -> None:
        """Decode words while they are spoken (True) or only once an utterance ends (False), e.g. while the window is
        minimised; None: as ``asr.live_partials`` says. Kept for a transcriber started later."""
        self._partials = on
        if self.transcriber is not None:
            self.transcriber.set_partials(on)

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop every thread and wait for them, ``timeout`` seconds in all; returns (and logs) those still running."""
        started = time.monotonic()
        deadline = started + timeout
        with self._lock:
            self._stopping = True  # a channel still loading no longer joins
        for source in self.sources:
            source.stop()
        # The transcriber commits the open utterance when it stops; the worker stops after it so that
        # text still reaches one last estimate (and the recording).
        if self.transcriber is not None:
            self.transcriber.stop()
            self.transcriber.join(max(0.1, deadline - time.monotonic()))
        if self.worker is not None:
            self.worker.stop()
        for thread in [*self.sources, self.worker]:
            if thread is not None:
                thread.join(max(0.1, deadline - time.monotonic()))
        for loader in list(self._loaders):
            loader.join(max(0.1, deadline - time.monotonic()))
        named: list[tuple[str, Lifecycle | None]] = [(s.name, s) for s in self.sources]
        named += [("transcriber", self.transcriber), ("inference worker", self.worker)]
        named += [(loader.name, loader) for loader in self._loaders]
        late = [name for name, part in named if part is not None and part.is_alive()]
        if self._later is not None and not self._later.wait(max(0.1, deadline - time.monotonic())):
            late.append("model loading")  # a load in native code: the process must not end under it
        face = self._channels.face if self._channels is not None else None
        if hasattr(face, "close_embedder"):
            face.close_embedder()  # the identity embedder's child process (started again if needed)
        self.sinks.clear()  # a thread left behind must not write into the next session's recording
        if late:
            log.warning("shutdown: %s still running after %.1f s (left behind as daemon threads)",
                        ", ".join(late), time.monotonic() - started)
        else:
            log.info("pipeline stopped in %.0f ms", (time.monotonic() - started) * 1000)
        return late

    def set_person_name(self, person_id: int, name: str) -> None:
        """Name a person seen in this session ("" goes back to ``person N``); see ``InferenceWorker``."""
        if self.worker is not None:
            self.worker.set_person_name(person_id, name)

    def set_primary(self, person_id: int | None) -> None:
        """Pin the person the voice and the words are fused with (None: the largest, most central face)."""
        if self.worker is not None:
            self.worker.set_primary(person_id)

    def set_smoothing(self, seconds: float) -> None:
        """Change the fused estimate's smoothing (``inference.smoothing_s``) while running: no restart."""
        worker = self.worker
        if worker is not None:
            worker.fuser.set_smoothing(seconds)
        self.config = replace(self.config, inference=replace(self.config.inference, smoothing_s=float(seconds)))

    def swap_models(self, inference: InferenceConfig, on_done: Callable[[str], None] = _ignore) -> None:
        """Load the channels and fusion of ``inference`` in the background, then switch to them between two steps.

        The running estimate continues with the old models while the new ones load; ``on_done`` gets "" on
        success or the error message (the old models stay in place then).
        """
        def load() -> None:
            try:
                channels = load_channels(inference)
                fuser = fuser_for(inference)
            except EmoliveError as exc:
                on_done(str(exc))
                return
            if isinstance(channels.voice, VoiceChannel) and self.speech is not None:
                channels.voice.speech = self.speech  # the session's timeline goes on: the transcriber reads it too
            if self.worker is not None:
                self.worker.swap(face=channels.face, voice=channels.voice, text=channels.text, fuser=fuser)
            self.config = replace(self.config, inference=inference)
            on_done("; ".join(channels.problems))

        loader = threading.Thread(target=load, name="emolive-model-swap", daemon=True)
        self._loaders = [t for t in self._loaders if t.is_alive()] + [loader]
        loader.start()

    # --- status ---------------------------------------------------------------------------------
    def _running_transcriber(self) -> Transcriber | None:
        """The transcriber while it runs with its model loaded (None: none, still loading, or stopped)."""
        transcriber = self.transcriber
        if transcriber is None or not transcriber.ready.is_set() or not transcriber.is_alive():
            return None
        return transcriber

    def status(self) -> PipelineStatus:
        worker, asr = self.worker, self._running_transcriber()
        summary = worker.latency_summary() if worker is not None else {"p50": 0.0, "p95": 0.0}
        fps = 0.0
        for source in self.sources:
            fps = source.measured_fps or fps
        if not fps:
            recent = self.frames.last_seconds(2.0)
            if len(recent) > 1:
                fps = (len(recent) - 1) / max(recent[-1].t - recent[0].t, 1e-6)
        picture = any(source.gives_pictures for source in self.sources) if self.sources else True  # not opened yet
        return PipelineStatus(
            picture=picture, capture_fps=fps if picture else None,
            step_p50_ms=summary["p50"], step_p95_ms=summary["p95"],
            budget_ms=self.config.inference.budget_ms, device=worker.device if worker is not None else self.device,
            asr_lag_s=asr.lag_s if asr is not None else None, asr_skipped_s=asr.skipped_s if asr is not None else None,
            dropped_steps=worker.dropped if worker is not None else 0,
            degraded=worker.governor.describe() if worker is not None else "",
            loading=self._later.loading if self._later is not None and not self._stopping else ())
