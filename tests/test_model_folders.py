"""Model folders are checked (config, weights, kind, shapes) before anything switches or is saved."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakes import IdlePipeline

from emolive.config import AppConfig, load_config, with_changes
from emolive.core.errors import ModelError
from emolive.models.assets import default_model_dir
from emolive.models.io import validate_model_folder


def copy_model(tmp_path: Path, kind: str, name: str = "") -> Path:
    folder = tmp_path / (name or f"my-{kind}")
    shutil.copytree(default_model_dir(kind), folder)
    return folder


def broken_folders(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (folder, words the message must hold) for every way a face folder can be unusable."""
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = copy_model(tmp_path, "face", "corrupt")
    (corrupt / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    no_weights = copy_model(tmp_path, "face", "no-weights")
    (no_weights / "model.safetensors").unlink()
    bad_json = copy_model(tmp_path, "face", "bad-json")
    (bad_json / "config.json").write_text("{not json")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return {
        "missing": (tmp_path / "nonexistent", "does not exist"),
        "empty": (empty, "config.json is missing"),
        "corrupt": (corrupt, "corrupt"),
        "no-weights": (no_weights, "model.safetensors is missing"),
        "bad-json": (bad_json, "not readable JSON"),
        "file": (a_file, "not a folder"),
        "voice-as-face": (default_model_dir("voice"), "voice model, not a face model"),
    }


def test_shipped_folders_are_valid():
    for kind in ("face", "voice", "text"):
        validate_model_folder(kind, default_model_dir(kind))
    validate_model_folder("voice", default_model_dir("voice_cnn"))


def test_every_broken_folder_is_refused_with_the_folder_named(tmp_path):
    for name, (folder, words) in broken_folders(tmp_path).items():
        with pytest.raises(ModelError) as info:
            validate_model_folder("face", folder)
        message = str(info.value)
        assert str(folder) in message and words in message, (name, message)
        assert "\n" not in message
    with pytest.raises(ModelError, match="face model, not a voice model"):
        validate_model_folder("voice", default_model_dir("face"))
    with pytest.raises(ModelError, match="text model, not a fusion model"):
        validate_model_folder("fusion", default_model_dir("text"))


def test_weights_that_do_not_fit_the_config_are_a_model_error_naming_the_folder(tmp_path):
    from emolive.runtime.channels import load_channels

    folder = copy_model(tmp_path, "face", "wrong-shapes")
    config = json.loads((folder / "config.json").read_text())
    config["embedding_dim"] = int(config["embedding_dim"]) * 2
    (folder / "config.json").write_text(json.dumps(config))
    inference = with_changes(AppConfig(), "inference", face_model=str(folder)).inference
    with pytest.raises(ModelError, match="wrong-shapes"):
        load_channels(inference, voice=False, text=False, warm_up=False)
    relaxed = load_channels(inference, voice=False, text=False, warm_up=False, strict=False)
    assert relaxed.face is None and any("wrong-shapes" in p for p in relaxed.problems)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emolive", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("which", ["missing", "corrupt", "voice-as-face"])
def test_analyze_with_a_configured_broken_model_exits_non_zero_naming_the_folder(tmp_path, demo_clip, which):
    folder, words = broken_folders(tmp_path)[which]
    out = tmp_path / "out.csv"
    result = run_cli("analyze", str(demo_clip), "--no-asr", "--no-progress", "-o", str(out),
                     "--set", f"inference.face_model={json.dumps(str(folder))}")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and str(folder) in errors[0] and words in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


# --- the GUI keeps the old model and says why -------------------------------------------------------------

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


class SwapPipeline(IdlePipeline):
    """A minimal pipeline whose ``swap_models`` answers from another thread with a given problem."""

    def __init__(self, config, sources, bridge, problem: str = "") -> None:  # noqa: ANN001
        super().__init__(config, sources, bridge)
        self.problem, self.swaps = problem, []

    def swap_models(self, inference, on_done) -> None:  # noqa: ANN001
        self.swaps.append(inference)
        threading.Thread(target=on_done, args=(self.problem,)).start()


@pytest.fixture
def swap_window(qtbot, tmp_path):  # noqa: ANN001
    from emolive.gui.interfaces import Sources
    from emolive.gui.main_window import MainWindow

    made: list[SwapPipeline] = []

    def factory(config, sources, bridge):  # noqa: ANN001, ANN202
        made.append(SwapPipeline(config, sources, bridge))
        return made[-1]

    win = MainWindow(AppConfig(), Sources(video=None, camera=None, microphone=None), factory,
                     config_path=tmp_path / "config.toml")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    win.made = made
    yield win
    win.close()


def test_gui_refuses_a_broken_folder_and_keeps_the_config(qtbot, swap_window, tmp_path):  # noqa: ANN001
    config_file = tmp_path / "config.toml"
    for name, (folder, words) in broken_folders(tmp_path).items():
        assert not swap_window.load_model("face", folder), name
        assert words in swap_window.banner.message.text() and "Kept the current face model" in \
            swap_window.banner.message.text()
    assert swap_window.config.inference.face_model == "" and not config_file.exists()
    assert swap_window.made[0].swaps == []


def test_gui_keeps_the_old_model_when_the_swap_fails(qtbot, swap_window, tmp_path):  # noqa: ANN001
    folder = copy_model(tmp_path, "face")
    swap_window.made[0].problem = f"the weights in {folder} do not fit its config.json"
    assert swap_window.load_model("face", folder)
    qtbot.waitUntil(lambda: "kept the current models" in swap_window.banner.message.text(), timeout=5000)
    assert swap_window.config.inference.face_model == "" and not (tmp_path / "config.toml").exists()
    swap_window.made[0].problem = ""
    assert swap_window.load_model("face", folder)
    qtbot.waitUntil(lambda: swap_window.config.inference.face_model == str(folder), timeout=5000)
    assert load_config(tmp_path / "config.toml").inference.face_model == str(folder)
