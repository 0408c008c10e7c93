"""Composite multimodal samples from single-modality data sets (an engineering check of fusion).

No data set here has face, voice and words of the same moment, so a composite sample pairs a face image,
a voice clip and an utterance that carry the same emotion label. Each channel scores its own pool once
(cached); composites are then drawn from the scores. This measures the fusion logic (does combining
channels help, does losing one hurt gracefully), not accuracy on real conversations.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from emolive.fusion.late import MODALITIES, TrustPolicy
from emolive.labels import EMOTIONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pool:
    """One channel's calibrated probabilities on labelled samples; ``groups`` keep speakers/dialogues apart."""

    probs: np.ndarray  # [N, 7]
    labels: np.ndarray  # [N]
    groups: np.ndarray  # [N] str

    def split(self, fraction: float, seed: int = 0) -> tuple[Pool, Pool]:
        """Split by group (never one speaker/dialogue on both sides)."""
        groups = np.unique(self.groups)
        rng = np.random.default_rng(seed)
        rng.shuffle(groups)
        first = set(groups[: max(1, int(round(len(groups) * fraction)))].tolist())
        mask = np.array([g in first for g in self.groups])
        return (Pool(self.probs[mask], self.labels[mask], self.groups[mask]),
                Pool(self.probs[~mask], self.labels[~mask], self.groups[~mask]))


def _cache_path(cache: Path | None, *parts: str) -> Path | None:
    if cache is None:
        return None
    key = hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]
    return cache / f"pool-{key}.npz"


def _cached(path: Path | None, build) -> Pool:
    if path is not None and path.is_file():
        data = np.load(path, allow_pickle=False)
        return Pool(data["probs"], data["labels"], data["groups"])
    pool = build()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, probs=pool.probs, labels=pool.labels, groups=pool.groups)
    return pool


def _model_stamp(model_dir: Path | None, modality: str) -> str:
    from emolive.assets import default_model_dir

    weights = (Path(model_dir) if model_dir else default_model_dir(modality)) / "model.safetensors"
    return f"{weights}:{weights.stat().st_mtime_ns if weights.is_file() else 0}"


def face_pool(root: Path, model_dir: Path | None = None, cache: Path | None = None) -> Pool:
    """Face crops in an image folder (one subfolder per class), scored by the expression CNN."""
    import cv2

    from emolive.face.folder import list_image_folder
    from emolive.face.predictor import ExpressionPredictor

    def build() -> Pool:
        items, _ = list_image_folder(root)
        predictor = ExpressionPredictor(model_dir)
        probs = []
        for start in tqdm(range(0, len(items), 256), desc="face pool", leave=False):
            batch = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p, _ in items[start : start + 256]]
            probs.append(predictor.predict(np.stack([cv2.resize(b, (predictor.size, predictor.size))
                                                     for b in batch]))[0])
        return Pool(np.concatenate(probs), np.array([label for _, label in items]),
                    np.array([p.name for p, _ in items]))

    return _cached(_cache_path(cache, "face", str(root), _model_stamp(model_dir, "face")), build)


def voice_pool(root: Path, model_dir: Path | None = None, cache: Path | None = None) -> Pool:
    """Speech clips (RAVDESS tree or class folders), each scored whole by the voice model."""
    from emolive.audio_io import load_audio
    from emolive.voice.channel import VoiceChannel
    from emolive.voice.data import find_clips

    def build() -> Pool:
        clips = [c for c in find_clips(root) if c.label is not None]
        channel = VoiceChannel(model_dir)
        probs = [channel.predict_clip(load_audio(c.path))[0] for c in tqdm(clips, desc="voice pool", leave=False)]
        return Pool(np.asarray(probs, np.float64), np.array([c.label for c in clips]),
                    np.array([c.speaker for c in clips]))

    return _cached(_cache_path(cache, "voice", str(root), _model_stamp(model_dir, "voice")), build)


def text_pool(csv: Path, model_dir: Path | None = None, cache: Path | None = None) -> Pool:
    """MELD-format utterances scored by the text model (with dialogue context when the model uses it)."""
    from emolive.text.channel import TextChannel
    from emolive.text.data import load_meld_csv, previous_utterances

    def build() -> Pool:
        rows = load_meld_csv(csv)
        channel = TextChannel(model_dir)
        contexts = previous_utterances(rows, 2)
        emotion, _ = channel.predict_batch([r.text for r in rows], contexts)
        return Pool(np.asarray(emotion, np.float64), np.array([r.emotion for r in rows]),
                    np.array([r.dialogue or str(i) for i, r in enumerate(rows)]))

    return _cached(_cache_path(cache, "text", str(csv), _model_stamp(model_dir, "text")), build)


def draw(pools: dict[str, Pool], n: int, seed: int = 0, drop: float = 0.0
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` composites with labels balanced over the classes every pool has.

    Returns log-probabilities [n, 3, 7], trust [n, 3] (the run-time certainty term; 0 when absent) and
    labels [n]. With ``drop`` > 0 each modality is independently left out with that probability (at
    least one is kept), which teaches the learned weights to cope with missing channels.
    """
    rng = np.random.default_rng(seed)
    classes = sorted(set.intersection(*(set(np.unique(p.labels).tolist()) for p in pools.values())))
    if not classes:
        raise ValueError("the pools share no emotion class")
    by_class = {m: {c: np.flatnonzero(p.labels == c) for c in classes} for m, p in pools.items()}
    labels = rng.choice(classes, size=n)
    log_probs = np.full((n, len(MODALITIES), len(EMOTIONS)), -np.log(len(EMOTIONS)))
    trust = np.zeros((n, len(MODALITIES)))
    for j, modality in enumerate(MODALITIES):
        if modality not in pools:
            continue
        pool = pools[modality]
        picks = np.array([rng.choice(by_class[modality][c]) for c in labels])
        p = np.clip(pool.probs[picks], 1e-6, 1.0)
        log_probs[:, j] = np.log(p / p.sum(axis=1, keepdims=True))
        trust[:, j] = [TrustPolicy.certainty(row) for row in p]
    if drop > 0:
        keep = rng.random(trust.shape) >= drop
        keep[~keep.any(axis=1), rng.integers(0, len(MODALITIES))] = True
        trust = trust * keep
    return log_probs, trust, labels
