"""Text channel: normalisation, MELD CSV loading, TextChannel behaviour and the shipped weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.text.data import load_meld_csv, previous_utterances
from emolive.text.normalize import normalize_text

HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID\n"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("You must\u2019ve had", "You must've had"),
        ("company\x92s job", "company's job"),
        ("It\u00e2\u20ac\u2122s fine", "It's fine"),
        ("\u00e2\u20ac\u0153Hi\u00e2\u20ac\x9d", '"Hi"'),
        ("caf\u00c3\u00a9", "café"),
        ("we were\u2026we were", "we were...we were"),
        ("Okay\u2014fine", "Okay - fine"),
        ("  two\t\nlines  ", "two lines"),
        ("naïve café", "naïve café"),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, clean: str) -> None:
    assert normalize_text(raw) == clean
    assert normalize_text(clean) == clean


def _write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "meld.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_load_meld_csv_maps_labels_and_context(tmp_path: Path) -> None:
    path = _write(tmp_path, "1,Hi there\u2019s,A,joy,positive,7,1\n2,Oh no.,B,Sadness,negative,7,0\n"
                            "3,What?,A,surprise,neutral,8,0\n")
    rows = load_meld_csv(path)
    assert [r.emotion for r in rows] == [EMOTIONS.index("joy"), EMOTIONS.index("sadness"),
                                         EMOTIONS.index("surprise")]
    assert [r.sentiment for r in rows] == [2, 0, 1]
    assert rows[0].text == "Hi there's"
    assert previous_utterances(rows, 2) == [("Oh no.",), (), ()]


def test_load_meld_csv_names_missing_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "1,Hi,A,positive\n", header="Sr No.,Utterance,Speaker,Sentiment\n")
    with pytest.raises(EmoliveError, match="missing column.*Emotion"):
        load_meld_csv(path)


def test_load_meld_csv_names_first_bad_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "1,Hi,A,joy,positive,1,0\n2,Hm,B,contempt,negative,1,1\n3,x,C,bored,neutral,1,2\n")
    with pytest.raises(EmoliveError, match="line 3: unknown emotion 'contempt'"):
        load_meld_csv(path)


def test_load_meld_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EmoliveError, match="not found"):
        load_meld_csv(tmp_path / "nope.csv")


def test_load_meld_csv_empty(tmp_path: Path) -> None:
    with pytest.raises(EmoliveError, match="no data rows"):
        load_meld_csv(_write(tmp_path, ""))


# --- channel (loads the MiniLM encoder from its package: a few seconds) ---------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Randomly initialised heads with context 1, saved like a trained model."""
    import torch

    from emolive.models.io import save_model
    from emolive.text.model import TextHead

    torch.manual_seed(0)
    head = TextHead(context=1, hidden=16, dropout=0.0)
    out = tmp_path_factory.mktemp("text_model")
    save_model(head, {"kind": "text", "head": head.config(), "temperature": {"emotion": 1.5, "sentiment": 0.8}},
               out)
    return out


@pytest.fixture(scope="module")
def channel(tiny_model: Path):
    from emolive.text.channel import TextChannel

    return TextChannel(tiny_model, threads=1)


@pytest.mark.slow
@pytest.mark.parametrize("text", ["", "   ", "\t\n", "\u00a0\u200b"])
def test_empty_text_is_not_present(channel, text: str) -> None:
    out = channel.process(text, t=3.5)
    assert out.modality == "text" and out.t == 3.5
    assert not out.present and out.reason == "no text"
    assert out.emotion is None and out.sentiment is None


@pytest.mark.slow
def test_process_outputs_probabilities_and_embedding(channel) -> None:
    out = channel.process("I can't believe you did that to me!", t=1.0, context=["Where were you last night?"])
    assert out.present and out.modality == "text"
    assert len(out.emotion) == len(EMOTIONS) and len(out.sentiment) == len(SENTIMENTS)
    assert sum(out.emotion) == pytest.approx(1.0) and sum(out.sentiment) == pytest.approx(1.0)
    assert 0.0 <= out.quality <= 1.0
    assert out.embedding.shape == (384,)
    assert np.linalg.norm(out.embedding) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_batch_and_single_agree(channel) -> None:
    texts = ["Oh my God, that's amazing!", "Get out of my apartment.", "Okay.", "I'm so sorry about your dad."]
    emotion, sentiment = channel.predict_batch(texts)
    assert emotion.shape == (4, 7) and sentiment.shape == (4, 3)
    for i, text in enumerate(texts):
        out = channel.process(text, t=float(i))
        np.testing.assert_allclose(out.emotion, emotion[i], atol=1e-4)
        np.testing.assert_allclose(out.sentiment, sentiment[i], atol=1e-4)


@pytest.mark.slow
def test_context_changes_the_answer_and_is_cached(channel) -> None:
    alone = channel.process("Really?", t=0.0)
    with_ctx = channel.process("Really?", t=1.0, context=["I got the job!"])
    assert alone.emotion != with_ctx.emotion
    again = channel.process("Really?", t=2.0, context=["I got the job!"])
    assert again.emotion == with_ctx.emotion and again.t == 2.0
    batch_e, _ = channel.predict_batch(["Really?"], contexts=[["I got the job!"]])
    np.testing.assert_allclose(batch_e[0], with_ctx.emotion, atol=1e-4)


@pytest.mark.slow
def test_temperature_from_config_is_applied(tiny_model: Path, channel) -> None:
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert channel.t_emotion == cfg["temperature"]["emotion"]


def test_missing_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    from emolive.text.channel import TextChannel

    with pytest.raises(EmoliveError, match="config not found"):
        TextChannel(tmp_path / "nowhere")


@pytest.mark.slow
def test_shipped_weights_load_with_packaged_encoder() -> None:
    from emolive.models.assets import default_model_dir
    from emolive.text.channel import TextChannel

    model_dir = default_model_dir("text")
    assert (model_dir / "model.safetensors").is_file(), "assets/text must ship trained heads"
    channel = TextChannel(threads=1)
    assert channel.model_dir == model_dir
    happy = channel.process("This is the best day of my life! I love you guys!", t=0.0)
    angry = channel.process("Shut up! I hate you, get out of my house!", t=0.0)
    assert EMOTIONS[int(np.argmax(happy.emotion))] == "joy"
    assert SENTIMENTS[int(np.argmax(happy.sentiment))] == "positive"
    assert SENTIMENTS[int(np.argmax(angry.sentiment))] == "negative"


def test_text_export_runs_without_torch_and_equals_the_torch_model(tmp_path: Path) -> None:
    import shutil

    from emolive.models.assets import default_model_dir
    from emolive.text.channel import TextChannel
    from training.export import export_folder

    folder = tmp_path / "text"
    shutil.copytree(default_model_dir("text"), folder)
    (folder / "model.onnx").unlink()
    config = json.loads((folder / "config.json").read_text())
    config.pop("onnx")
    (folder / "config.json").write_text(json.dumps(config))
    assert TextChannel(folder).runtime == "torch"  # no export: the torch model serves
    diffs = export_folder(folder)
    assert max(diffs.values()) < 1e-4 and (folder / "model.onnx").stat().st_size < 1_000_000  # the graph only
    table = json.loads((folder / "config.json").read_text())["onnx"]["weights"]
    assert table["bert.embeddings.word_embeddings.weight"][3] == "float16"  # the lookup table at half the memory
    onnx, reference = TextChannel(folder), TextChannel(folder, runtime="torch")
    assert onnx.runtime == "onnx" and onnx.has_va
    texts = ["I can't believe it, this is amazing!", "", "Kids are talking by the door.", "Get out. Now.",
             "We lost everything in the fire and I don't know what to do anymore"]
    (e1, s1), (e2, s2) = onnx.predict_batch(texts), reference.predict_batch(texts)
    # torch reads the float32 table, the session its float16 rows: probabilities within 5e-4, the same choices
    assert np.abs(e1 - e2).max() < 5e-4 and np.abs(s1 - s2).max() < 5e-4
    assert (e1.argmax(1) == e2.argmax(1)).all() and (s1.argmax(1) == s2.argmax(1)).all()
    assert np.abs(onnx.predict_va(texts) - reference.predict_va(texts)).max() < 5e-4
    assert len({int(np.argmax(row)) for row in e1[[0, 3, 4]]}) > 1  # not one answer for every text


def test_bundled_text_model_has_a_current_onnx_export() -> None:
    from emolive.text.channel import TextChannel

    assert TextChannel(threads=1).runtime == "onnx"


def test_a_batch_larger_than_the_caches_is_judged_whole() -> None:
    from emolive.text.channel import TextChannel

    channel = TextChannel(threads=1)
    texts = [f"message number {i} says I am {'happy' if i % 2 else 'angry'} today" for i in range(600)]
    emotion, sentiment = channel.predict_batch(texts)  # more texts than the 512-entry caches hold
    assert emotion.shape == (600, 7) and np.allclose(emotion.sum(1), 1.0) and np.allclose(sentiment.sum(1), 1.0)
    alone, _ = TextChannel(threads=1).predict_batch(texts[:3])
    assert np.abs(alone - emotion[:3]).max() < 1e-5
