"""Voice channel: features, loaders, the RAVDESS name parser, "no speech" gating, shipped weights, eval."""

from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from emolive.errors import MediaError
from emolive.labels import EMOTIONS

RATE = 16_000
SPEECH = Path(__file__).parent / "assets" / "voice_speech_espeak.opus"  # espeak-ng: "Kids are talking by the door."


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    """16-bit PCM wav; ``channels`` copies of the signal, the second one at half level."""
    data = np.stack([samples * (1.0 if c == 0 else 0.5) for c in range(channels)], axis=1)
    pcm = (np.clip(data, -1, 1) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A randomly initialised voice model folder in the shipped format (config.json + safetensors)."""
    import torch

    from emolive.modelio import save_model
    from emolive.voice.features import FeatureSpec
    from emolive.voice.model import VoiceModelConfig, VoiceNet

    torch.manual_seed(0)
    cfg = VoiceModelConfig(channels=(4, 8, 8, 8), embedding_dim=16)
    directory = tmp_path_factory.mktemp("voice_model")
    config = {"kind": "voice", "model": cfg.to_dict(), "features": FeatureSpec().to_dict(), "temperature": 1.5}
    return save_model(VoiceNet(cfg), config, directory)


# --- features ---------------------------------------------------------------------------------------------

def test_logmel_matches_the_seed_spec_shape_and_hop():
    from emolive.voice.features import FeatureSpec, LogMel

    spec = FeatureSpec()
    assert (spec.sample_rate, spec.n_fft, spec.hop_length, spec.n_mels) == (16_000, 400, 160, 40)
    feats = LogMel(spec)(tone(1.0))
    assert feats.shape == (101, 40)
    assert feats.dtype == np.float32
    assert LogMel(spec)(tone(2.0)).shape == (201, 40)
    assert spec.seconds_to_frames(2.0) == 201


def test_logmel_puts_a_tone_in_the_right_band_and_follows_level():
    import torchaudio

    from emolive.voice.features import LogMel

    logmel = LogMel()
    loud, quiet = logmel(tone(1.0, 1000.0)), logmel(tone(1.0, 1000.0, amp=0.03))
    centres = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 40, 16_000).argmax(0) * 8000 / 200
    peak = int(loud[50].argmax())
    assert abs(float(centres[peak]) - 1000.0) < 150.0
    assert loud[50, peak] - quiet[50, peak] == pytest.approx(20.0, abs=0.5)  # 10x amplitude = 20 dB


def test_clip_windows_keep_speech_and_never_return_nothing():
    from emolive.voice.features import clip_windows

    feats = np.zeros((500, 40), np.float32)
    speech = np.zeros(500, np.float32)
    speech[300:450] = 1.0
    windows, weights = clip_windows(feats, speech, window=201, hop=50, min_speech=0.25)
    assert windows.shape[1:] == (201, 40) and len(windows) == len(weights) >= 1
    assert np.all(weights >= 0.25)
    silent, w = clip_windows(feats, np.zeros(500, np.float32), 201, 50)
    assert len(silent) == 1 and len(w) == 1
    short, _ = clip_windows(feats[:80], speech[:80], 201, 50)
    assert short.shape == (1, 201, 40)


# --- loading and labels -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("rate", "channels"), [(44_100, 2), (48_000, 1), (48_000, 2)])
def test_load_audio_resamples_and_downmixes(tmp_path, rate, channels):
    from emolive.audio_io import load_audio
    from emolive.voice.features import LogMel

    path = write_wav(tmp_path / "clip.wav", tone(1.0, 440.0, rate), rate, channels)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - RATE) <= 32
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    assert abs(spectrum.argmax() * RATE / 12000 - 440.0) < 5.0
    assert LogMel()(audio).shape[1] == 40


def test_ravdess_name_parser():
    from emolive.voice.data import parse_ravdess_name

    name = parse_ravdess_name("Actor_12/03-01-05-02-01-01-12.flac")
    assert name is not None
    assert (name.emotion, name.intensity, name.statement, name.actor, name.female) == ("angry", 2, 1, 12, True)
    assert parse_ravdess_name("03-01-02-01-02-02-07.wav").emotion == "calm"
    assert parse_ravdess_name("03-01-09-01-01-01-01.flac") is None  # no such emotion code
    assert parse_ravdess_name("OAF_back.opus") is None


def test_find_clips_labels_both_layouts_and_keeps_unknowns(tmp_path):
    from emolive.voice.data import arousal_target, find_clips, skipped_counts

    write_wav(tmp_path / "Actor_03" / "03-01-02-01-01-01-03.wav", tone(0.2), RATE)
    write_wav(tmp_path / "Actor_03" / "03-01-05-02-01-01-03.wav", tone(0.2), RATE)
    write_wav(tmp_path / "pleasant_surprise" / "OAF_word.wav", tone(0.2), RATE)
    write_wav(tmp_path / "contempt" / "x_1.wav", tone(0.2), RATE)
    clips = {c.path.name: c for c in find_clips(tmp_path)}
    assert EMOTIONS[clips["03-01-02-01-01-01-03.wav"].label] == "neutral"  # calm -> neutral
    assert clips["03-01-02-01-01-01-03.wav"].speaker == "ravdess_03"
    assert EMOTIONS[clips["OAF_word.wav"].label] == "surprise"
    assert clips["x_1.wav"].label is None
    assert skipped_counts(list(clips.values())) == {"unknown class contempt": 1}
    assert clips["03-01-05-02-01-01-03.wav"].arousal > arousal_target("angry") > arousal_target("calm")
    with pytest.raises(MediaError):
        find_clips(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError):
        find_clips(tmp_path / "empty")


def test_actor_folds_are_disjoint_and_cover_every_speaker():
    from training.voice import actor_folds

    speakers = [f"ravdess_{i:02d}" for i in range(1, 21)] * 3
    folds = actor_folds(speakers, 5)
    flat = [s for fold in folds for s in fold]
    assert len(folds) == 5 and sorted(flat) == sorted(set(speakers)) and len(flat) == len(set(flat))


# --- channel ----------------------------------------------------------------------------------------------

def test_silence_gives_no_speech(tiny_model):
    from emolive.voice.channel import VoiceChannel

    channel = VoiceChannel(tiny_model)
    for audio in (np.zeros(32_000, np.float32), (0.001 * np.random.default_rng(0).standard_normal(32_000))
                  .astype(np.float32)):
        out = channel.process(audio, t=12.5)
        assert (out.modality, out.t, out.present, out.reason) == ("voice", 12.5, False, "no speech")
        assert out.emotion is None and out.arousal is None


def test_speech_gives_calibrated_emotion_arousal_and_embedding(tiny_model):
    from emolive.audio_io import load_audio
    from emolive.voice.channel import VoiceChannel

    channel = VoiceChannel(tiny_model)
    audio = load_audio(SPEECH)
    out = channel.process(audio[-channel.window_samples:], t=3.0)
    assert out.present and out.reason == ""
    assert len(out.emotion) == len(EMOTIONS) and sum(out.emotion) == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= out.arousal <= 1.0 and 0.25 <= out.quality <= 1.0
    assert out.embedding.shape == (16,) and not out.embedding.flags.writeable
    assert out.latency_ms > 0
    # a window shorter than the model's is padded, not refused
    assert channel.process(audio[:12_000], t=1.0).present


def test_predict_clip_gives_a_distribution_for_any_clip(tiny_model):
    from emolive.voice.channel import VoiceChannel

    channel = VoiceChannel(tiny_model)
    probs, arousal = channel.predict_clip(tone(3.3, 220.0))
    assert probs.shape == (len(EMOTIONS),) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= arousal <= 1.0
    short, _ = channel.predict_clip(tone(0.3))
    assert short.shape == (len(EMOTIONS),)


def test_broken_model_folder_is_a_clear_error(tmp_path):
    from emolive.errors import ModelError
    from emolive.voice.channel import VoiceChannel

    with pytest.raises(ModelError):
        VoiceChannel(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"kind": "voice", "model": {}}))
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError):
        VoiceChannel(tmp_path)


@pytest.mark.parametrize("kind", ["voice", "voice_cnn"])
def test_shipped_weights_load_from_assets(kind):
    from emolive.assets import default_model_dir
    from emolive.modelio import load_config
    from emolive.voice.channel import VoiceChannel

    config = load_config(default_model_dir(kind))
    assert config["labels"] == list(EMOTIONS)
    assert config["cv"]["mean_accuracy"] > 0.4  # speaker-independent CV figures travel with the weights
    channel = VoiceChannel(None if kind == "voice" else default_model_dir(kind))
    assert 1.0 <= channel.window_s <= 3.0
    assert channel.temperature > 0
    probs, _ = channel.predict_clip(tone(2.0, 200.0))
    assert np.isfinite(probs).all()


# --- eval command -----------------------------------------------------------------------------------------

def test_eval_scores_class_folders_of_any_rate_and_counts_unknowns(tmp_path, tiny_model, capsys):
    from emolive.evaluation import voice as voice_eval

    write_wav(tmp_path / "happy" / "a_1.wav", tone(2.5, 300.0, 44_100), 44_100, channels=2)
    write_wav(tmp_path / "sad" / "b_1.wav", tone(1.5, 150.0, 48_000), 48_000)
    write_wav(tmp_path / "calm" / "c_1.wav", tone(1.0, 200.0), RATE)
    write_wav(tmp_path / "contempt" / "d_1.wav", tone(1.0), RATE)
    (tmp_path / "sad" / "broken.wav").write_bytes(b"RIFF not really")
    args = argparse.Namespace(data=tmp_path, model=tiny_model, threads=1, json=True)
    assert voice_eval.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 3
    assert report["skipped"] == {"unknown class contempt": 1, "unreadable": 1}
    assert report["labels"] == list(EMOTIONS)
    assert sum(map(sum, report["confusion"])) == 3


@pytest.mark.slow
def test_whisper_embedding_head_model_folder_works(tmp_path):
    import torch

    from emolive.audio_io import load_audio
    from emolive.modelio import save_model
    from emolive.voice.channel import VoiceChannel
    from emolive.voice.whisper_embed import ENCODER_NAME, EmbeddingHead

    torch.manual_seed(0)
    config = {"kind": "voice", "encoder": ENCODER_NAME, "embedding_dim": 768, "labels": list(EMOTIONS),
              "temperature": 1.0, "window_s": 2.0}
    save_model(EmbeddingHead(768, len(EMOTIONS)), config, tmp_path)
    channel = VoiceChannel(tmp_path)
    audio = load_audio(SPEECH)
    out = channel.process(audio, t=2.0)
    assert out.present and out.embedding.shape == (768,)
    assert sum(out.emotion) == pytest.approx(1.0, abs=1e-5) and 0.0 <= out.arousal <= 1.0
    assert not channel.process(np.zeros(32_000, np.float32), t=4.0).present
    probs, _ = channel.predict_clip(audio)
    assert probs.shape == (len(EMOTIONS),)


def test_whisper_head_export_matches_scikit_learn():
    import torch
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    from training.voice_whisper import _to_head

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(140, 12))
    y = np.arange(140) % 6  # class 6 (surprise) absent
    a = rng.uniform(0, 1, 140)
    scaler = StandardScaler().fit(x)
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(x), y)
    reg = Ridge().fit(scaler.transform(x), a)
    logits, arousal = _to_head(scaler, clf, reg)(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(logits[:, :6].detach().numpy(), clf.decision_function(scaler.transform(x)),
                               atol=1e-3)
    assert (logits.argmax(1).numpy() != 6).all()
    expected = np.clip(reg.predict(scaler.transform(x)), 0, 1)
    np.testing.assert_allclose(arousal.detach().numpy(), expected, atol=1e-3)


@pytest.mark.slow
def test_training_cli_runs_cv_and_exports_a_loadable_model(tmp_path, monkeypatch):
    from emolive.audio_io import load_audio
    from emolive.voice.channel import VoiceChannel
    from training.voice import main

    monkeypatch.setenv("EMOLIVE_CACHE", str(tmp_path / "cache"))
    speech = load_audio(SPEECH)
    for actor in (1, 2, 3, 4):
        for code in ("01", "03", "05"):
            gain = {"01": 0.2, "03": 0.5, "05": 1.0}[code]
            write_wav(tmp_path / "data" / f"Actor_{actor:02d}" / f"03-01-{code}-01-01-01-{actor:02d}.wav",
                      speech * gain, RATE)
    out = tmp_path / "model"
    argv = ["--data", str(tmp_path / "data"), "--out", str(out), "--work", str(tmp_path / "work"), "--folds", "2",
            "--epochs", "1", "--repeat", "1", "--channels", "4,4,4,4", "--embedding-dim", "8"]
    assert main(argv) == 0
    report = json.loads((out / "cv_report.json").read_text())
    assert report["pooled"]["n"] == 12 and len(report["folds"]) == 2
    assert VoiceChannel(out).predict_clip(speech)[0].shape == (len(EMOTIONS),)


def test_ravdess_split_links_each_actor_to_one_side(tmp_path):
    from training.ravdess_split import main, parse_actors

    assert parse_actors("17-20") == {17, 18, 19, 20} and parse_actors("1,3-4") == {1, 3, 4}
    source = tmp_path / "ravdess"
    for actor in (1, 2, 17):
        folder = source / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        (folder / f"03-01-05-01-01-01-{actor:02d}.flac").write_bytes(b"x")
    (source / "README.txt").write_text("not a clip")
    assert main([str(source), str(tmp_path / "out"), "--held", "17"]) == 0
    held = sorted(p.name for p in (tmp_path / "out" / "heldout").rglob("*.flac"))
    fit = sorted(p.name for p in (tmp_path / "out" / "fit").rglob("*.flac"))
    assert held == ["03-01-05-01-01-01-17.flac"] and len(fit) == 2
    assert (tmp_path / "out" / "heldout" / "Actor_17" / held[0]).resolve().parent == source / "Actor_17"
