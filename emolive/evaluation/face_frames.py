"""The frames protocol of `emolive eval face --frames`: face crops pasted into camera-sized frames.

Each labelled crop is scaled to 80-300 px, turned by up to +-8 degrees, brightened or darkened and pasted at a
random place of a 640x480 frame with a smooth random background, so the whole live path (detection, tracking,
crop, model) is measured on faces whose true box is known. The pasted square is the FER2013 crop, so comparing the
detector's box with it tells how the live crop must be cut to look like the training crops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

FRAME_W, FRAME_H = 640, 480


@dataclass(frozen=True)
class PastedFace:
    """A BGR frame holding one pasted face and the pasted square (x, y, side) in frame pixels."""

    frame: np.ndarray
    x: float
    y: float
    side: float


def background(rng: np.random.Generator, width: int = FRAME_W, height: int = FRAME_H) -> np.ndarray:
    """A smooth random BGR background (upscaled 8x6 colour field) with mild sensor-like noise."""
    coarse = rng.uniform(30, 220, size=(6, 8, 3)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    field += rng.normal(0, 4, size=field.shape).astype(np.float32)
    return np.clip(field, 0, 255).astype(np.uint8)


def paste_face(face: np.ndarray, rng: np.random.Generator, min_side: int = 80, max_side: int = 300,
               max_angle: float = 8.0) -> PastedFace:
    """Paste a grey face crop into a new frame at random scale, position, rotation and brightness."""
    frame = background(rng)
    side = float(rng.uniform(min_side, max_side))
    angle = float(rng.uniform(-max_angle, max_angle))
    half = side / 2 * math.sqrt(2)  # room for the rotated square
    cx = float(rng.uniform(half, FRAME_W - half))
    cy = float(rng.uniform(half, FRAME_H - half))
    gain, offset = float(rng.uniform(0.6, 1.4)), float(rng.uniform(-25, 25))
    grey = np.clip(face.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)
    h, w = grey.shape
    scale = side / w
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[0, 2] += cx - w / 2
    matrix[1, 2] += cy - h / 2
    warped = cv2.warpAffine(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), matrix, (FRAME_W, FRAME_H),
                            flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full((h, w), 255, np.uint8), matrix, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    frame = (warped * alpha + frame * (1 - alpha)).astype(np.uint8)
    return PastedFace(frame, cx - side / 2, cy - side / 2, side)


def box_in_face_units(box: tuple[float, float, float, float], pasted: PastedFace) -> tuple[float, float, float]:
    """A detected box (x, y, w, h) relative to the pasted square: (centre dx, centre dy, side) in its sides."""
    x, y, w, h = box
    dx = (x + w / 2 - (pasted.x + pasted.side / 2)) / pasted.side
    dy = (y + h / 2 - (pasted.y + pasted.side / 2)) / pasted.side
    return dx, dy, max(w, h) / pasted.side
