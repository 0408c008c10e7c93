"""Turn per-modality outputs into one calibrated, smoothed estimate, or an honest "uncertain"."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from emolive.contracts import ModalityOutput
from emolive.fusion.circumplex import sentiment_from_emotion, valence_arousal
from emolive.fusion.late import MODALITIES, LateFusion, TrustPolicy
from emolive.fusion.smoothing import ExponentialSmoother
from emolive.labels import EMOTIONS, SENTIMENTS

log = logging.getLogger(__name__)

UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class FusedOutput:
    emotion: tuple[float, ...]
    sentiment: tuple[float, ...]
    valence: float
    arousal: float
    dominant: str
    confidence: float
    weights: tuple[tuple[str, float], ...]
    staleness: tuple[tuple[str, float], ...]


class Fuser:
    """Late fusion + sentiment/valence/arousal derivation + smoothing, with an uncertain state.

    ``min_trust``: below this total trust (no usable face, no speech, no recent words) the estimate
    is "uncertain" with confidence 0, and the smoothed distribution relaxes towards uniform.
    """

    def __init__(self, model: LateFusion | None = None, policy: TrustPolicy | None = None,
                 smoothing_s: float = 0.5, min_trust: float = 0.05) -> None:
        self.model = (model or LateFusion()).eval()
        self.policy = policy or TrustPolicy()
        self.min_trust = min_trust
        self._emotion = ExponentialSmoother(smoothing_s)
        self._sentiment = ExponentialSmoother(smoothing_s)
        self._va = ExponentialSmoother(smoothing_s)

    @classmethod
    def from_dir(cls, directory: Path | None, **kwargs) -> Fuser:
        """Load learned late-fusion parameters (assets/fusion) if present, else neutral ones."""
        from emolive.assets import default_model_dir
        from emolive.modelio import WEIGHTS_NAME, load_into

        directory = Path(directory) if directory else default_model_dir("fusion")
        model = LateFusion()
        if (directory / WEIGHTS_NAME).is_file():
            load_into(model, directory)
        else:
            log.info("no learned fusion weights in %s: equal modality weights", directory)
        return cls(model, **kwargs)

    def reset(self) -> None:
        for s in (self._emotion, self._sentiment, self._va):
            s.reset()

    def fuse(self, outputs: dict[str, ModalityOutput | None], now: float) -> FusedOutput:
        trust = np.array([self.policy.trust(outputs.get(m), now) for m in MODALITIES])
        log_probs = np.stack([
            np.log(np.clip(np.asarray(outputs[m].emotion, dtype=np.float64), 1e-6, 1.0))
            if trust[i] > 0 else np.full(len(EMOTIONS), -np.log(len(EMOTIONS)))
            for i, m in enumerate(MODALITIES)
        ])
        with torch.no_grad():
            fused_log, a = self.model(torch.from_numpy(log_probs[None]).float(),
                                      torch.from_numpy(trust[None]).float())
        a = a[0].numpy().astype(np.float64)
        total = float(a.sum())
        share = a / total if total > 0 else np.zeros_like(a)
        staleness = tuple((m, round(now - outputs[m].t, 3)) for m in MODALITIES if outputs.get(m) is not None)
        with torch.no_grad():
            top_weight = float(self.model.modality_weights().max())
        if total < self.min_trust * top_weight:
            emotion = self._emotion.update(now, np.full(len(EMOTIONS), 1.0 / len(EMOTIONS)))
            sentiment = self._sentiment.update(now, np.full(len(SENTIMENTS), 1.0 / len(SENTIMENTS)))
            va = self._va.update(now, np.array([0.5, 0.3]))
            return FusedOutput(_floats(emotion), _floats(sentiment), float(va[0]), float(va[1]), UNCERTAIN, 0.0,
                               tuple(zip(MODALITIES, share.tolist(), strict=True)), staleness)
        emotion_now = np.exp(fused_log[0].numpy().astype(np.float64))
        sentiment_now = self._sentiment_of(outputs, share, emotion_now)
        valence, arousal = valence_arousal(emotion_now)
        voice = outputs.get("voice")
        if voice is not None and share[1] > 0 and voice.arousal is not None:
            arousal = (1 - share[1]) * arousal + share[1] * float(voice.arousal)
        emotion = self._emotion.update(now, emotion_now)
        sentiment = self._sentiment.update(now, sentiment_now)
        va = self._va.update(now, np.array([valence, arousal]))
        top = int(np.argmax(emotion))
        coverage = min(1.0, total / 0.3)
        return FusedOutput(_floats(emotion), _floats(sentiment), float(va[0]),
                           float(va[1]), EMOTIONS[top], float(emotion[top] * coverage),
                           tuple(zip(MODALITIES, share.tolist(), strict=True)), staleness)

    @staticmethod
    def _sentiment_of(outputs: dict[str, ModalityOutput | None], share: np.ndarray,
                      emotion: np.ndarray) -> np.ndarray:
        """Text's own sentiment head where words are trusted, the emotion-implied sentiment elsewhere."""
        implied = sentiment_from_emotion(emotion)
        text = outputs.get("text")
        if text is None or text.sentiment is None or share[2] <= 0:
            return implied
        own = np.asarray(text.sentiment, dtype=np.float64)
        return share[2] * own + (1 - share[2]) * implied


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in values)
