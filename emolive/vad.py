"""Speech presence from the Silero VAD model that ships inside faster-whisper (offline, ONNX, 1 thread)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from emolive.errors import ModelError

log = logging.getLogger(__name__)

CHUNK = 512  # samples per VAD decision at 16 kHz (32 ms), fixed by the Silero model


class SpeechDetector:
    """Per-32 ms speech probabilities for 16 kHz mono float32 audio.

    One instance per thread: the ONNX session is not shared. Construction loads the model
    (a few MB), calls are cheap (about 1 ms per second of audio on one core).
    """

    def __init__(self, threshold: float = 0.5) -> None:
        try:
            from faster_whisper.vad import SileroVADModel, get_assets_path
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ModelError("faster-whisper is not installed; it ships the Silero VAD model") from exc
        path = Path(get_assets_path()) / "silero_vad_v6.onnx"
        if not path.is_file():
            candidates = sorted(Path(get_assets_path()).glob("silero_vad*.onnx"))
            if not candidates:
                raise ModelError(f"Silero VAD model not found in {get_assets_path()}")
            path = candidates[-1]
        self.threshold = threshold
        self._model = SileroVADModel(str(path))

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each 512-sample chunk (the tail shorter than a chunk is zero-padded)."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            return np.zeros(0, dtype=np.float32)
        pad = (-audio.size) % CHUNK
        if pad:
            audio = np.concatenate([audio, np.zeros(pad, dtype=np.float32)])
        out = self._model(audio, num_samples=CHUNK)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def speech_fraction(self, samples: np.ndarray) -> float:
        """Fraction of 32 ms chunks whose speech probability passes the threshold."""
        probs = self.probabilities(samples)
        return float((probs >= self.threshold).mean()) if probs.size else 0.0
