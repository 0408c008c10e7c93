"""Several people through the real FaceChannel and inference worker (#40): persons kept across a gap, the primary
person, one face giving the same values as without identities, identities off or missing -> tracks only.

Faces are drawn squares of their own colour; a blob detector finds them and a stub embedder turns a square's
colour into its identity vector, so the tracker, the registry, the CNN and the worker are the real ones.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from emolive.config import InferenceConfig
from emolive.core.contracts import VideoFrame
from emolive.core.errors import ModelError
from emolive.core.rings import AudioRing, FrameRing
from emolive.face.channel import FaceChannel
from emolive.face.detector import Detection
from emolive.face.people import LazyEmbedder, people_parts
from emolive.fusion.fuser import Fuser
from emolive.runtime.worker import InferenceWorker

SIDE = 120
COLOURS = {"a": (40, 60, 200), "b": (200, 120, 30), "c": (60, 190, 60)}


class BlobDetector:
    """Finds the bright squares of a frame (every non-black region)."""

    def detect(self, grey: np.ndarray) -> list[Detection]:
        contours, _ = cv2.findContours((grey > 10).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return [Detection(*map(float, cv2.boundingRect(c)), 0.9) for c in contours if cv2.contourArea(c) > 400]

    def detect_near(self, grey: np.ndarray, box, margin: float = 0.6) -> list[Detection]:
        x, y, w, h = box
        return [d for d in self.detect(grey) if abs(d.x - x) < margin * w and abs(d.y - y) < margin * h]


class ColourEmbedder:
    """A square's identity is its mean colour (same colour: distance 0; these colours: far above 0.6)."""

    def __init__(self) -> None:
        self.faces = 0

    def embed(self, image: np.ndarray, boxes) -> list[np.ndarray | None]:
        self.faces += len(boxes)
        out = []
        for x, y, w, h in boxes:
            patch = image[int(y) + 10:int(y + h) - 10, int(x) + 10:int(x + w) - 10].reshape(-1, 3)
            vec = np.zeros(128, np.float32)
            vec[:3] = patch.mean(axis=0) / 64.0
            out.append(vec)
        return out


def frame(faces: dict[str, tuple[int, int]], t: float, index: int) -> VideoFrame:
    image = np.zeros((480, 640, 3), np.uint8)
    rng = np.random.default_rng(index)
    for name, (x, y) in faces.items():
        patch = np.full((SIDE, SIDE, 3), COLOURS[name], np.uint8)
        patch[30:50, 25:45] = patch[30:50, 75:95] = 20  # eyes and a mouth: something for the CNN to look at
        patch[80:92, 35:85] = 20
        image[y:y + SIDE, x:x + SIDE] = np.clip(patch + rng.integers(0, 8, patch.shape), 0, 255).astype(np.uint8)
    return VideoFrame(t=t, index=index, image=image)


def channel(identities: bool = True, embedder=None, max_faces: int = 4) -> FaceChannel:
    registry, _ = people_parts(identities, installed=lambda: True)
    return FaceChannel(detect_every=1, threads=1, detector=BlobDetector(), identities=registry,
                       embedder=(embedder or ColourEmbedder()) if identities else None, max_faces=max_faces)


def script(seconds_apart: float = 3.0) -> list[dict[str, tuple[int, int]]]:
    """a and b side by side (1 s), b alone (``seconds_apart``), then a back on the other side of b."""
    both = [{"a": (60, 150), "b": (360, 160)}] * 10
    alone = [{"b": (360, 160)}] * int(seconds_apart * 10)
    back = [{"a": (500, 300), "b": (360, 160)}] * 10
    return both + alone + back


def run(face: FaceChannel, steps: list[dict[str, tuple[int, int]]]):
    seen = []
    for i, faces in enumerate(steps):
        out, boxes = face.process(frame(faces, i / 10, i))
        seen.append((out, boxes, face.people))
    return seen


def person_at(boxes, x: int) -> tuple[int | None, int]:
    box = min(boxes, key=lambda b: abs(b.x - x))
    return box.person_id, box.track_id


def test_a_person_keeps_their_id_after_leaving_for_three_seconds():
    seen = run(channel(), script(3.0))
    a_before, track_before = person_at(seen[9][1], 60)
    b_before, _ = person_at(seen[9][1], 360)
    a_after, track_after = person_at(seen[-1][1], 500)
    b_after, _ = person_at(seen[-1][1], 360)
    assert a_before is not None and b_before is not None and a_before != b_before
    assert track_after != track_before  # a new track: only the identity can bring the person back
    assert (a_after, b_after) == (a_before, b_before)
    assert seen[-1][1][0].person == f"person {seen[-1][1][0].person_id}"


def test_identities_off_gives_tracks_only():
    seen = run(channel(identities=False), script(3.0))
    a_before, _ = person_at(seen[9][1], 60)
    a_after, _ = person_at(seen[-1][1], 500)
    assert a_before is not None and a_after is not None and a_after != a_before


def test_every_scored_person_has_an_estimate_and_the_primary_is_the_channel_output():
    face = channel()
    seen = run(face, script(0.5))
    out, boxes, people = seen[-1]
    assert len(people) == 2 and people[0].primary and not people[1].primary
    assert people[0].face == out and people[0].box == boxes[0]
    assert {p.person_id for p in people} == {b.person_id for b in boxes}
    assert people[0].face.emotion != people[1].face.emotion  # each scored on their own crop
    face.pin(people[1].person_id)
    out2, boxes2 = face.process(frame(script(0.5)[-1], 9.9, 999))
    assert face.people[0].person_id == people[1].person_id and face.people[0].primary
    assert out2 == face.people[0].face and boxes2[0].person_id == people[1].person_id
    face.pin(None)
    face.process(frame(script(0.5)[-1], 10.0, 1000))
    assert face.people[0].person_id == people[0].person_id  # the largest, most central again


def test_max_faces_limits_the_scored_persons_but_every_face_is_boxed():
    steps = [{"a": (20, 100), "b": (250, 100), "c": (480, 100)}] * 5
    face = channel(max_faces=2)
    out, boxes, people = run(face, steps)[-1]
    assert len(boxes) == 3 and len(people) == 2


def test_one_face_gives_the_same_values_as_without_identities():
    steps = [{"b": (300 + 3 * i, 160)} for i in range(12)]
    plain = FaceChannel(detect_every=1, threads=1, detector=BlobDetector())
    with_people = channel()
    for (out_a, boxes_a, _), (out_b, boxes_b, _) in zip(run(plain, steps), run(with_people, steps), strict=True):
        assert out_a.emotion == out_b.emotion and out_a.quality == out_b.quality
        assert np.array_equal(out_a.embedding, out_b.embedding)
        assert [(b.x, b.y, b.w, b.h, b.track_id) for b in boxes_a] == [(b.x, b.y, b.w, b.h, b.track_id)
                                                                       for b in boxes_b]
    assert boxes_a[0].person_id is None and boxes_b[0].person == "person 1" and with_people.people[0].primary


def test_one_face_alone_is_embedded_once_not_refreshed():
    embedder = ColourEmbedder()
    run(channel(embedder=embedder), [{"b": (300, 160)}] * 30)
    assert embedder.faces == 1


def test_missing_identity_package_means_tracks_only_with_one_log_line(caplog):
    with caplog.at_level(logging.WARNING):
        registry, embedder = people_parts(True, installed=lambda: False)
    assert embedder is None and not registry.settings.enabled
    assert len(caplog.records) == 1 and "[people]" in caplog.records[0].getMessage()


def test_an_embedder_that_cannot_start_switches_identities_off_without_a_traceback(caplog):
    def broken():
        raise ModelError("face identities need the [people] extra")

    face = channel(embedder=LazyEmbedder(broken))
    with caplog.at_level(logging.WARNING):
        seen = run(face, script(0.5))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and "tracks only" in r.getMessage()]
    assert not any(r.exc_info for r in caplog.records)
    assert all(out.present for out, _, _ in seen)
    assert seen[-1][1][0].person_id is not None  # tracks only: persons are tracks
    assert not face.identities.settings.enabled


def test_worker_publishes_people_and_fuses_the_pinned_person():
    face = channel()
    frames = FrameRing(8)
    worker = InferenceWorker(frames, AudioRing(2.0), Fuser(smoothing_s=0), InferenceConfig(), face=face)
    steps = script(0.5)
    estimates = []
    for i, faces in enumerate(steps):
        frames.write(frame(faces, i / 10, i))
        if i == len(steps) - 3:
            estimates.append(worker.step(i / 10))
            first, second = estimates[-1].people
            worker.set_primary(second.person_id)
            worker.set_person_name(second.person_id, "  Ada  ")
            continue
        estimates.append(worker.step(i / 10))
    last = estimates[-1]
    assert [p.primary for p in last.people] == [True, False]
    assert last.people[0].person_id == second.person_id and last.people[0].name == "Ada"
    assert last.faces[0].person == "Ada" and last.modality("face") == last.people[0].face
    assert first.person_id == last.people[1].person_id


@pytest.mark.parametrize("identities", [True, False])
def test_worker_state_keeps_the_people(identities):
    face = channel(identities=identities)
    frames = FrameRing(8)
    worker = InferenceWorker(frames, AudioRing(2.0), Fuser(smoothing_s=0), InferenceConfig(), face=face)
    for i, faces in enumerate(script(0.5)[:8]):
        frames.write(frame(faces, i / 10, i))
        worker.step(i / 10)
    state = worker.state()
    other = InferenceWorker(FrameRing(8), AudioRing(2.0), Fuser(smoothing_s=0), InferenceConfig())
    other.restore(state)
    assert other.step(1.0).people == worker.step(1.0).people != ()


def test_the_real_embedder_brings_the_demo_face_back_as_the_same_person(demo_clip):
    from emolive.face.people import identities_installed

    if not identities_installed():
        pytest.skip("the [people] extra (dlib) is not installed")
    import av

    with av.open(str(demo_clip)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="bgr24")
    blank = np.full_like(image, 120)
    moved = np.roll(image, image.shape[1] // 4, axis=1)
    registry, embedder = people_parts(True)
    face = FaceChannel(detect_every=1, threads=1, identities=registry, embedder=embedder)
    try:
        seen = [face.process(VideoFrame(i / 10, i, img))[1]
                for i, img in enumerate([image] * 4 + [blank] * 25 + [moved] * 4)]
    finally:
        face.close_embedder()
    before, after = seen[3], seen[-1]
    assert len(before) == 1 and len(after) == 1 and seen[10] == ()
    assert before[0].track_id != after[0].track_id
    assert before[0].person_id == after[0].person_id == 1 and embedder.start_s is not None


def test_add_people_gives_a_preloaded_face_channel_its_persons_once(monkeypatch, caplog):
    from emolive.config import PeopleConfig
    from emolive.face import people
    from emolive.runtime.channels import Channels, add_people

    monkeypatch.setattr(people, "identities_installed", lambda: False)
    face = FaceChannel(detect_every=1, threads=1, detector=BlobDetector())
    channels = Channels(face=face)
    with caplog.at_level(logging.WARNING):
        add_people(channels, PeopleConfig(identities=True, max_faces=2))
    registry = face.identities
    assert registry is not None and not registry.settings.enabled and face.embedder is None and face.max_faces == 2
    assert len([r for r in caplog.records if "[people]" in r.getMessage()]) == 1
    add_people(channels, PeopleConfig(identities=False, max_faces=3))
    assert face.identities is registry and face.max_faces == 2  # kept: given once


def test_a_model_swap_keeps_the_persons_names_and_pin():
    face = channel()
    frames = FrameRing(8)
    worker = InferenceWorker(frames, AudioRing(2.0), Fuser(smoothing_s=0), InferenceConfig(), face=face)
    steps = script(0.5)
    for i, faces in enumerate(steps[:12]):
        frames.write(frame(faces, i / 10, i))
        worker.step(i / 10)
    second = worker.step(1.2).people[1].person_id
    worker.set_person_name(second, "Ada")
    worker.set_primary(second)
    worker.step(1.25)
    new = FaceChannel(detect_every=1, threads=1, detector=BlobDetector())
    worker.swap(new, None, None, Fuser(smoothing_s=0))
    for i, faces in enumerate(steps[12:20], start=12):
        frames.write(frame(faces, i / 10, i))
        last = worker.step(i / 10)
    assert new.identities is face.identities and last.people[0].name == "Ada" and last.people[0].primary


def test_a_restored_channel_keeps_the_persons_as_an_uninterrupted_run():
    from emolive.core.snapshot import flatten, unflatten

    steps = script(3.0)
    whole = run(channel(), steps)
    first = channel()
    run(first, steps[:12])
    tree, arrays = flatten(first.state())
    second = channel()
    second.restore(unflatten(tree, arrays))
    rest = [second.process(frame(faces, i / 10, i))[1] for i, faces in enumerate(steps[12:], start=12)]
    assert rest == [boxes for _, boxes, _ in whole[12:]]
    assert {b.person_id for b in rest[-1]} == {1, 2}


def test_a_daemonic_process_embeds_in_itself_instead_of_starting_a_child(monkeypatch):
    import multiprocessing
    from types import SimpleNamespace

    from emolive.face import embedding

    made = []
    monkeypatch.setattr(multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True))
    monkeypatch.setattr(embedding, "load_embedder", lambda: made.append(ColourEmbedder()) or made[-1])
    lazy = LazyEmbedder()
    vectors = lazy.embed(frame({"a": (60, 150)}, 0.0, 0).image, [(60.0, 150.0, 120.0, 120.0)])
    assert len(made) == 1 and made[0].faces == 1 and vectors[0] is not None
