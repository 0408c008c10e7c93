"""Qt-free parts of the GUI: history, overlay indicators, transcript model, status text; plus `emolive run`."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from emolive.config import AppConfig
from emolive.core.contracts import EmotionEstimate, ModalityOutput, PipelineStatus, TranscriptSegment
from emolive.core.labels import EMOTIONS, SENTIMENTS
from emolive.gui.history import EstimateHistory
from emolive.gui.overlay import agreement_chip, indicator, indicators, label_text
from emolive.gui.status import format_status
from emolive.gui.transcript import TranscriptModel


def est(t: float, dominant: str = "joy", p: float = 0.7, **kw) -> EmotionEstimate:
    probs = [(1 - p) / (len(EMOTIONS) - 1)] * len(EMOTIONS)
    if dominant in EMOTIONS:
        probs[EMOTIONS.index(dominant)] = p
    return EmotionEstimate(t=t, emotion=tuple(probs), sentiment=(0.2, 0.3, 0.5), valence=0.7, arousal=0.4,
                           dominant=dominant, confidence=0.3, **kw)


def test_history_windows_grows_and_drops_out_of_order_rows() -> None:
    history = EstimateHistory(max_seconds=1000.0, initial=4)
    for i in range(50):
        assert history.append(est(i * 0.1))
    assert not history.append(est(1.0))  # older than the newest: dropped
    assert len(history) == 50 and history.start == 0.0 and history.end == pytest.approx(4.9)
    view = history.window(1.0, 2.0)
    assert view.t[0] == pytest.approx(1.0) and view.t[-1] == pytest.approx(2.0) and len(view) == 11
    assert view.emotion.shape == (11, len(EMOTIONS)) and np.allclose(view.emotion[:, EMOTIONS.index("joy")], 0.7)
    assert np.allclose(view.valence, 0.7) and np.allclose(view.arousal, 0.4)
    assert len(history.window(10.0, 20.0)) == 0


def test_history_forgets_what_is_older_than_max_seconds() -> None:
    history = EstimateHistory(max_seconds=2.0, initial=8)
    for i in range(100):
        history.append(est(float(i)))
    assert history.end == 99.0 and history.start >= 90.0 and len(history) <= 16


def test_indicators_say_trusted_weak_stale_or_absent() -> None:
    face = ModalityOutput("face", 0.0, present=True, quality=0.9)
    assert indicator("face", face, 0.1).state == "trusted"
    assert indicator("face", ModalityOutput("face", 0.0, present=True, quality=0.2), 0.1).state == "weak"
    assert indicator("face", face, 5.0).state == "stale"
    assert indicator("text", ModalityOutput("text", 0.0, present=True, quality=0.9), 5.0).state == "trusted"
    absent = indicator("voice", ModalityOutput("voice", 0.0, present=False, reason="no speech"), None)
    assert (absent.state, absent.text) == ("absent", "no speech")
    assert [i.state for i in indicators(None)] == ["absent"] * 3
    both = indicators(est(1.0, modalities=(face,), staleness=(("face", 0.0),)))
    assert [i.state for i in both] == ["trusted", "absent", "absent"]


def test_label_names_the_dominant_emotion_and_its_probability() -> None:
    assert label_text(est(0.0, "anger", 0.82)) == "anger 82%"
    assert label_text(est(0.0, "joy", 0.5), emoji="X") == "X joy 50%"
    assert label_text(est(0.0, "uncertain")).startswith("uncertain (")


def test_agreement_chip_says_when_channels_tell_different_stories() -> None:
    assert agreement_chip(est(0.0, agreement=0.9)) == ("channels agree 0.90", "trusted")
    assert agreement_chip(est(0.0, agreement=0.2)) == ("channels disagree 0.20", "weak")
    assert agreement_chip(est(0.0)) is None and agreement_chip(None) is None


def test_transcript_partial_is_replaced_and_committed_lines_get_a_sentiment() -> None:
    model = TranscriptModel()
    model.add(TranscriptSegment("hello", 0.0, 0.5, committed=False, confidence=0.5))
    model.add(TranscriptSegment("hello there", 0.0, 0.9, committed=False, confidence=0.5))
    assert model.partial.text == "hello there" and not model.lines
    model.add(TranscriptSegment("Hello there.", 0.0, 1.0, committed=True, confidence=0.9))
    assert model.partial is None and [line.segment.text for line in model.lines] == ["Hello there."]
    version = model.version
    assert model.tag(est(1.1)) == 0 and model.version == version  # no text output yet: stays pending
    text = ModalityOutput("text", 0.2, present=True, sentiment=(0.7, 0.2, 0.1), quality=0.5)
    assert model.tag(est(1.2, modalities=(text,), transcript="hello  there.")) == 1
    assert (model.lines[0].sentiment, model.lines[0].confidence) == ("negative", 0.7)
    assert model.version > version
    assert SENTIMENTS[0] == "negative"


def test_status_fields_flag_a_step_over_budget() -> None:
    status = PipelineStatus(capture_fps=29.7, step_p50_ms=31.0, step_p95_ms=95.0, budget_ms=90.0, device="cuda",
                            asr_lag_s=None, dropped_steps=3)
    fields = {f.key: f for f in format_status(status, recording="REC x")}
    assert fields["fps"].text == "capture 29.7 fps" and not fields["fps"].warn
    assert fields["latency"].text == "step p50 31 / p95 95 ms (budget 90), 3 dropped" and fields["latency"].warn
    assert fields["device"].text == "CUDA" and fields["asr"].text == "transcript --"
    assert fields["recording"].warn
    empty = {f.key: f.text for f in format_status(None, asr=False)}
    assert empty == {"fps": "capture -- fps", "latency": "step --", "device": "--", "asr": "transcription off",
                     "recording": "not recording", "outputs": ""}
    assert {f.key: f.text for f in format_status(None, outputs="LSL, overlay :8765")}["outputs"] == \
        "out: LSL, overlay :8765"


def test_run_command_parses_sources(tmp_path) -> None:  # noqa: ANN001
    from emolive.cli import build_parser
    from emolive.commands.run import sources_from_args

    args = build_parser().parse_args(["run", "--no-camera", "--mic", "2", "--no-asr"])
    sources = sources_from_args(args, AppConfig())
    assert (sources.video, sources.camera, sources.microphone, sources.asr) == (None, None, "2", False)
    args = build_parser().parse_args(["run", "--video", str(tmp_path / "a.mp4"), "--no-mic"])
    sources = sources_from_args(args, AppConfig())
    assert sources.video == tmp_path / "a.mp4" and sources.microphone is None and sources.camera == "0"


def test_run_command_rejects_a_missing_video_without_a_traceback(tmp_path, capsys) -> None:  # noqa: ANN001
    from emolive.cli import main

    assert main(["run", "--video", str(tmp_path / "missing.mp4")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_qt_binding_check_refuses_the_crashing_combination() -> None:
    from emolive.core.errors import EmoliveError
    from emolive.gui.app import check_qt_binding

    with pytest.raises(EmoliveError, match="PySide6-Essentials<6.12"):
        check_qt_binding((3, 11), "6.12.0")
    check_qt_binding((3, 12), "6.12.0")
    check_qt_binding((3, 11), "6.11.3")


def test_run_app_measures_stalls_and_saves_a_screenshot(qtbot, tmp_path, capsys, demo_clip) -> None:  # noqa: ANN001
    from fakes import Factory

    from emolive.gui.app import RunOptions, run_app
    from emolive.gui.interfaces import Sources

    shot = tmp_path / "shot.png"
    code = run_app(AppConfig(), Sources(video=demo_clip), options=RunOptions(
        screenshot=shot, after=0.5, measure_stalls=1.0, quit_after=20.0), factory=Factory())
    assert code == 0 and shot.stat().st_size > 1000
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["n"] > 0 and 0 <= report["p50_ms"] <= report["p95_ms"] <= report["max_ms"]


def test_stall_meter_records_lateness(qtbot) -> None:  # noqa: ANN001
    from emolive.gui.stalls import StallMeter

    meter = StallMeter(interval_ms=10)
    assert meter.summary()["n"] == 0
    meter.start()
    qtbot.waitUntil(lambda: len(meter.lateness_ms) >= 5, timeout=5000)
    meter.stop()
    summary = meter.summary()
    assert summary["n"] >= 5 and 0 <= summary["p50_ms"] <= summary["p95_ms"] <= summary["max_ms"]
    assert not meter.running


def test_parser_has_the_documented_options() -> None:
    from emolive.commands.run import configure

    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(["--video", "x.mp4", "--camera", "1", "--mic", "usb", "--no-camera", "--no-mic",
                              "--no-asr", "--measure-stalls", "5", "--loop"])
    assert args.no_camera and args.no_mic and args.no_asr and args.measure_stalls == 5.0 and args.loop


def test_settings_dialog_offers_only_what_is_present_and_says_why(qtbot) -> None:  # noqa: ANN001
    from emolive.config import AppConfig
    from emolive.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(AppConfig(), microphones=lambda: [], cameras=lambda: [], cuda=lambda: "no CUDA GPU found",
                            asr_models=lambda: {"tiny.en": "", "base": "not installed (pip install x)"})
    qtbot.addWidget(dialog)

    def enabled(box, value: str) -> bool:  # noqa: ANN001
        return box.model().item(box.findData(value)).isEnabled()

    assert [dialog.camera.itemData(i) for i in range(dialog.camera.count())] == ["", "0"]  # none + the configured
    assert "Open video" in dialog.camera.toolTip()
    assert not enabled(dialog.device, "cuda") and enabled(dialog.device, "cpu")
    assert not enabled(dialog.asr_model, "base") and enabled(dialog.asr_model, "tiny.en")
    assert not enabled(dialog.language, "de") and enabled(dialog.language, "en")  # tiny.en is English-only
    text = dialog.why_greyed.text()
    assert "cuda: no CUDA GPU found" in text and "Whisper base: not installed" in text
    assert dialog.result_config().inference.device == "auto"

    multilingual = SettingsDialog(AppConfig(), microphones=lambda: [], cameras=lambda: [("0", "0")],
                                  cuda=lambda: "", asr_models=lambda: {"tiny.en": "", "base": ""})
    qtbot.addWidget(multilingual)
    assert enabled(multilingual.device, "cuda") and not multilingual.why_greyed.isVisibleTo(multilingual)
    multilingual.asr_model.setCurrentIndex(multilingual.asr_model.findData("base"))
    assert enabled(multilingual.language, "de")
    multilingual.language.setCurrentIndex(multilingual.language.findData("de"))
    assert multilingual.result_config().asr.language == "de"
    multilingual.asr_model.setCurrentIndex(multilingual.asr_model.findData("tiny.en"))
    assert not enabled(multilingual.language, "de") and multilingual.result_config().asr.language == ""


def test_overlay_words_a_person_reads() -> None:
    from emolive.core.contracts import ModalityOutput
    from emolive.gui.overlay import indicator, latency_text
    from emolive.runtime.worker import LoadGovernor

    clear = indicator("face", ModalityOutput("face", 0.0, present=True, quality=0.95), 0.0)
    poor = indicator("face", ModalityOutput("face", 0.0, present=True, quality=0.3), 0.0)
    assert (clear.text, poor.text) == ("clear", "poor") and "q " not in clear.text
    governor = LoadGovernor(90.0)
    assert latency_text(42.0, "") == "step 42 ms"
    for level, words in ((1, "face detection slowed to keep up"), (2, "voice slowed"), (3, "every other step")):
        governor.level = level
        text = latency_text(90.0, governor.describe())
        assert words in text and "degraded" not in text and "+ " not in text


def test_circumplex_class_markers_are_labelled(qtbot) -> None:  # noqa: ANN001
    from emolive.fusion.circumplex import PLACEMENT
    from emolive.gui.plots import EmotionPlots

    plots = EmotionPlots(window_s=60)
    qtbot.addWidget(plots)
    labels = {item.toPlainText(): (item.pos().x(), item.pos().y()) for item in plots.anchor_labels}
    assert set(labels) == {name for name in EMOTIONS if name in PLACEMENT}
    for name, (x, y) in labels.items():
        assert abs(x - PLACEMENT[name][0]) < 0.05 and abs(y - PLACEMENT[name][1]) < 0.01


def test_no_input_leaves_a_gap_not_a_flat_line(qtbot) -> None:  # noqa: ANN001
    from dataclasses import replace

    from fakes import estimate

    from emolive.gui.history import EstimateHistory
    from emolive.gui.plots import EmotionPlots

    history = EstimateHistory()
    for i in range(30):
        e = estimate(i * 0.1)
        if 10 <= i < 20:  # no face, no speech, no words: the fuser says "uncertain" with prior-like numbers
            e = replace(e, dominant="uncertain", confidence=0.0, valence=0.5, arousal=0.3)
        history.append(e)
    plots = EmotionPlots(window_s=60)
    qtbot.addWidget(plots)
    plots.refresh(history, now=2.9)
    _, valence = plots.valence_curve.getData()
    assert np.isnan(valence[10:20]).all() and np.isfinite(valence[:10]).all() and np.isfinite(valence[20:]).all()
    history.append(replace(estimate(3.0), dominant="uncertain"))
    plots.refresh(history, now=3.0)
    assert len(plots.current_point.data) == 0  # nothing current on the circumplex while there is no input
