"""Running speaker normalisation of the voice features: centre and scale by what this session has heard.

Emotion shows as a change from a speaker's own baseline; a new voice, language, microphone or room shifts
every feature, and a head trained on other corpora reads that shift as a class ("anger" for anything loud).
The model is trained on features standardised per speaker; live, the channel standardises each speech window
by exponentially weighted running statistics of the windows heard so far in the session, which start from
the training pool's statistics (worth ``prior_weight`` updates) and forget with a memory of ``memory``
updates. Causal: a window is normalised before it is added to the statistics.

That adapts to the mood as much as to the voice: a mood that lasts becomes the session's baseline and reads as
"no emotion". ``mode="voice"`` adapts only to what identifies a voice and a room: the features are standardised
by the training statistics, and only the part of the session's running mean that lies in the ``rank`` directions
where training speakers (and corpora) differ most relative to how emotions differ within a speaker is taken off
(``voice_basis``). A lasting mood moves the running mean along emotion directions, which this leaves alone; it
assumes a new speaker or microphone differs from the training pool in the way training speakers differ.
``mode="emotion"`` turns that round: the running mean's drift is taken off in every direction but the ``rank``
directions that best tell a speaker's emotions apart (``emotion_basis``), so a voice, a room or a corpus unlike any
in training is still removed, and a lasting mood (which moves the mean along those directions) is kept.
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
    mode: str = "full"  # "full": centre and scale by the running statistics; "voice"/"emotion": module docstring
    rank: int = 0  # modes "voice"/"emotion": how many directions the basis holds

    def __post_init__(self) -> None:
        if self.mode not in NORM_MODES:
            raise ValueError(f"unknown running normalisation mode {self.mode!r} (one of {', '.join(NORM_MODES)})")

    def to_dict(self) -> dict[str, float | str | int]:
        out: dict[str, float | str | int] = {"prior_weight": self.prior_weight, "memory": self.memory}
        if self.mode != "full":
            out |= {"mode": self.mode, "rank": self.rank}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> NormSettings:
        return cls(float(data.get("prior_weight", 20.0)), float(data.get("memory", 200.0)),
                   str(data.get("mode", "full")), int(data.get("rank", 0)))


NORM_MODES = ("full", "voice", "emotion")


def norm_rank(settings: NormSettings | None) -> int:
    """How many voice/room directions a model with these settings stores (0: none)."""
    return settings.rank if settings is not None and settings.mode != "full" else 0


class RunningNorm:
    """Per-dimension running mean and variance, started at ``mean``/``var``; ``normalise`` then ``update``.

    ``basis`` (mode "voice"): ``(left, right)``, each ``[D, rank]``; the running mean's drift from ``mean``, in
    units of the training spread, is taken off through ``left @ right.T`` (a projection onto the voice/room
    directions, see ``voice_basis``)."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, settings: NormSettings | None = None,
                 basis: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.settings = settings or NormSettings()
        self._mean0 = np.asarray(mean, dtype=np.float64).copy()
        self._var0 = np.asarray(var, dtype=np.float64).copy()
        self._scale0 = np.sqrt(self._var0 + 1e-6)
        self.basis: tuple[np.ndarray, np.ndarray] | None = None
        if self.settings.mode != "full":
            if basis is None:
                raise ValueError(f"the running normalisation mode {self.settings.mode!r} needs its basis")
            left, right = (np.asarray(b, dtype=np.float64) for b in basis)
            if left.shape != right.shape or left.shape[0] != self._mean0.shape[0]:
                raise ValueError(f"basis shapes {left.shape}/{right.shape} do not fit {self._mean0.shape[0]} features")
            self.basis = (left, right)
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
        x = np.asarray(x, dtype=np.float64)
        if self.basis is None:
            return ((x - self.mean) / np.sqrt(self.var + 1e-6)).astype(np.float32)
        left, right = self.basis
        drift = (self.mean - self._mean0) / self._scale0
        along = left @ (right.T @ drift)
        taken = along if self.settings.mode == "voice" else drift - along
        return ((x - self._mean0) / self._scale0 - taken).astype(np.float32)

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
                        settings: NormSettings | None = None, seed: int = 0,
                        basis: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """What the live channel does, per group: each group's rows in a random order through a fresh RunningNorm
    (each row normalised by the statistics of the rows before it)."""
    out = np.empty(x.shape, dtype=np.float32)
    for order in session_order(groups, seed):
        norm = RunningNorm(mean, var, settings, basis)
        for i in order:
            out[i] = norm(x[i])
    return out


def within_group_stats(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x`` and the average within-group variance: the running statistics' starting point (a new
    speaker is assumed to vary as much as a typical training speaker does, not as much as the whole pool)."""
    var = np.mean([x[groups == g].var(0) for g in np.unique(groups)], axis=0)
    return x.mean(0), var


def _scatters(z: np.ndarray, speakers: np.ndarray, labels: np.ndarray,
              speaker_weights: dict[str, float] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(between-speaker scatter of class-balanced speaker means, within-speaker scatter of class means, scatter
    of clips around their speaker/class mean), speakers weighted by ``speaker_weights`` (default equal)."""
    dim = z.shape[1]
    speaker_means, weights = [], []
    emotion, noise = np.zeros((dim, dim)), np.zeros((dim, dim))
    for s in np.unique(speakers):
        rows = speakers == s
        classes = np.unique(labels[rows])
        class_means = np.stack([z[rows & (labels == k)].mean(0) for k in classes])
        centre = class_means.mean(0)
        speaker_means.append(centre)
        weight = 1.0 if speaker_weights is None else float(speaker_weights[str(s)])
        weights.append(weight)
        dev = class_means - centre
        emotion += weight * dev.T @ dev / len(class_means)
        resid = np.concatenate([z[rows & (labels == k)] - m for k, m in zip(classes, class_means, strict=True)])
        noise += weight * resid.T @ resid / len(resid)
    w = np.asarray(weights) / np.sum(weights)
    means = np.stack(speaker_means)
    dev = means - w @ means
    return (dev * w[:, None]).T @ dev, emotion / np.sum(weights), noise / np.sum(weights)


def _oblique_basis(between: np.ndarray, within: np.ndarray, rank: int, ridge: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The ``rank`` directions where ``between`` is largest relative to ``within`` (plus ``ridge`` times its
    mean variance), as ``(left, right)``: ``left @ right.T`` projects onto them along the others."""
    dim = between.shape[0]
    rank = int(min(max(rank, 0), dim))
    values, vectors = np.linalg.eigh(within + ridge * np.trace(within) / dim * np.eye(dim))
    root = (vectors * np.sqrt(values)) @ vectors.T
    inv_root = (vectors / np.sqrt(values)) @ vectors.T
    gains, directions = np.linalg.eigh(inv_root @ between @ inv_root)
    top = directions[:, np.argsort(gains)[::-1][:rank]]
    return (root @ top).astype(np.float32), (inv_root @ top).astype(np.float32)


def voice_basis(z: np.ndarray, speakers: np.ndarray, labels: np.ndarray, rank: int,
                speaker_weights: dict[str, float] | None = None, ridge: float = 0.1
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(left, right)``, each ``[D, rank]``: the directions of standardised features ``z`` along which training
    speakers' class-balanced means differ most relative to how a speaker's emotions differ (a generalised
    eigenproblem of the between-speaker scatter against the within-speaker emotion scatter, ``ridge`` times
    its mean variance added), as the oblique projection ``left @ right.T`` onto them that leaves the emotion
    scatter's other directions alone. ``speaker_weights`` (default equal) weigh the speakers."""
    between, emotion, _ = _scatters(np.asarray(z, dtype=np.float64), speakers, labels, speaker_weights)
    return _oblique_basis(between, emotion, rank, ridge)


def emotion_basis(z: np.ndarray, speakers: np.ndarray, labels: np.ndarray, rank: int,
                  speaker_weights: dict[str, float] | None = None, ridge: float = 0.1
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(left, right)``, each ``[D, rank]``: the directions along which a speaker's class means differ most
    relative to how single clips scatter around them (a discriminant analysis within speakers), as the oblique
    projection ``left @ right.T`` onto them (mode "emotion" keeps the running mean's drift along these)."""
    _, emotion, noise = _scatters(np.asarray(z, dtype=np.float64), speakers, labels, speaker_weights)
    return _oblique_basis(emotion, noise, rank, ridge)
