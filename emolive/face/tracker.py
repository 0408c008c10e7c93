"""IoU tracking of face detections with box smoothing, constant-velocity coasting and stable ids."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from emolive.face.detector import Detection


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class Track:
    """One face followed over frames; ``box`` is the smoothed (x, y, w, h) in frame pixels."""

    track_id: int
    box: np.ndarray
    confidence: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    misses: int = 0
    frames_since_detection: int = 0


class IoUTracker:
    """Matches each round of detections to the live tracks greedily by IoU.

    A matched track moves toward its detection by ``smoothing`` (1: jump to it) and learns a damped
    per-frame velocity used to coast between detection rounds; an unmatched detection starts a track
    with a new id; a track unmatched for more than ``max_misses`` rounds is dropped.
    """

    def __init__(self, iou_threshold: float = 0.25, smoothing: float = 0.6, max_misses: int = 4,
                 velocity_decay: float = 0.8) -> None:
        self.iou_threshold = iou_threshold
        self.smoothing = smoothing
        self.max_misses = max_misses
        self.velocity_decay = velocity_decay
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (ids restart at 1)."""
        self.tracks = []
        self._next_id = 1

    def state(self) -> dict:
        """The live tracks and the next id (arrays as numpy; see ``restore``)."""
        return {"next_id": self._next_id, "tracks": [
            {"track_id": t.track_id, "box": np.array(t.box, dtype=float), "velocity": np.array(t.velocity, dtype=float),
             "confidence": float(t.confidence), "hits": t.hits, "misses": t.misses,
             "frames_since_detection": t.frames_since_detection} for t in self.tracks]}

    def restore(self, state: dict) -> None:
        self._next_id = int(state["next_id"])
        self.tracks = [Track(int(t["track_id"]), np.array(t["box"], dtype=float), float(t["confidence"]),
                             np.array(t["velocity"], dtype=float), int(t["hits"]), int(t["misses"]),
                             int(t["frames_since_detection"])) for t in state["tracks"]]

    def predict(self) -> None:
        """Advance one frame without detections: coast each track along its damped velocity."""
        for track in self.tracks:
            track.box = track.box + track.velocity
            track.velocity = track.velocity * self.velocity_decay
            track.frames_since_detection += 1

    def update(self, detections: list[Detection]) -> list[Track]:
        """Advance one frame with a fresh round of detections; returns the live tracks."""
        for track in self.tracks:
            track.box = track.box + track.velocity
            track.frames_since_detection += 1
        boxes = [np.array([d.x, d.y, d.w, d.h], dtype=float) for d in detections]
        pairs = sorted(((iou(t.box, b), ti, di) for ti, t in enumerate(self.tracks)
                        for di, b in enumerate(boxes)), reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for score, ti, di in pairs:
            if score < self.iou_threshold or ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            self._correct(self.tracks[ti], boxes[di], detections[di].confidence)
        for ti, track in enumerate(self.tracks):
            if ti not in used_t:
                track.misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        for di, box in enumerate(boxes):
            if di not in used_d:
                self.tracks.append(Track(self._next_id, box, detections[di].confidence))
                self._next_id += 1
        return self.tracks

    def _correct(self, track: Track, box: np.ndarray, confidence: float) -> None:
        new_box = track.box + self.smoothing * (box - track.box)
        steps = max(1, track.frames_since_detection)
        track.velocity = 0.5 * track.velocity + 0.5 * (new_box - track.box) / steps
        track.box = new_box
        track.confidence = 0.5 * track.confidence + 0.5 * confidence
        track.hits += 1
        track.misses = 0
        track.frames_since_detection = 0


def pick_subject(tracks: list[Track], width: int, height: int, previous: int | None = None,
                 switch_ratio: float = 1.5) -> Track | None:
    """The largest, most central track; the previous subject keeps the role unless beaten clearly."""
    if not tracks:
        return None
    diag = float(np.hypot(width, height)) or 1.0

    def score(t: Track) -> float:
        cx, cy = t.box[0] + t.box[2] / 2, t.box[1] + t.box[3] / 2
        off = float(np.hypot(cx - width / 2, cy - height / 2)) / diag
        return float(t.box[2] * t.box[3]) * (1.0 - off)

    best = max(tracks, key=score)
    current = next((t for t in tracks if t.track_id == previous), None)
    if current is not None and score(best) < switch_ratio * score(current):
        return current
    return best
