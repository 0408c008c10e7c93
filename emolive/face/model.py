"""The expression CNN shared by training and inference, built from its config.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from emolive.face.config import DEFAULT_CONFIG


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ExpressionNet(nn.Module):
    """VGG-style CNN: stages of 3x3 conv+BN+ReLU layers (a count per stage) each ending in 2x2 max-pooling,
    then global average pooling and an embedding layer.

    Input: (N, 1, S, S) grey faces already normalised with the config's mean/std. ``forward`` returns
    logits; ``features`` returns the penultimate embedding that fusion consumes.
    """

    def __init__(self, widths: Sequence[int], convs_per_stage: int | Sequence[int], embedding_dim: int,
                 n_classes: int, dropout: float = 0.3) -> None:
        super().__init__()
        convs = [convs_per_stage] * len(widths) if isinstance(convs_per_stage, int) else list(convs_per_stage)
        if len(convs) != len(widths):
            raise ValueError("convs_per_stage must be an int or one count per stage")
        layers: list[nn.Module] = []
        cin = 1
        for width, count in zip(widths, convs, strict=True):
            for _ in range(count):
                layers.append(_conv(cin, width))
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embed = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, embedding_dim),
                                   nn.BatchNorm1d(embedding_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embedding_dim, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate embedding, shape (N, embedding_dim)."""
        return self.embed(self.pool(self.body(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, embedding) in one pass."""
        emb = self.features(x)
        return self.head(emb), emb


class ExpressionEnsemble(nn.Module):
    """Several ExpressionNets on the same input: their logits averaged; the embedding is the first member's (the
    one fusion reads, so a fusion layer trained on that member's embedding still fits)."""

    def __init__(self, members: Sequence[ExpressionNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.members[0].features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_both(x)[0]

    def forward_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member.forward_both(x) for member in self.members]
        return torch.stack([logits for logits, _ in outputs]).mean(0), outputs[0][1]


ENSEMBLE_KEYS = ("arch", "widths", "convs_per_stage", "embedding_dim", "dropout")  # what a member's config says


def build_model(config: dict[str, Any]) -> ExpressionNet | ExpressionEnsemble:
    """An untrained ExpressionNet sized by ``config`` (missing keys take DEFAULT_CONFIG values), or an
    ExpressionEnsemble when ``arch`` is "ensemble" (``members``: one architecture per member)."""
    cfg = {**DEFAULT_CONFIG, **config}
    if cfg["arch"] == "ensemble":
        members = cfg.get("members") or []
        if any(m.get("arch", "vggbn") == "ensemble" for m in members):
            raise ValueError("ensemble members must be single networks")
        return ExpressionEnsemble([build_model({**cfg, "arch": "vggbn", **m}) for m in members])
    if cfg["arch"] != "vggbn":
        raise ValueError(f"unknown face model arch {cfg['arch']!r}")
    convs = cfg["convs_per_stage"]
    return ExpressionNet(cfg["widths"], convs if isinstance(convs, int) else [int(c) for c in convs],
                         int(cfg["embedding_dim"]),
                         len(cfg["labels"]), float(cfg["dropout"]))
