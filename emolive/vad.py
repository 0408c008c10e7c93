"""Speech presence from the Silero VAD model that ships inside faster-whisper (offline, ONNX, 1 thread)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

CHUNK = 512  # samples per VAD decision at 16 kHz (32 ms), fixed by the Silero model


class SpeechDetector:
    """Per-32 ms speech probabilities for 16 kHz mono float32 audio.

    The model is the process's one Silero VAD (``asr.vadstream.silero_vad``, shared with the transcriber);
    calls are cheap (about 1 ms per second of audio on one core).
    """

    def __init__(self, threshold: float = 0.5) -> None:
        from emolive.asr.vadstream import silero_vad

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


class SpeechTrack:
    """Speech probabilities of one session's audio, each 512-sample chunk computed once.

    The live voice channel scores overlapping windows (2 s every few hundred ms); running the VAD over the whole
    window each time repeats the work on audio it has already seen. ``window(samples, t_end)`` feeds only the part of
    ``samples`` that is newer than the previous call (by session time ``t_end`` of the last sample) through a
    streaming Silero VAD (state carried over, emolive.asr.vadstream) and returns the probabilities of the chunks
    that the window covers. If time goes backwards or jumps by more than one window, the stream restarts on that
    window. ``computed_chunks`` counts the chunks the VAD ran on. Thread-safe.
    """

    def __init__(self, vad: Callable[[np.ndarray], np.ndarray] | None = None, sample_rate: int = 16_000,
                 keep_s: float = 30.0) -> None:
        if vad is None:
            from emolive.asr.vadstream import StreamingVAD

            vad = StreamingVAD()
        self._vad = vad
        self.sample_rate = sample_rate
        self._keep = max(1, int(keep_s * sample_rate) // CHUNK)
        self._lock = threading.Lock()
        self.computed_chunks = 0
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new session starts)."""
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        if hasattr(self._vad, "reset"):
            self._vad.reset()
        self._end: float | None = None
        self._pending = np.zeros(0, dtype=np.float32)
        self._probs = np.zeros(0, dtype=np.float32)

    def state(self) -> dict:
        """The stream so far: the VAD's own state, the last window's end, the samples short of a chunk and the
        kept probabilities."""
        with self._lock:
            vad = self._vad.state() if hasattr(self._vad, "state") else {}
            return {"vad": vad, "end": self._end, "pending": self._pending.copy(), "probs": self._probs.copy(),
                    "computed_chunks": self.computed_chunks}

    def restore(self, state: dict) -> None:
        with self._lock:
            if hasattr(self._vad, "restore"):
                self._vad.restore(state["vad"])
            self._end = None if state["end"] is None else float(state["end"])
            self._pending = np.array(state["pending"], dtype=np.float32)
            self._probs = np.array(state["probs"], dtype=np.float32)
            self.computed_chunks = int(state["computed_chunks"])

    def window(self, samples: np.ndarray, t_end: float) -> np.ndarray:
        """Probabilities of the chunks within ``samples`` (16 kHz mono float32 ending at session time ``t_end``)."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        with self._lock:
            n = audio.size
            fresh = self._end is not None and 0.0 <= t_end - self._end <= n / self.sample_rate
            if not fresh:
                self._reset()
                new = audio
            else:
                k = min(n, int(round((t_end - self._end) * self.sample_rate)))
                new = audio[n - k:] if k > 0 else audio[:0]
            self._end = t_end
            buf = np.concatenate([self._pending, new]) if self._pending.size else new
            whole = buf.size - buf.size % CHUNK
            if whole:
                self._probs = np.concatenate([self._probs, self._vad(buf[:whole])])[-self._keep:]
                self.computed_chunks += whole // CHUNK
            self._pending = buf[whole:].copy()
            covered = min(self._probs.size, n // CHUNK)
            return self._probs[self._probs.size - covered:].copy()
