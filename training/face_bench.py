"""Latency of the face channel: `python -m training.face_bench [--model DIR] [--frames N] [--video FILE]`.

Per face: the CNN on one crop (with and without test-time flip). Per frame: FaceChannel.process on
640x480 frames, by default a synthetic clip of scikit-image's astronaut photo sliding across a grey
background (needs scikit-image), or the first N frames of --video. Wall-clock figures include waiting
for a core on a busy machine; the CPU-time figures (this process) are what the work itself costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from emolive.core.contracts import VideoFrame
from emolive.core.errors import EmoliveError
from emolive.models.device import limit_torch_threads

log = logging.getLogger(__name__)

T = TypeVar("T")


def moving_face_clip(n: int, width: int = 640, height: int = 480,
                     face_side: int = 440) -> Iterator[np.ndarray]:
    """BGR frames of the astronaut photo (scaled to ``face_side``) sliding left to right and back."""
    import cv2
    from skimage import data

    photo = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (face_side, face_side))
    span = width - face_side
    for i in range(n):
        phase = (i % 120) / 60.0
        x = int(span * (phase if phase <= 1 else 2 - phase))
        frame = np.full((height, width, 3), 110, np.uint8)
        frame[(height - face_side) // 2:(height + face_side) // 2, x:x + face_side] = photo
        yield frame


def video_frames(path: Path, n: int, width: int = 640, height: int = 480) -> Iterator[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise EmoliveError(f"cannot open video {path}")
    try:
        for _ in range(n):
            ok, frame = capture.read()
            if not ok:
                break
            yield cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    finally:
        capture.release()


def _stats(ms: Sequence[float], cpu_ms: Sequence[float]) -> dict[str, float]:
    """Wall-clock p50/mean/p95 and the CPU time of this process (what the work costs on a busy machine)."""
    arr = np.asarray(ms, dtype=float)
    return {"n": int(arr.size), "p50_ms": round(float(np.median(arr)), 3),
            "mean_ms": round(float(arr.mean()), 3), "p95_ms": round(float(np.percentile(arr, 95)), 3),
            "cpu_mean_ms": round(float(np.mean(cpu_ms)), 3), "cpu_p50_ms": round(float(np.median(cpu_ms)), 3)}


def _timed(fn: Callable[..., T], *args: object) -> tuple[T, float, float]:
    """fn(*args), its wall-clock ms and the CPU ms this process spent on it."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def bench(model_dir: Path | None, frames: int, video: Path | None, detect_every: int) -> dict[str, object]:
    """Latency figures (ms) for one face through the CNN and for whole frames through FaceChannel."""
    from emolive.face.channel import FaceChannel
    from emolive.face.predictor import ExpressionPredictor

    limit_torch_threads(1)
    result: dict[str, object] = {}
    for flip in (False, True):
        predictor = ExpressionPredictor(model_dir, flip=flip)
        crop = np.random.default_rng(0).integers(0, 256, (predictor.size, predictor.size), dtype=np.uint8)
        for _ in range(10):
            predictor.predict(crop)
        times, cpu = [], []
        for _ in range(200):
            _, wall_ms, cpu_ms = _timed(predictor.predict, crop)
            times.append(wall_ms)
            cpu.append(cpu_ms)
        result[f"cnn_per_face{'_flip' if flip else ''}"] = _stats(times, cpu)
    channel = FaceChannel(model_dir, detect_every=detect_every, threads=1)
    channel.warmup()
    source = video_frames(video, frames) if video else moving_face_clip(frames)
    times, cpu, present, ids = [], [], 0, set()
    for i, image in enumerate(source):
        (out, boxes), wall_ms, cpu_ms = _timed(channel.process, VideoFrame(t=i / 30.0, index=i, image=image))
        times.append(wall_ms)
        cpu.append(cpu_ms)
        present += out.present
        ids.update(b.track_id for b in boxes)
    if not times:
        raise EmoliveError("no frames to benchmark")
    result["frame"] = {**_stats(times, cpu), "detect_every": detect_every, "face_present": present,
                       "track_ids": len(ids), "source": str(video) if video else "synthetic astronaut clip"}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.face_bench", description=__doc__)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/face)")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--detect-every", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        print(json.dumps(bench(args.model, args.frames, args.video, args.detect_every), indent=2))
    except EmoliveError as exc:
        print(f"bench: error: {exc}")
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
