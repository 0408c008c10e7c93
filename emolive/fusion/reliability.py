"""How much each channel is worth on the input in front of it, from what it said over the last seconds.

The trust policy (``late.TrustPolicy``) reads one output at a time: its quality, age and certainty. A channel
can be sure and wrong for minutes on input unlike its training data (a voice model trained on acted English
hearing a natural speaker of another language, words of another language read as English). ``Reliability``
keeps a few seconds of each channel's readings and discounts a channel's fusion weight when:

- it is **unlike training**: its mean top probability over the window is below the channel's threshold (a model
  on familiar input is usually sure of something; on unfamiliar input its readings stay flat);
- it **disagrees**: its top class has differed from the fused estimate's for at least ``disagree_after_s``
  seconds in a row (the fused estimate of the step before, so the channel that the others outvote is the one
  discounted, not both).

Each discount comes with a short reason ("voice: unlike training", "voice: disagrees 5 s") that the estimate
carries to the CSV and the overlay's chips. Pure arithmetic plus a small memory; no models.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from emolive.core.contracts import ModalityOutput

CHIP_NAMES: dict[str, str] = {"face": "face", "voice": "voice", "text": "words"}


@dataclass(frozen=True)
class ReliabilityPolicy:
    """When a channel's fusion weight is discounted, and by how much (``enabled`` false: never)."""

    enabled: bool = False
    window_s: float = 5.0  # how far back a channel's readings count
    min_window_s: float = 2.0  # readings spanning less than this say nothing about being unlike training yet
    # mean top probability over the window below which a channel counts as unlike its training data
    unsure_below: dict[str, float] = field(default_factory=lambda: {"face": 0.0, "voice": 0.3, "text": 0.0})
    unsure_factor: float = 0.5
    disagree_after_s: float = 3.0  # seconds in a row of a top class other than the fused one
    disagree_factor: float = 0.5


@dataclass
class _Memory:
    readings: deque = field(default_factory=deque)  # (t, top class, top probability) of trusted outputs
    last_t: float | None = None
    disagree_since: float | None = None


class Reliability:
    """Per-channel memory of the last seconds; ``factors`` gives each channel's weight factor and reason."""

    def __init__(self, modalities: tuple[str, ...], policy: ReliabilityPolicy | None = None) -> None:
        self.modalities = modalities
        self.policy = policy or ReliabilityPolicy()
        self._memory = {m: _Memory() for m in modalities}

    def reset(self) -> None:
        self._memory = {m: _Memory() for m in self.modalities}

    def factors(self, outputs: dict[str, ModalityOutput | None], trust: np.ndarray, fused_top: int | None,
                now: float) -> tuple[np.ndarray, tuple[tuple[str, str], ...]]:
        """(weight factor per modality in (0, 1], (modality, reason) of every discounted one).

        ``trust`` is each modality's trust this step (0: not heard, nothing is remembered or discounted);
        ``fused_top`` the fused estimate's class index of the step before (None: none yet, or uncertain).
        """
        factor = np.ones(len(self.modalities))
        reasons: list[tuple[str, str]] = []
        if not self.policy.enabled:
            return factor, ()
        for i, m in enumerate(self.modalities):
            out = outputs.get(m)
            memory = self._memory[m]
            if trust[i] <= 0 or out is None or out.emotion is None:
                memory.disagree_since = None
                continue
            p = np.asarray(out.emotion, dtype=np.float64)
            top = int(np.argmax(p))
            if memory.last_t != out.t:  # a new reading (a channel's output is held between its runs)
                memory.readings.append((out.t, top, float(p[top] / max(p.sum(), 1e-9))))
                memory.last_t = out.t
            while memory.readings and now - memory.readings[0][0] > self.policy.window_s:
                memory.readings.popleft()
            if fused_top is None or top == fused_top:
                memory.disagree_since = None
            elif memory.disagree_since is None:
                memory.disagree_since = now
            words = []
            if self._unsure(m, memory):
                factor[i] *= self.policy.unsure_factor
                words.append("unlike training")
            if memory.disagree_since is not None and now - memory.disagree_since >= self.policy.disagree_after_s:
                factor[i] *= self.policy.disagree_factor
                words.append(f"disagrees {now - memory.disagree_since:.0f} s")
            if words:
                reasons.append((m, f"{CHIP_NAMES.get(m, m)}: {', '.join(words)}"))
        return factor, tuple(reasons)

    def _unsure(self, modality: str, memory: _Memory) -> bool:
        below = float(self.policy.unsure_below.get(modality, 0.0))
        if below <= 0 or not memory.readings:
            return False
        if memory.readings[-1][0] - memory.readings[0][0] < self.policy.min_window_s:
            return False
        return float(np.mean([r[2] for r in memory.readings])) < below
