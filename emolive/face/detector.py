"""Face detection with OpenCV's frontal-face Haar cascade on a downscaled grey frame."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emolive.core.errors import ModelError
from emolive.face.plausibility import plausible_at

log = logging.getLogger(__name__)

CASCADE_NAME = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class Detection:
    """A detected face in full-frame pixels; ``confidence`` in [0, 1] from the cascade's level weight."""

    x: float
    y: float
    w: float
    h: float
    confidence: float


def near_region(shape: tuple[int, ...], box: tuple[float, float, float, float], margin: float,
                min_side: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of ``box`` (x, y, w, h) grown by ``margin`` x its size on each side, clipped to an image of
    ``shape``; None when the region is narrower than ``min_side`` pixels. Both detectors' ``detect_near`` use it."""
    h, w = shape[:2]
    bx, by, bw, bh = box
    x0, y0 = max(0, int(bx - margin * bw)), max(0, int(by - margin * bh))
    x1, y1 = min(w, int(bx + bw * (1 + margin))), min(h, int(by + bh * (1 + margin)))
    if x1 - x0 < min_side or y1 - y0 < min_side:
        return None
    return x0, y0, x1, y1


def cascade_path() -> Path:
    """The Haar cascade bundled with opencv-python(-headless) < 5."""
    base = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = Path(base) / CASCADE_NAME
    if not base or not path.is_file():
        raise ModelError(f"OpenCV's {CASCADE_NAME} is missing (opencv-python-headless >= 5 ships no "
                         "cascades; install opencv-python-headless<5)")
    return path


class HaarFaceDetector:
    """Finds frontal faces; runs on a copy of the frame scaled so its longer side is ``max_side`` pixels.

    ``min_face`` is the smallest face (pixels, in the downscaled image) the cascade looks for.
    Confidence maps the cascade's level weight w through 1 - exp(-w / ``weight_scale``).
    ``near_neighbors`` is the (lower) neighbour count for re-detection around a known face.
    """

    def __init__(self, max_side: int = 200, min_face: int = 20, scale_factor: float = 1.1,
                 min_neighbors: int = 4, near_neighbors: int = 3, weight_scale: float = 2.0) -> None:
        self.max_side = max_side
        self.min_face = min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.near_neighbors = near_neighbors
        self.weight_scale = weight_scale
        self._cascade = cv2.CascadeClassifier(str(cascade_path()))
        if self._cascade.empty():
            raise ModelError(f"could not load the Haar cascade {cascade_path()}")

    def detect(self, grey: np.ndarray) -> list[Detection]:
        """Faces in a grey uint8 image (H x W), largest first."""
        if grey.ndim != 2:
            raise ValueError("detect() expects a single-channel image")
        h, w = grey.shape
        scale = min(1.0, self.max_side / max(h, w))
        return self._run(grey, 0, 0, scale, self.min_face, 0, self.min_neighbors)

    def detect_near(self, grey: np.ndarray, box: tuple[float, float, float, float],
                    margin: float = 0.6, face_px: int = 40) -> list[Detection]:
        """Faces of about the size of ``box`` (x, y, w, h) in the region around it (cheap re-detection).

        The region is the box grown by ``margin`` x its size on each side, scaled so the face is about
        ``face_px`` pixels; only faces between 0.6x and 1.6x that size are searched for.
        """
        region = near_region(grey.shape, box, margin, 8)
        if region is None:
            return []
        x0, y0, x1, y1 = region
        scale = min(1.0, face_px / max(box[2], box[3], 1.0))
        return self._run(grey[y0:y1, x0:x1], x0, y0, scale, int(0.6 * face_px), int(1.6 * face_px),
                         self.near_neighbors)

    def _run(self, grey: np.ndarray, ox: int, oy: int, scale: float, min_px: int, max_px: int,
             neighbors: int) -> list[Detection]:
        h, w = grey.shape
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = grey if scale == 1.0 else cv2.resize(grey, target, interpolation=cv2.INTER_AREA)
        small = cv2.equalizeHist(small)
        min_px = max(1, min(min_px, *small.shape))
        boxes, _, weights = self._cascade.detectMultiScale3(
            small, scaleFactor=self.scale_factor, minNeighbors=neighbors,
            minSize=(min_px, min_px), maxSize=(max_px, max_px) if max_px else (0, 0), outputRejectLevels=True)
        found = []
        for (bx, by, bw, bh), weight in zip(np.asarray(boxes).reshape(-1, 4),
                                            np.asarray(weights).reshape(-1), strict=True):
            if not plausible_at(grey, bx / scale, by / scale, (bx + bw) / scale, (by + bh) / scale):
                log.debug("rejected a detection that looks like a synthetic pattern at (%d, %d)", ox + bx, oy + by)
                continue
            conf = 1.0 - math.exp(-max(float(weight), 0.0) / self.weight_scale)
            found.append(Detection(ox + float(bx) / scale, oy + float(by) / scale, float(bw) / scale,
                                   float(bh) / scale, conf))
        found.sort(key=lambda d: d.w * d.h, reverse=True)
        return found
