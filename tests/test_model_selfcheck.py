"""Well-formed but damaged weights are refused when loaded; a non-finite output at run time is dropped."""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from emolive.config import AppConfig, with_changes
from emolive.core.contracts import ModalityOutput
from emolive.core.errors import ModelError
from emolive.core.finite import NON_FINITE_REASON, finite_or_dropped
from emolive.models.assets import default_model_dir
from emolive.models.io import REFERENCE_NAME, WEIGHTS_NAME


def damaged_copy(tmp_path: Path, kind: str = "face", name: str = "nan-face", keep_reference: bool = True,
                 value: float = float("nan")) -> Path:
    """The issue's recipe: a copy of the bundled model with half the float32 values after the safetensors
    header overwritten (NaN by default)."""
    folder = tmp_path / name
    shutil.copytree(default_model_dir(kind), folder)
    if not keep_reference:
        (folder / REFERENCE_NAME).unlink()
    path = folder / WEIGHTS_NAME
    raw = bytearray(path.read_bytes())
    start = 8 + struct.unpack("<Q", raw[:8])[0]
    floats = np.frombuffer(bytes(raw[start:]), dtype="<f4").copy()
    floats[: len(floats) // 2] = value
    raw[start:] = floats.tobytes()
    path.write_bytes(bytes(raw))
    return folder


def face_only(folder: Path):  # noqa: ANN201
    return with_changes(AppConfig(), "inference", face_model=str(folder)).inference


def test_bundled_models_carry_a_reference_they_match():
    from emolive.runtime.channels import load_channels

    for kind in ("face", "voice", "text"):
        assert (default_model_dir(kind) / REFERENCE_NAME).is_file(), kind
    channels = load_channels(AppConfig().inference, warm_up=False)
    assert channels.problems == () and None not in (channels.face, channels.voice, channels.text)


@pytest.mark.parametrize("keep_reference", [True, False])
def test_nan_weights_are_refused_when_loaded_naming_the_folder(tmp_path, keep_reference):
    from emolive.runtime.channels import load_channels

    folder = damaged_copy(tmp_path, keep_reference=keep_reference)
    with pytest.raises(ModelError, match="not finite") as info:
        load_channels(face_only(folder), voice=False, text=False, warm_up=False)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)
    relaxed = load_channels(face_only(folder), voice=False, text=False, warm_up=False, strict=False)
    assert relaxed.face is None and any("not finite" in p for p in relaxed.problems)


def test_finite_but_changed_weights_differ_from_the_reference(tmp_path):
    from emolive.runtime.channels import load_channels

    folder = damaged_copy(tmp_path, name="scaled-face", value=0.05)
    with pytest.raises(ModelError, match="differs from the reference"):
        load_channels(face_only(folder), voice=False, text=False, warm_up=False)
    (folder / REFERENCE_NAME).unlink()  # without a reference only finiteness is checked: these load
    assert load_channels(face_only(folder), voice=False, text=False, warm_up=False).face is not None


def test_a_reference_is_written_for_a_folder_and_dropped_when_its_weights_are_saved_again(tmp_path):
    import torch

    from emolive.models.io import save_model
    from emolive.runtime.selfcheck import read_reference, write_folder_reference

    folder = tmp_path / "face"
    shutil.copytree(default_model_dir("face"), folder)
    (folder / REFERENCE_NAME).unlink()
    write_folder_reference("face", folder)
    assert read_reference(folder)["outputs"]["emotion"] == pytest.approx(
        read_reference(default_model_dir("face"))["outputs"]["emotion"], abs=1e-6)
    save_model(torch.nn.Linear(2, 2), json.loads((folder / "config.json").read_text()), folder)
    assert not (folder / REFERENCE_NAME).exists()


def test_nan_fusion_weights_are_refused(tmp_path):
    from safetensors.numpy import save_file

    from emolive.fusion.fuser import Fuser

    state = {"weight_logits": np.full(Fuser().weight_logits.shape, np.nan, np.float32),
             "class_bias": np.zeros(Fuser().class_bias.shape, np.float32)}
    save_file(state, str(tmp_path / WEIGHTS_NAME))
    with pytest.raises(ModelError, match="not finite"):
        Fuser.from_dir(tmp_path)


def test_analyze_refuses_nan_weights_with_one_error_line(tmp_path, demo_clip):
    folder = damaged_copy(tmp_path)
    out = tmp_path / "x.csv"
    result = subprocess.run([sys.executable, "-m", "emolive", "analyze", str(demo_clip), "--no-asr", "--no-progress",
                             "-o", str(out), "--set", f"inference.face_model={json.dumps(str(folder))}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and str(folder) in errors[0] and "not finite" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


# --- run time: a non-finite output is dropped for that step ------------------------------------------------

def test_a_non_finite_output_is_dropped_with_a_reason():
    good = ModalityOutput("face", 1.0, True, emotion=(1 / 7,) * 7, quality=0.9)
    assert finite_or_dropped(good) == (good, [])
    bad = ModalityOutput("face", 1.0, True, emotion=(math.nan,) * 7, arousal=math.inf, quality=0.9)
    dropped, fields = finite_or_dropped(bad)
    assert fields == ["emotion", "arousal"] and not dropped.present and dropped.reason == NON_FINITE_REASON


class NanFace:
    detect_every = 1

    def process(self, frame, detect=None):  # noqa: ANN001, ANN201
        return ModalityOutput("face", frame.t, True, emotion=(math.nan,) * 7, quality=0.9), ()


class SteadyVoice:
    window_samples = 16_000

    def process(self, samples, t):  # noqa: ANN001, ANN201
        return ModalityOutput("voice", t, True, emotion=(0.1, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05), arousal=0.6,
                              quality=0.9)


def test_worker_drops_a_nan_channel_and_the_fusion_stays_finite():
    from emolive.core.contracts import AudioBlock, VideoFrame
    from emolive.core.rings import AudioRing, FrameRing
    from emolive.fusion.fuser import Fuser
    from emolive.runtime.worker import InferenceWorker

    frames, audio = FrameRing(4), AudioRing(5.0)
    errors: list[str] = []
    worker = InferenceWorker(frames, audio, Fuser(), AppConfig().inference, face=NanFace(), voice=SteadyVoice(),
                             on_error=errors.append)
    audio.write(AudioBlock(0.0, np.full(32_000, 0.1, np.float32)))
    estimate = None
    for i in range(5):
        frames.write(VideoFrame(t=0.1 * i + 1.0, index=i, image=np.zeros((48, 48, 3), np.uint8)))
        estimate = worker.step(0.1 * i + 1.05)
    face = next(m for m in estimate.modalities if m.modality == "face")
    assert not face.present and face.reason == NON_FINITE_REASON
    assert all(math.isfinite(p) for p in estimate.emotion) and math.isfinite(estimate.valence)
    assert estimate.dominant == "joy"
    assert len(errors) == 1 and "face" in errors[0] and "non-finite" in errors[0]


def test_fuser_alone_never_returns_nan():
    from emolive.fusion.fuser import Fuser

    nan = ModalityOutput("face", 1.0, True, emotion=(math.nan,) * 7, quality=0.9)
    fused = Fuser().fuse({"face": nan, "voice": None, "text": None}, 1.0)
    assert all(math.isfinite(p) for p in fused.emotion)


# --- the GUI: Model > Load model refuses the folder and says why -------------------------------------------

def test_gui_refuses_nan_weights_and_keeps_the_old_model(qtbot, tmp_path):  # noqa: ANN001
    pytest.importorskip("pytestqt")
    from fakes import IdlePipeline

    from emolive.core.errors import EmoliveError
    from emolive.gui.interfaces import Sources
    from emolive.gui.main_window import MainWindow
    from emolive.runtime.channels import load_channels

    class LoadingPipeline(IdlePipeline):
        """Loads the face channel for real when asked to swap, as the app's pipeline does."""

        def swap_models(self, inference, on_done) -> None:  # noqa: ANN001
            def load() -> None:
                try:
                    load_channels(inference, voice=False, text=False, warm_up=False)
                except EmoliveError as exc:
                    on_done(str(exc))
                    return
                on_done("")

            threading.Thread(target=load).start()

    win = MainWindow(AppConfig(), Sources(video=None, camera=None, microphone=None), LoadingPipeline,
                     config_path=tmp_path / "config.toml")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.started, timeout=10_000):
        win.start()
    folder = damaged_copy(tmp_path)
    win.load_model("face", folder)
    qtbot.waitUntil(lambda: "not finite" in win.banner.message.text(), timeout=30_000)
    assert "kept the current models" in win.banner.message.text() and str(folder) in win.banner.message.text()
    assert win.config.inference.face_model == "" and not (tmp_path / "config.toml").exists()
    win.close()


def test_the_fuser_takes_a_new_smoothing_without_losing_its_state():
    from emolive.fusion.fuser import Fuser

    fuser = Fuser(smoothing_s=0.25)
    joy = ModalityOutput("face", 0.0, True, emotion=(0.0, 1.0, 0, 0, 0, 0, 0), quality=1.0)
    anger = ModalityOutput("face", 0.1, True, emotion=(0, 0, 0, 1.0, 0, 0, 0), quality=1.0)
    fuser.fuse({"face": joy}, 0.0)
    fast = fuser.fuse({"face": anger}, 0.1).emotion[3]
    fuser.fuse({"face": joy}, 0.2)
    fuser.set_smoothing(5.0)
    slow = fuser.fuse({"face": anger}, 0.3).emotion[3]
    assert slow < fast
