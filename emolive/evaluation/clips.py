"""Score a folder of short labelled clips, one emotion per clip (a real-video protocol):

    emolive eval clips --data DIR [--data DIR2 ...] [--no-asr] [--save-steps OUT] [--json]

``DIR/<emotion>/<clip>`` (class folders through the alias table, videos with or without audio). Each clip runs
through the same analysis as `emolive analyze`; the clip's answer for the face channel is the majority of the
face's top class over the steps where a face was scored, for the fused output the majority of ``dominant``
(``uncertain`` steps not counted), and likewise for voice and text. A clip where a channel never spoke counts as
wrong for it. The report gives, per output, clips right, accuracy with its 95% Wilson interval, macro F1,
per-class recall and the confusion matrix, plus one row per clip. ``--save-steps OUT`` keeps each clip's steps
(JSON lines, ``OUT/<emotion>/<clip>.jsonl``) and ``--from-steps OUT`` scores such a folder again without running
the models (``--refuse``: the saved channel outputs fused again with the configured fuser).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from emolive.config import load_config
from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS, class_folder_files

log = logging.getLogger(__name__)

OUTPUTS: tuple[str, ...] = ("fused", "face", "voice", "text")
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".flv"})
NONE = "none"


def list_clips(root: Path, suffixes: Iterable[str] = VIDEO_SUFFIXES) -> tuple[list[tuple[Path, int]], Counter[str]]:
    """Files of ``root/<class>/*`` with one of ``suffixes`` and their index in labels.EMOTIONS, sorted; the Counter
    counts files in folders without a canonical class."""
    root = Path(root)
    if not root.is_dir():
        raise EmoliveError(f"clip folder not found: {root}")
    items, skipped = class_folder_files(root, suffixes)
    if not items:
        raise EmoliveError(f"no labelled clips in {root} (expected <emotion>/<clip> with a video suffix)")
    return items, skipped


def majority(values: Iterable[str | None]) -> str:
    """The most frequent class (ties: alphabetical first); ``none`` when there is none."""
    counts = Counter(v for v in values if v is not None and v in EMOTIONS)
    if not counts:
        return NONE
    return max(sorted(counts), key=lambda k: counts[k])


def clip_answers(steps: Sequence[Any]) -> dict[str, str]:
    """Per output the clip's majority class over its steps (``evaluation.clip.Step`` objects)."""
    answers = {"fused": majority(s.fused for s in steps)}
    for channel in OUTPUTS[1:]:
        answers[channel] = majority(s.channels.get(channel) for s in steps)
    return answers


def score(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The report over clip rows ``{"clip", "emotion", "fused", "face", "voice", "text"}``."""
    from emolive.evaluation.face_report import recall_fields
    from emolive.evaluation.metrics import classification_report, proportion_interval

    labels = [*EMOTIONS, NONE]
    truth = [labels.index(r["emotion"]) for r in rows]
    report: dict[str, Any] = {"clips": len(rows), "labels": labels}
    for name in OUTPUTS:
        pred = [labels.index(r[name]) for r in rows]
        right = sum(p == t for p, t in zip(pred, truth, strict=True))
        r = classification_report(truth, pred, labels)
        low, high = proportion_interval(right, len(rows))
        recall = recall_fields(truth, pred)
        report[name] = {"right": int(right), "accuracy": round(r["accuracy"], 4),
                        "accuracy_ci95": [round(low, 4), round(high, 4)], "macro_f1": round(r["macro_f1"], 4),
                        "per_class_recall": recall["per_class_recall"], "confusion": r["confusion"]}
    report["per_clip"] = list(rows)
    return report


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, nargs="+", action="extend",
                        help="clip folder(s): DIR/<emotion>/<clip>")
    parser.add_argument("--no-asr", action="store_true", help="skip transcription (no text channel)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a setting, e.g. --set inference.face_model=/tmp/face")
    parser.add_argument("--save-steps", type=Path, default=None,
                        help="keep every clip's steps as OUT/<emotion>/<clip>.jsonl")
    parser.add_argument("--from-steps", type=Path, default=None,
                        help="score a --save-steps folder again, no models")
    parser.add_argument("--refuse", action="store_true",
                        help="with --from-steps: fuse the saved channel outputs again with the configured fuser")


def run(args: argparse.Namespace) -> int:
    from emolive.evaluation.clip import analyse, read_records, steps_from_records

    if bool(args.data) == bool(args.from_steps):
        raise EmoliveError("give the clip folder(s) with --data, or a saved folder with --from-steps")
    fuser = None
    if args.refuse and not args.from_steps:
        raise EmoliveError("--refuse goes with --from-steps")
    if args.from_steps:
        if args.refuse:
            from emolive.fusion.fuser import fuser_for

            fuser = fuser_for(load_config(args.config, args.set).inference)
        items, skipped = list_clips(args.from_steps, {".jsonl"})
    else:
        items, skipped = [], Counter()
        for folder in dict.fromkeys(args.data):
            found, missed = list_clips(folder)
            items.extend(found)
            skipped.update(missed)
    rows = []
    for number, (path, label) in enumerate(items, start=1):
        emotion = EMOTIONS[label]
        if args.from_steps:
            records = read_records(path)
        else:
            log.info("clip %d/%d: %s", number, len(items), path)
            records = analyse(path, args.config, args.set, not args.no_asr)
            if args.save_steps:
                _save(args.save_steps / emotion / f"{path.stem}.jsonl", records)
        answers = clip_answers(steps_from_records(records, fuser))
        rows.append({"clip": str(path), "emotion": emotion, **answers})
    report = score(rows)
    report["skipped"] = dict(skipped)
    if args.json:
        print(json.dumps(report))
        return 0
    _print(report)
    return 0


def _save(path: Path, records: Sequence[dict[str, Any]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(rec) + "\n" for rec in records), encoding="utf-8")
    except OSError as exc:
        raise EmoliveError(f"cannot write steps {path}: {exc}") from exc


def _print(report: dict[str, Any]) -> None:
    for row in report["per_clip"]:
        marks = "  ".join(f"{name} {row[name]}{'' if row[name] == row['emotion'] else ' x'}" for name in OUTPUTS)
        print(f"{row['clip']} [{row['emotion']}]: {marks}")
    skipped = ", ".join(f"{k}: {v}" for k, v in report["skipped"].items()) or "none"
    print(f"{report['clips']} clips (one label each, majority over the clip's steps); skipped: {skipped}")
    print(f"{'':<8}{'right':>7}{'accuracy':>10}{'95% interval':>16}{'macro F1':>10}")
    for name in OUTPUTS:
        r = report[name]
        low, high = r["accuracy_ci95"]
        print(f"{name:<8}{r['right']:>7}{r['accuracy']:>10.4f}{f'{low:.2f}-{high:.2f}':>16}{r['macro_f1']:>10.4f}")
    for name in ("face", "fused"):
        recall = "  ".join(f"{e} {'-' if v is None else f'{v:.2f}'}"
                           for e, v in report[name]["per_class_recall"].items())
        print(f"{name} per-class recall: {recall}")
