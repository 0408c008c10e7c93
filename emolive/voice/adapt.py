"""Adapting the Whisper-embedding voice head to one person (no I/O beyond loading a model folder).

Only the linear emotion head moves, pulled towards its starting weights; the arousal head and the encoder stay.
Used by personal calibration (emolive.calibration) and by ``python -m training voice --init`` (training.voice_adapt).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_PRIOR_STRENGTH = 0.01


def load_head(folder: Path) -> tuple[Any, dict[str, Any]] | None:
    """(EmbeddingHead, config) of a Whisper-embedding voice model folder; None for any other voice model."""
    from emolive.core.labels import EMOTIONS
    from emolive.models.io import load_config, load_into
    from emolive.voice.norm import NormSettings, norm_rank
    from emolive.voice.whisper_embed import ENCODER_NAME, EmbeddingHead

    config = load_config(folder)
    if config.get("kind", "voice") != "voice" or config.get("encoder") != ENCODER_NAME:
        return None
    head = EmbeddingHead(int(config["embedding_dim"]), len(EMOTIONS), norm=str(config.get("embedding_norm", "none")),
                         prosody_dim=int((config.get("prosody") or {}).get("dim", 0)),
                         running=config.get("running_norm") is not None,
                         norm_rank=norm_rank(NormSettings.from_dict(config["running_norm"])
                                             if config.get("running_norm") is not None else None))
    return load_into(head, folder), config


def prior_pull(head: Any, prior: list[Any]) -> Any:
    """Squared distance of the emotion head's weights from ``prior`` (their starting values)."""
    return sum(((p - q) ** 2).sum() for p, q in zip(head.emotion.parameters(), prior, strict=True))


def adapt_head(head: Any, x: np.ndarray, y: np.ndarray, strength: float = DEFAULT_PRIOR_STRENGTH,
               steps: int = 200, lr: float = 1e-3) -> Any:
    """A copy of ``head`` whose emotion layer is fitted to embeddings ``x`` [N, D] with labels ``y`` [N]."""
    import torch
    import torch.nn.functional as F

    tuned = copy.deepcopy(head).train()
    for p in tuned.arousal.parameters():
        p.requires_grad_(False)
    prior = [p.detach().clone() for p in tuned.emotion.parameters()]
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    optimizer = torch.optim.Adam(tuned.emotion.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        logits, _ = tuned(xt)
        loss = F.cross_entropy(logits, yt) + strength * prior_pull(tuned, prior)
        loss.backward()
        optimizer.step()
    return tuned.eval()


def log_probs(head: Any, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Calibrated emotion log-probabilities [N, 7] of embeddings ``x``."""
    import torch

    with torch.no_grad():
        logits, _ = head(torch.as_tensor(x, dtype=torch.float32))
        return torch.log_softmax(logits / temperature, dim=-1).numpy().astype(np.float64)
