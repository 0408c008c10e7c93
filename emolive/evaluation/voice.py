"""Evaluate the voice emotion model on whole clips (windows aggregated).

DIR is a RAVDESS-style tree (labels from the MM-VV-EE-II-SS-RR-AA file-name code) or an audio folder with
one subfolder per class (wav, flac, ogg/opus, mp3; any sample rate, stereo is downmixed). Class names go
through the alias table; unknown classes and unreadable files are skipped and counted.

A model with running speaker normalisation keeps state across clips. ``--session speaker`` (default) treats
each speaker as one session: the channel is reset at each new speaker and scores that speaker's clips in a
seeded random order (``--seed``; the trainer's held-out figures use the same order), so every clip is
normalised by the speaker's earlier clips only. ``--session clip`` resets before every clip (each clip scored
from the training statistics alone, as at the very start of a live session).
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from emolive.core.audio_io import load_audio
from emolive.core.errors import MediaError
from emolive.core.labels import EMOTIONS
from emolive.core.progress import track
from emolive.voice.channel import VoiceChannel
from emolive.voice.data import find_clips, skipped_counts

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="RAVDESS tree or DIR/<class>/<audio file>")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/voice)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--session", choices=("speaker", "clip"), default="speaker",
                        help="what one session of the running normalisation is (models that have one)")
    parser.add_argument("--seed", type=int, default=0, help="order of each speaker's clips (--session speaker)")


def session_clips(clips: list, session: str, seed: int) -> list[tuple[bool, object]]:
    """(starts a session, clip) in scoring order: per speaker in a seeded random order, or one per clip."""
    import numpy as np

    from emolive.voice.norm import session_order

    if session == "clip":
        return [(True, c) for c in clips]
    order = session_order(np.array([c.speaker for c in clips]), seed)
    return [(k == 0, clips[i]) for idx in order for k, i in enumerate(idx)]


def run(args: argparse.Namespace) -> int:
    from emolive.evaluation.metrics import classification_report, emit

    clips = find_clips(args.data)
    reasons: Counter[str] = Counter(skipped_counts(clips))
    channel = VoiceChannel(args.model, threads=args.threads)
    y_true: list[int] = []
    y_pred: list[int] = []
    labelled = [c for c in clips if c.label is not None]
    ordered = session_clips(labelled, args.session, args.seed) if channel.stateful else [(False, c) for c in labelled]
    for new_session, clip in track(ordered, desc="voice eval", unit="clips"):
        if new_session:
            channel.reset()
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
