"""What several people and face identities cost live, for `emolive eval identity --cost-seconds S`.

A two-face clip (photos of two people from --data pasted into 640x480 frames, drifting slowly, 30 fps) is fed
at real-time pace to the inference worker's step (every 0.1 s; the shipped face model, default detector, detection
rounds on their own thread every 3 steps, no voice or words) three ways in turn, twice: people off (the subject
scored alone, as before #40), identities off (both faces scored, persons are tracks) and identities on (both
scored, embeddings in the child process on the identity thread). Reports each way's step time (the worker's
``total``), the detection round's compute time, the faces embedded and the embedder's wall time per face and per
detection round.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emolive.core.contracts import VideoFrame
from emolive.face.identity import IdentitySettings, PersonRegistry

FPS, SIDE = 30, 130


def two_face_frames(photos: tuple[Path, Path], seconds: float, seed: int = 0) -> list[np.ndarray]:
    """Frames of a clip with the two photos side by side, each drifting on its own slow circle."""
    rng = np.random.default_rng(seed)
    background = rng.integers(90, 150, (480, 640, 3), dtype=np.uint8)
    faces = [cv2.resize(cv2.imread(str(p)), (SIDE, SIDE)) for p in photos]
    frames = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        frame = background.copy()
        for k, (cx, cy) in enumerate(((180, 220), (460, 240))):
            x = int(cx - SIDE / 2 + 25 * np.sin(0.7 * t + k))
            y = int(cy - SIDE / 2 + 15 * np.cos(0.5 * t + 2 * k))
            frame[y:y + SIDE, x:x + SIDE] = faces[k]
        frames.append(frame)
    return frames


WAYS = ("none", "off", "on")  # no people (the subject only), identities off (tracks), identities on
HOP_S = 0.1  # the inference worker's default hop


def _run(frames: list[np.ndarray], way: str | bool, embedder: Any) -> dict[str, Any]:
    """One run of the clip through the inference worker's step (face channel only, detection thread on), paced
    like live: ``way`` "none" scores the subject only (people off), "off" every face with tracks only, "on" every
    face with identities (``embedder`` in use; True/False are "on"/"off")."""
    from emolive.config import InferenceConfig
    from emolive.core.rings import AudioRing, FrameRing
    from emolive.face.channel import FaceChannel
    from emolive.fusion.fuser import Fuser
    from emolive.runtime.worker import InferenceWorker

    way = {True: "on", False: "off"}.get(way, way)  # type: ignore[arg-type]
    registry = None if way == "none" else PersonRegistry(IdentitySettings(enabled=way == "on"))
    counter = _Counting(embedder)
    channel = FaceChannel(detect_every=3, identities=registry, embedder=counter if way == "on" else None)
    channel.warmup()
    ring = FrameRing(8)
    worker = InferenceWorker(ring, AudioRing(1.0), Fuser(), InferenceConfig(), face=channel, shed_load=False)
    channel.start_detection_thread()
    steps, rounds, people = [], [], []
    every = max(1, round(HOP_S * FPS))
    try:
        start = time.perf_counter()
        for i, image in enumerate(frames):
            delay = start + i / FPS - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ring.write(VideoFrame(i / FPS, i, image))
            if i % every:
                continue
            estimate = worker.step(i / FPS)
            latency = dict(estimate.latency_ms)
            steps.append(latency["total"])
            if "detect" in latency:
                rounds.append(latency["detect"])
            people.append(len(estimate.people) or (1 if estimate.faces else 0))
    finally:
        channel.stop_detection_thread()
    n_rounds = max(len(rounds), 1)
    return {"step_ms_p50": float(np.percentile(steps, 50)), "step_ms_p95": float(np.percentile(steps, 95)),
            "steps": len(steps), "scored_per_step": float(np.mean(people)) if people else 0.0,
            "round_ms_p50": float(np.percentile(rounds, 50)) if rounds else 0.0,
            "round_ms_p95": float(np.percentile(rounds, 95)) if rounds else 0.0,
            "rounds": len(rounds), "faces_embedded": counter.faces,
            "embed_ms_per_face": 1000 * counter.seconds / counter.faces if counter.faces else 0.0,
            "embed_ms_per_round": 1000 * counter.seconds / n_rounds,
            "persons": len(registry.person_ids) if registry is not None else 0}


class _Counting:
    """Counts the faces embedded and the wall time of the embedder's calls (the identity thread's waits)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.faces, self.seconds = inner, 0, 0.0

    def embed(self, image: np.ndarray, boxes: list) -> list:
        self.faces += len(boxes)
        started = time.perf_counter()
        try:
            return self.inner.embed(image, boxes)
        finally:
            self.seconds += time.perf_counter() - started


def measure_cost(photos: tuple[Path, Path], seconds: float, embedder: Any) -> dict[str, Any]:
    """People off, identities off and on, interleaved twice (none, off, on, none, off, on), ``seconds`` of clip
    per run."""
    frames = two_face_frames(photos, seconds)
    runs: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
    for way in WAYS * 2:
        runs[way].append(_run(frames, way, embedder))
    return {"seconds_per_run": seconds, **runs}
