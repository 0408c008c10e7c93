"""The training command line: JSON progress, resume, Optuna search and a 2-process gloo DDP run (tiny face CNN)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.training_data import TINY_FACE_ARGS, write_face_folder

from emolive.core.labels import EMOTIONS
from emolive.personal.trainer_protocol import parse_line, split_flag
from training.cli import main as training_main
from training.hpo import SPACES, HpoOptions, apply, space_for, split_args
from training.progress import JsonProgress

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def face_data(tmp_path_factory) -> Path:
    return write_face_folder(tmp_path_factory.mktemp("face"))


def face_argv(data: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["face", "--data", str(data), "--out", str(out), "--cache", str(cache), *TINY_FACE_ARGS, *extra]


def events_of(text: str) -> list[dict]:
    return [e for e in map(parse_line, text.splitlines()) if e is not None]


def test_progress_events_are_json_lines_and_steps_are_throttled():
    stream, now = io.StringIO(), [0.0]
    progress = JsonProgress(stream, step_interval_s=1.0, clock=lambda: now[0])
    progress.step(1, 3, 1, 10, 2.0)
    progress.step(1, 3, 2, 10, 1.9)  # same instant: dropped
    now[0] = 5.0
    progress.step(1, 3, 3, 10, 1.8)
    progress.epoch({"epoch": 1, "epochs": 3, "train_loss": 1.5, "val": {"macro_f1": float("nan")}, "best": 0.2,
                    "monitor": "macro_f1"})
    events = events_of(stream.getvalue())
    assert [e["event"] for e in events] == ["step", "step", "epoch"]
    assert [e["step"] for e in events[:2]] == [1, 3]
    assert events[2]["val"] == {"macro_f1": None}  # NaN is not JSON
    assert parse_line("epoch 1: loss 0.3") is None and parse_line('{"no": "event"}') is None


def test_cli_options_are_split_off_before_the_trainer_sees_them():
    assert split_flag(["--a", "--progress-json", "x"]) == (True, ["--a", "x"])
    options, rest = split_args(["--lr", "1", "--hpo", "3", "--hpo-epochs=2", "--out", "o"])
    assert options == HpoOptions(trials=3, epochs=2) and rest == ["--lr", "1", "--out", "o"]
    extra, overrides = apply({"lr": 0.01, "loss": "focal", "focal_gamma": 2.5, "class_weights": "off"},
                             SPACES["crossmodal"])
    assert extra == ["--lr", "0.01", "--loss", "focal", "--focal-gamma", "2.5", "--class-weights", "off"]
    assert overrides == {}
    extra, overrides = apply({"lr": 0.1, "init_face": 0.5, "init_voice": 0.25, "init_text": 0.25}, SPACES["fusion"])
    assert extra == ["--lr", "0.1", "--init-weights", "0.5", "0.25", "0.25"] and overrides == {}
    assert space_for("fusion", ["--arch", "crossmodal"]) == SPACES["crossmodal"]
    assert space_for("fusion", ["--face", "x"]) == SPACES["fusion"]


def test_progress_json_run_writes_a_checkpoint_the_app_loads(face_data, tmp_path, capsys):
    out = tmp_path / "model"
    assert training_main(face_argv(face_data, out, tmp_path / "cache", "--epochs", "2", "--progress-json")) == 0
    events = events_of(capsys.readouterr().out)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    done = events[-1]
    assert done["out"] == str(out) and "accuracy" in done["before"] and "accuracy" in done["after"]
    assert len(done["after"]["confusion"]) == 7
    assert (out / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "report.json").read_text())["after"]["accuracy"] == done["after"]["accuracy"]

    from emolive.config import InferenceConfig
    from emolive.runtime.channels import load_channels

    channels = load_channels(InferenceConfig(face_model=str(out)), voice=False, text=False, warm_up=False)
    assert channels.face is not None and not channels.problems
    # the class shares the model was trained on (three classes, eight images each) travel with it, for fusion
    prior = dict(zip(EMOTIONS, channels.face.predictor.class_prior, strict=True))
    assert [prior[e] for e in ("joy", "sadness", "anger")] == pytest.approx([1 / 3] * 3, abs=1e-4)
    assert prior["neutral"] == prior["fear"] == prior["disgust"] == prior["surprise"] == 0.0


def test_class_prior_is_the_original_labels_with_the_prior_correction_else_the_targets():
    from training.face import class_prior

    labels = np.array([0, 0, 0, 1])
    targets = np.array([[0.5, 0.5], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    assert class_prior(labels, targets, corrected=True) == pytest.approx([0.75, 0.25])
    assert class_prior(labels, targets, corrected=False) == pytest.approx([0.5, 0.5])


def test_fine_tuning_from_a_face_model_starts_from_its_weights(face_data, tmp_path, capsys):
    from emolive.face.model import build_model
    from emolive.models.io import load_config, load_into

    start = tmp_path / "start"
    assert training_main(face_argv(face_data, start, tmp_path / "cache", "--epochs", "1")) == 0
    tuned = tmp_path / "tuned"  # learning rate 0: the exported weights must be the starting model's
    argv = face_argv(face_data, tuned, tmp_path / "cache", "--epochs", "1", "--lr", "0", "--init", str(start))
    assert training_main(argv) == 0
    start_config, config = load_config(start), load_config(tuned)
    assert config["init"] == str(start) and "blur_sigma" not in config
    assert all(config[k] == start_config[k] for k in ("mean", "std", "widths", "input_size"))
    a = dict(load_into(build_model(start_config), start).named_parameters())  # (BatchNorm statistics still move)
    b = dict(load_into(build_model(config), tuned).named_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fresh = dict(build_model(start_config).named_parameters())
    assert not all(torch.equal(a[k], fresh[k]) for k in a)  # a fresh network differs


def test_resume_continues_at_the_next_epoch(face_data, tmp_path, capsys):
    args = face_argv(face_data, tmp_path / "model", tmp_path / "cache", "--progress-json")
    assert training_main([*args, "--epochs", "1"]) == 0
    first = [e["epoch"] for e in events_of(capsys.readouterr().out) if e["event"] == "epoch"]
    assert training_main([*args, "--epochs", "2"]) == 0
    second = [e["epoch"] for e in events_of(capsys.readouterr().out) if e["event"] == "epoch"]
    assert first == [1] and second == [2]


def test_optuna_search_of_two_trials_then_trains_the_final_model(face_data, tmp_path, capsys):
    out = tmp_path / "model"
    code = training_main(face_argv(face_data, out, tmp_path / "cache", "--epochs", "1", "--hpo", "2",
                                   "--hpo-epochs", "1", "--hpo-dir", str(tmp_path / "trials")))
    assert code == 0
    summary = json.loads((out / "hpo.json").read_text())
    assert len(summary["trials"]) == 2 and {t["state"] for t in summary["trials"]} == {"COMPLETE"}
    assert set(summary["best_params"]) == {"lr", "batch_size", "class_weight_power"}
    assert (out / "model.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["trial-000", "trial-001"]
    assert "hpo best: trial" in capsys.readouterr().out


def test_bad_data_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    code = training_main(["face", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
                          "--progress-json"])
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err
    error = [e for e in events_of(captured.out) if e["event"] == "error"]
    assert error and "missing" in error[0]["message"]


@pytest.mark.slow
def test_two_process_gloo_ddp_run_gives_a_checkpoint(face_data, tmp_path):
    out = tmp_path / "ddp"
    # --standalone: torchrun picks a free rendezvous port itself (a port chosen here first could be taken by
    # another process before the launcher binds it)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "training",
           *face_argv(face_data, out, tmp_path / "cache", "--epochs", "1", "--progress-json")]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    errors = [line for line in result.stderr.splitlines() if "rror" in line or "Traceback" in line]
    assert result.returncode == 0, "\n".join(errors[:20]) + "\n" + result.stderr[-1500:]
    assert (out / "model.safetensors").is_file() and (out / "last.pt").is_file()
    done = [e for e in events_of(result.stdout) if e["event"] == "done"]
    assert len(done) == 1  # only rank 0 reports


def test_soft_target_loss_on_a_tiny_batch():
    import torch.nn.functional as F

    from training.face import soft_cross_entropy, soft_targets

    logits = torch.tensor([[2.0, 0.0, -1.0, 0, 0, 0, 0], [0.0, 1.0, 0.0, 0, 0, 0, 0]])
    hard = torch.tensor([0, 1])
    onehot = torch.nn.functional.one_hot(hard, 7).float()
    assert torch.allclose(soft_cross_entropy(logits, onehot), F.cross_entropy(logits, hard))
    votes = np.zeros((2, 7), np.float32)
    votes[0, [0, 1]] = [5, 5]  # split vote; the second image has no usable votes
    mixed = soft_targets(hard.numpy(), votes, "mix", 0.4)
    assert np.allclose(mixed[0], [0.8, 0.2, 0, 0, 0, 0, 0]) and np.allclose(mixed[1], onehot[1].numpy())
    assert np.allclose(soft_targets(hard.numpy(), votes, "ferplus", 0.4)[0], [0.5, 0.5, 0, 0, 0, 0, 0])
    soft = torch.from_numpy(mixed)
    # a prediction nearer the vote distribution costs less than a confident one-hot guess
    assert soft_cross_entropy(torch.log(soft[:1] + 1e-6), soft[:1]) < soft_cross_entropy(logits[:1] * 10, soft[:1])


def test_ferplus_votes_train_a_mix_model(face_data, tmp_path, capsys):
    import csv

    from emolive.models.io import load_config

    votes_csv = tmp_path / "ferplus_train.csv"
    files = sorted((face_data / "train").rglob("*.png"))
    with votes_csv.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                         "contempt", "unknown", "NF"])
        for path in files:
            writer.writerow([path.relative_to(face_data).as_posix(), 1, 6, 0, 1, 1, 0, 0, 1, 0, 0])
    out = tmp_path / "model"
    argv = face_argv(face_data, out, tmp_path / "cache", "--epochs", "1", "--ferplus", str(votes_csv))
    assert training_main(argv) == 0
    recipe = load_config(out)["recipe"]
    assert recipe["targets"] == "mix" and recipe["ferplus_weight"] == 0.4
    broken = tmp_path / "broken.csv"
    broken.write_text("file,happy\nx,1\n")
    assert training_main(face_argv(face_data, tmp_path / "m2", tmp_path / "cache", "--ferplus", str(broken))) == 2
    assert "not a FER+ votes file" in capsys.readouterr().err


def test_blur_matched_init_is_refused(face_data, tmp_path, capsys):
    from emolive.models.io import load_config

    start = tmp_path / "start"
    assert training_main(face_argv(face_data, start, tmp_path / "cache", "--epochs", "1")) == 0
    config = load_config(start)
    (start / "config.json").write_text(json.dumps({**config, "blur_sigma": 3.0}))
    assert training_main(face_argv(face_data, tmp_path / "t", tmp_path / "cache", "--init", str(start))) == 2
    assert "blur-matched" in capsys.readouterr().err


def test_a_half_written_face_cache_is_decoded_again(face_data, tmp_path):
    from training.face import load_split

    x, y, names = load_split(face_data / "train", 48, tmp_path)
    (cache,) = tmp_path.glob("*.npz")
    cache.write_bytes(cache.read_bytes()[:100])  # as another DDP rank would see it mid-write before the fix
    x2, y2, names2 = load_split(face_data / "train", 48, tmp_path)
    assert np.array_equal(x, x2) and np.array_equal(y, y2) and names == names2
    assert not list(tmp_path.glob("*.tmp"))  # the rewrite went through a temporary file, now renamed


def test_sharp_augmentation_copies_pixels_exactly_and_the_rest_is_resampled():
    """sharp_prob 1: every image is its (maybe mirrored) self moved by whole pixels, up to a contrast/brightness
    change; sharp_prob 0: the affine resamples, so no image is such a copy."""
    from training.face import augment

    x = torch.rand(8, 1, 48, 48, generator=torch.Generator().manual_seed(1))

    def best_match(src: torch.Tensor, out: torch.Tensor) -> float:
        best = -1.0
        for image in (src, src.flip(-1)):
            for dx in range(-4, 5):
                for dy in range(-4, 5):
                    a = torch.roll(image, (dy, dx), (0, 1))[6:-6, 6:-6].flatten()
                    b = out[6:-6, 6:-6].flatten()
                    best = max(best, float(torch.corrcoef(torch.stack([a, b]))[0, 1]))
        return best

    sharp = augment(x, torch.Generator().manual_seed(0), sharp_prob=1.0)
    assert all(best_match(x[i, 0], sharp[i, 0]) > 0.99999 for i in range(8))
    resampled = augment(x, torch.Generator().manual_seed(0), sharp_prob=0.0)
    assert all(best_match(x[i, 0], resampled[i, 0]) < 0.999 for i in range(8))
