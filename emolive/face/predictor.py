"""Load the expression CNN from a model folder and turn grey face crops into calibrated probabilities."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from emolive.assets import default_model_dir
from emolive.errors import ModelError
from emolive.face.model import DEFAULT_CONFIG, build_model
from emolive.labels import EMOTIONS
from emolive.modelio import load_config, load_into

log = logging.getLogger(__name__)


def crop_face(grey: np.ndarray, box: tuple[float, float, float, float], size: int,
              scale: float = 1.2, shift_y: float = 0.0) -> np.ndarray:
    """Square ``size`` x ``size`` crop around ``box`` (x, y, w, h); edges replicated.

    The crop's side is ``scale`` x the box's longer side and its centre sits ``shift_y`` x that side below
    the box's centre (negative: above), so a detector's box can be mapped onto the framing of the training
    crops (see ``CropAlignment``).
    """
    x, y, w, h = box
    side = max(w, h)
    crop_side = side * scale
    cx, cy = x + w / 2.0, y + h / 2.0 + shift_y * side
    patch_side = max(2, int(round(crop_side)))
    patch = cv2.getRectSubPix(grey, (patch_side, patch_side), (float(cx), float(cy)))
    interp = cv2.INTER_AREA if patch_side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def prepare_crops(crops: np.ndarray, crop_size: int, input_size: int) -> np.ndarray:
    """uint8 grey crops (N, H, W) -> the model's uint8 input (N, input_size, input_size).

    Each crop is brought to ``crop_size``, then resized to ``input_size``.
    """
    out = np.empty((len(crops), input_size, input_size), dtype=np.uint8)
    for i, crop in enumerate(crops):
        if crop.shape != (crop_size, crop_size):
            interp = cv2.INTER_AREA if max(crop.shape) > crop_size else cv2.INTER_LINEAR
            crop = cv2.resize(crop, (crop_size, crop_size), interpolation=interp)
        if crop_size != input_size:
            crop = cv2.resize(crop, (input_size, input_size), interpolation=cv2.INTER_AREA)
        out[i] = crop
    return out


class ExpressionPredictor:
    """The trained CNN plus its config: ``predict(crops)`` -> (probabilities, embeddings).

    Crops are cut at ``size`` (the config's ``crop_size``) and resized to the model's ``input_size``.
    Models trained on the old blurred FER2013 copy (a ``blur_sigma`` in their config) are refused.

    Probabilities are over the config's label order mapped onto labels.EMOTIONS, softmax of the logits
    plus the config's ``logit_bias`` (prior correction, zero when absent) divided by a temperature fitted
    on val; with ``flip`` (default: the config's ``tta_flip``) the logits of each crop and its mirror image
    are averaged (config ``temperature``), without it a single pass is used (config ``temperature_single``).
    """

    def __init__(self, model_dir: Path | None = None, flip: bool | None = None) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir("face")
        self.config = {**DEFAULT_CONFIG, **load_config(self.model_dir)}
        if float(self.config.get("blur_sigma") or 0.0) > 0:
            raise ModelError(f"{self.model_dir}: a blur-matched face model (trained on the old blurred FER2013 "
                             "copy, blur_sigma in its config.json); it is no longer supported: use the bundled "
                             "assets/face or retrain with `python -m training face`")
        labels = list(self.config["labels"])
        if sorted(labels) != sorted(EMOTIONS):
            raise ModelError(f"{self.model_dir}: labels {labels} are not the 7 canonical emotions")
        self._order = [labels.index(e) for e in EMOTIONS]
        self.model = load_into(build_model(self.config), self.model_dir)
        self.size = int(self.config.get("crop_size", self.config["input_size"]))
        self.input_size = int(self.config["input_size"])
        self.mean, self.std = float(self.config["mean"]), float(self.config["std"])
        self.flip = bool(self.config.get("tta_flip", False)) if flip is None else flip
        key = "temperature" if self.flip else "temperature_single"
        self.temperature = max(float(self.config.get(key, self.config.get("temperature", 1.0))), 1e-3)
        self.embedding_dim = int(self.config["embedding_dim"])
        bias = self.config.get("logit_bias") or [0.0] * len(labels)
        if len(bias) != len(labels):
            raise ModelError(f"{self.model_dir}: logit_bias has {len(bias)} entries for {len(labels)} labels")
        self.logit_bias = torch.tensor([float(b) for b in bias], dtype=torch.float32)

    def to_input(self, crops: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W) grey face crops -> normalised float tensor (N, 1, input_size, input_size)."""
        crops = prepare_crops(np.asarray(crops, dtype=np.uint8), self.size, self.input_size)
        x = torch.from_numpy(crops).float().div_(255.0)
        return ((x - self.mean) / self.std).unsqueeze(1)

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (N, 7) in labels.EMOTIONS order and embeddings (N, embedding_dim), float32."""
        if crops.ndim == 2:
            crops = crops[None]
        x = self.to_input(crops)
        n = x.shape[0]
        with torch.inference_mode():
            if self.flip:
                logits, emb = self.model.forward_both(torch.cat([x, torch.flip(x, dims=[3])]))
                logits = (logits[:n] + logits[n:]) / 2
                emb = (emb[:n] + emb[n:]) / 2
            else:
                logits, emb = self.model.forward_both(x)
            probs = torch.softmax((logits + self.logit_bias) / self.temperature, dim=1)[:, self._order]
        return probs.numpy().astype(np.float32), emb.numpy().astype(np.float32)
