"""The mixed-source face trainer: web labels through the alias table, the identity-disjoint split, the sampler's
shares, the webcam augmentations and one tiny fine-tuning run on hand-made folders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import WeightedRandomSampler

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.face.model import DEFAULT_CONFIG, build_model
from emolive.models.io import save_model
from training.face_augment import AugmentConfig, webcam_augment
from training.face_web import (
    WEB_ALIASES,
    balanced_weights,
    expected_shares,
    identity_of,
    identity_split,
    list_web,
    write_split_folder,
)

# class folder -> photo stems: three people with several photos, two single photos, one studio portrait
WEB = {
    "happy": ["Ann_Lee_0001", "Ann_Lee_0002", "Bob_0001", "Dwarakish_14"],
    "neutral": ["Ann_Lee_0003", "Bob_0002", "Bob_0003", "Cy_Young_0001", "Dwarakish_9", "Eve_0001"],
    "angry": ["Dwarakish_195", "facial-expressions_2868588k"],
    "contempt": ["Bob_0004"],
}


def write_images(root: Path, layout: dict[str, list[str]], size: int = 96, colour: bool = True) -> Path:
    rng = np.random.default_rng(0)
    for folder, stems in layout.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for stem in stems:
            shape = (size, size, 3) if colour else (size, size)
            cv2.imwrite(str(root / folder / f"{stem}.{'jpg' if colour else 'png'}"),
                        rng.integers(0, 256, shape, dtype=np.uint8))
    return root


@pytest.mark.parametrize(("name", "who"), [
    ("George_W_Bush_0001.jpg", "George_W_Bush"), ("Dwarakish_14.jpg", "Dwarakish"),
    ("HrithikRoshan_116.jpg", "HrithikRoshan"), ("facial-expressions_2868588k.jpg", "facial-expressions_2868588k"),
    ("Abdullah_0004.jpg", "Abdullah"),
])
def test_identity_is_the_name_before_the_photo_number(name: str, who: str) -> None:
    assert identity_of(name) == who


def test_web_labels_go_through_the_alias_table(tmp_path: Path) -> None:
    items, skipped = list_web(write_images(tmp_path, WEB))
    got = {(p.parent.name, p.stem): EMOTIONS[y] for p, y in items}
    assert got[("happy", "Ann_Lee_0001")] == "joy"
    assert got[("angry", "Dwarakish_195")] == "anger"
    assert got[("neutral", "Eve_0001")] == "neutral"
    assert len(items) == 12
    assert skipped == {"unknown class: contempt": 1}
    assert WEB_ALIASES["contempt"] is None
    assert all(v is None or v in EMOTIONS for v in WEB_ALIASES.values())


def test_web_folder_without_known_classes_is_a_clear_error(tmp_path: Path) -> None:
    write_images(tmp_path, {"contempt": ["A_0001"]})
    with pytest.raises(EmoliveError, match="no labelled images"):
        list_web(tmp_path)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_identity_split_keeps_each_person_on_one_side(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = [f"Person_{p}_{k:04d}.jpg" for p in range(60) for k in range(int(rng.integers(1, 8)))]
    val = identity_split(names, 0.2, seed)
    sides: dict[str, set[bool]] = {}
    for name, v in zip(names, val, strict=True):
        sides.setdefault(identity_of(name), set()).add(bool(v))
    assert all(len(s) == 1 for s in sides.values())
    assert 0.15 <= val.mean() <= 0.3
    assert np.array_equal(val, identity_split(names, 0.2, seed))


def test_stratified_identity_split_gives_a_rare_class_validation_photos() -> None:
    # 40 people with 5 neutral photos each; the rare class (disgust, index 5) is shown by three people only
    names = [f"P{p}_{k:04d}.jpg" for p in range(40) for k in range(5)]
    labels = [0] * len(names)
    for person, count in (("Actor_A", 6), ("Actor_B", 5), ("Actor_C", 5)):
        names += [f"{person}_{k:04d}.jpg" for k in range(count + 20)]
        labels += [5] * count + [0] * 20
    for seed in range(4):
        val = identity_split(names, 0.2, seed, labels)
        rare = np.asarray(labels) == 5
        assert rare[val].any() and rare[~val].any()  # a rare-class actor on each side
        sides = {}
        for name, v in zip(names, val, strict=True):
            sides.setdefault(identity_of(name), set()).add(bool(v))
        assert all(len(s) == 1 for s in sides.values())
        assert 0.1 <= val.mean() <= 0.35


def test_identity_split_rejects_a_share_outside_0_1() -> None:
    with pytest.raises(EmoliveError, match="between 0 and 1"):
        identity_split(["A_0001.jpg"], 1.0)


def test_write_split_folder_links_by_canonical_class(tmp_path: Path) -> None:
    items, _ = list_web(write_images(tmp_path / "web", WEB))
    n = write_split_folder(items[:3], tmp_path / "val")
    assert n == 3
    linked = sorted(p.relative_to(tmp_path / "val").as_posix() for p in (tmp_path / "val").rglob("*.jpg"))
    assert linked == sorted(f"{EMOTIONS[y]}/{p.name}" for p, y in items[:3])


def test_balanced_weights_give_each_source_and_class_its_share() -> None:
    labels = np.array([0] * 600 + [1] * 300 + [4] * 100 + [0] * 90 + [1] * 9 + [5] * 1)
    sources = np.array([0] * 1000 + [1] * 100)
    w = balanced_weights(labels, sources, {0: 0.7, 1: 0.3}, power=0.5)
    assert w.sum() == pytest.approx(1.0)
    shares = expected_shares(w, labels, sources)
    assert shares[0].sum() == pytest.approx(0.7)
    assert shares[1].sum() == pytest.approx(0.3)
    mass = np.sqrt([600, 300, 100])
    assert shares[0][[0, 1, 4]] == pytest.approx(0.7 * mass / mass.sum())
    equal = expected_shares(balanced_weights(labels, sources, {0: 0.5, 1: 0.5}, power=0.0), labels, sources)
    assert equal[1][[0, 1, 5]] == pytest.approx([0.5 / 3] * 3)
    # images of one (source, class) cell are drawn equally often
    assert np.unique(w[:600]).size == 1


def test_sampler_draws_the_stated_shares() -> None:
    labels = np.array([0] * 800 + [3] * 200 + [0] * 50 + [1] * 50)
    sources = np.array([0] * 1000 + [1] * 100)
    w = balanced_weights(labels, sources, {0: 0.6, 1: 0.4}, power=0.0)
    draws = np.array(list(WeightedRandomSampler(torch.from_numpy(w), 20000, replacement=True,
                                                generator=torch.Generator().manual_seed(0))))
    web = sources[draws] == 1
    assert web.mean() == pytest.approx(0.4, abs=0.02)
    assert (labels[draws][~web] == 3).mean() == pytest.approx(0.5, abs=0.02)


def test_balanced_weights_need_a_share_for_every_source() -> None:
    with pytest.raises(EmoliveError, match="no share"):
        balanced_weights(np.array([0, 1]), np.array([0, 1]), {0: 1.0})


def test_webcam_augment_without_steps_is_the_live_grey_conversion() -> None:
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    x = torch.from_numpy(bgr).permute(0, 3, 1, 2).float() / 255
    cfg = AugmentConfig(contrast=(1.0, 1.0)).without({"colour", "geometry", "occlusion", "lowlight", "blur",
                                                      "noise", "jpeg"})
    g = torch.Generator().manual_seed(0)
    out = webcam_augment(x, cfg, g)
    assert out.shape == (4, 1, 48, 48)
    want = np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in bgr]).astype(np.float32) / 255
    # whole-pixel moves only, so compare the means (the brightness offset is at most 0.08)
    assert abs(float(out.mean()) - float(want.mean())) <= 0.09


def test_webcam_augment_changes_images_and_stays_in_range() -> None:
    x = torch.rand(32, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    cfg = AugmentConfig(occlusion_p=1.0, lowlight_p=1.0, blur_p=1.0, noise_p=1.0, jpeg_p=1.0)
    out = webcam_augment(x, cfg, torch.Generator().manual_seed(2), np.random.default_rng(2))
    assert out.shape == (32, 1, 48, 48)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    # low light on every image: darker on average than the plain grey conversion
    assert float(out.mean()) < float((x * torch.tensor([0.114, 0.587, 0.299])[None, :, None, None]).sum(1).mean())


def test_unknown_augmentation_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown augmentations"):
        AugmentConfig().without({"sepia"})


def _tiny_sources(tmp_path: Path) -> tuple[Path, Path, Path, dict]:
    """A tiny FER2013 folder, web-photo folder, starting model (seeded) and its config for the trainer's runs."""
    fer = tmp_path / "fer"
    layout = {e: [f"Training_{e}_{i}" for i in range(3)] for e in ("angry", "happy", "neutral", "sad")}
    write_images(fer / "train", layout, size=48, colour=False)
    write_images(fer / "val", {e: [f"PublicTest_{e}_{i}" for i in range(2)] for e in layout}, 48, colour=False)
    web = write_images(tmp_path / "web", WEB)
    config = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 8, "labels": list(EMOTIONS),
              "mean": 0.5, "std": 0.25, "tta_flip": True}
    torch.manual_seed(0)
    return fer, web, save_model(build_model(config).eval(), config, tmp_path / "init"), config


def test_tiny_fine_tuning_run_writes_a_model_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from training import face_mix

    fer, web, init, config = _tiny_sources(tmp_path)
    out = tmp_path / "out"
    argv = ["--fer", str(fer), "--web", str(web), "--init", str(init), "--out", str(out), "--epochs", "1",
            "--epoch-size", "16", "--batch-size", "8", "--web-val-share", "0.3", "--cache", str(tmp_path / "c")]
    assert face_mix.main(argv) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["widths"] == [4, 8] and saved["input_size"] == 48
    assert len(saved["class_prior"]) == len(EMOTIONS)
    assert "web_neutral_negative" in saved["training"]["calibration"]
    with pytest.raises(EmoliveError, match="--resume"):
        face_mix.main(argv)
    assert face_mix.main([*argv, "--epochs", "2", "--resume"]) == 0
    assert "epoch 2" in capsys.readouterr().out
    assert face_mix.main([*argv, "--calibrate-only", "--bn-refresh", "8"]) == 0
    assert "BatchNorm refresh on 8 crops" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["training"]["bn_refresh"]["n"] == 8


def test_batchnorm_refresh_measures_the_given_crops() -> None:
    from training.face_mix import refresh_batchnorm

    config = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 8,
              "labels": list(EMOTIONS)}
    torch.manual_seed(0)
    model = build_model(config).eval()
    x = torch.randn(64, 1, 48, 48) * 2 + 3
    refresh_batchnorm(model, x, batch=16)
    conv = model.body[0][0]
    bn = model.body[0][1]
    with torch.no_grad():
        features = conv(x)
    assert torch.allclose(bn.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-4)
    assert bn.momentum == 0.1 and not bn.training


def test_distillation_loss_is_zero_for_the_teacher_itself_and_grows_with_disagreement() -> None:
    from training.face_distill import distill_loss

    torch.manual_seed(0)
    teacher = torch.randn(6, len(EMOTIONS))
    assert distill_loss(teacher.clone(), teacher, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    near = distill_loss(teacher + 0.1 * torch.randn_like(teacher), teacher, 2.0).item()
    far = distill_loss(teacher + 2.0 * torch.randn_like(teacher), teacher, 2.0).item()
    assert 0 < near < far
    student = teacher.clone()
    student[3:] = -teacher[3:]  # only the unmasked rows disagree
    mask = torch.tensor([True, True, True, False, False, False])
    assert distill_loss(student, teacher, 2.0, mask).item() == pytest.approx(0.0, abs=1e-6)
    assert distill_loss(student, teacher, 2.0, ~mask).item() > 0
    with pytest.raises(ValueError, match="temperature"):
        distill_loss(student, teacher, 0.0)


def test_distillation_run_keeps_every_epoch_and_refuses_another_input(tmp_path: Path) -> None:
    from training import face_mix

    fer, web, init, config = _tiny_sources(tmp_path)
    argv = ["--fer", str(fer), "--web", str(web), "--init", str(init), "--epochs", "2",
            "--epoch-size", "16", "--batch-size", "8", "--web-val-share", "0.3", "--cache", str(tmp_path / "c"),
            "--distill", str(init), "--distill-weight", "0.5", "--distill-t", "3", "--save-epochs", "--distill-bias"]
    out = tmp_path / "out"
    assert face_mix.main([*argv, "--out", str(out)]) == 0
    distill = json.loads((out / "config.json").read_text())["recipe"]["distill"]
    assert distill["weight"] == 0.5 and distill["teacher_bias"] is True
    assert sorted(p.name for p in (out / "epochs").iterdir()) == ["e1", "e2"]
    assert json.loads((out / "epochs" / "e2" / "config.json").read_text())["training"]["epoch"] == 2
    other = save_model(build_model({**config, "mean": 0.3}).eval(), {**config, "mean": 0.3}, tmp_path / "other")
    argv[argv.index(str(init), argv.index("--distill"))] = str(other)
    with pytest.raises(EmoliveError, match="--distill"):
        face_mix.main([*argv, "--out", str(tmp_path / "out2")])


def test_teacher_with_bias_adds_its_logit_bias(tmp_path: Path) -> None:
    from training.face_distill import load_teacher

    config = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 8, "labels": list(EMOTIONS),
              "mean": 0.5, "std": 0.25}
    bias = [0.5, -0.25, 0.0, 0.125, 1.0, -1.0, 0.0]
    torch.manual_seed(0)
    folder = save_model(build_model(config).eval(), {**config, "logit_bias": bias}, tmp_path / "teacher")
    x = torch.randn(3, 1, 48, 48)
    raw = load_teacher(folder, config)(x)
    biased = load_teacher(folder, config, with_bias=True)(x)
    assert torch.allclose(biased - raw, torch.tensor(bias).expand(3, -1), atol=1e-5)
    assert not any(p.requires_grad for p in load_teacher(folder, config, with_bias=True).parameters())
