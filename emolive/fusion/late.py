"""Late fusion: trust-weighted log-linear pooling of per-modality emotion probabilities.

Learnable parameters (trained on frozen per-modality models by ``python -m training fusion``):
3 modality weights (a softmax, so non-negative and summing to 1) and 7 per-class biases.
At run time each modality's weight is further scaled by how far it can be trusted right now
(see ``trust``), so a missing or stale modality simply drops out without retraining.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from emolive.contracts import ModalityOutput
from emolive.labels import EMOTIONS

MODALITIES: tuple[str, ...] = ("face", "voice", "text")
EPS = 1e-6


class LateFusion(nn.Module):
    """fused = softmax(sum_m a_m log p_m / sum_m a_m + bias), a_m = softmax(w)_m * trust_m."""

    def __init__(self, n_modalities: int = len(MODALITIES), n_classes: int = len(EMOTIONS)) -> None:
        super().__init__()
        self.weight_logits = nn.Parameter(torch.zeros(n_modalities))
        self.class_bias = nn.Parameter(torch.zeros(n_classes))

    def modality_weights(self) -> torch.Tensor:
        return torch.softmax(self.weight_logits, dim=0)

    def forward(self, log_probs: torch.Tensor, trust: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log_probs [B, M, C], trust [B, M] in [0, 1] (0 = absent). Returns (fused log-probs [B, C], a [B, M])."""
        a = self.modality_weights()[None, :] * trust
        norm = a.sum(dim=1, keepdim=True)
        share = a / norm.clamp_min(EPS)
        pooled = (share[:, :, None] * log_probs).sum(dim=1) + self.class_bias[None, :]
        return torch.log_softmax(pooled, dim=-1), a


@dataclass(frozen=True)
class TrustPolicy:
    """How much each modality can be trusted now, from its quality, age and certainty (pure arithmetic)."""

    face_tau_s: float = 0.5  # trust halves roughly every 0.7 tau of staleness
    voice_tau_s: float = 1.0
    text_tau_s: float = 10.0
    text_max_age_s: float = 20.0

    def trust(self, output: ModalityOutput | None, now: float) -> float:
        if output is None or not output.present or output.emotion is None:
            return 0.0
        age = max(0.0, now - output.t)
        tau = {"face": self.face_tau_s, "voice": self.voice_tau_s, "text": self.text_tau_s}[output.modality]
        if output.modality == "text" and age > self.text_max_age_s:
            return 0.0
        freshness = math.exp(-age / tau)
        return float(np.clip(output.quality, 0.0, 1.0) * freshness * self.certainty(output.emotion))

    @staticmethod
    def certainty(emotion) -> float:
        """0.5 for a flat distribution up to 1.0 for a one-hot one (1 - normalised entropy, halved)."""
        p = np.clip(np.asarray(emotion, dtype=np.float64), EPS, 1.0)
        p = p / p.sum()
        entropy = float(-(p * np.log(p)).sum() / math.log(len(p)))
        return 0.5 + 0.5 * (1.0 - entropy)
