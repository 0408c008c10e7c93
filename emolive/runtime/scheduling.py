"""When the inference worker runs each part of a hop: the load governor (how much work to shed), the hop
schedule (face, detection, voice) and the voice windows (which hops ask the voice channel, about which audio).

Pure policy, shared by the live worker and the offline voice look-ahead (which replays the same decisions).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from emolive.core.rings import AudioRing

MIN_VOICE_S = 0.5  # less audio than this in the window: the voice channel is not asked


class LoadGovernor:
    """Pure policy: from recent step times, how much work to shed (0 = none ... 3 = most)."""

    def __init__(self, budget_ms: float, window: int = 30, high: float = 0.8, low: float = 0.5,
                 warmup: int = 20, enabled: bool = True) -> None:
        self.budget_ms, self.high, self.low = budget_ms, high, low
        self.warmup, self.enabled = warmup, enabled
        self.times: deque[float] = deque(maxlen=window)
        self.level = 0
        self._calm = 0
        self._seen = 0

    def record(self, total_ms: float) -> int:
        """Take one step time; the first ``warmup`` steps (models and caches still warming) are not judged."""
        self._seen += 1
        if not self.enabled or self._seen <= self.warmup:
            return self.level
        self.times.append(total_ms)
        if len(self.times) < min(10, self.times.maxlen or 10):
            return self.level
        p95 = float(np.percentile(self.times, 95))
        if p95 > self.high * self.budget_ms and self.level < 3:
            self.level += 1
            self.times.clear()
            self._calm = 0
        elif p95 < self.low * self.budget_ms and self.level > 0:
            self._calm += 1
            if self._calm >= 30:
                self.level -= 1
                self._calm = 0
        return self.level

    def describe(self) -> str:
        return ("", "face detection less often", "+ voice less often", "+ face every other step")[self.level]

    def state(self) -> dict:
        return {"level": self.level, "calm": self._calm, "seen": self._seen, "times": list(self.times)}

    def restore(self, state: dict) -> None:
        self.level, self._calm, self._seen = int(state["level"]), int(state["calm"]), int(state["seen"])
        self.times.clear()
        self.times.extend(float(v) for v in state["times"])


def schedule(step: int, level: int, detect_every: int, voice_every: int) -> tuple[bool, bool, bool]:
    """(run the face channel, run face detection, run the voice channel) on hop number ``step`` (from 0).

    The two costly parts, face detection and the voice window, go on different hops (detection on
    multiples of its period, voice one hop later) so that no hop pays for both when both periods are
    even (the default 2 and 2); under load (``level``) each period doubles, then the face channel itself runs
    every other hop.
    """
    detect_every = max(1, detect_every) * (2 if level >= 1 else 1)
    voice_every = max(1, voice_every) * (2 if level >= 2 else 1)
    run_face = not (level >= 3 and step % 2)
    detect = step % detect_every == 0
    run_voice = step % voice_every == (1 % voice_every)
    return run_face, detect, run_voice


class VoiceWindows:
    """Which hops ask the voice channel, and about which audio; offline look-ahead replays the same decisions.

    A hop asks when its schedule says so, and every hop until the channel has been asked once. It asks about the
    ``window_s`` before ``min(now, end of the audio)``, unless that end is no newer than the last one asked about
    or the window holds less than ``MIN_VOICE_S`` of audio.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.last_end = -1.0
        self.asked = False

    def due(self, scheduled: bool) -> bool:
        return scheduled or not self.asked

    def state(self) -> dict:
        return {"last_end": self.last_end, "asked": self.asked}

    def restore(self, state: dict) -> None:
        self.last_end, self.asked = float(state["last_end"]), bool(state["asked"])

    def request(self, now: float, audio: AudioRing) -> tuple[np.ndarray, float] | None:
        """(samples, session time of their end) to score now, or None."""
        end = min(now, audio.end_time)
        if end <= self.last_end:
            return None
        block = audio.between(end - self.window_s, end)
        if block.duration < MIN_VOICE_S:
            return None
        self.last_end, self.asked = end, True
        return block.samples, end
