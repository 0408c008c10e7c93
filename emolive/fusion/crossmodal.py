"""MulT-style cross-modal transformer over face, voice and text embedding sequences.

Each modality is projected to ``hidden``, gets a learned modality embedding and positions, then attends to
the other two modalities (cross-modal attention blocks) before its own transformer encoder layers. A learned
"null" token leads every sequence, so a modality that is entirely missing still gives attention something
valid to attend to, and the masks say what is real. Heads: 7 emotions, 3 sentiments, valence and arousal
(sigmoid). Seed sizes: hidden 128, 4 heads, 2 layers, dropout 0.1, max sequence 1000; the larger variant is
hidden 256, 8 heads, 4 layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from emolive.core.labels import EMOTIONS, SENTIMENTS

MODALITIES = ("face", "voice", "text")


@dataclass(frozen=True)
class CrossModalConfig:
    face_dim: int = 128
    voice_dim: int = 128
    text_dim: int = 384
    hidden: int = 128
    heads: int = 4
    layers: int = 2
    dropout: float = 0.1
    max_len: int = 1000

    def to_dict(self) -> dict:
        return {"kind": "crossmodal", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> CrossModalConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class CrossAttentionBlock(nn.Module):
    """Target sequence attends to a source sequence (pre-norm, residual, feed-forward)."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(hidden), nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(4 * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, target: torch.Tensor, source: torch.Tensor, source_pad: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(source)
        attended, _ = self.attn(self.norm_q(target), kv, kv, key_padding_mask=source_pad, need_weights=False)
        target = target + self.drop(attended)
        return target + self.drop(self.ff(self.norm_ff(target)))


class CrossModalTransformer(nn.Module):
    def __init__(self, config: CrossModalConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CrossModalConfig()
        dims = {"face": config.face_dim, "voice": config.voice_dim, "text": config.text_dim}
        self.project = nn.ModuleDict({m: nn.Linear(dims[m], config.hidden) for m in MODALITIES})
        self.null = nn.Parameter(torch.zeros(len(MODALITIES), config.hidden))
        self.modality = nn.Parameter(torch.zeros(len(MODALITIES), config.hidden))
        self.position = nn.Embedding(config.max_len + 1, config.hidden)
        self.cross = nn.ModuleDict({
            f"{t}<{s}": CrossAttentionBlock(config.hidden, config.heads, config.dropout)
            for t in MODALITIES for s in MODALITIES if s != t
        })
        layer = nn.TransformerEncoderLayer(config.hidden, config.heads, 4 * config.hidden, config.dropout,
                                           batch_first=True, norm_first=True)
        self.encoders = nn.ModuleDict({m: nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
                                       for m in MODALITIES})
        width = len(MODALITIES) * config.hidden
        self.norm = nn.LayerNorm(width)
        self.emotion = nn.Linear(width, len(EMOTIONS))
        self.sentiment = nn.Linear(width, len(SENTIMENTS))
        self.valence_arousal = nn.Linear(width, 2)

    def _embed(self, index: int, name: str, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T, D] + valid mask [B, T] -> [B, T+1, H] with the null token first, and its padding mask."""
        batch, length = x.shape[0], x.shape[1]
        if length > self.config.max_len:
            x, mask, length = x[:, -self.config.max_len :], mask[:, -self.config.max_len :], self.config.max_len
        h = self.project[name](x)
        h = torch.cat([self.null[index].expand(batch, 1, -1), h], dim=1)
        h = h + self.modality[index] + self.position(torch.arange(length + 1, device=x.device))[None]
        valid = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=x.device), mask.bool()], dim=1)
        return h, ~valid

    def forward(self, inputs: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """inputs[m]: [B, T_m, D_m]; masks[m]: [B, T_m] True where real. Returns logits and V/A in [0, 1]."""
        embedded = {m: self._embed(i, m, inputs[m], masks[m]) for i, m in enumerate(MODALITIES)}
        pooled = []
        for target in MODALITIES:
            h, pad = embedded[target]
            for source in MODALITIES:
                if source != target:
                    h = self.cross[f"{target}<{source}"](h, *embedded[source])
            h = self.encoders[target](h, src_key_padding_mask=pad)
            keep = (~pad).float()[..., None]
            pooled.append((h * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0))
        z = self.norm(torch.cat(pooled, dim=-1))
        return {"emotion": self.emotion(z), "sentiment": self.sentiment(z),
                "valence_arousal": torch.sigmoid(self.valence_arousal(z))}
