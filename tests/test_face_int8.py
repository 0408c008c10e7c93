"""The face CNN's int8 graph (training.face_int8): used on the CPU only while it was made from the folder's weights."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from emolive.face.config import DEFAULT_CONFIG
from emolive.face.predictor import ExpressionPredictor
from emolive.runtime.selfcheck import probe_crop

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


def _smooth_faces(n: int, seed: int) -> np.ndarray:
    """Grey 48 px crops with some structure (blurred noise): closer to faces than white noise."""
    rng = np.random.default_rng(seed)
    return np.stack([cv2.GaussianBlur(rng.integers(0, 256, (48, 48), dtype=np.uint8), (7, 7), 2.0)
                     for _ in range(n)])


@pytest.fixture()
def quantised_folder(tmp_path: Path) -> Path:
    from emolive.face.model import build_model
    from emolive.models.io import save_model
    from training.export import export_folder
    from training.face_int8 import quantise

    config = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 8, "tta_flip": True}
    torch.manual_seed(0)
    save_model(build_model(config).eval(), config, tmp_path / "model")
    export_folder(tmp_path / "model")
    for i, crop in enumerate(_smooth_faces(24, 1)):
        label = ("angry", "happy", "sad")[i % 3]  # a labelled folder, as FER2013's train split
        (tmp_path / "train" / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "train" / label / f"{i}.png"), crop)
    quantise(tmp_path / "model", tmp_path / "train", n=16)
    return tmp_path / "model"


def test_the_int8_graph_serves_on_the_cpu_close_to_float32(quantised_folder: Path) -> None:
    entry = json.loads((quantised_folder / "config.json").read_text())["onnx_int8"]
    assert entry["file"] == "model.int8.onnx" and len(entry["weights_sha256"]) == 64
    assert entry["calibration"]["images"] == 16 and entry["float32_layers"]
    int8, float32 = ExpressionPredictor(quantised_folder), ExpressionPredictor(quantised_folder, int8=False)
    assert (int8.precision, float32.precision) == ("int8", "float32") and int8.runtime == "onnx"
    crops = _smooth_faces(6, 2)
    (p8, e8), (p32, e32) = int8.predict(crops), float32.predict(crops)
    assert np.isfinite(p8).all() and np.allclose(p8.sum(1), 1.0, atol=1e-5) and e8.shape == e32.shape
    assert 0 < np.abs(p8 - p32).max() < 0.05  # another graph ran, and it stays close


def test_an_int8_graph_made_from_other_weights_or_missing_is_not_used(quantised_folder: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    from emolive.face.model import build_model
    from emolive.models.io import save_model

    config = json.loads((quantised_folder / "config.json").read_text())
    torch.manual_seed(1)
    save_model(build_model(config).eval(), config, quantised_folder)  # retrained: same shapes, other weights
    with caplog.at_level(logging.WARNING):
        predictor = ExpressionPredictor(quantised_folder)
    assert predictor.precision == "float32" and predictor.runtime == "onnx"
    assert "made from other weights" in caplog.text
    (quantised_folder / "model.int8.onnx").unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert ExpressionPredictor(quantised_folder).precision == "float32"
    assert "missing" in caplog.text


def test_the_bundled_face_model_runs_int8_within_its_reference_tolerance() -> None:
    int8, float32 = ExpressionPredictor(threads=1), ExpressionPredictor(threads=1, int8=False)
    assert (int8.precision, float32.precision) == ("int8", "float32")
    probe = probe_crop(int8.size)
    assert np.abs(int8.predict(probe)[0] - float32.predict(probe)[0]).max() < 0.01  # reference.json's tolerance
