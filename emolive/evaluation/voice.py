"""Evaluate the voice emotion model on whole clips (windows aggregated).

DIR is a RAVDESS-style tree (labels from the MM-VV-EE-II-SS-RR-AA file-name code) or an audio folder with
one subfolder per class (wav, flac, ogg/opus, mp3; any sample rate, stereo is downmixed). Class names go
through the alias table; unknown classes and unreadable files are skipped and counted.

A model with running speaker normalisation keeps state across clips, so what one session is matters
(emolive.voice.sessions): ``--session speaker`` (default) scores each speaker's clips as one session (acted corpora:
every emotion in turn); ``--session clip`` resets before every clip (each clip scored from the training statistics
alone, as at the very start of a live session); ``--session mood`` scores one speaker's clips of ONE class as one
session (a mood that lasts), for every speaker/class pair with at least ``--min-clips`` clips. Within a session the
clips come in a seeded random order (``--seed``; the trainer's held-out figures use the same order), so every clip
is normalised by that session's earlier clips only. Several kinds (``--session speaker clip mood``) embed each clip
once and print one report per kind.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

from emolive.core.audio_io import load_audio
from emolive.core.errors import MediaError
from emolive.core.labels import EMOTIONS
from emolive.core.progress import track
from emolive.voice.channel import VoiceChannel
from emolive.voice.data import find_clips, skipped_counts
from emolive.voice.sessions import DEFAULT_MIN_CLIPS, SESSIONS, session_plan

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="RAVDESS tree or DIR/<class>/<audio file>")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: assets/voice)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--session", choices=SESSIONS, nargs="+", default=["speaker"],
                        help="what one session of the running normalisation is (models that have one); several: "
                             "one report each")
    parser.add_argument("--min-clips", type=int, default=DEFAULT_MIN_CLIPS,
                        help="--session mood: speaker/class pairs with fewer clips are not scored")
    parser.add_argument("--seed", type=int, default=0, help="order of the clips within each session")


def session_clips(clips: list, session: str, seed: int, min_clips: int = DEFAULT_MIN_CLIPS
                  ) -> list[tuple[bool, object]]:
    """(starts a session, clip) in scoring order for a session kind (emolive.voice.sessions.session_plan)."""
    import numpy as np

    plan = session_plan(np.array([c.speaker for c in clips]), np.array([c.label for c in clips]), session, seed,
                        min_clips)
    return [(k == 0, clips[i]) for idx in plan for k, i in enumerate(idx)]


def _inputs(channel: VoiceChannel, clips: list, reasons: Counter) -> dict[int, tuple[object, object]]:
    """Index -> (head input or None, stateless probabilities or None) of every readable clip."""
    out: dict[int, tuple[object, object]] = {}
    for i, clip in enumerate(track(clips, desc="voice eval", unit="clips")):
        try:
            audio = load_audio(clip.path, channel.spec.sample_rate)
        except MediaError as exc:
            log.warning("skipped: %s", exc)
            reasons["unreadable"] += 1
            continue
        if audio.size == 0:
            reasons["empty"] += 1
            continue
        features = channel.clip_input(audio)
        out[i] = (features, None) if features is not None else (None, channel.predict_clip(audio)[0])
    return out


def score_sessions(channel: VoiceChannel, clips: list, inputs: dict, session: str, seed: int,
                   min_clips: int) -> tuple[list[int], list[int]]:
    """(true, predicted) classes of the clips a session kind scores, each session from a reset channel."""
    y_true: list[int] = []
    y_pred: list[int] = []
    index = {id(c): i for i, c in enumerate(clips)}
    for new_session, clip in session_clips(clips, session, seed, min_clips):
        if new_session:
            channel.reset()
        i = index[id(clip)]
        if i not in inputs:
            continue
        features, probs = inputs[i]
        if probs is None:
            probs, _ = channel.predict_input(features)
        y_true.append(int(clip.label))
        y_pred.append(int(probs.argmax()))
    return y_true, y_pred


def run(args: argparse.Namespace) -> int:
    from emolive.evaluation.metrics import classification_report, emit

    clips = find_clips(args.data)
    reasons: Counter[str] = Counter(skipped_counts(clips))
    channel = VoiceChannel(args.model, threads=args.threads)
    labelled = [c for c in clips if c.label is not None]
    inputs = _inputs(channel, labelled, reasons)
    chosen = getattr(args, "session", ["speaker"])
    sessions = list(dict.fromkeys([chosen] if isinstance(chosen, str) else chosen))
    min_clips = int(getattr(args, "min_clips", DEFAULT_MIN_CLIPS))
    seed = int(getattr(args, "seed", 0))
    reports = {}
    for session in sessions:
        y_true, y_pred = score_sessions(channel, labelled, inputs, session, seed, min_clips)
        reports[session] = classification_report(y_true, y_pred, EMOTIONS, dict(reasons))
        reports[session]["session"] = session
    title = f"voice model {channel.model_dir} on {args.data}"
    if len(sessions) == 1:
        emit(reports[sessions[0]], args.json, f"{title} (sessions: {sessions[0]})")
    elif args.json:
        print(json.dumps({"sessions": reports}, indent=2))
    else:
        for session in sessions:
            emit(reports[session], False, f"{title} (sessions: {session})")
    return 0
