"""Utterance boundaries from per-chunk VAD speech probabilities (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Boundary:
    """``kind`` is "start" (speech began at ``t``) or "end" (speech ended at ``t``)."""

    kind: str
    t: float


class Endpointer:
    """Hysteresis over speech probabilities: speech starts at a chunk above ``threshold`` and ends after
    ``min_silence_s`` of chunks below ``threshold - 0.15``. Times are session times of chunk edges."""

    def __init__(self, chunk_s: float = 0.032, threshold: float = 0.5, min_silence_s: float = 0.5) -> None:
        self.chunk_s = chunk_s
        self.threshold = threshold
        self.off_threshold = max(0.01, threshold - 0.15)
        self.min_silence_s = min_silence_s
        self.in_speech = False
        self.speech_start = 0.0
        self._last_speech_end = 0.0

    def state(self) -> dict:
        return {"in_speech": self.in_speech, "speech_start": self.speech_start,
                "last_speech_end": self._last_speech_end}

    def restore(self, state: dict) -> None:
        self.in_speech = bool(state["in_speech"])
        self.speech_start = float(state["speech_start"])
        self._last_speech_end = float(state["last_speech_end"])

    def update(self, probs: np.ndarray, t0: float) -> list[Boundary]:
        """Feed the probabilities of consecutive chunks, the first starting at ``t0``; return boundaries."""
        events: list[Boundary] = []
        for i, p in enumerate(np.asarray(probs, dtype=np.float32).reshape(-1)):
            t = t0 + i * self.chunk_s
            if not self.in_speech:
                if p >= self.threshold:
                    self.in_speech = True
                    self.speech_start = t
                    self._last_speech_end = t + self.chunk_s
                    events.append(Boundary("start", t))
            elif p >= self.off_threshold:
                self._last_speech_end = t + self.chunk_s
            elif t + self.chunk_s - self._last_speech_end >= self.min_silence_s:
                self.in_speech = False
                events.append(Boundary("end", self._last_speech_end))
        return events

    def close(self) -> list[Boundary]:
        """End of stream: close an open utterance."""
        if not self.in_speech:
            return []
        self.in_speech = False
        return [Boundary("end", self._last_speech_end)]
