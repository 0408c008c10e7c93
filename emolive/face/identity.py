"""Persons that persist across tracks: face-identity embeddings plus the tracker's geometry (pure, no I/O).

The tracker's ids break whenever a face is lost for a moment; a ``PersonRegistry`` maps each live track to a
person who outlives it. Once per detection round the caller passes every live track's box and, for the tracks
``wanted`` names, an identity embedding (``emolive.face.embedding``); ``update`` then assigns persons jointly
(one person per track, one track per person, Hungarian assignment):

- a track keeps its person unless another person's embedding is closer by more than ``keep_bonus`` (so two
  faces whose tracks swapped while crossing get their persons back, and a face turned away keeps its person);
- a new track takes a person not in view whose embedding lies within ``match_distance`` (leaving and coming
  back), or one lost less than ``recent_s`` ago near the same place (a blink of the detector);
- otherwise a clean embedding starts ``person N``. Faces that overlap another face (crossing) neither start
  persons nor teach their person new looks: their embeddings are mixed.

``IdentitySettings(enabled=False)`` gives tracks only: each new track is a new person, nothing is embedded.

Named persons can be carried to another session: ``export_people`` gives them as ``KnownPerson`` (id, name,
reference embeddings), ``import_people`` takes them back; they then survive ``reset``. Storing them is
``emolive.face.identity_store``'s job. Every public method holds one lock: the detection thread updates while the
GUI names, pins and exports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x, y, w, h in frame pixels
_NO = 1e6  # cost of a forbidden pairing


def _assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-cost pairing of rows with columns (``scipy.optimize.linear_sum_assignment``); one row (one face)
    takes its cheapest column, which is that function's answer (ties too: the first), without importing SciPy."""
    if cost.shape[0] == 1:
        return np.zeros(1, dtype=np.intp), np.argmin(cost, axis=1)
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(cost)


@dataclass(frozen=True)
class IdentitySettings:
    """Thresholds in embedding distance (Euclidean; dlib's vectors: same person below about 0.6)."""

    enabled: bool = True
    match_distance: float = 0.6
    keep_bonus: float = 0.1
    gallery_size: int = 12
    gallery_min_gap: float = 0.12
    crowd_margin: float = 0.2
    recent_s: float = 2.0
    recent_reach: float = 1.0
    refresh_rounds: int = 5
    max_people: int = 32


@dataclass(frozen=True)
class FaceObservation:
    """One live track in a detection round; ``embedding`` None when it was not computed this round."""

    track_id: int
    box: Box
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class KnownPerson:
    """A person to recognise in a later session: their id, the user's name and reference embeddings."""

    person_id: int
    name: str
    exemplars: tuple[np.ndarray, ...]


@dataclass
class _Person:
    person_id: int
    exemplars: list[np.ndarray] = field(default_factory=list)
    last_seen: float = 0.0
    last_box: Box = (0.0, 0.0, 0.0, 0.0)
    track_id: int | None = None
    _next_slot: int = 1

    def distance(self, vec: np.ndarray) -> float:
        if not self.exemplars:
            return float("inf")
        return float(min(np.linalg.norm(e - vec) for e in self.exemplars))

    def learn(self, vec: np.ndarray, size: int, min_gap: float) -> None:
        """Keep the first look; later looks that differ by ``min_gap`` fill the other slots in turn."""
        if self.exemplars and self.distance(vec) < min_gap:
            return
        if len(self.exemplars) < size:
            self.exemplars.append(vec)
            return
        if size > 1:
            self.exemplars[self._next_slot] = vec
            self._next_slot = 1 + self._next_slot % (size - 1)


def _crowded(boxes: list[Box], margin: float) -> list[bool]:
    """Whether each box, grown by ``margin`` x its size, overlaps another box."""
    grown = [(x - margin * w, y - margin * h, x + w * (1 + margin), y + h * (1 + margin)) for x, y, w, h in boxes]
    out = [False] * len(boxes)
    for i, a in enumerate(grown):
        for j in range(i + 1, len(grown)):
            b = grown[j]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                out[i] = out[j] = True
    return out


class PersonRegistry:
    """Maps live tracks to persons within a session (see the module's docstring)."""

    def __init__(self, settings: IdentitySettings | None = None) -> None:
        self.settings = settings or IdentitySettings()
        self._people: dict[int, _Person] = {}
        self._next_id = 1
        self._round = 0
        self._embedded_at: dict[int, int] = {}  # track id -> round of its last embedding
        self._names: dict[int, str] = {}  # person id -> the name the user gave
        self._known: tuple[KnownPerson, ...] = ()  # persons from an earlier session: they survive reset
        self._lock = threading.RLock()

    def reset(self) -> None:
        """Forget every person of this session (ids restart at 1, or after the known persons, who stay)."""
        with self._lock:
            self._people.clear()
            self._embedded_at.clear()
            self._names.clear()
            self._next_id = 1
            self._round = 0
            for known in self._known:
                self._people[known.person_id] = _Person(known.person_id, [np.array(e, np.float32)
                                                                          for e in known.exemplars],
                                                        last_seen=float("-inf"))
                self._names[known.person_id] = known.name
                self._next_id = max(self._next_id, known.person_id + 1)

    def import_people(self, people: Iterable[KnownPerson]) -> None:
        """Start over knowing ``people`` (from ``export_people`` of an earlier session): each keeps their id and
        name and is recognised by their embeddings; they survive ``reset``. Call it as a session starts: the
        persons found so far are forgotten (their tracks get a person again on the next round). Nobody to import
        and nobody imported before changes nothing; an empty list after an import forgets everyone."""
        size = self.settings.gallery_size
        known = tuple(KnownPerson(int(k.person_id), " ".join(k.name.split()),
                                  tuple(np.asarray(e, np.float32).copy() for e in k.exemplars[:size]))
                      for k in people if k.person_id > 0 and k.exemplars)
        with self._lock:
            if not known and not self._known:
                return
            self._known = known
            self.reset()

    def state(self) -> dict:
        """Everything ``update`` depends on, for an analysis snapshot (``restore``); it holds the persons'
        embeddings, so it goes only into the snapshots an analysis deletes when it ends."""
        with self._lock:
            return {"enabled": self.settings.enabled, "next_id": self._next_id, "round": self._round,
                    "embedded_at": {str(k): v for k, v in self._embedded_at.items()},
                    "names": {str(k): v for k, v in self._names.items()},
                    "people": [{"id": p.person_id, "exemplars": [np.asarray(e, np.float32) for e in p.exemplars],
                                "last_seen": p.last_seen, "last_box": list(p.last_box), "track_id": p.track_id,
                                "next_slot": p._next_slot} for p in self._people.values()]}

    def restore(self, state: dict) -> None:
        """Continue from ``state`` (same settings but whether identities are on, which ``state`` says)."""
        with self._lock:
            self.settings = replace(self.settings, enabled=bool(state["enabled"]))
            self._next_id, self._round = int(state["next_id"]), int(state["round"])
            self._embedded_at = {int(k): int(v) for k, v in state["embedded_at"].items()}
            self._names = {int(k): str(v) for k, v in state["names"].items()}
            self._people = {}
            for item in state["people"]:
                person = _Person(int(item["id"]), [np.asarray(e, np.float32) for e in item["exemplars"]],
                                 float(item["last_seen"]), tuple(float(v) for v in item["last_box"]),  # type: ignore[arg-type]
                                 None if item["track_id"] is None else int(item["track_id"]))
                person._next_slot = int(item["next_slot"])
                self._people[person.person_id] = person

    def export_people(self) -> list[KnownPerson]:
        """The named persons with their reference embeddings (unnamed ones stay in this session only)."""
        with self._lock:
            return [KnownPerson(p.person_id, self._names[p.person_id], tuple(e.copy() for e in p.exemplars))
                    for p in sorted(self._people.values(), key=lambda p: p.person_id)
                    if p.person_id in self._names and p.exemplars]

    @staticmethod
    def label(person_id: int) -> str:
        return f"person {person_id}"

    def set_name(self, person_id: int, name: str) -> None:
        """Give a person the user's name ("" goes back to ``person N``)."""
        name = " ".join(name.split())
        with self._lock:
            if name:
                self._names[person_id] = name
            else:
                self._names.pop(person_id, None)

    def name_of(self, person_id: int) -> str:
        """The user's name for the person, else ``person N``."""
        with self._lock:
            return self._names.get(person_id) or self.label(person_id)

    @property
    def person_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._people)

    def person_of(self, track_id: int) -> int | None:
        with self._lock:
            return next((p.person_id for p in self._people.values() if p.track_id == track_id), None)

    def wanted(self, tracks: list[tuple[int, Box]]) -> set[int]:
        """The track ids that need an embedding this round: those without a person, those near another face,
        and those not embedded for ``refresh_rounds`` rounds. Empty when identities are off."""
        if not self.settings.enabled:
            return set()
        crowded = _crowded([box for _, box in tracks], self.settings.crowd_margin)
        out = set()
        with self._lock:
            for (track_id, _), near in zip(tracks, crowded, strict=True):
                last = self._embedded_at.get(track_id)
                if (near or self.person_of(track_id) is None or last is None
                        or self._round + 1 - last >= self.settings.refresh_rounds):
                    out.add(track_id)
        return out

    def update(self, t: float, observations: list[FaceObservation]) -> dict[int, int]:
        """One detection round at time ``t`` (seconds): every live track, embeddings where computed.
        Returns track id -> person id for the tracks that have a person (a new face crossing another may wait)."""
        with self._lock:
            return self._update(t, observations)

    def _update(self, t: float, observations: list[FaceObservation]) -> dict[int, int]:
        self._round += 1
        live = {o.track_id for o in observations}
        for person in self._people.values():
            if person.track_id is not None and person.track_id not in live:
                person.track_id = None
        self._embedded_at = {k: v for k, v in self._embedded_at.items() if k in live}
        if not observations:
            return {}
        if not self.settings.enabled:
            return self._tracks_only(t, observations)
        for o in observations:
            if o.embedding is not None:
                self._embedded_at[o.track_id] = self._round
        crowded = _crowded([o.box for o in observations], self.settings.crowd_margin)
        people = list(self._people.values())
        cost = self._costs(t, observations, people)
        rows, cols = _assignment(cost)
        result: dict[int, int] = {}
        for i, j in zip(rows, cols, strict=True):
            o = observations[i]
            if j < len(people) and cost[i, j] < _NO:
                person = people[j]
                result[o.track_id] = self._bind(person, o, t, learn=not crowded[i])
            else:
                for p in people:
                    if p.track_id == o.track_id:
                        p.track_id = None
                if o.embedding is not None and not crowded[i]:
                    result[o.track_id] = self._bind(self._new_person(), o, t, learn=True)
        return result

    def _costs(self, t: float, observations: list[FaceObservation], people: list[_Person]) -> np.ndarray:
        s = self.settings
        n = len(observations)
        cost = np.full((n, len(people) + n), _NO)
        for i, o in enumerate(observations):
            cost[i, len(people) + i] = s.match_distance  # no person / a new one
            for j, p in enumerate(people):
                d = p.distance(o.embedding) if o.embedding is not None else None
                capped = s.match_distance if d is None else min(d, s.match_distance)
                if p.track_id == o.track_id:
                    cost[i, j] = capped - s.keep_bonus
                elif d is not None and d < s.match_distance:
                    cost[i, j] = d
                elif p.track_id is None and self._near_recent(t, p, o.box) and (
                        d is None or d < s.match_distance + s.keep_bonus):
                    cost[i, j] = capped - s.keep_bonus / 2
        return cost

    def _near_recent(self, t: float, person: _Person, box: Box) -> bool:
        if t - person.last_seen > self.settings.recent_s:
            return False
        px, py, pw, ph = person.last_box
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        reach = self.settings.recent_reach * max(pw, box[2], 1.0)
        return bool(np.hypot(cx - (px + pw / 2), cy - (py + ph / 2)) <= reach)

    def _bind(self, person: _Person, o: FaceObservation, t: float, learn: bool) -> int:
        for p in self._people.values():
            if p.track_id == o.track_id and p is not person:
                p.track_id = None
        person.track_id = o.track_id
        person.last_seen = t
        person.last_box = tuple(float(v) for v in o.box)  # type: ignore[assignment]
        if learn and o.embedding is not None:
            vec = np.asarray(o.embedding, dtype=np.float32)
            if not person.exemplars or person.distance(vec) < self.settings.match_distance - self.settings.keep_bonus:
                person.learn(vec, self.settings.gallery_size, self.settings.gallery_min_gap)
        return person.person_id

    def _new_person(self) -> _Person:
        if len(self._people) >= self.settings.max_people:
            free = [p for p in self._people.values() if p.track_id is None]
            if free:  # the unnamed go first
                oldest = min(free, key=lambda p: (p.person_id in self._names, p.last_seen))
                del self._people[oldest.person_id]
                self._names.pop(oldest.person_id, None)
                log.info("identities: forgot %s (more than %d people)", self.label(oldest.person_id),
                         self.settings.max_people)
        person = _Person(self._next_id)
        self._people[person.person_id] = person
        self._next_id += 1
        log.debug("identities: new %s", self.label(person.person_id))
        return person

    def _tracks_only(self, t: float, observations: list[FaceObservation]) -> dict[int, int]:
        result = {}
        for o in observations:
            person = next((p for p in self._people.values() if p.track_id == o.track_id), None)
            if person is None:
                person = self._new_person()
            result[o.track_id] = self._bind(person, o, t, learn=False)
        return result
