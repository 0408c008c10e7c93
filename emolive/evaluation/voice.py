"""Evaluate the voice emotion model on whole clips (windows aggregated).

DIR is a RAVDESS-style tree (labels from the MM-VV-EE-II-SS-RR-AA file-name code) or an audio folder with
one subfolder per class (wav, flac, ogg/opus, mp3; any sample rate, stereo is downmixed). Class names go
through the alias table; unknown classes and unreadable files are skipped and counted.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from emolive.audio_io import load_audio
from emolive.errors import MediaError
from emolive.labels import EMOTIONS
from emolive.progress import track
from emolive.voice.channel import VoiceChannel
from emolive.voice.data import find_clips, skipped_counts

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="RAVDESS tree or DIR/<class>/<audio file>")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/voice)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")


def run(args: argparse.Namespace) -> int:
    from emolive.evaluation.metrics import classification_report, emit

    clips = find_clips(args.data)
    reasons: Counter[str] = Counter(skipped_counts(clips))
    channel = VoiceChannel(args.model, threads=args.threads)
    y_true: list[int] = []
    y_pred: list[int] = []
    for clip in track([c for c in clips if c.label is not None], desc="voice eval", unit="clips"):
        try:
            audio = load_audio(clip.path, channel.spec.sample_rate)
        except MediaError as exc:
            log.warning("skipped: %s", exc)
            reasons["unreadable"] += 1
            continue
        if audio.size == 0:
            reasons["empty"] += 1
            continue
        probs, _ = channel.predict_clip(audio)
        y_true.append(int(clip.label))
        y_pred.append(int(probs.argmax()))
    report = classification_report(y_true, y_pred, EMOTIONS, dict(reasons))
    emit(report, args.json, f"voice model {channel.model_dir} on {args.data}")
    return 0
