"""What face identities cost live, for `emolive eval identity --cost-seconds S`.

A two-face clip (photos of two people from --data pasted into 640x480 frames, drifting slowly, 30 fps) is fed
at real-time pace to the live face channel (shipped face model, default detector, detection rounds on their own
thread every 3 frames), with identities off and on in turn (off, on, off, on: one run each way per half). Reports
each way's face-step time (``FaceChannel.process``), the detection round's compute time, and the faces embedded.
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


def _run(frames: list[np.ndarray], identities: bool, embedder: Any) -> dict[str, Any]:
    from emolive.face.channel import FaceChannel

    registry = PersonRegistry(IdentitySettings(enabled=identities))
    channel = FaceChannel(detect_every=3, identities=registry, embedder=embedder if identities else None)
    counter = _Counting(embedder)
    channel.embedder = counter if identities else None
    channel.warmup()
    channel.start_detection_thread()
    steps, rounds = [], []
    try:
        start = time.perf_counter()
        for i, image in enumerate(frames):
            delay = start + i / FPS - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            channel.process(VideoFrame(i / FPS, i, image))
            steps.append(1000 * (time.perf_counter() - t0))
            ms = channel.pop_detection_ms()
            if ms is not None:
                rounds.append(ms)
    finally:
        channel.stop_detection_thread()
    return {"step_ms_p50": float(np.percentile(steps, 50)), "step_ms_p95": float(np.percentile(steps, 95)),
            "round_ms_p50": float(np.percentile(rounds, 50)) if rounds else 0.0,
            "round_ms_p95": float(np.percentile(rounds, 95)) if rounds else 0.0,
            "rounds": len(rounds), "faces_embedded": counter.faces, "persons": len(registry.person_ids)}


class _Counting:
    def __init__(self, inner: Any) -> None:
        self.inner, self.faces = inner, 0

    def embed(self, image: np.ndarray, boxes: list) -> list:
        self.faces += len(boxes)
        return self.inner.embed(image, boxes)


def measure_cost(photos: tuple[Path, Path], seconds: float, embedder: Any) -> dict[str, Any]:
    """Identities off and on, interleaved (off, on, off, on), ``seconds`` of clip per run."""
    frames = two_face_frames(photos, seconds)
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for way in ("off", "on", "off", "on"):
        runs[way].append(_run(frames, way == "on", embedder))
    return {"seconds_per_run": seconds, **runs}
