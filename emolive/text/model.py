"""Emotion and sentiment heads on sentence embeddings (current utterance + dialogue context), and the
valence/arousal branch that forks off the encoder below its last layer(s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from emolive.core.labels import EMOTIONS, SENTIMENTS


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


class VAHead(nn.Module):
    """MLP from a sentence embedding to (valence, arousal) in [0, 1] (sigmoid outputs)."""

    def __init__(self, embed_dim: int = 384, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed_dim, self.hidden = embed_dim, hidden
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 2))
        self._dropout = dropout

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(embedding))

    def config(self) -> dict[str, Any]:
        return {"embed_dim": self.embed_dim, "hidden": self.hidden, "dropout": float(self._dropout)}


class VABranch(nn.Module):
    """Valence/arousal from the encoder's states below its last ``len(layers)`` layers.

    ``layers`` are this branch's own copies of those top layers (tuned on EmoBank), so the emotion and
    sentiment path keeps its layers unchanged while both paths share every layer below the fork.
    """

    def __init__(self, layers: Sequence[nn.Module], head: VAHead) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.head = head

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(valence, arousal) [B, 2] from the states [B, T, D] at the fork; ``mask`` [B, T] (1 = token,
        0 = padding) may be omitted when no row is padded."""
        additive = None
        if mask is not None:
            additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=additive)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        if mask is None:
            pooled = hidden.mean(dim=1)
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
        return self.head(nn.functional.normalize(pooled, dim=-1))


class TunedTextModel(nn.Module):
    """Fine-tuned top encoder layers + heads (context-free), trained on the lower layers' cached states.

    ``layers`` are copies of the encoder's last ``len(layers)`` transformer layers; at inference they
    replace those layers inside the packaged encoder, so the full encoder then yields the tuned embedding.
    ``va`` (optional) is the valence/arousal branch; it forks at the input of the last ``len(va.layers)``
    layers.
    """

    def __init__(self, layers: Sequence[nn.Module], head: TextHead, va: VABranch | None = None) -> None:
        super().__init__()
        if head.context:
            raise ValueError("a fine-tuned text model takes no context features")
        self.layers = nn.ModuleList(layers)
        self.head = head
        if va is not None and len(va.layers) > len(self.layers):
            raise ValueError("the valence/arousal branch cannot fork below the tuned layers")
        self.va = va

    def embed(self, hidden: torch.Tensor) -> torch.Tensor:
        """Sentence embedding from unpadded lower-layer states [B, T, D] (all rows the same length)."""
        for layer in self.layers:
            hidden = layer(hidden)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        return nn.functional.normalize(hidden.mean(dim=1), dim=-1)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.embed(hidden))


def rating_to_unit(rating: np.ndarray | float) -> np.ndarray:
    """EmoBank's 1-5 rating scale mapped onto [0, 1]: (x - 1) / 4 (3, the scale's neutral, gives 0.5)."""
    return (np.asarray(rating, dtype=np.float64) - 1.0) / 4.0
