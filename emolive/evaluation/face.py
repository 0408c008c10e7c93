"""Evaluate the face expression model on an image folder (one subfolder per class).

Small images (<= 96 px) or all images with --crops are taken as face crops; otherwise the face
detector runs first and images without a face are skipped and counted as "no face".
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

CROP_MAX_PX = 96


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="image folder: DIR/<class>/<image>")
    parser.add_argument("--crops", action="store_true", help="every image is already a face crop")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/face)")
    parser.add_argument("--no-flip", action="store_true", help="disable test-time flip averaging")
    parser.add_argument("--batch", type=int, default=256, help="crops per CNN batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np
    import torch
    from tqdm import tqdm

    from emolive.evaluation.metrics import classification_report, emit
    from emolive.face.detector import HaarFaceDetector
    from emolive.face.folder import list_image_folder
    from emolive.face.predictor import ExpressionPredictor, crop_face
    from emolive.labels import EMOTIONS

    torch.set_num_threads(max(1, args.threads))
    items, skipped = list_image_folder(args.data)
    predictor = ExpressionPredictor(args.model, flip=False if args.no_flip else None)
    detector: HaarFaceDetector | None = None
    size = predictor.size
    reasons: Counter[str] = Counter(skipped)
    y_true: list[int] = []
    y_pred: list[int] = []
    crops: list[np.ndarray] = []
    labels: list[int] = []

    def flush() -> None:
        if crops:
            probs, _ = predictor.predict(np.stack(crops))
            y_pred.extend(int(i) for i in probs.argmax(1))
            y_true.extend(labels)
            crops.clear()
            labels.clear()

    for path, label in tqdm(items, desc="face eval", unit="img", file=None):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            reasons["unreadable"] += 1
            continue
        if args.crops or max(grey.shape) <= CROP_MAX_PX:
            interp = cv2.INTER_AREA if max(grey.shape) > size else cv2.INTER_LINEAR
            crop = cv2.resize(grey, (size, size), interpolation=interp)
        else:
            if detector is None:
                detector = HaarFaceDetector(max_side=480)
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
    report = classification_report(y_true, y_pred, EMOTIONS, dict(reasons))
    emit(report, args.json, f"face model {predictor.model_dir} on {args.data}")
    return 0
