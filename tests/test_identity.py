"""PersonRegistry (emolive/face/identity.py) on synthetic embeddings and boxes run through the IoU tracker:
re-identification after a gap, crossing faces, turning away, tracks-only mode, 'person N'."""

from __future__ import annotations

import numpy as np
import pytest

from emolive.face.detector import Detection
from emolive.face.identity import FaceObservation, IdentitySettings, KnownPerson, PersonRegistry
from emolive.face.tracker import IoUTracker

DIM = 128


def _identities(n: int, seed: int = 0) -> list[np.ndarray]:
    """Unit-ish 128-d centres about 1.0 apart (different people under dlib's 0.6 rule)."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1 / np.sqrt(2 * DIM), DIM) * 1.4 for _ in range(n)]


def _look(centre: np.ndarray, rng: np.random.Generator, spread: float = 0.25) -> np.ndarray:
    """One photo of a person: its centre plus noise of about ``spread`` in norm."""
    return (centre + rng.normal(0, spread / np.sqrt(DIM), DIM)).astype(np.float32)


class Scene:
    """Faces (id -> box per step) through the tracker and the registry, embeddings from the registry's wants."""

    def __init__(self, centres: list[np.ndarray], settings: IdentitySettings | None = None, seed: int = 1):
        self.centres = centres
        self.tracker = IoUTracker(smoothing=1.0)
        self.registry = PersonRegistry(settings)
        self.rng = np.random.default_rng(seed)
        self.embedded = 0

    def step(self, t: float, faces: dict[int, tuple[float, float, float, float]],
             turned: frozenset[int] = frozenset()) -> dict[int, int]:
        """Returns true identity -> person id for the faces visible at ``t``."""
        dets = [Detection(*box, confidence=0.9) for box in faces.values()]
        tracks = self.tracker.update(dets)
        who = {}  # track id -> true identity: the face whose box the track's box overlaps most
        for track in tracks:
            best = max(faces, key=lambda k: _overlap(track.box, faces[k]), default=None)
            if best is not None and _overlap(track.box, faces[best]) > 0.3:
                who[track.track_id] = best
        wanted = self.registry.wanted([(tr.track_id, tuple(tr.box)) for tr in tracks])
        obs = []
        for tr in tracks:
            emb = None
            if tr.track_id in wanted and tr.track_id in who:
                ident = who[tr.track_id]
                # a face turned away gives a poor embedding: far from everyone
                emb = (self.rng.normal(0, 1.0 / np.sqrt(DIM), DIM).astype(np.float32) if ident in turned
                       else _look(self.centres[ident], self.rng))
                self.embedded += 1
            obs.append(FaceObservation(tr.track_id, tuple(tr.box), emb))
        persons = self.registry.update(t, obs)
        return {who[k]: v for k, v in persons.items() if k in who}


def _overlap(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _box(cx: float, cy: float = 240.0, size: float = 100.0) -> tuple[float, float, float, float]:
    return (cx - size / 2, cy - size / 2, size, size)


def test_synthetic_identities_are_apart_and_looks_close():
    c = _identities(3)
    rng = np.random.default_rng(0)
    assert min(np.linalg.norm(c[i] - c[j]) for i in range(3) for j in range(i + 1, 3)) > 0.8
    assert np.linalg.norm(_look(c[0], rng) - _look(c[0], rng)) < 0.5


def test_new_faces_get_person_n_in_order():
    scene = Scene(_identities(2))
    got = scene.step(0.0, {0: _box(150), 1: _box(450)})
    assert sorted(got.values()) == [1, 2]
    assert PersonRegistry.label(got[0]) == f"person {got[0]}"


def test_reidentified_after_leaving_for_three_seconds():
    scene = Scene(_identities(2))
    first = {}
    for k in range(30):  # 3 s together, 10 rounds per second
        first = scene.step(k / 10, {0: _box(150), 1: _box(450)})
    for k in range(30, 60):  # face 1 leaves for 3 s
        assert scene.step(k / 10, {0: _box(150)}) == {0: first[0]}
    back = {}
    for k in range(60, 70):  # it comes back on the other side: a new track, far from where it left
        back = scene.step(k / 10, {0: _box(150), 1: _box(320, 100)})
    assert back == first
    assert scene.registry.person_ids == [1, 2]


def test_a_new_person_is_not_mistaken_for_one_who_left():
    c = _identities(3)
    scene = Scene(c)
    for k in range(20):
        first = scene.step(k / 10, {0: _box(150), 1: _box(450)})
    for k in range(20, 50):
        scene.step(k / 10, {0: _box(150)})
    got = {}
    for k in range(50, 55):  # a third person steps in where person 1 stood
        got = scene.step(k / 10, {0: _box(150), 2: _box(450)})
    assert got[0] == first[0]
    assert got[2] not in first.values()
    assert PersonRegistry.label(got[2]) == "person 3"


def test_crossing_faces_keep_their_persons():
    scene = Scene(_identities(2), seed=3)
    ids = scene.step(0.0, {0: _box(100), 1: _box(540)})
    wrong = 0
    for k in range(1, 41):  # they walk past each other at the same height: the boxes overlap mid-way
        x = 100 + 440 * k / 40
        got = scene.step(k / 10, {0: _box(x), 1: _box(640 - x)})
        wrong += sum(got.get(i) not in (None, ids[i]) for i in (0, 1))
    final = scene.step(4.1, {0: _box(540), 1: _box(100)})
    assert final == ids
    assert wrong <= 2  # at most a round or two while the boxes lie on top of each other


def test_swapped_tracks_are_put_right_by_the_embeddings():
    """The tracker keeps boxes, not faces: when two faces jump places between rounds the tracks swap."""
    scene = Scene(_identities(2), seed=4)
    ids = scene.step(0.0, {0: _box(200), 1: _box(440)})
    for k in range(1, 4):
        scene.step(k / 10, {0: _box(200), 1: _box(440)})
    got = {}
    for k in range(4, 8):  # tracks follow the boxes, so track A now holds face 1; embeddings say otherwise
        got = scene.step(k / 10, {0: _box(440), 1: _box(200)})
    assert got == ids


def test_turning_away_keeps_the_person():
    scene = Scene(_identities(2), seed=5)
    ids = scene.step(0.0, {0: _box(150), 1: _box(450)})
    for k in range(1, 30):  # face 0 turns away: its embeddings are worthless for 3 s, its track goes on
        got = scene.step(k / 10, {0: _box(150), 1: _box(450)}, turned=frozenset({0}))
        assert got == ids
    assert scene.registry.person_ids == [1, 2]


def test_a_blink_of_the_detector_resumes_by_place():
    """A track lost for a moment restarts near where it was: the person resumes even before an embedding."""
    reg = PersonRegistry()
    rng = np.random.default_rng(0)
    c = _identities(1)
    first = reg.update(0.0, [FaceObservation(1, _box(200), _look(c[0], rng))])
    reg.update(0.1, [])
    assert reg.update(0.3, [FaceObservation(2, _box(210), None)]) == {2: first[1]}


def test_embeddings_are_asked_for_new_crowded_and_stale_tracks_only():
    reg = PersonRegistry(IdentitySettings(refresh_rounds=3))
    rng = np.random.default_rng(0)
    c = _identities(2)
    assert reg.wanted([(1, _box(150)), (2, _box(450))]) == {1, 2}
    reg.update(0.0, [FaceObservation(1, _box(150), _look(c[0], rng)), FaceObservation(2, _box(450), _look(c[1], rng))])
    assert reg.wanted([(1, _box(150)), (2, _box(450))]) == set()
    reg.update(0.1, [FaceObservation(1, _box(150)), FaceObservation(2, _box(450))])
    assert reg.wanted([(1, _box(150)), (2, _box(450))]) == set()
    reg.update(0.2, [FaceObservation(1, _box(150)), FaceObservation(2, _box(450))])
    assert reg.wanted([(1, _box(150)), (2, _box(450))]) == {1, 2}  # every third round
    assert reg.wanted([(1, _box(150)), (2, _box(200)), (3, _box(600))]) == {1, 2, 3}


def test_saving_work_the_scene_embeds_far_fewer_faces_than_rounds():
    scene = Scene(_identities(2))
    for k in range(50):
        scene.step(k / 10, {0: _box(150), 1: _box(450)})
    assert scene.embedded <= 2 * 50 / IdentitySettings().refresh_rounds + 2


def test_identities_off_gives_tracks_only():
    scene = Scene(_identities(2), IdentitySettings(enabled=False))
    first = scene.step(0.0, {0: _box(150), 1: _box(450)})
    for k in range(1, 10):
        scene.step(k / 10, {0: _box(150)})
    back = scene.step(1.0, {0: _box(150), 1: _box(450)})
    assert back[0] == first[0]
    assert back[1] not in first.values()  # not recognised: a new track is a new person
    assert scene.embedded == 0


def test_empty_round_and_reset():
    reg = PersonRegistry()
    assert reg.update(0.0, []) == {}
    reg.update(0.1, [FaceObservation(1, _box(100), _identities(1)[0])])
    reg.reset()
    assert reg.person_ids == []
    assert reg.update(0.2, [FaceObservation(5, _box(100), _identities(1)[0])]) == {5: 1}


class ScriptedDetector:
    """Finds the faces ``script`` lists for the current frame (by index), around known faces or not."""

    def __init__(self) -> None:
        self.faces: list[tuple[float, float, float, float]] = []

    def detect(self, grey):
        return [Detection(*box, confidence=0.9) for box in self.faces]

    def detect_near(self, grey, box, margin=0.6, face_px=40):
        near = [d for d in self.detect(grey) if abs(d.x - box[0]) < box[2] and abs(d.y - box[1]) < box[3]]
        return near[:1]


class PaintedEmbedder:
    """The identity painted into the frame: face k is a box filled with grey level 40 * (k + 1)."""

    def __init__(self) -> None:
        self.centres = _identities(4, seed=7)
        self.calls = 0

    def embed(self, image, boxes):
        self.calls += len(boxes)
        out = []
        for x, y, w, h in boxes:
            level = float(np.median(image[int(y + h / 3):int(y + 2 * h / 3), int(x + w / 3):int(x + 2 * w / 3), 0]))
            out.append(self.centres[int(round(level / 40)) - 1].astype(np.float32))
        return out


def _painted(faces: dict[int, tuple[float, float, float, float]]) -> np.ndarray:
    image = np.zeros((480, 640, 3), np.uint8)
    for k, (x, y, w, h) in faces.items():
        image[int(y):int(y + h), int(x):int(x + w)] = 40 * (k + 1)
    return image


@pytest.mark.parametrize("threaded", [False, True])
def test_face_channel_keeps_persons_across_a_gap(threaded):
    from emolive.core.contracts import VideoFrame
    from emolive.face.channel import FaceChannel

    detector, embedder = ScriptedDetector(), PaintedEmbedder()
    channel = FaceChannel(detect_every=1, detector=detector, identities=PersonRegistry(), embedder=embedder)
    if threaded:
        channel.start_detection_thread()

    def show(index: int, faces: dict[int, tuple[float, float, float, float]]) -> dict[int, int]:
        detector.faces = list(faces.values())
        channel.process(VideoFrame(index / 10, index, _painted(faces)))
        if threaded:  # both threads done before the next frame applies their results
            channel._detection_thread.wait_idle(5.0)
            channel._identity_thread.wait_idle(5.0)
            channel.process(VideoFrame((index + 0.5) / 10, index, _painted(faces)), detect=False)
        by_track = {tuple(np.round(t.box)): t.track_id for t in channel.tracker.tracks}
        return {k: channel.persons.get(by_track.get(tuple(np.round(np.array(box, float))), -1)) for k, box in
                faces.items()}

    try:
        both = {0: _box(150), 1: _box(450)}
        for i in range(4):
            first = show(i, both)
        assert sorted(first.values()) == [1, 2]
        for i in range(4, 40):  # face 1 is gone for 3.6 s: its track dies
            show(i, {0: _box(150)})
        for i in range(40, 44):
            back = show(i, {0: _box(150), 1: _box(320, 100)})
        assert back == first
        assert embedder.calls < 44 * 2 / 2  # the registry asks for a fraction of the faces
    finally:
        channel.stop_detection_thread()


def test_names_replace_the_default_label_until_cleared_or_reset():
    registry = PersonRegistry()
    registry.set_name(2, "  Dr   Ames ")
    assert registry.name_of(2) == "Dr Ames"
    assert registry.name_of(3) == "person 3"
    registry.set_name(2, "")
    assert registry.name_of(2) == "person 2"
    registry.set_name(2, "Ames")
    registry.reset()
    assert registry.name_of(2) == "person 2"


def test_named_persons_are_exported_and_recognised_in_the_next_session():
    centres = _identities(3)
    first = Scene(centres)
    for k in range(10):
        got = first.step(k / 10, {0: _box(150), 1: _box(450)})
    first.registry.set_name(got[0], "Ames")  # person of face 0 named; face 1 stays "person N"
    known = first.registry.export_people()
    assert [(k.person_id, k.name) for k in known] == [(got[0], "Ames")]
    assert known[0].exemplars and known[0].exemplars[0].shape == (DIM,)

    second = Scene(centres, seed=7)  # a new session: face 2 arrives first, then face 0 on the other side
    second.registry.import_people(known)
    assert second.registry.name_of(got[0]) == "Ames"
    for k in range(5):
        newcomer = second.step(k / 10, {2: _box(150)})
    assert newcomer[2] != got[0]
    for k in range(5, 15):
        back = second.step(k / 10, {2: _box(150), 0: _box(450)})
    assert back[0] == got[0]
    assert second.registry.name_of(back[0]) == "Ames"


def test_known_persons_survive_reset_and_new_ids_follow_them():
    registry = PersonRegistry()
    vec = _identities(1)[0].astype(np.float32)
    registry.import_people([KnownPerson(4, " Dr  Ames ", (vec,)), KnownPerson(2, "no looks", ())])
    registry.reset()
    assert registry.person_ids == [4]  # a person without embeddings cannot be recognised: left out
    assert registry.name_of(4) == "Dr Ames"
    got = registry.update(0.0, [FaceObservation(1, _box(300), _identities(2, seed=9)[1].astype(np.float32))])
    assert got == {1: 5}
    registry.set_name(4, "")  # a cleared name is no longer exported
    assert registry.export_people() == []


def test_importing_nobody_keeps_the_session_s_persons():
    registry = PersonRegistry()
    registry.update(0.0, [FaceObservation(1, _box(300), _identities(1)[0].astype(np.float32))])
    registry.set_name(1, "Ames")
    registry.import_people([])  # no saved people: the persons found so far stay
    assert registry.person_ids == [1] and registry.name_of(1) == "Ames"
