"""Rendered scenes of three people for `emolive eval identity --scenes N`: persons kept right over time.

Each scene (20 s, 10 detection rounds per second, 640x480) pastes photos of three different people: two walk
across at nearly one height and cross twice (the second drawn over the first), the third stands at the top,
leaves for 3 s and comes back elsewhere. Every 2 s each face changes to another photo of the same person (a new
look). By default the detector is an oracle: each face at least 60% unhidden is found at its box plus 3 px noise
(a face more hidden is not counted); with a real detector (``detector``: MTCNN or Haar, a full scan each round)
its detections are used and the faces at least 60% unhidden are those scored. The IoU tracker, the identity
embedder and the ``PersonRegistry`` are the real ones. Scores: the share of found face-rounds whose person id
is that face's main person (the id it carried most, distinct per face; no person, or not found by the real
detector, counts as wrong), and person id switches per minute (a face's id changing between two rounds that both
have one).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from emolive.face.detector import Detection
from emolive.face.identity import FaceObservation, IdentitySettings, PersonRegistry
from emolive.face.tracker import IoUTracker, iou

W, H, SIDE = 640, 480, 110
SECONDS, RATE, LOOK_S = 20.0, 10, 2.0
AWAY = (6.0, 9.0)  # the third person is out of view


class Detector(Protocol):
    def detect(self, grey: np.ndarray) -> list[Detection]: ...


class Embedder(Protocol):
    def embed(self, image: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> list[np.ndarray | None]: ...


def positions(t: float) -> dict[int, tuple[float, float] | None]:
    """Top-left corner of each face at ``t`` (None: out of view)."""
    phase = np.sin(2 * np.pi * t / SECONDS)  # 0 -> 1 -> 0 -> -1 -> 0: two crossings at t = 0 and 10 s
    xa = (W - SIDE) / 2 + 0.4 * (W - SIDE) * phase
    xb = (W - SIDE) / 2 - 0.4 * (W - SIDE) * phase
    out: dict[int, tuple[float, float] | None] = {0: (xa, 300.0), 1: (xb, 318.0)}
    out[2] = None if AWAY[0] <= t < AWAY[1] else ((60.0 if t < AWAY[0] else 420.0) + 10 * np.sin(t), 40.0)
    return out


def render_scene(photos: list[list[Path]], seed: int, embedder: Embedder,
                 settings: IdentitySettings | None = None, detector: Detector | None = None) -> dict[str, Any]:
    """Run one scene with ``photos[k]`` the photos of person k (3 people); returns its counts and costs."""
    rng = np.random.default_rng(seed)
    looks = [[cv2.resize(cv2.imread(str(p)), (SIDE, SIDE)) for p in person] for person in photos]
    background = rng.integers(90, 150, (H, W, 3), dtype=np.uint8)
    tracker, registry = IoUTracker(), PersonRegistry(settings)
    history: dict[int, list[int]] = {k: [] for k in range(3)}  # person id per round the face is found; 0: none
    embed_s, embedded, rounds = 0.0, 0, int(SECONDS * RATE)
    for r in range(rounds):
        t = r / RATE
        frame, boxes = _draw(background, looks, t)
        noise = rng.normal(0, 3, (len(boxes), 2))  # drawn either way: the scenes stay the same
        dets = ([Detection(x + dx, y + dy, SIDE, SIDE, 0.9) for (x, y), (dx, dy) in zip(boxes.values(), noise,
                                                                                        strict=True)]
                if detector is None else detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)))
        tracks = tracker.update(dets)
        wanted = registry.wanted([(tr.track_id, tuple(tr.box)) for tr in tracks])
        todo = [tr for tr in tracks if tr.track_id in wanted]
        started = time.perf_counter()
        vectors = embedder.embed(frame, [tuple(float(v) for v in tr.box) for tr in todo]) if todo else []
        embed_s += time.perf_counter() - started
        embedded += len(todo)
        given = {tr.track_id: v for tr, v in zip(todo, vectors, strict=True)}
        persons = registry.update(t, [FaceObservation(tr.track_id, tuple(tr.box), given.get(tr.track_id))
                                      for tr in tracks])
        for k, (x, y) in boxes.items():
            truth = np.array([x, y, SIDE, SIDE], dtype=float)
            best = max(tracks, key=lambda tr, b=truth: iou(tr.box, b), default=None)
            found = best is not None and iou(best.box, truth) > 0.3
            history[k].append(persons.get(best.track_id, 0) if found else 0)
    return {**score(history, SECONDS), "rounds": rounds, "embedded": embedded, "embed_s": embed_s,
            "people_made": len(registry.person_ids)}


def _draw(background: np.ndarray, looks: list[list[np.ndarray]], t: float
          ) -> tuple[np.ndarray, dict[int, tuple[float, float]]]:
    """The frame at ``t`` and the boxes of the faces that are at least 60% unhidden."""
    frame = background.copy()
    place = {k: p for k, p in positions(t).items() if p is not None}
    drawn: list[tuple[int, int, int]] = []
    for k in (2, 0, 1):  # later ones hide earlier ones
        if k not in place:
            continue
        x, y = int(round(place[k][0])), int(round(place[k][1]))
        person = looks[k]
        frame[y:y + SIDE, x:x + SIDE] = person[int(t // LOOK_S) % len(person)]
        drawn.append((k, x, y))
    visible = {}
    for i, (k, x, y) in enumerate(drawn):
        mask = np.ones((SIDE, SIDE), bool)
        for _, ox, oy in drawn[i + 1:]:
            mask[max(0, oy - y):max(0, oy - y + SIDE), max(0, ox - x):max(0, ox - x + SIDE)] = False
        if mask.mean() >= 0.6:
            visible[k] = place[k]
    return frame, visible


def score(history: dict[int, list[int]], seconds: float) -> dict[str, Any]:
    """Right share and switches from each face's person ids over the rounds it could be found (0: no person,
    counted as not right)."""
    main: dict[int, int | None] = {}
    taken: set[int] = set()
    for k, ids in history.items():
        counts = Counter(i for i in ids if i)
        best = next((pid for pid, _ in counts.most_common() if pid not in taken), None)
        main[k] = best
        if best is not None:
            taken.add(best)
    found = right = switches = 0
    for k, ids in history.items():
        previous = None
        for pid in ids:
            found += 1
            right += int(pid == main[k])
            if not pid:
                continue
            switches += int(previous is not None and pid != previous)
            previous = pid
    return {"face_rounds": found, "right": right, "switches": switches, "minutes": seconds / 60}


def pick_people(people: dict[str, list[Path]], seed: int, looks: int = 4) -> list[list[Path]]:
    """Three different people with at least ``looks`` photos each, ``looks`` photos of each."""
    rng = random.Random(seed)
    many = sorted(name for name, photos in people.items() if len(photos) >= looks)
    if len(many) < 3:
        raise ValueError(f"fewer than 3 people with {looks} or more photos")
    return [sorted(rng.sample(people[name], looks)) for name in rng.sample(many, 3)]


def run_scenes(people: dict[str, list[Path]], n: int, seed: int, embedder: Embedder,
               settings: IdentitySettings | None = None, detector: Detector | None = None) -> dict[str, Any]:
    """``n`` scenes with different people; totals as shares and rates."""
    runs = [render_scene(pick_people(people, seed + i), seed + i, embedder, settings, detector) for i in range(n)]
    total = {key: sum(r[key] for r in runs) for key in ("face_rounds", "right", "switches", "minutes", "rounds",
                                                          "embedded", "embed_s")}
    return {"scenes": n, "right_share": total["right"] / max(1, total["face_rounds"]),
            "switches_per_minute": total["switches"] / max(1e-9, total["minutes"]),
            "faces_embedded_per_round": total["embedded"] / max(1, total["rounds"]),
            "embed_ms_per_round": 1000 * total["embed_s"] / max(1, total["rounds"]),
            "people_made_per_scene": [r["people_made"] for r in runs]}
