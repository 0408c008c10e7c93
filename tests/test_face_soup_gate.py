"""Weight-space interpolation of two face models and the replacement gate's criteria."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.face.model import DEFAULT_CONFIG, build_model
from emolive.models.io import load_config, load_into, save_model
from training.face_gate import gate
from training.face_soup import soup

CONFIG = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 8, "labels": list(EMOTIONS)}


def model_folder(path: Path, seed: int, bias: float) -> Path:
    torch.manual_seed(seed)
    config = {**CONFIG, "logit_bias": [bias] * len(EMOTIONS), "temperature": 1.0 + seed}
    return save_model(build_model(config).eval(), config, path)


def test_soup_interpolates_weights_and_config(tmp_path: Path) -> None:
    a = model_folder(tmp_path / "a", 0, -1.0)
    b = model_folder(tmp_path / "b", 1, 1.0)
    out = soup(a, b, 0.25, tmp_path / "s")
    wa = load_into(build_model(CONFIG), a).state_dict()
    wb = load_into(build_model(CONFIG), b).state_dict()
    ws = load_into(build_model(CONFIG), out).state_dict()
    key = "body.0.0.weight"
    assert torch.allclose(ws[key], 0.75 * wa[key] + 0.25 * wb[key], atol=1e-6)
    config = load_config(out)
    assert config["logit_bias"] == [-0.5] * len(EMOTIONS)
    assert config["temperature"] == pytest.approx(1.25)
    assert config["soup"]["alpha"] == 0.25


def test_soup_refuses_different_architectures(tmp_path: Path) -> None:
    a = model_folder(tmp_path / "a", 0, 0.0)
    config = {**CONFIG, "widths": [4, 16]}
    b = save_model(build_model(config).eval(), config, tmp_path / "b")
    with pytest.raises(EmoliveError, match="widths"):
        soup(a, b, 0.5, tmp_path / "s")


def report(acc: float, f1: float, neutral: float | None = None, negative: float | None = None) -> dict:
    return {"accuracy": acc, "macro_f1": f1, "per_class_recall": {"neutral": neutral},
            "neutral_as_negative": negative}


def test_gate_needs_every_criterion() -> None:
    args = argparse.Namespace(fer_val=Path("fer"), web_val=Path("web"), fer_min=0.70, neutral_min=0.75,
                              negative_max=0.15)
    shipped = {"sources": {"fer": report(0.70, 0.68), "web": report(0.66, 0.37, 0.50, 0.44)}}
    good = {"sources": {"fer": report(0.71, 0.69), "web": report(0.80, 0.45, 0.80, 0.10)}}
    assert all(gate(good, shipped, args).values())
    low_fer = {"sources": {"fer": report(0.69, 0.69), "web": good["sources"]["web"]}}
    assert list(gate(low_fer, shipped, args).values()) == [False, True, True, True, True]
    sad = {"sources": {"fer": good["sources"]["fer"], "web": report(0.80, 0.45, 0.80, 0.16)}}
    assert not gate(sad, shipped, args)["web neutral read as negative <= 0.15"]
