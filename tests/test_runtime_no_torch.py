"""The default run time imports no torch: analyze, bench and eval run on ONNX Runtime and numpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "assets" / "demo" / "demo.mp4"

_PROBE = """
import json, sys
from emolive.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "torchaudio", "torchvision", "transformers") if m in sys.modules)
print("RUNTIME-PROBE " + json.dumps({"code": code, "heavy": heavy}))
"""


def _probe(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=240,
                          cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RUNTIME-PROBE ")]
    assert lines, done.stderr[-2000:]
    return json.loads(lines[-1].split(" ", 1)[1])


@pytest.mark.slow
def test_analyze_with_every_channel_imports_no_torch(tmp_path: Path) -> None:
    result = _probe("analyze", str(DEMO), "-o", str(tmp_path / "demo.csv"), "--no-progress")
    assert result == {"code": 0, "heavy": []}
    rows = (tmp_path / "demo.csv").read_text().splitlines()
    assert len(rows) > 100
    header = rows[0].split(",")
    present = {name: sum(r.split(",")[header.index(name)] == "1" for r in rows[1:])
               for name in ("face_present", "voice_present", "text_present")}
    assert all(count > 0 for count in present.values()), present  # all three channels ran


@pytest.mark.slow
def test_bench_imports_no_torch() -> None:
    result = _probe("bench", "--source", str(DEMO), "--seconds", "3", "--json")
    assert result == {"code": 0, "heavy": []}


def test_the_torch_runtime_is_still_there_when_asked_for(tmp_path: Path) -> None:
    from emolive.config import AppConfig, with_changes
    from emolive.face.predictor import ExpressionPredictor

    assert ExpressionPredictor(runtime="torch").runtime == "torch"
    config = with_changes(AppConfig(), "inference", runtime="torch").inference
    assert config.runtime == "torch"
    from emolive.runtime.channels import load_channels

    channels = load_channels(config, voice=False, warm_up=False)  # the setting reaches every channel it can
    assert channels.face.predictor.runtime == "torch" and channels.text.runtime == "torch"
    assert load_channels(AppConfig().inference, face=False, voice=False, warm_up=False).text.runtime == "onnx"


def test_cuda_without_the_gpu_provider_falls_back_to_the_cpu_with_a_message(caplog: pytest.LogCaptureFixture,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    from emolive.models.device import resolve_device
    from emolive.models.onnxrt import providers

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with caplog.at_level("WARNING"):
        assert providers("cuda") == ["CPUExecutionProvider"]
        assert resolve_device("cuda", "onnx") == "cpu"
    assert "emolive[gpu]" in caplog.text and "CUDA requested" in caplog.text
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_device("auto", "onnx") == "cuda"


def test_the_voice_encoder_and_the_transcriber_share_one_whisper_model() -> None:
    from emolive.asr.models import shared_whisper
    from emolive.voice.whisper_encoder import WhisperEmbedder

    embedder = WhisperEmbedder(threads=1)
    assert embedder._model is shared_whisper("tiny.en", threads=1)  # the transcriber's loader
    assert shared_whisper("tiny.en", 1, "cpu") is shared_whisper("tiny.en", threads=1, device="cpu")
    assert shared_whisper("tiny.en", threads=1).model.num_workers == 2  # both can run at once


def test_the_voice_gate_and_the_transcriber_share_one_silero_model() -> None:
    from emolive.asr.vad import SpeechDetector, SpeechTimeline
    from emolive.asr.vadstream import StreamingVAD, silero_vad

    assert SpeechDetector()._model is silero_vad()
    assert StreamingVAD()._session is silero_vad().session
    track = SpeechTimeline()
    assert track._vad._session is silero_vad().session


def test_one_builder_assembles_the_engine_and_starts_a_session() -> None:
    from emolive.config import AppConfig
    from emolive.runtime.channels import Channels
    from emolive.runtime.engine import build_engine

    class Resettable:
        resets = 0
        detect_every = 2  # what the worker reads of a face channel

        def reset(self) -> None:
            self.resets += 1

    face, voice = Resettable(), Resettable()
    engine = build_engine(AppConfig(), Channels(face=face, voice=voice), voice=False, shed_load=False)
    assert (face.resets, voice.resets) == (1, 1)  # a new engine is a new session for every channel
    assert engine.worker.face is face and engine.worker.voice is None  # a file without audio: no voice
    assert engine.frames is not None and engine.audio is not None
