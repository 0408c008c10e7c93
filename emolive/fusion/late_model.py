"""The trainable late-fusion layer (torch): what ``python -m training fusion`` and personal calibration fit.

The run time evaluates the same arithmetic in numpy (``emolive.fusion.late.late_pool``) from its parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from emolive.core.labels import EMOTIONS
from emolive.fusion.late import EPS, MODALITIES


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
