"""Render labelled audio-visual test clips from the project's own data (a realistic fusion benchmark).

    python -m training.ravdess_split ../shared/data/ravdess /tmp/rav --held 17-20
    python -m training.render_clips --faces ../shared/data/fer2013/val --voices /tmp/rav/heldout --out /tmp/clips

Each clip is a run of segments. In a segment one face image (a FER2013 crop, scaled into a 640x480 frame
and moved a little) is shown while one RAVDESS recording of the same emotion plays, spoken by an actor
the fold voice model never heard. The words are the actors' own lexically neutral statements ("Kids are
talking by the door", "Dogs are sitting by the door"), so the transcript is whatever Whisper hears, as in
most real conversation. Labels go to ``clip_N.labels.csv`` with the columns ``start,end,emotion`` (seconds,
canonical class) followed by the sources ``face,voice`` (paths), so every segment can be traced.

Clips are reproducible from ``--seed``: clip k uses its own share of the actors and faces no other clip
uses. RAVDESS "calm" is left out (it has no canonical class of its own). Classes are balanced per clip.

``--moods K`` renders one-speaker, one-mood clips instead (moods that last, as real people keep them): each clip
has one actor (dealt in turn) and K runs of ``--per-class`` segments of ONE class each, and the classes are dealt
over the clips so that every class gets as many runs as the others. A face is still never shown twice.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 640, 480
SAMPLE_RATE = 16_000
LABEL_COLUMNS: tuple[str, ...] = ("start", "end", "emotion", "face", "voice")


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    emotion: str
    face: Path
    voice: Path


def _faces_by_class(root: Path) -> dict[str, list[Path]]:
    from emolive.face.folder import list_image_folder

    items, _ = list_image_folder(root)
    found: dict[str, list[Path]] = {}
    for path, label in items:
        found.setdefault(EMOTIONS[label], []).append(path)
    return {k: sorted(v) for k, v in found.items()}


def _voices(root: Path) -> list[tuple[Path, str, str]]:
    """(path, canonical emotion, speaker) of every labelled recording with a canonical class: RAVDESS (calm left
    out, the actor as speaker) or any corpus ``emolive.voice.data.find_clips`` reads (its speaker key)."""
    from emolive.voice.data import find_clips, parse_ravdess_name

    out = []
    for clip in find_clips(root):
        name = parse_ravdess_name(clip.path.name)
        if clip.label is None or (name is not None and name.emotion == "calm"):
            continue
        out.append((clip.path, EMOTIONS[clip.label], f"{name.actor:02d}" if name is not None else clip.speaker))
    return sorted(out)


def plan(faces: dict[str, list[Path]], voices: list[tuple[Path, str, str]], clips: int, per_class: int,
         seed: int) -> list[list[tuple[str, Path, Path]]]:
    """For each clip, its (emotion, face, voice) segments in play order.

    Actors are dealt to the clips in turn (sorted), faces are drawn without replacement, so no face and no
    actor appears in two clips. A class missing from a clip's actors or from the faces is left out of it.
    """
    rng = np.random.default_rng(seed)
    actors = sorted({a for _, _, a in voices})
    if len(actors) < clips:
        raise EmoliveError(f"{clips} clips need at least {clips} actors; the voice folder has {len(actors)}")
    groups = [set(actors[k::clips]) for k in range(clips)]
    pools = {c: list(rng.permutation(len(paths))) for c, paths in faces.items()}
    result = []
    for group in groups:
        segments: list[tuple[str, Path, Path]] = []
        for emotion in EMOTIONS:
            candidates = [p for p, e, a in voices if e == emotion and a in group]
            if not candidates or emotion not in faces:
                log.warning("no %s segments for actors %s", emotion, sorted(group))
                continue
            picks = rng.choice(len(candidates), size=per_class, replace=len(candidates) < per_class)
            for i in picks:
                if not pools[emotion]:
                    raise EmoliveError(f"not enough {emotion} faces for {clips} clips of {per_class} per class")
                face = faces[emotion][pools[emotion].pop()]
                segments.append((emotion, face, candidates[int(i)]))
        order = rng.permutation(len(segments))
        result.append([segments[int(i)] for i in order])
    return result


def plan_moods(faces: dict[str, list[Path]], voices: list[tuple[Path, str, str]], clips: int, runs: int,
               per_run: int, seed: int) -> list[list[tuple[str, Path, Path]]]:
    """For each clip, its segments: one actor, ``runs`` runs of ``per_run`` segments of one class each.

    Actors are dealt to the clips in turn (sorted); the run classes come from a seeded deck of every class (with
    voices and faces) shuffled again each time it runs out, so classes get equal runs and a clip's runs differ
    when ``runs`` is at most the number of classes. Recordings repeat within a run only when the actor has too few.
    """
    rng = np.random.default_rng(seed)
    actors = sorted({a for _, _, a in voices})
    classes = [e for e in EMOTIONS if e in faces and any(v == e for _, v, _ in voices)]
    if not actors or not classes:
        raise EmoliveError("no class has both faces and recordings")
    pools = {c: list(rng.permutation(len(paths))) for c, paths in faces.items()}
    deck: list[str] = []
    result = []
    for k in range(clips):
        actor = actors[k % len(actors)]
        segments: list[tuple[str, Path, Path]] = []
        chosen: list[str] = []
        while len(chosen) < runs:
            if not deck:
                deck = [classes[int(i)] for i in rng.permutation(len(classes))]
            pick = next((c for c in deck if c not in chosen), deck[0])
            deck.remove(pick)
            chosen.append(pick)
        for emotion in chosen:
            candidates = [p for p, e, a in voices if e == emotion and a == actor]
            if not candidates:
                log.warning("actor %s has no %s recordings: run left out", actor, emotion)
                continue
            picks = rng.permutation(len(candidates)).tolist()
            while len(picks) < per_run:
                picks += rng.permutation(len(candidates)).tolist()
            for i in picks[:per_run]:
                if not pools[emotion]:
                    raise EmoliveError(f"not enough {emotion} faces for {clips} clips of {runs} runs of {per_run}")
                segments.append((emotion, faces[emotion][pools[emotion].pop()], candidates[int(i)]))
        result.append(segments)
    return result


def _face_image(path: Path, size: int) -> np.ndarray:
    import cv2

    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise EmoliveError(f"cannot read face image {path}")
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)


def _background() -> np.ndarray:
    """A smooth grey gradient (cheap to encode, no face-like texture)."""
    x = np.linspace(0.0, 1.0, WIDTH)[None, :]
    y = np.linspace(0.0, 1.0, HEIGHT)[:, None]
    return (95 + 30 * x + 20 * y).astype(np.uint8)


def _frame(background: np.ndarray, face: np.ndarray, t: float, phase: float) -> np.ndarray:
    """The face near the centre, drifting a few pixels and breathing a few per cent in scale."""
    import cv2

    size = face.shape[0]
    scale = 1.0 + 0.03 * math.sin(2 * math.pi * t / 2.9 + phase)
    dx = 10 * math.sin(2 * math.pi * t / 3.7 + phase)
    dy = 6 * math.sin(2 * math.pi * t / 2.3 + 2 * phase)
    cx, cy = WIDTH / 2 + dx, HEIGHT / 2 + dy
    m = np.array([[scale, 0, cx - scale * size / 2], [0, scale, cy - scale * size / 2]], dtype=np.float64)
    out = background.copy()
    mask = np.full_like(face, 255)
    warped = cv2.warpAffine(face, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(mask, m, (WIDTH, HEIGHT), flags=cv2.INTER_NEAREST) > 0
    out[inside] = warped[inside]
    return cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)


def render(segments: Sequence[tuple[str, Path, Path]], video: Path, labels: Path, fps: int = 15,
           face_px: int = 220, crf: int = 30, seed: int = 0) -> list[Segment]:
    """Write ``video`` (H.264 + AAC, 640x480) and ``labels``; returns the segments with their times."""
    import av

    from emolive.core.audio_io import load_audio

    rng = np.random.default_rng(seed)
    audio_parts, placed, t = [], [], 0.0
    for emotion, face, voice in segments:
        samples = load_audio(voice, SAMPLE_RATE)
        audio_parts.append(samples)
        duration = len(samples) / SAMPLE_RATE
        placed.append(Segment(round(t, 4), round(t + duration, 4), emotion, face, voice))
        t += duration
    audio = np.concatenate(audio_parts) if audio_parts else np.zeros(0, np.float32)
    total = len(audio) / SAMPLE_RATE
    video.parent.mkdir(parents=True, exist_ok=True)
    background = _background()
    faces = [_face_image(s.face, face_px) for s in placed]
    phases = rng.uniform(0, 2 * math.pi, size=len(placed))
    with av.open(str(video), "w") as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        vstream.options = {"crf": str(crf), "preset": "medium"}
        astream = container.add_stream("aac", rate=SAMPLE_RATE)
        astream.layout = "mono"
        astream.bit_rate = 32_000
        n_frames = int(math.ceil(total * fps))
        k = 0
        for i in range(n_frames):
            ft = i / fps
            while k + 1 < len(placed) and ft >= placed[k].end:
                k += 1
            frame = av.VideoFrame.from_ndarray(_frame(background, faces[k], ft, phases[k]), format="bgr24")
            frame.pts = i
            for packet in vstream.encode(frame):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        block = 1024
        for start in range(0, len(audio), block):
            chunk = audio[start : start + block]
            frame = av.AudioFrame.from_ndarray(chunk[None, :].astype(np.float32), format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in astream.encode(frame):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    with labels.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LABEL_COLUMNS)
        for s in placed:
            writer.writerow([f"{s.start:.3f}", f"{s.end:.3f}", s.emotion, str(s.face), str(s.voice)])
    return placed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.render_clips", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=Path, required=True, help="labelled face crops (image folder), e.g. fer2013/val")
    p.add_argument("--voices", type=Path, required=True,
                   help="labelled speech of unseen speakers: a RAVDESS tree (e.g. /tmp/rav/heldout) or another corpus")
    p.add_argument("--out", type=Path, required=True, help="folder for clip_N.mp4 and clip_N.labels.csv")
    p.add_argument("--clips", type=int, default=2)
    p.add_argument("--per-class", type=int, default=7, help="segments per emotion and clip (7 classes: 49)")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--face-px", type=int, default=220, help="face size in the frame, pixels")
    p.add_argument("--crf", type=int, default=30, help="H.264 quality (higher: smaller file)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--moods", type=int, default=0, metavar="K",
                   help="one-speaker, one-mood clips: each clip one actor and K runs of --per-class segments of "
                        "one class (0: the balanced, shuffled clips)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        for folder in (args.faces, args.voices):
            if not folder.is_dir():
                raise EmoliveError(f"folder not found: {folder}")
        faces = _faces_by_class(args.faces)
        voices = _voices(args.voices)
        if not voices:
            raise EmoliveError(f"no labelled recordings with a canonical class under {args.voices}")
        plans = (plan_moods(faces, voices, args.clips, args.moods, args.per_class, args.seed) if args.moods > 0
                 else plan(faces, voices, args.clips, args.per_class, args.seed))
        for k, segments in enumerate(plans):
            video = args.out / f"clip_{k + 1}.mp4"
            placed = render(segments, video, args.out / f"clip_{k + 1}.labels.csv", args.fps, args.face_px,
                            args.crf, seed=args.seed + k)
            print(f"{video}: {len(placed)} segments, {placed[-1].end:.1f} s, {video.stat().st_size / 1e6:.2f} MB")
    except EmoliveError as exc:
        print(f"render_clips: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
