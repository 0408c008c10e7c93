"""Combine trained face models into one ensemble folder (``python -m training face --ensemble A B --out OUT``).

The members must agree on what the input is (crop and input size, normalisation, labels); the first member's
embedding is the ensemble's. Weights go into one safetensors file under ``members.<i>.``; the training figures of
each member stay in ``members_training``. The face trainer then fits the prior correction and temperatures of the
averaged logits on val (its ``--calibrate-only`` path) and ``python -m training export OUT`` writes the ONNX graph.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from safetensors.numpy import load_file, save_file

from emolive.core.errors import ModelError
from emolive.face.model import ENSEMBLE_KEYS
from emolive.models.io import WEIGHTS_NAME, load_config, save_config

log = logging.getLogger(__name__)

SHARED_KEYS = ("crop_size", "input_size", "labels", "mean", "std")  # the members must see the same input
DROPPED_KEYS = ("onnx", "onnx_int8", "temperature", "temperature_single", "training", "members", "members_training")


def combine(members: list[Path], out: Path) -> dict[str, Any]:
    """Write the ensemble of ``members`` (model folders) into ``out``; returns its config."""
    if len(members) < 2:
        raise ModelError("an ensemble needs at least two face model folders")
    configs = [load_config(m) for m in members]
    for folder, config in zip(members, configs, strict=True):
        if config.get("arch", "vggbn") == "ensemble":
            raise ModelError(f"{folder} is itself an ensemble: list its members instead")
        for key in SHARED_KEYS:
            mean_or_std = key in ("mean", "std")
            a, b = configs[0].get(key), config.get(key)
            if (abs(float(a) - float(b)) > 0.01) if mean_or_std else a != b:
                raise ModelError(f"{folder} differs from {members[0]} in {key} ({b} vs {a}): not one input")
    weights: dict[str, Any] = {}
    for i, folder in enumerate(members):
        for name, value in load_file(str(folder / WEIGHTS_NAME)).items():
            weights[f"members.{i}.{name}"] = value
    config = {k: v for k, v in configs[0].items() if k not in DROPPED_KEYS}
    config["arch"] = "ensemble"
    config["members"] = [{k: c[k] for k in ENSEMBLE_KEYS if k in c} | {"arch": "vggbn", "source": str(folder)}
                         for folder, c in zip(members, configs, strict=True)]
    config["members_training"] = [c.get("training", {}) for c in configs]
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out / WEIGHTS_NAME))
    save_config(config, out)
    log.info("ensemble of %d face models written to %s", len(members), out)
    return config
