"""The voice encoder (a small 2-D CNN over log-mel windows) with emotion and arousal heads.

One file shared by training and inference; the model config travels in ``config.json`` next to the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from emolive.core.labels import EMOTIONS


@dataclass
class VoiceModelConfig:
    """Sizes of the encoder. ``channels`` are the widths of the conv blocks (each halves time and mel)."""

    n_mels: int = 40
    channels: tuple[int, ...] = (16, 32, 48, 64)
    embedding_dim: int = 128
    dropout: float = 0.3
    n_classes: int = len(EMOTIONS)
    window_s: float = 2.0
    arch: str = "cnn2d"  # "cnn2d": 2-D conv blocks over (mel, time); "tdnn": 1-D convs with mels as channels
    freq_pool: str = "flatten"  # "flatten": keep the remaining mel bins as features; "mean": average them
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoiceModelConfig:
        kwargs = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if "channels" in kwargs:
            kwargs["channels"] = tuple(int(c) for c in kwargs["channels"])
        return cls(**kwargs)


def _block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                               nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _tdnn_block(c_in: int, c_out: int, kernel: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                               nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool1d(2))
    return nn.Sequential(*layers)


class VoiceNet(nn.Module):
    """Log-mel window ``[B, T, n_mels]`` (dB) -> (emotion logits ``[B, 7]``, arousal ``[B]`` in [0, 1],
    embedding ``[B, embedding_dim]``).

    The input is level-normalised inside (minus its mean dB, over 20 dB), so microphone gain does not matter.
    """

    def __init__(self, config: VoiceModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or VoiceModelConfig()
        n_blocks = len(self.config.channels)
        if self.config.arch == "tdnn":
            chans = (self.config.n_mels, *self.config.channels)
            self.blocks = nn.Sequential(*[_tdnn_block(chans[i], chans[i + 1], 5 if i < 2 else 3, i < n_blocks - 1)
                                          for i in range(n_blocks)])
            width = chans[-1]
        else:
            chans = (1, *self.config.channels)
            self.blocks = nn.Sequential(*[_block(chans[i], chans[i + 1], pool=i < n_blocks - 1)
                                          for i in range(n_blocks)])
            n_freq = self.config.n_mels // 2 ** (n_blocks - 1)
            width = chans[-1] * (n_freq if self.config.freq_pool == "flatten" else 1)
        self.embed = nn.Sequential(nn.Linear(2 * width, self.config.embedding_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(self.config.dropout)
        self.emotion_head = nn.Linear(self.config.embedding_dim, self.config.n_classes)
        self.arousal_head = nn.Linear(self.config.embedding_dim, 1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = features - features.mean(dim=(1, 2), keepdim=True)
        x = (x / 20.0).transpose(1, 2)  # [B, n_mels, T]
        if self.config.arch == "tdnn":
            x = self.blocks(x)  # [B, C, T']
        else:
            x = self.blocks(x.unsqueeze(1))  # [B, C, F', T']
            x = x.flatten(1, 2) if self.config.freq_pool == "flatten" else x.mean(dim=2)
        pooled = torch.cat([x.mean(dim=2), x.std(dim=2)], dim=1)
        emb = self.embed(pooled)
        h = self.dropout(emb)
        return self.emotion_head(h), torch.sigmoid(self.arousal_head(h)).squeeze(1), emb
