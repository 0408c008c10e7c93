"""`emolive eval clip`: per-segment majorities, the JSON keys, re-fusing saved steps."""

from __future__ import annotations

import json

import pytest

from emolive.core.labels import EMOTIONS
from emolive.evaluation import clip


def _probs(top: str, p: float = 0.8) -> list[float]:
    rest = (1 - p) / (len(EMOTIONS) - 1)
    return [p if e == top else rest for e in EMOTIONS]


def _record(t: float, dominant: str, face: str | None, voice: str | None, text: str | None) -> dict:
    def out(name, top):
        if top is None:
            return None
        return {"t": t, "present": True, "quality": 0.9, "reason": "", "emotion": _probs(top), "sentiment": None,
                "valence": None, "arousal": None}

    return {"t": t, "dominant": dominant, "agreement": None,
            "outputs": {"face": out("face", face), "voice": out("voice", voice), "text": out("text", text)}}


@pytest.fixture()
def files(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("start,end,emotion,face,voice\n0,2,happy,a.png,a.wav\n2,4,anger,b.png,b.wav\n")
    records = []
    for k in range(40):
        t = round(0.1 * k, 3)
        if t < 2:  # all channels joy except the words (no emotion)
            records.append(_record(t, "joy", "joy", "joy", "neutral"))
        else:  # face says sadness, voice anger: they disagree; fused right
            records.append(_record(t, "anger", "sadness", "anger", "neutral"))
    steps = tmp_path / "steps.jsonl"
    steps.write_text("".join(json.dumps(r) + "\n" for r in records))
    return labels, steps, records


def test_scores_segments_by_majority_inside_the_window(files):
    labels, _, records = files
    segments = clip.read_labels(labels)
    assert [s.emotion for s in segments] == ["joy", "anger"]  # aliases resolved
    # the steps in the skipped edges say something else: they must not count
    records = [dict(r, dominant="fear") if (r["t"] < 0.5 or 1.7 < r["t"] < 2.5) else r for r in records]
    report = clip.score(clip.steps_from_records(records), segments)
    assert report["fused"]["accuracy"] == 1.0
    assert report["face"]["accuracy"] == 0.5 and report["voice"]["accuracy"] == 1.0
    assert report["text"]["accuracy"] == 0.0
    assert report["disagreement_segments"] == 2 and report["disagreement_accuracy"] == 1.0


def test_eval_clip_json_keys_and_refusing_saved_steps(files, capsys):
    from emolive.cli import main

    labels, steps, _ = files
    assert main(["eval", "clip", "--labels", str(labels), "--from-steps", str(steps), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"segments", "fused", "face", "voice", "text", "disagreement_accuracy"} <= set(report)
    assert report["segments"] == 2
    for name in ("fused", "face", "voice", "text"):
        assert set(report[name]) == {"accuracy", "macro_f1", "accuracy_ci95"}
    # re-fused with the shipped fuser: face+voice joy with neutral words is joy; the second segment the
    # fuser decides between sadness (face) and anger (voice), never the words' neutral
    assert report["fused"]["accuracy"] >= 0.5


def test_bad_labels_are_a_clear_error(tmp_path, capsys):
    from emolive.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text("start,end,emotion\n0,x,joy\n")
    assert main(["eval", "clip", "--labels", str(bad), "--from-steps", str(tmp_path / "s.jsonl")]) != 0
    assert "start,end,emotion" in capsys.readouterr().err


def test_accuracy_intervals_and_the_fused_gain(files):
    labels, _, records = files
    report = clip.score(clip.steps_from_records(records), clip.read_labels(labels))
    for name in ("fused", "face", "voice", "text"):
        low, high = report[name]["accuracy_ci95"]
        assert 0.0 <= low <= report[name]["accuracy"] <= high <= 1.0
    assert report["face"]["accuracy_ci95"][1] < 1.0  # one of two right is not "surely perfect"
    gain = report["fused_gain"]
    assert gain["over"] == "voice"  # the best single channel (1.0 against the face's 0.5)
    assert gain["accuracy"] == 0.0 and gain["ci95"] == [0.0, 0.0]  # right on the same segments


def test_interval_arithmetic():
    from emolive.evaluation.metrics import paired_difference_interval, proportion_interval

    low, high = proportion_interval(34, 49)
    assert 0.55 < low < 0.57 and 0.80 < high < 0.82  # Wilson: 0.694 on 49 segments
    wide, narrow = proportion_interval(7, 10), proportion_interval(700, 1000)
    assert wide[1] - wide[0] > narrow[1] - narrow[0]
    assert proportion_interval(0, 0) == (0.0, 1.0)
    a = [True] * 30 + [False] * 20
    b = [True] * 20 + [False] * 30  # a is right on 10 more of the same 50 items
    low, high = paired_difference_interval(a, b)
    assert 0.0 < low < 0.2 < high < 0.4
    with pytest.raises(ValueError):
        paired_difference_interval([True], [True, False])


def test_several_clips_are_pooled_over_their_segments(files, tmp_path, capsys):
    from emolive.cli import main

    labels, steps, records = files
    # a second clip where the fused output is wrong in both segments and the face is right in both
    def face_right(r):
        face = _record(r["t"], "", "joy" if r["t"] < 2 else "anger", None, None)["outputs"]["face"]
        return dict(r, dominant="fear", outputs=dict(r["outputs"], face=face))

    wrong = [face_right(r) for r in records]
    steps_2 = tmp_path / "steps_2.jsonl"
    steps_2.write_text("".join(json.dumps(r) + "\n" for r in wrong))
    one = clip.score(clip.steps_from_records(records), clip.read_labels(labels))
    two = clip.score(clip.steps_from_records(wrong), clip.read_labels(labels))
    assert two["fused"]["accuracy"] == 0.0 and two["face"]["accuracy"] == 1.0
    pooled = clip.score_clips([(clip.steps_from_records(r), clip.read_labels(labels)) for r in (records, wrong)])
    assert pooled["segments"] == 4
    assert pooled["fused"]["accuracy"] == 0.5  # 2 of 4: the mean of 1.0 and 0.0
    assert pooled["face"]["accuracy"] == 0.75  # 1 of 2, then 2 of 2
    assert pooled["clips"] == [one, two]
    assert "clips" not in one  # a single clip's report has no per-clip list

    assert main(["eval", "clip", "--labels", str(labels), "--labels", str(labels), "--from-steps", str(steps),
                 "--from-steps", str(steps_2), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["segments"] == 4 and len(report["clips"]) == 2


def test_clip_and_labels_counts_must_match(files, capsys):
    from emolive.cli import main

    labels, steps, _ = files
    assert main(["eval", "clip", "--labels", str(labels), "--from-steps", str(steps), "--from-steps",
                 str(steps)]) != 0
    assert "one per clip" in capsys.readouterr().err
    assert main(["eval", "clip", "a.mp4", "--labels", str(labels), "--from-steps", str(steps)]) != 0
    assert "not both" in capsys.readouterr().err
