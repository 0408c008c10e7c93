"""Voice channel: features, loaders, the RAVDESS name parser, "no speech" gating, shipped weights, eval."""

from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from emolive.core.errors import MediaError
from emolive.core.labels import EMOTIONS

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

    from emolive.models.io import save_model
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
    from emolive.core.audio_io import load_audio
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


def test_label_map_and_speakers_for_each_corpus_file_names(tmp_path):
    from emolive.voice.data import find_clips

    names = {  # path under its corpus root -> (corpus, speaker, canonical class)
        "ravdess/Actor_07/03-01-02-01-01-01-07.flac": ("ravdess", "ravdess_07", "neutral"),  # calm
        "ravdess/Actor_07/03-01-08-02-01-01-07.flac": ("ravdess", "ravdess_07", "surprise"),
        "ravdess/Actor_07/03-01-07-01-01-01-07.flac": ("ravdess", "ravdess_07", "disgust"),
        "tess/pleasant_surprise/OAF_back.wav": ("tess", "tess_OAF", "surprise"),
        "tess/happy/YAF_bar.wav": ("tess", "tess_YAF", "joy"),
        "tess/sad/YAF_dog.wav": ("tess", "tess_YAF", "sadness"),
        "nemo/surprised/KS0_surprised_3.wav": ("nemo", "nemo_KS0", "surprise"),
        "nemo/happiness/EB0_happiness_12.wav": ("nemo", "nemo_EB0", "joy"),
        "nemo/anger/MK0_anger_1.wav": ("nemo", "nemo_MK0", "anger"),
        "nemo/sadness/IC0_sadness_40.wav": ("nemo", "nemo_IC0", "sadness"),
        "ased/angry/a5-03-01-02-50.wav": ("ased", "ased_50", "anger"),
        "ased/happy/h3-01-01-01-07.wav": ("ased", "ased_07", "joy"),
        "ased/sad/S4-04-02-01-29.wav": ("ased", "ased_29", "sadness"),  # capital S, as in the corpus
        "ased/neutral/n1-02-01-02-65.wav": ("ased", "ased_65", "neutral"),
        "ased/fear/f2-01-01-01-01.wav": ("ased", "ased_01", "fear"),
    }
    for rel in names:
        write_wav(tmp_path / rel, tone(0.2), RATE)
    write_wav(tmp_path / "ased" / "happy" / "a5-01-01-01-02.wav", tone(0.2), RATE)  # folder and name disagree
    for corpus in ("ravdess", "tess", "nemo", "ased"):
        clips = {c.path.relative_to(tmp_path).as_posix(): c for c in find_clips(tmp_path / corpus)}
        for rel, clip in clips.items():
            if rel == "ased/happy/a5-01-01-01-02.wav":
                assert clip.label is None and clip.speaker == "ased_02"
                continue
            assert (clip.corpus, clip.speaker, EMOTIONS[clip.label]) == names[rel], rel
            assert clip.arousal is not None


def test_nemo_and_ased_speaker_parsing():
    from emolive.voice.data import parse_ased_name, parse_nemo_name

    nemo = parse_nemo_name("surprised/WR0_surprised_64.opus")
    assert nemo is not None and (nemo.corpus, nemo.speaker, nemo.emotion) == ("nemo", "WR0", "surprised")
    assert parse_nemo_name("KD0_happiness_7").speaker == "KD0"
    assert parse_nemo_name("OAF_back.opus") is None  # TESS: no take number
    assert parse_nemo_name("KS0_contempt_1.opus") is None
    ased = parse_ased_name("angry/a5-03-01-02-50.opus")
    assert ased is not None and (ased.corpus, ased.speaker, ased.emotion) == ("ased", "50", "angry")
    assert parse_ased_name("s4-01-01-01-03.opus").speaker == "03"
    assert parse_ased_name("x5-03-01-02-50.opus") is None  # unknown class letter
    assert parse_ased_name("a5-03-01-07-50.opus") is None  # gender code is 01 or 02
    assert parse_ased_name("03-01-05-02-01-01-12.flac") is None  # RAVDESS


def test_augmentation_keeps_length_and_sample_rate():
    from training.voice_augment import AugmentSpec, add_noise, augment, band_limit, reverb, speed

    rng = np.random.default_rng(0)
    x = tone(2.0, 440.0)
    x[: RATE // 2] = 0.0  # a pause, as speech has
    for y in (speed(x, 0.9), speed(x, 1.1), reverb(x, 0.6, rng), add_noise(x, 5.0, rng), band_limit(x, rng)):
        assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    no_speed = AugmentSpec(speed_prob=0.0, noise_prob=1.0, snr_db_range=(20.0, 20.0), band_prob=0.0)
    for seed in range(4):
        y = augment(x, np.random.default_rng(seed), no_speed)
        assert y.shape == x.shape and np.abs(y).max() <= 1.0
        spectrum = np.abs(np.fft.rfft(y[RATE // 2:]))
        assert abs(spectrum.argmax() * RATE / len(y[RATE // 2:]) - 440.0) < 3.0  # same rate: the tone stays put
    for seed in range(20):  # the full chain, speed included
        assert augment(x, np.random.default_rng(seed)).shape == x.shape
    shifted = np.abs(np.fft.rfft(speed(x, 1.1)[RATE // 2 + 2000:]))
    assert abs(shifted.argmax() * RATE / (len(x) - RATE // 2 - 2000) - 484.0) < 5.0
    noisy = add_noise(x, 10.0, rng) - x
    loud = x[RATE // 2:]
    snr = 10 * np.log10((loud ** 2).mean() / (noisy ** 2).mean())
    assert 9.0 < snr < 11.0


def test_window_crop_cuts_a_live_sized_piece_of_the_clean_clip():
    from training.voice_augment import AugmentSpec, augment

    x = np.arange(4 * RATE, dtype=np.float32) / (4 * RATE)  # a ramp: each sample says where it came from
    spec = AugmentSpec.window_crop(2.0)
    starts = set()
    for seed in range(6):
        y = augment(x, np.random.default_rng(seed), spec)
        assert y.shape == (2 * RATE,)
        start = int(np.searchsorted(x, y[0]))
        np.testing.assert_array_equal(y, x[start:start + 2 * RATE])  # untouched: no gain, noise or speed change
        starts.add(start)
    assert len(starts) > 1  # a random place each time
    short = x[: RATE]
    np.testing.assert_array_equal(augment(short, np.random.default_rng(0), spec), short)  # shorter: kept whole
    assert AugmentSpec().window_s == 0.0  # the default augmentation keeps the whole clip


def test_augmented_copies_are_the_same_for_every_copy_of_a_file(tmp_path):
    import os

    from emolive.voice.data import Clip
    from training.voice_augment import AugmentSpec
    from training.voice_embed import clip_embeddings

    class FirstSamples:  # a stand-in encoder: the crop's first samples say where it was cut
        def embed(self, audio):
            return np.asarray(audio[:8], dtype=np.float32)

    samples = np.random.default_rng(3).uniform(-0.5, 0.5, 4 * RATE).astype(np.float32)
    paths = [write_wav(tmp_path / name / "clip.wav", samples, RATE) for name in ("here", "there")]
    os.utime(paths[1], ns=(1_000_000_000, 1_000_000_000))  # another machine: another path and time
    clips = [Clip(p, "joy", 1, "s1", None, "t") for p in paths]
    spec = AugmentSpec.window_crop(2.0)
    crops = clip_embeddings(clips, 1, spec=spec, cache_dir=tmp_path / "cache", embedder=FirstSamples())
    np.testing.assert_array_equal(crops[0], crops[1])
    other = clip_embeddings(clips, 2, spec=spec, cache_dir=tmp_path / "cache", embedder=FirstSamples())
    assert not np.array_equal(crops[0], other[0])  # the next variant is another draw


def test_sample_weights_balance_corpora_and_classes():
    from training.voice_whisper import sample_weights

    y = np.array([0] * 30 + [1] * 10 + [0] * 5 + [1] * 5 + [2] * 50)
    corpus = np.array(["a"] * 40 + ["b"] * 60)
    w = sample_weights(y, corpus)
    assert w.mean() == pytest.approx(1.0)
    for k in (0, 1, 2):  # every class the same total
        assert w[y == k].sum() == pytest.approx(w.sum() / 3)
    a0, a1 = w[(corpus == "a") & (y == 0)].sum(), w[(corpus == "a") & (y == 1)].sum()
    assert a0 == pytest.approx(a1)  # within a corpus, its classes weigh the same


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
    from emolive.core.audio_io import load_audio
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
    from emolive.core.errors import ModelError
    from emolive.voice.channel import VoiceChannel

    with pytest.raises(ModelError):
        VoiceChannel(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"kind": "voice", "model": {}}))
    (tmp_path / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError):
        VoiceChannel(tmp_path)


@pytest.mark.parametrize("kind", ["voice", "voice_cnn"])
def test_shipped_weights_load_from_assets(kind):
    from emolive.models.assets import default_model_dir
    from emolive.models.io import load_config
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

    from emolive.core.audio_io import load_audio
    from emolive.models.io import save_model
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


@pytest.mark.parametrize("norm", ["none", "zscore"])
def test_whisper_head_export_matches_scikit_learn(norm):
    import torch
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    from emolive.voice.whisper_embed import normalise_embedding
    from training.voice_whisper import HeadFit, to_head

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(140, 12))
    y = np.arange(140) % 6  # class 6 (surprise) absent
    a = rng.uniform(0, 1, 140)
    xn = normalise_embedding(x, norm)
    scaler = StandardScaler().fit(xn)
    clf = LogisticRegression(max_iter=2000).fit(scaler.transform(xn), y)
    reg = Ridge().fit(scaler.transform(xn), a)
    bias = np.array([0.5, -0.5, 0.0, 0.0, 0.0, 0.25, 0.0])
    fitted = HeadFit(scaler, clf, reg, norm, bias)
    head = to_head(fitted)
    logits, arousal = head(torch.from_numpy(head.prepare(x)))
    np.testing.assert_allclose(logits[:, :6].detach().numpy(), clf.decision_function(scaler.transform(xn))
                               + bias[:6], atol=1e-3)
    np.testing.assert_allclose(logits[:, :6].detach().numpy(), fitted.logits(x)[:, :6], atol=1e-3)
    assert (logits.argmax(1).numpy() != 6).all()
    expected = np.clip(reg.predict(scaler.transform(xn)), 0, 1)
    np.testing.assert_allclose(arousal.detach().numpy(), expected, atol=1e-3)


@pytest.mark.slow
def test_training_cli_runs_cv_and_exports_a_loadable_model(tmp_path, monkeypatch):
    from emolive.core.audio_io import load_audio
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


def _write_small_corpora(root: Path, nemo_speakers: tuple[str, ...], ased_speakers: tuple[int, ...] = ()) -> None:
    """Tiny RAVDESS (4 actors, 4 classes, 2 takes), nEMO and optionally ASED trees of short tones under ``root``."""
    for actor in (1, 2, 3, 4):
        for code in ("01", "03", "04", "05"):
            for take in ("01", "02"):
                write_wav(root / "rav" / f"Actor_{actor:02d}" / f"03-01-{code}-01-01-{take}-{actor:02d}.wav",
                          tone(0.3), RATE)
    for spk in nemo_speakers:
        for emo in ("anger", "sadness", "happiness", "neutral"):
            write_wav(root / "nemo" / emo / f"{spk}_{emo}_1.wav", tone(0.3), RATE)
    for spk in ased_speakers:
        for letter, folder in (("a", "angry"), ("s", "sad"), ("n", "neutral")):
            write_wav(root / "ased" / folder / f"{letter}1-01-01-01-{spk:02d}.wav", tone(0.3), RATE)


def test_leave_one_corpus_out_and_speaker_folds_are_disjoint(tmp_path, monkeypatch, capsys):
    import training.voice_whisper as vw
    from training.voice import main

    def fake_embeddings(clips, variant=0, threads=1, **_):
        rng = np.random.default_rng(variant)
        centres = np.random.default_rng(42).normal(size=(len(EMOTIONS), 16))
        return np.stack([centres[c.label] + 0.5 * rng.normal(size=16) for c in clips]).astype(np.float32)

    fits = []
    real_fit = vw.fit_head

    def spy(pool, train, *a, **k):
        fits.append((set(pool.speaker[train].tolist()), set(pool.speaker[~train].tolist()),
                     set(pool.corpus[~train].tolist())))
        return real_fit(pool, train, *a, **k)

    monkeypatch.setattr(vw, "clip_embeddings", fake_embeddings)
    monkeypatch.setattr(vw, "fit_head", spy)
    _write_small_corpora(tmp_path, ("KS0", "EB0", "MK0"), ased_speakers=(1, 2, 3))
    out = tmp_path / "model"
    argv = ["--encoder", "whisper", "--data", str(tmp_path / "rav"), "--extra", str(tmp_path / "nemo"),
            "--extra", str(tmp_path / "ased"), "--out", str(out), "--folds", "2", "--leave-one-corpus-out",
            "--speaker-folds", "3", "--aug-copies", "1", "--prior-correction"]
    assert main(argv) == 0
    report = json.loads((out / "cv_report.json").read_text())
    loco = report["leave_one_corpus_out"]
    assert set(loco["corpora"]) == {"ravdess", "nemo", "ased"}
    ased = loco["corpora"]["ased"]
    assert ased["classes"] == ["neutral", "sadness", "anger"]
    assert ased["own_classes"]["n"] == 9 and 0 < ased["own_classes"]["top_class"]["share"] <= 1
    assert np.array(ased["own_classes"]["confusion"])[:, [1, 4, 5, 6]].sum() == 0  # only its own classes
    assert loco["mean_accuracy"] > 0.8  # the fake embeddings separate classes across corpora
    assert len(report["speaker_folds"]["ased"]["folds"]) == 3
    for train_speakers, test_speakers, _ in fits[:-1]:  # the last fit is the final model
        assert not train_speakers & test_speakers
    every = {"ravdess": {f"ravdess_{a:02d}" for a in (1, 2, 3, 4)}, "nemo": {"nemo_KS0", "nemo_EB0", "nemo_MK0"},
             "ased": {"ased_01", "ased_02", "ased_03"}}
    for speakers in every.values():  # one fit held out the whole corpus, and trained on all the rest
        assert any(test == speakers and train == set().union(*every.values()) - speakers
                   for train, test, _ in fits)
    assert "leave-one-corpus-out: mean accuracy" in capsys.readouterr().out
    from emolive.models.io import load_config

    assert load_config(out)["leave_one_corpus_out"]["mean_accuracy"] == loco["mean_accuracy"]


def test_window_test_scores_held_out_windows_without_training_on_them(tmp_path, monkeypatch, capsys):
    import training.voice_whisper as vw
    from training.voice import main

    centres = np.random.default_rng(42).normal(size=(len(EMOTIONS), 16))

    def fake_embeddings(clips, variant=0, threads=1, spec=None, **_):
        rng = np.random.default_rng(variant)
        if spec is not None and spec.window_s > 0:  # a window: its class is lost in noise
            return rng.normal(size=(len(clips), 16)).astype(np.float32)
        return np.stack([centres[c.label] + 0.3 * rng.normal(size=16) for c in clips]).astype(np.float32)

    trained_copies = []
    real_fit = vw.fit_head

    def spy(pool, train, *a, **k):
        trained_copies.append(len(pool.aug))
        return real_fit(pool, train, *a, **k)

    monkeypatch.setattr(vw, "clip_embeddings", fake_embeddings)
    monkeypatch.setattr(vw, "fit_head", spy)
    _write_small_corpora(tmp_path, ("KS0", "EB0"))
    out = tmp_path / "model"
    argv = ["--encoder", "whisper", "--data", str(tmp_path / "rav"), "--extra", str(tmp_path / "nemo"),
            "--out", str(out), "--folds", "2", "--leave-one-corpus-out", "--window-test", "--cv-only"]
    assert main(argv) == 0
    report = json.loads((out / "cv_report.json").read_text())
    assert trained_copies and set(trained_copies) == {0}  # the windows are never a training copy
    assert report["cv"]["mean_accuracy"] > 0.9  # clean clips: separable
    assert report["cv"]["mean_window_accuracy"] < 0.6  # the windows scored are the noisy ones
    assert len(report["cv"]["window_fold_accuracy"]) == 2
    assert "windows" in report["leave_one_corpus_out"]["corpora"]["nemo"]
    assert "mean_accuracy_windows" in report["leave_one_corpus_out"]
    assert "on one 2 s window per clip" in capsys.readouterr().out


def test_prosody_features_follow_pitch_and_ignore_gain():
    from emolive.voice.prosody import DIM, prosody_features

    low, high = prosody_features(tone(2.0, 120.0)), prosody_features(tone(2.0, 240.0))
    assert low.shape == (DIM,) and np.isfinite(low).all()
    assert high[0] - low[0] == pytest.approx(1.0, abs=0.1)  # median log2 F0: one octave up
    np.testing.assert_allclose(prosody_features(tone(2.0, 120.0, amp=0.05))[:4], low[:4], atol=1e-3)  # pitch
    assert np.isfinite(prosody_features(np.zeros(100, np.float32))).all()


def test_running_norm_is_causal_and_moves_to_the_speaker():
    from emolive.voice.norm import NormSettings, RunningNorm, running_standardise

    norm = RunningNorm(np.zeros(3), np.ones(3), NormSettings(prior_weight=2.0, memory=50.0))
    x = np.array([5.0, -5.0, 1.0])
    first = norm(x)
    np.testing.assert_allclose(first, x, atol=1e-4)  # normalised by the prior, before it is added
    for _ in range(200):
        norm(x + np.random.default_rng(0).normal(size=3) * 0.1)
    assert np.abs(norm.normalise(x)).max() < 1.0  # the speaker's baseline is now the centre
    norm.reset()
    np.testing.assert_allclose(norm.normalise(x), x, atol=1e-4)
    rows = np.tile(x, (4, 1))
    out = running_standardise(rows, np.array(["a", "a", "b", "b"]), np.zeros(3), np.ones(3))
    assert out.shape == rows.shape and (np.abs(out) > 1.0).any()


def test_numpy_heads_equal_the_torch_heads_of_the_bundled_model() -> None:
    import json

    import torch

    from emolive.models.assets import default_model_dir
    from emolive.models.io import load_into
    from emolive.voice.heads import LinearHeads
    from emolive.voice.whisper_embed import EmbeddingHead

    folder = default_model_dir("voice")
    config = json.loads((folder / "config.json").read_text())
    prosody_dim = int((config.get("prosody") or {}).get("dim", 0))
    kwargs = {"norm": str(config.get("embedding_norm", "none")), "prosody_dim": prosody_dim,
              "running": config.get("running_norm") is not None}
    reference = load_into(EmbeddingHead(int(config["embedding_dim"]), len(config["labels"]), **kwargs), folder)
    heads = LinearHeads(folder, int(config["embedding_dim"]), len(config["labels"]), **kwargs)
    rng = np.random.default_rng(4)
    embedding = rng.normal(size=(6, int(config["embedding_dim"]))).astype(np.float32)
    prosody = rng.normal(size=(6, prosody_dim)).astype(np.float32) if prosody_dim else None
    x_numpy, x_torch = heads.prepare(embedding, prosody), reference.prepare(embedding, prosody)
    assert np.allclose(x_numpy, x_torch)
    logits, arousal = heads(x_numpy)
    with torch.no_grad():
        ref_logits, ref_arousal = reference(torch.from_numpy(x_torch))
    assert np.abs(logits - ref_logits.numpy()).max() < 1e-4 and np.abs(arousal - ref_arousal.numpy()).max() < 1e-5
    assert len(set(logits.argmax(1).tolist())) > 1  # random inputs, not one answer
    if kwargs["running"]:
        assert np.allclose(heads.norm_mean, reference.norm_mean.numpy())
