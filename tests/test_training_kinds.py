"""A few-step run of the voice, text and late-fusion trainers on tiny generated data writes a model the app loads.

(Face: tests/test_training_runs.py; cross-modal fusion: tests/test_training_crossmodal.py.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.training_data import write_meld_csv

from emolive.config import InferenceConfig
from emolive.personal.trainer_protocol import parse_line
from emolive.runtime.channels import load_channels
from training.cli import main as training_main

ASSETS = Path(__file__).parent / "assets"


def done_event(text: str) -> dict:
    events = [e for e in map(parse_line, text.splitlines()) if e is not None]
    assert events and events[-1]["event"] == "done", events[-3:]
    return events[-1]


@pytest.mark.slow
def test_voice_trainer_writes_a_model_the_voice_channel_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = tmp_path / "speech"
    for emotion in ("angry", "happy", "sad"):
        (data / emotion).mkdir(parents=True)
        for speaker in ("a", "b"):
            shutil.copy(ASSETS / "voice_speech_espeak.opus", data / emotion / f"{speaker}_x.opus")
    out = tmp_path / "voice"
    code = training_main(["voice", "--data", str(data), "--no-cv", "--epochs", "1", "--work", str(tmp_path / "w"),
                          "--out", str(out), "--channels", "4,8", "--embedding-dim", "8", "--progress-json"])
    assert code == 0 and done_event(capsys.readouterr().out)["out"] == str(out)
    channels = load_channels(InferenceConfig(voice_model=str(out)), face=False, text=False, warm_up=False)
    assert channels.voice is not None and not channels.problems
    assert channels.voice.process(np.zeros(32000, np.float32), 2.0).modality == "voice"


def test_text_trainer_writes_heads_the_text_channel_loads(tmp_path, capsys):
    data = tmp_path / "meld"
    write_meld_csv(data / "train_sent_emo.csv", dialogues=4)
    write_meld_csv(data / "dev_sent_emo.csv", dialogues=2)
    out = tmp_path / "text"
    code = training_main(["text", "--data", str(data), "--out", str(out), "--epochs", "2", "--hidden", "8",
                          "--cache-dir", str(tmp_path / "cache"), "--progress-json"])
    done = done_event(capsys.readouterr().out)
    assert code == 0 and done["out"] == str(out) and done["monitor"] in done["after"]
    channels = load_channels(InferenceConfig(text_model=str(out)), face=False, voice=False, warm_up=False)
    assert channels.text is not None and not channels.problems
    result = channels.text.process("I love this!", 0.0)
    assert result.present and abs(sum(result.emotion) - 1.0) < 1e-4


def test_late_fusion_trainer_with_initial_weights_writes_what_the_fuser_loads(tmp_path, capsys, monkeypatch):
    import training.fusion as fusion
    from emolive.evaluation.composite import Pool
    from emolive.fusion.fuser import Fuser

    rng = np.random.default_rng(0)

    def pool(sharpness: float) -> Pool:
        labels = np.tile(np.arange(7), 20)
        logits = rng.normal(0, 1, (len(labels), 7))
        logits[np.arange(len(labels)), labels] += sharpness
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return Pool(probs, labels, np.array([f"g{i % 10}" for i in range(len(labels))]))

    monkeypatch.setattr(fusion, "load_pools", lambda args: {"face": pool(2.0), "voice": pool(0.5),
                                                            "text": pool(1.0)})
    out = tmp_path / "fusion"
    code = training_main(["fusion", "--face", "f", "--voice", "v", "--text", "t.csv", "--out", str(out),
                          "--n", "400", "--epochs", "2", "--batch-size", "64", "--init-weights", "0.6", "0.2", "0.2",
                          "--progress-json"])
    done = done_event(capsys.readouterr().out)
    assert code == 0 and done["before"]["macro_f1"] > 0
    weights = Fuser.from_dir(out).model.modality_weights().detach().numpy()
    assert weights.sum() == pytest.approx(1.0) and weights[0] > weights[1]


def test_late_fusion_needs_at_least_one_modality(tmp_path):
    from emolive.core.errors import EmoliveError
    from training.fusion import main as fusion_main

    with pytest.raises(EmoliveError, match="at least one of --face, --voice, --text"):
        fusion_main(["--out", str(tmp_path / "o")])


def test_eval_fusion_prints_single_fused_and_leave_one_out_rows(monkeypatch, capsys):
    import json

    import emolive.evaluation.composite as composite
    from emolive.cli import main as cli_main
    from emolive.evaluation.composite import Pool

    rng = np.random.default_rng(1)
    seen_models = {}

    def pool(sharpness: float):
        def build(data, model_dir=None, cache=None):
            seen_models[str(data)] = model_dir
            labels = np.tile(np.arange(7), 40)
            logits = rng.normal(0, 1, (len(labels), 7))
            logits[np.arange(len(labels)), labels] += sharpness
            probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            return Pool(probs, labels, np.array([f"g{i % 20}" for i in range(len(labels))]))
        return build

    monkeypatch.setattr(composite, "face_pool", pool(1.5))
    monkeypatch.setattr(composite, "voice_pool", pool(1.5))
    monkeypatch.setattr(composite, "text_pool", pool(1.0))
    code = cli_main(["eval", "fusion", "--face", "f", "--voice", "v", "--voice-model", "fold", "--text", "t.csv",
                     "--n", "2000", "--text-mode", "matched", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and str(seen_models["v"]) == "fold"
    channels = ("face", "voice", "text")
    names = ({f"{m} only" for m in channels} | {"fused", "fused, words not gated", "fused, gate 1 - p(neutral)"}
             | {f"fused without {m}" for m in channels})
    assert set(rows) == names
    best_single = max(rows[f"{m} only"]["macro_f1"] for m in ("face", "voice", "text"))
    assert rows["fused"]["macro_f1"] > best_single  # independent channels that agree on the label add up
    for m in ("face", "voice", "text"):
        assert rows[f"fused without {m}"]["macro_f1"] < rows["fused"]["macro_f1"]


def test_voice_adaptation_fine_tunes_the_emotion_head_and_scores_held_back_takes(tmp_path, capsys, monkeypatch):
    import json

    from emolive.models.assets import default_model_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = tmp_path / "me"
    for emotion in ("angry", "happy"):
        (data / emotion).mkdir(parents=True)
        for take in range(4):
            shutil.copy(ASSETS / "voice_speech_espeak.opus", data / emotion / f"me_{take}.opus")
    start = default_model_dir("voice")
    out = tmp_path / "mine"
    code = training_main(["voice", "--encoder", "whisper", "--init", str(start), "--data", str(data), "--out", str(out),
                          "--epochs", "3", "--progress-json"])
    done = done_event(capsys.readouterr().out)
    assert code == 0 and done["out"] == str(out) and done["before"]["n"] == 4 == done["after"]["n"]
    config = json.loads((out / "config.json").read_text())
    assert config["adapted"]["from"] == str(start) and config["adapted"]["held_back"] == 4
    channels = load_channels(InferenceConfig(voice_model=str(out)), face=False, text=False, warm_up=False)
    assert channels.voice is not None and not channels.problems
    # only the emotion head moved: the arousal head is the starting model's
    from safetensors.numpy import load_file

    before, after = load_file(start / "model.safetensors"), load_file(out / "model.safetensors")
    assert np.array_equal(before["arousal.weight"], after["arousal.weight"])
    assert not np.array_equal(before["emotion.weight"], after["emotion.weight"])


def test_voice_adaptation_refuses_a_model_it_cannot_adapt(tmp_path, capsys):
    from emolive.models.assets import default_model_dir

    data = tmp_path / "me" / "angry"
    data.mkdir(parents=True)
    shutil.copy(ASSETS / "voice_speech_espeak.opus", data / "me_0.opus")
    code = training_main(["voice", "--init", str(default_model_dir("voice_cnn")), "--data", str(data.parent),
                          "--out", str(tmp_path / "o")])
    assert code != 0 and "not a Whisper-embedding voice model" in capsys.readouterr().err
