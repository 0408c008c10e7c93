"""Personal calibration: prompted takes -> re-fitted late-fusion biases, better on the held-back takes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeSwitcher

from emolive.config import AppConfig
from emolive.core.contracts import EmotionEstimate, ModalityOutput
from emolive.core.labels import EMOTIONS
from emolive.fusion.late_model import LateFusion
from emolive.personal import finetune
from emolive.personal.calibration import PROMPTS, CalibrationSession, evaluate, fit_biases


def biased_estimate(t: float, emotion: str, rng: np.random.Generator) -> EmotionEstimate:
    """A user whose neutral face reads as sadness and whose joy reads half as surprise."""
    p = np.full(len(EMOTIONS), 0.02)
    p[EMOTIONS.index(emotion)] = 0.6
    if emotion == "neutral":
        p[EMOTIONS.index("sadness")] = 0.9
    if emotion == "joy":
        p[EMOTIONS.index("surprise")] = 0.9
    p = p * rng.uniform(0.8, 1.2, len(p))
    p /= p.sum()
    face = ModalityOutput("face", t, True, emotion=tuple(p), quality=0.9)
    return EmotionEstimate(t, tuple(p), (0.3, 0.4, 0.3), 0.5, 0.5, emotion, 0.5, modalities=(face,))


def test_session_alternates_takes_and_calibration_helps_on_held_back_takes():
    rng = np.random.default_rng(0)
    session = CalibrationSession(PROMPTS, takes=2)
    assert [p.emotion for p, _ in session.schedule[:5]] == [p.emotion for p, _ in session.schedule[5:]]
    t = 0.0
    while not session.finished:
        prompt, _ = session.current
        for _ in range(10):
            t += 0.1
            assert session.add(biased_estimate(t, prompt.emotion, rng))
        session.next()
    assert not session.add(biased_estimate(t, "joy", rng))  # after the last take nothing is recorded
    assert len(session.fit_samples.labels) == len(session.held_samples.labels) == 50
    base = LateFusion()
    tuned = fit_biases(base, session.fit_samples)
    before, after = evaluate(base, session.held_samples), evaluate(tuned, session.held_samples)
    assert before["accuracy"] < 0.7 and after["accuracy"] >= before["accuracy"] + 0.2
    assert np.allclose(tuned.weight_logits.detach().numpy(), base.weight_logits.detach().numpy())
    assert np.allclose(base.class_bias.detach().numpy(), 0.0)  # the original stays untouched


def test_no_usable_samples_is_reported():
    session = CalibrationSession(PROMPTS)
    empty = EmotionEstimate(0.0, (1 / 7,) * 7, (1 / 3,) * 3, 0.5, 0.5, "uncertain", 0.0)
    assert not session.add(empty)
    with pytest.raises(ValueError, match="no usable"):
        fit_biases(LateFusion(), session.fit_samples)


def follow_all_prompts(qtbot, dialog, make_estimate, seed: int) -> tuple[str, str]:
    """Start the dialog and answer every prompt with ``make_estimate`` until it has fitted.

    Returns the phase and the instruction shown right after Start.
    """
    from PySide6.QtCore import QTimer

    rng, clock = np.random.default_rng(seed), [0.0]

    def user_follows_the_prompt():
        clock[0] += 0.05
        if dialog.session is not None and dialog.session.current is not None:
            dialog.on_estimate(make_estimate(clock[0], dialog.session.current[0].emotion, rng))

    feeder = QTimer()
    feeder.timeout.connect(user_follows_the_prompt)
    feeder.start(10)
    dialog.start()
    started = (dialog.phase, dialog.instruction.text())
    qtbot.waitUntil(lambda: dialog.phase == "done", timeout=15_000)
    feeder.stop()
    return started


def test_dialog_guides_the_takes_fits_saves_and_hot_swaps(qtbot, tmp_path):
    from emolive.gui.calibration_dialog import CalibrationDialog

    pipeline = FakeSwitcher()
    dialog = CalibrationDialog(None, pipeline, AppConfig(), PROMPTS[:3], take_s=0.25, ready_s=0.05,
                               root=tmp_path)
    qtbot.addWidget(dialog)
    phase, instruction = follow_all_prompts(qtbot, dialog, biased_estimate, seed=1)
    assert phase == "ready" and "neutral face" in instruction
    assert dialog.saved is not None and dialog.use_button.isEnabled()
    assert dialog.after["accuracy"] > dialog.before["accuracy"]
    assert "accuracy" in dialog.result.text()
    assert [m.path for m in finetune.list_models("fusion", tmp_path)] == [dialog.saved]
    dialog.use_button.click()
    qtbot.waitUntil(lambda: "Switched" in dialog.step.text(), timeout=5_000)
    assert pipeline.swaps[-1].fusion_model == str(dialog.saved) and pipeline.swaps[-1].fusion == "late"
    dialog.back_button.click()
    qtbot.waitUntil(lambda: len(pipeline.swaps) == 2 and "Switched" in dialog.step.text(), timeout=5_000)
    assert pipeline.swaps[-1].fusion_model == ""


DIM = 16


def voice_model_dir(folder):
    """A Whisper-embedding voice model (16-d here) whose emotion head starts at zero: it has no idea yet."""
    import torch

    from emolive.models.io import save_model
    from emolive.voice.whisper_embed import ENCODER_NAME, EmbeddingHead

    head = EmbeddingHead(DIM, len(EMOTIONS))
    with torch.no_grad():
        for p in head.emotion.parameters():
            p.zero_()
    save_model(head, {"kind": "voice", "encoder": ENCODER_NAME, "embedding_dim": DIM, "labels": list(EMOTIONS),
                      "temperature": 1.0, "window_s": 2.0}, folder)
    return folder


def speaking_estimate(t: float, emotion: str, rng: np.random.Generator) -> EmotionEstimate:
    """``biased_estimate`` plus a voice whose embedding carries the prompted emotion."""
    base = biased_estimate(t, emotion, rng)
    emb = rng.normal(0, 0.3, DIM).astype(np.float32)
    emb[EMOTIONS.index(emotion)] += 2.0
    uniform = tuple([1 / len(EMOTIONS)] * len(EMOTIONS))
    voice = ModalityOutput("voice", t, True, emotion=uniform, quality=0.9, embedding=emb)
    return replace(base, modalities=(*base.modalities, voice))


def test_voice_head_is_adapted_to_the_users_voice_on_held_back_takes(tmp_path):
    from emolive.personal.calibration import adapt_voice
    from emolive.voice.adapt import load_head

    rng = np.random.default_rng(2)
    session = CalibrationSession(PROMPTS, takes=2)
    t = 0.0
    while not session.finished:
        for _ in range(6):
            t += 0.1
            session.add(speaking_estimate(t, session.current[0].emotion, rng))
        session.next()
    head, config = load_head(voice_model_dir(tmp_path / "voice"))
    result = adapt_voice(head, config, session.fit_samples, session.held_samples)
    assert result is not None and result.before["n"] == 30
    assert result.before["accuracy"] <= 0.3 and result.after["accuracy"] >= 0.9
    assert np.array_equal(result.head.arousal.weight.detach().numpy(), head.arousal.weight.detach().numpy())
    # too little speech: nothing is adapted
    quiet = CalibrationSession(PROMPTS, takes=2)
    quiet.add(speaking_estimate(0.0, "neutral", rng))
    assert adapt_voice(head, config, quiet.fit_samples, quiet.held_samples) is None


def test_dialog_adapts_the_voice_and_switches_voice_and_fusion(qtbot, tmp_path):
    from emolive.config import InferenceConfig
    from emolive.gui.calibration_dialog import CalibrationDialog

    pipeline = FakeSwitcher()
    config = AppConfig(inference=InferenceConfig(voice_model=str(voice_model_dir(tmp_path / "voice"))))
    pipeline.config = config
    dialog = CalibrationDialog(None, pipeline, config, PROMPTS[:3], take_s=0.4, ready_s=0.05, root=tmp_path / "reg")
    qtbot.addWidget(dialog)
    follow_all_prompts(qtbot, dialog, speaking_estimate, seed=3)
    assert dialog.voice is not None and dialog.voice.after["accuracy"] > dialog.voice.before["accuracy"]
    assert "Voice alone" in dialog.result.text()
    assert [m.path for m in finetune.list_models("voice", tmp_path / "reg")] == [dialog.saved_voice]
    dialog.use_button.click()
    qtbot.waitUntil(lambda: "Switched" in dialog.step.text(), timeout=5_000)
    swapped = pipeline.swaps[-1]
    assert swapped.voice_model == str(dialog.saved_voice) and swapped.fusion_model == str(dialog.saved)


def test_calibration_on_a_replayed_file_is_refused(qtbot, tmp_path):
    from emolive.gui.calibration_dialog import CalibrationDialog

    dialog = CalibrationDialog(None, FakeSwitcher(), AppConfig(), PROMPTS[:3], take_s=0.25, ready_s=0.05,
                               root=tmp_path, file_source=lambda: "/videos/demo.mp4")
    qtbot.addWidget(dialog)
    dialog.start()
    assert dialog.session is None and dialog.phase == "idle" and dialog.start_button.isEnabled()
    assert "demo.mp4" in dialog.result.text() and "camera and microphone" in dialog.result.text()


def test_calibration_reports_counts_per_take(qtbot, tmp_path):
    from emolive.gui.calibration_dialog import CalibrationDialog

    dialog = CalibrationDialog(None, FakeSwitcher(), AppConfig(), PROMPTS[:3], take_s=0.25, ready_s=0.05,
                               root=tmp_path)
    qtbot.addWidget(dialog)
    follow_all_prompts(qtbot, dialog, biased_estimate, seed=1)
    assert dialog.session.takes_heard() == (3, 3)
    assert "Calibrated on 3 of 3 takes; checked on 3 of 3 held-back takes" in dialog.step.text()


def test_the_window_tells_the_calibration_its_source(qtbot, demo_clip):
    pytest.importorskip("pytestqt")
    from fakes import Factory

    from emolive.gui.interfaces import Sources
    from emolive.gui.main_window import MainWindow

    win = MainWindow(AppConfig(), Sources(video=demo_clip), Factory(), persist=False)
    qtbot.addWidget(win)
    win.open_calibration()
    assert win.calibration.file_source() == str(demo_clip)
    win.close()


def test_the_shipped_voice_head_is_adapted_on_what_it_reads_live():
    """The shipped voice model (prosody, running normalisation) gives calibration the features its head read, so
    the head that personal calibration adapts scores them as the live channel does."""
    from emolive.core.audio_io import load_audio
    from emolive.personal.calibration import head_dim, voice_embedding_of
    from emolive.voice.adapt import load_head, log_probs
    from emolive.voice.channel import VoiceChannel

    channel = VoiceChannel()
    speech = load_audio(Path(__file__).parent / "assets" / "voice_speech_espeak.opus")
    out = channel.process(speech[:32_000], 2.0)
    assert out.present and out.head_input is not None
    head, config = load_head(channel.model_dir)
    assert out.head_input.shape == (head_dim(head),) and head_dim(head) != out.embedding.shape[0]
    estimate = EmotionEstimate(t=2.0, emotion=out.emotion, sentiment=(0.0, 1.0, 0.0), valence=0.0, arousal=0.5,
                               dominant="neutral", confidence=0.5, modalities=(out,))
    features = voice_embedding_of(estimate)
    probs = np.exp(log_probs(head, features[None], float(config.get("temperature", 1.0))))[0]
    np.testing.assert_allclose(probs, out.emotion, atol=1e-4)
