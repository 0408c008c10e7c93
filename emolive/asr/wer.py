"""Word error rate on normalised text (case and punctuation ignored)."""

from __future__ import annotations

import re

_DROP = re.compile(r"[^\w\s']")


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation; hyphens and slashes split words ("well-known" -> well known)."""
    text = re.sub(r"[-/]", " ", text.lower())
    return [w.strip("'") for w in _DROP.sub("", text).split() if w.strip("'")]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(edits, reference word count) after normalising both texts."""
    ref = normalize(reference)
    return edit_distance(ref, normalize(hypothesis)), len(ref)
