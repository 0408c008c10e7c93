"""Canonical label sets, the one alias table that maps dataset spellings onto them, and class-per-folder layouts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger", "fear", "disgust", "surprise")
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")

# Every dataset spelling seen in FER2013, RAVDESS, TESS, MELD, AffectNet/CK+-style folders.
# RAVDESS "calm" is treated as neutral (low-arousal, no valence), documented in the voice model card.
# Classes with no canonical equivalent (contempt, ...) are absent and get skipped and counted by callers.
_ALIASES: dict[str, str] = {
    "neutral": "neutral",
    "neu": "neutral",
    "calm": "neutral",
    "joy": "joy",
    "happy": "joy",
    "happiness": "joy",
    "hap": "joy",
    "sadness": "sadness",
    "sad": "sadness",
    "anger": "anger",
    "angry": "anger",
    "ang": "anger",
    "fear": "fear",
    "fearful": "fear",
    "fea": "fear",
    "disgust": "disgust",
    "disgusted": "disgust",
    "dis": "disgust",
    "surprise": "surprise",
    "surprised": "surprise",
    "sur": "surprise",
    "pleasant_surprise": "surprise",
    "pleasant_surprised": "surprise",
    "ps": "surprise",
}

_SENTIMENT_ALIASES: dict[str, str] = {
    "negative": "negative",
    "neg": "negative",
    "neutral": "neutral",
    "neu": "neutral",
    "positive": "positive",
    "pos": "positive",
}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def canonical_emotion(name: str) -> str | None:
    """Map a dataset's class name onto one of EMOTIONS, or None when it has no equivalent."""
    return _ALIASES.get(_key(name))


def canonical_sentiment(name: str) -> str | None:
    """Map a sentiment spelling onto one of SENTIMENTS, or None."""
    return _SENTIMENT_ALIASES.get(_key(name))


def emotion_index(name: str) -> int | None:
    """Index into EMOTIONS of a (possibly aliased) class name, or None."""
    canon = canonical_emotion(name)
    return None if canon is None else EMOTIONS.index(canon)


def class_folder_files(root: Path, suffixes: Iterable[str], recursive: bool = False,
                       ) -> tuple[list[tuple[Path, int]], Counter[str]]:
    """Files of ``root/<class>/*`` (any depth when ``recursive``) with one of ``suffixes`` and the class's index in
    EMOTIONS, sorted; classes with no canonical equivalent are skipped and counted as ``"unknown class: NAME"``.
    The caller checks that ``root`` exists and says what an empty result means."""
    wanted = {s.lower() for s in suffixes}
    items: list[tuple[Path, int]] = []
    skipped: Counter[str] = Counter()
    for sub in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        found = sub.rglob("*") if recursive else sub.iterdir()
        files = sorted(f for f in found if f.is_file() and f.suffix.lower() in wanted)
        label = emotion_index(sub.name)
        if label is None:
            if files:
                skipped[f"unknown class: {sub.name}"] += len(files)
            continue
        items.extend((f, label) for f in files)
    return items, skipped
