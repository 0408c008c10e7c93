"""Composite multimodal samples from single-modality data sets (an engineering check of fusion).

No data set here has face, voice and words of the same moment, so a composite sample pairs a face image
and a voice clip that carry the same emotion label, and some words. Each channel scores its own pool once
(cached); composites are then drawn from the scores.

Two modes for the words (``draw(..., text=...)``):
- ``realistic`` (the default of `emolive eval fusion`): as in most real conversation, most composites
  (``REALISTIC_SHARES``: 60%) carry the lexically neutral transcript of their own speech (the RAVDESS
  statements "Kids are talking by the door" / "Dogs are sitting by the door"), a minority (25%) an
  emotional MELD utterance of the same label, and the rest (15%) no words at all.
- ``matched``: every composite carries a MELD utterance of the same label. That never happens in life and
  flatters fusion (the words always agree with the face and the voice); it is kept as the old check.

Either way this measures the fusion logic (does combining channels help, does losing one hurt
gracefully), not accuracy on real conversations: the face and the voice of a composite are of two
different people, their errors are independent, and no transcript has Whisper's mistakes.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from emolive.core.audio_io import load_audio
from emolive.core.labels import EMOTIONS
from emolive.face.folder import list_image_folder
from emolive.fusion.late import MODALITIES, TrustPolicy, evidence
from emolive.models.assets import default_model_dir
from emolive.text.channel import TextChannel
from emolive.text.data import load_meld_csv, previous_utterances
from emolive.voice.channel import VoiceChannel
from emolive.voice.data import find_clips, parse_ravdess_name

log = logging.getLogger(__name__)

# RAVDESS statements by the file name's statement code: the words of every held-out voice clip.
RAVDESS_STATEMENTS: dict[int, str] = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
# Realistic mode: share of composites with their own (lexically neutral) words, an emotional utterance, none.
REALISTIC_SHARES: dict[str, float] = {"own_words": 0.60, "emotional": 0.25, "none": 0.15}
TEXT_MODES: tuple[str, ...] = ("realistic", "matched")


@dataclass(frozen=True)
class Pool:
    """One channel's calibrated probabilities on labelled samples; ``groups`` keep speakers/dialogues apart."""

    probs: np.ndarray  # [N, 7]
    labels: np.ndarray  # [N]
    groups: np.ndarray  # [N] str
    words: np.ndarray | None = None  # [N] str: what is said in each sample (voice pools), when known
    prior: tuple[float, ...] | None = None  # the class prior ``probs`` carry (ModalityOutput.prior); None: uniform

    def split(self, fraction: float, seed: int = 0) -> tuple[Pool, Pool]:
        """Split by group (never one speaker/dialogue on both sides)."""
        groups = np.unique(self.groups)
        rng = np.random.default_rng(seed)
        rng.shuffle(groups)
        first = set(groups[: max(1, int(round(len(groups) * fraction)))].tolist())
        mask = np.array([g in first for g in self.groups])
        return self._subset(mask), self._subset(~mask)

    def _subset(self, mask: np.ndarray) -> Pool:
        return Pool(self.probs[mask], self.labels[mask], self.groups[mask],
                    None if self.words is None else self.words[mask], self.prior)


def _cache_path(cache: Path | None, *parts: str) -> Path | None:
    if cache is None:
        return None
    key = hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]
    return cache / f"pool-{key}.npz"


def _cached(path: Path | None, build) -> Pool:
    if path is not None and path.is_file():
        data = np.load(path, allow_pickle=False)
        return Pool(data["probs"], data["labels"], data["groups"], data.get("words"))
    pool = build()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {"words": pool.words} if pool.words is not None else {}
        np.savez(path, probs=pool.probs, labels=pool.labels, groups=pool.groups, **extra)
    return pool


def _model_stamp(model_dir: Path | None, modality: str) -> str:
    weights = (Path(model_dir) if model_dir else default_model_dir(modality)) / "model.safetensors"
    return f"{weights}:{weights.stat().st_mtime_ns if weights.is_file() else 0}"


def face_pool(root: Path, model_dir: Path | None = None, cache: Path | None = None) -> Pool:
    """Face crops in an image folder (one subfolder per class), scored by the expression CNN."""
    import cv2

    from emolive.face.predictor import ExpressionPredictor, face_class_prior

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

    pool = _cached(_cache_path(cache, "face", str(root), _model_stamp(model_dir, "face")), build)
    return replace(pool, prior=face_class_prior(model_dir))  # from the config, which the cache key does not cover


def voice_pool(root: Path, model_dir: Path | None = None, cache: Path | None = None) -> Pool:
    """Speech clips (RAVDESS tree or class folders), each scored whole by the voice model."""
    def build() -> Pool:
        clips = [c for c in find_clips(root) if c.label is not None]
        channel = VoiceChannel(model_dir)
        probs = [channel.predict_clip(load_audio(c.path))[0] for c in tqdm(clips, desc="voice pool", leave=False)]
        return Pool(np.asarray(probs, np.float64), np.array([c.label for c in clips]),
                    np.array([c.speaker for c in clips]), np.array([spoken_words(c.path) for c in clips]))

    return _cached(_cache_path(cache, "voice2", str(root), _model_stamp(model_dir, "voice")), build)


def spoken_words(path: Path) -> str:
    """What is said in a speech clip when its name tells: a RAVDESS statement, a TESS "Say the word X"."""
    name = parse_ravdess_name(Path(path).name)
    if name is not None:
        return RAVDESS_STATEMENTS.get(name.statement, "")
    stem = Path(path).stem
    if "_" in stem:  # TESS: <speaker>_<word>
        return f"Say the word {stem.split('_', 1)[1]}"
    return ""


def words_pool(texts: list[str], model_dir: Path | None = None, cache: Path | None = None) -> dict[str, np.ndarray]:
    """The text model's emotion probabilities for each distinct sentence (no dialogue context)."""
    texts = sorted({t for t in texts if t})
    if not texts:
        return {}
    path = _cache_path(cache, "words", *texts, _model_stamp(model_dir, "text"))
    if path is not None and path.is_file():
        data = np.load(path, allow_pickle=False)
        return dict(zip(data["texts"].tolist(), data["probs"], strict=True))
    emotion, _ = TextChannel(model_dir).predict_batch(texts)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, texts=np.array(texts), probs=np.asarray(emotion, np.float64))
    return dict(zip(texts, np.asarray(emotion, np.float64), strict=True))


def text_pool(csv: Path, model_dir: Path | None = None, cache: Path | None = None) -> Pool:
    """MELD-format utterances scored by the text model (with dialogue context when the model uses it)."""
    def build() -> Pool:
        rows = load_meld_csv(csv)
        channel = TextChannel(model_dir)
        contexts = previous_utterances(rows, 2)
        emotion, _ = channel.predict_batch([r.text for r in rows], contexts)
        return Pool(np.asarray(emotion, np.float64), np.array([r.emotion for r in rows]),
                    np.array([r.dialogue or str(i) for i, r in enumerate(rows)]))

    return _cached(_cache_path(cache, "text", str(csv), _model_stamp(model_dir, "text")), build)


ABSENT = float(-np.log(len(EMOTIONS)))  # the log-probability a composite holds for a modality it lacks (uniform)


def present(log_probs: np.ndarray, modality: str) -> np.ndarray:
    """[n] bool: which composites of ``draw`` carry ``modality`` (its column is not the uniform filler), whatever
    trust the policy gave it (words the text gate ignores are present)."""
    return ~np.isclose(log_probs[:, MODALITIES.index(modality)], ABSENT).all(axis=1)


def draw(pools: dict[str, Pool], n: int, seed: int = 0, drop: float = 0.0, text: str = "matched",
         own_words: dict[str, np.ndarray] | None = None, shares: dict[str, float] | None = None,
         policy: TrustPolicy | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` composites with labels balanced over the classes the face/voice pools (all pools: matched) have.

    Returns log-probabilities [n, 3, 7], trust [n, 3] (the run-time certainty x relevance terms of
    ``policy``; 0 when absent) and labels [n]. ``text="realistic"`` gives the words of each composite as
    ``shares`` says (default ``REALISTIC_SHARES``): its own speech's words scored by the text model
    (``own_words``: sentence -> probabilities, from ``words_pool``), an emotional utterance of the same
    label from the text pool, or none. With ``drop`` > 0 each modality is independently left out with that
    probability (at least one is kept), which teaches the learned weights to cope with missing channels.
    """
    if text not in TEXT_MODES:
        raise ValueError(f"text mode {text!r}: use one of {TEXT_MODES}")
    policy = policy or TrustPolicy()
    rng = np.random.default_rng(seed)
    voting = {m: p for m, p in pools.items() if text == "matched" or m != "text"} or pools
    classes = sorted(set.intersection(*(set(np.unique(p.labels).tolist()) for p in voting.values())))
    if not classes:
        raise ValueError("the pools share no emotion class")
    by_class = {m: {c: np.flatnonzero(p.labels == c) for c in classes} for m, p in pools.items()}
    labels = rng.choice(classes, size=n)
    log_probs = np.full((n, len(MODALITIES), len(EMOTIONS)), ABSENT)
    trust = np.zeros((n, len(MODALITIES)))
    voice_picks = None
    for j, modality in enumerate(MODALITIES):
        if modality not in pools or (modality == "text" and text == "realistic"):
            continue
        pool = pools[modality]
        picks = np.array([rng.choice(by_class[modality][c]) if len(by_class[modality][c]) else -1 for c in labels])
        if modality == "voice":
            voice_picks = picks
        have = picks >= 0
        p = np.clip(pool.probs[np.where(have, picks, 0)], 1e-6, 1.0)
        log_probs[have, j] = evidence(p / p.sum(axis=1, keepdims=True), pool.prior)[have]
        trust[have, j] = [policy.certainty(row) * policy.relevance(modality, row) for row in p[have]]
    if text == "realistic":
        _realistic_words(pools, labels, voice_picks, own_words or {}, shares or REALISTIC_SHARES, policy, rng,
                         log_probs, trust, by_class.get("text"))
    if drop > 0:
        keep = rng.random(trust.shape) >= drop
        keep[~keep.any(axis=1), rng.integers(0, len(MODALITIES))] = True
        trust = trust * keep
    return log_probs, trust, labels


def _realistic_words(pools: dict[str, Pool], labels: np.ndarray, voice_picks: np.ndarray | None,
                     own_words: dict[str, np.ndarray], shares: dict[str, float], policy: TrustPolicy,
                     rng: np.random.Generator, log_probs: np.ndarray, trust: np.ndarray,
                     text_by_class: dict[int, np.ndarray] | None) -> None:
    """Fill the text column of realistic composites in place (see ``draw``)."""
    j = MODALITIES.index("text")
    kinds = np.array(list(shares))
    weights = np.array([shares[k] for k in kinds], dtype=np.float64)
    choice = rng.choice(kinds, size=len(labels), p=weights / weights.sum())
    voice = pools.get("voice")
    fallback = sorted(own_words)
    for i, kind in enumerate(choice):
        probs = None
        if kind == "own_words" and own_words:
            said = ""
            if voice is not None and voice.words is not None and voice_picks is not None and voice_picks[i] >= 0:
                said = str(voice.words[voice_picks[i]])
            probs = own_words.get(said)
            if probs is None:  # the clip's words are not known: one of the same kind of sentence
                probs = own_words[fallback[int(rng.integers(len(fallback)))]]
        elif kind == "emotional" and "text" in pools and text_by_class is not None:
            candidates = text_by_class.get(int(labels[i]), np.array([], dtype=int))
            if len(candidates):
                probs = pools["text"].probs[rng.choice(candidates)]
        if probs is None:
            continue
        p = np.clip(np.asarray(probs, dtype=np.float64), 1e-6, 1.0)
        p = p / p.sum()
        log_probs[i, j] = np.log(p)
        trust[i, j] = policy.certainty(p) * policy.relevance("text", p)


def own_words_for(pools: dict[str, Pool], text_model: Path | None = None, cache: Path | None = None
                  ) -> dict[str, np.ndarray]:
    """The text model's reading of every sentence the voice pool's speakers say (plus the RAVDESS statements)."""
    voice = pools.get("voice")
    said = list(RAVDESS_STATEMENTS.values())
    if voice is not None and voice.words is not None:
        said += [str(w) for w in np.unique(voice.words)]
    return words_pool(said, text_model, cache)
