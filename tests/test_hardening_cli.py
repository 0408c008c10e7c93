"""Issue 39's command-line findings: odd input gives one clear message (or is shown plainly), never a traceback."""

from __future__ import annotations

import json

import pytest

from emolive.cli import main


@pytest.mark.parametrize("seconds", ["-1", "nan", "0", "inf", "soon"])
def test_bench_refuses_seconds_that_are_not_positive_and_finite(seconds, capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "--seconds", seconds])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--seconds" in err and "Traceback" not in err


def test_sessions_lists_every_folder_even_odd_ones(tmp_path, capsys):
    odd, broken, good = (tmp_path / n for n in ("a-odd", "b-broken", "c-good"))
    for folder in (odd, broken, good):
        folder.mkdir()
    (odd / "session.json").write_text(json.dumps({"started_utc": 12345, "stop_reason": "stopped", "stopped_utc": 1,
                                                  "rows": "many", "markers": -3, "first_t": "a", "last_t": None}))
    (broken / "session.json").write_text("{not json")
    (good / "session.json").write_text(json.dumps({"started_utc": "2026-12-07T10:00:00", "stop_reason": "stopped",
                                                   "stopped_utc": "2026-12-07T10:00:02", "rows": 3, "markers": 0,
                                                   "first_t": 0.0, "last_t": 2.0}))
    assert main(["sessions", "--root", str(tmp_path)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert set(lines) == {"a-odd", "b-broken", "c-good"}
    assert "session.json is unreadable" in lines["b-broken"] and "incomplete" not in lines["b-broken"]
    assert lines["c-good"].split()[-1] == "ok" and "0:00:02" in lines["c-good"]
    assert main(["sessions", "--root", str(tmp_path), "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)["sessions"]}
    assert listed["a-odd"]["started_utc"] is None and listed["a-odd"]["rows"] is None


def test_camera_and_microphone_may_be_written_as_numbers(tmp_path):
    from emolive.config import load_config

    path = tmp_path / "config.toml"
    path.write_text("[capture]\ncamera = 0\nmicrophone = 2\n")
    config = load_config(path)
    assert config.capture.camera == "0" and config.capture.microphone == "2"
    path.write_text("[capture]\ncamera = true\n")
    with pytest.raises(Exception, match="camera must be str"):
        load_config(path)


def test_analyze_output_must_fit_the_inputs(tmp_path, demo_clip, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out" / "y.csv"
    assert main(["analyze", str(empty), "-o", str(out), "--no-asr", "--no-progress"]) == 2
    assert "names a .csv file" in capsys.readouterr().err and not out.exists() and not out.parent.exists()
    text = tmp_path / "existing.txt"
    text.write_text("keep me")
    assert main(["analyze", str(demo_clip), "-o", str(text), "--no-asr", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is a file but not a .csv" in err and "several files" not in err and text.read_text() == "keep me"
    assert main(["analyze", str(demo_clip), str(demo_clip), "-o", str(text), "--no-asr", "--no-progress"]) == 2
    assert "must be a folder when analysing several files" in capsys.readouterr().err


def test_eval_clip_warns_about_segments_outside_the_clip(tmp_path, capsys):
    from test_eval_clip import _record

    steps = tmp_path / "steps.jsonl"
    steps.write_text("".join(json.dumps(_record(round(0.1 * k, 3), "joy", "joy", "joy", None)) + "\n"
                             for k in range(40)))
    labels = tmp_path / "labels.csv"
    labels.write_text("start,end,emotion\n0,2,joy\n20,25,anger\n")
    assert main(["eval", "clip", "--labels", str(labels), "--from-steps", str(steps), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["segments"] == 1
    assert "1 of 2 label segment(s)" in captured.err and "20-25" in captured.err
    labels.write_text("start,end,emotion\n20,25,anger\n")
    assert main(["eval", "clip", "--labels", str(labels), "--from-steps", str(steps)]) == 2
    assert "no label segment lies within the clip" in capsys.readouterr().err


def test_replay_without_audio_wav_says_it_is_missing_when_the_sidecar_says_recorded(tmp_path):
    from emolive.recording.files import RecordingError
    from emolive.recording.replay import open_bundle

    folder = tmp_path / "session"
    folder.mkdir()
    sidecar = {"started_session_s": 0.0, "config": {"recording": {"raw_audio": True, "raw_video": False}},
               "raw": {"audio": {"file": "audio.wav", "start_session_s": 0.0}}}
    (folder / "session.json").write_text(json.dumps(sidecar))
    with pytest.raises(RecordingError, match="says audio.wav was recorded, but it is missing") as info:
        open_bundle(folder)
    assert "off" not in str(info.value)
    sidecar = {"started_session_s": 0.0, "config": {"recording": {"raw_audio": False, "raw_video": False}}, "raw": {}}
    (folder / "session.json").write_text(json.dumps(sidecar))
    with pytest.raises(RecordingError, match="raw_audio and raw_video off"):
        open_bundle(folder)


def _help(capsys, *argv: str) -> str:  # noqa: ANN001
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_help_texts_are_complete_and_plain(capsys):
    top = _help(capsys)
    assert "--video" in top and "replay" in top.split("positional arguments")[0]
    evaluate = _help(capsys, "eval")
    assert "EmoBank's format)" in evaluate and "(a real-video protocol)" in evaluate
    clip = _help(capsys, "eval", "clip")
    assert "\n    emolive eval clip VIDEO --labels LABELS.csv [--json]\n" in clip
    fusion = _help(capsys, "eval", "fusion")
    assert "second run skips the models" in fusion and "seed of the composite draw" in fusion
    for text in (top, evaluate, clip, fusion, _help(capsys, "analyze"), _help(capsys, "run")):
        assert "``" not in text


def test_verbose_works_after_the_command_too():
    from emolive.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["sessions", "-v"]).verbose == 1
    assert parser.parse_args(["-v", "sessions"]).verbose == 1
    assert parser.parse_args(["eval", "clip", "--labels", "x.csv", "-vv"]).verbose == 2
    assert parser.parse_args(["sessions"]).verbose == 0


def test_train_speaks_of_itself_not_of_the_module():
    from emolive.commands.train import as_emolive

    text = ("usage: python -m training face [-h] --data DATA\npython -m training face: error: bad\n"
            "see python -m training\n")
    assert as_emolive(text) == ("usage: emolive train face [-h] --data DATA\nemolive train face: error: bad\n"
                                "see python -m training\n")


def test_train_offers_every_trainer_kind():
    from emolive.cli import build_parser

    for kind in ("face", "face_mix", "voice", "text", "fusion"):
        assert build_parser().parse_args(["train", kind]).kind == kind


def test_one_file_is_not_files(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    main(["analyze", str(empty), "--no-asr", "--no-progress"])
    out = capsys.readouterr().out
    assert "1 file: 1 failed" in out and "1 files" not in out
