"""Tiny generated training data (image folders, MELD CSVs, clips) for the training tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

FACE_CLASSES = ("happy", "sad", "angry")
TINY_FACE_ARGS = ["--widths", "4", "8", "--convs-per-stage", "1", "--embedding-dim", "8", "--batch-size", "8",
                  "--threads", "1"]


def write_face_folder(root: Path, per_class: int = 8, size: int = 48) -> Path:
    """train/ and val/ image folders whose classes differ in brightness (so a tiny CNN can learn them)."""
    import cv2

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for k, name in enumerate(FACE_CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                image = np.clip(rng.normal(60 + 70 * k, 20, (size, size)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(folder / f"{i}.png"), image)
    return root


MELD_HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"]
MELD_ROWS = [
    ("I love this, it is wonderful!", "joy", "positive"),
    ("This is terrible, I hate it.", "anger", "negative"),
    ("Okay, see you tomorrow.", "neutral", "neutral"),
    ("I miss her so much.", "sadness", "negative"),
]


def write_meld_csv(path: Path, dialogues: int = 4, rows: list[tuple[str, str, str]] | None = None) -> Path:
    """A MELD-format CSV: ``dialogues`` dialogues, each with every row of ``rows``."""
    rows = rows or MELD_ROWS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MELD_HEADER)
        n = 0
        for d in range(dialogues):
            for u, (text, emotion, sentiment) in enumerate(rows):
                n += 1
                writer.writerow([n, text, "A", emotion, sentiment, d, u])
    return path
