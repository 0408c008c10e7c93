"""What users meet in a face report: per-class recall and how often a resting (neutral) face reads as a negative
emotion, plus pooling the reports of several image folders (`emolive eval face --data A B --by-source`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emolive.core.labels import EMOTIONS

NEGATIVE = ("sadness", "anger", "fear", "disgust")


def recall_fields(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, Any]:
    """``per_class_recall`` (emotion -> recall, None for a class with no image), ``neutral_n``,
    ``neutral_as_negative`` (share of neutral faces read as sadness, anger, fear or disgust; None without
    neutral faces) and ``neutral_read_as`` (emotion -> count over the neutral faces)."""
    t = np.asarray(y_true, dtype=int)
    p = np.asarray(y_pred, dtype=int)
    recall: dict[str, float | None] = {}
    for i, emotion in enumerate(EMOTIONS):
        mask = t == i
        recall[emotion] = float((p[mask] == i).mean()) if mask.any() else None
    neutral = t == EMOTIONS.index("neutral")
    negative = [EMOTIONS.index(e) for e in NEGATIVE]
    share = float(np.isin(p[neutral], negative).mean()) if neutral.any() else None
    read_as = {e: int((p[neutral] == i).sum()) for i, e in enumerate(EMOTIONS)}
    return {"per_class_recall": recall, "neutral_n": int(neutral.sum()), "neutral_as_negative": share,
            "neutral_read_as": read_as}


def format_recall(report: dict[str, Any]) -> str:
    """Two lines: per-class recall and the neutral faces read as negative."""
    recall = "  ".join(f"{e} {'-' if v is None else f'{v:.3f}'}" for e, v in report["per_class_recall"].items())
    lines = [f"per-class recall: {recall}"]
    share = report.get("neutral_as_negative")
    if share is not None:
        lines.append(f"neutral faces read as negative ({'/'.join(NEGATIVE)}): {share:.3f} "
                     f"of {report['neutral_n']}")
    return "\n".join(lines)


def pool_frames_extra(extras: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The frames protocol's counts summed over several folders (the box offsets stay per folder)."""
    if not extras or not all(extras):
        return {}
    frames = sum(int(e["frames"]) for e in extras)
    found = sum(int(e["frames_found"]) for e in extras)
    correct = sum(float(e["accuracy_incl_missed"]) * int(e["frames"]) for e in extras)
    return {"frames": frames, "frames_found": found, "frames_found_rate": found / frames if frames else 0.0,
            "accuracy_incl_missed": correct / frames if frames else 0.0}
