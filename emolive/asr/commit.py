"""LocalAgreement-2: commit the words that two consecutive hypotheses agree on (pure, no I/O).

Each hypothesis is the model's reading of the same growing audio buffer. A word becomes final once the
newest hypothesis and the one before it start with the same words; the rest stays tentative. At the end of an
utterance ``flush`` commits what is left. Committed words never change, and their times never go backwards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from emolive.core.contracts import Word
from emolive.core.snapshot import restore_word, word_state

_NON_WORD = re.compile(r"[^\w']+")


def word_key(text: str) -> str:
    """Comparison key of a word: lower case without punctuation ("Back." == "back")."""
    return _NON_WORD.sub("", text.lower())


class LocalAgreement:
    """Streaming commit policy over word hypotheses on an absolute (session) time line.

    ``tolerance_s``: a hypothesis word starting this much before the last committed end still counts as new
    (Whisper's word times jitter). ``max_overlap``: up to this many leading words of a hypothesis that repeat
    the last committed words are dropped as already said.
    """

    def __init__(self, tolerance_s: float = 0.1, max_overlap: int = 5) -> None:
        self.tolerance_s = tolerance_s
        self.max_overlap = max_overlap
        self.committed: list[Word] = []
        self.committed_end = 0.0
        self._tentative: list[Word] = []

    @property
    def tentative(self) -> list[Word]:
        return list(self._tentative)

    def state(self) -> dict:
        return {"committed": [word_state(w) for w in self.committed], "committed_end": self.committed_end,
                "tentative": [word_state(w) for w in self._tentative]}

    def restore(self, state: dict) -> None:
        self.committed = [restore_word(w) for w in state["committed"]]
        self.committed_end = float(state["committed_end"])
        self._tentative = [restore_word(w) for w in state["tentative"]]

    def update(self, hypothesis: Sequence[Word]) -> tuple[list[Word], list[Word]]:
        """Take a new hypothesis; return (words committed now, words still tentative)."""
        fresh = self._fresh(hypothesis)
        n = 0
        for old, new in zip(self._tentative, fresh, strict=False):
            if word_key(old.text) != word_key(new.text):
                break
            n += 1
        newly = self._commit(fresh[:n])
        self._tentative = fresh[n:]
        return newly, list(self._tentative)

    def flush(self, hypothesis: Sequence[Word] | None = None) -> list[Word]:
        """End of utterance: commit a final hypothesis (or, without one, the current tentative words)."""
        words = self._fresh(hypothesis) if hypothesis is not None else self._tentative
        self._tentative = []
        return self._commit(words)

    def reset(self) -> None:
        """Start a new utterance: forget committed words for overlap matching (times stay monotonic)."""
        self.committed = []
        self._tentative = []

    def _fresh(self, hypothesis: Sequence[Word]) -> list[Word]:
        words = [w for w in hypothesis if w.start > self.committed_end - self.tolerance_s and word_key(w.text)]
        if words and self.committed and words[0].start < self.committed_end + 1.0:
            keys = [word_key(w.text) for w in words]
            done = [word_key(w.text) for w in self.committed]
            for n in range(min(self.max_overlap, len(keys), len(done)), 0, -1):
                if done[-n:] == keys[:n]:
                    words = words[n:]
                    break
        return words

    def _commit(self, words: Sequence[Word]) -> list[Word]:
        out: list[Word] = []
        for w in words:
            start = max(w.start, self.committed_end)
            end = max(w.end, start)
            word = Word(w.text, start, end, w.probability)
            out.append(word)
            self.committed_end = end
        self.committed.extend(out)
        return out
