"""Text trainer smoke tests on a tiny generated MELD-format CSV (frozen heads and top-layer fine-tuning)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.evaluation import text as evaluation

LINES = [
    ("I love this, it's wonderful!", "joy", "positive"),
    ("This is the best day ever.", "joy", "positive"),
    ("I'm so sad he left.", "sadness", "negative"),
    ("I miss her so much.", "sadness", "negative"),
    ("Get out of here right now!", "anger", "negative"),
    ("I hate you!", "anger", "negative"),
    ("What? No way!", "surprise", "positive"),
    ("Oh my God, really?", "surprise", "neutral"),
    ("I'm scared of the dark.", "fear", "negative"),
    ("That is disgusting.", "disgust", "negative"),
    ("Okay, see you tomorrow.", "neutral", "neutral"),
    ("The meeting is at three.", "neutral", "neutral"),
]


def _csv(path: Path) -> Path:
    rows = ["Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID"]
    for i, (text, emotion, sentiment) in enumerate(LINES):
        rows.append(f'{i + 1},"{text}",A,{emotion},{sentiment},{i // 4},{i % 4}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _csv(tmp_path_factory.mktemp("meld") / "tiny.csv")


@pytest.mark.slow
def test_train_frozen_heads_with_context(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from emolive.text.channel import TextChannel
    from training.text import main

    out = tmp_path / "model"
    code = main(["--train", str(data), "--dev", str(data), "--out", str(out), "--context", "1", "--hidden", "8",
                 "--epochs", "2", "--batch-size", "4", "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["head"]["context"] == 1 and config["temperature"]["emotion"] > 0
    assert not (out / "last.pt").exists()
    assert list((tmp_path / "cache").glob("text_*.npy")), "the frozen embeddings are cached"
    emotion, sentiment = TextChannel(out).predict_batch(["I hate you!"], contexts=[["Where were you?"]])
    assert emotion.shape == (1, len(EMOTIONS)) and np.isclose(emotion.sum(), 1.0)

    # `emolive eval text --data CSV --model DIR --json` prints one object with both reports.
    parser = argparse.ArgumentParser()
    evaluation.configure(parser)
    parser.add_argument("--json", action="store_true")
    capsys.readouterr()
    assert evaluation.run(parser.parse_args(["--data", str(data), "--model", str(out), "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    keys = {"n", "skipped", "labels", "accuracy", "macro_f1", "weighted_f1", "per_class", "confusion"}
    assert set(report) == {"emotion", "sentiment"}
    assert set(report["emotion"]) == keys and set(report["sentiment"]) == keys
    assert report["emotion"]["n"] == len(LINES) and report["sentiment"]["labels"] == list(SENTIMENTS)


@pytest.mark.slow
def test_finetune_top_layer_round_trips_through_channel(data: Path, tmp_path: Path) -> None:
    from emolive.text.channel import TextChannel
    from training.text import main

    out = tmp_path / "tuned"
    code = main(["--train", str(data), "--dev", str(data), "--out", str(out), "--finetune-layers", "1",
                 "--hidden", "8", "--epochs", "1", "--batch-size", "4", "--lr", "1e-3"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["finetune_layers"] == 1 and config["head"]["context"] == 0
    metrics = json.loads((out / "dev_metrics.json").read_text())
    channel = TextChannel(out)
    emotion, _ = channel.predict_batch([t for t, _, _ in LINES])
    # The channel (full encoder with the tuned layer swapped in) reproduces the trainer's dev predictions.
    want = [EMOTIONS.index(e) for _, e, _ in LINES]
    assert np.mean(emotion.argmax(1) == np.array(want)) == pytest.approx(metrics["emotion"]["accuracy"])
    single = channel.process(LINES[0][0], t=0.0)
    np.testing.assert_allclose(single.emotion, emotion[0], atol=1e-4)
