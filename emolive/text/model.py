"""Emotion and sentiment heads on frozen sentence embeddings (current utterance + dialogue context)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from emolive.labels import EMOTIONS, SENTIMENTS


class TextHead(nn.Module):
    """MLP over [utterance embedding, mean context embedding, has-context flag] with two outputs.

    With ``context == 0`` the input is the utterance embedding alone. ``hidden == 0`` makes each
    head a linear (multinomial logistic) layer.
    """

    def __init__(self, embed_dim: int = 384, context: int = 0, hidden: int = 256, dropout: float = 0.3) -> None:
        super().__init__()
        self.embed_dim, self.context, self.hidden = embed_dim, context, hidden
        in_dim = feature_dim(embed_dim, context)
        self.dropout = nn.Dropout(dropout)
        if hidden > 0:
            self.trunk: nn.Module = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout))
            out_dim = hidden
        else:
            self.trunk = nn.Identity()
            out_dim = in_dim
        self.emotion = nn.Linear(out_dim, len(EMOTIONS))
        self.sentiment = nn.Linear(out_dim, len(SENTIMENTS))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (emotion [N, 7], sentiment [N, 3]) of a feature batch from ``build_features``."""
        h = self.trunk(self.dropout(features))
        return self.emotion(h), self.sentiment(h)

    def config(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "context": self.context, "hidden": self.hidden,
                "dropout": float(self.dropout.p)}


def feature_dim(embed_dim: int, context: int) -> int:
    return embed_dim if context <= 0 else 2 * embed_dim + 1


def build_features(current: np.ndarray, context: Sequence[np.ndarray], n_context: int) -> np.ndarray:
    """Head input [N, F]: ``current`` [N, D] plus, when ``n_context`` > 0, the mean of each row's context
    embeddings (the last ``n_context`` of them; zeros when there are none) and a has-context flag."""
    current = np.asarray(current, dtype=np.float32)
    if n_context <= 0:
        return current
    out = np.zeros((len(current), 2 * current.shape[1] + 1), dtype=np.float32)
    out[:, :current.shape[1]] = current
    for i, ctx in enumerate(context):
        ctx = np.asarray(ctx, dtype=np.float32).reshape(-1, current.shape[1])[-n_context:]
        if len(ctx):
            out[i, current.shape[1]:-1] = ctx.mean(axis=0)
            out[i, -1] = 1.0
    return out


def calibrated_probs(logits: torch.Tensor, temperature: float) -> np.ndarray:
    """Softmax of ``logits / temperature`` as float64 numpy."""
    return torch.softmax(logits.double() / max(float(temperature), 1e-3), dim=-1).numpy()


class TunedTextModel(nn.Module):
    """Fine-tuned top encoder layers + heads (context-free), trained on the lower layers' cached states.

    ``layers`` are copies of the encoder's last ``len(layers)`` transformer layers; at inference they
    replace those layers inside the packaged encoder, so the full encoder then yields the tuned embedding.
    """

    def __init__(self, layers: Sequence[nn.Module], head: TextHead) -> None:
        super().__init__()
        if head.context:
            raise ValueError("a fine-tuned text model takes no context features")
        self.layers = nn.ModuleList(layers)
        self.head = head

    def embed(self, hidden: torch.Tensor) -> torch.Tensor:
        """Sentence embedding from unpadded lower-layer states [B, T, D] (all rows the same length)."""
        for layer in self.layers:
            hidden = layer(hidden)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return nn.functional.normalize(hidden.mean(dim=1), dim=-1)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.embed(hidden))
