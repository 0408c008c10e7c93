"""The graphs `python -m training export` writes: one function per model kind, each checked against torch."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emolive.modelio import WEIGHTS_NAME
from training.export import OPSET, check_session, externalise


class _FaceGraph(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_both(x)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), args, str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
                          do_constant_folding=False)  # weights stay as they are in the safetensors


def export_face(model_dir: Path, config: dict[str, Any], path: Path) -> tuple[dict[str, float], dict[str, list]]:
    """The face CNN: x (N, 1, S, S) normalised grey crops -> logits (N, C), embedding (N, E)."""
    from emolive.face.config import DEFAULT_CONFIG
    from emolive.face.model import build_model
    from emolive.modelio import load_into

    cfg = {**DEFAULT_CONFIG, **config}
    model = load_into(build_model(cfg), model_dir)
    size = int(cfg["input_size"])
    batch = {"x": {0: "n"}, "logits": {0: "n"}, "embedding": {0: "n"}}
    _export(_FaceGraph(model), (torch.zeros(2, 1, size, size),), path, ["x"], ["logits", "embedding"], batch)
    sources = {"weights": Path(model_dir) / WEIGHTS_NAME}
    table = externalise(path, sources)
    x = np.random.default_rng(0).normal(size=(5, 1, size, size)).astype(np.float32)
    with torch.inference_mode():
        logits, emb = model.forward_both(torch.from_numpy(x))
    return check_session(path, table, sources, {"x": x}, {"logits": logits.numpy(), "embedding": emb.numpy()}), table
