"""The session's estimate history as growable numpy arrays (pure, no Qt): what the plots draw from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emolive.core.contracts import EmotionEstimate
from emolive.core.labels import EMOTIONS
from emolive.fusion.va import channel_va

CHANNELS: tuple[str, ...] = ("face", "voice", "text")  # order of HistoryView.channels


@dataclass(frozen=True)
class HistoryView:
    """A window of the history: times and the matching rows (copies, safe to hand to pyqtgraph)."""

    t: np.ndarray  # (n,)
    emotion: np.ndarray  # (n, len(EMOTIONS))
    valence: np.ndarray  # (n,)
    arousal: np.ndarray  # (n,)
    # (n, 3, 2): each channel's own (valence, arousal) in CHANNELS order, NaN where it said nothing
    channels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.t.size)


class EstimateHistory:
    """Every estimate of the session (or the newest ``max_seconds``), appended in time order.

    Appending is amortised O(1); ``window`` returns the rows of a time span by binary search, so a
    redraw costs only what it shows. Out-of-order estimates (older than the newest) are dropped.
    """

    def __init__(self, max_seconds: float = 3600.0, initial: int = 1024) -> None:
        self.max_seconds = max_seconds
        self._t = np.zeros(initial, np.float64)
        self._rows = np.zeros((initial, len(EMOTIONS) + 2), np.float32)  # emotions, valence, arousal
        self._channels = np.full((initial, len(CHANNELS), 2), np.nan, np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def start(self) -> float:
        return float(self._t[0]) if self._n else 0.0

    @property
    def end(self) -> float:
        return float(self._t[self._n - 1]) if self._n else 0.0

    def append(self, estimate: EmotionEstimate) -> bool:
        """Add one estimate; False when it was dropped as out of order or malformed."""
        if len(estimate.emotion) != len(EMOTIONS) or (self._n and estimate.t < self._t[self._n - 1]):
            return False
        if self._n == self._t.size:
            self._make_room()
        self._t[self._n] = estimate.t
        if estimate.dominant == "uncertain":  # no usable input: a gap in the plots, not a flat line of priors
            self._rows[self._n] = np.nan
        else:
            self._rows[self._n, : len(EMOTIONS)] = estimate.emotion
            self._rows[self._n, -2] = estimate.valence
            self._rows[self._n, -1] = estimate.arousal
        self._channels[self._n] = np.nan
        for i, name in enumerate(CHANNELS):
            va = channel_va(estimate.modality(name))
            if va is not None:
                self._channels[self._n, i] = va
        self._n += 1
        return True

    def _make_room(self) -> None:
        keep = self._t[: self._n] >= self._t[self._n - 1] - self.max_seconds
        first = int(np.argmax(keep))
        if first > self._n // 4:  # enough is too old: shift instead of growing
            kept = self._n - first
            self._t[:kept] = self._t[first : self._n]
            self._rows[:kept] = self._rows[first : self._n]
            self._channels[:kept] = self._channels[first : self._n]
            self._n = kept
            return
        self._t = np.concatenate([self._t, np.zeros_like(self._t)])
        self._rows = np.concatenate([self._rows, np.zeros_like(self._rows)])
        self._channels = np.concatenate([self._channels, np.full_like(self._channels, np.nan)])

    def window(self, t0: float, t1: float) -> HistoryView:
        """Rows with ``t0 <= t <= t1``."""
        lo = int(np.searchsorted(self._t[: self._n], t0, side="left"))
        hi = int(np.searchsorted(self._t[: self._n], t1, side="right"))
        rows = self._rows[lo:hi]
        return HistoryView(self._t[lo:hi].copy(), rows[:, : len(EMOTIONS)].copy(), rows[:, -2].copy(),
                           rows[:, -1].copy(), self._channels[lo:hi].copy())

    def clear(self) -> None:
        self._n = 0
