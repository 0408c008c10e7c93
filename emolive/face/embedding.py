"""Face-identity embeddings: dlib's 128-d ResNet (weights from the ``face-recognition-models`` package).

Optional: installed with the ``[people]`` extra (``dlib-bin`` + ``face-recognition-models``). Without it
``load_embedder`` raises ``ModelError`` with one message and the app keeps tracks only. The package's own
``__init__`` needs ``pkg_resources`` (gone from recent setuptools), so its folder is found without importing it.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import ModelError

log = logging.getLogger(__name__)

EMBEDDING_DIM = 128
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
MISSING = ("face identities need the [people] extra (dlib-bin and face-recognition-models): "
           "pip install 'emolive[people]'; without it faces are followed as tracks only")


def models_folder() -> Path | None:
    """The ``models/`` folder of the installed ``face-recognition-models`` package, or None."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if (folder / RESNET_FILE).is_file() and (folder / LANDMARKS_FILE).is_file() else None


class DlibFaceEmbedder:
    """128-d identity vectors of faces in a BGR (or grey) frame, one per (x, y, w, h) box.

    Each face is aligned by dlib's 5-point landmark model inside its box, cut to a 150 px chip and passed
    through the ResNet; vectors of one person lie about 0.6 or less apart (Euclidean), dlib's own rule.
    ``jitter`` > 0 averages that many perturbed copies (slower, a little steadier).
    """

    def __init__(self, dlib_module: Any, folder: Path, jitter: int = 0) -> None:
        self._dlib = dlib_module
        self._shape = dlib_module.shape_predictor(str(folder / LANDMARKS_FILE))
        self._net = dlib_module.face_recognition_model_v1(str(folder / RESNET_FILE))
        self.jitter = int(jitter)

    def embed(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray | None]:
        """One float32 vector per box (None for a box that lies outside the image)."""
        if not boxes:
            return []
        rgb = _to_rgb(image)
        h, w = rgb.shape[:2]
        shapes, kept = [], []
        for i, (x, y, bw, bh) in enumerate(boxes):
            x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
            x1, y1 = min(w - 1, int(round(x + bw))), min(h - 1, int(round(y + bh)))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            shapes.append(self._shape(rgb, self._dlib.rectangle(x0, y0, x1, y1)))
            kept.append(i)
        out: list[np.ndarray | None] = [None] * len(boxes)
        if not shapes:
            return out
        chips = self._dlib.full_object_detections()
        for s in shapes:
            chips.append(s)
        vectors = self._net.compute_face_descriptor(rgb, chips, self.jitter)
        for i, vec in zip(kept, vectors, strict=True):
            out[i] = np.asarray(vec, dtype=np.float32)
        return out


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    return np.ascontiguousarray(image[:, :, 2::-1])


def load_embedder(jitter: int = 0) -> DlibFaceEmbedder:
    """The identity embedder, or ModelError (one message) when the [people] extra is not installed."""
    folder = models_folder()
    try:
        import dlib
    except ImportError as exc:
        raise ModelError(MISSING) from exc
    if folder is None:
        raise ModelError(MISSING)
    log.info("face identities: dlib %s, models in %s", getattr(dlib, "__version__", "?"), folder)
    return DlibFaceEmbedder(dlib, folder, jitter=jitter)
