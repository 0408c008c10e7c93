"""Face-quality signal in [0, 1] from face size, sharpness, exposure and detector confidence."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class QualityParts:
    """Each factor in [0, 1]; ``total`` is their product (one bad factor is enough to distrust a face)."""

    size: float
    sharpness: float
    exposure: float
    confidence: float

    @property
    def total(self) -> float:
        return float(self.size * self.sharpness * self.exposure * (0.5 + 0.5 * self.confidence))


def _ramp(value: float, lo: float, hi: float) -> float:
    return float(np.clip((value - lo) / (hi - lo), 0.0, 1.0))


def face_quality(crop: np.ndarray, face_px: float, confidence: float, min_px: float = 40.0,
                 good_px: float = 96.0, sharp_lo: float = 20.0, sharp_hi: float = 150.0) -> QualityParts:
    """Quality of a grey uint8 face ``crop`` whose box is ``face_px`` pixels wide in the frame.

    Size ramps from ``min_px`` to ``good_px``; sharpness is the variance of the Laplacian of the crop
    (ramping from ``sharp_lo`` to ``sharp_hi``); exposure penalises a dark, bright or flat crop.
    """
    size = _ramp(face_px, 0.5 * min_px, good_px)
    lap = float(cv2.Laplacian(crop, cv2.CV_32F).var())
    sharpness = _ramp(lap, sharp_lo, sharp_hi)
    mean, std = float(crop.mean()) / 255.0, float(crop.std()) / 255.0
    exposure = min(_ramp(mean, 0.08, 0.25), _ramp(1.0 - mean, 0.08, 0.25), _ramp(std, 0.03, 0.12))
    return QualityParts(size, 0.25 + 0.75 * sharpness, exposure, float(np.clip(confidence, 0.0, 1.0)))
