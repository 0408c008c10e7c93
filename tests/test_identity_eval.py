"""The identity embedding (dlib, [people] extra; skipped without it) and `emolive eval identity`'s pairs/metrics."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from emolive.core.errors import EmoliveError
from emolive.evaluation import identity as ev


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
