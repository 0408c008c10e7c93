"""The identity embedding (dlib, [people] extra; skipped without it) and `emolive eval identity`'s pairs/metrics."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from emolive.core.errors import EmoliveError
from emolive.evaluation import identity as ev
from emolive.face.identity import IdentitySettings


def test_people_photos_and_pairs(tmp_path: Path):
    for name, n in (("Ann_Lee", 3), ("Bo", 2), ("Cy_Dee", 1)):
        for k in range(1, n + 1):
            folder = tmp_path / ("happy" if k % 2 else "neutral")
            folder.mkdir(exist_ok=True)
            (folder / f"{name}_{k:04d}.jpg").write_bytes(b"x")
    (tmp_path / "happy" / "notes.txt").write_text("not a photo")
    (tmp_path / "happy" / "portrait.jpg").write_bytes(b"x")  # no NAME_NNNN: no person
    people = ev.people_photos(tmp_path)
    assert {k: len(v) for k, v in people.items()} == {"Ann_Lee": 3, "Bo": 2, "Cy_Dee": 1}
    same, different = ev.make_pairs(people, n_same=4, impostors_per_pair=3, seed=1)
    owner = {p: name for name, photos in people.items() for p in photos}
    assert len(same) == 4 and len(set(same)) == 4  # Ann_Lee has 3 pairs, Bo 1: all of them
    assert all(owner[a] == owner[b] and a != b for a, b in same)
    assert len(different) == 12 and all(owner[a] != owner[b] for a, b in different)
    assert ev.make_pairs(people, 4, 3, seed=1) == (same, different)


def test_pairs_need_people_with_several_photos(tmp_path: Path):
    (tmp_path / "Ann_0001.jpg").write_bytes(b"x")
    with pytest.raises(EmoliveError, match="two or more photos"):
        ev.make_pairs(ev.people_photos(tmp_path), 10, 2)
    with pytest.raises(EmoliveError, match="not found"):
        ev.people_photos(tmp_path / "missing")


def test_tar_at_far():
    different = np.linspace(0.5, 1.5, 200)  # 1% = the 2 closest different pairs may be accepted
    same = np.array([0.2, 0.4, 0.505, 0.515, 0.8])  # the threshold lies between 0.505 and 0.515
    tar, threshold = ev.tar_at_far(same, different, 0.01)
    assert threshold == pytest.approx(different[2])
    assert np.mean(different < threshold) <= 0.01
    assert tar == pytest.approx(3 / 5)
    report = ev.verification_report(same, different, 0.6)
    assert report["tar_at_threshold"] == pytest.approx(4 / 5)  # 0.2, 0.4, 0.505, 0.515 below 0.6
    assert report["far_at_threshold"] == pytest.approx(np.mean(different < 0.6))


def test_bad_arguments_give_one_message(tmp_path: Path):
    args = argparse.Namespace(data=tmp_path, pairs=0, impostors=2, inset=0.0, seed=0, json=False)
    with pytest.raises(EmoliveError, match="--pairs"):
        ev.run(args)


def test_missing_extra_gives_one_message(monkeypatch):
    from emolive.face import embedding

    monkeypatch.setattr(embedding, "models_folder", lambda: None)
    with pytest.raises(EmoliveError, match=r"\[people\] extra"):
        embedding.load_embedder()


def test_dlib_embedding_of_one_face_moved_and_scaled_stays_close():
    pytest.importorskip("dlib")
    from skimage import data

    from emolive.face.embedding import EMBEDDING_DIM, load_embedder, models_folder

    if models_folder() is None:
        pytest.skip("face-recognition-models is not installed")
    import cv2

    embedder = load_embedder()
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:260, 100:340]
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[100:360, 50:290] = face
    small = cv2.resize(face, (160, 173))
    frame[150:323, 420:580] = small
    a, b, outside = embedder.embed(frame, [(90, 130, 160, 170), (447, 168, 107, 114), (700, 10, 50, 50)])
    assert a is not None and b is not None and outside is None
    assert a.shape == (EMBEDDING_DIM,)
    assert np.linalg.norm(a - b) < 0.6  # dlib's same-person rule (measured 0.43 for the smaller copy)
    noise = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    c, = embedder.embed(grey, [(90, 130, 160, 170)])
    d, = embedder.embed(noise, [(90, 130, 160, 170)])
    assert np.linalg.norm(a - c) < 0.6  # a grey frame works too (measured 0.44: colour helps)
    assert np.linalg.norm(a - d) > np.linalg.norm(a - c)


class ColourEmbedder:
    """Stands in for dlib: a face's vector is a fixed projection of the mean colour in its box's centre."""

    def __init__(self) -> None:
        self.projection = np.random.default_rng(0).normal(0, 1, (3, 128)) / np.sqrt(128)
        self.calls = 0

    def embed(self, image, boxes):
        out = []
        for x, y, w, h in boxes:
            self.calls += 1
            patch = image[int(y + h / 3):int(y + 2 * h / 3), int(x + w / 3):int(x + 2 * w / 3)]
            out.append((patch.reshape(-1, 3).mean(axis=0) / 255.0 * 3) @ self.projection if patch.size else None)
        return out


def _colour_people(tmp_path: Path) -> dict[str, list[Path]]:
    import cv2

    rng = np.random.default_rng(1)
    people = {}
    for name, colour in (("Red", (40, 40, 220)), ("Green", (40, 200, 40)), ("Blue", (220, 60, 40))):
        people[name] = []
        for k in range(4):
            image = np.clip(np.array(colour) + rng.normal(0, 6, (96, 96, 3)), 0, 255).astype(np.uint8)
            path = tmp_path / f"{name}_{k + 1:04d}.png"
            cv2.imwrite(str(path), image)
            people[name].append(path)
    return people


def test_scene_score_counts_right_share_and_switches():
    from emolive.evaluation.identity_scenes import score

    got = score({0: [1, 1, 0, 1, 2, 2], 1: [2, 2, 2], 2: [3]}, seconds=30)
    # face 0's main id is 1, face 1 gets 2, face 2 gets 3; face 0 is wrong when it has none or id 2
    assert got["face_rounds"] == 10 and got["right"] == 3 + 3 + 1
    assert got["switches"] == 1 and got["minutes"] == 0.5


def test_rendered_scenes_keep_three_people_apart(tmp_path: Path):
    from emolive.evaluation.identity_scenes import pick_people, render_scene, run_scenes

    people = _colour_people(tmp_path)
    embedder = ColourEmbedder()
    one = render_scene(pick_people(people, 0), 0, embedder)
    assert one["people_made"] == 3
    assert one["right"] >= 0.95 * one["face_rounds"] and one["switches"] <= 1
    assert embedder.calls < one["rounds"] * 3 / 2  # not every face every round
    blind = render_scene(pick_people(people, 0), 0, ColourEmbedder(), IdentitySettings(enabled=False))
    assert blind["people_made"] > 3  # tracks only: the one who came back is somebody new
    totals = run_scenes(people, 1, 0, ColourEmbedder())
    assert totals["right_share"] == pytest.approx(one["right"] / one["face_rounds"])
    with pytest.raises(ValueError, match="fewer than 3 people"):
        pick_people({"A": people["Red"]}, 0)


def test_cost_run_on_a_two_face_clip(tmp_path: Path):
    import cv2
    from skimage import data

    from emolive.evaluation.identity_cost import FPS, _run, two_face_frames

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:260, 100:340]
    paths = (tmp_path / "a.png", tmp_path / "b.png")
    cv2.imwrite(str(paths[0]), face)
    cv2.imwrite(str(paths[1]), face[:, ::-1])
    frames = two_face_frames(paths, 0.5)
    assert len(frames) == FPS // 2 and frames[0].shape == (480, 640, 3)
    assert not np.array_equal(frames[0], frames[-1])  # the faces drift
    embedder = ColourEmbedder()
    on = _run(frames, "on", embedder)
    off = _run(frames, "off", embedder)
    none = _run(frames, "none", embedder)
    assert on["rounds"] >= 1 and on["faces_embedded"] == embedder.calls
    assert off["faces_embedded"] == none["faces_embedded"] == 0 and embedder.calls == on["faces_embedded"]
    assert set(on) == set(off) == set(none) >= {"step_ms_p50", "step_ms_p95", "round_ms_p50", "persons",
                                                "embed_ms_per_face", "embed_ms_per_round", "scored_per_step"}
    assert none["persons"] == 0 and none["scored_per_step"] <= 1.0


def test_crop_around_keeps_the_boxes_content():
    from emolive.face.embedding_process import crop_around

    image = np.arange(480 * 640 * 3, dtype=np.uint32).reshape(480, 640, 3)
    boxes = [(100.0, 50.0, 40.0, 40.0), (300.0, 200.0, 60.0, 60.0), (620.0, 460.0, 40.0, 40.0)]
    part, moved = crop_around(image, boxes, margin=0.5)
    assert part.shape[0] < 480 and part.shape[1] < 640
    for (x, y, w, h), (mx, my, mw, mh) in zip(boxes, moved, strict=True):
        assert (mw, mh) == (w, h)
        assert part[int(my), int(mx)].tolist() == image[int(y), int(x)].tolist()


def test_embedder_process_matches_in_process_and_ends():
    pytest.importorskip("dlib")
    import cv2
    from skimage import data

    from emolive.face.embedding import load_embedder, models_folder
    from emolive.face.embedding_process import NICE, EmbedderProcess

    if models_folder() is None:
        pytest.skip("face-recognition-models is not installed")
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[100:360, 50:290] = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:260, 100:340]
    box = (90.0, 130.0, 160.0, 170.0)
    with EmbedderProcess() as apart:
        far, = apart.embed(frame, [box])
        assert apart.embed(frame, []) == []
        process = apart._process
        if sys.platform.startswith("linux"):  # the child yields the CPU to the steps: a lower priority
            assert os.getpriority(os.PRIO_PROCESS, process.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICE)
    assert not process.is_alive()
    near, = load_embedder().embed(frame, [box])
    assert np.linalg.norm(far - near) < 0.05  # only the part of the frame around the face was sent


def test_rendered_scene_uses_a_real_detector_when_given(tmp_path: Path):
    from emolive.evaluation.identity_scenes import pick_people, render_scene

    class Blind:
        def __init__(self) -> None:
            self.frames = 0

        def detect(self, grey):
            self.frames += 1
            assert grey.ndim == 2
            return []

    blind = Blind()
    got = render_scene(pick_people(_colour_people(tmp_path), 0), 0, ColourEmbedder(), detector=blind)
    assert blind.frames == got["rounds"]
    assert got["right"] == 0 and got["people_made"] == 0 and got["face_rounds"] > 0
