"""int8 graphs beside a model folder's float weights: used only while they were made from those weights.

``python -m training.face_int8`` writes ``model.int8.onnx`` (static int8 quantisation of the exported graph; it
carries its own int8 weights) and records in config.json's ``onnx_int8`` the sha256 of the ``model.safetensors``
it was made from. A folder whose weights changed since keeps working in float32: the stale int8 file is skipped
with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emolive.models.io import WEIGHTS_NAME, sha256_file

log = logging.getLogger(__name__)

INT8_KEY = "onnx_int8"
INT8_NAME = "model.int8.onnx"


def int8_file(model_dir: Path, config: Mapping[str, Any]) -> Path | None:
    """The folder's int8 graph when config.json names one made from the folder's current weights, else None."""
    entry = config.get(INT8_KEY) or {}
    if not entry:
        return None
    path = Path(model_dir) / str(entry.get("file", INT8_NAME))
    if not path.is_file():
        log.warning("%s: config.json names the int8 graph %s, which is missing; using float32", model_dir, path.name)
        return None
    try:
        current = sha256_file(Path(model_dir) / WEIGHTS_NAME)
    except OSError:
        return None  # the float loader reports the missing weights
    if entry.get("weights_sha256") != current:
        log.warning("%s: the int8 graph %s was made from other weights than model.safetensors; using float32 "
                    "(python -m training.face_int8 %s makes it again)", model_dir, path.name, model_dir)
        return None
    return path
