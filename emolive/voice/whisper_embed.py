"""The trainable voice heads (torch) on the Whisper tiny.en embedding; the encoder itself is in
``emolive.voice.whisper_encoder`` and the run time's numpy twin of the heads in ``emolive.voice.heads``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emolive.core.errors import ModelError
from emolive.voice.heads import EMBEDDING_NORMS, head_input, normalise_embedding  # noqa: F401 - re-exported
from emolive.voice.whisper_encoder import (  # noqa: F401 - re-exported for the trainers and tests
    ENCODER_NAME,
    MAX_FRAMES,
    POOLINGS,
    WhisperEmbedder,
    default_whisper_path,
    pooled,
)


class EmbeddingHead(nn.Module):
    """Linear emotion logits and arousal (clamped to [0, 1]) on the head's input features.

    The input is ``prepare(embedding, prosody)``: the Whisper embedding after its per-utterance ``norm`` (see
    ``normalise_embedding``), then the prosodic statistics when the model uses them (``prosody_dim`` > 0).
    With ``running`` the channel standardises that vector by the session's running statistics
    (emolive.voice.norm.RunningNorm) before ``forward``; their starting point is stored here as the buffers
    ``norm_mean``/``norm_var`` (and, ``norm_rank`` > 0, the voice/room directions ``norm_left``/``norm_right``).
    The training standardisation is folded into the weights on export.
    """

    def __init__(self, in_dim: int, n_classes: int, norm: str = "none", prosody_dim: int = 0,
                 running: bool = False, norm_rank: int = 0) -> None:
        super().__init__()
        if norm not in EMBEDDING_NORMS:
            raise ModelError(f"unknown embedding normalisation {norm!r}")
        self.norm = norm
        self.prosody_dim = int(prosody_dim)
        self.emotion = nn.Linear(in_dim + self.prosody_dim, n_classes)
        self.arousal = nn.Linear(in_dim + self.prosody_dim, 1)
        self.running = bool(running)
        if self.running:
            self.register_buffer("norm_mean", torch.zeros(in_dim + self.prosody_dim))
            self.register_buffer("norm_var", torch.ones(in_dim + self.prosody_dim))
        self.norm_rank = int(norm_rank) if self.running else 0
        if self.norm_rank:
            self.register_buffer("norm_left", torch.zeros(in_dim + self.prosody_dim, self.norm_rank))
            self.register_buffer("norm_right", torch.zeros(in_dim + self.prosody_dim, self.norm_rank))

    def prepare(self, embedding: np.ndarray, prosody: np.ndarray | None = None) -> np.ndarray:
        """Head input ``[..., in_dim + prosody_dim]`` from an embedding (and prosody when the head uses it)."""
        return head_input(embedding, prosody, self.norm, self.prosody_dim)

    def forward(self, features):  # noqa: ANN001, ANN201 - torch tensors
        return self.emotion(features), self.arousal(features).squeeze(-1).clamp(0.0, 1.0)
