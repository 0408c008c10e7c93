"""The face detector by name: ``mtcnn`` (the default) or ``haar``."""

from __future__ import annotations

from emolive.core.errors import ModelError
from emolive.face.detector import HaarFaceDetector
from emolive.face.mtcnn import MtcnnFaceDetector

DETECTORS = ("mtcnn", "haar")
DEFAULT_DETECTOR = "mtcnn"


def new_detector(kind: str = DEFAULT_DETECTOR, threads: int = 1) -> MtcnnFaceDetector | HaarFaceDetector:
    """``mtcnn``: the MTCNN cascade (finds tight and low-contrast faces; emolive.face.mtcnn); ``haar``: OpenCV's
    frontal-face cascade (the default until 2026-12-02). Both have ``detect`` and ``detect_near``."""
    if kind == "haar":
        return HaarFaceDetector()
    if kind == "mtcnn":
        return MtcnnFaceDetector(threads=threads)
    raise ModelError(f"unknown face detector {kind!r} (one of {', '.join(DETECTORS)})")
