"""Voice recipe: running speaker normalisation (state, causality, no labels), prosody, head export round trip."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from emolive.core.labels import EMOTIONS

RATE = 16_000


def _pool(n_per: int = 12, dim: int = 10, prosody: int = 4, seed: int = 0):
    """A small pool: 3 corpora x 2 speakers, each speaker with its own offset (what normalisation removes)."""
    from training.voice_whisper import Pool

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(EMOTIONS), dim + prosody))
    rows, y, corpus, speaker = [], [], [], []
    for c in ("a", "b", "c"):
        for s in range(2):
            offset = rng.normal(0, 3.0, dim + prosody)
            for i in range(n_per):
                k = i % 4
                rows.append(centres[k] + offset + 0.3 * rng.normal(size=dim + prosody))
                y.append(k)
                corpus.append(c)
                speaker.append(f"{c}_{s}")
    x = np.array(rows, dtype=np.float32)
    return Pool(x, [x + 0.1], np.array(y), np.full(len(y), 0.5), np.array(corpus), np.array(speaker),
                ["a", "b", "c"], n_embedding=dim)


# --- running normalisation --------------------------------------------------------------------------------

def test_running_norm_reset_returns_to_the_training_statistics():
    from emolive.voice.norm import NormSettings, RunningNorm

    mean, var = np.zeros(3), np.ones(3)
    norm = RunningNorm(mean, var, NormSettings(prior_weight=2.0, memory=10.0))
    first = norm(np.array([5.0, 5.0, 5.0]))
    np.testing.assert_allclose(first, [5.0, 5.0, 5.0], rtol=1e-5)  # normalised before it is counted
    for _ in range(20):
        norm(np.array([5.0, -5.0, 1.0]))
    assert norm.mean[0] > 4.0 and norm.mean[1] < -4.0  # the session's own level is learnt
    norm.reset()
    np.testing.assert_array_equal(norm.mean, mean)
    np.testing.assert_array_equal(norm.var, var)
    assert norm.count == 2.0
    np.testing.assert_allclose(norm(np.array([5.0, 5.0, 5.0])), first)


def test_running_norm_update_weight_counts_partial_windows():
    from emolive.voice.norm import RunningNorm

    whole, half = RunningNorm(np.zeros(1), np.ones(1)), RunningNorm(np.zeros(1), np.ones(1))
    whole.update(np.array([4.0]))
    half.update(np.array([4.0]), weight=0.5)
    assert 0.0 < half.mean[0] < whole.mean[0]
    unchanged = RunningNorm(np.zeros(1), np.ones(1))
    unchanged.update(np.array([4.0]), weight=0.0)
    assert unchanged.mean[0] == 0.0 and unchanged.count == unchanged.settings.prior_weight


def test_session_order_is_per_group_and_independent_of_other_groups():
    from emolive.voice.norm import session_order

    groups = np.array(["s1"] * 5 + ["s2"] * 4 + ["s1"] * 2)
    order = session_order(groups, seed=3)
    assert sorted(np.concatenate(order).tolist()) == list(range(len(groups)))
    assert all(len(set(groups[idx])) == 1 for idx in order)
    alone = session_order(groups[groups == "s2"], seed=3)[0]
    np.testing.assert_array_equal(np.flatnonzero(groups == "s2")[alone], order[1])  # same order without s1


def test_running_standardise_is_causal_and_per_speaker():
    from emolive.voice.norm import running_standardise, session_order

    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    groups = np.array(["a"] * 10 + ["b"] * 10)
    mean, var = np.zeros(3), np.ones(3)
    out = running_standardise(x, groups, mean, var)
    changed = x.copy()
    changed[10:] += 100.0  # another speaker: no effect on "a"
    last_a = session_order(groups)[0][-1]
    changed[last_a] -= 50.0  # the last clip of "a" in the session: no effect on the ones before it
    again = running_standardise(changed, groups, mean, var)
    earlier = session_order(groups)[0][:-1]
    np.testing.assert_allclose(again[earlier], out[earlier], rtol=1e-6)
    assert not np.allclose(again[last_a], out[last_a])


def test_test_side_features_never_see_labels():
    """The held-out inputs depend on features and speakers only: relabelling the test clips changes nothing."""
    from training.voice_whisper import Recipe, fit_head

    pool = _pool()
    train = pool.corpus != "c"
    head = fit_head(pool, train, Recipe(speaker_norm="speaker"))
    test = ~train
    before = head.logits(pool.x[test], pool.speaker[test])
    pool.y[test] = (pool.y[test] + 1) % 4
    np.testing.assert_array_equal(head.logits(pool.x[test], pool.speaker[test]), before)
    with pytest.raises(ValueError, match="speaker"):
        head.logits(pool.x[test])


def test_speaker_normalisation_removes_speaker_offsets():
    from training.voice_whisper import Recipe, fit_head

    pool = _pool(n_per=40)
    train = pool.corpus != "c"
    scores = {}
    for mode in ("none", "speaker"):
        head = fit_head(pool, train, Recipe(speaker_norm=mode, c=1.0))
        scores[mode] = (head.logits(pool.x[~train], pool.speaker[~train]).argmax(1) == pool.y[~train]).mean()
    assert scores["speaker"] > scores["none"]
    assert scores["speaker"] > 0.8


# --- prosody ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds", [0.01, 0.5, 2.0, 6.0])
def test_prosody_features_are_finite_with_a_fixed_shape(seconds):
    from emolive.voice.prosody import DIM, prosody_features

    rng = np.random.default_rng(0)
    n = int(seconds * RATE)
    for audio in (np.zeros(n, np.float32), (0.1 * rng.normal(size=n)).astype(np.float32),
                  (0.5 * np.sin(2 * np.pi * 150 * np.arange(n) / RATE)).astype(np.float32)):
        out = prosody_features(audio)
        assert out.shape == (DIM,) and out.dtype == np.float32 and np.isfinite(out).all()


# --- export and config round trip -------------------------------------------------------------------------

def test_exported_head_with_prosody_and_running_norm_round_trips(tmp_path):
    import torch

    from emolive.models.io import load_config, load_into, save_model
    from emolive.voice.norm import NormSettings, RunningNorm
    from emolive.voice.whisper_embed import EmbeddingHead
    from training.voice_whisper import Recipe, fit_head, to_head

    pool = _pool()
    recipe = Recipe(speaker_norm="running", prosody_weight=2.0, prior_correction=True, embedding_norm="zscore",
                    norm=NormSettings(prior_weight=5.0, memory=50.0))
    fit = fit_head(pool, pool.corpus != "c", recipe)
    config = {"embedding_dim": 10, "embedding_norm": "zscore", "prosody": {"dim": 4},
              "running_norm": recipe.norm.to_dict()}
    save_model(to_head(fit), config, tmp_path)
    loaded = load_config(tmp_path)
    head = load_into(EmbeddingHead(loaded["embedding_dim"], len(EMOTIONS), norm=loaded["embedding_norm"],
                                   prosody_dim=loaded["prosody"]["dim"], running=True), tmp_path)
    norm = RunningNorm(head.norm_mean.numpy(), head.norm_var.numpy(), NormSettings.from_dict(loaded["running_norm"]))
    assert norm.settings == recipe.norm
    rows = np.flatnonzero(pool.speaker == "c_1")
    expected = fit.logits(pool.x[rows], pool.speaker[rows])
    order = np.random.default_rng([0, __import__("zlib").crc32(b"c_1")]).permutation(len(rows))
    got = np.zeros_like(expected)
    for i in order:  # what the channel does, clip after clip
        features = norm(head.prepare(pool.x[rows[i], :10], pool.x[rows[i], 10:]))
        with torch.no_grad():
            got[i] = head(torch.from_numpy(features)[None])[0].numpy()[0]
    present = expected.max(0) > -1e3
    np.testing.assert_allclose(got[:, present], expected[:, present], atol=2e-3)
    with pytest.raises(Exception, match="prosodic"):
        head.prepare(pool.x[0, :10])


def test_cli_records_the_recipe_in_the_config(tmp_path, monkeypatch):
    import training.voice_whisper as vw
    from emolive.models.io import load_config

    pool = _pool()
    monkeypatch.setattr(vw.Pool, "build", classmethod(lambda cls, *a, **k: pool))
    clips = [SimpleNamespace(corpus="a", speaker=s) for s in ("a_0", "a_1")]
    args = SimpleNamespace(whisper_c=0.5, embedding_norm="none", prior_correction=False, speaker_norm="running",
                           prosody=True, prosody_weight=1.5, norm_prior_weight=10.0, norm_memory=100.0,
                           aug_copies=0, threads=1, speaker_folds=0, leave_one_corpus_out=True, out=tmp_path,
                           cv_only=False, window_s=2.0, min_speech=0.25, data="a", tess=[])
    assert vw.train_whisper(args, clips, [], [["a_0"], ["a_1"]]) == 0
    config = load_config(tmp_path)
    assert config["prosody"]["dim"] == 4 and config["embedding_dim"] == 10
    assert config["running_norm"] == {"prior_weight": 10.0, "memory": 100.0}
    assert config["training"]["speaker_norm"] == "running" and config["training"]["prosody_weight"] == 1.5
    assert set(config["leave_one_corpus_out"]) >= {"mean_accuracy", "max_top_class_share"}


def test_pooling_selects_the_frame_mean():
    from emolive.core.errors import ModelError
    from emolive.voice.whisper_embed import pooled

    emb = np.arange(8.0)
    np.testing.assert_array_equal(pooled(emb, "mean"), [0, 1, 2, 3])
    np.testing.assert_array_equal(pooled(emb, "mean+std"), emb)
    with pytest.raises(ModelError, match="pooling"):
        pooled(emb, "max")


@pytest.mark.slow
def test_channel_running_state_carries_within_a_session_and_resets(tmp_path):
    import torch

    from emolive.core.audio_io import load_audio
    from emolive.models.io import save_model
    from emolive.voice.channel import VoiceChannel
    from emolive.voice.prosody import DIM, VERSION
    from emolive.voice.whisper_embed import ENCODER_NAME, EmbeddingHead

    torch.manual_seed(0)
    head = EmbeddingHead(384, len(EMOTIONS), prosody_dim=DIM, running=True)
    config = {"kind": "voice", "encoder": ENCODER_NAME, "embedding_dim": 384, "labels": list(EMOTIONS),
              "temperature": 1.0, "window_s": 2.0, "pooling": "mean", "prosody": {"dim": DIM, "version": VERSION},
              "running_norm": {"prior_weight": 2.0, "memory": 50.0}}
    save_model(head, config, tmp_path)
    channel = VoiceChannel(tmp_path)
    assert channel.stateful
    audio = load_audio(Path(__file__).parent / "assets" / "voice_speech_espeak.opus")
    first = channel.process(audio, t=2.0)
    assert first.present and first.embedding.shape == (768,)
    second = channel.process(audio, t=4.0)  # the same audio, after the session has heard it once
    assert not np.allclose(first.emotion, second.emotion, atol=1e-6)
    channel.reset()
    np.testing.assert_allclose(channel.process(audio, t=2.0).emotion, first.emotion, atol=1e-6)
    config["prosody"] = {"dim": DIM + 1, "version": VERSION}
    save_model(EmbeddingHead(384, len(EMOTIONS), prosody_dim=DIM + 1, running=True), config, tmp_path)
    with pytest.raises(Exception, match="prosodic"):
        VoiceChannel(tmp_path)
