"""Stand-ins shared by the tests: estimates, channels, decoders and VADs, a pipeline that replays a file, a
recorder, a model switcher. No Qt, no model weights (the recording SIGKILL child and the fake-analysis child
process import it too).

The tone decoder reads tone bursts as words (a burst at 100*k Hz is the word "wk"), so streaming behaviour
(commit policy, buffer trimming, utterance ends) can be tested exactly without a Whisper model. A burst that
touches the end of the buffer is still being spoken: it comes out as an unstable word that must never be
committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from emolive.capture.media_file import MediaFileSource
from emolive.config import AppConfig, InferenceConfig
from emolive.core.clock import SessionClock
from emolive.core.contracts import (
    EmotionEstimate,
    FaceBox,
    ModalityOutput,
    PipelineSink,
    PipelineStatus,
    SourceEvent,
    TranscriptSegment,
    VideoFrame,
    Word,
)
from emolive.core.labels import EMOTIONS
from emolive.core.rings import AudioRing, FrameRing
from emolive.gui.interfaces import Sources
from emolive.runtime.sinks import SinkList

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
        self.smoothing: list[float] = []  # set_smoothing calls

    def set_smoothing(self, seconds: float) -> None:
        self.smoothing.append(seconds)

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
        return self._thread.is_alive() or (self.source is not None and self.source.is_alive())

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

    def add_marker(self, label: str = "", t: float | None = None) -> float | None:
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


# --- estimates for the recording tests ------------------------------------------------------------------
def probs_for(level: float) -> tuple[float, ...]:
    """A distribution over EMOTIONS peaking at a class chosen by ``level`` in [0, 1]."""
    top = min(int(level * len(EMOTIONS)), len(EMOTIONS) - 1)
    rest = 0.4 / (len(EMOTIONS) - 1)
    return tuple(0.6 if i == top else rest for i in range(len(EMOTIONS)))


def make_estimate(t: float, level: float = 0.0, transcript: str = "", face: bool = True) -> EmotionEstimate:
    emotion = probs_for(level)
    top = EMOTIONS[max(range(len(emotion)), key=emotion.__getitem__)]
    modalities = (
        ModalityOutput("face", t, face, emotion=emotion if face else None, quality=0.8 if face else 0.0,
                       reason="" if face else "no face"),
        ModalityOutput("voice", t, False, reason="no speech"),
    )
    return EmotionEstimate(
        t=t, emotion=emotion, sentiment=(0.2, 0.5, 0.3), valence=0.55, arousal=0.45, dominant=top,
        confidence=0.6, modalities=modalities, weights=(("face", 1.0), ("voice", 0.0), ("text", 0.0)),
        faces=(FaceBox(10, 20, 30, 40, track_id=1),) if face else (), latency_ms=(("face", 12.0), ("total", 20.5)),
        transcript=transcript)


# --- channels for the worker and analysis tests --------------------------------------------------------
def probs(top: str, p: float = 0.7) -> tuple[float, ...]:
    """A distribution over EMOTIONS with ``p`` on ``top``."""
    rest = (1.0 - p) / (len(EMOTIONS) - 1)
    return tuple(p if e == top else rest for e in EMOTIONS)


class FakeFace:
    detect_every = 3
    stateless = True  # outputs depend on the frame only (``calls`` counts, it does not steer)

    def __init__(self) -> None:
        self.calls = 0

    def process(self, frame: VideoFrame, detect=None):
        self.calls += 1
        present = frame.image.mean() > 10
        out = (ModalityOutput("face", frame.t, True, emotion=probs("joy"), quality=0.9) if present
               else ModalityOutput("face", frame.t, False, reason="no face"))
        return out, ((FaceBox(1, 2, 3, 4, track_id=0),) if present else ())


class FakeVoice:
    stateless = True

    def process(self, samples: np.ndarray, t: float) -> ModalityOutput:
        if np.abs(samples).max() < 1e-3:
            return ModalityOutput("voice", t, False, reason="no speech")
        return ModalityOutput("voice", t, True, emotion=probs("anger"), quality=0.8, arousal=0.9)


class FakeText:
    stateless = True

    def process(self, text: str, t: float, context=()) -> ModalityOutput:
        return ModalityOutput("text", t, True, emotion=probs("sadness"), sentiment=(0.8, 0.1, 0.1), quality=0.9)


class BrokenVoice:
    def process(self, samples, t):
        raise RuntimeError("voice model exploded")



# --- transcription: tones as words, energy as speech ---------------------------------------------------
SR = 16_000


def tone(freq: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def burst_speech(ks: list[int], word_s: float = 0.3, gap_s: float = 0.15) -> np.ndarray:
    """Words w<k> as tone bursts at 100*k Hz separated by short gaps (one utterance)."""
    parts: list[np.ndarray] = []
    for k in ks:
        parts += [tone(100.0 * k, word_s), silence(gap_s)]
    return np.concatenate(parts)


def energy_vad(samples: np.ndarray) -> np.ndarray:
    """Speech probability 1 for 512-sample chunks with RMS above 0.02, else 0 (a short tail is zero-padded)."""
    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    chunks = np.concatenate([audio, np.zeros((-audio.size) % 512, np.float32)]).reshape(-1, 512)
    return (np.sqrt((chunks**2).mean(axis=1)) > 0.02).astype(np.float32)


class ToneDecoder:
    """Decoder double: each tone burst is a word named by its frequency; records what it was asked."""

    def __init__(self) -> None:
        self.calls = 0
        self.longest_s = 0.0
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def __call__(self, audio: np.ndarray, prompt: str = "") -> list[Word]:
        self.calls += 1
        self.longest_s = max(self.longest_s, len(audio) / SR)
        frame = 160
        n = len(audio) // frame
        rms = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1)) if n else np.zeros(0)
        loud = np.concatenate([[False], rms > 0.05, [False]])
        edges = np.flatnonzero(np.diff(loud.astype(int)))
        words = []
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            seg = audio[a * frame : b * frame]
            if b >= n:  # still being spoken: an unstable guess
                words.append(Word(f"partial{self.calls}", a * frame / SR, b * frame / SR, 0.3))
                continue
            spectrum = np.abs(np.fft.rfft(seg))
            freq = np.argmax(spectrum) * SR / len(seg)
            words.append(Word(f"w{round(freq / 100)}", a * frame / SR, b * frame / SR, 0.9))
        return words


# --- offline analysis: a scripted decoder, tone clips --------------------------------------------------
RATE = SR


class EnergyVAD:
    """Speech probability per 512-sample chunk from its loudness (no model)."""

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        chunks = np.asarray(samples, dtype=np.float32).reshape(-1, 512)
        return np.where(np.sqrt((chunks**2).mean(axis=1)) > 0.02, 0.9, 0.05).astype(np.float32)


class ScriptedDecoder:
    """One word per started 0.4 s of loud audio in the buffer, a function of the audio only; ``delay_s``
    makes each decode that much slower (a loaded machine)."""

    stateless = True

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    def __call__(self, audio: np.ndarray, prompt: str = "") -> list[Word]:
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        loud = np.flatnonzero(np.abs(np.asarray(audio)) > 0.05)
        if loud.size == 0:
            return []
        first, last = loud[0] / RATE, loud[-1] / RATE
        words, t, k = [], first, 0
        while t < last:
            words.append(Word(f"w{int(round(t * 10))}", t, min(t + 0.3, last), 0.9))
            t += 0.4
            k += 1
        return words

    def reset(self) -> None:
        pass


BURSTS = ((1.0, 2.6), (3.5, 4.6))


def write_tone_clip(path: Path, seconds: float = 6.0, bursts: tuple[tuple[float, float], ...] = BURSTS,
                    video: bool = True, fps: int = 10) -> Path:
    """A clip whose audio is silence with 300 Hz tone bursts (stand-ins for utterances), plus a grey video."""
    import av

    with av.open(str(path), "w") as container:
        vstream = None
        if video:
            vstream = container.add_stream("mpeg4", rate=fps)
            vstream.width, vstream.height = 64, 48
            vstream.pix_fmt = "yuv420p"
        astream = container.add_stream("aac", rate=RATE)
        astream.layout = "mono"
        if vstream is not None:
            for i in range(int(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 128, np.uint8), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                for packet in vstream.encode(frame):
                    container.mux(packet)
            for packet in vstream.encode():
                container.mux(packet)
        t = np.arange(int(seconds * RATE)) / RATE
        on = np.zeros_like(t, dtype=bool)
        for start, stop in bursts:
            on |= (t >= start) & (t < stop)
        mono = (0.4 * np.sin(2 * np.pi * 300 * t) * on).astype(np.float32)
        for start in range(0, mono.size, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None, start:start + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            for packet in astream.encode(frame):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    return path


def crash_analysis_after(monkeypatch, n: int, error: type[BaseException] = KeyboardInterrupt):  # noqa: ANN201
    """Make ``analysis.analyze_file`` raise ``error`` once ``n`` rows were handed on (a crash mid-file); returns the
    real function, to put back before resuming."""
    import emolive.offline.analysis as analysis

    real = analysis.analyze_file

    def analyze(*args, on_estimate=None, **kwargs):  # noqa: ANN002, ANN003, ANN202
        count = 0

        def counted(estimate) -> None:  # noqa: ANN001
            nonlocal count
            count += 1
            if count > n:
                raise error("power cut")
            on_estimate(estimate)

        return real(*args, on_estimate=counted, **kwargs)

    monkeypatch.setattr(analysis, "analyze_file", analyze)
    return real



class IdlePipeline:
    """The smallest pipeline a window accepts: rings and a clock, nothing runs; ``swap_models`` is the subclass's."""

    def __init__(self, config: AppConfig, sources: Sources, bridge: Any) -> None:
        self.clock, self.frames, self.audio = SessionClock(), FrameRing(4), AudioRing(5.0)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def status(self) -> PipelineStatus:
        return PipelineStatus()


def recording_window(qtbot: Any, factory: Any, clip: Path, root: Path) -> tuple[Any, Any]:
    """A started MainWindow on ``clip`` recording with the real SessionRecorder into ``root``: (window, recorder)."""
    from emolive.gui.main_window import MainWindow
    from emolive.recording import SessionRecorder

    recorder = SessionRecorder(AppConfig(), root=root, raw_audio=False, raw_video=False)
    win = MainWindow(AppConfig(), Sources(video=clip), factory, recorder=recorder, persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    assert win.start_recording()
    return win, recorder
