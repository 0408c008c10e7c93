"""Speech presence from the Silero VAD model that ships inside faster-whisper (offline, ONNX, 1 thread)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from emolive.asr.vadstream import CHUNK, StreamingVAD, silero_vad

log = logging.getLogger(__name__)


class SpeechDetector:
    """Per-32 ms speech probabilities for 16 kHz mono float32 audio.

    The model is the process's one Silero VAD (``asr.vadstream.silero_vad``, shared with the transcriber);
    calls are cheap (about 1 ms per second of audio on one core).
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        self._model = silero_vad()

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each 512-sample chunk (the tail shorter than a chunk is zero-padded)."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            return np.zeros(0, dtype=np.float32)
        pad = (-audio.size) % CHUNK
        if pad:
            audio = np.concatenate([audio, np.zeros(pad, dtype=np.float32)])
        out = self._model(audio, num_samples=CHUNK)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def speech_fraction(self, samples: np.ndarray) -> float:
        """Fraction of 32 ms chunks whose speech probability passes the threshold."""
        probs = self.probabilities(samples)
        return float((probs >= self.threshold).mean()) if probs.size else 0.0


class SpeechTimeline:
    """Speech probability of every 512-sample chunk of one session's audio, each computed once, on one grid.

    The voice channel (a 2 s window every few hundred ms) and the transcriber (the audio it was fed since its last
    step) both ask it about the audio they hold: ``covering(samples, t_end)`` places ``samples`` (16 kHz mono
    float32 whose last sample ends at session time ``t_end``) on the session's chunk grid, runs the streaming Silero
    VAD (state carried over, ``emolive.asr.vadstream``) on the whole chunks nobody has asked about yet, and returns
    the start time and probabilities of the whole grid chunks inside ``samples``. So whichever caller is first
    computes a chunk and the other reads it: one computation per chunk of audio, and both see the same numbers.

    The grid starts at the first audio asked about. Audio that starts after the newest computed chunk (a gap)
    restarts the stream there; audio older than what is kept (``keep_s``) is scored by a throw-away stream without
    disturbing the shared one. ``computed_chunks`` counts the chunks the VAD ran on. Thread-safe.
    """

    def __init__(self, new_vad: Callable[[], Callable[[np.ndarray], np.ndarray]] = StreamingVAD,
                 sample_rate: int = 16_000, keep_s: float = 600.0) -> None:
        self._new_vad = new_vad  # a streaming VAD: called on consecutive whole chunks, ``reset()`` between streams
        self._vad = new_vad()
        self.sample_rate = sample_rate
        self._keep = max(1, int(keep_s * sample_rate) // CHUNK)
        self._lock = threading.Lock()
        self.computed_chunks = 0
        self.restarts = 0
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new session starts)."""
        with self._lock:
            self._restart(None)

    def _restart(self, origin: float | None) -> None:
        if hasattr(self._vad, "reset"):
            self._vad.reset()
        self._origin = origin  # session time of chunk 0
        self._done = 0  # chunks computed since the origin
        self._probs = np.zeros(0, dtype=np.float32)  # the newest computed chunks (at most _keep)

    def covering(self, samples: np.ndarray, t_end: float, pad: bool = False) -> tuple[float, np.ndarray]:
        """(start time of the first chunk, probabilities of the whole grid chunks within ``samples``).

        ``pad``: the audio ends here (end of a stream): a last partial chunk is completed with silence.
        """
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        sr = self.sample_rate
        with self._lock:
            if self._origin is None:
                self._restart(t_end - audio.size / sr)
            end = int(round((t_end - self._origin) * sr))
            if pad and end % CHUNK:
                extra = CHUNK - end % CHUNK
                audio, end = np.concatenate([audio, np.zeros(extra, dtype=np.float32)]), end + extra
            start = end - audio.size
            kept_from = self._done - self._probs.size
            if start > self._done * CHUNK:  # a gap after the newest chunk: the stream restarts at this audio
                self.restarts += 1
                self._restart(self._origin + start / sr)
                end, start, kept_from = audio.size, 0, 0
            if end // CHUNK <= kept_from:  # older than what is kept: score it apart, the shared stream stays
                return self._apart(audio, start, end)
            new = end // CHUNK - self._done
            if new > 0:
                i0 = self._done * CHUNK - start
                fresh = np.asarray(self._vad(audio[i0:i0 + new * CHUNK]), dtype=np.float32).reshape(-1)
                self._probs = np.concatenate([self._probs, fresh])[-self._keep:]
                self._done += new
                self.computed_chunks += new
            first = max(-(-start // CHUNK), self._done - self._probs.size)
            last = end // CHUNK
            probs = self._probs[self._probs.size - (self._done - first):self._probs.size - (self._done - last)]
            return self._origin + first * CHUNK / sr, probs.copy()

    def _apart(self, audio: np.ndarray, start: int, end: int) -> tuple[float, np.ndarray]:
        first = -(-start // CHUNK)
        piece = audio[first * CHUNK - start:(end // CHUNK) * CHUNK - start]
        vad = self._new_vad()
        if hasattr(vad, "reset"):
            vad.reset()
        self.computed_chunks += piece.size // CHUNK
        out = np.asarray(vad(piece), dtype=np.float32).reshape(-1) if piece.size else np.zeros(0, np.float32)
        return self._origin + first * CHUNK / self.sample_rate, out

    @property
    def can_snapshot(self) -> bool:
        """Whether ``state`` captures the VAD: it has ``state``/``restore``, or no ``reset`` (keeps nothing)."""
        vad = self._vad
        return getattr(vad, "stateless", False) or not hasattr(vad, "reset") or (
            hasattr(vad, "state") and hasattr(vad, "restore"))

    def state(self) -> dict:
        """The stream so far: the grid's origin, the chunks computed, the kept probabilities and the VAD's own
        state (arrays as numpy; see ``restore``)."""
        with self._lock:
            return {"origin": self._origin, "done": self._done, "probs": self._probs.copy(),
                    "computed_chunks": self.computed_chunks, "restarts": self.restarts,
                    "vad": self._vad.state() if hasattr(self._vad, "state") else {}}

    def restore(self, state: dict) -> None:
        """Continue from ``state``: later calls return what they would have returned after it."""
        with self._lock:
            if hasattr(self._vad, "restore"):
                self._vad.restore(state["vad"])
            self._origin = None if state["origin"] is None else float(state["origin"])
            self._done = int(state["done"])
            self._probs = np.array(state["probs"], dtype=np.float32)[-self._keep:]
            self.computed_chunks, self.restarts = int(state["computed_chunks"]), int(state["restarts"])

    def window(self, samples: np.ndarray, t_end: float) -> np.ndarray:
        """Probabilities of the whole chunks within ``samples`` (see ``covering``)."""
        return self.covering(samples, t_end)[1]
