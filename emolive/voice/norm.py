"""Running speaker normalisation of the voice features: centre and scale by what this session has heard.

Emotion shows as a change from a speaker's own baseline; a new voice, language, microphone or room shifts
every feature, and a head trained on other corpora reads that shift as a class ("anger" for anything loud).
The model is trained on features standardised per speaker; live, the channel standardises each speech window
by exponentially weighted running statistics of the windows heard so far in the session, which start from
the training pool's statistics (worth ``prior_weight`` updates) and forget with a memory of ``memory``
updates. Causal: a window is normalised before it is added to the statistics.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NormSettings:
    """How the running statistics move: ``prior_weight`` updates' worth of the training statistics at the
    start, and an effective memory of ``memory`` updates."""

    prior_weight: float = 20.0
    memory: float = 200.0

    def to_dict(self) -> dict[str, float]:
        return {"prior_weight": self.prior_weight, "memory": self.memory}

    @classmethod
    def from_dict(cls, data: dict[str, float]) -> NormSettings:
        return cls(float(data.get("prior_weight", 20.0)), float(data.get("memory", 200.0)))


class RunningNorm:
    """Per-dimension running mean and variance, started at ``mean``/``var``; ``normalise`` then ``update``."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, settings: NormSettings | None = None) -> None:
        self.settings = settings or NormSettings()
        self._mean0 = np.asarray(mean, dtype=np.float64).copy()
        self._var0 = np.asarray(var, dtype=np.float64).copy()
        self.reset()

    def reset(self) -> None:
        """Forget the session: back to the training statistics."""
        self.mean = self._mean0.copy()
        self.var = self._var0.copy()
        self.count = self.settings.prior_weight

    def state(self) -> dict:
        """The session's statistics so far (the training statistics they started from come with the model)."""
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": float(self.count)}

    def restore(self, state: dict) -> None:
        self.mean = np.array(state["mean"], dtype=np.float64)
        self.var = np.array(state["var"], dtype=np.float64)
        self.count = float(state["count"])

    def normalise(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / np.sqrt(self.var + 1e-6)).astype(np.float32)

    def update(self, x: np.ndarray, weight: float = 1.0) -> None:
        """Add ``x`` to the statistics as ``weight`` updates' worth (live: the share of the window that is new
        audio since the last update, so overlapping windows do not count twice)."""
        weight = float(min(max(weight, 0.0), 1.0))
        if weight == 0.0:
            return
        self.count += weight
        rate = min(1.0, weight / min(self.count, self.settings.memory))
        delta = np.asarray(x, dtype=np.float64) - self.mean
        self.mean = self.mean + rate * delta
        self.var = (1.0 - rate) * (self.var + rate * delta * delta)

    def __call__(self, x: np.ndarray, weight: float = 1.0) -> np.ndarray:
        """Normalise ``x`` by the statistics so far, then add it to them."""
        out = self.normalise(x)
        self.update(x, weight)
        return out


def session_order(groups: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """The order in which a group's (speaker's) clips pass through the running statistics, as one session
    each: groups in sorted order, each group's row indices in a seeded random order (file order would sort
    RAVDESS and class-folder corpora by emotion). A group's order depends only on its name, its clips and
    ``seed``, so it is the same whichever other groups are scored with it. Shared by the trainer and
    ``emolive eval voice``."""
    groups = np.asarray(groups)
    return [np.random.default_rng([seed, zlib.crc32(str(g).encode())]).permutation(np.flatnonzero(groups == g))
            for g in np.unique(groups)]


def speaker_standardise(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Standardise the rows of ``x`` within each group (speaker) by that group's own mean and spread."""
    out = np.empty(x.shape, dtype=np.float32)
    for g in np.unique(groups):
        rows = groups == g
        out[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-3)
    return out


def running_standardise(x: np.ndarray, groups: np.ndarray, mean: np.ndarray, var: np.ndarray,
                        settings: NormSettings | None = None, seed: int = 0) -> np.ndarray:
    """What the live channel does, per group: each group's rows in a random order through a fresh RunningNorm
    (each row normalised by the statistics of the rows before it)."""
    out = np.empty(x.shape, dtype=np.float32)
    for order in session_order(groups, seed):
        norm = RunningNorm(mean, var, settings)
        for i in order:
            out[i] = norm(x[i])
    return out


def within_group_stats(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x`` and the average within-group variance: the running statistics' starting point (a new
    speaker is assumed to vary as much as a typical training speaker does, not as much as the whole pool)."""
    var = np.mean([x[groups == g].var(0) for g in np.unique(groups)], axis=0)
    return x.mean(0), var
