"""`emolive eval clips`: one label per clip, the majority of the face channel and of the fused output; scored on
saved steps with known answers and end to end on a generated clip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.media import mux_video

from emolive.cli import main
from emolive.core.errors import EmoliveError
from emolive.core.labels import EMOTIONS
from emolive.evaluation.clip import read_records
from emolive.evaluation.clips import clip_answers, list_clips, majority, score


def record(t: float, fused: str, face: str | None, voice: str | None = None) -> dict:
    def out(top: str | None) -> dict | None:
        if top is None:
            return None
        emotion = [0.05] * len(EMOTIONS)
        emotion[EMOTIONS.index(top)] = 0.7
        return {"t": t, "present": True, "quality": 1.0, "reason": "", "emotion": emotion, "sentiment": None,
                "valence": None, "arousal": None, "prior": None}

    return {"t": t, "dominant": fused, "agreement": 1.0,
            "outputs": {"face": out(face), "voice": out(voice), "text": None}}


def write_steps(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_majority_and_ties() -> None:
    assert majority(["joy", "anger", "joy", None]) == "joy"
    assert majority(["joy", "anger"]) == "anger"  # tie: alphabetical first
    assert majority([None, "uncertain"]) == "none"


def test_scored_from_saved_steps_with_known_answers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    saved = tmp_path / "steps"
    # clip a (joy): face joy 2 of 3 -> joy; fused uncertain twice, anger once -> anger
    write_steps(saved / "happy" / "a.jsonl", [record(0.1, "uncertain", "joy"), record(0.2, "anger", "sadness"),
                                              record(0.3, "uncertain", "joy")])
    # clip b (neutral): face neutral, fused neutral; voice never speaks
    write_steps(saved / "neutral" / "b.jsonl", [record(0.1, "neutral", "neutral"), record(0.2, "neutral", None)])
    # clip c (sadness): no face at all -> none; fused sadness
    write_steps(saved / "sad" / "c.jsonl", [record(0.1, "sadness", None, "sadness")])
    assert main(["eval", "clips", "--from-steps", str(saved), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["clips"] == 3
    rows = {Path(r["clip"]).stem: r for r in report["per_clip"]}
    assert rows["a"]["face"] == "joy" and rows["a"]["fused"] == "anger"
    assert rows["c"]["face"] == "none" and rows["c"]["voice"] == "sadness"
    assert report["face"]["right"] == 2 and report["fused"]["right"] == 2
    assert report["voice"]["right"] == 1
    assert report["face"]["per_class_recall"]["sadness"] == 0.0
    assert report["fused"]["per_class_recall"]["joy"] == 0.0
    lo, hi = report["face"]["accuracy_ci95"]
    assert lo < 2 / 3 < hi


def test_no_clips_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "happy").mkdir()
    assert main(["eval", "clips", "--data", str(tmp_path)]) != 0
    assert "no labelled clips" in capsys.readouterr().err
    assert main(["eval", "clips", "--data", str(tmp_path), "--refuse"]) != 0
    assert "--refuse goes with --from-steps" in capsys.readouterr().err
    with pytest.raises(EmoliveError):
        list_clips(tmp_path / "missing")


def write_face_clip(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    """A silent video of the astronaut's face (scikit-image) moving slightly on a grey background."""
    import av
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:260, 100:340]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuv420p"
        small = cv2.resize(face, (160, 173))

        def frames() -> Iterator[np.ndarray]:
            for i in range(int(seconds * fps)):
                frame = np.full((240, 320, 3), 120, np.uint8)
                x = 60 + (i % 5)
                frame[30:203, x:x + 160] = small
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

        mux_video(container, stream, frames(), fps)
    return path


def test_generated_clip_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("skimage")
    clips = tmp_path / "clips"
    write_face_clip(clips / "happy" / "astronaut.mp4")
    saved = tmp_path / "steps"
    assert main(["eval", "clips", "--data", str(clips), "--no-asr", "--save-steps", str(saved), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["clips"] == 1
    row = report["per_clip"][0]
    assert row["emotion"] == "joy"
    # the clip's answers are the majorities of its saved steps
    from emolive.evaluation.clip import steps_from_records

    steps = steps_from_records(read_records(saved / "joy" / "astronaut.jsonl"))
    assert steps
    assert {k: row[k] for k in ("fused", "face", "voice", "text")} == clip_answers(steps)
    assert row["face"] in EMOTIONS  # the face was found and scored
    assert row["voice"] == "none"  # no audio track
    assert report["face"]["right"] == int(row["face"] == "joy")
    assert score([row])["face"]["right"] == report["face"]["right"]
