"""Session plans of the voice yardstick (speaker / clip / mood) and `emolive eval voice --session mood`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from emolive.core.labels import EMOTIONS


def _corpus() -> tuple[np.ndarray, np.ndarray]:
    """Two speakers: A has 3 joy and 2 anger clips, B 4 sadness and 1 joy (file order sorted by class)."""
    speakers = np.array(["A"] * 5 + ["B"] * 5)
    labels = np.array([1, 1, 1, 3, 3, 2, 2, 2, 2, 1])
    return speakers, labels


def test_mood_sessions_hold_one_speaker_and_one_class_with_enough_clips():
    from emolive.voice.sessions import session_plan

    speakers, labels = _corpus()
    plan = session_plan(speakers, labels, "mood", seed=0, min_clips=3)
    assert [sorted(s.tolist()) for s in plan] == [[0, 1, 2], [5, 6, 7, 8]]  # A/anger (2) and B/joy (1) left out
    for session in plan:
        assert len(set(speakers[session])) == 1 and len(set(labels[session])) == 1
    everything = session_plan(speakers, labels, "mood", seed=0, min_clips=1)
    assert sorted(np.concatenate(everything).tolist()) == list(range(10)) and len(everything) == 4


def test_session_orders_are_seeded_and_do_not_depend_on_the_other_sessions():
    from emolive.voice.sessions import session_plan

    speakers, labels = _corpus()
    first = session_plan(speakers, labels, "mood", seed=0, min_clips=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, session_plan(speakers, labels, "mood", 0, 3), strict=True))
    orders = {tuple(session_plan(speakers, labels, "mood", seed, 3)[1].tolist()) for seed in range(8)}
    assert len(orders) > 1  # the seed moves the order
    alone = session_plan(speakers[5:], labels[5:], "mood", seed=0, min_clips=3)  # without speaker A
    np.testing.assert_array_equal(alone[0] + 5, first[1])


def test_speaker_and_clip_sessions():
    from emolive.voice.sessions import session_plan

    speakers, labels = _corpus()
    by_speaker = session_plan(speakers, labels, "speaker", seed=0)
    assert [sorted(s.tolist()) for s in by_speaker] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert sorted(len(s) for s in session_plan(speakers, labels, "clip", seed=0)) == [1] * 10
    with pytest.raises(ValueError, match="session kind"):
        session_plan(speakers, labels, "room")


def test_eval_session_clips_start_each_mood_session_afresh():
    from emolive.evaluation.voice import session_clips

    speakers, labels = _corpus()
    clips = [argparse.Namespace(speaker=s, label=int(y), name=f"c{i}")
             for i, (s, y) in enumerate(zip(speakers, labels, strict=True))]
    ordered = session_clips(clips, "mood", seed=0, min_clips=3)
    starts = [k for k, (new, _) in enumerate(ordered) if new]
    assert starts == [0, 3] and len(ordered) == 7
    runs = [ordered[a:b] for a, b in zip(starts, [*starts[1:], len(ordered)], strict=True)]
    for run in runs:
        assert len({(c.speaker, c.label) for _, c in run}) == 1


class _Stateful:
    """A stand-in channel whose answer is the class it has heard most often in this session: scoring depends on
    the session plan, as with a running normalisation."""

    def __init__(self) -> None:
        self.model_dir = Path("stand-in")
        self.spec = argparse.Namespace(sample_rate=16_000)
        self.reset()

    def reset(self) -> None:
        self.heard: list[int] = []

    def clip_input(self, audio: np.ndarray) -> np.ndarray:
        return np.array([round(float(audio[0]) * 10)])

    def predict_input(self, features: np.ndarray) -> tuple[np.ndarray, float]:
        self.heard.append(int(features[0]))
        probs = np.bincount(self.heard, minlength=len(EMOTIONS)).astype(float)
        return probs / probs.sum(), 0.5


def test_eval_voice_reports_each_session_kind(tmp_path, monkeypatch, capsys):
    from emolive.evaluation import voice as voice_eval
    from tests.test_voice import write_wav

    # speaker s1: 3 joy clips then 3 anger clips; each clip's first sample says its class to the stand-in
    for k, (folder, label) in enumerate([("happy", 1)] * 3 + [("angry", 3)] * 3):
        write_wav(tmp_path / folder / f"s1_{k}.wav", np.full(1600, label / 10, np.float32), 16_000)
    monkeypatch.setattr(voice_eval, "VoiceChannel", lambda *a, **k: _Stateful())
    args = argparse.Namespace(data=tmp_path, model=None, threads=1, json=True, session=["speaker", "clip", "mood"],
                              min_clips=3, seed=0)
    assert voice_eval.run(args) == 0
    reports = json.loads(capsys.readouterr().out)["sessions"]
    assert reports["clip"]["accuracy"] == 1.0 and reports["mood"]["accuracy"] == 1.0
    assert reports["speaker"]["accuracy"] < 1.0  # the majority of the mixed session outvotes some clips
    assert reports["mood"]["n"] == 6
    args.min_clips = 4
    args.session = ["mood"]
    assert voice_eval.run(args) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 0


# --- a normalisation that keeps a lasting mood --------------------------------------------------------------

def _voices_and_moods(seed: int = 0):
    """Synthetic features: each speaker shifts the first 4 dimensions (voice, room), each class moves the
    last 6 (emotion); 3 corpora x 4 speakers, every speaker acting 4 classes in turn."""
    from training.voice_whisper import Pool

    rng = np.random.default_rng(seed)
    centres = np.zeros((len(EMOTIONS), 10))
    centres[:, 4:] = 2.0 * rng.normal(size=(len(EMOTIONS), 6))
    rows, y, corpus, speaker = [], [], [], []
    for c in ("a", "b", "c"):
        for s in range(4):
            offset = np.concatenate([rng.normal(0, 3.0, 4), np.zeros(6)])
            for i in range(24):
                k = i % 4
                rows.append(centres[k] + offset + 0.5 * rng.normal(size=10))
                y.append(k)
                corpus.append(c)
                speaker.append(f"{c}_{s}")
    x = np.array(rows, dtype=np.float32)
    pool = Pool(x, [], np.array(y), np.full(len(y), 0.5), np.array(corpus), np.array(speaker), ["a", "b", "c"])
    new_voice = np.concatenate([rng.normal(0, 3.0, 4), np.zeros(6)])
    return pool, centres, new_voice, rng


def test_voice_only_normalisation_keeps_a_constant_mood_where_the_full_one_loses_it():
    from emolive.voice.norm import NormSettings
    from training.voice_whisper import Recipe, fit_head

    pool, centres, new_voice, rng = _voices_and_moods()
    balanced = (centres[np.arange(40) % 4] + new_voice + 0.5 * rng.normal(size=(40, 10))).astype(np.float32)
    moods = [(centres[k] + new_voice + 0.5 * rng.normal(size=(30, 10))).astype(np.float32) for k in range(4)]
    kept, on_balance = {}, {}
    for mode, rank in (("full", 0), ("voice", 4), ("emotion", 3)):
        recipe = Recipe(c=1.0, speaker_norm="running", norm=NormSettings(2.0, 1000.0, mode, rank))
        head = fit_head(pool, np.ones(len(pool.y), bool), recipe)
        # one session per mood, the new speaker's clips of that class in a row; scored after the first 10 clips
        kept[mode] = np.mean([np.mean(head.logits(x, np.array(["new"] * 30))[10:].argmax(1) == k)
                              for k, x in enumerate(moods)])
        on_balance[mode] = np.mean(head.logits(balanced, np.array(["new"] * 40)).argmax(1) == np.arange(40) % 4)
    assert kept["voice"] > 0.9 and kept["emotion"] > 0.9
    assert kept["full"] < 0.6  # the lasting mood became the baseline
    assert min(on_balance.values()) > 0.9  # all adapt to the new voice


def test_voice_and_emotion_bases_find_their_directions():
    from emolive.voice.norm import emotion_basis, voice_basis

    pool, _, _, _ = _voices_and_moods()
    z = (pool.x - pool.x.mean(0)) / pool.x.std(0)
    left, right = voice_basis(z, pool.speaker, pool.y, rank=4)
    projection = left @ right.T
    np.testing.assert_allclose(projection @ projection, projection, atol=1e-4)  # a projection
    voice, emotion = np.zeros(10), np.zeros(10)
    voice[:4], emotion[4:] = 1.0, 1.0
    assert np.linalg.norm(projection @ voice) > 0.9 * np.linalg.norm(voice)
    assert np.linalg.norm(projection @ emotion) < 0.2 * np.linalg.norm(emotion)
    left, right = emotion_basis(z, pool.speaker, pool.y, rank=3)
    keep = left @ right.T
    assert np.linalg.norm(keep @ voice) < 0.2 * np.linalg.norm(voice)
    shift = np.zeros(10)
    shift[4:] = z[pool.y == 1].mean(0)[4:] - z.mean(0)[4:]  # an emotion's offset: kept
    assert np.linalg.norm(keep @ shift - shift) < 0.2 * np.linalg.norm(shift)
