"""Save and load models as safetensors weights plus a JSON config: weights only, never pickles."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from emolive.errors import ModelError

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def save_model(model: torch.nn.Module, config: dict[str, Any], directory: Path) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(directory / WEIGHTS_NAME)
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return directory


def load_config(directory: Path) -> dict[str, Any]:
    """Read ``config.json`` of a model folder with a clear error when it is missing or broken."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise ModelError(f"model config not found: {path}")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"model config {path} is unreadable: {exc}") from exc


def load_state(directory: Path) -> dict[str, torch.Tensor]:
    """Read the safetensors weights of a model folder (no code is executed on load)."""
    path = Path(directory) / WEIGHTS_NAME
    if not path.is_file():
        raise ModelError(f"model weights not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"model weights {path} are corrupt or not safetensors: {exc}") from exc


def load_into(model: torch.nn.Module, directory: Path) -> torch.nn.Module:
    """Load weights into ``model`` strictly; a shape or key mismatch is a ModelError."""
    state = load_state(directory)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"weights in {directory} do not fit the model config: {exc}") from exc
    model.eval()
    log.debug("loaded %s", directory)
    return model
