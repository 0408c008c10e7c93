"""Canonical label sets and the one alias table that maps dataset spellings onto them."""

from __future__ import annotations

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
