"""The inference worker: every hop, the newest aligned window -> channels -> fusion -> EmotionEstimate.

``step(now)`` is the whole computation and is shared by the live thread and offline analysis.
The thread runs ``step`` on a fixed hop of the session clock, never queues work (missed hops are
counted as dropped), measures every stage, and degrades before it breaks the latency budget.
Live (``voice_in_background``, ``detect_in_background``), the voice windows and the face channel's detection
rounds run on threads of their own (``newest_thread``): a hop hands its work over and uses the newest results.
When each part runs (load shedding, the hop schedule, the voice windows) is ``runtime.scheduling``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from emolive.asr.language import is_english
from emolive.config import InferenceConfig
from emolive.core.abilities import DetectsInBackground, Movable, SeesPeople
from emolive.core.clock import SessionClock
from emolive.core.contracts import (
    EmotionEstimate,
    FaceBox,
    FaceLike,
    ModalityOutput,
    PersonEstimate,
    TextLike,
    TranscriptSegment,
    VoiceLike,
)
from emolive.core.finite import finite_or_dropped
from emolive.core.rings import AudioRing, FrameRing
from emolive.core.snapshot import (
    box_state,
    modality_state,
    person_state,
    restore_box,
    restore_modality,
    restore_person,
    restore_segment,
    segment_state,
)
from emolive.core.threads import OwnThread
from emolive.fusion.fuser import Fuser
from emolive.models.device import is_cuda_error
from emolive.runtime.scheduling import LoadGovernor, VoiceWindows, schedule
from emolive.runtime.voice_background import BackgroundVoice

log = logging.getLogger(__name__)

class InferenceWorker(OwnThread):
    """Runs the channels and the fuser; publishes one EmotionEstimate per hop (live: in its own thread)."""

    def __init__(self, frames: FrameRing, audio: AudioRing, fuser: Fuser, config: InferenceConfig,
                 clock: SessionClock | None = None, face: FaceLike | None = None, voice: VoiceLike | None = None,
                 text: TextLike | None = None, on_estimate: Callable[[EmotionEstimate], None] | None = None,
                 on_error: Callable[[str], None] | None = None, device: str = "cpu", shed_load: bool = True,
                 voice_in_background: bool = False, detect_in_background: bool = False) -> None:
        super().__init__("emolive-inference")
        self.frames, self.audio, self.fuser, self.config = frames, audio, fuser, config
        self.device = device
        self.clock = clock or SessionClock()
        self.face, self.voice, self.text = face, voice, text
        self.on_estimate, self.on_error = on_estimate, on_error
        # Offline analysis has no deadline: it never sheds work, so its output does not depend on the machine's load.
        self.governor = LoadGovernor(config.budget_ms, enabled=shed_load)
        self.base_detect_every = face.detect_every if face is not None else 1
        self.step_ms: deque[float] = deque(maxlen=600)
        self.steps = 0
        self.dropped = 0
        self._segments: deque[TranscriptSegment] = deque(maxlen=50)
        self._new_text: list[str] = []
        self._lock = threading.Lock()
        self._step_lock = threading.Lock()
        self._last: dict[str, ModalityOutput | None] = {"face": None, "voice": None, "text": None}
        self._faces: tuple[FaceBox, ...] = ()
        self._people: tuple[PersonEstimate, ...] = ()  # the face channel's persons (one that sees people)
        self._commands: deque[Callable[[SeesPeople], None]] = deque()  # the user's, applied on the worker's thread
        self._last_frame_index = -1
        self._voice_windows = VoiceWindows(config.voice_window_s)
        self._errors_reported: set[str] = set()
        # live only: started with the thread (``start``); ``step`` called directly scores the voice in line
        self.voice_in_background = voice_in_background
        self._voice_thread: BackgroundVoice | None = None
        self.detect_in_background = detect_in_background  # live only, as the voice thread

    # --- inputs from other threads -----------------------------------------------------------------
    def add_segment(self, segment: TranscriptSegment) -> None:
        """Take a transcript update (called from the transcriber's thread); only committed text counts."""
        if not segment.committed or not segment.text.strip():
            return
        with self._lock:
            self._segments.append(segment)
            self._new_text.append(segment.text.strip())

    def set_person_name(self, person_id: int, name: str) -> None:
        """Name a person (any thread; "" goes back to ``person N``): estimates carry it from the next step."""
        self._command(lambda face: face.name_person(int(person_id), str(name)))

    def set_primary(self, person_id: int | None) -> None:
        """Pin the person the voice and the words are fused with (any thread; None: the largest, most central
        face again), from the next step while they are in view."""
        self._command(lambda face: face.pin(None if person_id is None else int(person_id)))

    def _command(self, command: Callable[[SeesPeople], None]) -> None:
        with self._lock:
            self._commands.append(command)

    def _apply_commands(self) -> None:
        with self._lock:
            commands, self._commands = list(self._commands), deque()
        if commands and isinstance(self.face, SeesPeople):
            for command in commands:
                command(self.face)
            self._last_frame_index = -1  # the face channel looks again (a still picture too): names, primary

    def swap(self, face: FaceLike | None, voice: VoiceLike | None, text: TextLike | None, fuser: Fuser) -> None:
        """Replace the models between two steps (hot swap after fine-tuning)."""
        with self._step_lock:
            if self._voice_thread is not None:
                self.stop_voice_thread()
                self.voice = voice
                self.start_voice_thread()
            if self._detecting_in_background():
                self._set_detection_thread(self.face, False)
                self._set_detection_thread(face, True)
            if isinstance(face, SeesPeople) and isinstance(self.face, SeesPeople) and hasattr(face, "take_people"):
                face.take_people(self.face)  # the persons (and their names) go on with the new models
            self.face, self.voice, self.text, self.fuser = face, voice, text, fuser
            self.base_detect_every = face.detect_every if face is not None else 1
            self._last = {"face": None, "voice": None, "text": None}
            self._voice_windows.asked = False  # the new voice channel is asked on the next hop
            self._faces, self._people = (), ()

    def add_channels(self, voice: VoiceLike | None = None, text: TextLike | None = None) -> None:
        """A voice or text channel that finished loading after the start joins between two steps (the others,
        and what they showed, go on); one already there (swapped in meanwhile) stays."""
        with self._step_lock:
            self.text = text if self.text is None else self.text
            if voice is not None and self.voice is None:
                self.voice = voice
                if self.voice_in_background and self._thread is not None and not self.stopping.is_set():
                    self.start_voice_thread()

    # --- snapshots (offline analysis resumes from them) ----------------------------------------------
    def state(self) -> dict:
        """What the next steps depend on besides the rings, the channels and the fuser (see ``restore``)."""
        with self._step_lock, self._lock:
            return {"steps": self.steps, "dropped": self.dropped, "governor": self.governor.state(),
                    "segments": [segment_state(s) for s in self._segments], "new_text": list(self._new_text),
                    "last": {k: modality_state(v) for k, v in self._last.items()},
                    "faces": [box_state(b) for b in self._faces], "people": [person_state(p) for p in self._people],
                    "last_frame_index": self._last_frame_index,
                    "voice_windows": self._voice_windows.state(), "errors_reported": sorted(self._errors_reported)}

    def voice_windows_state(self) -> dict:
        """Which voice windows were asked so far (``VoiceWindows.state``; offline look-ahead replays them)."""
        return self._voice_windows.state()

    def restore(self, state: dict) -> None:
        """Continue after the step at which ``state`` was taken (same models, rings restored separately)."""
        with self._step_lock, self._lock:
            self.steps, self.dropped = int(state["steps"]), int(state["dropped"])
            self.governor.restore(state["governor"])
            self._segments.clear()
            self._segments.extend(restore_segment(s) for s in state["segments"])
            self._new_text = [str(t) for t in state["new_text"]]
            self._last = {k: restore_modality(state["last"].get(k)) for k in ("face", "voice", "text")}
            self._faces = tuple(restore_box(b) for b in state["faces"])
            self._people = tuple(restore_person(p) for p in state.get("people", []))
            self._last_frame_index = int(state["last_frame_index"])
            self._voice_windows.restore(state["voice_windows"])
            self._errors_reported = {str(k) for k in state["errors_reported"]}

    # --- the computation ---------------------------------------------------------------------------
    def step(self, now: float) -> EmotionEstimate:
        with self._step_lock:
            return self._step(now)

    def _step(self, now: float) -> EmotionEstimate:
        t_start = time.perf_counter()
        latency: dict[str, float] = {}
        run_face, detect, run_voice = self._schedule(self.steps, self.governor.level)
        if self._commands:
            self._apply_commands()
        if self._voice_thread is not None:
            self._collect_voice(now, latency)
        if self.face is not None and run_face:
            self._run_face(now, latency, detect)
        if self.voice is not None and self._voice_windows.due(run_voice):
            self._run_voice(now, latency)
        new_text = self._run_text(now, latency)
        self._drop_non_finite(now)
        t0 = time.perf_counter()
        fused = self.fuser.fuse(self._last, now)
        latency["fusion"] = (time.perf_counter() - t0) * 1000
        total = (time.perf_counter() - t_start) * 1000
        latency["total"] = total
        self.step_ms.append(total)
        self.governor.record(total)
        self.steps += 1
        return EmotionEstimate(
            t=now, emotion=fused.emotion, sentiment=fused.sentiment, valence=fused.valence, arousal=fused.arousal,
            dominant=fused.dominant, confidence=fused.confidence,
            modalities=tuple(m for m in self._last.values() if m is not None), weights=fused.weights,
            staleness=fused.staleness, faces=self._faces,
            latency_ms=tuple((k, round(v, 3)) for k, v in latency.items()), transcript=new_text,
            degraded=self.governor.describe(), agreement=fused.agreement, discounts=fused.discounts,
            people=self._people,
        )

    def _schedule(self, step: int, level: int) -> tuple[bool, bool, bool]:
        """(run the face channel, run face detection, run the voice channel) on hop number ``step``."""
        return schedule(step, level, self.base_detect_every, self.config.voice_every)

    def _run_face(self, now: float, latency: dict[str, float], detect: bool) -> None:
        frame = self.frames.latest_at(now)
        if frame is None or frame.index == self._last_frame_index:
            return
        self._last_frame_index = frame.index
        t0 = time.perf_counter()
        try:
            output, self._faces = self.face.process(frame, detect=detect)
            self._last["face"] = output
            self._people = tuple(self.face.people) if isinstance(self.face, SeesPeople) else ()
        except Exception as exc:
            self._channel_failed("face", exc, now)
        latency["face"] = (time.perf_counter() - t0) * 1000
        if isinstance(self.face, DetectsInBackground) and (detection_ms := self.face.pop_detection_ms()) is not None:
            latency["detect"] = detection_ms  # a round on the detection thread: beside the hop, not in its total

    def _run_voice(self, now: float, latency: dict[str, float]) -> None:
        request = self._voice_windows.request(now, self.audio)
        if request is None:
            return
        samples, end = request
        if self._voice_thread is not None:
            self._voice_thread.submit_window(samples, end)
            return
        t0 = time.perf_counter()
        try:
            self._last["voice"] = self.voice.process(samples, end)
        except Exception as exc:
            self._channel_failed("voice", exc, now)
        latency["voice"] = (time.perf_counter() - t0) * 1000

    def _collect_voice(self, now: float, latency: dict[str, float]) -> None:
        """Live: take the voice readings scored since the last hop; ``latency["voice"]`` is their compute time
        (spent beside the steps, so not part of this hop's total)."""
        assert self._voice_thread is not None
        for scored in self._voice_thread.collect():
            if scored.error is not None:
                self._channel_failed("voice", scored.error, now)
            else:
                self._last["voice"] = scored.result
            latency["voice"] = scored.compute_ms

    def _run_text(self, now: float, latency: dict[str, float]) -> str:
        with self._lock:
            new_text = " ".join(self._new_text)
            self._new_text.clear()
            recent = [s for s in self._segments if now - s.end <= self.config.text_max_age_s and s.end <= now]
        if self.text is None or not recent:
            if not recent:
                self._last["text"] = None
            return new_text
        latest = recent[-1]
        if not is_english(latest.language):  # tiny.en makes English-looking words of other languages
            self._last["text"] = ModalityOutput(modality="text", t=latest.end, present=False, reason="not English")
            return new_text
        context = tuple(s.text for s in recent[:-1][-2:])
        t0 = time.perf_counter()
        try:
            self._last["text"] = self.text.process(latest.text, latest.end, context)
        except Exception as exc:
            self._channel_failed("text", exc, now)
        latency["text"] = (time.perf_counter() - t0) * 1000
        return new_text

    def _drop_non_finite(self, now: float) -> None:
        """A channel output holding NaN or infinity is dropped for this step (its chip says why), reported once."""
        for name, output in self._last.items():
            checked, bad = finite_or_dropped(output)
            if not bad:
                continue
            self._last[name] = checked
            key = f"{name}:non-finite"
            if key not in self._errors_reported:
                self._errors_reported.add(key)
                message = f"{name} channel gave a non-finite {', '.join(bad)} at {now:.1f} s: dropped from the fusion"
                log.warning(message)
                if self.on_error is not None:
                    self.on_error(message)

    def _channel_failed(self, name: str, exc: Exception, now: float) -> None:
        channel = getattr(self, name)
        if is_cuda_error(exc) and isinstance(channel, Movable) and self.device != "cpu":
            log.warning("%s channel failed on the GPU (%s): moving every channel to the CPU", name, exc)
            for other in (self.face, self.voice, self.text):
                if not isinstance(other, Movable):
                    continue
                if other is self.voice and self._voice_thread is not None:
                    self._voice_thread.locked(lambda channel=other: channel.to("cpu"))
                else:
                    other.to("cpu")
            self.device = "cpu"
            if self.on_error is not None:
                self.on_error(f"GPU error in the {name} channel; continuing on the CPU: {exc}")
            return
        self._last[name] = ModalityOutput(modality=name, t=now, present=False, reason=f"error: {exc}")
        key = f"{name}:{type(exc).__name__}"
        log.error("%s channel failed", name, exc_info=exc)
        if key not in self._errors_reported:
            self._errors_reported.add(key)
            if self.on_error is not None:
                self.on_error(f"{name} channel failed: {exc}")

    # --- the live thread ---------------------------------------------------------------------------
    def start_voice_thread(self) -> None:
        """Score the voice windows on a thread of their own from now on (``start`` does it when
        ``voice_in_background``; tests call it to drive ``step`` by hand)."""
        if self._voice_thread is None and self.voice is not None:
            self._voice_thread = BackgroundVoice(self.voice)
            self._voice_thread.start()

    def stop_voice_thread(self, timeout: float = 2.0) -> None:
        """Finish the window being scored and end the voice thread (the voice is scored in line again)."""
        background, self._voice_thread = self._voice_thread, None
        if background is not None:
            background.close(timeout)

    def _detecting_in_background(self) -> bool:
        return self.detect_in_background and self._thread is not None and self._thread.is_alive()

    @staticmethod
    def _set_detection_thread(face: FaceLike | None, on: bool) -> None:
        """Start or stop the face channel's detection thread (channels without one detect in line)."""
        if isinstance(face, DetectsInBackground):
            face.start_detection_thread() if on else face.stop_detection_thread()

    def start(self) -> None:
        if self.voice_in_background:
            self.start_voice_thread()
        if self.detect_in_background:
            self._set_detection_thread(self.face, True)
        super().start()

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self._voice_thread is not None:
            self._voice_thread.join(timeout)

    def is_alive(self) -> bool:
        """The worker's thread or its voice thread still runs."""
        return super().is_alive() or (self._voice_thread is not None and self._voice_thread.is_alive())

    def _main(self) -> None:
        hop = self.config.hop_s
        due = self.clock.now() + hop
        while not self.stopping.is_set():
            wait = due - self.clock.now()
            if wait > 0 and self.stopping.wait(wait):
                break
            now = self.clock.now()
            late = int((now - due) // hop)
            if late > 0:  # never queue stale work: skip the hops we missed
                self.dropped += late
                due += late * hop
            self._publish(now)
            due += hop
        with self._lock:
            text_left = bool(self._new_text)
        if text_left:  # text committed while stopping (the transcriber's last words) gets one last estimate
            self._publish(self.clock.now())
        self.stop_voice_thread()
        if self.detect_in_background:
            self._set_detection_thread(self.face, False)

    def _publish(self, now: float) -> None:
        try:
            estimate = self.step(now)
        except Exception as exc:
            log.exception("inference step failed")
            if self.on_error is not None:
                self.on_error(f"inference step failed: {exc}")
        else:
            if self.on_estimate is not None:
                self.on_estimate(estimate)

    def latency_summary(self) -> dict[str, float]:
        if not self.step_ms:
            return {"p50": 0.0, "p95": 0.0, "max": 0.0}
        values = np.asarray(self.step_ms)
        return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
                "max": float(values.max())}
