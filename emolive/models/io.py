"""Save and load models as safetensors weights plus a JSON config: weights only, never pickles."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError

from emolive.core.errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
REFERENCE_NAME = "reference.json"  # outputs on a fixed input (emolive.runtime.selfcheck); stale once weights change


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: torch.nn.Module, config: dict[str, Any], directory: Path) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory`` (created if needed)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = directory / (WEIGHTS_NAME + ".tmp")
    save_file(state, str(tmp))
    tmp.chmod(0o644)
    tmp.replace(directory / WEIGHTS_NAME)
    (directory / REFERENCE_NAME).unlink(missing_ok=True)  # described the old weights
    save_config(config, directory)
    return directory


def save_config(config: dict[str, Any], directory: Path) -> None:
    """Write ``config.json`` into ``directory`` atomically (a reader never sees half a file)."""
    tmp = Path(directory) / (CONFIG_NAME + ".tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    tmp.replace(Path(directory) / CONFIG_NAME)


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
    """Read the safetensors weights of a model folder as torch tensors (no code is executed on load)."""
    from safetensors.torch import load_file

    return _read(Path(directory), load_file)


def load_arrays(directory: Path) -> dict[str, np.ndarray]:
    """The same weights as numpy arrays (the torch-free run time)."""
    from safetensors.numpy import load_file

    return _read(Path(directory), load_file)


def _read(directory: Path, load_file: Any) -> dict[str, Any]:
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
        detail = " ".join(str(exc).split())
        detail = detail if len(detail) <= 200 else detail[:197] + "..."
        raise ModelError(f"the weights in {directory} do not fit its config.json ({detail})") from exc
    model.eval()
    log.debug("loaded %s", directory)
    return model


# config.json "kind" values each model kind accepts (None: the key may be absent, as in older face folders).
_KINDS: dict[str, tuple[str | None, ...]] = {
    "face": (None, "face"),
    "voice": ("voice",),
    "text": ("text",),
    "fusion": ("late_fusion", "crossmodal"),
}


def validate_model_folder(kind: str, directory: Path) -> None:
    """Check that ``directory`` holds a readable ``kind`` model (config, weights, kind); ModelError if not.

    Cheap checks only (no model is built): the loaders check the shapes when they load the weights strictly.
    The message is one sentence that names the folder.
    """
    directory = Path(directory).expanduser()

    def fail(reason: str) -> ModelError:
        return ModelError(f"the {kind} model folder {directory} cannot be used: {reason}")

    if not directory.exists():
        raise fail("it does not exist")
    if not directory.is_dir():
        raise fail("it is not a folder")
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not config_path.is_file():
        raise fail(f"{CONFIG_NAME} is missing" + ("" if weights_path.is_file() else f" and so is {WEIGHTS_NAME}"))
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"{CONFIG_NAME} is not readable JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise fail(f"{CONFIG_NAME} is not a JSON object")
    found = config.get("kind")
    if kind in _KINDS and found not in _KINDS[kind]:
        raise fail(f"it holds a {found or 'face'} model, not a {kind} model")
    if kind == "face" and ("encoder" in config or "head" in config):
        raise fail("its config.json is not a face model's")
    if not weights_path.is_file():
        raise fail(f"{WEIGHTS_NAME} is missing")
    try:
        from safetensors import safe_open

        with safe_open(str(weights_path), framework="numpy") as handle:
            if not list(handle.keys()):
                raise fail(f"{WEIGHTS_NAME} holds no weights")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise fail(f"{WEIGHTS_NAME} is corrupt or not safetensors") from exc
