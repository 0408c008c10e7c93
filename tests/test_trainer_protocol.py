"""The fine-tune child-process protocol without Qt: command line, events, run state, the trainer's errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from emolive.personal.trainer_protocol import (
    FLAG,
    TrainerRun,
    TrainRequest,
    parse_line,
    plain,
    source_root,
    split_flag,
    trainer_error,
)


def test_the_command_line_follows_the_request(tmp_path) -> None:  # noqa: ANN001
    csv = tmp_path / "clips.csv"
    csv.touch()
    fusion = TrainRequest("fusion", str(csv), str(tmp_path / "out"), epochs=3, minutes=2, extra="--lr 1e-3")
    assert fusion.problem() == ""
    assert fusion.arguments() == ["fusion", FLAG, "--out", str(tmp_path / "out"), "--arch", "crossmodal", "--csv",
                                  str(csv), "--epochs", "3", "--time-budget", "120", "--lr", "1e-3"]
    voice = TrainRequest("voice", str(tmp_path), "out", minutes=2, init=Path("/models/voice"))
    assert voice.arguments() == ["voice", FLAG, "--out", "out", "--data", str(tmp_path), "--init", "/models/voice",
                                 "--encoder", "whisper"]  # no time budget for voice
    assert "--init" not in TrainRequest("text", str(tmp_path), "out", init=Path("/m")).arguments()
    assert TrainRequest("face", str(tmp_path), " ").problem() == "Choose an output folder."
    assert "CSV file" in TrainRequest("fusion", str(tmp_path), "out").problem()
    assert "needs a folder" in TrainRequest("face", str(csv), "out").problem()
    assert "does not exist" in TrainRequest("face", str(tmp_path / "gone"), "out").problem()


def test_events_survive_a_round_trip_and_other_lines_are_not_events() -> None:
    fields = plain({"loss": np.float32(0.5), "val": {"f1": float("nan")}, "confusion": np.eye(2, dtype=int)})
    line = json.dumps({"event": "epoch", **fields})
    assert parse_line(line.encode()) == {"event": "epoch", "loss": 0.5, "val": {"f1": None},
                                         "confusion": [[1, 0], [0, 1]]}
    assert parse_line("epoch 1: loss 0.9") is None and parse_line("{not json") is None
    assert parse_line('{"no": "event"}') is None
    assert split_flag(["face", FLAG, "--data", "x"]) == (True, ["face", "--data", "x"])
    assert split_flag(["face"]) == (False, ["face"])
    assert plain(math.inf) is None


def test_the_run_follows_chunks_of_output_and_compares_before_after() -> None:
    run = TrainerRun(epochs_total=2)
    lines = [json.dumps({"event": "step", "epoch": 1, "epochs": 2, "step": 5, "steps": 10, "loss": 0.9}),
             "a plain log line",
             json.dumps({"event": "epoch", "epoch": 1, "epochs": 2, "train_loss": 0.8, "monitor": "macro_f1",
                         "val": {"macro_f1": 0.4}}),
             json.dumps({"event": "done", "before": {"macro_f1": 0.25, "accuracy": 0.3}, "out": "/o",
                         "after": {"macro_f1": 0.5, "accuracy": 0.55}, "monitor": "macro_f1"})]
    text = "\n".join(lines) + "\n"
    items = run.feed(text[:30]) + run.feed(text[30:])  # a line split across two reads
    assert [i if isinstance(i, str) else i["event"] for i in items] == ["step", "a plain log line", "epoch", "done"]
    updates = [run.handle(i) for i in items if isinstance(i, dict)]
    assert updates[0].progress == 0.25 and "step 5/10, loss 0.9000" in updates[0].status
    assert updates[1].progress == 0.5 and updates[1].curves and updates[1].monitor == "macro_f1"
    assert run.losses == [(1, 0.8)] and run.scores == [(1, 0.4)]
    assert updates[2].done and updates[2].progress == 1.0 and run.result["out"] == "/o"
    assert run.comparison()[:2] == ["validation macro_f1: before 0.2500, after 0.5000",
                                    "validation accuracy: before 0.3000, after 0.5500"]
    assert "not the model in use" in run.comparison()[2] and run.warning() == ""
    assert run.ended(0, cancelled=False) == ("", False)


def test_a_failed_or_stopped_run_says_why() -> None:
    run = TrainerRun()
    run.add_stderr("usage: python -m training face [-h]\npython -m training face: error: the following arguments "
                   "are required: --data")
    assert run.ended(2, cancelled=False) == ("The trainer stopped: The following arguments are required: --data.",
                                             True)
    assert TrainerRun().ended(3, cancelled=False) == ("The trainer stopped (exit code 3); see the log below.", True)
    text, error = TrainerRun().ended(-15, cancelled=True)
    assert "resume" in text and not error
    assert run.handle({"event": "error", "message": "disk full"}).error
    assert trainer_error("no error line here") == ""


def test_the_source_checkout_is_found_from_the_package() -> None:
    root = source_root()
    assert root is not None and (root / "training" / "cli.py").is_file()
    assert source_root(Path("/nowhere/emolive/x.py")) is None


def test_a_weak_result_is_a_warning_and_before_says_what_it_scored() -> None:
    """Issue 39 item 16: a from-scratch run's "before" is its untrained network; a chance-level or worse model
    warns before it is used."""
    run = TrainerRun()
    run.handle({"event": "done", "monitor": "macro_f1", "out": "/o", "before": {"macro_f1": 0.02, "accuracy": 0.1429},
                "after": {"macro_f1": 0.05, "accuracy": 0.1429}})
    assert "chance level" in run.warning() and "untrained network" in run.comparison()[-1]
    adapted = TrainerRun(from_model_in_use=True)
    adapted.handle({"event": "done", "monitor": "macro_f1", "out": "/o", "before": {"macro_f1": 0.6, "accuracy": 0.7},
                    "after": {"macro_f1": 0.5, "accuracy": 0.62}})
    assert "lower than the model in use" in adapted.warning() and "the model in use" in adapted.comparison()[-1]
    adapted.result["after"] = {"macro_f1": 0.65, "accuracy": 0.72}
    assert adapted.warning() == ""
