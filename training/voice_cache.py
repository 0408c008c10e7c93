"""Decode clips once into log-mel features plus a per-frame speech mask, cached as one .npz under /tmp."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emolive.voice.data import Clip
from emolive.voice.features import FeatureSpec

log = logging.getLogger(__name__)


@dataclass
class FeatureSet:
    """Features of many clips: ``features[i]`` is ``[T_i, n_mels]``, ``speech[i]`` is ``[T_i]`` in [0, 1]."""

    features: list[np.ndarray]
    speech: list[np.ndarray]


def default_cache_dir() -> Path:
    return Path(os.environ.get("EMOLIVE_CACHE", Path(tempfile.gettempdir()) / "emolive_voice_cache"))


def clip_key(clip: Clip) -> str:
    """Cache key of a clip's file: the SHA-1 of its bytes (the same for every copy of the file, wherever it lies
    and whenever it was written)."""
    real = clip.path.resolve()
    stat = real.stat()
    return _content_key(str(real), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _content_key(path: str, size: int, mtime_ns: int) -> str:  # size and time only decide when to read again
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"sha1:{digest.hexdigest()}"


def _key(clips: Sequence[Clip], spec: FeatureSpec) -> str:
    """The clip files' contents (``clip_key``) and the feature spec: a new laying of the same data, with other
    modification times, still hits."""
    digest = hashlib.sha1(repr(spec.to_dict()).encode())
    for clip in clips:
        digest.update(f"{clip_key(clip)}\n".encode())
    return digest.hexdigest()[:16]


def extract(clips: Sequence[Clip], spec: FeatureSpec, progress: bool = True) -> FeatureSet:
    """Decode every clip (any format/rate -> 16 kHz mono) and compute log-mel and VAD speech mask."""
    from tqdm import tqdm

    from emolive.asr.vad import CHUNK, SpeechDetector
    from emolive.core.audio_io import load_audio
    from emolive.voice.features import LogMel, frame_speech_mask

    logmel = LogMel(spec)
    vad = SpeechDetector()
    feats, speech = [], []
    for clip in tqdm(clips, desc="decoding", disable=not progress, leave=False):
        audio = load_audio(clip.path, spec.sample_rate)
        mel = logmel(audio)
        feats.append(mel)
        speech.append(frame_speech_mask(vad.probabilities(audio), len(mel), spec, CHUNK))
    return FeatureSet(feats, speech)


def cached_features(clips: Sequence[Clip], spec: FeatureSpec, cache_dir: Path | None = None) -> FeatureSet:
    """``extract`` with an on-disk cache keyed by the clip files and the feature spec (plain arrays, no pickle)."""
    cache_dir = Path(cache_dir or default_cache_dir())
    path = cache_dir / f"voice_{_key(clips, spec)}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            offsets = data["offsets"]
            flat, mask = data["features"], data["speech"]
        log.info("feature cache hit: %s", path)
        bounds = list(zip(offsets[:-1], offsets[1:], strict=True))
        return FeatureSet([flat[a:b] for a, b in bounds], [mask[a:b] for a, b in bounds])
    result = extract(clips, spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(f) for f in result.features])
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=np.concatenate(result.features), speech=np.concatenate(result.speech), offsets=offsets)
    tmp.replace(path)
    log.info("feature cache written: %s", path)
    return result
