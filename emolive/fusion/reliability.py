"""How much each channel is worth on the input in front of it, from what it said over the last seconds.

The trust policy (``late.TrustPolicy``) reads one output at a time: its quality, age and certainty. A channel
can be sure and wrong for minutes on input unlike its training data (a voice model trained on acted English
hearing a natural speaker of another language, words of another language read as English). ``Reliability``
keeps a few seconds of each channel's readings and discounts a channel's fusion weight when:

- it is **unlike training**: its mean top probability over the window is below the channel's threshold (the idea:
  a model on familiar input is usually sure of something. On the development clips a voice out of corpus was as
  sure as on familiar input, and wrong: docs/experiments/2026-12-07-fusion-reliability.md);
- it **disagrees**: over the window (at least ``min_window_s`` of readings), its top class differed from the
  fused estimate's in at least ``disagree_share`` of its readings (the fused estimate of the step before, so the
  channel that the others outvote is the one discounted, not both). A channel's top class flickers from window to
  window, so a share over seconds says more than a run of steps in a row.

Each discount comes with a short reason ("voice: unlike training", "voice: disagrees 5 s") that the estimate
carries to the CSV and the overlay's chips. Pure arithmetic plus a small memory; no models. Off by default
(``inference.fusion_reliability``); the memory is not part of the fuser's resume snapshot (``Fuser.state``).
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
    disagree_share: float = 0.7  # share of the window's readings whose top class differs from the fused one
    disagree_factor: float = 0.5
    # whom a channel must agree with: "fused" (the fused class of the step before) or "others" (the top class of
    # the other trusted channels pooled this step; with two channels both disagree, so it needs uneven factors)
    reference: str = "fused"
    # channels that can be discounted for disagreeing (e.g. ("voice",): the face is never cut)
    disagree_modalities: tuple[str, ...] = ("face", "voice", "text")
    # per modality: divide its log-probabilities by this before pooling (a temperature fitted out of corpus;
    # leaves the channel's own top class as it is)
    temperature: dict[str, float] = field(default_factory=dict)
    # per modality: a weight factor for each class it may name (how often that reading was right out of corpus,
    # relative to its best class); the channel's weight is scaled by the entry of its top class
    class_weight: dict[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass
class _Memory:
    # (t, top class, top probability, differs from the fused class) of trusted outputs
    readings: deque = field(default_factory=deque)
    last_t: float | None = None


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
            reference = fused_top if self.policy.reference == "fused" else self._others_top(outputs, trust, i)
            out = outputs.get(m)
            memory = self._memory[m]
            if trust[i] <= 0 or out is None or out.emotion is None:
                continue
            p = np.asarray(out.emotion, dtype=np.float64)
            top = int(np.argmax(p))
            if memory.last_t != out.t:  # a new reading (a channel's output is held between its runs)
                differs = reference is not None and top != reference
                memory.readings.append((out.t, top, float(p[top] / max(p.sum(), 1e-9)), differs))
                memory.last_t = out.t
            while memory.readings and now - memory.readings[0][0] > self.policy.window_s:
                memory.readings.popleft()
            words = []
            weights = self.policy.class_weight.get(m)
            if weights is not None and top < len(weights):
                factor[i] *= float(np.clip(weights[top], 0.0, 1.0))
            if self._unsure(m, memory):
                factor[i] *= self.policy.unsure_factor
                words.append("unlike training")
            seconds = self._disagreeing_s(memory) if m in self.policy.disagree_modalities else None
            if seconds is not None:
                factor[i] *= self.policy.disagree_factor
                words.append(f"disagrees {seconds:.0f} s")
            if words:
                reasons.append((m, f"{CHIP_NAMES.get(m, m)}: {', '.join(words)}"))
        return factor, tuple(reasons)

    def calibrated(self, modality: str, log_probs: np.ndarray) -> np.ndarray:
        """A channel's log-probabilities divided by its temperature and renormalised (unchanged without one)."""
        temperature = float(self.policy.temperature.get(modality, 1.0)) if self.policy.enabled else 1.0
        if temperature == 1.0:
            return log_probs
        scaled = np.asarray(log_probs, dtype=np.float64) / max(temperature, 1e-3)
        return scaled - np.logaddexp.reduce(scaled)

    def _others_top(self, outputs: dict[str, ModalityOutput | None], trust: np.ndarray, i: int) -> int | None:
        """The class the other trusted channels pool to (trust-weighted log-probabilities); None without any."""
        total, pooled = 0.0, np.zeros(0)
        for j, m in enumerate(self.modalities):
            out = outputs.get(m)
            if j == i or trust[j] <= 0 or out is None or out.emotion is None:
                continue
            log_p = np.log(np.clip(np.asarray(out.emotion, dtype=np.float64), 1e-6, 1.0))
            pooled = trust[j] * log_p if total == 0 else pooled + trust[j] * log_p
            total += trust[j]
        return int(np.argmax(pooled)) if total > 0 else None

    def _span(self, memory: _Memory) -> float:
        return memory.readings[-1][0] - memory.readings[0][0] if memory.readings else 0.0

    def _unsure(self, modality: str, memory: _Memory) -> bool:
        below = float(self.policy.unsure_below.get(modality, 0.0))
        if below <= 0 or self._span(memory) < self.policy.min_window_s:
            return False
        return float(np.mean([r[2] for r in memory.readings])) < below

    def _disagreeing_s(self, memory: _Memory) -> float | None:
        """Seconds of the window the channel disagreed with the fused class, when that is at least
        ``disagree_share`` of it; None otherwise (or with under ``min_window_s`` of readings)."""
        span = self._span(memory)
        if span < self.policy.min_window_s:
            return None
        share = float(np.mean([r[3] for r in memory.readings]))
        return share * span if share >= self.policy.disagree_share else None
