"""Face ensembles: trained folders combined into one model whose logits are the members' mean."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emolive.core.errors import ModelError
from emolive.face.model import DEFAULT_CONFIG, ExpressionEnsemble, build_model
from emolive.face.predictor import ExpressionPredictor
from emolive.models.io import load_config, save_model
from training.face_ensemble import combine

TINY = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 8, "tta_flip": True}


def member(folder: Path, seed: int, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = {**TINY, **overrides}
    model = build_model(config).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
    save_model(model, config, folder)
    return model


def test_the_ensemble_averages_its_members_logits_and_keeps_the_first_embedding(tmp_path: Path) -> None:
    a = member(tmp_path / "a", 0)
    b = member(tmp_path / "b", 1, widths=[6, 10])  # members may differ in architecture
    config = combine([tmp_path / "a", tmp_path / "b"], tmp_path / "ens")
    assert config["arch"] == "ensemble" and len(config["members"]) == 2 and "onnx" not in config
    predictor = ExpressionPredictor(tmp_path / "ens", runtime="torch")
    assert isinstance(predictor.model, ExpressionEnsemble)
    x = torch.from_numpy(predictor.to_input(np.random.default_rng(0).integers(0, 256, (3, 48, 48), np.uint8)))
    with torch.inference_mode():
        logits, emb = predictor.model.forward_both(x)
        (la, ea), (lb, _) = a.forward_both(x), b.forward_both(x)
    assert torch.allclose(logits, (la + lb) / 2, atol=1e-6) and torch.allclose(emb, ea)
    assert not torch.allclose(la, lb)


def test_the_ensemble_exports_to_onnx_and_predicts_as_torch(tmp_path: Path) -> None:
    from training.export import export_folder

    member(tmp_path / "a", 0)
    member(tmp_path / "b", 1)
    combine([tmp_path / "a", tmp_path / "b"], tmp_path / "ens")
    diffs = export_folder(tmp_path / "ens")
    assert max(diffs.values()) < 1e-4
    crops = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    onnx, eager = ExpressionPredictor(tmp_path / "ens"), ExpressionPredictor(tmp_path / "ens", runtime="torch")
    assert onnx.runtime == "onnx"
    assert np.abs(onnx.predict(crops)[0] - eager.predict(crops)[0]).max() < 1e-5


def test_members_must_see_the_same_input(tmp_path: Path) -> None:
    member(tmp_path / "a", 0)
    member(tmp_path / "b", 1, input_size=64)
    with pytest.raises(ModelError, match="input_size"):
        combine([tmp_path / "a", tmp_path / "b"], tmp_path / "ens")
    with pytest.raises(ModelError, match="at least two"):
        combine([tmp_path / "a"], tmp_path / "ens")
    member(tmp_path / "c", 2)
    combine([tmp_path / "a", tmp_path / "c"], tmp_path / "ens")
    with pytest.raises(ModelError, match="itself an ensemble"):
        combine([tmp_path / "ens", tmp_path / "a"], tmp_path / "ens2")
    assert load_config(tmp_path / "ens")["members"][1]["source"] == str(tmp_path / "c")
    with pytest.raises(ValueError, match="unknown face model arch"):
        build_model({**TINY, "arch": "resnet9000"})
