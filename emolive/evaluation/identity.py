"""Verify the face-identity embedding on pairs of photos of the same and of different people.

People are read from file names of the form NAME_NNNN.jpg anywhere under --data (LFW style, e.g.
`George_W_Bush_0001.jpg`); people with two or more photos give the same-person pairs, photos of two different
people the different-person pairs (several per same-person pair, drawn from the photos already embedded). Each
photo is taken as a face crop (the whole image, inset by --inset on each side, is the face's box). Reports the
true-accept rate at 1% (and 0.1%) false-accept, the rates at the matcher's threshold, and the cost per face.
Then --scenes rendered scenes of three of these people (two crossing, one leaving for 3 s; see
``identity_scenes``) give the share of face-rounds with the right person id and the id switches per minute,
with identities on and off (tracks only). Needs the [people] extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from emolive.core.errors import EmoliveError as DataError
from emolive.core.progress import track
from emolive.face.folder import IMAGE_SUFFIXES
from emolive.face.identity import IdentitySettings

log = logging.getLogger(__name__)

_NAMED = re.compile(r"^(?P<name>.+)_(?P<num>\d{4})$")


def people_photos(root: Path) -> dict[str, list[Path]]:
    """Photos per person name under ``root`` (files NAME_NNNN.ext), each list sorted; names sorted."""
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    found: dict[str, list[Path]] = defaultdict(list)
    for path in root.rglob("*"):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            match = _NAMED.match(path.stem)
            if match:
                found[match["name"]].append(path)
    return {name: sorted(found[name]) for name in sorted(found)}


def make_pairs(people: dict[str, list[Path]], n_same: int, impostors_per_pair: int,
               seed: int = 0) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]]]:
    """(same-person pairs, different-person pairs), drawn with ``seed``.

    Same-person pairs: up to ``n_same`` distinct pairs, people taken in turn so that no one dominates.
    Different-person pairs: ``impostors_per_pair`` x as many, both photos from those already in a same pair.
    """
    rng = random.Random(seed)
    multi = [name for name, photos in people.items() if len(photos) >= 2]
    if not multi:
        raise DataError("no person with two or more photos (file names NAME_NNNN.jpg)")
    rng.shuffle(multi)
    same: list[tuple[Path, Path]] = []
    seen: set[tuple[Path, Path]] = set()
    rounds = 0
    while len(same) < n_same and rounds < 50:
        rounds += 1
        for name in multi:
            a, b = sorted(rng.sample(people[name], 2))
            if (a, b) not in seen:
                seen.add((a, b))
                same.append((a, b))
                if len(same) >= n_same:
                    break
    owner = {p: name for name in multi for p in people[name]}
    pool = sorted({p for pair in same for p in pair})
    if len({owner[p] for p in pool}) < 2:
        raise DataError("photos of two or more different people are needed")
    different: list[tuple[Path, Path]] = []
    while len(different) < impostors_per_pair * len(same):
        a, b = rng.sample(pool, 2)
        if owner[a] != owner[b]:
            different.append((a, b))
    return same, different


def tar_at_far(same_d: np.ndarray, different_d: np.ndarray, far: float) -> tuple[float, float]:
    """(true-accept rate, distance threshold) where at most ``far`` of the different pairs are accepted
    (distance below the threshold)."""
    diff = np.sort(np.asarray(different_d, dtype=np.float64))
    k = int(np.floor(far * len(diff)))  # impostors we may accept
    threshold = float(diff[k]) if k < len(diff) else float("inf")
    return float(np.mean(np.asarray(same_d) < threshold)), threshold


def verification_report(same_d: np.ndarray, different_d: np.ndarray, threshold: float) -> dict[str, Any]:
    """TAR at FAR 1% and 0.1%, and the TAR/FAR at ``threshold``."""
    same_d, different_d = np.asarray(same_d), np.asarray(different_d)
    tar1, thr1 = tar_at_far(same_d, different_d, 0.01)
    tar01, thr01 = tar_at_far(same_d, different_d, 0.001)
    return {"same_pairs": int(len(same_d)), "different_pairs": int(len(different_d)),
            "tar_at_far_1pct": tar1, "threshold_at_far_1pct": thr1,
            "tar_at_far_0_1pct": tar01, "threshold_at_far_0_1pct": thr01,
            "threshold": threshold, "tar_at_threshold": float(np.mean(same_d < threshold)),
            "far_at_threshold": float(np.mean(different_d < threshold)),
            "same_median_distance": float(np.median(same_d)),
            "different_median_distance": float(np.median(different_d))}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="folder with photos named NAME_NNNN.jpg (any depth)")
    parser.add_argument("--pairs", type=int, default=400, help="same-person pairs (default 400)")
    parser.add_argument("--impostors", type=int, default=10,
                        help="different-person pairs per same-person pair (default 10)")
    parser.add_argument("--inset", type=float, default=0.0, help="share of the photo cut from each side for the box")
    parser.add_argument("--scenes", type=int, default=3,
                        help="rendered scenes of three people crossing, leaving and coming back (0: none; "
                             "see emolive.evaluation.identity_scenes)")
    parser.add_argument("--scene-detector", choices=("oracle", "mtcnn", "haar"), default="oracle",
                        help="who finds the faces in the scenes: the drawn boxes (default) or a real detector")
    parser.add_argument("--cost-seconds", type=float, default=0.0,
                        help="also time the inference step on a two-face clip of this length, people off, identities "
                             "off and on in turn (see emolive.evaluation.identity_cost; 0: skip)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import cv2

    from emolive.face.embedding import load_embedder

    if args.pairs < 1 or args.impostors < 1 or not 0 <= args.inset < 0.4 or args.scenes < 0:
        raise DataError("--pairs and --impostors must be 1 or more, --scenes 0 or more, --inset in [0, 0.4)")
    people = people_photos(args.data)
    same, different = make_pairs(people, args.pairs, args.impostors, args.seed)
    embedder = load_embedder()
    photos = sorted({p for pair in same for p in pair})
    vectors: dict[Path, np.ndarray] = {}
    wall: list[float] = []
    cpu: list[float] = []
    for path in track(photos, desc="embedding", unit="faces"):
        image = cv2.imread(str(path))
        if image is None:
            log.warning("%s: not readable, left out", path)
            continue
        h, w = image.shape[:2]
        box = (args.inset * w, args.inset * h, (1 - 2 * args.inset) * w, (1 - 2 * args.inset) * h)
        t0, c0 = time.perf_counter(), time.process_time()
        vec = embedder.embed(image, [box])[0]
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if vec is not None:
            vectors[path] = vec

    def distances(pairs: list[tuple[Path, Path]]) -> np.ndarray:
        return np.array([float(np.linalg.norm(vectors[a] - vectors[b])) for a, b in pairs
                         if a in vectors and b in vectors])

    report = verification_report(distances(same), distances(different), IdentitySettings().match_distance)
    report.update({"people": len({_NAMED.match(p.stem)["name"] for p in photos}), "faces": len(vectors),
                   "ms_per_face_median": 1000 * float(np.median(wall)) if wall else 0.0,
                   "ms_per_face_p95": 1000 * float(np.percentile(wall, 95)) if wall else 0.0,
                   "cpu_ms_per_face_median": 1000 * float(np.median(cpu)) if cpu else 0.0,
                   "embedding": "dlib ResNet 128-d (face-recognition-models 0.3.0)", "data": str(args.data)})
    if args.scenes:
        from emolive.evaluation.identity_scenes import run_scenes
        from emolive.face.detectors import new_detector

        detector = None if args.scene_detector == "oracle" else new_detector(args.scene_detector)
        try:
            report["scenes"] = run_scenes(people, args.scenes, args.seed, embedder, detector=detector)
            report["scenes_tracks_only"] = run_scenes(people, args.scenes, args.seed, embedder,
                                                      IdentitySettings(enabled=False), detector)
        except ValueError as exc:
            raise DataError(f"{args.data}: {exc}") from exc
    if args.cost_seconds > 0:
        from emolive.evaluation.identity_cost import measure_cost

        if len(same) < 2:
            raise DataError("--cost-seconds needs --pairs 2 or more (two people)")
        two = (same[0][0], same[1][0])  # same pairs take people in turn: two different people
        from emolive.face.embedding_process import EmbedderProcess

        with EmbedderProcess() as apart:  # live, dlib must not hold this process's GIL (see embedding_process)
            report["cost"] = measure_cost(two, args.cost_seconds, apart)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"identity verification on {args.data}: {report['people']} people, {report['faces']} faces, "
          f"{report['same_pairs']} same / {report['different_pairs']} different pairs")
    print(f"  TAR at FAR 1%:   {report['tar_at_far_1pct']:.3f} (distance < {report['threshold_at_far_1pct']:.3f})")
    print(f"  TAR at FAR 0.1%: {report['tar_at_far_0_1pct']:.3f} (distance < {report['threshold_at_far_0_1pct']:.3f})")
    print(f"  at the matcher's threshold {report['threshold']:.2f}: TAR {report['tar_at_threshold']:.3f}, "
          f"FAR {report['far_at_threshold']:.4f}")
    print(f"  median distance: same {report['same_median_distance']:.3f}, "
          f"different {report['different_median_distance']:.3f}")
    print(f"  cost per face: median {report['ms_per_face_median']:.1f} ms wall "
          f"(p95 {report['ms_per_face_p95']:.1f}), {report['cpu_ms_per_face_median']:.1f} ms CPU")
    if "scenes" in report:
        sc = report["scenes"]
        print(f"rendered scenes ({sc['scenes']} x 20 s, 3 people, two crossings, one away for 3 s; detector "
              f"{args.scene_detector}): "
              f"right person {sc['right_share']:.3f} of found face-rounds, {sc['switches_per_minute']:.2f} "
              f"switches/min, {sc['faces_embedded_per_round']:.2f} faces embedded per round "
              f"({sc['embed_ms_per_round']:.1f} ms per round), persons made per scene {sc['people_made_per_scene']}")
        off = report["scenes_tracks_only"]
        print(f"  the same scenes with identities off (tracks only): right person {off['right_share']:.3f}, "
              f"{off['switches_per_minute']:.2f} switches/min, persons made per scene {off['people_made_per_scene']}")
    if "cost" in report:
        print(f"inference step on a two-face clip ({report['cost']['seconds_per_run']:g} s per run, people off / "
              "identities off / on, twice):")
        for way, label in (("none", "people off    "), ("off", "identities off"), ("on", "identities on ")):
            for r in report["cost"][way]:
                print(f"  {label}: step p50 {r['step_ms_p50']:.1f} ms, p95 {r['step_ms_p95']:.1f} ms "
                      f"({r['scored_per_step']:.2f} faces scored per step); detection round p50 "
                      f"{r['round_ms_p50']:.1f} ms ({r['rounds']} rounds); {r['faces_embedded']} faces embedded, "
                      f"{r['embed_ms_per_face']:.0f} ms per face, {r['embed_ms_per_round']:.1f} ms per round; "
                      f"{r['persons']} persons")
    return 0
