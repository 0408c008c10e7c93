"""Reject detections that are not faces: flat synthetic patterns the Haar cascade mistakes for one.

A camera image of a face has texture everywhere (skin, shading, sensor noise) and many grey levels; a test
pattern (ffmpeg's testsrc2, colour bars, UI graphics) is mostly flat regions of a few exact grey levels. Measured
on detections (64 px crops): testsrc2's false boxes had 63-70% flat pixels with 85-89% of the pixels on 8 grey
levels; 185 FER2013 faces pasted into frames at most 37% flat and 58% on 8 levels (the astronaut photo 0.5% / 10%).
"""

from __future__ import annotations

import cv2
import numpy as np

FLAT_GRADIENT = 2.0  # Sobel magnitude below which a pixel counts as flat
MAX_FLAT_SHARE = 0.5
MAX_TOP8_SHARE = 0.7


def pattern_scores(crop: np.ndarray) -> tuple[float, float]:
    """(share of flat pixels, share of pixels on the 8 commonest grey levels) of a grey uint8 crop."""
    grey = np.ascontiguousarray(crop, dtype=np.uint8)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    flat = float((np.hypot(gx, gy) < FLAT_GRADIENT).mean())
    hist = np.bincount(grey.ravel(), minlength=256)
    top8 = float(np.sort(hist)[-8:].sum() / max(grey.size, 1))
    return flat, top8


def looks_like_a_face(crop: np.ndarray) -> bool:
    """False for a flat, few-level synthetic pattern; True for anything with a photo's texture."""
    flat, top8 = pattern_scores(crop)
    return not (flat > MAX_FLAT_SHARE and top8 > MAX_TOP8_SHARE)


def plausible_at(grey: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> bool:
    """``looks_like_a_face`` of the region (x0, y0)-(x1, y1) of a grey frame, seen at 64 x 64 (True when the
    region is empty): the check both face detectors apply to each box they find."""
    patch = grey[max(0, int(y0)):int(y1), max(0, int(x0)):int(x1)]
    return not patch.size or looks_like_a_face(cv2.resize(patch, (64, 64), interpolation=cv2.INTER_AREA))
