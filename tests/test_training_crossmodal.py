"""The cross-modal fusion trainer on generated MELD-format clips, with stand-in channels that emit embeddings."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from helpers.media import write_sync_clip
from helpers.training_data import write_meld_csv

from emolive.core.contracts import FaceBox, ModalityOutput
from emolive.core.errors import EmoliveError
from training import crossmodal
from training.fusion import main as fusion_main

UNIFORM = tuple([1 / 7] * 7)


class EmbeddingFace:
    detect_every = 3

    def process(self, frame, detect=None):
        level = float(frame.image.mean()) / 255
        out = ModalityOutput("face", frame.t, True, emotion=UNIFORM, quality=0.9,
                             embedding=np.full(6, level, np.float32))
        return out, (FaceBox(0, 0, 8, 8, track_id=0),)


class EmbeddingVoice:
    def process(self, samples, t):
        return ModalityOutput("voice", t, True, emotion=UNIFORM, quality=0.8,
                              embedding=np.full(5, float(np.abs(samples).mean()), np.float32))


class EmbeddingText:
    """A deterministic 8-d embedding per sentence, so the labels are learnable from the text."""

    def __init__(self):
        self.calls = []

    def process(self, text, t, context=()):
        self.calls.append((text, tuple(context)))
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        return ModalityOutput("text", t, True, emotion=UNIFORM, quality=0.9,
                              embedding=rng.standard_normal(8).astype(np.float32))


def fake_channels():
    from emolive.runtime.channels import Channels

    return Channels(face=EmbeddingFace(), voice=EmbeddingVoice(), text=EmbeddingText())


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("meld")
    csv_path = write_meld_csv(root / "clips.csv", dialogues=3)
    clip = write_sync_clip(root / "template.mp4", seconds=0.6)
    for d in range(3):
        for u in range(4):
            (root / f"dia{d}_utt{u}.mp4").write_bytes(clip.read_bytes())
    return csv_path


def parse(csv_path, out, *extra):
    return crossmodal.parser().parse_args(["--csv", str(csv_path), "--out", str(out), "--epochs", "3",
                                           "--batch-size", "4", "--hidden", "16", "--heads", "2", "--layers", "1",
                                           "--cache", str(out.parent / "cache"), "--val-frac", "0.34", *extra])


def test_training_writes_a_model_the_crossmodal_fuser_loads(clip_folder, tmp_path):
    from emolive.fusion.fuser import CrossModalFuser, make_fuser

    channels = fake_channels()
    best = crossmodal.run(parse(clip_folder, tmp_path / "model"), channels=channels)
    assert 0.0 <= best["macro_f1"] <= 1.0 and "sentiment_macro_f1" in best
    assert ("I miss her so much.", ("This is terrible, I hate it.", "Okay, see you tomorrow.")) in channels.text.calls
    fuser = make_fuser("crossmodal", tmp_path / "model", smoothing_s=0.0)
    assert isinstance(fuser, CrossModalFuser)
    assert (fuser.net.config.face_dim, fuser.net.config.voice_dim, fuser.net.config.text_dim) == (6, 5, 8)
    t = 1.0
    outputs = {"face": ModalityOutput("face", t, True, emotion=UNIFORM, quality=0.9, embedding=np.ones(6, np.float32)),
               "voice": None,
               "text": ModalityOutput("text", t, True, emotion=UNIFORM, quality=0.9, embedding=np.ones(8, np.float32))}
    fused = fuser.fuse(outputs, t)
    assert abs(sum(fused.emotion) - 1.0) < 1e-5


def test_features_are_cached_per_clip(clip_folder, tmp_path):
    rows = crossmodal.read_rows(clip_folder, None, context=0)[:2]
    first = crossmodal.extract(rows, fake_channels(), 0.2, tmp_path)
    assert first[0].face.shape[1] == 6 and first[0].voice.shape[1] == 5 and first[0].text.shape == (1, 8)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    again = crossmodal.extract(rows, None, 0.2, tmp_path)  # no channels needed: everything comes from the cache
    assert np.array_equal(again[1].face, first[1].face)


def test_fine_tune_from_an_existing_model_resumes_its_weights(clip_folder, tmp_path):
    from safetensors.numpy import load_file

    crossmodal.run(parse(clip_folder, tmp_path / "a"), channels=fake_channels())
    best = crossmodal.run(parse(clip_folder, tmp_path / "b", "--init", str(tmp_path / "a"), "--epochs", "1",
                                "--lr", "0"), channels=fake_channels())
    assert "macro_f1" in best
    # With a learning rate of 0 nothing moves: the weights are those of --init (fresh ones if it were ignored).
    start = load_file(str(tmp_path / "a" / "model.safetensors"))
    after = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert start.keys() == after.keys() and len(start) > 4
    for name, value in start.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    fresh = crossmodal.run(parse(clip_folder, tmp_path / "c", "--epochs", "1", "--lr", "0"), channels=fake_channels())
    assert "macro_f1" in fresh
    other = load_file(str(tmp_path / "c" / "model.safetensors"))
    assert any(not np.array_equal(other[name], value) for name, value in start.items())


def test_missing_clip_names_the_row_and_the_file(clip_folder, tmp_path):
    csv_path = write_meld_csv(tmp_path / "other.csv", dialogues=1)
    with pytest.raises(EmoliveError, match=r"other\.csv: line 2: clip not found: .*dia0_utt0\.mp4"):
        crossmodal.read_rows(csv_path, None, context=0)


def test_corrupt_clip_names_the_row(clip_folder, tmp_path):
    csv_path = write_meld_csv(tmp_path / "bad.csv", dialogues=1)
    for u in range(4):
        (tmp_path / f"dia0_utt{u}.mp4").write_bytes(b"not a video")
    rows = crossmodal.read_rows(csv_path, None, context=0)
    with pytest.raises(EmoliveError, match=r"bad\.csv: line 2"):
        crossmodal.extract(rows, fake_channels(), 0.2, None)


def test_fusion_command_routes_crossmodal(tmp_path):
    with pytest.raises(EmoliveError, match="MELD CSV not found"):
        fusion_main(["--arch", "crossmodal", "--csv", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")])
