"""Log-mel features exactly as the seed spec gives them, plus the window arithmetic shared by train and live.

16 kHz mono, torchaudio MelSpectrogram (n_fft 400, hop 160, Hann window, 40 mel bands), AmplitudeToDB;
output ``[T, n_mels]``. One second of audio gives 101 frames (centred frames).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class FeatureSpec:
    """Parameters of the log-mel front end (the seed spec's values are the defaults)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 40
    top_db: float = 80.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def frames(self, n_samples: int) -> int:
        """Number of frames that ``n_samples`` samples give (centred STFT)."""
        return n_samples // self.hop_length + 1

    def seconds_to_frames(self, seconds: float) -> int:
        return self.frames(int(round(seconds * self.sample_rate)))


class LogMel:
    """Callable log-mel extractor: float32 mono samples at ``spec.sample_rate`` -> float32 ``[T, n_mels]``.

    Builds its torchaudio modules once; cheap to call (well under a millisecond per second of audio).
    """

    def __init__(self, spec: FeatureSpec | None = None) -> None:
        import torch
        import torchaudio

        self.spec = spec or FeatureSpec()
        self._torch = torch
        self._mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.spec.sample_rate,
            n_fft=self.spec.n_fft,
            hop_length=self.spec.hop_length,
            n_mels=self.spec.n_mels,
            window_fn=torch.hann_window,
            power=2.0,
        )
        self._db = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=self.spec.top_db)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).reshape(-1))
        if audio.size == 0:
            return np.zeros((0, self.spec.n_mels), dtype=np.float32)
        with self._torch.no_grad():
            mel = self._mel(self._torch.from_numpy(audio))  # [n_mels, T]
            db = self._db(mel)
        return db.T.contiguous().numpy().astype(np.float32, copy=False)


def window_starts(n_frames: int, window: int, hop: int) -> list[int]:
    """Start frames of sliding windows over a clip; a clip shorter than one window gives ``[0]``."""
    if n_frames <= window:
        return [0]
    starts = list(range(0, n_frames - window + 1, hop))
    if starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return starts


def fit_window(features: np.ndarray, window: int, start: int = 0) -> np.ndarray:
    """``features[start:start + window]``, padded at the end by repeating its quietest level when short."""
    chunk = features[start:start + window]
    if len(chunk) >= window:
        return chunk
    floor = float(features.min()) if features.size else -100.0
    pad = np.full((window - len(chunk), features.shape[1]), floor, dtype=np.float32)
    return np.concatenate([chunk, pad], axis=0)


def frame_speech_mask(chunk_probs: np.ndarray, n_frames: int, spec: FeatureSpec, chunk: int = 512) -> np.ndarray:
    """Spread per-chunk VAD probabilities (``chunk`` samples each) onto the ``n_frames`` feature frames."""
    if chunk_probs.size == 0:
        return np.zeros(n_frames, dtype=np.float32)
    centres = np.arange(n_frames) * spec.hop_length
    idx = np.minimum(centres // chunk, chunk_probs.size - 1)
    return chunk_probs[idx].astype(np.float32)


def clip_windows(
    features: np.ndarray, speech: np.ndarray, window: int, hop: int, min_speech: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of a whole clip for scoring: ``([N, window, n_mels], weights [N])``.

    Windows whose speech fraction (mean of the per-frame ``speech`` mask) reaches ``min_speech`` are kept,
    weighted by that fraction; when none does, the window with the most speech is kept alone, so every
    clip gets a prediction.
    """
    starts = window_starts(len(features), window, hop)
    fractions = np.array([float(speech[s:s + window].mean()) if speech.size else 0.0 for s in starts])
    keep = np.flatnonzero(fractions >= min_speech)
    if keep.size == 0:
        keep = np.array([int(np.argmax(fractions))])
    windows = np.stack([fit_window(features, window, starts[i]) for i in keep])
    weights = np.maximum(fractions[keep], 1e-3).astype(np.float32)
    return windows.astype(np.float32, copy=False), weights
