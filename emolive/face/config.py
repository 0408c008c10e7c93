"""The face model's default config (torch-free: read by both the torch and the ONNX runtime)."""

from __future__ import annotations

from typing import Any

from emolive.core.labels import EMOTIONS

DEFAULT_CONFIG: dict[str, Any] = {
    "arch": "vggbn",
    "crop_size": 48,  # face crops are cut at this size, then resized to input_size
    "input_size": 48,
    "widths": [32, 64, 128, 256],
    "convs_per_stage": [1, 2, 2, 2],
    "embedding_dim": 256,
    "dropout": 0.3,
    "labels": list(EMOTIONS),
    "mean": 0.5,
    "std": 0.25,
    "temperature": 1.0,
}
