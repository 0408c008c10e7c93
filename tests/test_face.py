"""Face channel: alias table, detection, tracking, the no-face path, the CNN and its assets."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emolive.core.contracts import VideoFrame
from emolive.core.errors import EmoliveError, ModelError
from emolive.core.labels import EMOTIONS, canonical_emotion
from emolive.face.detector import Detection, HaarFaceDetector
from emolive.face.folder import list_image_folder
from emolive.face.model import DEFAULT_CONFIG, build_model
from emolive.face.predictor import ExpressionPredictor, crop_face
from emolive.face.quality import face_quality
from emolive.face.tracker import IoUTracker, pick_subject
from emolive.models.io import save_model

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "face"


@pytest.fixture(scope="module")
def astronaut_grey() -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, very small model folder (tests need no trained weights)."""
    config = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 16,
              "temperature": 1.5, "tta_flip": True}
    torch.manual_seed(0)
    return save_model(build_model(config).eval(), config, tmp_path_factory.mktemp("face_model"))


def sliding_clip(photo: np.ndarray, n: int, step: int = 6) -> list[np.ndarray]:
    """640x480 BGR frames with ``photo`` moving right by ``step`` px per frame."""
    frames = []
    for i in range(n):
        frame = np.full((480, 640, 3), 110, np.uint8)
        x = 20 + i * step
        frame[0:photo.shape[0], x:x + photo.shape[1]] = photo[..., None]
        frames.append(frame)
    return frames


@pytest.mark.parametrize(("name", "canon"), [
    ("angry", "anger"), ("happy", "joy"), ("Happiness", "joy"), ("sad", "sadness"), ("fearful", "fear"),
    ("surprised", "surprise"), ("disgust", "disgust"), ("neutral", "neutral"), ("contempt", None),
])
def test_alias_table_maps_face_folder_names(name: str, canon: str | None) -> None:
    assert canonical_emotion(name) == canon


def test_image_folder_skips_and_counts_unknown_classes(tmp_path: Path) -> None:
    for cls, count in (("happy", 2), ("angry", 1), ("contempt", 3)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            cv2.imwrite(str(tmp_path / cls / f"{i}.png"), np.zeros((48, 48), np.uint8))
    items, skipped = list_image_folder(tmp_path)
    expected = [EMOTIONS.index("joy")] * 2 + [EMOTIONS.index("anger")]
    assert sorted(label for _, label in items) == sorted(expected)
    assert skipped == {"unknown class: contempt": 3}


def test_image_folder_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(EmoliveError, match="not found"):
        list_image_folder(tmp_path / "missing")
    (tmp_path / "contempt").mkdir()
    with pytest.raises(EmoliveError, match="no labelled images"):
        list_image_folder(tmp_path)


def test_astronaut_photo_has_exactly_one_face(astronaut_grey: np.ndarray) -> None:
    faces = HaarFaceDetector().detect(astronaut_grey)
    assert len(faces) == 1
    face = faces[0]
    # The face sits in the upper middle of the 512x512 photo.
    assert 150 < face.x + face.w / 2 < 300 and 60 < face.y + face.h / 2 < 200
    assert 0.0 < face.confidence <= 1.0


def test_detect_near_refinds_the_face(astronaut_grey: np.ndarray) -> None:
    detector = HaarFaceDetector()
    face = detector.detect(astronaut_grey)[0]
    near = detector.detect_near(astronaut_grey, (face.x + 8, face.y - 5, face.w, face.h))
    assert near and abs(near[0].x - face.x) < face.w / 3


def test_tracker_keeps_ids_and_drops_lost_tracks() -> None:
    tracker = IoUTracker(max_misses=1)
    tracker.update([Detection(100, 100, 50, 50, 0.9), Detection(400, 100, 60, 60, 0.8)])
    ids = {t.track_id for t in tracker.tracks}
    for step in range(1, 6):
        tracker.update([Detection(400 + 4 * step, 100, 60, 60, 0.8),
                        Detection(100 + 5 * step, 100, 50, 50, 0.9)])
    assert {t.track_id for t in tracker.tracks} == ids
    tracker.update([Detection(130, 100, 50, 50, 0.9)])
    tracker.update([Detection(135, 100, 50, 50, 0.9)])
    assert len(tracker.tracks) == 1
    subject = pick_subject(tracker.tracks, 640, 480)
    assert subject is not None and subject.track_id == 1


def test_channel_tracks_one_id_across_a_moving_clip(astronaut_grey: np.ndarray, tiny_model: Path) -> None:
    from emolive.face.channel import FaceChannel

    channel = FaceChannel(tiny_model, detect_every=3, threads=1)
    ids, present = set(), 0
    for i, frame in enumerate(sliding_clip(cv2.resize(astronaut_grey, (440, 440)), 30)):
        out, boxes = channel.process(VideoFrame(t=i / 30, index=i, image=frame))
        present += out.present
        ids.update(b.track_id for b in boxes)
        if out.present:
            assert boxes and out.emotion is not None and len(out.emotion) == len(EMOTIONS)
            assert abs(sum(out.emotion) - 1.0) < 1e-4 and 0.0 <= out.quality <= 1.0
            assert out.embedding is not None and out.embedding.shape == (16,)
            assert not out.embedding.flags.writeable  # frozen: it crosses threads, like voice and text
    assert present >= 21
    assert ids == {1}
    channel.reset()
    assert channel.tracker.tracks == []


def test_blank_frame_is_no_face(tiny_model: Path) -> None:
    from emolive.face.channel import FaceChannel

    channel = FaceChannel(tiny_model, threads=1)
    for i in range(4):
        out, boxes = channel.process(VideoFrame(t=i / 30, index=i, image=np.zeros((480, 640, 3), np.uint8)))
        assert out.modality == "face" and not out.present and out.reason == "no face"
        assert out.emotion is None and boxes == ()


def test_model_output_and_embedding_shapes() -> None:
    model = build_model({}).eval()
    x = torch.randn(3, 1, DEFAULT_CONFIG["input_size"], DEFAULT_CONFIG["input_size"])
    logits, emb = model.forward_both(x)
    assert logits.shape == (3, len(EMOTIONS))
    assert emb.shape == (3, DEFAULT_CONFIG["embedding_dim"])
    assert torch.allclose(model(x), logits)


def test_predictor_calibrates_and_reorders_labels(tmp_path: Path) -> None:
    labels = list(reversed(EMOTIONS))
    config = {**DEFAULT_CONFIG, "widths": [4], "convs_per_stage": 1, "embedding_dim": 8, "labels": labels,
              "temperature": 2.0}
    model = build_model(config).eval()
    save_model(model, config, tmp_path)
    predictor = ExpressionPredictor(tmp_path, flip=False)
    crops = np.random.default_rng(1).integers(0, 256, (2, 48, 48), dtype=np.uint8)
    probs, emb = predictor.predict(crops)
    with torch.no_grad():
        logits = model(torch.from_numpy(predictor.to_input(crops)))
    expected = torch.softmax(logits / 2.0, 1).numpy()
    assert np.allclose(probs[:, EMOTIONS.index("neutral")], expected[:, labels.index("neutral")], atol=1e-5)
    assert emb.shape == (2, 8)
    assert predictor.class_prior is None  # no class_prior in the config: uniform


def test_class_prior_follows_the_label_order_and_reaches_the_face_output(tmp_path: Path,
                                                                          astronaut_grey: np.ndarray) -> None:
    from emolive.face.channel import FaceChannel
    from emolive.face.predictor import face_class_prior

    labels = list(reversed(EMOTIONS))
    shares = [0.05 * (i + 1) for i in range(len(labels))]
    prior = [s / sum(shares) for s in shares]  # in the config's (reversed) label order
    config = {**DEFAULT_CONFIG, "widths": [4], "convs_per_stage": 1, "embedding_dim": 8, "labels": labels,
              "class_prior": prior}
    save_model(build_model(config).eval(), config, tmp_path)
    expected = tuple(prior[labels.index(e)] for e in EMOTIONS)
    assert ExpressionPredictor(tmp_path, flip=False).class_prior == pytest.approx(expected)
    assert face_class_prior(tmp_path) == pytest.approx(expected)
    channel = FaceChannel(tmp_path, threads=1)
    out, _ = channel.process(VideoFrame(t=0.0, index=0, image=cv2.resize(astronaut_grey, (440, 440))))
    assert out.present and out.prior == pytest.approx(expected)
    bad = {**config, "class_prior": prior[:3]}
    save_model(build_model(bad).eval(), bad, tmp_path / "bad")
    with pytest.raises(ModelError, match="class_prior"):
        ExpressionPredictor(tmp_path / "bad")


def test_bundled_face_model_declares_its_training_prior() -> None:
    """FER2013 train's original labels: joy the most common class, disgust the rarest (fusion divides it out)."""
    prior = ExpressionPredictor().class_prior
    assert prior is not None and sum(prior) == pytest.approx(1.0, abs=1e-4)
    assert max(prior) == prior[EMOTIONS.index("joy")] and min(prior) == prior[EMOTIONS.index("disgust")]


def test_onnx_export_predicts_as_torch_and_follows_retrained_weights(tmp_path: Path) -> None:
    from training.export import export_folder

    config = {**DEFAULT_CONFIG, "widths": [4, 8], "convs_per_stage": 1, "embedding_dim": 8, "tta_flip": True,
              "logit_bias": [0.1 * i for i in range(7)]}
    torch.manual_seed(0)
    model = build_model(config).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    save_model(model, config, tmp_path)
    diffs = export_folder(tmp_path)
    assert (tmp_path / "model.onnx").is_file() and max(diffs.values()) < 1e-4
    crops = np.random.default_rng(2).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    onnx = ExpressionPredictor(tmp_path)
    torch_path = ExpressionPredictor(tmp_path, runtime="torch")
    assert (onnx.runtime, torch_path.runtime) == ("onnx", "torch")
    (p_onnx, e_onnx), (p_torch, e_torch) = onnx.predict(crops), torch_path.predict(crops)
    assert np.abs(p_onnx - p_torch).max() < 1e-5 and np.abs(e_onnx - e_torch).max() < 1e-4
    assert not np.allclose(p_onnx[0], p_onnx[1])  # different crops, different outputs
    assert (tmp_path / "model.onnx").stat().st_size < 100_000  # the graph only: the weights stay in safetensors
    exported = json.loads((tmp_path / "config.json").read_text())["onnx"]
    torch.manual_seed(1)
    save_model(build_model(config).eval(), {**config, "onnx": exported}, tmp_path)  # new weights, same shapes
    again, again_torch = ExpressionPredictor(tmp_path), ExpressionPredictor(tmp_path, runtime="torch")
    assert again.runtime == "onnx"
    assert np.abs(again.predict(crops)[0] - again_torch.predict(crops)[0]).max() < 1e-5
    assert np.abs(again.predict(crops)[0] - p_onnx).max() > 1e-4  # the new weights are the ones used
    wider = {**config, "embedding_dim": 16}
    save_model(build_model(wider).eval(), {**wider, "onnx": exported}, tmp_path)  # other shapes: back to torch
    assert ExpressionPredictor(tmp_path).runtime == "torch"
    save_model(build_model(config).eval(), config, tmp_path)  # a trainer's new config has no export: torch
    assert ExpressionPredictor(tmp_path).runtime == "torch"


def test_bundled_face_model_has_a_current_onnx_export() -> None:
    from emolive.models.assets import default_model_dir

    assert ExpressionPredictor(default_model_dir("face")).runtime == "onnx"


def test_prepare_crops_resizes_without_blur() -> None:
    from emolive.face.predictor import prepare_crops

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, 48, 48), dtype=np.uint8)
    same = prepare_crops(crops, 48, 48)
    assert np.array_equal(same, crops)  # no blur anywhere: a crop at the model's size passes unchanged
    small = prepare_crops(crops, 48, 24)
    assert small.shape == (2, 24, 24) and small.dtype == np.uint8


def test_blur_matched_model_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    import json
    import shutil

    old = tmp_path / "old_face"
    shutil.copytree(tiny_model, old)
    config = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps({**config, "blur_sigma": 3.0}))
    with pytest.raises(ModelError, match="blur-matched"):
        ExpressionPredictor(old)


def test_bundled_face_model_loads_without_blur() -> None:
    import json

    from emolive.models.assets import default_model_dir

    folder = default_model_dir("face")
    config = json.loads((folder / "config.json").read_text())
    assert "blur_sigma" not in config
    predictor = ExpressionPredictor(folder)
    probs, emb = predictor.predict(np.full((1, 48, 48), 128, np.uint8))
    assert probs.shape == (1, 7) and abs(float(probs.sum()) - 1.0) < 1e-4
    assert emb.shape == (1, predictor.embedding_dim)


def test_crop_face_scale_and_shift() -> None:
    grey = np.zeros((200, 200), np.uint8)
    grey[100:, :] = 255  # lower half white
    box = (80.0, 80.0, 40.0, 40.0)  # centre (100, 100)
    centred = crop_face(grey, box, 48, scale=1.0)
    lower = crop_face(grey, box, 48, scale=1.0, shift_y=0.25)
    assert centred.mean() == pytest.approx(127.5, abs=10)
    assert lower.mean() > centred.mean() + 40  # moved down: more of the white half
    wide = crop_face(grey, box, 48, scale=2.0)
    assert wide.shape == (48, 48)


def test_missing_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        ExpressionPredictor(tmp_path)


def test_crop_and_quality() -> None:
    grey = np.tile(np.arange(256, dtype=np.uint8), (200, 1))[:, :200]
    crop = crop_face(grey, (-20.0, -20.0, 60.0, 60.0), 48)  # partly outside the frame
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    sharp = face_quality(np.random.default_rng(0).integers(40, 220, (48, 48), dtype=np.uint8), 120, 0.9)
    dark = face_quality(np.full((48, 48), 3, np.uint8), 120, 0.9)
    tiny = face_quality(np.random.default_rng(0).integers(40, 220, (48, 48), dtype=np.uint8), 15, 0.9)
    assert sharp.total > 0.5 and dark.total == 0.0 and tiny.total < sharp.total


def test_shipped_weights_load_by_config() -> None:
    config = json.loads((ASSETS / "config.json").read_text())
    predictor = ExpressionPredictor(ASSETS)
    assert predictor.model.head[-1].out_features == len(config["labels"]) == len(EMOTIONS)
    probs, emb = predictor.predict(np.full((1, config["crop_size"], config["crop_size"]), 128, np.uint8))
    assert probs.shape == (1, len(EMOTIONS)) and abs(float(probs.sum()) - 1.0) < 1e-4
    assert emb.shape == (1, config["embedding_dim"])


def test_eval_command_json(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emolive.cli import main

    for cls in ("happy", "sad", "contempt"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(tmp_path / "data" / cls / f"{i}.png"), np.full((48, 48), 60 * i + 50, np.uint8))
    code = main(["eval", "face", "--data", str(tmp_path / "data"), "--model", str(tiny_model), "--json"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert report["n"] == 4 and report["skipped"] == {"unknown class: contempt": 2}
    assert set(report) >= {"n", "skipped", "labels", "accuracy", "macro_f1", "weighted_f1", "per_class",
                           "confusion"}


def test_only_the_first_crops_are_mirrored_when_asked(astronaut_grey: np.ndarray) -> None:
    """Several faces in one call: the first ``flip_first`` crops are averaged with their mirror images (as alone),
    the others scored once at the single-crop temperature (as a predictor without flips)."""
    mirrored = ExpressionPredictor()
    single = ExpressionPredictor(flip=False)
    assert mirrored.flip and mirrored.temperature != single.temperature
    crops = np.stack([cv2.resize(astronaut_grey[y:y + 200, x:x + 200], (mirrored.size, mirrored.size))
                      for x, y in ((150, 20), (120, 40), (60, 60))])
    probs, emb = mirrored.predict(crops, flip_first=1)
    alone, alone_emb = mirrored.predict(crops[:1])
    rest, rest_emb = single.predict(crops[1:])
    np.testing.assert_allclose(probs[:1], alone, atol=1e-5)
    np.testing.assert_allclose(probs[1:], rest, atol=1e-5)
    np.testing.assert_allclose(emb[1:], rest_emb, atol=1e-4)
    np.testing.assert_allclose(emb[:1], alone_emb, atol=1e-4)
    assert not np.allclose(mirrored.predict(crops)[0][1:], rest, atol=1e-4)  # all mirrored: other numbers
