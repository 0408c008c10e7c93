"""Load the expression CNN from a model folder and turn grey face crops into calibrated probabilities."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emolive.core.errors import ModelError
from emolive.core.labels import EMOTIONS
from emolive.core.softmax import softmax
from emolive.face.config import DEFAULT_CONFIG
from emolive.models.assets import default_model_dir
from emolive.models.io import WEIGHTS_NAME, load_config
from emolive.models.onnxrt import cuda_usable, external_weights, onnx_file, open_session
from emolive.models.quantised import int8_file

log = logging.getLogger(__name__)


def class_prior_of(config: dict[str, Any]) -> tuple[float, ...] | None:
    """The config's ``class_prior`` (in its label order) over labels.EMOTIONS; None when it has none."""
    prior, labels = config.get("class_prior"), list(config.get("labels", EMOTIONS))
    if prior is None:
        return None
    if len(prior) != len(labels) or sorted(labels) != sorted(EMOTIONS):
        raise ModelError(f"class_prior has {len(prior)} entries for the labels {labels}")
    return tuple(float(prior[labels.index(e)]) for e in EMOTIONS)


def face_class_prior(model_dir: Path | None = None) -> tuple[float, ...] | None:
    """The class prior of a face model folder (default: the bundled one), read from its config only."""
    return class_prior_of(load_config(Path(model_dir) if model_dir is not None else default_model_dir("face")))


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
    on val; ``class_prior`` (config, optional) is the class shares those probabilities carry, which fusion
    divides out; with ``flip`` (default: the config's ``tta_flip``) the logits of each crop and its mirror image
    are averaged (config ``temperature``), without it a single pass is used (config ``temperature_single``).

    ``runtime`` "onnx" (default) runs the folder's ``model.onnx`` in ONNX Runtime when it was exported from the
    folder's weights, else falls back to torch; "torch" always uses torch. ``int8`` (default) runs the folder's
    int8 graph instead on the CPU when it has one made from its current weights (``models.quantised``);
    ``precision`` says which ran: "int8", "float32".
    """

    def __init__(self, model_dir: Path | None = None, flip: bool | None = None, runtime: str = "onnx",
                 threads: int = 1, device: str = "cpu", int8: bool = True) -> None:
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
        self.size = int(self.config.get("crop_size", self.config["input_size"]))
        self.input_size = int(self.config["input_size"])
        self.mean, self.std = float(self.config["mean"]), float(self.config["std"])
        self.flip = bool(self.config.get("tta_flip", False)) if flip is None else flip
        key = "temperature" if self.flip else "temperature_single"
        self.temperature = max(float(self.config.get(key, self.config.get("temperature", 1.0))), 1e-3)
        single = self.config.get("temperature_single", self.config.get("temperature", 1.0))
        self.temperature_single = max(float(single), 1e-3)  # a crop scored without its mirror image
        self.embedding_dim = int(self.config["embedding_dim"])
        bias = self.config.get("logit_bias") or [0.0] * len(labels)
        if len(bias) != len(labels):
            raise ModelError(f"{self.model_dir}: logit_bias has {len(bias)} entries for {len(labels)} labels")
        self.logit_bias = np.array([float(b) for b in bias], dtype=np.float32)
        try:  # the class shares the probabilities carry (labels.EMOTIONS order); fusion divides them out
            self.class_prior = class_prior_of(self.config)
        except ModelError as exc:
            raise ModelError(f"{self.model_dir}: {exc}") from None
        self._net: _OnnxNet | _TorchNet | None = None
        self._torch_net: _TorchNet | None = None  # built on first use of ``model`` when ONNX serves
        exported = onnx_file(self.model_dir, self.config) if runtime == "onnx" else None
        on_cpu = (device or "cpu") == "cpu" or not cuda_usable()  # int8 graphs are for the CPU
        quantised = int8_file(self.model_dir, self.config) if exported is not None and int8 and on_cpu else None
        self.precision = "float32"
        if quantised is not None:
            try:
                self._net = _OnnxNet(quantised, threads, device, {})
                self._net.check(self.model_dir, self.input_size, len(labels), self.embedding_dim)
            except ModelError as exc:
                log.warning("%s; using the float32 graph", exc)
                self._net = None
            else:
                self.precision = "int8"
                exported = None
        if exported is not None:
            try:
                weights = external_weights(self.config, {"weights": self.model_dir / WEIGHTS_NAME})
                self._net = _OnnxNet(exported, threads, device, weights)
            except ModelError as exc:
                log.warning("%s; using the torch runtime", exc)
            else:
                self._net.check(self.model_dir, self.input_size, len(labels), self.embedding_dim)
        elif runtime == "onnx" and self._net is None:
            log.info("%s has no ONNX export (python -m training export %s): using the torch runtime",
                     self.model_dir, self.model_dir)
        if self._net is None:
            self._net = _TorchNet(self.config, self.model_dir)
        self.runtime = "onnx" if isinstance(self._net, _OnnxNet) else "torch"

    @property
    def model(self) -> Any:
        """The torch module (loaded on first use when the ONNX runtime serves predictions)."""
        if isinstance(self._net, _TorchNet):
            return self._net.model
        if self._torch_net is None:
            self._torch_net = _TorchNet(self.config, self.model_dir)
        return self._torch_net.model

    def to_input(self, crops: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W) grey face crops -> normalised float32 array (N, 1, input_size, input_size)."""
        crops = prepare_crops(np.asarray(crops, dtype=np.uint8), self.size, self.input_size)
        x = crops.astype(np.float32) / np.float32(255.0)
        return ((x - np.float32(self.mean)) / np.float32(self.std))[:, None]

    def predict(self, crops: np.ndarray, flip_first: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (N, 7) in labels.EMOTIONS order and embeddings (N, embedding_dim), float32.

        ``flip_first``: when the model averages each crop with its mirror image, only the first so many crops are
        (the others are scored once, at the single-crop temperature); None: all of them. One network call."""
        if crops.ndim == 2:
            crops = crops[None]
        x = self.to_input(crops)
        n = x.shape[0]
        k = (n if flip_first is None else max(0, min(n, flip_first))) if self.flip else 0
        if k:  # the first k crops and their mirror images in the same call
            both, both_emb = self._net(np.concatenate([x, x[:k, :, :, ::-1]]))
            logits, emb = both[:n].copy(), both_emb[:n].copy()
            logits[:k] = (both[:k] + both[n:]) / 2
            emb[:k] = (both_emb[:k] + both_emb[n:]) / 2
        else:
            logits, emb = self._net(x)
        temperature = np.full((n, 1), self.temperature_single, np.float32)
        temperature[:k] = self.temperature
        probs = softmax((logits + self.logit_bias) / temperature, axis=1)[:, self._order]
        return probs.astype(np.float32), emb.astype(np.float32)


class _OnnxNet:
    """The exported CNN in ONNX Runtime: float32 (N, 1, S, S) -> (logits, embedding)."""

    def __init__(self, path: Path, threads: int, device: str, weights: dict[str, np.ndarray]) -> None:
        self.session = open_session(path, threads=threads, device=device, weights=weights)

    def check(self, model_dir: Path, input_size: int, n_labels: int, embedding_dim: int) -> None:
        """The exported shapes must be the config's (as torch's strict weight loading checks)."""
        shapes = {o.name: list(o.shape) for o in (*self.session.get_inputs(), *self.session.get_outputs())}
        want = {"x": [1, input_size, input_size], "logits": [n_labels], "embedding": [embedding_dim]}
        for name, tail in want.items():
            if shapes.get(name, [])[1:] != tail:
                raise ModelError(f"the weights in {model_dir} do not fit its config.json ({name}: exported "
                                 f"shape {shapes.get(name)}, the config says {['n', *tail]})")

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, emb = self.session.run(["logits", "embedding"], {"x": np.ascontiguousarray(x, dtype=np.float32)})
        return logits, emb


class _TorchNet:
    """The CNN in torch (training, fine-tuning, ``inference.runtime = "torch"``)."""

    def __init__(self, config: dict[str, Any], model_dir: Path) -> None:
        from emolive.face.model import build_model
        from emolive.models.io import load_into

        self.model = load_into(build_model(config), model_dir)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            logits, emb = self.model.forward_both(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return logits.numpy(), emb.numpy()
