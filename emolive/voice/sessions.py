"""What one session of the voice channel's running normalisation is when labelled clips are scored.

- ``speaker``: all of a speaker's clips in a row (acted corpora: every emotion in turn, a balanced session);
- ``clip``: every clip alone (scored from the training statistics, as at the very start of a live session);
- ``mood``: one speaker's clips of ONE class in a row (a mood that lasts, as real people keep one); only the
  speaker/class pairs with at least ``min_clips`` clips are scored.

Within a session the clips come in a seeded random order (``emolive.voice.norm.session_order``): it depends only
on the session's key, its clips and the seed. Shared by ``emolive eval voice`` and the trainer's figures.
"""

from __future__ import annotations

import numpy as np

from emolive.voice.norm import session_order

SESSIONS = ("speaker", "clip", "mood")
DEFAULT_MIN_CLIPS = 5


def session_keys(speakers: np.ndarray, labels: np.ndarray, kind: str, min_clips: int = DEFAULT_MIN_CLIPS
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(session key of every clip, mask of the clips that are scored) for a session ``kind``."""
    speakers = np.asarray(speakers).astype(str)
    labels = np.asarray(labels)
    if kind == "speaker":
        return speakers, np.ones(len(speakers), dtype=bool)
    if kind == "clip":
        return np.array([f"clip{i}" for i in range(len(speakers))]), np.ones(len(speakers), dtype=bool)
    if kind == "mood":
        keys = np.array([f"{s}|{y}" for s, y in zip(speakers, labels, strict=True)])
        names, counts = np.unique(keys, return_counts=True)
        kept = set(names[counts >= max(1, int(min_clips))].tolist())
        return keys, np.array([k in kept for k in keys], dtype=bool)
    raise ValueError(f"unknown session kind {kind!r} (one of {', '.join(SESSIONS)})")


def session_plan(speakers: np.ndarray, labels: np.ndarray, kind: str, seed: int = 0,
                 min_clips: int = DEFAULT_MIN_CLIPS) -> list[np.ndarray]:
    """The sessions of ``kind`` as arrays of clip indices, each in its scoring order (sessions sorted by key)."""
    keys, mask = session_keys(speakers, labels, kind, min_clips)
    rows = np.flatnonzero(mask)
    return [rows[order] for order in session_order(keys[rows], seed)] if rows.size else []
