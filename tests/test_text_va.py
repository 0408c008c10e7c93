"""Valence/arousal of the words: rating scale, metrics, `emolive eval va`, the fusion rule, CSV columns, the
shipped model's V/A branch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emolive.core.contracts import EmotionEstimate, ModalityOutput
from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.evaluation.va import ccc, va_report
from emolive.fusion.circumplex import valence_arousal
from emolive.fusion.va import channel_va, fuse_va
from emolive.text.data import load_va_csv
from emolive.text.model import rating_to_unit


def onehot(name: str, p: float = 0.9) -> tuple[float, ...]:
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return tuple(p if e == name else rest for e in EMOTIONS)


def write_csv(path: Path, rows: list[tuple[str, float, float]], header: str = "text,V,A") -> Path:
    lines = [header] + [f'"{t}",{v},{a}' for t, v, a in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- rating scale and metrics ------------------------------------------------------------------------


def test_rating_scale_maps_1_to_5_onto_0_to_1() -> None:
    np.testing.assert_allclose(rating_to_unit([1.0, 2.0, 3.0, 4.0, 5.0]), [0.0, 0.25, 0.5, 0.75, 1.0])
    assert float(rating_to_unit(3.4)) == pytest.approx(0.6)


def test_load_va_csv_reads_ratings_and_filters_split(tmp_path: Path) -> None:
    path = tmp_path / "eb.csv"
    path.write_text("id,split,V,A,D,text\na,train,3.0,2.5,3,Hello there\nb,dev,4.2,3.1,3,\u201cGreat\u201d news\n")
    rows = load_va_csv(path)
    assert [(r.text, r.valence, r.arousal) for r in rows] == [("Hello there", 3.0, 2.5), ('"Great" news', 4.2, 3.1)]
    assert [r.text for r in load_va_csv(path, split="dev")] == ['"Great" news']


@pytest.mark.parametrize("body, message", [
    ("text,V\nhi,3\n", "missing column"),
    ("text,V,A\nhi,3,six\n", "line 2: A 'six' is not a number"),
    ("text,V,A\nhi,0.5,3\n", "outside the 1-5 rating scale"),
    ("text,V,A\n", "no data rows"),
])
def test_load_va_csv_names_the_problem(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(EmoliveError, match=message):
        load_va_csv(path)


def test_ccc_of_perfect_constant_and_shifted_predictions() -> None:
    truth = np.array([0.1, 0.4, 0.5, 0.7, 0.9])
    assert ccc(truth, truth) == pytest.approx(1.0)
    assert ccc(truth, np.full(5, truth.mean())) == pytest.approx(0.0)
    assert ccc(truth, 2 * truth.mean() - truth) == pytest.approx(-1.0)  # mirrored about the mean
    shifted = ccc(truth, truth + 0.2)  # perfectly correlated but biased: CCC punishes the bias, r does not
    assert 0.0 < shifted < 1.0
    report = va_report(np.stack([truth, truth], 1), np.stack([truth + 0.2, truth], 1))
    assert report["valence_r"] == pytest.approx(1.0) and report["valence_ccc"] == pytest.approx(shifted)
    assert report["valence_rmse"] == pytest.approx(0.2) and report["arousal_rmse"] == pytest.approx(0.0)


# --- emolive eval va (the model replaced by a stand-in with known answers) -----------------------------


class KnownAnswers:
    """A text channel that answers from a table: lets the eval command be checked against known values."""

    answers: dict[str, tuple[float, float]] = {}

    def __init__(self, model_dir=None, threads: int = 1) -> None:
        self.model_dir = model_dir
        self.has_va = True

    def predict_va(self, texts):
        return np.array([self.answers[t] for t in texts])


ROWS = [("calm lake", 3.0, 1.8), ("a terrible loss", 1.4, 3.6), ("we won!", 4.6, 4.2), ("the bus", 3.0, 2.6)]


def run_eval(capsys, argv: list[str]) -> tuple[int, str, str]:
    from emolive.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_eval_va_perfect_predictions_give_ccc_1(tmp_path: Path, monkeypatch, capsys) -> None:
    import emolive.evaluation.va as eval_va

    KnownAnswers.answers = {t: (float(rating_to_unit(v)), float(rating_to_unit(a))) for t, v, a in ROWS}
    monkeypatch.setattr(eval_va, "TextChannel", KnownAnswers)
    code, out, _ = run_eval(capsys, ["eval", "va", "--data", str(write_csv(tmp_path / "va.csv", ROWS)), "--json"])
    report = json.loads(out)
    assert code == 0
    assert set(report) == {"n", "valence_ccc", "arousal_ccc", "valence_r", "arousal_r", "valence_rmse",
                           "arousal_rmse"}
    assert report["n"] == 4
    assert report["valence_ccc"] == pytest.approx(1.0) and report["arousal_ccc"] == pytest.approx(1.0)
    assert report["valence_rmse"] == pytest.approx(0.0, abs=1e-12)


def test_eval_va_constant_predictions_give_ccc_0(tmp_path: Path, monkeypatch, capsys) -> None:
    import emolive.evaluation.va as eval_va

    KnownAnswers.answers = {t: (0.5, 0.5) for t, _, _ in ROWS}
    monkeypatch.setattr(eval_va, "TextChannel", KnownAnswers)
    code, out, _ = run_eval(capsys, ["eval", "va", "--data", str(write_csv(tmp_path / "va.csv", ROWS))])
    assert code == 0
    assert "valence" in out and "arousal" in out and "CCC" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("valence", "arousal"))}
    assert float(lines["valence"][0]) == 0.0 and float(lines["arousal"][0]) == 0.0
    # valence truth (0.5, 0.1, 0.9, 0.5) against a constant 0.5: RMSE sqrt(0.08 / 1)
    assert float(lines["valence"][2]) == pytest.approx(np.sqrt((0.16 + 0.16) / 4), abs=1e-4)


def test_eval_va_without_the_columns_is_a_clear_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "meld.csv"
    bad.write_text("Utterance,Emotion,Sentiment\nhi,joy,positive\n")
    code, _, err = run_eval(capsys, ["eval", "va", "--data", str(bad)])
    assert code == 2
    assert "missing column(s) text, V, A" in err and "Traceback" not in err


# --- the fusion rule ---------------------------------------------------------------------------------


def text_out(valence: float | None = 0.9, arousal: float | None = 0.2, t: float = 0.0) -> ModalityOutput:
    return ModalityOutput("text", t, True, emotion=onehot("joy"), sentiment=(0.1, 0.2, 0.7), quality=0.9,
                          valence=valence, arousal=arousal)


def test_fusion_uses_the_words_own_va_where_they_are_trusted() -> None:
    emotion = np.array(onehot("sadness"))
    circ_v, circ_a = valence_arousal(emotion)
    outputs = {"face": ModalityOutput("face", 0.0, True, emotion=onehot("sadness"), quality=0.9),
               "voice": None, "text": text_out(0.9, 0.2)}
    v, a = fuse_va(outputs, [0.6, 0.0, 0.4], emotion)
    assert v == pytest.approx(0.6 * circ_v + 0.4 * 0.9)
    assert a == pytest.approx(0.6 * circ_a + 0.4 * 0.2)
    alone_v, alone_a = fuse_va(outputs, [0.0, 0.0, 1.0], emotion)  # words only: their own V/A
    assert (alone_v, alone_a) == pytest.approx((0.9, 0.2))


def test_fusion_without_trusted_words_is_the_circumplex_place_plus_voice_arousal() -> None:
    emotion = np.array(onehot("joy"))
    circ_v, circ_a = valence_arousal(emotion)
    face = ModalityOutput("face", 0.0, True, emotion=onehot("joy"), quality=0.9)
    voice = ModalityOutput("voice", 0.0, True, emotion=onehot("joy"), quality=0.8, arousal=0.1)
    # stale words: the fuser gave them share 0, so their V/A is ignored
    v, a = fuse_va({"face": face, "voice": voice, "text": text_out(0.0, 1.0)}, [0.5, 0.5, 0.0], emotion)
    assert v == pytest.approx(circ_v)
    assert a == pytest.approx(0.5 * circ_a + 0.5 * 0.1)
    # face alone: the circumplex place of the fused emotions
    assert fuse_va({"face": face}, [1.0, 0.0, 0.0], emotion) == pytest.approx((circ_v, circ_a))
    # a text model without V/A heads counts as the circumplex
    old_text = text_out(None, None)
    assert fuse_va({"text": old_text}, [0.0, 0.0, 1.0], emotion) == pytest.approx((circ_v, circ_a))


def test_fuser_passes_the_words_va_through() -> None:
    from emolive.fusion.fuser import Fuser

    fuser = Fuser(smoothing_s=0.0)
    happy_words = fuser.fuse({"text": text_out(0.95, 0.3, t=1.0)}, now=1.0)
    assert (happy_words.valence, happy_words.arousal) == pytest.approx((0.95, 0.3))
    fuser.reset()
    old_words = fuser.fuse({"text": text_out(None, None, t=1.0)}, now=1.0)
    assert (old_words.valence, old_words.arousal) == pytest.approx(valence_arousal(np.array(old_words.emotion)),
                                                                   abs=1e-6)


def test_channel_va_is_own_values_else_its_circumplex_place() -> None:
    face = ModalityOutput("face", 0.0, True, emotion=onehot("anger"), quality=0.9)
    assert channel_va(face) == pytest.approx(valence_arousal(np.array(onehot("anger"))))
    voice = ModalityOutput("voice", 0.0, True, emotion=onehot("anger"), quality=0.9, arousal=0.33)
    assert channel_va(voice) == pytest.approx((valence_arousal(np.array(onehot("anger")))[0], 0.33))
    assert channel_va(text_out(0.8, 0.4)) == pytest.approx((0.8, 0.4))
    assert channel_va(ModalityOutput("voice", 0.0, False, reason="no speech")) is None
    assert channel_va(None) is None


def test_csv_schema_2_appends_each_channels_va() -> None:
    from emolive.recording import schema

    columns = schema.header(2)
    assert schema.version_of(columns) == 2
    assert columns[-6:] == ["face_valence", "face_arousal", "voice_valence", "voice_arousal", "text_valence",
                            "text_arousal"]
    face = ModalityOutput("face", 0.0, True, emotion=onehot("joy"), quality=0.9)
    estimate = EmotionEstimate(t=1.0, emotion=onehot("joy"), sentiment=(0.1, 0.2, 0.7), valence=0.8, arousal=0.5,
                               dominant="joy", confidence=0.6, modalities=(face, text_out(0.91, 0.27)))
    cells = dict(zip(schema.header(), schema.row(estimate), strict=True))
    assert (cells["text_valence"], cells["text_arousal"]) == (0.91, 0.27)
    assert cells["face_valence"] == pytest.approx(valence_arousal(np.array(onehot("joy")))[0], abs=1e-6)
    assert cells["voice_valence"] == "" and cells["voice_arousal"] == ""
    marker = dict(zip(schema.header(), schema.marker_row(2.0, "here"), strict=True))
    assert marker["marker"] == "here" and marker["text_valence"] == ""


def test_history_keeps_each_channels_va_for_the_circumplex() -> None:
    from emolive.gui.history import CHANNELS, EstimateHistory

    history = EstimateHistory(initial=2)
    for i in range(5):
        modalities = (text_out(0.9, 0.2, t=i * 0.1),) if i % 2 == 0 else ()
        history.append(EmotionEstimate(t=i * 0.1, emotion=onehot("joy"), sentiment=(0.1, 0.2, 0.7), valence=0.8,
                                       arousal=0.5, dominant="joy", confidence=0.6, modalities=modalities))
    view = history.window(0.0, 1.0)
    assert view.channels.shape == (5, len(CHANNELS), 2)
    text = CHANNELS.index("text")
    np.testing.assert_allclose(view.channels[::2, text], [[0.9, 0.2]] * 3, rtol=1e-6)
    assert np.isnan(view.channels[1::2, text]).all() and np.isnan(view.channels[:, CHANNELS.index("face")]).all()


# --- the shipped model ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_shipped_text_model_gives_va_in_unit_range_in_the_same_pass() -> None:
    from emolive.text.channel import TextChannel

    channel = TextChannel(threads=1)
    assert channel.has_va
    texts = ["What a wonderful, happy surprise - I love it!", "He died alone and nobody came to the funeral.",
             "The meeting is at 3 pm in room 204."]
    va = channel.predict_va(texts)
    assert va.shape == (3, 2) and ((va >= 0) & (va <= 1)).all()
    assert va[0, 0] > va[2, 0] > va[1, 0]  # valence: joyful > plain > grief
    out = channel.process(texts[0], t=0.5)
    assert out.present and 0.0 <= out.valence <= 1.0 and 0.0 <= out.arousal <= 1.0
    assert (out.valence, out.arousal) == pytest.approx(tuple(va[0]), abs=1e-5)
    emotion, _ = channel.predict_batch(texts)
    assert EMOTIONS[int(np.argmax(emotion[0]))] == "joy"


def test_circumplex_draws_the_fused_point_and_each_present_channel(qtbot) -> None:  # noqa: ANN001
    from emolive.gui.history import EstimateHistory
    from emolive.gui.plots import EmotionPlots

    plots = EmotionPlots(window_s=30)
    qtbot.addWidget(plots)
    history = EstimateHistory()
    face = ModalityOutput("face", 1.0, True, emotion=onehot("anger"), quality=0.9)
    history.append(EmotionEstimate(t=1.0, emotion=onehot("joy"), sentiment=(0.1, 0.2, 0.7), valence=0.8,
                                   arousal=0.5, dominant="joy", confidence=0.6,
                                   modalities=(face, text_out(0.9, 0.2, t=1.0))))
    plots.refresh(history, 1.0)
    assert [list(c) for c in plots.current_point.getData()] == [[pytest.approx(0.8)], [pytest.approx(0.5)]]
    tx, ty = plots.channel_points["text"].getData()
    assert list(tx) == pytest.approx([0.9]) and list(ty) == pytest.approx([0.2])
    fx, fy = plots.channel_points["face"].getData()
    assert (fx[0], fy[0]) == pytest.approx(valence_arousal(np.array(onehot("anger"))), abs=1e-6)
    assert len(plots.channel_points["voice"].getData()[0]) == 0
    assert plots.channel_labels["text"].isVisible() and not plots.channel_labels["voice"].isVisible()


# --- the V/A trainer (tiny run from the shipped model) ----------------------------------------------


@pytest.mark.slow
def test_va_trainer_adds_a_loadable_branch_and_resumes(tmp_path: Path) -> None:
    from training.text import main as train_text

    words = [("What a lovely, happy day", 4.5, 3.6), ("I am furious and screaming", 1.5, 4.4),
             ("The report is on the desk", 3.0, 2.4), ("She wept at the grave", 1.4, 3.0),
             ("We won the final!", 4.6, 4.3), ("A quiet walk by the lake", 3.9, 1.9)]
    lines = ["id,split,V,A,D,text"]
    for i in range(4):
        for j, (text, v, a) in enumerate(words):
            lines.append(f'x{i}{j},{"dev" if i == 3 else "train"},{v},{a},3,"{text} {i}"')
    csv_path = tmp_path / "eb.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "model"
    argv = ["--va-data", str(csv_path), "--init", "assets/text", "--out", str(out), "--head-epochs", "2",
            "--epochs", "1", "--batch-size", "6", "--cache-dir", str(tmp_path / "cache")]
    assert train_text(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["va"]["layers"] == 1 and set(config["va"]["dev"]) >= {"valence_ccc", "arousal_ccc", "n"}
    assert config["va"]["dev"]["n"] == 6 and (out / "va_branch" / "last.pt").is_file()
    assert list((tmp_path / "cache").glob("text_va_fork_*.pt"))  # the frozen states were cached
    assert train_text(argv) == 0  # a second run resumes from the checkpoints instead of starting over

    from emolive.text.channel import TextChannel

    channel = TextChannel(out, threads=1)
    va = channel.predict_va([w[0] for w in words])
    assert channel.has_va and va.shape == (6, 2) and ((va >= 0) & (va <= 1)).all()
