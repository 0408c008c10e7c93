"""`emolive eval face`: per-class recall, neutral faces read as negative, several folders pooled and reported
per source, checked on hand-made folders against a fake predictor whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from emolive.cli import main
from emolive.core.labels import EMOTIONS
from emolive.evaluation.face_report import format_recall, pool_frames_extra, recall_fields

STEP = 30  # the fake predictor reads class i from a flat grey image of level i * STEP


class LevelPredictor:
    """Predicts the class encoded in a crop's grey level (no model)."""

    size = 48
    precision = "float32"

    def __init__(self, model_dir: Path | None = None, flip: bool | None = None, int8: bool = True,
                 **_: object) -> None:
        self.model_dir = Path("fake-model")
        self.precision = "int8" if int8 else "float32"

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        levels = np.asarray(crops, dtype=np.float32).reshape(len(crops), -1).mean(1)
        cls = np.clip(np.rint(levels / STEP), 0, len(EMOTIONS) - 1).astype(int)
        return np.eye(len(EMOTIONS), dtype=np.float32)[cls], np.zeros((len(crops), 4), np.float32)


def make_folder(root: Path, answers: dict[str, list[str]]) -> Path:
    """root/<true class>/<n>.png, a flat image whose level makes the fake predictor answer the listed class."""
    for true, predicted in answers.items():
        (root / true).mkdir(parents=True, exist_ok=True)
        for n, emotion in enumerate(predicted):
            cv2.imwrite(str(root / true / f"{n}.png"), np.full((48, 48), EMOTIONS.index(emotion) * STEP, np.uint8))
    return root


@pytest.fixture()
def fake_predictor(monkeypatch: pytest.MonkeyPatch) -> None:
    import emolive.face.predictor

    monkeypatch.setattr(emolive.face.predictor, "ExpressionPredictor", LevelPredictor)


def run_json(argv: list[str], capsys: pytest.CaptureFixture) -> dict:
    assert main(["eval", "face", *argv, "--crops", "--no-peer", "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_recall_and_neutral_read_as_negative(tmp_path: Path, fake_predictor: None, capsys) -> None:
    data = make_folder(tmp_path / "a", {
        "neutral": ["neutral", "neutral", "sadness", "anger", "joy"],
        "happy": ["joy", "joy", "joy", "surprise"],
        "sad": ["sadness", "neutral"],
    })
    report = run_json(["--data", str(data)], capsys)
    assert report["n"] == 11
    assert report["per_class_recall"]["neutral"] == pytest.approx(2 / 5)
    assert report["per_class_recall"]["joy"] == pytest.approx(3 / 4)
    assert report["per_class_recall"]["sadness"] == pytest.approx(1 / 2)
    assert report["per_class_recall"]["fear"] is None
    assert report["neutral_n"] == 5
    assert report["neutral_as_negative"] == pytest.approx(2 / 5)
    assert report["neutral_read_as"]["anger"] == 1 and report["neutral_read_as"]["joy"] == 1
    assert "sources" not in report
    assert report["precision"] == "int8"  # the predictor's graph by default; --float asks for float32
    assert run_json(["--data", str(data), "--float"], capsys)["precision"] == "float32"


def test_several_folders_pool_and_report_by_source(tmp_path: Path, fake_predictor: None, capsys) -> None:
    a = make_folder(tmp_path / "a", {"neutral": ["neutral", "fear"], "angry": ["anger"]})
    b = make_folder(tmp_path / "b", {"neutral": ["neutral", "neutral", "neutral", "disgust"], "surprise": ["fear"]})
    report = run_json(["--data", str(a), str(b), "--by-source"], capsys)
    assert report["n"] == 8
    assert report["neutral_as_negative"] == pytest.approx(2 / 6)
    assert report["accuracy"] == pytest.approx(5 / 8)
    sources = report["sources"]
    assert set(sources) == {str(a), str(b)}
    assert sources[str(a)]["neutral_as_negative"] == pytest.approx(1 / 2)
    assert sources[str(b)]["neutral_as_negative"] == pytest.approx(1 / 4)
    assert sources[str(b)]["per_class_recall"]["surprise"] == 0.0
    assert sources[str(a)]["accuracy"] == pytest.approx(2 / 3)
    # repeated --data options are collected too; without --by-source only the pooled report
    pooled = run_json(["--data", str(a), "--data", str(b)], capsys)
    assert pooled["n"] == 8 and "sources" not in pooled


def test_text_report_prints_recall_and_sources(tmp_path: Path, fake_predictor: None, capsys) -> None:
    a = make_folder(tmp_path / "a", {"neutral": ["sadness"]})
    b = make_folder(tmp_path / "b", {"neutral": ["neutral"]})
    assert main(["eval", "face", "--data", str(a), str(b), "--by-source", "--crops", "--no-peer"]) == 0
    out = capsys.readouterr().out
    assert "per-class recall: neutral 0.500" in out
    assert "neutral faces read as negative" in out and "0.500 of 2" in out
    assert f"-- source {a}" in out and f"-- source {b}" in out


def test_missing_folder_is_one_clear_error(tmp_path: Path, fake_predictor: None, capsys) -> None:
    a = make_folder(tmp_path / "a", {"neutral": ["neutral"]})
    code = main(["eval", "face", "--data", str(a), str(tmp_path / "nope"), "--crops", "--no-peer"])
    assert code != 0
    assert "Traceback" not in capsys.readouterr().err


def test_recall_fields_without_neutral_faces() -> None:
    fields = recall_fields([1, 1, 2], [1, 0, 2])
    assert fields["neutral_as_negative"] is None and fields["neutral_n"] == 0
    assert fields["per_class_recall"]["joy"] == 0.5
    assert "read as negative" not in format_recall(fields)


def test_frames_counts_pool_over_folders() -> None:
    pooled = pool_frames_extra([{"frames": 10, "frames_found": 8, "accuracy_incl_missed": 0.5},
                                {"frames": 30, "frames_found": 30, "accuracy_incl_missed": 0.7}])
    assert pooled["frames"] == 40 and pooled["frames_found_rate"] == pytest.approx(38 / 40)
    assert pooled["accuracy_incl_missed"] == pytest.approx((5 + 21) / 40)
    assert pool_frames_extra([{}, {}]) == {}
